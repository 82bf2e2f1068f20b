"""The sync worker: ``python -m sync.worker`` (the Procfile's worker process).

An APScheduler job every SYNC_RETRY_INTERVAL_S claims due outbox rows (failed rows past
their backoff, pending rows older than the grace period, in-flight rows whose lease
expired) with FOR UPDATE SKIP LOCKED, so any number of workers can run, pushes them in
batches and records the results. A LISTEN on ``sync_wake`` (sent when the API could not
push, or an operator retried a row) runs a pass at once instead of at the next tick. A
daily-ish job prunes synced rows past retention. SIGTERM stops claiming, lets the pass in
progress finish (or hands its unpushed rows back), and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass

import psycopg
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from psycopg_pool import PoolTimeout

from db import logs, outbox
from db.pool import Database
from sync.config import SyncSettings, backoff_of, load_sync_settings
from sync.convex import ConvexHttp
from sync.push import TARGET, Pushing, PushReport
from sync.pusher import new_owner
from sync.targets import OutboxTarget, build_targets

log = structlog.get_logger("worker")


@dataclass
class PassReport:
    claimed: int = 0
    synced: int = 0
    failed: int = 0
    dead: int = 0
    batches: int = 0


class Worker:
    def __init__(self, db: Database, convex: ConvexHttp, settings: SyncSettings, *, owner: str | None = None,
                 targets: list[OutboxTarget] | None = None):
        self.db, self.convex, self.settings = db, convex, settings
        self.targets = targets or []
        self.owner = owner or new_owner("worker")
        self.pushing = Pushing(db, convex, owner=self.owner, backoff=backoff_of(settings),
                               batch_size=settings.sync_batch_size)
        self._lock = asyncio.Lock()
        self._stopping = False

    async def run_pass(self, *, max_batches: int = 1000) -> PassReport:
        """Claims and pushes due rows batch by batch until none is due (or Convex is down)."""
        report = PassReport()
        if self._lock.locked():
            return report  # a pass is already running; it will see the new rows too
        async with self._lock:
            while not self._stopping and report.batches < max_batches:
                claimed = await self.pushing.claim(lambda conn: outbox.claim_due(
                    conn, target=TARGET, owner=self.owner, lease_s=self.settings.sync_lease_s,
                    grace_s=self.settings.sync_grace_s, limit=self.settings.sync_batch_size,
                ))
                rows = claimed.rows
                if not rows:
                    break
                report.batches += 1
                report.claimed += len(rows)
                try:
                    pushed: PushReport = await self.pushing.push(claimed)
                except asyncio.CancelledError:
                    # Stopping mid-push: hand back whatever was not recorded yet.
                    async with self.db.system() as conn:
                        await outbox.release(conn, [r["id"] for r in rows], owner=self.owner)
                    raise
                report.synced += pushed.synced
                report.failed += pushed.failed
                report.dead += pushed.dead
                if pushed.unavailable:
                    break
            for target in self.targets:
                await self._serve(target, report, max_batches)
        if report.claimed:
            log.info("sync_pass", **report.__dict__)
        return report

    async def _serve(self, target: OutboxTarget, report: PassReport, max_batches: int) -> None:
        """Rounds of one other target until nothing of it is due; one target's trouble
        (its system down, a bug) never stops the others."""
        for _ in range(max_batches):
            if self._stopping:
                return
            try:
                done = await target.run_once(owner=self.owner)
            except (psycopg.Error, PoolTimeout):
                raise
            except Exception:
                log.exception("sync_target_crashed", target=target.name)
                return
            report.claimed += done.claimed
            report.synced += done.synced
            report.failed += done.failed
            report.dead += done.dead
            if not done.claimed:
                return
            report.batches += 1

    async def prune(self) -> None:
        async with self.db.system() as conn:
            deleted = await outbox.prune_synced(conn, retention_s=self.settings.sync_retention_s)
        if deleted:
            log.info("sync_pruned", rows=deleted)

    def stop(self) -> None:
        self._stopping = True

    async def idle(self) -> None:
        """Returns once no pass is running."""
        async with self._lock:
            return


# Wake-ups for targets whose rows a trigger writes at commit (new work, not failed rows
# backing off): served at once, without the wake path's pause.
IMMEDIATE_WAKES = frozenset({"petpooja", "webhook"})


async def _listen(conninfo: str, wake: asyncio.Event, immediate: asyncio.Event | None = None) -> None:
    """Sets ``wake`` on every sync_wake notification (and ``immediate`` when it names a target
    in IMMEDIATE_WAKES); reconnects after database outages."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await outbox.listen_for_wakeups(conn)
                async for notify in conn.notifies():
                    if immediate is not None and notify.payload in IMMEDIATE_WAKES:
                        immediate.set()
                    wake.set()
        except psycopg.Error as exc:
            log.warning("sync_listen_lost", error=str(exc))
            await asyncio.sleep(2)


async def _guarded(worker: Worker) -> None:
    try:
        await worker.run_pass()
    except (psycopg.Error, PoolTimeout) as exc:
        log.warning("sync_pass_db_error", error=str(exc))


async def serve(database_url: str, settings: SyncSettings) -> None:
    assert settings.convex_url is not None
    db = Database(database_url, min_size=1, max_size=4)
    await db.open()
    convex = ConvexHttp(settings.convex_url, settings.convex_deploy_key, timeout_s=settings.convex_timeout_s)
    targets = build_targets(db, settings)
    worker = Worker(db, convex, settings, targets=targets)
    stop = asyncio.Event()
    wake = asyncio.Event()
    immediate = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    scheduler = AsyncIOScheduler()
    scheduler.add_job(_guarded, "interval", args=[worker], seconds=settings.sync_retry_interval_s,
                      max_instances=1, coalesce=True, id="sync-retry")
    scheduler.add_job(worker.prune, "interval", hours=6, max_instances=1, coalesce=True, id="sync-prune")
    scheduler.start()
    listener = asyncio.create_task(_listen(database_url, wake, immediate))
    log.info("worker_started", owner=worker.owner, interval_s=settings.sync_retry_interval_s)
    first = asyncio.create_task(_guarded(worker))  # recover at once after a restart
    try:
        while not stop.is_set():
            waiter = asyncio.create_task(wake.wait())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            if wake.is_set() and not stop.is_set():
                wake.clear()
                if immediate.is_set():
                    immediate.clear()  # a new order for PetPooja or a webhook: push it now
                else:
                    # Give the failed rows' first backoff a moment, then push what is due.
                    await asyncio.sleep(settings.sync_backoff_base_s)
                await _guarded(worker)
    finally:
        log.info("worker_stopping", owner=worker.owner)
        worker.stop()
        scheduler.shutdown(wait=False)
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        # The pass in progress finishes its current batch (bounded by the Convex timeout).
        await asyncio.wait_for(first, timeout=settings.convex_timeout_s + 5)
        await worker.idle()
        for target in targets:
            await target.close()
        await convex.close()
        await db.close()
        log.info("worker_stopped", owner=worker.owner)


def main() -> None:
    production = os.environ.get("ENV_MODE") == "production"
    settings = load_sync_settings(os.environ, production=production)
    fmt = os.environ.get("LOG_FORMAT", "auto")
    logs.configure("json" if production or fmt == "json" else "console" if fmt == "console" else "auto")
    database_url = os.environ.get("DATABASE_URL")
    if not database_url or not settings.enabled:
        raise SystemExit("the worker needs DATABASE_URL and CONVEX_URL (the dev runner sets both)")
    asyncio.run(serve(database_url, settings))


if __name__ == "__main__":
    main()
