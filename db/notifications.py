"""Notifications of customers and guest sessions: their lists, unread counts, marking read and
deleting. Triggers create them (db/migrations/0017_notifications.sql); this module only reads
and settles them, always for one recipient: an account (``Recipient.user``, user scope: its
notifications span restaurants) or a guest session (``Recipient.session``, the restaurant's
tenant scope). Another recipient's notification is not found, never touched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from db import queries as q
from db.errors import NotFound
from db.orders import ALL_NIL_UUID
from db.queries import Conn, Row


@dataclass(frozen=True)
class Recipient:
    user_id: UUID | None = None
    restaurant_id: UUID | None = None
    session_id: UUID | None = None

    @classmethod
    def user(cls, user_id: UUID) -> Recipient:
        return cls(user_id=user_id)

    @classmethod
    def session(cls, restaurant_id: UUID, session_id: UUID) -> Recipient:
        return cls(restaurant_id=restaurant_id, session_id=session_id)

    def params(self) -> dict[str, UUID | None]:
        return {"user_id": self.user_id, "restaurant_id": self.restaurant_id, "session_id": self.session_id}


async def page(conn: Conn, who: Recipient, *, cursor: tuple[datetime, UUID] | None, limit: int) -> list[Row]:
    """A page of the recipient's notifications, newest first."""
    keys = {"cursor_created_at": cursor[0] if cursor else "infinity",
            "cursor_id": cursor[1] if cursor else ALL_NIL_UUID, "limit": limit}
    if who.user_id is not None:
        return await q.all(conn, "user_notifications", user_id=who.user_id, **keys)
    return await q.all(conn, "session_notifications", restaurant_id=who.restaurant_id, session_id=who.session_id,
                       **keys)


async def unread(conn: Conn, who: Recipient) -> int:
    return int((await q.one(conn, "unread_notifications", **who.params()))["unread"])


async def mark_read(conn: Conn, who: Recipient, notification_id: UUID) -> Row:
    row = await q.maybe_one(conn, "mark_notification_read", id=notification_id, **who.params())
    if row is None:
        raise NotFound("notification not found")
    return row


async def mark_all_read(conn: Conn, who: Recipient) -> list[UUID]:
    """The ids of the notifications it marked read."""
    return [r["id"] for r in await q.all(conn, "mark_all_notifications_read", **who.params())]


async def delete(conn: Conn, who: Recipient, notification_id: UUID) -> None:
    if await q.maybe_one(conn, "delete_notification", id=notification_id, **who.params()) is None:
        raise NotFound("notification not found")
