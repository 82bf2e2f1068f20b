"""Named SQL and the one execution layer every aggregate module goes through.

Statements live in ``db/sql/*.sql`` under a ``-- name: <name>`` header followed by a
one-line ``--`` description. They are loaded once, at import, and run by name with
``%(param)s`` parameters on the caller's connection, so a unit of work is one transaction.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from db.errors import NotFound, translate_integrity_error

Row = dict[str, Any]
Conn = psycopg.AsyncConnection[Any]

_SQL_DIR = Path(__file__).with_name("sql")
_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def _load(directory: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        text = path.read_text()
        headers = list(_HEADER.finditer(text))
        for i, header in enumerate(headers):
            end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
            body = text[header.end() : end].strip()
            lines = body.splitlines()
            if not lines or not lines[0].startswith("--"):
                raise ValueError(f"{path.name}: query {header.group(1)} lacks a description line")
            name = header.group(1)
            if name in queries:
                raise ValueError(f"{path.name}: query {name} is defined twice")
            body_lines = lines[1:]
            # Further comment lines before the statement are notes for readers; the statement
            # itself starts with its verb (which is what a trace names its SQL span by).
            while body_lines and body_lines[0].lstrip().startswith("--"):
                body_lines.pop(0)
            queries[name] = "\n".join(body_lines).strip()
    return queries


QUERIES: dict[str, str] = _load(_SQL_DIR)


def sql(name: str) -> str:
    """The text of a named query (for tools such as EXPLAIN tests and benchmarks)."""
    return QUERIES[name]


async def _execute(conn: Conn, name: str, params: dict[str, Any]) -> psycopg.AsyncCursor[Row]:
    cur = conn.cursor(row_factory=dict_row)
    try:
        await cur.execute(QUERIES[name], params)
    except psycopg.errors.IntegrityError as exc:
        raise translate_integrity_error(exc) from exc
    return cur


async def run(conn: Conn, name: str, /, **params: Any) -> int:
    """Execute a statement; returns the number of rows it touched."""
    cur = await _execute(conn, name, params)
    return cur.rowcount


async def one(conn: Conn, name: str, /, **params: Any) -> Row:
    """The single row a statement returns; NotFound when it returns none."""
    row = await maybe_one(conn, name, **params)
    if row is None:
        raise NotFound(f"{name} found nothing")
    return row


async def maybe_one(conn: Conn, name: str, /, **params: Any) -> Row | None:
    cur = await _execute(conn, name, params)
    return await cur.fetchone()


async def all(conn: Conn, name: str, /, **params: Any) -> list[Row]:  # noqa: A001  # the verb reads best as db.queries.all
    cur = await _execute(conn, name, params)
    return await cur.fetchall()
