"""Bringing Convex back to what Postgres holds: the core of ``scripts/fullSync`` (the
operator's command) and of the worker's automatic rebuild of a deployment that lost data.

Streams every synced entity from Postgres through a server-side cursor and pushes each
page through the Convex target's ``apply`` (versioned ``sync:applyBatch``, a rejected
chunk split until the bad change is alone). Convex applies a change only when it is newer
than what it holds, so a snapshot never overwrites a live write and a second run applies
nothing: it is safe next to the API and the worker. ``prune`` then removes Convex
documents whose rows are gone from Postgres; ``verify`` and ``dry-run`` compare the two
sides and write nothing.

The epoch: a full rebuild (every restaurant, every entity, sync mode) first writes a new
epoch to Convex, then pushes, then records the epoch in Postgres. A worker that finds
Convex at another epoch than Postgres records (none: wiped or replaced; an older one:
restored from a backup) knows documents may be missing and rebuilds. A crash or a wipe in
the middle leaves the two epochs apart, so the next check rebuilds again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import structlog

from db import fullsync, outbox
from db.pool import Database
from sync.convex import documents
from sync.convex.client import ConvexError, ConvexUnavailable
from sync.convex.target import TARGET, ConvexTarget
from sync.outcome import Delivered, Retry

log = structlog.get_logger("sync")

ENTITIES = {"orders": "order", "menu_items": "menu_item", "tables": "table", "reservations": "reservation",
            "notifications": "notification"}
GIVE_UP_AFTER = 3  # consecutive unreachable pages: Convex is down, stop waiting on timeouts
EXAMPLES = 5
Mode = Literal["sync", "verify", "dry-run"]


@dataclass(frozen=True)
class Options:
    mode: Mode = "sync"
    restaurant: UUID | None = None
    entity: str | None = None  # a key of ENTITIES
    prune: bool = False
    batch_size: int = 200

    @property
    def complete(self) -> bool:
        """A sync of every restaurant and entity: Convex is whole afterwards (an epoch is due)."""
        return self.mode == "sync" and self.restaurant is None and self.entity is None


@dataclass
class Drift:
    """Convex against Postgres for one entity; soft-deleted menu items count as absent."""

    missing: int = 0  # in Postgres, not in Convex
    extra: int = 0  # in Convex, absent (or soft-deleted) in Postgres
    older: int = 0  # Convex holds an older version
    newer: int = 0  # Convex holds a newer version: should never happen
    examples: list[str] = field(default_factory=list)
    soft_deleted: int = 0  # of `extra`: the push sends these a delete, prune leaves them

    @property
    def total(self) -> int:
        return self.missing + self.extra + self.older + self.newer

    def note(self, example: str) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(example)


@dataclass
class Summary:
    mode: str
    pushed: int = 0
    applied: int = 0
    stale: int = 0
    deleted: int = 0
    pruned: int = 0
    failed: int = 0
    batches: int = 0
    max_batch: int = 0
    rows: int = 0
    seconds: float = 0.0
    epoch: str | None = None
    drift: dict[str, Drift] = field(default_factory=dict)

    def line(self) -> str:
        drift = f" drift={sum(d.total for d in self.drift.values())}" if self.drift else ""
        return (f"fullsync {self.mode}: pushed={self.pushed} applied={self.applied} stale={self.stale} "
                f"deleted={self.deleted} pruned={self.pruned} failed={self.failed}{drift} "
                f"seconds={self.seconds:.2f} rows/s={self.rows_per_s:.0f}")

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _log_warning(message: str) -> None:
    log.warning("fullsync_warning", message=message)


class FullSync:
    def __init__(self, db: Database, convex: ConvexTarget, options: Options, *,
                 progress: Callable[[str], None] | None = None, warn: Callable[[str], None] = _log_warning):
        self.db, self.convex, self.options = db, convex, options
        self.summary = Summary(options.mode)
        self.unavailable_streak = 0
        self._progress, self.warn = progress, warn

    async def run(self) -> Summary:
        started = time.perf_counter()
        options = self.options
        if options.complete:
            # First the epoch, then everything: a Convex wiped mid-run has no epoch and
            # is rebuilt again; Postgres records it only once everything is in.
            epoch = uuid.uuid4().hex
            try:
                await self.convex.set_epoch(epoch)
                self.summary.epoch = epoch
            except ConvexError as exc:
                # The changes still go out; without an epoch workers will rebuild once more.
                self.warn(f"setting the epoch failed: {exc}")
        for name in [options.entity] if options.entity else list(ENTITIES):
            entity_type = ENTITIES[name]
            if options.mode == "sync":
                await self.push(entity_type)
                if options.prune:
                    await self.scan(entity_type, prune=True)
            else:
                self.summary.drift[name] = await self.scan(entity_type, prune=False)
        if options.mode == "dry-run":
            await self.estimate()
        if self.summary.epoch is not None and not self.summary.failed:
            async with self.db.system() as conn:
                await outbox.set_epoch(conn, TARGET, self.summary.epoch)
        self.summary.seconds = time.perf_counter() - started
        self.progress("", done=True)
        return self.summary

    async def push(self, entity_type: str) -> None:
        table, sent = documents.CONVEX_TABLE[entity_type], 0
        async with self.db.system() as conn:
            async for page in fullsync.stream(conn, entity_type, restaurant_id=self.options.restaurant,
                                              page_size=self.options.batch_size):
                changes = [documents.change(entity_type, {"entity_id": row["id"], "restaurant_id": row["restaurant_id"],
                                                          "entity_version": row["version"]}, row) for row in page]
                self.summary.rows += len(page)
                self.summary.pushed += len(changes)
                await self.apply(changes)
                sent += len(changes)
                self.progress(f"{table}: {sent} pushed (run: {self.summary.applied} applied, "
                              f"{self.summary.failed} failed)")

    async def apply(self, changes: list[dict[str, Any]]) -> None:
        """One page through the Convex target (one applyBatch, split where Convex rejects)."""
        if self.unavailable_streak >= GIVE_UP_AFTER:
            self.summary.failed += len(changes)
            return
        self.summary.batches += 1
        self.summary.max_batch = max(self.summary.max_batch, len(changes))
        outcomes = await self.convex.apply(changes)
        down = [o for o in outcomes if isinstance(o, Retry) and o.target_down]
        if down:
            self.unavailable(down[0].error)
        else:
            self.unavailable_streak = 0
        for change, outcome in zip(changes, outcomes, strict=True):
            if isinstance(outcome, Delivered):
                if outcome.detail in ("applied", "stale", "deleted"):
                    setattr(self.summary, outcome.detail, getattr(self.summary, outcome.detail) + 1)
                continue
            self.summary.failed += 1
            if isinstance(outcome, Retry) and outcome.limited:
                self.warn(f"rejected {change['entity']} {change['pgId']} v{change['version']:.0f}: {outcome.error}")

    async def scan(self, entity_type: str, *, prune: bool) -> Drift:
        """Pages through Convex's pgIds, checks each page against Postgres, prunes if asked."""
        drift, matched, listed, cursor = Drift(), 0, 0, None
        table = documents.CONVEX_TABLE[entity_type]
        restaurant = self.options.restaurant
        async with self.db.system() as conn:
            live = (await fullsync.counts(conn, entity_type, restaurant_id=restaurant))["live"]
        while True:
            args: dict[str, Any] = {"entity": table, "paginationOpts": {"numItems": self.options.batch_size,
                                                                         "cursor": cursor}}
            if restaurant is not None:
                args["restaurantId"] = str(restaurant)
            try:
                result = await self.convex.client.query("sync:listPgIds", args)
            except ConvexError as exc:
                self.call_failed(f"listing {table}", exc)
                return drift
            page = result["page"]
            self.summary.rows += len(page)
            listed += len(page)
            ids = [u for u in (_uuid(d["pgId"]) for d in page) if u is not None]
            async with self.db.system() as conn:
                known = await fullsync.versions(conn, entity_type, ids)
            absent = []
            for doc in page:
                key = _uuid(doc["pgId"])
                pg = known.get(key) if key is not None else None
                if pg is None or pg["deleted"]:
                    drift.extra += 1
                    drift.note(f"extra {doc['pgId']} convex=v{doc['version']:.0f}")
                    if pg is None:
                        absent.append({"pgId": doc["pgId"], "version": doc["version"]})
                    else:
                        drift.soft_deleted += 1
                    continue
                matched += 1
                if pg["version"] > doc["version"]:
                    drift.older += 1
                    drift.note(f"older {doc['pgId']} postgres=v{pg['version']} convex=v{doc['version']:.0f}")
                elif pg["version"] < doc["version"]:
                    drift.newer += 1
                    drift.note(f"newer {doc['pgId']} postgres=v{pg['version']} convex=v{doc['version']:.0f}")
            if prune and absent:
                await self.prune(table, absent)
            self.progress(f"{table}: {listed} listed, {drift.extra + drift.older + drift.newer} drift so far"
                          + (f", {self.summary.pruned} pruned (run)" if prune else ""))
            if result["isDone"]:
                break
            cursor = result["continueCursor"]
        # Under live writes a document can move in Convex's index while being paged; never below zero.
        drift.missing = max(0, live - matched)
        return drift

    async def prune(self, table: str, targets: list[dict[str, Any]]) -> None:
        try:
            value = await self.convex.client.mutation("sync:prune", {"entity": table, "targets": targets})
        except ConvexError as exc:
            self.call_failed(f"pruning {len(targets)} {table}", exc, count=len(targets))
            return
        self.summary.pruned += sum(1 for r in value["results"] if r["result"] == "pruned")

    async def estimate(self) -> None:
        """What a sync would do, from the drift found and the rows Postgres would send."""
        s = self.summary
        async with self.db.system() as conn:
            for name, drift in s.drift.items():
                s.pushed += (await fullsync.counts(conn, ENTITIES[name],
                                                   restaurant_id=self.options.restaurant))["total"]
                s.applied += drift.missing + drift.older
                s.deleted += drift.soft_deleted
                if self.options.prune:
                    s.pruned += drift.extra - drift.soft_deleted
        s.stale = max(0, s.pushed - s.applied - s.deleted)

    def unavailable(self, error: str) -> None:
        self.unavailable_streak += 1
        self.warn(f"convex unavailable: {error}")
        if self.unavailable_streak == GIVE_UP_AFTER:
            self.warn(f"convex unavailable {GIVE_UP_AFTER} times in a row: not sending the rest")

    def call_failed(self, what: str, exc: ConvexError, *, count: int = 1) -> None:
        if isinstance(exc, ConvexUnavailable):
            self.unavailable(str(exc))
        else:
            self.warn(f"{what} failed: {exc}")
        self.summary.failed += count

    def progress(self, text: str, *, done: bool = False) -> None:
        if self._progress is not None:
            self._progress(text + ("\n" if done and text else ""))


async def rebuild(db: Database, convex: ConvexTarget, *, batch_size: int) -> Summary:
    """A complete, pruning full sync under a new epoch (the worker's automatic recovery)."""
    return await FullSync(db, convex, Options(prune=True, batch_size=batch_size)).run()


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None  # not a Postgres id at all: nothing in Postgres can match it
