"""Order exports: the job rows (queued by the API, claimed and finished by the worker, expired
by housekeeping) and the one query a build streams (db/sql/exports.sql, docs/exports.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from uuid import UUID

from psycopg.rows import dict_row

from db import queries as q
from db.queries import Conn, Row


async def queue(conn: Conn, restaurant_id: UUID, *, requested_by: UUID | None, fmt: str, from_date: date,
                to_date: date, max_pending: int) -> Row | None:
    """The new export; None when the restaurant already has ``max_pending`` queued or running."""
    return await q.maybe_one(conn, "queue_export", restaurant_id=restaurant_id, requested_by=requested_by,
                             format=fmt, from_date=from_date, to_date=to_date, max_pending=max_pending)


async def get(conn: Conn, restaurant_id: UUID, export_id: UUID) -> Row | None:
    return await q.maybe_one(conn, "get_export", restaurant_id=restaurant_id, id=export_id)


async def recent(conn: Conn, restaurant_id: UUID, *, limit: int) -> list[Row]:
    return await q.all(conn, "list_exports", restaurant_id=restaurant_id, limit=limit)


async def ready(conn: Conn, export_id: UUID) -> Row | None:
    """A ready, unexpired export by id alone (system scope: the signed URL is the authority)."""
    return await q.maybe_one(conn, "ready_export", id=export_id)


async def claim(conn: Conn, *, owner: str, lease_s: float, max_attempts: int) -> Row | None:
    """The next export to build, now ``owner``'s (after failing those out of attempts)."""
    await q.run(conn, "give_up_exports", max_attempts=max_attempts)
    return await q.maybe_one(conn, "claim_export", owner=owner, lease_s=lease_s, max_attempts=max_attempts)


async def renew(conn: Conn, export_id: UUID, *, owner: str, lease_s: float) -> bool:
    return await q.run(conn, "renew_export_lease", id=export_id, owner=owner, lease_s=lease_s) == 1


async def finish(conn: Conn, export_id: UUID, *, owner: str, file_name: str, orders: int, lines: int,
                 size_bytes: int, ttl_s: float) -> bool:
    """True when the export was still ``owner``'s build and is now ready."""
    row = await q.maybe_one(conn, "finish_export", id=export_id, owner=owner, file_name=file_name,
                            orders_count=orders, lines_count=lines, size_bytes=size_bytes, ttl_s=ttl_s)
    return row is not None


async def expire(conn: Conn, *, limit: int) -> list[str]:
    """Marks a batch of ready exports past expiry expired; the names of their files."""
    return [r["file_name"] for r in await q.all(conn, "expire_exports", limit=limit) if r["file_name"]]


async def running(conn: Conn, ids: list[UUID]) -> set[UUID]:
    return {r["id"] for r in await q.all(conn, "running_exports", ids=ids)}


async def stream_rows(conn: Conn, export: Row, *, page_size: int) -> AsyncIterator[list[Row]]:
    """The export's order lines in pages, from a server-side cursor in the caller's (open)
    transaction: memory holds one page, whatever the range."""
    params = {"restaurant_id": export["restaurant_id"], "from_date": export["from_date"],
              "to_date": export["to_date"], "timezone": export["timezone"]}
    async with conn.cursor("export_rows", row_factory=dict_row) as cur:
        await cur.execute(q.sql("export_rows"), params)
        while page := await cur.fetchmany(page_size):
            yield page
