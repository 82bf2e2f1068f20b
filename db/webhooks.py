"""Callbacks from outside systems (PetPooja): the delivery log and what each kind of
callback does to our data.

Every delivery is stored once in webhook_deliveries (append-only for the app role) with
the result it had, in the same transaction as its effect. Deliveries of one kind for one
restaurant are serialised with a transaction-level advisory lock. A replay is told by state,
not by body alone: every effect is idempotent or forward-only, so it always runs, and a
delivery byte-identical to the latest of its kind whose effect changed nothing is the replay
(stored with duplicate_of, result "duplicate"). One that does change something applies,
because PetPooja's bodies carry no event id and legitimately repeat: an item switched off,
then back on by a menu push or by staff (which PetPooja never hears of), is switched off with
the very same body, and that second "off" must apply.

Order status moves only forward (by rank), may skip steps, and never leaves a final
status; each applied move writes an order_events row from actor 'petpooja'. The
triggers write the Convex outbox rows of the orders and menu items changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from db import queries as q
from db.queries import Conn, Row

SOURCE = "petpooja"
DUPLICATE = "duplicate"
APPLIED = "applied"
BACKWARDS = "ignored: backwards"
UNKNOWN_ORDER = "unknown order"

# Forward means a higher rank; a move to a lower or equal rank is ignored.
RANK: dict[str, int] = {
    "pending": 0, "confirmed": 1, "preparing": 2, "ready": 3,
    "served": 4, "dispatched": 4, "completed": 5, "delivered": 5,
}
FINAL = frozenset({"completed", "delivered", "cancelled", "rejected"})

# PetPooja's order callback codes. 1/2/3 are all "accepted" in its docs.
CANCELLED_CODE = -1
_ACCEPTED = frozenset({1, 2, 3})
FOOD_READY, DISPATCHED, DELIVERED = 5, 4, 10
KNOWN_CODES = frozenset({CANCELLED_CODE, *_ACCEPTED, FOOD_READY, DISPATCHED, DELIVERED})


def target_status(order_type: str, code: int) -> str | None:
    """Our status for PetPooja's code on an order of this type; None when it has no meaning here.

    A dine-in order is never dispatched, and PetPooja's "delivered" is the food reaching the
    table (served; staff still complete it). A takeaway order is complete once handed over.
    """
    if code == CANCELLED_CODE:
        return "cancelled"
    if code in _ACCEPTED:
        return "confirmed"
    if code == FOOD_READY:
        return "ready"
    if code == DISPATCHED:
        return "dispatched" if order_type == "delivery" else None
    if code == DELIVERED:
        return {"delivery": "delivered", "dine_in": "served", "takeaway": "completed"}[order_type]
    return None


@dataclass(frozen=True)
class Outcome:
    """What a delivery did: its logged result and detail, the entities to hand to the pusher, and
    whether it changed anything at all (a repeat of the latest delivery that did not is a replay)."""

    result: str
    detail: dict[str, Any] = field(default_factory=dict)
    changed: tuple[tuple[str, UUID], ...] = ()
    effective: bool = False


def body_hash(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


async def outlet_by_secret(conn: Conn, secret: str) -> Row | None:
    """The outlet whose callback URLs carry ``secret`` (run in system scope); the caller compares in constant time."""
    return await q.maybe_one(conn, "petpooja_outlet_by_secret", secret=secret)


async def repeated_delivery(conn: Conn, restaurant_id: UUID, kind: str, body: bytes) -> int | None:
    """Takes the (restaurant, kind) lock for the rest of the transaction; the id of the latest
    delivery of the kind when ``body`` repeats it byte for byte, else None. A repeat is a replay
    only if its effect then changes nothing (``Outcome.effective``)."""
    await q.run(conn, "lock_webhook_kind", restaurant_id=restaurant_id, source=SOURCE, kind=kind)
    latest = await q.maybe_one(conn, "latest_webhook_delivery", restaurant_id=restaurant_id, source=SOURCE, kind=kind)
    if latest is not None and bytes(latest["body_sha256"]) == body_hash(body):
        delivery_id: int = latest["id"]
        return delivery_id
    return None


async def record(
    conn: Conn, restaurant_id: UUID, kind: str, body: bytes, result: str, detail: dict[str, Any] | None = None,
    *, duplicate_of: int | None = None,
) -> int:
    row = await q.one(
        conn, "insert_webhook_delivery", restaurant_id=restaurant_id, source=SOURCE, kind=kind, body=body,
        body_sha256=body_hash(body), result=result, detail=Jsonb(detail) if detail is not None else None,
        duplicate_of=duplicate_of,
    )
    delivery_id: int = row["id"]
    return delivery_id


def _uuids(refs: Sequence[str]) -> list[UUID]:
    found = []
    for ref in refs:
        try:
            found.append(UUID(ref))
        except ValueError:
            continue
    return found


async def apply_order_status(
    conn: Conn, restaurant_id: UUID, *, order_refs: Sequence[str], code: int, reason: str | None,
    details: dict[str, str] | None = None,
) -> Outcome:
    """Moves the order PetPooja names (by its id or ours) forward to the status ``code`` means.

    A cancel is recorded as an event from 'petpooja': the PetPooja target (sync/petpooja/target.py)
    reads that and does not push the cancellation back to PetPooja. ``details`` (the rider's name
    and phone, the cancel reason, the preparation time) are kept on the event for the order's
    timeline (GET .../orders/{oid}/events).
    """
    detail: dict[str, Any] = {"order_refs": list(order_refs), "code": code}
    order = await q.maybe_one(
        conn, "petpooja_callback_order", restaurant_id=restaurant_id, our_ids=_uuids(order_refs),
        petpooja_ids=list(order_refs),
    )
    if order is None:
        return Outcome(UNKNOWN_ORDER, detail)
    current: str = order["status"]
    detail.update(order_id=str(order["id"]), from_status=current)
    if code not in KNOWN_CODES:
        return Outcome(f"ignored: unknown status {code}", detail)
    target = target_status(order["order_type"], code)
    if target is None:
        return Outcome(f"ignored: no {order['order_type']} status for {code}", detail)
    detail["to_status"] = target
    if current in FINAL:
        return Outcome(f"ignored: order is {current}", detail)
    if target != "cancelled" and RANK[target] <= RANK[current]:
        return Outcome(BACKWARDS, detail)
    await q.run(conn, "set_order_status", restaurant_id=restaurant_id, order_id=order["id"], status=target)
    await q.run(
        conn, "insert_partner_order_event", restaurant_id=restaurant_id, order_id=order["id"], from_status=current,
        to_status=target, actor_type="petpooja", reason=reason, details=Jsonb(details) if details else None,
    )
    return Outcome(APPLIED, detail, (("order", order["id"]),), effective=True)


async def apply_stock(
    conn: Conn, restaurant_id: UUID, *, kind: Literal["item", "addon"], in_stock: bool, external_ids: Sequence[str],
) -> Outcome:
    """Switches live items (or addons) on or off by PetPooja id; unknown ids are reported, not fatal."""
    rows = await q.all(
        conn, "set_item_stock" if kind == "item" else "set_addon_stock", restaurant_id=restaurant_id,
        external_ids=list(external_ids), available=in_stock,
    )
    known = {row["external_id"] for row in rows}
    detail = {
        "type": kind, "in_stock": in_stock,
        "changed": [row["external_id"] for row in rows if row["changed"]],
        "unchanged": [row["external_id"] for row in rows if not row["changed"]],
        "unknown": sorted({ref for ref in external_ids if ref not in known}),
    }
    # Addons are not documents of their own in Convex; items are.
    changed = tuple(("menu_item", row["id"]) for row in rows if row["changed"]) if kind == "item" else ()
    return Outcome(APPLIED if rows else f"unknown {kind}s", detail, changed,
                   effective=any(row["changed"] for row in rows))


async def store_status(conn: Conn, restaurant_id: UUID) -> Row:
    return await q.one(conn, "store_status", restaurant_id=restaurant_id)


async def apply_store_status(
    conn: Conn, restaurant_id: UUID, *, open_: bool, reason: str | None, reopens_at: datetime | None,
) -> Outcome:
    """Opens the store, or closes it with PetPooja's reason until reopens_at (None: until told)."""
    written = await q.run(
        conn, "set_store_status", restaurant_id=restaurant_id, accepting_orders=open_,
        closed_reason=None if open_ else reason, reopens_at=None if open_ else reopens_at,
    )
    return Outcome(APPLIED, {"open": open_, "reason": reason,
                             "reopens_at": reopens_at.isoformat() if reopens_at and not open_ else None},
                   effective=written > 0)
