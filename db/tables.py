"""Dining tables, their QR tokens, and the guest sessions opened by scanning them."""

from __future__ import annotations

import secrets
from typing import Any
from uuid import UUID

from db import queries as q
from db.errors import NotFound
from db.queries import Conn, Row


def new_qr_token() -> str:
    # 192 random bits: a QR code on a table must not be guessable from another one.
    return secrets.token_urlsafe(24)


async def create(conn: Conn, *, restaurant_id: UUID, label: str, seats: int | None) -> Row:
    return await q.one(
        conn, "insert_table", restaurant_id=restaurant_id, label=label, seats=seats, qr_token=new_qr_token()
    )


async def list_all(conn: Conn, restaurant_id: UUID) -> list[Row]:
    return await q.all(conn, "list_tables", restaurant_id=restaurant_id)


async def update(conn: Conn, *, restaurant_id: UUID, table_id: UUID, changes: dict[str, Any]) -> Row:
    row = await q.maybe_one(
        conn,
        "update_table",
        restaurant_id=restaurant_id,
        table_id=table_id,
        label=changes.get("label"),
        set_seats="seats" in changes,
        seats=changes.get("seats"),
        is_active=changes.get("is_active"),
        qr_token=new_qr_token() if changes.get("rotate_qr_token") else None,
    )
    if row is None:
        # The version trigger skips an UPDATE that changes nothing, so it returns no row either.
        row = await q.maybe_one(conn, "get_table", restaurant_id=restaurant_id, table_id=table_id)
    if row is None:
        raise NotFound("table not found")
    return row


async def get(conn: Conn, restaurant_id: UUID, table_id: UUID) -> Row | None:
    """One of the restaurant's tables (None: not this restaurant's)."""
    return await q.maybe_one(conn, "get_table", restaurant_id=restaurant_id, table_id=table_id)


async def by_qr_token(conn: Conn, qr_token: str) -> Row | None:
    """Needs a system-scope transaction: the guest has no restaurant yet."""
    return await q.maybe_one(conn, "table_by_qr_token", qr_token=qr_token)


async def open_guest_session(conn: Conn, *, restaurant_id: UUID, table_id: UUID | None, ttl_s: int) -> Row:
    """A guest session at a table, or (``table_id`` None) a takeaway session from a share link."""
    return await q.one(conn, "insert_guest_session", restaurant_id=restaurant_id, table_id=table_id, ttl_s=ttl_s)
