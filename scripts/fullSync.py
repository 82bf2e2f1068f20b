"""Recovery: bring Convex back to what Postgres holds.

    python -m scripts.fullSync [--restaurant ID] [--entity orders|menu_items|tables]
                               [--dry-run | --verify] [--prune] [--batch-size N] [--json]

Streams every synced entity from Postgres through a server-side cursor and pushes each page
as one versioned ``sync:applyBatch``. Convex applies a change only when it is newer than what
it holds, so a snapshot never overwrites a live write and a second run applies nothing: it is
safe next to the API and the worker. ``--prune`` then removes Convex documents whose rows are
gone from Postgres; ``--verify`` and ``--dry-run`` compare the two sides and write nothing.
Environment: DATABASE_URL (the app role), CONVEX_URL, CONVEX_DEPLOY_KEY. See docs/fullsync.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import PoolTimeout

from db import fullsync
from db.pool import Database
from sync import documents
from sync.config import SyncConfigError, load_sync_settings
from sync.convex import ConvexError, ConvexFunctionError, ConvexHttp, ConvexUnavailable

ENTITIES = {"orders": "order", "menu_items": "menu_item", "tables": "table"}
REQUIRED_ENV = ("DATABASE_URL", "CONVEX_URL", "CONVEX_DEPLOY_KEY")
MAX_BATCH = 500  # sync:applyBatch and sync:prune refuse more
GIVE_UP_AFTER = 3  # consecutive unavailable answers: Convex is down, stop waiting on timeouts
EXAMPLES = 5


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
    drift: dict[str, Drift] = field(default_factory=dict)

    def line(self) -> str:
        drift = f" drift={sum(d.total for d in self.drift.values())}" if self.drift else ""
        return (f"fullsync {self.mode}: pushed={self.pushed} applied={self.applied} stale={self.stale} "
                f"deleted={self.deleted} pruned={self.pruned} failed={self.failed}{drift} "
                f"seconds={self.seconds:.2f} rows/s={self.rows_per_s:.0f}")

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


class FullSync:
    def __init__(self, db: Database, convex: ConvexHttp, args: argparse.Namespace):
        self.db, self.convex, self.args = db, convex, args
        self.restaurant: UUID | None = args.restaurant
        self.summary = Summary("verify" if args.verify else "dry-run" if args.dry_run else "sync")
        self.unavailable_streak = 0
        self.tty = sys.stderr.isatty()

    async def run(self) -> Summary:
        started = time.perf_counter()
        for name in [self.args.entity] if self.args.entity else list(ENTITIES):
            entity_type = ENTITIES[name]
            if self.summary.mode == "sync":
                await self.push(entity_type)
                if self.args.prune:
                    await self.scan(entity_type, prune=True)
            else:
                self.summary.drift[name] = await self.scan(entity_type, prune=False)
        if self.summary.mode == "dry-run":
            await self.estimate()
        self.summary.seconds = time.perf_counter() - started
        self.progress("", done=True)
        return self.summary

    async def push(self, entity_type: str) -> None:
        table, sent = documents.CONVEX_TABLE[entity_type], 0
        async with self.db.system() as conn:
            async for page in fullsync.stream(conn, entity_type, restaurant_id=self.restaurant,
                                              page_size=self.args.batch_size):
                changes = [documents.change(entity_type, {"entity_id": row["id"], "restaurant_id": row["restaurant_id"],
                                                          "entity_version": row["version"]}, row) for row in page]
                self.summary.rows += len(page)
                self.summary.pushed += len(changes)
                await self.apply(changes)
                sent += len(changes)
                self.progress(f"{table}: {sent} pushed (run: {self.summary.applied} applied, "
                              f"{self.summary.failed} failed)")

    async def apply(self, changes: list[dict[str, Any]]) -> None:
        """One applyBatch; a rejected batch is split until the rejected change is alone."""
        if self.unavailable_streak >= GIVE_UP_AFTER:
            self.summary.failed += len(changes)
            return
        self.summary.batches += 1
        self.summary.max_batch = max(self.summary.max_batch, len(changes))
        try:
            value = await self.convex.mutation("sync:applyBatch", {"changes": changes})
        except ConvexUnavailable as exc:
            self.unavailable(exc)
            self.summary.failed += len(changes)
            return
        except ConvexFunctionError as exc:
            self.unavailable_streak = 0
            if len(changes) == 1:
                c = changes[0]
                self.warn(f"rejected {c['entity']} {c['pgId']} v{c['version']:.0f}: {exc} {exc.data or ''}")
                self.summary.failed += 1
                return
            await self.apply(changes[: len(changes) // 2])
            await self.apply(changes[len(changes) // 2 :])
            return
        self.unavailable_streak = 0
        outcomes = [result["result"] for result in value["results"]]
        self.summary.applied += outcomes.count("applied")
        self.summary.stale += outcomes.count("stale")
        self.summary.deleted += outcomes.count("deleted")

    async def scan(self, entity_type: str, *, prune: bool) -> Drift:
        """Pages through Convex's pgIds, checks each page against Postgres, prunes if asked."""
        drift, matched, listed, cursor = Drift(), 0, 0, None
        table = documents.CONVEX_TABLE[entity_type]
        async with self.db.system() as conn:
            live = (await fullsync.counts(conn, entity_type, restaurant_id=self.restaurant))["live"]
        while True:
            args: dict[str, Any] = {"entity": table, "paginationOpts": {"numItems": self.args.batch_size,
                                                                         "cursor": cursor}}
            if self.restaurant is not None:
                args["restaurantId"] = str(self.restaurant)
            try:
                result = await self.convex.query("sync:listPgIds", args)
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
            value = await self.convex.mutation("sync:prune", {"entity": table, "targets": targets})
        except ConvexError as exc:
            self.call_failed(f"pruning {len(targets)} {table}", exc, count=len(targets))
            return
        self.summary.pruned += sum(1 for r in value["results"] if r["result"] == "pruned")

    async def estimate(self) -> None:
        """What a sync would do, from the drift found and the rows Postgres would send."""
        s = self.summary
        async with self.db.system() as conn:
            for name, drift in s.drift.items():
                s.pushed += (await fullsync.counts(conn, ENTITIES[name], restaurant_id=self.restaurant))["total"]
                s.applied += drift.missing + drift.older
                s.deleted += drift.soft_deleted
                if self.args.prune:
                    s.pruned += drift.extra - drift.soft_deleted
        s.stale = max(0, s.pushed - s.applied - s.deleted)

    def unavailable(self, exc: ConvexUnavailable) -> None:
        self.unavailable_streak += 1
        self.warn(f"convex unavailable: {exc}")
        if self.unavailable_streak == GIVE_UP_AFTER:
            self.warn(f"convex unavailable {GIVE_UP_AFTER} times in a row: not sending the rest")

    def call_failed(self, what: str, exc: ConvexError, *, count: int = 1) -> None:
        if isinstance(exc, ConvexUnavailable):
            self.unavailable(exc)
        else:
            self.warn(f"{what} failed: {exc}")
        self.summary.failed += count

    def progress(self, text: str, *, done: bool = False) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[K" + text + ("\n" if done and text else ""))
            sys.stderr.flush()

    def warn(self, message: str) -> None:
        sys.stderr.write(("\r\x1b[K" if self.tty else "") + f"fullsync: {message}\n")


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None  # not a Postgres id at all: nothing in Postgres can match it


def _batch_size(value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 1 <= size <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH}")
    return size


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.fullSync",
                                     description="Bring Convex back to what Postgres holds (see docs/fullsync.md).")
    parser.add_argument("--restaurant", type=UUID, help="only this restaurant's documents")
    parser.add_argument("--entity", choices=list(ENTITIES), help="only this entity type")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="report what a sync would push and prune; write nothing")
    mode.add_argument("--verify", action="store_true", help="report drift and exit 1 if any; write nothing")
    parser.add_argument("--prune", action="store_true", help="remove Convex documents absent from Postgres")
    parser.add_argument("--batch-size", type=_batch_size, default=200, help="rows per page and per Convex call")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    return parser


