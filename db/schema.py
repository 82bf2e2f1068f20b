"""Applying schema.sql, and knowing which schema version the code expects."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg

from db import queries as q

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
_VERSION_LINE = re.compile(r"INSERT INTO schema_info \(id, schema_version\) VALUES \(1, (\d+)\);")


def expected_version(text: str | None = None) -> int:
    """The version schema.sql records in its last statement."""
    match = _VERSION_LINE.search(text if text is not None else SCHEMA_PATH.read_text())
    if match is None:
        raise RuntimeError("schema.sql does not record its schema_version")
    return int(match.group(1))


class SchemaMismatch(RuntimeError):
    pass


def apply(admin_conninfo: str) -> str:
    """Applies schema.sql once; returns "applied" or "current".

    Runs as a role that may create roles and tables (the embedded server's superuser in
    development). A database holding another schema version is refused, never patched.
    """
    text = SCHEMA_PATH.read_text()
    want = expected_version(text)
    with psycopg.connect(admin_conninfo, autocommit=False) as conn:
        exists = conn.execute("SELECT to_regclass('public.schema_info') IS NOT NULL").fetchone()
        if exists and exists[0]:
            row = conn.execute(q.sql("schema_version")).fetchone()
            have = row[0] if row else None
            if have != want:
                raise SchemaMismatch(f"database has schema_version {have}, this code needs {want}")
            return "current"
        conn.execute(text)
        conn.commit()
    return "applied"


async def is_current(conn: q.Conn) -> bool:
    row: dict[str, Any] | None = await q.maybe_one(conn, "schema_version")
    return row is not None and row["schema_version"] == expected_version()
