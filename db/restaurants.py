"""Restaurants and their members."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from db import queries as q
from db.errors import NotFound
from db.queries import Conn, Row


async def create(
    conn: Conn, *, restaurant_id: UUID, owner_id: UUID, name: str, currency: str, timezone: str, tax_rate_bps: int,
    address: str | None = None, phone: str | None = None,
) -> Row:
    """Needs a tenant transaction bound to ``restaurant_id`` (chosen by the caller)."""
    row = await q.one(
        conn, "insert_restaurant",
        id=restaurant_id, name=name, currency=currency, timezone=timezone, tax_rate_bps=tax_rate_bps,
        address=address, phone=phone,
    )
    await q.run(conn, "insert_order_counter", restaurant_id=restaurant_id)
    await q.run(conn, "insert_membership", restaurant_id=restaurant_id, user_id=owner_id, role="owner")
    return row


async def get(conn: Conn, restaurant_id: UUID) -> Row:
    row = await q.maybe_one(conn, "get_restaurant", restaurant_id=restaurant_id)
    if row is None:
        raise NotFound("restaurant not found")
    return row


async def update(conn: Conn, restaurant_id: UUID, changes: dict[str, Any]) -> Row:
    params = {"name": None, "currency": None, "timezone": None, "tax_rate_bps": None, "address": None, "phone": None,
              **changes, "set_address": "address" in changes, "set_phone": "phone" in changes}
    row = await q.maybe_one(conn, "update_restaurant", restaurant_id=restaurant_id, **params)
    if row is None:
        # The touch trigger skips an UPDATE that changes nothing, so it returns no row either.
        row = await q.maybe_one(conn, "get_restaurant", restaurant_id=restaurant_id)
    if row is None:
        raise NotFound("restaurant not found")
    return row


async def add_member(conn: Conn, *, restaurant_id: UUID, user_id: UUID, role: str) -> Row:
    return await q.one(conn, "insert_membership", restaurant_id=restaurant_id, user_id=user_id, role=role)