def report(summary: Summary, *, as_json: bool) -> None:
    for name, drift in summary.drift.items():
        if drift.total:
            print(f"drift {name}: missing={drift.missing} extra={drift.extra} older={drift.older} "
                  f"newer={drift.newer} {' '.join(drift.examples)}", file=sys.stderr)
    if as_json:
        body = asdict(summary) | {"seconds": round(summary.seconds, 3), "rows_per_s": round(summary.rows_per_s, 1)}
        print(json.dumps(body))
        print(summary.line(), file=sys.stderr)
    else:
        print(summary.line())


async def _run(args: argparse.Namespace, database_url: str, url: str, key: str, timeout_s: float) -> int:
    db = Database(database_url, min_size=1, max_size=2)
    convex = ConvexHttp(url, key, timeout_s=timeout_s, max_connections=2)
    try:
        await db.open(wait=True)
        summary = await FullSync(db, convex, args).run()
    except (psycopg.OperationalError, PoolTimeout) as exc:
        print(f"fullsync: Postgres unavailable: {exc}", file=sys.stderr)
        return 1
    finally:
        await convex.close()
        await db.close()
    report(summary, as_json=args.json)
    drifted = summary.mode == "verify" and any(d.total for d in summary.drift.values())
    return 1 if summary.failed or drifted else 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verify and args.prune:
        parser.error("--verify writes nothing; run --prune without it")
    missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
    if missing:
        print(f"fullsync: missing environment: {', '.join(missing)} (DATABASE_URL is the app role's "
              "Postgres URL; CONVEX_URL and CONVEX_DEPLOY_KEY name the deployment and its admin key)",
              file=sys.stderr)
        return 2
    try:
        timeout_s = load_sync_settings(os.environ, production=False).convex_timeout_s
    except SyncConfigError as exc:
        print(f"fullsync: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run(args, os.environ["DATABASE_URL"], os.environ["CONVEX_URL"],
                            os.environ["CONVEX_DEPLOY_KEY"], timeout_s))


if __name__ == "__main__":
    sys.exit(main())
