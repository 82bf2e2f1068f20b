"""What scripts/fullSync reads from Postgres: every synced entity streamed in pages through
a server-side cursor, row counts, and the versions of the ids Convex lists.

All of it runs in a system-scope transaction (it spans restaurants). The stream is the one
place that does not go through ``queries.all``: that fetches every row at once, and a full
table must never be held in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from uuid import UUID

from psycopg.rows import dict_row

from db import queries as q
from db.queries import Conn, Row

_NAMES = {"order": "orders", "menu_item": "menu_items", "table": "tables", "reservation": "reservations",
          "notification": "notifications"}


async def stream(
    conn: Conn, entity_type: str, *, restaurant_id: UUID | None, page_size: int
) -> AsyncIterator[list[Row]]:
    """Pages of at most ``page_size`` rows, ordered by id, each fetched from the server on demand.

    The cursor lives in the caller's transaction, which must stay open while iterating.
    """
    name = f"fullsync_{_NAMES[entity_type]}"
    async with conn.cursor(name, row_factory=dict_row) as cur:
        await cur.execute(q.sql(name), {"restaurant_id": restaurant_id})
        while page := await cur.fetchmany(page_size):
            yield page


async def counts(conn: Conn, entity_type: str, *, restaurant_id: UUID | None) -> Row:
    """``total`` rows fullSync would send and ``live`` rows Convex should hold."""
    return await q.one(conn, f"fullsync_count_{_NAMES[entity_type]}", restaurant_id=restaurant_id)


async def versions(conn: Conn, entity_type: str, ids: Sequence[UUID]) -> dict[UUID, Row]:
    """``version`` and ``deleted`` (soft-deleted) of those ids that exist in Postgres."""
    return {row["id"]: row for row in await q.all(conn, f"fullsync_{entity_type}_versions", ids=list(ids))}
