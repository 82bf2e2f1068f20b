"""Payments (docs/payments.md): an order's online payment through Stripe, staff taking cash or
a payment at the counter, and Stripe's webhook (a callback: Stripe calling us).

Starting an online payment locks the order row for the length of one Stripe call (a hard
timeout), so two submits of one order serialise: the first creates the PaymentIntent (its
Stripe idempotency key is the order's id), the second finds it and answers it. Neither ever
makes a second intent, so the guest can never be charged twice for one order.

The webhook is verified with ``stripe.Webhook.construct_event`` on the raw body (400 and
nothing written when the signature is missing, forged or older than five minutes); each
event id is applied once (stripe_events), so Stripe's retries and replays change nothing.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import stripe
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import FLOOR, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.bodies import json_body
from api.errors import ApiError
from api.handoff import hand_off, queued_in
from api.models import MarkPaid
from api.responses import JSON
from api.routes.orders import order_answer
from api.state import services
from db import orders
from db import payments as db_payments
from db.payments import Mover
from db.queries import Conn
from providers.payments import Intent, Payments, PaymentsRefused, PaymentsUnavailable

log = structlog.get_logger("api")

# Stripe's events this API acts on, and the payment status each one moves an order to.
INTENT_EVENTS = {"payment_intent.succeeded": "paid", "payment_intent.payment_failed": "failed"}
REFUND_EVENTS = ("refund.created", "refund.updated", "refund.failed")
_EVENT_ID = re.compile(r"^evt_[A-Za-z0-9_]{1,250}$")  # what stripe_events_id_valid accepts


def _oid(request: Request) -> UUID:
    oid: UUID = request.path_params["oid"]
    structlog.contextvars.bind_contextvars(order_id=str(oid))
    return oid


def _provider(request: Request) -> Payments:
    found = services(request).providers.payments
    if found is None:
        raise ApiError(503, "payments_unavailable", "online payments are not configured here")
    return found


def _unavailable(exc: PaymentsUnavailable) -> ApiError:
    retry_after = str(max(1, round(exc.retry_after_s or 1)))
    return ApiError(503, "payments_unavailable", "the payment provider cannot be reached; try again shortly",
                    headers={"Retry-After": retry_after})


async def start_payment(request: Request) -> Response:
    """The order's PaymentIntent for its guest (or staff): created once, answered again after."""
    provider = _provider(request)
    rid, oid = _rid(request), _oid(request)
    limits = services(request).limits
    async with restaurant_scope(request, rid, FLOOR, guest=True) as scope:
        # Each start may call Stripe: as many as orders may be placed (RATE_LIMIT_ORDER_CREATE), per caller.
        await limits.hit(limits.order_create, "payment", scope.principal.actor.principal)
        order = await db_payments.order_for_payment(
            scope.conn, rid, oid, guest_session=scope.principal.session_id if scope.is_guest else None)
        created = order["intent_id"] is None
        try:
            if created:
                intent = await provider.create_intent(order_id=oid, restaurant_id=rid, number=order["number"],
                                                      amount=order["total"], currency=order["currency"])
            else:
                intent = await provider.retrieve_intent(order["intent_id"])
        except PaymentsUnavailable as exc:
            log.warning("payment_provider_unavailable", error=str(exc), status=exc.status)
            raise _unavailable(exc) from exc
        except PaymentsRefused as exc:
            log.warning("payment_refused_by_provider", error=str(exc), code=exc.code)
            raise ApiError(422, "payment_refused", f"the payment provider refused this payment ({exc.code}): {exc}"
                           ) from exc
        await db_payments.record_intent(
            scope.conn, restaurant_id=rid, order_id=oid, intent_id=intent.id, amount=intent.amount,
            currency=intent.currency, intent_status=intent.status, mover=_mover(scope.principal.actor))
        row = await orders.get(scope.conn, rid, oid)
        queued = await queued_in(scope.conn, rid)
    hand_off(request, queued)
    return JSON(_payment_answer(row, intent), status_code=201 if created else 200)


def _mover(actor: orders.Actor) -> Mover:
    return Mover(actor.kind, actor.id)


def _payment_answer(order: dict[str, Any], intent: Intent) -> dict[str, Any]:
    return {"order_id": order["id"], "payment_intent_id": intent.id, "client_secret": intent.client_secret,
            "amount": intent.amount, "currency": intent.currency, "intent_status": intent.status,
            "payment_status": order["payment_status"]}


async def mark_paid(request: Request) -> Response:
    """Staff took the payment in cash or at the counter."""
    rid, oid = _rid(request), _oid(request)
    async with restaurant_scope(request, rid, FLOOR) as scope:
        body = await json_body(request, MarkPaid)
        await db_payments.mark_paid(scope.conn, restaurant_id=rid, order_id=oid, method=body.method,
                                    mover=_mover(scope.principal.actor))
        row = await orders.get(scope.conn, rid, oid)
        queued = await queued_in(scope.conn, rid)
    hand_off(request, queued)
    return JSON(order_answer(row))


