"""Payments: an order's PaymentIntent, its payment status moves (forward only, each an order
event), Stripe's events applied once, and refunds (docs/payments.md).

The payment status lives on the order (orders.payment_status); payment_move_allowed in
schema.sql says which moves exist, and every statement here moves only that way, so an event
that arrives late or twice moves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from db import queries as q
from db.errors import Conflict, NotFound
from db.queries import Conn, Row

METHODS = ("online", "cash", "counter")
CLOSED = ("cancelled", "rejected")


@dataclass(frozen=True)
class Mover:
    """Who moved a payment: a person or a guest session (actor_type user/guest), or Stripe."""

    kind: str
    id: UUID | None = None


async def order_for_payment(conn: Conn, restaurant_id: UUID, order_id: UUID, *,
                            guest_session: UUID | None = None) -> Row:
    """The order, locked until the caller's transaction ends, that an online payment may start
    for (online, open, not yet paid; a guest session's own only), with its ``intent_id`` (None:
    no PaymentIntent yet)."""
    row = await q.maybe_one(conn, "order_for_payment", restaurant_id=restaurant_id, order_id=order_id)
    if row is None or (guest_session is not None and row["session_id"] != guest_session):
        raise NotFound("order not found")
    if row["payment_method"] != "online":
        raise Conflict(f"this order is paid by {row['payment_method']}, not online", code="not_online")
    _payable(row)
    if row["total"] <= 0:
        raise Conflict("this order has nothing to pay", code="nothing_to_pay")
    intent = await q.maybe_one(conn, "intent_of_order", restaurant_id=restaurant_id, order_id=order_id)
    return {**row, "intent_id": intent["intent_id"] if intent else None}


def _payable(row: Row) -> None:
    if row["payment_status"] in ("paid", "refunded"):
        raise Conflict(f"this order is already {row['payment_status']}", code="already_paid")
    if row["status"] in CLOSED:
        raise Conflict(f"this order was {row['status']}", code="order_closed")


async def record_intent(conn: Conn, *, restaurant_id: UUID, order_id: UUID, intent_id: str, amount: int,
                        currency: str, intent_status: str, mover: Mover) -> None:
    """Records the order's PaymentIntent and moves its payment to pending (or to paid when
    Stripe already says it succeeded), as the caller's move."""
    await q.run(conn, "record_payment_intent", restaurant_id=restaurant_id, order_id=order_id, intent_id=intent_id,
                amount=amount, currency=currency, intent_status=intent_status)
    await move(conn, restaurant_id=restaurant_id, order_id=order_id,
               to="paid" if intent_status == "succeeded" else "pending", mover=mover,
               details={"payment_intent": intent_id})


async def move(conn: Conn, *, restaurant_id: UUID, order_id: UUID, to: str, mover: Mover,
               details: dict[str, Any] | None = None, method: str | None = None) -> bool:
    """Moves the order's payment status to ``to`` if it may move there; whether it moved."""
    row = await q.maybe_one(conn, "move_payment_status", restaurant_id=restaurant_id, order_id=order_id, to=to,
                            method=method, actor_type=mover.kind, actor_id=mover.id,
                            details=orjson.dumps(details or {}).decode())
    return row is not None


async def mark_paid(conn: Conn, *, restaurant_id: UUID, order_id: UUID, method: str, mover: Mover) -> None:
    """Staff took the payment at the table or the counter (``method`` cash or counter). An
    online payment under way (pending) must finish or fail first: it could still succeed."""
    row = await q.maybe_one(conn, "order_for_payment", restaurant_id=restaurant_id, order_id=order_id)
    if row is None:
        raise NotFound("order not found")
    _payable(row)
    if row["payment_status"] == "pending":
        raise Conflict("an online payment of this order is under way", code="payment_in_progress")
    await move(conn, restaurant_id=restaurant_id, order_id=order_id, to="paid", mover=mover, method=method,
               details={"payment_method": method})


# ------------------------------------------------------------------ Stripe's events


async def claim_event(conn: Conn, event_id: str, event_type: str) -> bool:
    """Whether this delivery is the event's first (False: a replay, to be answered and ignored)."""
    return await q.maybe_one(conn, "claim_stripe_event", id=event_id, type=event_type) is not None


async def settle_event(conn: Conn, event_id: str, outcome: str, payment: Row | None) -> None:
    await q.run(conn, "settle_stripe_event", id=event_id, outcome=outcome,
                restaurant_id=payment["restaurant_id"] if payment else None,
                order_id=payment["order_id"] if payment else None)


async def payment_of_intent(conn: Conn, intent_id: str) -> Row | None:
    return await q.maybe_one(conn, "payment_of_intent", intent_id=intent_id)


async def set_intent_status(conn: Conn, intent_id: str, status: str) -> None:
    await q.run(conn, "set_intent_status", intent_id=intent_id, intent_status=status)


async def queue_extra_refund(conn: Conn, intent_id: str) -> None:
    await q.run(conn, "queue_extra_refund", intent_id=intent_id)


async def record_refund_of_intent(conn: Conn, intent_id: str, *, status: str, refund_id: str | None) -> None:
    await q.run(conn, "record_refund_of_intent", intent_id=intent_id, status=status, stripe_refund_id=refund_id)


# ------------------------------------------------------------------------- refunds


async def refunds_for_send(conn: Conn, ids: list[UUID]) -> dict[UUID, Row]:
    return {row["id"]: row for row in await q.all(conn, "refunds_for_send", ids=ids)}


async def refund_for_send(conn: Conn, refund_id: UUID) -> Row | None:
    return await q.maybe_one(conn, "refund_for_send", id=refund_id)


async def record_refund(conn: Conn, refund_id: UUID, *, status: str, stripe_refund_id: str | None) -> None:
    await q.run(conn, "record_refund", id=refund_id, status=status, stripe_refund_id=stripe_refund_id)
