"""Versioned schema migrations: the files in db/migrations, the schema_migrations history,
and the runner that brings a database to the newest file (``python -m db.migrate``).

A migration is ``db/migrations/NNNN_name.sql`` (four digits, snake_case), numbered from
0001 without gaps. The runner applies the pending ones in order, each in one transaction
together with its ``schema_migrations`` row (version, name, sha256 of the file), so a
failing migration leaves nothing of itself. A whole run holds a session-level
``pg_advisory_lock`` on a fixed key: a second deploy waits, then finds nothing to do.
The history is checked before anything runs: an applied file that was edited or renamed,
a recorded version with no file, or a database newer than the newest file is refused.

Databases made before migrations (schema.sql applied whole, ``schema_info`` at version 4)
are adopted: 0001_initial is that very file, so it is recorded as applied (checksum NULL,
a baseline) and 0002 onwards run. schema.sql stays the readable whole; its rows in
schema_migrations also carry a NULL checksum.

Why not yoyo-migrations (9.0, evaluated): its lock is a row in a ``yoyo_lock`` table,
polled with a 10 s timeout, which a crashed deploy leaves behind until somebody runs
``yoyo break-lock``; an advisory lock dies with its session. And it keeps four bookkeeping
tables where one does. What we need of it is this module.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import pq

from db import queries as q

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
# pg_advisory_lock's key for a migration run: "tabletop" in ASCII (advisory locks are per database).
LOCK_KEY = 0x7461626C65746F70
# The schema_info version of the last schema.sql applied whole, which 0001_initial reproduces.
BASELINE_SCHEMA_INFO_VERSION = 4
_FILE_NAME = re.compile(r"^(\d{4})_([a-z][a-z0-9]*(?:_[a-z0-9]+)*)\.sql$")


class MigrationError(RuntimeError):
    """The runner refuses, or a migration failed (and was rolled back)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def label(self) -> str:
        """``0002_migration_history``: the file name without .sql."""
        return self.path.stem

    def sql(self) -> str:
        return self.path.read_text()

    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Applied:
    """A row of schema_migrations."""

    version: int
    name: str
    checksum: str | None
    applied_at: datetime


@dataclass(frozen=True)
class Entry:
    migration: Migration
    applied: Applied | None


@dataclass(frozen=True)
class Status:
    entries: list[Entry]
    database_version: int  # 0: no migration recorded
    code_version: int
    baseline: bool  # made from schema.sql v4: `up` records 0001 without running it
    pending: list[Migration]
    problem: str | None  # why `up` would refuse, if it would


