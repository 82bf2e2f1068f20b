"""Recovery: bring Convex back to what Postgres holds.

    python -m scripts.fullSync [--restaurant ID] [--entity orders|menu_items|tables|reservations|notifications]
                               [--dry-run | --verify] [--prune] [--batch-size N] [--json]

Streams every synced entity from Postgres through a server-side cursor and pushes each page
as one versioned ``sync:applyBatch``. Convex applies a change only when it is newer than what
it holds, so a snapshot never overwrites a live write and a second run applies nothing: it is
safe next to the API and the worker. ``--prune`` then removes Convex documents whose rows are
gone from Postgres; ``--verify`` and ``--dry-run`` compare the two sides and write nothing.
A complete run (no --restaurant or --entity) also writes a new epoch to Convex and Postgres,
so workers know this Convex is whole (sync/convex/rebuild.py). The work is done there; this
is the command. Environment: DATABASE_URL (the app role), CONVEX_URL, CONVEX_DEPLOY_KEY.
See docs/fullsync.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict
from uuid import UUID

import psycopg
from psycopg_pool import PoolTimeout

from db import logs
from db.pool import Database
from sync.config import SyncConfigError, SyncSettings, load_sync_settings
from sync.convex.rebuild import ENTITIES, FullSync, Options, Summary
from sync.convex.target import MAX_BATCH
from sync.registry import convex_target

REQUIRED_ENV = ("DATABASE_URL", "CONVEX_URL", "CONVEX_DEPLOY_KEY")


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


def _options(args: argparse.Namespace) -> Options:
    mode = "verify" if args.verify else "dry-run" if args.dry_run else "sync"
    return Options(mode=mode, restaurant=args.restaurant, entity=args.entity, prune=args.prune,
                   batch_size=args.batch_size)


def _terminal(text: str) -> None:
    sys.stderr.write("\r\x1b[K" + text)
    sys.stderr.flush()


def _warn(message: str) -> None:
    sys.stderr.write(("\r\x1b[K" if sys.stderr.isatty() else "") + f"fullsync: {message}\n")


async def _run(args: argparse.Namespace, database_url: str, settings: SyncSettings) -> int:
    db = Database(database_url, min_size=1, max_size=2)
    # The batch size is the page size: one page, one applyBatch (split only where Convex rejects).
    convex = convex_target(settings, batch_size=args.batch_size, max_connections=2)
    assert convex is not None  # CONVEX_URL is required above
    try:
        await db.open(wait=True)
        summary = await FullSync(db, convex, _options(args), warn=_warn,
                                 progress=_terminal if sys.stderr.isatty() else None).run()
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
    # stdout is the summary's (--json); the sync code's own log lines go to stderr.
    logs.configure("auto", "WARNING")
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
        settings = load_sync_settings(os.environ, production=False)
    except SyncConfigError as exc:
        print(f"fullsync: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run(args, os.environ["DATABASE_URL"], settings))


if __name__ == "__main__":
    sys.exit(main())
