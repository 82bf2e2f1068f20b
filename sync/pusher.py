"""The API's post-commit pusher: after a request commits, its changed entities reach Convex
within milliseconds, without the client waiting.

Handlers hand over entity keys (``notify``, never awaited); the pusher collects them for a
few milliseconds and drives the engine's ``round_entities`` with the Convex target. Keys
that arrive while a round is in flight wait for it to end and then go together, so batches
grow with load instead of rounds multiplying: a round costs this process about 2 ms of CPU
whatever its size (two statements and one HTTP call; ``python -m bench.micro_pusher``: a
batch of 1 about 2 ms per order, of 16 about 0.2 ms). A round starts beside one in flight
(up to ``max_in_flight``) only for a batch of at least ``OVERLAP_BATCH`` keys, or once the
latest round has been in flight ``overlap_after_s`` (SYNC_OVERLAP_AFTER_MS), so a slow or
hanging Convex call does not hold the kitchen screens back. Whatever the pusher
does not finish (Convex down, the process dying, a full queue) stays in the outbox, where
the worker finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterable
from typing import Any
from uuid import uuid4

import psycopg
import structlog
from psycopg_pool import PoolTimeout

from db import outbox
from db.outbox import EntityKey
from sync.engine import Engine
from sync.target import Target

log = structlog.get_logger("sync")

# Beyond this many queued keys (Convex long down, a burst), new ones are left to the
# worker's sweep rather than held in memory.
MAX_QUEUED = 50_000
# A round starts beside one in flight only for at least this many keys (see the docstring).
OVERLAP_BATCH = 16


class Pusher:
    def __init__(self, engine: Engine, target: Target[Any], *, window_s: float, max_in_flight: int,
                 overlap_after_s: float):
        self.engine, self.target = engine, target
        self._window_s, self._batch_size = window_s, target.policy.batch_size
        self._queued: dict[EntityKey, None] = {}
        self._wake = asyncio.Event()
        # Counted in _flush's finally, not as len(self._tasks): the loop wakes on the round's end
        # before the task's done callback has removed it from the set.
        self._max_in_flight, self._in_flight = max_in_flight, 0
        self._overlap_after_s, self._last_start = overlap_after_s, 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self.owner = engine.owner
        self.dropped = 0

    def notify(self, keys: Iterable[EntityKey]) -> None:
        for key in keys:
            if len(self._queued) >= MAX_QUEUED:
                self.dropped += 1
                continue
            self._queued[key] = None
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name=f"{self.target.name}-pusher")

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stops taking work and gives rounds in flight ``timeout_s`` to finish; what is
        left stays in the outbox (pending, or handed back by the cancelled round)."""
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._tasks:
            _, still = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)

    async def _run(self) -> None:
        """Woken by every ``notify``, by every round's end, and when the round in flight
        has taken ``overlap_after_s``."""
        loop = asyncio.get_running_loop()
        timeout: float | None = None
        while True:
            if timeout is None:
                await self._wake.wait()
            else:
                # asyncio.timeout, not wait_for: on 3.11 a cancel landing as wait_for's timeout
                # fires is swallowed, and close() then waited on this loop for minutes.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                timeout = None
            self._wake.clear()
            if not self._queued:
                continue
            if self._in_flight:
                # The batch grows while a round is in flight (it wakes us when it ends);
                # only a big one, or a slow round, is worth a round beside it now.
                if self._in_flight >= self._max_in_flight:
                    continue
                waited = loop.time() - self._last_start
                if len(self._queued) < OVERLAP_BATCH and waited < self._overlap_after_s:
                    timeout = self._overlap_after_s - waited
                    continue
            elif self._window_s and len(self._queued) < self._batch_size:
                await asyncio.sleep(self._window_s)
            batch = list(itertools.islice(self._queued, self._batch_size))
            for key in batch:
                del self._queued[key]
            self._in_flight += 1
            self._last_start = loop.time()
            task = asyncio.create_task(self._flush(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self._wake.set()  # what is left (more than a batch, or what came during the window)

    async def _flush(self, keys: list[EntityKey]) -> None:
        try:
            report = await self.engine.round_entities(self.target, keys)
            if report.failed or report.dead:
                # The worker would find these at their backoff anyway; waking it lets it
                # plan around them now (and probe Convex if it is down).
                async with self.engine.db.system() as conn:
                    await outbox.wake_workers(conn, self.target.name)
        except (psycopg.Error, PoolTimeout) as exc:
            # The rows are still in the outbox; the worker's sweep will deliver them.
            log.warning("sync_pusher_db_error", target=self.target.name, error=str(exc), keys=len(keys))
        except Exception:
            # A background task has no caller to raise to: log loudly. The rows stay in the
            # outbox (pending or leased), so the worker still delivers them.
            log.exception("sync_pusher_crashed", target=self.target.name, keys=len(keys))
        finally:
            self._in_flight -= 1
            self._wake.set()


def new_owner(kind: str) -> str:
    return f"{kind}-{uuid4().hex[:12]}"
