"""Pushing claimed outbox rows to Convex: the one code path the API's pusher, the worker
and fullSync's callers share.

The push always sends each entity's CURRENT state read from Postgres, versioned, so
at-least-once delivery has an exactly-once effect and a late retry never overwrites newer
state. A batch Convex rejects is split in halves until the rejected change is alone: one
poisoned document fails (and eventually goes dead) without holding back the others.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import structlog

from db import outbox
from db.outbox import Backoff
from db.pool import Database
from db.queries import Conn, Row
from sync import documents
from sync.convex import ConvexFunctionError, ConvexHttp, ConvexUnavailable
from sync.metrics import PushMetrics

log = structlog.get_logger("sync")
TARGET = "convex"


@dataclass
class PushReport:
    synced: int = 0
    failed: int = 0
    dead: int = 0
    unavailable: bool = False
    results: dict[str, int] = field(default_factory=dict)


@dataclass
class _Item:
    row_ids: list[int]
    change: dict[str, Any]


@dataclass
class Claimed:
    rows: list[Row]
    items: list[_Item]


async def build_changes(conn: Conn, rows: Sequence[Row]) -> list[_Item]:
    """One change per entity, from the entity's current state (several claimed rows of one
    entity collapse into one change). ``conn`` is a system-scope transaction, usually the
    one that claimed the rows (one transaction instead of two per batch)."""
    by_entity: dict[tuple[str, UUID], list[Row]] = {}
    for row in rows:
        by_entity.setdefault((row["entity_type"], row["entity_id"]), []).append(row)
    current: dict[str, dict[UUID, Row]] = {}
    for entity_type in {t for t, _ in by_entity}:
        ids = [i for t, i in by_entity if t == entity_type]
        current[entity_type] = await outbox.entity_rows(conn, entity_type, ids)
    items = []
    for (entity_type, entity_id), entity_rows in by_entity.items():
        newest = max(entity_rows, key=lambda r: r["entity_version"])
        items.append(_Item([r["id"] for r in entity_rows],
                           documents.change(entity_type, newest, current[entity_type].get(entity_id))))
    return items


class Pushing:
    def __init__(self, db: Database, convex: ConvexHttp, *, owner: str, backoff: Backoff, batch_size: int,
                 metrics: PushMetrics | None = None):
        self.db, self.convex, self.owner = db, convex, owner
        self.backoff, self.batch_size, self.metrics = backoff, batch_size, metrics

    async def claim(self, claim: Callable[[Conn], Awaitable[list[Row]]]) -> Claimed:
        """Runs ``claim`` and reads the claimed entities' current state in one transaction."""
        async with self.db.system() as conn:
            rows = await claim(conn)
            return Claimed(rows, await build_changes(conn, rows) if rows else [])

    async def push(self, claimed: Claimed) -> PushReport:
        """Pushes claimed rows and records each row's outcome in the outbox."""
        report = PushReport()
        items = claimed.items
        if not items:
            return report
        for start in range(0, len(items), self.batch_size):
            await self._apply(items[start:start + self.batch_size], report)
            if report.unavailable:
                # Convex is down: the rest of the batch would fail the same way.
                await self._fail([i for item in items[start + self.batch_size:] for i in item.row_ids],
                                 "not attempted: convex unavailable earlier in this batch", False, report)
                break
        return report

    async def _apply(self, chunk: list[_Item], report: PushReport) -> None:
        started = time.perf_counter()
        try:
            value = await self.convex.mutation("sync:applyBatch", {"changes": [item.change for item in chunk]})
        except ConvexUnavailable as exc:
            self._observe(started, "unavailable")
            report.unavailable = True
            log.warning("sync_push_unavailable", error=str(exc), changes=len(chunk))
            await self._fail([i for item in chunk for i in item.row_ids], str(exc), False, report)
            return
        except ConvexFunctionError as exc:
            self._observe(started, "rejected")
            if len(chunk) == 1:
                log.error("sync_push_rejected", error=str(exc), change=_describe(chunk[0].change))
                await self._fail(chunk[0].row_ids, f"rejected by convex: {exc} {exc.data or ''}".strip(), True, report)
                return
            middle = len(chunk) // 2
            await self._apply(chunk[:middle], report)
            await self._apply(chunk[middle:], report)
            return
        self._observe(started, "ok")
        for result in value.get("results", []):
            report.results[result["result"]] = report.results.get(result["result"], 0) + 1
            if self.metrics:
                self.metrics.results.labels(TARGET, result["result"]).inc()
        ids = [i for item in chunk for i in item.row_ids]
        async with self.db.system() as conn:
            report.synced += await outbox.mark_synced(conn, ids, owner=self.owner)

    async def _fail(self, ids: list[int], error: str, can_die: bool, report: PushReport) -> None:
        if not ids:
            return
        async with self.db.system() as conn:
            marked = await outbox.mark_failed(conn, ids, owner=self.owner, error=error, backoff=self.backoff,
                                              can_die=can_die)
        report.dead += sum(1 for m in marked if m["status"] == "dead")
        report.failed += sum(1 for m in marked if m["status"] == "failed")
        if self.metrics:
            self.metrics.results.labels(TARGET, "failed").inc(len(ids))

    def _observe(self, started: float, outcome: str) -> None:
        if self.metrics:
            self.metrics.latency.labels(TARGET, outcome).observe(time.perf_counter() - started)


def _describe(change: dict[str, Any]) -> dict[str, Any]:
    return {k: change[k] for k in ("entity", "op", "pgId", "restaurantId", "version")}
