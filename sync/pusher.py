"""The API process's post-commit pusher.

Handlers call ``notify(keys)`` after their transaction commits: O(1), never awaits
Convex, so a slow or hanging Convex cannot move response latency. A background loop
gathers keys for a few milliseconds (or until a batch is full), claims those entities'
pending outbox rows, and pushes them with a cap on calls in flight. Whatever it cannot do
(Convex down, the process dying) stays in the outbox for the worker: failed rows with
backoff, pending rows swept after a grace period, in-flight rows after their lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterable
from uuid import uuid4

import psycopg
import structlog
from psycopg_pool import PoolTimeout

from db import outbox
from db.outbox import EntityKey
from sync.push import TARGET, Pushing

log = structlog.get_logger("sync")

# Beyond this many queued keys (Convex long down, a burst), new ones are left to the
# worker's sweep rather than held in memory.
MAX_QUEUED = 50_000


class Pusher:
    def __init__(self, pushing: Pushing, *, window_s: float, batch_size: int, max_in_flight: int, lease_s: float):
        self._pushing = pushing
        self._window_s, self._batch_size, self._lease_s = window_s, batch_size, lease_s
        self._queued: dict[EntityKey, None] = {}
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self.owner = pushing.owner
        self.dropped = 0

    def notify(self, keys: Iterable[EntityKey]) -> None:
        for key in keys:
            if len(self._queued) >= MAX_QUEUED:
                self.dropped += 1
                continue
            self._queued[key] = None
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="convex-pusher")

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stops taking work and gives in-flight pushes ``timeout_s`` to finish; what is
        left stays in the outbox (pending, or in flight until its lease ends)."""
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
        while True:
            await self._wake.wait()
            if self._window_s and len(self._queued) < self._batch_size:
                await asyncio.sleep(self._window_s)
            while self._queued:
                # A free slot first, then the batch: keys that arrive while every slot is
                # busy join the next batch, so batches grow with load instead of queueing.
                await self._slots.acquire()
                batch = list(itertools.islice(self._queued, self._batch_size))
                for key in batch:
                    del self._queued[key]
                task = asyncio.create_task(self._flush(batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._wake.clear()

    async def _flush(self, keys: list[EntityKey]) -> None:
        try:
            claimed = await self._pushing.claim(lambda conn: outbox.claim_entities(
                conn, keys, target=TARGET, owner=self.owner, lease_s=self._lease_s))
            report = await self._pushing.push(claimed)
            if report.failed or report.dead:
                async with self._pushing.db.system() as conn:
                    await outbox.wake_workers(conn, TARGET)
        except (psycopg.Error, PoolTimeout) as exc:
            # The rows are still in the outbox; the worker's sweep will push them.
            log.warning("sync_pusher_db_error", error=str(exc), keys=len(keys))
        except Exception:
            # A background task has no caller to raise to: log loudly. The rows stay in the
            # outbox (pending or leased), so the worker still pushes them.
            log.exception("sync_pusher_crashed", keys=len(keys))
        finally:
            self._slots.release()


def new_owner(kind: str) -> str:
    return f"{kind}-{uuid4().hex[:12]}"
