"""The one outbox engine: claim, prepare, deliver, record, for every target.

A round claims a target's rows (``FOR UPDATE SKIP LOCKED`` with a lease, so any number of
API processes and workers share the outbox and none sends a row another holds), lets the
target prepare its jobs in the claiming transaction, renews the lease while the target
delivers (a heartbeat: a short lease is taken over quickly when its holder dies, and a
slow delivery still keeps its rows), and records each job's outcome. Backoff is one
formula (db/sql/sync.sql ``mark_failed``) with the target's parameters; ``dead`` is
decided here; so are the metrics, the one ``sync_round`` log line and the delivery spans
that continue the trace each row carries from the request that wrote it.

The engine knows nothing of what a target sends. The post-commit pusher drives it with
the entities a request just committed (``round_entities``), the worker with whatever is
due (``round_due``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog

from db import outbox
from db.outbox import EntityKey
from db.pool import Database, trace_context
from db.queries import Conn, Row
from sync import tracing
from sync.metrics import SyncMetrics
from sync.outcome import Delivered, GiveUp, Outcome, Report, Retry, Skip, label
from sync.target import Job, Target

log = structlog.get_logger("sync")

ClaimRows = Callable[[Conn], Awaitable[list[Row]]]


class Engine:
    def __init__(self, db: Database, *, owner: str, metrics: SyncMetrics | None = None, quiet: bool = False):
        self.db, self.owner, self.metrics = db, owner, metrics
        # The API's pusher runs a round per few milliseconds under load: its rounds that
        # delivered everything log at debug; anything else always logs at info.
        self.quiet = quiet

    # -- claiming ---------------------------------------------------------------------

    async def round_due(self, target: Target[Any], *, grace_s: float | None = None) -> Report:
        """One round of the target's due rows: failed rows past their backoff, pending rows
        past the target's grace period, in-flight rows whose lease ran out."""
        policy = target.policy
        grace = policy.grace_s if grace_s is None else grace_s

        async def claim(conn: Conn) -> list[Row]:
            return await outbox.claim_due(conn, target=target.name, owner=self.owner, lease_s=policy.lease_s,
                                          grace_s=grace, limit=policy.batch_size, ordered=policy.ordered)

        return await self.round(target, claim)

    async def round_entities(self, target: Target[Any], keys: Iterable[EntityKey]) -> Report:
        """One round of the pending rows of these entities (what a request just committed).

        The claim binds its transaction to the system scope itself; for a target whose policy
        says ``state_in_claim`` it also reads the entities' state, and is a statement of its
        own (no BEGIN, no COMMIT): the API's pusher runs a round every few milliseconds."""
        keys = list(keys)
        alone = target.policy.state_in_claim

        async def claim(conn: Conn) -> list[Row]:
            return await outbox.claim_entities(conn, keys, target=target.name, owner=self.owner,
                                               lease_s=target.policy.lease_s, trace_context=trace_context(),
                                               with_state=alone)

        return await self.round(target, claim, connection=self.db.statements if alone else self.db.unscoped)

    # -- one round --------------------------------------------------------------------

    async def round(self, target: Target[Any], claim: ClaimRows, *,
                    connection: Callable[[], AbstractAsyncContextManager[Conn]] | None = None) -> Report:
        """``connection``: where the claim and prepare run (by default a system-scoped transaction)."""
        started = time.perf_counter()
        async with (connection or self.db.system)() as conn:
            rows = await claim(conn)
            jobs = await target.prepare(conn, rows) if rows else []
        report = Report(claimed=len(rows))
        if not rows:
            return report
        report.rounds = 1
        ids = [row["id"] for row in rows]
        spans = tracing.delivery_spans(target.name, jobs)
        # The lease is renewed only by a delivery that outlasts a third of it: most rounds end
        # well before, and never start the heartbeat's task.
        heartbeat: list[asyncio.Task[None]] = []
        timer = asyncio.get_running_loop().call_later(
            target.policy.lease_s / 3, lambda: heartbeat.append(
                asyncio.create_task(self._heartbeat(target, ids), name=f"lease-{target.name}")))
        try:
            with tracing.current(spans):
                outcomes = await self._deliver(target, jobs)
        except asyncio.CancelledError:
            # Stopping mid-delivery: hand the rows back, due at once, attempts unchanged.
            async with self.db.system() as conn:
                await outbox.release(conn, ids, owner=self.owner)
            tracing.end_spans(spans, None)
            raise
        finally:
            timer.cancel()
            for task in heartbeat:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        tracing.end_spans(spans, outcomes)
        await self._record(target, jobs, outcomes, report)
        self._observe(target, outcomes, report, time.perf_counter() - started)
        return report

    async def _deliver(self, target: Target[Any], jobs: list[Job[Any]]) -> list[Outcome]:
        todo = [job for job in jobs if job.settled is None]
        delivered: list[Outcome] = []
        if todo:
            started = time.perf_counter()
            try:
                delivered = await target.deliver(todo)
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:  # a target's bug must not lose or strand its rows
                log.exception("sync_target_crashed", target=target.name, jobs=len(todo))
                delivered = [Retry(f"the {target.name} target crashed: {type(exc).__name__}: {exc}")] * len(todo)
            if len(delivered) != len(todo):
                log.error("sync_target_outcomes_mismatch", target=target.name, jobs=len(todo), outcomes=len(delivered))
                delivered = [Retry(f"the {target.name} target answered {len(delivered)} outcomes for "
                                   f"{len(todo)} jobs")] * len(todo)
            if self.metrics:
                self.metrics.push_duration_of(target.name).observe(time.perf_counter() - started)
        answers = iter(delivered)
        return [job.settled if job.settled is not None else next(answers) for job in jobs]

    async def _heartbeat(self, target: Target[Any], ids: list[int]) -> None:
        """Renews the round's leases now (a third of a lease into the delivery) and every
        third of a lease after, while the delivery is alive."""
        interval = target.policy.lease_s / 3
        while True:
            try:
                async with self.db.system() as conn:
                    await outbox.renew(conn, ids, owner=self.owner, lease_s=target.policy.lease_s)
            except Exception as exc:  # the database may be down: the lease runs out, another takes over
                log.warning("sync_lease_renewal_failed", target=target.name, error=str(exc))
            await asyncio.sleep(interval)

    # -- recording --------------------------------------------------------------------

    async def _record(self, target: Target[Any], jobs: Sequence[Job[Any]], outcomes: Sequence[Outcome],
                      report: Report) -> None:
        if not target.policy.supersede and all(isinstance(outcome, Delivered) for outcome in outcomes):
            # The usual round: every row delivered, one self-scoping statement, no transaction.
            async with self.db.statements() as conn:
                report.synced += await outbox.mark_synced_alone(
                    conn, [row_id for job in jobs for row_id in job.row_ids], owner=self.owner)
            return
        async with self.db.system() as conn:
            await self._record_each(conn, target, jobs, outcomes, report)

    async def _record_each(self, conn: Conn, target: Target[Any], jobs: Sequence[Job[Any]],
                           outcomes: Sequence[Outcome], report: Report) -> None:
        policy = target.policy
        synced: list[int] = []
        superseding: list[Job[Any]] = []
        for job, outcome in zip(jobs, outcomes, strict=True):
            match outcome:
                case Delivered():
                    synced += job.row_ids
                    if policy.supersede and job.version is not None:
                        superseding.append(job)
                case Skip(reason=reason):
                    report.skipped += await outbox.mark_skipped(conn, job.row_ids, owner=self.owner, reason=reason)
                case GiveUp(error=error):
                    report.dead += await outbox.mark_dead(conn, job.row_ids, owner=self.owner, error=error)
                    log.warning("sync_gave_up", target=target.name, entity_id=str(job.entity_id), error=error)
                case Retry():
                    marked = await outbox.mark_failed(conn, job.row_ids, owner=self.owner, error=outcome.error,
                                                      backoff=policy.backoff, limited=outcome.limited,
                                                      after_s=outcome.after_s, target_down=outcome.target_down)
                    report.dead += sum(1 for m in marked if m["status"] == "dead")
                    report.failed += sum(1 for m in marked if m["status"] == "failed")
                    report.target_down = report.target_down or outcome.target_down
        if synced:
            report.synced += await outbox.mark_synced_alone(conn, synced, owner=self.owner)
        if superseding:
            await outbox.supersede(conn, target.name, [(j.rows[0]["restaurant_id"], j.rows[0]["entity_type"],
                                                        j.entity_id, j.version or 0) for j in superseding])

    def _observe(self, target: Target[Any], outcomes: Sequence[Outcome], report: Report, seconds: float) -> None:
        if self.metrics:
            counts: dict[str, int] = {}
            for outcome in outcomes:
                counts[label(outcome)] = counts.get(label(outcome), 0) + 1
            for name, n in counts.items():
                self.metrics.results_of(target.name, name).inc(n)
        errors: dict[str, str] = {}
        for outcome in outcomes:
            if isinstance(outcome, Retry | GiveUp) and len(errors) < 3:
                errors.setdefault(outcome.error[:200], label(outcome))
        clean = report.synced + report.skipped == report.claimed
        emit = log.debug if clean and self.quiet else log.info if clean else log.warning
        emit("sync_round", target=target.name, owner=self.owner, **report.counts(), target_down=report.target_down,
             seconds=round(seconds, 4), **({"errors": list(errors)} if errors else {}))
