"""Venues as customers see them: the public list and profile, the venues each user saved,
and the restaurant a share link names."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from db import queries as q
from db.errors import NotFound
from db.queries import Conn, Row

ALL_NIL_UUID = UUID(int=0)


@dataclass(frozen=True)
class VenueFilter:
    q: str | None = None
    city: str | None = None
    open_now: bool | None = None
    dine_in: bool | None = None


async def list_public(
    conn: Conn, filters: VenueFilter, *, after: tuple[str, UUID] | None, limit: int,
) -> list[Row]:
    """A page of venues by name, after ``after`` (the last page's last name and id)."""
    return await q.all(
        conn, "list_venues", q=_like(filters.q), city=filters.city, open_now=filters.open_now,
        dine_in=filters.dine_in, venue_id=None, after_name=after[0] if after else "",
        after_id=after[1] if after else ALL_NIL_UUID, limit=limit,
    )


async def get_public(conn: Conn, venue_id: UUID) -> Row:
    rows = await q.all(conn, "list_venues", q=None, city=None, open_now=None, dine_in=None, venue_id=venue_id,
                       after_name="", after_id=ALL_NIL_UUID, limit=1)
    if not rows:
        raise NotFound("venue not found")
    return rows[0]


def _like(text: str | None) -> str | None:
    """A name substring as an ILIKE operand: the user's % and _ are literal."""
    if not text:
        return None
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def save(conn: Conn, *, user_id: UUID, venue_id: UUID, favourite: bool) -> Row:
    await get_public(conn, venue_id)
    return await q.one(conn, "save_venue", user_id=user_id, venue_id=venue_id, favourite=favourite)


async def saved(conn: Conn, user_id: UUID) -> list[Row]:
    return await q.all(conn, "list_saved_venues", user_id=user_id)


async def set_favourite(conn: Conn, *, user_id: UUID, venue_id: UUID, favourite: bool) -> Row:
    row = await q.maybe_one(conn, "set_saved_venue_favourite", user_id=user_id, venue_id=venue_id,
                            favourite=favourite)
    if row is None:
        raise NotFound("this venue is not saved")
    return row


async def forget(conn: Conn, *, user_id: UUID, venue_id: UUID) -> None:
    if await q.run(conn, "delete_saved_venue", user_id=user_id, venue_id=venue_id) == 0:
        raise NotFound("this venue is not saved")


async def share_restaurant(conn: Conn, token: str) -> Row | None:
    """The restaurant (id, name, currency) a share link names; None for an unknown or rotated link."""
    return await q.maybe_one(conn, "share_link_restaurant", token=token)


async def by_share_token(conn: Conn, token: str) -> UUID:
    row = await q.maybe_one(conn, "venue_by_share_token", token=token)
    if row is None:
        raise NotFound("this share link is not known")
    venue_id: UUID = row["id"]
    return venue_id