@dataclass(frozen=True)
class _State:
    history: list[Applied]
    schema_info_version: int | None  # None: no schema_info table (or no row in it)
    has_schema_info: bool
    other_relations: list[str]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files, in order; a misnamed file, a duplicate or a gap is an error."""
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: a migration is named NNNN_snake_case_name.sql")
        migrations.append(Migration(int(match.group(1)), match.group(2), path))
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(f"{migration.path.name}: migrations are numbered 0001, 0002, ... without gaps "
                                 f"or duplicates; expected {expected:04d} here")
    if not migrations:
        raise MigrationError(f"no migrations in {directory}")
    return migrations


def expected_version(directory: Path = MIGRATIONS_DIR) -> int:
    """The highest migration number on disk: the version this code needs."""
    return discover(directory)[-1].version


def _inspect(conn: psycopg.Connection[Any]) -> _State:
    history: list[Applied] = []
    if _flag(conn, "migrate_has_history"):
        history = [Applied(*row) for row in conn.execute(q.sql("migrate_history")).fetchall()]
    has_schema_info = _flag(conn, "migrate_has_schema_info")
    schema_info_version = None
    if has_schema_info:
        row = conn.execute(q.sql("migrate_schema_info_version")).fetchone()
        schema_info_version = None if row is None else int(row[0])
    others = [name for (name,) in conn.execute(q.sql("migrate_other_relations")).fetchall()]
    return _State(history, schema_info_version, has_schema_info, others)


def _flag(conn: psycopg.Connection[Any], query: str) -> bool:
    row = conn.execute(q.sql(query)).fetchone()
    return bool(row and row[0])


def _plan(state: _State, migrations: list[Migration]) -> tuple[bool, list[Migration]]:
    """(baseline?, pending migrations), or MigrationError saying why the database is refused."""
    newest = migrations[-1]
    if not state.history:
        if state.has_schema_info:
            if state.schema_info_version != BASELINE_SCHEMA_INFO_VERSION:
                raise MigrationError(
                    f"the database records schema_info.schema_version {state.schema_info_version}; only a database "
                    f"at version {BASELINE_SCHEMA_INFO_VERSION} (the last schema.sql applied whole, which is "
                    f"{migrations[0].path.name}) can be adopted by the migration history. Nothing was changed.")
            return True, migrations[1:]
        if state.other_relations:
            raise MigrationError(
                f"the database is not empty ({', '.join(state.other_relations)}, ...) but has neither a migration "
                "history nor schema_info: it was not made by this project. Nothing was changed.")
        return False, migrations

    by_version = {m.version: m for m in migrations}
    database_version = state.history[-1].version
    if database_version > newest.version:
        raise MigrationError(
            f"the database is at migration {database_version}, newer than this code's newest "
            f"({newest.path.name}): the code is older than the database; deploy the newer code. Nothing was changed.")
    for row in state.history:
        migration = by_version.get(row.version)
        if migration is None:
            raise MigrationError(f"migration {row.version:04d}_{row.name} is recorded as applied but has no file "
                                 "in db/migrations. Nothing was changed.")
        if row.name != migration.name:
            raise MigrationError(f"{migration.path.name}: the database recorded migration {row.version} as "
                                 f"{row.name!r}; never rename a released migration. Nothing was changed.")
        if row.checksum is not None and row.checksum != migration.checksum():
            raise MigrationError(
                f"{migration.path.name} differs from the file that was applied (sha256 {row.checksum} recorded, "
                f"{migration.checksum()} on disk): never edit a released migration; put the change in a new one. "
                "Nothing was changed.")
    done = {row.version for row in state.history}
    pending = [m for m in migrations if m.version not in done]
    if pending and pending[0].version < database_version:
        raise MigrationError(f"{pending[0].path.name} is not applied but later migrations are: the history has a "
                             "hole this runner will not fill out of order. Nothing was changed.")
    return False, pending


def _record(conn: psycopg.Connection[Any], migration: Migration, checksum: str | None) -> None:
    conn.execute(q.sql("migrate_record"), {"version": migration.version, "name": migration.name,
                                           "checksum": checksum})
    # A migration may GRANT on ALL TABLES (0001 does); the app role keeps reading the history only.
    conn.execute(q.sql("migrate_history_revoke"))
    conn.execute(q.sql("migrate_history_grant"))


def upgrade(admin_conninfo: str, *, directory: Path = MIGRATIONS_DIR,
            progress: Callable[[str], None] | None = None) -> list[str]:
    """Applies every pending migration, in order, each in its own transaction with its history
    row; returns the labels of those applied (``0002_migration_history``). ``progress`` hears
    one line per step as it completes, the baseline included.

    Runs as a role that may create tables and roles (the embedded server's superuser in
    development). Raises MigrationError on a refusal (nothing changed) or a failed migration
    (it was rolled back; those before it stay applied).
    """
    say = progress or (lambda _line: None)
    migrations = discover(directory)
    applied: list[str] = []
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        # A session lock, not a transaction lock: it spans the per-migration transactions, and
        # dies with the connection if this process does (nothing to break by hand).
        conn.execute(q.sql("migrate_lock"), {"key": LOCK_KEY})
        try:
            with conn.transaction():  # a refusal rolls back the history table's creation too
                conn.execute(q.sql("migrate_create_history"))
                baseline, pending = _plan(_inspect(conn), migrations)
                if baseline:
                    _record(conn, migrations[0], None)
            if baseline:
                say(f"{migrations[0].label}: recorded as applied (baseline: the database was made from schema.sql "
                    f"version {BASELINE_SCHEMA_INFO_VERSION})")
            for migration in pending:
                try:
                    with conn.transaction():
                        conn.execute(migration.sql())
                        _record(conn, migration, migration.checksum())
                except psycopg.Error as exc:
                    raise MigrationError(f"{migration.path.name} failed and was rolled back: "
                                         f"{type(exc).__name__}: {exc}".rstrip()) from exc
                applied.append(migration.label)
                say(f"{migration.label}: applied")
        finally:
            # Closing the connection releases the lock anyway; unlock early when the session is sound.
            if conn.info.transaction_status == pq.TransactionStatus.IDLE:
                conn.execute(q.sql("migrate_unlock"), {"key": LOCK_KEY})
    return applied


def status(conninfo: str, *, directory: Path = MIGRATIONS_DIR) -> Status:
    """What the database has and what `upgrade` would do; reads only."""
    migrations = discover(directory)
    with psycopg.connect(conninfo) as conn:
        state = _inspect(conn)
        conn.rollback()
    problem: str | None = None
    baseline = False
    pending: list[Migration] = []
    try:
        baseline, pending = _plan(state, migrations)
    except MigrationError as exc:
        problem = str(exc)
    by_version = {row.version: row for row in state.history}
    return Status(
        entries=[Entry(m, by_version.get(m.version)) for m in migrations],
        database_version=state.history[-1].version if state.history else 0,
        code_version=migrations[-1].version,
        baseline=baseline,
        pending=pending,
        problem=problem,
    )


async def is_current(conn: q.Conn) -> bool:
    """Whether the database is at this code's version (for /ready; the app role may read the history)."""
    present = await q.maybe_one(conn, "migrate_has_history")
    if present is None or not present["present"]:
        return False  # made before migrations: not upgraded yet
    row = await q.maybe_one(conn, "schema_version")
    return row is not None and row["version"] == expected_version()


