"""Restaurants and their members."""

from __future__ import annotations

from datetime import datetime, time
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
    nullable = ("address", "phone", "description", "city", "website", "logo_url")
    params = {"name": None, "currency": None, "timezone": None, "tax_rate_bps": None, "dine_in_enabled": None,
              "payment_required": None,
              **{field: None for field in nullable}, **changes,
              **{f"set_{field}": field in changes for field in nullable}}
    row = await q.maybe_one(conn, "update_restaurant", restaurant_id=restaurant_id, **params)
    if row is None:
        # The touch trigger skips an UPDATE that changes nothing, so it returns no row either.
        row = await q.maybe_one(conn, "get_restaurant", restaurant_id=restaurant_id)
    if row is None:
        raise NotFound("restaurant not found")
    return row


async def add_member(conn: Conn, *, restaurant_id: UUID, user_id: UUID, role: str) -> Row:
    return await q.one(conn, "insert_membership", restaurant_id=restaurant_id, user_id=user_id, role=role)


async def replace_hours(conn: Conn, restaurant_id: UUID, hours: list[tuple[int, time, time]]) -> Row:
    """Replaces the restaurant's week of opening ranges (weekday, opens, closes); answers the restaurant."""
    await q.run(conn, "delete_opening_hours", restaurant_id=restaurant_id)
    if hours:
        await q.run(conn, "insert_opening_hours", restaurant_id=restaurant_id, weekdays=[h[0] for h in hours],
                    opens=[h[1] for h in hours], closes=[h[2] for h in hours])
    return await get(conn, restaurant_id)


async def set_store_switch(conn: Conn, restaurant_id: UUID, *, open_: bool, reason: str | None,
                           reopens_at: datetime | None) -> Row:
    """Pauses or resumes ordering: the same switch PetPooja's store-status callback flips
    (set_store_status); answers the restaurant."""
    await q.run(conn, "set_store_status", restaurant_id=restaurant_id, accepting_orders=open_,
                closed_reason=None if open_ else reason, reopens_at=None if open_ else reopens_at)
    return await get(conn, restaurant_id)


async def share_token(conn: Conn, restaurant_id: UUID, *, new_token: str, rotate: bool) -> str:
    """The restaurant's share-link token: the stored one, or ``new_token`` when there is none or rotating."""
    row = await q.one(conn, "set_share_token", restaurant_id=restaurant_id, token=new_token, rotate=rotate)
    token: str = row["share_token"]
    return token
