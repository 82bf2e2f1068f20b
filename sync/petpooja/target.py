"""The ``petpooja`` outbox target: new orders out to PetPooja's save_order, cancellations
out to update_order_status.

``prepare`` (in the claiming transaction) starts PetPooja's record of each new order
(``petpooja_orders``) and freezes its save_order body there, without credentials.
``deliver`` sends each order in its own transaction holding the order's
``petpooja_orders`` row (FOR UPDATE SKIP LOCKED) and re-reading what PetPooja was already
sent, so two workers, or two outbox rows of one order, never send the same thing twice at
once, and a resend is exactly the frozen body. Rows of one order claimed together are one
delivery of what the order needs now (sent, cancelled, or nothing).

Outcomes (docs/petpooja-orders.md):
* accepted: PetPooja's answer and order id recorded, ``pushed_at`` set: delivered;
* rejected (validation, SO_105/SO_106): give up at once, the error code and PetPooja's
  ``validation_errors`` in ``last_error`` (GET /api/admin/sync/errors);
* transient (network, timeout, 5xx, 429, unreadable answers): retried with backoff until
  it works;
* the restaurant no longer connected: give up with a clear error;
* nothing to tell PetPooja (an order cancelled before it was ever sent, a cancellation
  PetPooja made itself): skipped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import structlog

from db import petpooja
from db.credentials import CredentialBox, CredentialsUnreadable, worker_box
from db.pool import Database
from db.queries import Conn, Row
from sync.config import PetpoojaSettings, SyncSettings, backoff_of, load_petpooja_settings
from sync.outcome import Delivered, GiveUp, Outcome, Retry, Skip
from sync.petpooja.client import PetpoojaAnswer, PetpoojaClient, PetpoojaUnreachable
from sync.petpooja.payload import (
    PaymentType,
    RestaurantInfo,
    answer_excerpt,
    cancel_payload,
    classify_response,
    save_order_payload,
    storable_answer,
)
from sync.target import Job, Policy, by_entity

log = structlog.get_logger("sync")

TARGET = petpooja.TARGET
DEFAULT_CANCEL_REASON = "Cancelled by the restaurant"
DISCONNECTED = "the restaurant is no longer connected to PetPooja (outlet disconnected)"


def callback_url(base_url: str, callback_secret: str) -> str:
    """PetPooja's order callback URL for the outlet (api/routes/integrations.callback_urls)."""
    return f"{base_url.rstrip('/')}/api/webhooks/petpooja/order-status/{callback_secret}"


def _body(answer: PetpoojaAnswer) -> Any:
    return storable_answer(answer.body)


def _excerpt(answer: PetpoojaAnswer) -> str:
    return answer_excerpt(answer.body)


def payment_type(order: Row) -> PaymentType:
    """PetPooja's payment_type: ONLINE for an order paid online (Stripe: the POS collects
    nothing; with payment_required it reaches PetPooja only once paid), COD for one paid to the
    staff (cash, the counter)."""
    return "ONLINE" if order.get("payment_method") == "online" else "COD"