# --------------------------------------------------------------------------------- CLI


def _print_status(state: Status) -> None:
    width = max(len(entry.migration.label) for entry in state.entries)
    for entry in state.entries:
        if entry.applied is not None:
            how = " (baseline)" if entry.applied.checksum is None else ""
            when = f"applied {entry.applied.applied_at:%Y-%m-%d %H:%M:%S %Z}{how}"
        elif state.baseline and entry.migration.version == 1:
            when = "pending (recorded as a baseline: the database was made from schema.sql)"
        else:
            when = "pending"
        print(f"{entry.migration.label:<{width}}  {when}")
    print(f"database at version {state.database_version}, code at {state.code_version}; "
          f"{len(state.pending) + state.baseline} pending")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m db.migrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["status", "up"],
                        help="status: list the migrations, applied or pending; up: apply the pending ones")
    parser.add_argument("--database-url", help="a role that may create tables and roles "
                                               "(default: DATABASE_ADMIN_URL, else DATABASE_URL)")
    args = parser.parse_args(argv)
    url = args.database_url or os.environ.get("DATABASE_ADMIN_URL") or os.environ.get("DATABASE_URL")
    if not url:
        parser.error("no database: pass --database-url or set DATABASE_ADMIN_URL or DATABASE_URL")
    try:
        if args.command == "status":
            state = status(url)
            _print_status(state)
            if state.problem is not None:
                print(f"migrate: `up` would refuse: {state.problem}", file=sys.stderr)
                return 1
            return 0
        applied = upgrade(url, progress=lambda line: print(line, flush=True))
        print(f"{len(applied)} applied; database at version {expected_version()}")
        return 0
    except (MigrationError, psycopg.Error) as exc:
        print(f"migrate: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
