"""The sync worker: ``python -m sync.worker`` (the Procfile's worker process).

Every enabled target (sync/registry.py) is served by its own loop, so one slow partner
never holds back another: the loop runs the engine's rounds until nothing of the target is
due, then sleeps until its next row is due (a failed row's backoff, a pending row's grace,
a lease running out) or at most SYNC_RETRY_INTERVAL_S, and wakes at once on ``NOTIFY
sync_wake`` naming the target (the routing trigger sends it at commit for targets without
a post-commit pusher; the API's pusher when Convex failed; an operator's retry). A target
whose outcome said it is down (Convex unreachable) is probed every SYNC_PROBE_INTERVAL_S
and resumes, its waiting rows due at once, the moment it answers.

APScheduler runs the periodic jobs: the Convex epoch check (a deployment that lost its
data is rebuilt from Postgres), housekeeping (pruning what only grows), and the queue
gauges of the worker's own /metrics (WORKER_METRICS_PORT), and order exports (sync/exports.py:
queued exports built every EXPORT_POLL_S, expired files deleted by housekeeping). Any number of workers may run:
rows are claimed with FOR UPDATE SKIP LOCKED, and a rebuild takes an advisory lock.
SIGTERM (or Ctrl-C) stops claiming, lets rounds in progress finish or hands their rows
back, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry, start_http_server
from psycopg_pool import PoolTimeout

from db import housekeeping, logs, outbox
from db.envmode import production_like
from db.pool import Database
from providers.factory import build_providers
from sync import tracing
from sync.config import SyncSettings, load_sync_settings
from sync.convex.client import ConvexError
from sync.convex.rebuild import rebuild
from sync.convex.target import ConvexTarget
from sync.engine import Engine
from sync.exports import Builder
from sync.metrics import PoolCollector, SyncMetrics
from sync.outcome import Report
from sync.pusher import new_owner
from sync.registry import build_targets
from sync.target import Target

log = structlog.get_logger("worker")

MIN_SLEEP_S = 0.2  # never spin: rows due but not claimable (held, ordered) wait this long
PRUNE_BATCH = 5000  # rows per housekeeping statement: short transactions, short locks


class Worker:
    def __init__(self, db: Database, targets: Iterable[Target[Any]], settings: SyncSettings, *,
                 owner: str | None = None, metrics: SyncMetrics | None = None):
        self.db, self.settings, self.metrics = db, settings, metrics
        self.targets = {target.name: target for target in targets}
        self.owner = owner or new_owner("worker")
        self.engine = Engine(db, owner=self.owner, metrics=metrics)
        self.down: set[str] = set()
        self.wakes = {name: asyncio.Event() for name in self.targets}
        self._locks = {name: asyncio.Lock() for name in self.targets}
        self._stopping = False
        self.prune_batch = PRUNE_BATCH
        self.exports = Builder(db, settings, self.owner)

    # -- serving targets --------------------------------------------------------------

    async def run_pass(self, *, max_rounds: int = 1000) -> Report:
        """Serves every target once (concurrently): rounds until none of its rows is due."""
        reports = await asyncio.gather(*(self.serve(t, max_rounds=max_rounds) for t in self.targets.values()))
        total = Report()
        for report in reports:
            total.add(report)
        if total.claimed:
            log.info("sync_pass", owner=self.owner, **total.counts(), down=sorted(self.down))
        return total

    async def serve(self, target: Target[Any], *, max_rounds: int = 1000) -> Report:
        """Rounds of one target until nothing of it is due; a down target is probed first
        and served only when it answers."""
        report = Report()
        lock = self._locks[target.name]
        if lock.locked():
            return report  # a round of it is running; it will see the new rows too
        async with lock:
            if target.name in self.down and not await self._probe(target):
                return report
            while not self._stopping and report.rounds < max_rounds:
                done = await self.engine.round_due(target)
                report.add(done)
                if done.target_down:
                    self._set_down(target.name, True)
                    break
                if not done.claimed:
                    break
        return report

    async def _probe(self, target: Target[Any]) -> bool:
        answered = await target.probe()
        if answered is False:
            return False
        self._set_down(target.name, False)
        async with self.db.system() as conn:
            resumed = await outbox.resume(conn, target.name)
        log.info("sync_target_up", target=target.name, resumed=resumed)
        if isinstance(target, ConvexTarget):
            await self.check_convex(reason_prefix="after_outage")
        return True

    def _set_down(self, name: str, down: bool) -> None:
        if down and name not in self.down:
            log.warning("sync_target_down", target=name, probe_every_s=self.settings.sync_probe_interval_s)
        (self.down.add if down else self.down.discard)(name)
        if self.metrics:
            self.metrics.target_up.labels(name).set(0 if down else 1)

    async def next_wake(self, target: Target[Any]) -> float:
        """Seconds until this target should be served again."""
        if target.name in self.down:
            return self.settings.sync_probe_interval_s
        async with self.db.system() as conn:
            due = await outbox.next_due(conn, target=target.name, grace_s=target.policy.grace_s)
        # A target with a grace period is fed by the API's pusher: nothing wakes a worker when
        # an API dies after its commit, so a sweep must look often enough to find those rows.
        ceiling = min(self.settings.sync_retry_interval_s, self.settings.sync_sweep_interval_s) \
            if target.policy.grace_s > 0 else self.settings.sync_retry_interval_s
        return ceiling if due is None else min(max(due, MIN_SLEEP_S), ceiling)

    async def loop(self, target: Target[Any]) -> None:
        """Serves one target until the worker stops."""
        wake = self.wakes[target.name]
        while not self._stopping:
            delay = self.settings.sync_retry_interval_s
            try:
                await self.serve(target)
                delay = await self.next_wake(target)
            except (psycopg.Error, PoolTimeout) as exc:
                log.warning("sync_pass_db_error", target=target.name, error=str(exc))
                delay = min(5.0, delay)
            except Exception:
                # A bug must not end this target's loop for good: say so loudly and go on.
                log.exception("sync_loop_crashed", target=target.name)
                delay = min(5.0, delay)
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: see Pusher._run
                async with asyncio.timeout(delay):
                    await wake.wait()
            wake.clear()

    def wake(self, name: str) -> None:
        """A notification: serve that target now (every target when the name is unknown)."""
        for target, event in self.wakes.items():
            if name in (target, "") or name not in self.wakes:
                event.set()

    def stop(self) -> None:
        self._stopping = True
        for event in self.wakes.values():
            event.set()

    async def idle(self) -> None:
        """Returns once no round is running."""
        for lock in self._locks.values():
            async with lock:
                pass

    # -- Convex lost its data ---------------------------------------------------------

    async def check_convex(self, *, reason_prefix: str = "check") -> bool:
        """Rebuilds Convex from Postgres when its epoch is not the one Postgres recorded
        (wiped, replaced, restored from an old backup, or never rebuilt). True when it did."""
        convex = self.targets.get("convex")
        if not isinstance(convex, ConvexTarget) or not self.settings.sync_epoch_check_s:
            return False
        try:
            return await self._check_convex(convex, reason_prefix)
        except ConvexError as exc:
            # Down again, or refusing: the probe and the next check take it from here.
            log.info("convex_epoch_unreadable", error=str(exc))
            return False

    async def _check_convex(self, convex: ConvexTarget, reason_prefix: str) -> bool:
        remote = await convex.epoch()
        async with self.db.system() as conn:
            local = await outbox.epoch(conn, convex.name)
        if remote is not None and remote == local:
            return False
        reason = f"{reason_prefix}:{'no_epoch' if remote is None else 'other_epoch'}"
        # A session lock on a connection of our own for the whole rebuild (commits do not
        # release it; the session's end does, should this process die).
        async with self.db.pool.connection() as lock_conn:
            locked = await outbox.try_rebuild_lock(lock_conn, convex.name)
            await lock_conn.commit()
            if not locked:
                return False  # another worker is rebuilding
            try:
                # Another worker may have finished a rebuild between our read and the lock.
                async with self.db.system() as conn:
                    local = await outbox.epoch(conn, convex.name)
                if remote is not None and await convex.epoch() == local:
                    return False
                log.warning("convex_rebuild_started", reason=reason, convex_epoch=remote, postgres_epoch=local)
                if self.metrics:
                    self.metrics.rebuilds.labels(reason).inc()
                started = time.perf_counter()
                summary = await rebuild(self.db, convex, batch_size=convex.policy.batch_size)
                log.warning("convex_rebuilt", reason=reason, epoch=summary.epoch, pushed=summary.pushed,
                            applied=summary.applied, pruned=summary.pruned, failed=summary.failed,
                            seconds=round(time.perf_counter() - started, 2))
            finally:
                await outbox.release_rebuild_lock(lock_conn, convex.name)
                await lock_conn.commit()
        return True

    # -- housekeeping and gauges ------------------------------------------------------

    async def housekeeping(self) -> dict[str, int]:
        """Prunes, in bounded batches, what only grows; returns rows deleted per table."""
        s = self.settings
        retention = {"sync_log": s.sync_retention_s, "guest_sessions": s.expired_retention_s,
                     "refresh_tokens": s.expired_retention_s, "idempotency_keys": s.idempotency_retention_s,
                     "webhook_deliveries": s.callback_retention_s, "member_invitations": s.expired_retention_s,
                     "platform_webhook_events": s.callback_retention_s, "stripe_events": s.callback_retention_s,
                     "password_reset_tokens": s.expired_retention_s, "outbound_emails": s.expired_retention_s,
                     "voice_calls": s.voice_call_retention_s}
        deleted: dict[str, int] = {}
        for table, retention_s in retention.items():
            total = 0
            while not self._stopping:
                async with self.db.system() as conn:
                    if table == "sync_log":
                        n = await outbox.prune_synced(conn, retention_s=retention_s, limit=self.prune_batch)
                    else:
                        n = await housekeeping.prune(conn, table, retention_s=retention_s, limit=self.prune_batch)
                total += n
                if n < self.prune_batch:
                    break
            deleted[table] = total
            if self.metrics and total:
                self.metrics.pruned.labels(table).inc(total)
        log.info("housekeeping", **deleted)
        if not self._stopping:
            # Not a table's rows: the files of expired exports (their rows stay, marked expired).
            expired = await self.exports.expire(batch=self.prune_batch)
            swept = await self.exports.sweep_parts()
            if expired or swept:
                log.info("exports_expired", files=expired, part_files=swept)
        return deleted

    async def build_exports(self) -> int:
        """Builds the queued exports (and those whose worker died), one at a time."""
        return await self.exports.build_due(stopping=lambda: self._stopping)

    async def refresh_gauges(self) -> None:
        if self.metrics is None:
            return
        async with self.db.system() as conn:
            rows = await outbox.queue_depth(conn)
        self.metrics.set_queue(rows, self.targets)


async def _listen(conninfo: str, worker: Worker) -> None:
    """Wakes the worker's loops on every sync_wake notification; reconnects after outages."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await outbox.listen_for_wakeups(conn)
                async for notify in conn.notifies():
                    worker.wake(notify.payload)
        except psycopg.Error as exc:
            log.warning("sync_listen_lost", error=str(exc))
            await asyncio.sleep(2)