# --------------------------------------------------------------------- Stripe's callback


async def stripe_webhook(request: Request) -> Response:
    provider = _provider(request)
    raw = await request.body()
    try:
        event = provider.construct_event(raw, request.headers.get("stripe-signature"))
    except stripe.SignatureVerificationError as exc:
        raise ApiError(400, "invalid_signature", "the Stripe-Signature header does not sign this body") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        # Only a body Stripe signed gets here: signed, but not an event we can read.
        raise ApiError(400, "invalid_event", "the body is not a Stripe event") from exc
    payload = event.to_dict()
    event_id, event_type = payload.get("id"), payload.get("type")
    obj = (payload.get("data") or {}).get("object")
    if (not isinstance(event_id, str) or not _EVENT_ID.match(event_id) or not isinstance(event_type, str)
            or not 1 <= len(event_type) <= 200 or not isinstance(obj, dict)):
        raise ApiError(400, "invalid_event", "the event has no id, type or data.object as Stripe's have")
    structlog.contextvars.bind_contextvars(stripe_event=event_id, stripe_event_type=event_type)
    async with services(request).db.system() as conn:
        if not await db_payments.claim_event(conn, event_id, event_type):
            return JSON({"received": True, "replayed": True})
        outcome, restaurant_id = await _apply(conn, event_id, event_type, obj)
        queued = await queued_in(conn, restaurant_id) if restaurant_id else []
    hand_off(request, queued)
    log.info("stripe_event", outcome=outcome)
    return JSON({"received": True, "outcome": outcome})


def _intent_of(event_type: str, obj: dict[str, Any]) -> str | None:
    """The PaymentIntent an event is about (a PaymentIntent's own id, or a charge's or refund's)."""
    found = obj.get("id") if event_type.startswith("payment_intent.") else obj.get("payment_intent")
    return found if isinstance(found, str) else None


async def _apply(conn: Conn, event_id: str, event_type: str, obj: dict[str, Any]) -> tuple[str, UUID | None]:
    """What the event does to our order: its outcome and the order's restaurant (None: not ours)."""
    intent_id = _intent_of(event_type, obj)
    handled = event_type in INTENT_EVENTS or event_type in REFUND_EVENTS or event_type == "charge.refunded"
    payment = await db_payments.payment_of_intent(conn, intent_id) if handled and intent_id else None
    if payment is None:
        outcome = "ignored" if not handled else "unknown"
        await db_payments.settle_event(conn, event_id, outcome, None)
        return outcome, None
    rid, oid = payment["restaurant_id"], payment["order_id"]
    stripe_mover = Mover("stripe")
    details = {"payment_intent": intent_id, "stripe_event": event_id}
    moved = False
    if event_type in INTENT_EVENTS:
        assert intent_id is not None
        await db_payments.set_intent_status(conn, intent_id, str(obj.get("status", "")))
        if payment["payment_method"] != "online" and event_type == "payment_intent.succeeded":
            # Paid otherwise meanwhile (staff took cash): this money goes back.
            await db_payments.queue_extra_refund(conn, intent_id)
            await db_payments.settle_event(conn, event_id, "refunding", payment)
            return "refunding", rid
        moved = await db_payments.move(conn, restaurant_id=rid, order_id=oid, to=INTENT_EVENTS[event_type],
                                       mover=stripe_mover, details=details)
    elif event_type == "charge.refunded":
        if obj.get("refunded") is True:  # the whole charge; a partial refund is not ours to make
            moved = await db_payments.move(conn, restaurant_id=rid, order_id=oid, to="refunded", mover=stripe_mover,
                                           details=details)
    else:
        status = obj.get("status")
        refund_id = obj.get("id") if isinstance(obj.get("id"), str) else None
        assert intent_id is not None
        if event_type == "refund.failed":
            status = "failed"
        if status in ("pending", "requires_action", "succeeded", "failed", "canceled"):
            await db_payments.record_refund_of_intent(conn, intent_id, status=str(status), refund_id=refund_id)
        if status == "succeeded" and obj.get("amount") == payment["amount"]:
            moved = await db_payments.move(conn, restaurant_id=rid, order_id=oid, to="refunded", mover=stripe_mover,
                                           details={**details, "refund": refund_id})
        if status == "failed":
            log.warning("stripe_refund_failed", order_id=str(oid), refund=refund_id)
    outcome = "applied" if moved else "stale"
    await db_payments.settle_event(conn, event_id, outcome, payment)
    return outcome, rid


_ORDER = "/api/restaurants/{rid:uuid}/orders/{oid:uuid}"
routes = [
    Route(f"{_ORDER}/payment", start_payment, methods=["POST"]),
    Route(f"{_ORDER}/paid", mark_paid, methods=["POST"]),
    Route("/api/webhooks/stripe", stripe_webhook, methods=["POST"]),
]
