"""Reservations: slot rules, free capacity per slot, booking without overbooking, status moves.

Booking is one statement (reservations.sql book_reservation): the slot's capacity row is
upserted under its row lock only while there is room, and the reservation exists only if that
succeeded. Cancelling or marking a no-show gives the places back (a trigger, schema.sql).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson

from db import queries as q
from db.errors import Conflict, NotFound, Unprocessable
from db.queries import Conn, Row
from db.slots import Slot, slot_at, slots_of

ACTIVE = ("pending", "confirmed", "seated", "completed")
# Who may make each move: "customer" the one who booked, "staff" the restaurant's floor.
MOVES: dict[tuple[str, str], frozenset[str]] = {
    ("pending", "confirmed"): frozenset({"staff"}),
    ("confirmed", "seated"): frozenset({"staff"}),
    ("seated", "completed"): frozenset({"staff"}),
    ("pending", "cancelled"): frozenset({"staff", "customer"}),
    ("confirmed", "cancelled"): frozenset({"staff", "customer"}),
    ("pending", "no_show"): frozenset({"staff"}),
    ("confirmed", "no_show"): frozenset({"staff"}),
}


@dataclass(frozen=True)
class Booking:
    slot_start: datetime
    party_size: int
    user_id: UUID | None  # the customer booking for themselves; None when staff book for a guest
    guest_name: str
    guest_phone: str | None
    table_preference: str | None
    note: str | None
    actor_id: UUID | None


async def time_zone(conn: Conn, restaurant_id: UUID) -> ZoneInfo | None:
    """The restaurant's zone; None when it does not exist (in its tenant transaction)."""
    row = await q.maybe_one(conn, "reservation_restaurant", restaurant_id=restaurant_id)
    return None if row is None else ZoneInfo(row["timezone"])


async def rules(conn: Conn, restaurant_id: UUID) -> list[Row]:
    return await q.all(conn, "slot_rules", restaurant_id=restaurant_id)


async def replace_rules(conn: Conn, restaurant_id: UUID, new: list[dict[str, Any]]) -> list[Row]:
    await q.run(conn, "delete_slot_rules", restaurant_id=restaurant_id)
    if new:
        await q.run(conn, "insert_slot_rules", restaurant_id=restaurant_id, rules=orjson.dumps(new).decode())
    return await rules(conn, restaurant_id)


async def day_slots(conn: Conn, restaurant_id: UUID, zone: ZoneInfo, day: date) -> list[tuple[Slot, Row | None]]:
    """Each slot of the local ``day`` with the places taken in it (None: none)."""
    slots = slots_of(day, zone, await q.all(conn, "slot_rules_of_weekday", restaurant_id=restaurant_id,
                                            weekday=day.weekday()))
    taken = {row["slot_start"]: row for row in await q.all(
        conn, "slots_taken", restaurant_id=restaurant_id, starts=[s.start for s in slots])}
    return [(s, taken.get(s.start)) for s in slots]


async def customer_name(conn: Conn, user_id: UUID) -> str:
    return str((await q.one(conn, "reservation_customer", user_id=user_id))["full_name"])


async def book(conn: Conn, restaurant_id: UUID, zone: ZoneInfo, booking: Booking, *, now: datetime) -> Row:
    """Books places in a slot: 422 unknown_slot or slot_in_past, 409 slot_full."""
    weekday = booking.slot_start.astimezone(zone).weekday()
    slot = slot_at(booking.slot_start, zone, await q.all(conn, "slot_rules_of_weekday",
                                                         restaurant_id=restaurant_id, weekday=weekday))
    if slot is None:
        raise Unprocessable("slot_start is not a slot of this restaurant", code="unknown_slot")
    if slot.start <= now:
        raise Unprocessable("this slot has already started", code="slot_in_past")
    row = await q.maybe_one(
        conn, "book_reservation", restaurant_id=restaurant_id, slot_start=slot.start,
        local_date=slot.local.date(), party_size=booking.party_size, max_reservations=slot.max_reservations,
        max_covers=slot.max_covers, user_id=booking.user_id, guest_name=booking.guest_name,
        guest_phone=booking.guest_phone, table_preference=booking.table_preference, note=booking.note,
        actor_id=booking.actor_id,
    )
    if row is None:
        raise Conflict("this slot has no room for the party", code="slot_full")
    return row


async def move(conn: Conn, restaurant_id: UUID, reservation_id: UUID, *, target: str, mover: str,
               actor_id: UUID | None, reason: str | None, now: datetime, own_user: UUID | None = None) -> Row:
    """Moves a reservation if ``mover`` ("staff" or "customer") may; a customer only their own
    (``own_user``), and another's looks missing."""
    row = await q.maybe_one(conn, "reservation_for_update", restaurant_id=restaurant_id, id=reservation_id)
    if row is None or (mover == "customer" and row["user_id"] != own_user):
        raise NotFound("reservation not found")
    allowed = MOVES.get((row["status"], target))
    if allowed is None or mover not in allowed:
        raise Conflict(f"a {mover} cannot move a reservation from {row['status']} to {target}",
                       code="invalid_transition")
    if target == "no_show" and now < row["slot_start"]:
        raise Conflict("a reservation becomes a no-show only once its slot has started", code="too_early")
    return await q.one(conn, "set_reservation_status", restaurant_id=restaurant_id, id=reservation_id,
                       status=target, from_status=row["status"], actor_id=actor_id, reason=reason)


async def get(conn: Conn, restaurant_id: UUID, reservation_id: UUID, *, lock: bool = False) -> Row | None:
    """A reservation (None: not this restaurant's), locked against status moves with ``lock``."""
    return await q.maybe_one(conn, "reservation_for_update" if lock else "reservation", restaurant_id=restaurant_id,
                             id=reservation_id)


async def of_day(conn: Conn, restaurant_id: UUID, day: date) -> list[Row]:
    return await q.all(conn, "reservations_of_day", restaurant_id=restaurant_id, local_date=day)


async def of_user(conn: Conn, user_id: UUID) -> list[Row]:
    """System scope: a customer's reservations in every restaurant."""
    return await q.all(conn, "reservations_of_user", user_id=user_id)


async def events(conn: Conn, restaurant_id: UUID, reservation_id: UUID) -> list[Row]:
    return await q.all(conn, "reservation_events", restaurant_id=restaurant_id, id=reservation_id)