class PetpoojaTarget:
    name = TARGET

    def __init__(self, db: Database, client: PetpoojaClient, box: CredentialBox, *, callback_base_url: str,
                 policy: Policy):
        self.db, self.client, self.box = db, client, box
        self.callback_base_url = callback_base_url
        self.policy = policy

    def _payload(self, order: Row) -> dict[str, Any]:
        restaurant = RestaurantInfo(order["restaurant_name"], order["restaurant_address"],
                                    order["restaurant_phone"], order["timezone"])
        return save_order_payload(order, order["rest_id"], restaurant,
                                  callback_url=callback_url(self.callback_base_url, order["callback_secret"]),
                                  payment_type=payment_type(order))

    # -- in the claiming transaction --------------------------------------------------

    async def prepare(self, conn: Conn, rows: list[Row]) -> list[Job[None]]:
        groups = by_entity(rows)
        order_ids = [entity_id for entity_type, entity_id in groups if entity_type == "order"]
        await petpooja.track(conn, order_ids)
        orders = await petpooja.orders_for_push(conn, order_ids)
        jobs: list[Job[None]] = []
        for (entity_type, entity_id), group in groups.items():
            job: Job[None] = Job(group, None)
            if entity_type != "order":
                job.settled = GiveUp(f"the petpooja target sends orders, not {entity_type}")
            else:
                job.settled = await self._freeze(conn, orders.get(entity_id))
            jobs.append(job)
        return jobs

    async def _freeze(self, conn: Conn, order: Row | None) -> Outcome | None:
        """Freezes a new order's body before its first send; an order that cannot be mapped
        gives up. Everything else is decided under the order's lock in deliver."""
        if order is None or order["rest_id"] is None or not order["tracked"]:
            return None
        if order["payload"] is not None or order["status"] == "cancelled":
            return None
        try:
            payload = self._payload(order)
        except (KeyError, ValueError, TypeError) as exc:
            return GiveUp(f"order could not be mapped to save_order: {exc!r}")
        await petpooja.freeze_payload(conn, order["restaurant_id"], order["id"], payload)
        return None

    # -- sending, one order at a time under its lock ----------------------------------

    async def deliver(self, jobs: list[Job[None]]) -> list[Outcome]:
        outcomes = []
        for job in jobs:
            async with self.db.system() as conn:
                outcomes.append(await self._send(conn, job.rows[0]["restaurant_id"], job.entity_id))
        return outcomes

    async def _send(self, conn: Conn, restaurant_id: UUID, order_id: UUID) -> Outcome:
        """Does what the order needs now, holding its petpooja_orders row."""
        locked = await petpooja.lock_order(conn, restaurant_id, order_id)
        order = (await petpooja.orders_for_push(conn, [order_id])).get(order_id)
        if order is None:
            return Skip("the order no longer exists")
        if not order["tracked"]:
            # prepare tracks every order that is not cancelled: this one was cancelled first.
            return Skip("the order was cancelled before it was ever sent to PetPooja: nothing to cancel")
        if not locked:
            return Retry("another worker was sending this order; retried after it")
        if order["rest_id"] is None:
            return GiveUp(DISCONNECTED)
        try:
            outlet = await petpooja.outlet(conn, self.box, restaurant_id)
        except CredentialsUnreadable as exc:
            return Retry(f"the outlet's PetPooja credentials do not open with this process's key: {exc}")
        if outlet is None:  # disconnected between the two reads
            return GiveUp(DISCONNECTED)
        if order["status"] == "cancelled":
            return await self._cancel(conn, order, outlet)
        if order["pushed_at"] is not None:
            return Delivered(order["petpooja_order_id"] or "")  # already in PetPooja
        payload = order["payload"]
        if payload is None:  # claimed before the freeze committed elsewhere: freeze now
            payload = await petpooja.freeze_payload(conn, restaurant_id, order_id, self._payload(order))
        return await self._save(conn, order, outlet, payload)

    async def _save(self, conn: Conn, order: Row, outlet: petpooja.Outlet, payload: Mapping[str, Any]) -> Outcome:
        try:
            answer = await self.client.save_order(outlet, payload)
        except PetpoojaUnreachable as exc:
            log.warning("petpooja_push_unreachable", order_id=str(order["id"]), error=str(exc))
            return Retry(str(exc))
        outcome = classify_response(answer.status_code, answer.body)
        match outcome:
            case Retry():
                log.warning("petpooja_push_failed", order_id=str(order["id"]), reason=outcome.error)
                return Retry(f"PetPooja save_order: {outcome.error}: {_excerpt(answer)}")
            case GiveUp():
                await petpooja.record_answer(conn, order["restaurant_id"], order["id"], response=_body(answer),
                                             accepted=False)
                log.warning("petpooja_push_rejected", order_id=str(order["id"]), error=outcome.error)
                return GiveUp(f"save_order: {outcome.error}")
        await petpooja.record_answer(conn, order["restaurant_id"], order["id"], response=_body(answer),
                                     accepted=True, petpooja_order_id=outcome.detail)
        log.info("petpooja_pushed", order_id=str(order["id"]), petpooja_order_id=outcome.detail)
        return outcome

    async def _cancel(self, conn: Conn, order: Row, outlet: petpooja.Outlet) -> Outcome:
        order_id = str(order["id"])
        if order["cancel_pushed_at"] is not None:
            return Delivered("cancelled")
        if order["cancelled_by"] == "petpooja":
            return Skip("PetPooja cancelled the order itself: nothing to tell it")
        if order["payload"] is None:
            return Skip("the order was cancelled before it was ever sent to PetPooja: nothing to cancel")
        # Pushed, or sent without a readable answer (PetPooja may hold it): cancel it there.
        unconfirmed = order["pushed_at"] is None
        body = cancel_payload(order["id"], order["rest_id"], reason=order["cancel_reason"] or DEFAULT_CANCEL_REASON,
                              petpooja_order_id=order["petpooja_order_id"] or "")
        try:
            answer = await self.client.update_order_status(outlet, body)
        except PetpoojaUnreachable as exc:
            return Retry(str(exc))
        outcome = classify_response(answer.status_code, answer.body)
        if isinstance(outcome, Retry):
            return Retry(f"PetPooja update_order_status: {outcome.error}: {_excerpt(answer)}")
        # A refused cancel of an order PetPooja never confirmed means it does not hold it: done.
        done = isinstance(outcome, Delivered) or unconfirmed
        await petpooja.record_cancel(conn, order["restaurant_id"], order["id"], response=_body(answer), done=done)
        if isinstance(outcome, GiveUp) and not unconfirmed:
            return GiveUp(f"update_order_status (cancel): {outcome.error}")
        log.info("petpooja_cancel_pushed", order_id=order_id, accepted=isinstance(outcome, Delivered))
        return Delivered("cancelled")

    async def probe(self) -> bool | None:
        return None  # no side-effect-free call to PetPooja: rows back off one by one

    async def close(self) -> None:
        await self.client.close()


def petpooja_target(db: Database, settings: SyncSettings, environ: Mapping[str, str] | None = None,
                    ) -> PetpoojaTarget | None:
    """The target for this environment, or None when PetPooja's credentials cannot be opened
    here: production without PETPOOJA_CREDENTIALS_KEY. Development uses the generated key."""
    env = os.environ if environ is None else environ
    box = worker_box(env)
    if box is None:
        log.warning("petpooja_target_disabled", reason="PETPOOJA_CREDENTIALS_KEY is not set")
        return None
    pp: PetpoojaSettings = load_petpooja_settings(env)
    # Orders go out one after another, each holding a database connection while it waits on
    # PetPooja: a small round keeps one slow PetPooja from holding the target's rows long.
    policy = Policy(batch_size=10, lease_s=settings.sync_lease_s, backoff=backoff_of(settings))
    return PetpoojaTarget(db, PetpoojaClient(pp), box, callback_base_url=pp.callback_base_url, policy=policy)