async def _guarded(job: Any, name: str) -> None:
    try:
        await job()
    except (psycopg.Error, PoolTimeout, ConvexError) as exc:
        log.warning("worker_job_failed", job=name, error=str(exc))
    except asyncio.CancelledError:
        pass  # the worker is stopping


def _serve_metrics(settings: SyncSettings, registry: CollectorRegistry) -> Any:
    if not settings.worker_metrics_port:
        return None
    try:
        server, _ = start_http_server(settings.worker_metrics_port, settings.worker_metrics_host, registry=registry)
    except OSError as exc:
        # Delivering matters more than being scraped: say so loudly and go on.
        log.error("worker_metrics_unavailable", port=settings.worker_metrics_port, error=str(exc))
        return None
    log.info("worker_metrics", url=f"http://{settings.worker_metrics_host}:{settings.worker_metrics_port}/metrics")
    return server


async def serve(database_url: str, settings: SyncSettings, environ: dict[str, str]) -> None:
    # Before anything opens: a production worker without a real provider's credentials refuses to start.
    providers = build_providers(environ)
    if tracing.setup("tabletop-worker", environ):
        tracing.instrument_clients()
    db = Database(database_url, min_size=1, max_size=8)
    await db.open()
    registry = CollectorRegistry()
    metrics = SyncMetrics(registry)
    registry.register(PoolCollector(db))
    targets = build_targets(db, settings, environ, providers=providers)
    worker = Worker(db, targets.values(), settings, metrics=metrics)
    metrics_server = _serve_metrics(settings, registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    scheduler = AsyncIOScheduler()
    scheduler.add_job(_guarded, "interval", args=[worker.housekeeping, "housekeeping"],
                      seconds=settings.housekeeping_interval_s, max_instances=1, coalesce=True, id="housekeeping")
    scheduler.add_job(_guarded, "interval", args=[worker.refresh_gauges, "gauges"], seconds=5, max_instances=1,
                      coalesce=True, id="gauges")
    scheduler.add_job(_guarded, "interval", args=[worker.build_exports, "exports"], seconds=settings.export_poll_s,
                      max_instances=1, coalesce=True, id="exports")
    if settings.sync_epoch_check_s and "convex" in targets:
        # First at start (a deployment replaced while the worker was down), then periodically.
        scheduler.add_job(_guarded, "interval", args=[worker.check_convex, "convex_epoch"],
                          seconds=settings.sync_epoch_check_s, max_instances=1, coalesce=True, id="convex-epoch",
                          next_run_time=datetime.now(UTC))
    scheduler.start()
    listener = asyncio.create_task(_listen(database_url, worker))
    log.info("worker_started", owner=worker.owner, targets=sorted(targets), interval_s=settings.sync_retry_interval_s)
    loops = [asyncio.create_task(worker.loop(t), name=f"serve-{t.name}") for t in targets.values()]
    try:
        await stop.wait()
    finally:
        log.info("worker_stopping", owner=worker.owner)
        worker.stop()
        scheduler.shutdown(wait=False)
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        # Rounds in progress finish (each bounded by its target's timeouts), or are cancelled
        # after a while and hand their rows back.
        _, late = await asyncio.wait(loops, timeout=settings.convex_timeout_s + 5)
        for task in late:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        for target in targets.values():
            await target.close()
        await providers.close()
        if metrics_server is not None:
            metrics_server.shutdown()
        await db.close()
        log.info("worker_stopped", owner=worker.owner)


def main() -> None:
    production = production_like(os.environ.get("ENV_MODE"))
    settings = load_sync_settings(os.environ, production=production)
    fmt = os.environ.get("LOG_FORMAT", "auto")
    logs.configure("json" if production or fmt == "json" else "console" if fmt == "console" else "auto")
    database_url = os.environ.get("DATABASE_URL")
    if not database_url or not settings.enabled:
        raise SystemExit("the worker needs DATABASE_URL and CONVEX_URL (the dev runner sets both)")
    asyncio.run(serve(database_url, settings, dict(os.environ)))


if __name__ == "__main__":
    main()
