"""The ``petpooja`` outbox target: new orders out to PetPooja's save_order, cancellations
out to update_order_status.

A round claims due rows (``claim_due``, no grace: the trigger's notification wakes the
worker at commit) and, in the same transaction, freezes each new order's save_order body
(without credentials) in ``petpooja_orders.payload``. Every send then happens in its own
transaction holding the order's ``petpooja_orders`` row (FOR UPDATE SKIP LOCKED) and
re-reading what PetPooja was already sent, so two workers, or two outbox rows of one order,
never send the same thing twice at once, and a resend is exactly the frozen body.

Outcomes (docs/petpooja-orders.md):
* accepted: PetPooja's answer and order id recorded, ``pushed_at`` set, row synced;
* rejected (validation, SO_105/SO_106): row dead at once, the error code and PetPooja's
  ``validation_errors`` in ``last_error`` (GET /api/admin/sync/errors);
* transient (network, timeout, 5xx, 429, unreadable answers): failed with backoff, retried
  until it works (``can_die=False``);
* the restaurant no longer connected: dead with a clear error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import structlog

from db import outbox, petpooja
from db.credentials import CredentialBox, CredentialsUnreadable, worker_box
from db.outbox import Backoff
from db.pool import Database
from db.queries import Conn, Row
from sync.config import PetpoojaSettings, SyncSettings, backoff_of, load_petpooja_settings
from sync.petpooja_client import PetpoojaAnswer, PetpoojaClient, PetpoojaUnreachable
from sync.petpooja_payload import (
    Accepted,
    Outcome,
    Rejected,
    RestaurantInfo,
    Transient,
    cancel_payload,
    classify_response,
    save_order_payload,
)
from sync.targets import TargetReport

log = structlog.get_logger("sync")

TARGET = "petpooja"
DEFAULT_CANCEL_REASON = "Cancelled by the restaurant"


def callback_url(base_url: str, callback_secret: str) -> str:
    """PetPooja's order callback URL for the outlet (api/routes/integrations.callback_urls)."""
    return f"{base_url.rstrip('/')}/api/webhooks/petpooja/order-status/{callback_secret}"


def _body(answer: PetpoojaAnswer) -> Any:
    """An answer's body for the jsonb columns: its JSON, or its text when it is not JSON."""
    try:
        return json.loads(answer.body)
    except ValueError:
        return {"raw": answer.body.decode("utf-8", "replace")[:2000]}


def _describe(outcome: Rejected) -> str:
    errors = json.dumps(outcome.validation_errors, sort_keys=True, ensure_ascii=False)
    return (f"PetPooja rejected it: errorCode={outcome.error_code or '-'} message={outcome.message or '-'} "
            f"validation_errors={errors}")


class PetpoojaTarget:
    name = TARGET

    def __init__(self, db: Database, client: PetpoojaClient, box: CredentialBox, *, callback_base_url: str,
                 lease_s: float = 60.0, backoff: Backoff | None = None, batch_size: int = 10):
        self.db, self.client, self.box = db, client, box
        self.callback_base_url = callback_base_url
        self.lease_s = lease_s
        self.backoff = backoff or Backoff(1.0, 30.0, 10)
        self.batch_size = batch_size

    # -- claiming and freezing --------------------------------------------------------

    def _payload(self, order: Row) -> dict[str, Any]:
        restaurant = RestaurantInfo(order["restaurant_name"], order["restaurant_address"],
                                    order["restaurant_phone"], order["timezone"])
        return save_order_payload(order, order["rest_id"], restaurant,
                                  callback_url=callback_url(self.callback_base_url, order["callback_secret"]))

    async def _freeze(self, conn: Conn, row: Row, order: Row | None, owner: str, report: TargetReport) -> None:
        """Freezes a new order's body before its first send; a row whose order cannot be mapped dies."""
        if order is None or order["rest_id"] is None or not order["tracked"]:
            return  # decided in _push, under the lock
        if order["payload"] is not None or order["status"] == "cancelled":
            return
        try:
            payload = self._payload(order)
        except (KeyError, ValueError, TypeError) as exc:
            if await petpooja.mark_dead(conn, row["id"], owner=owner,
                                        error=f"order could not be mapped to save_order: {exc!r}"):
                report.dead += 1
            row["done"] = True
            return
        await petpooja.freeze_payload(conn, order["restaurant_id"], order["id"], payload)

    async def run_once(self, *, owner: str) -> TargetReport:
        report = TargetReport()
        async with self.db.system() as conn:
            rows = await outbox.claim_due(conn, target=TARGET, owner=owner, lease_s=self.lease_s, grace_s=0,
                                          limit=self.batch_size)
            if not rows:
                return report
            report.claimed = len(rows)
            orders = await petpooja.orders_for_push(conn, [r["entity_id"] for r in rows if r["entity_type"] == "order"])
            for row in rows:
                await self._freeze(conn, row, orders.get(row["entity_id"]), owner, report)
        for row in rows:
            if not row.get("done"):
                await self._push(row, owner, report)
        return report

    # -- sending ----------------------------------------------------------------------

    async def _push(self, row: Row, owner: str, report: TargetReport) -> None:
        async with self.db.system() as conn:
            outcome = await self._push_locked(conn, row, owner)
            if outcome == "synced":
                await outbox.mark_synced(conn, [row["id"]], owner=owner)
                report.synced += 1
            elif outcome.startswith("dead:"):
                if await petpooja.mark_dead(conn, row["id"], owner=owner, error=outcome[5:]):
                    report.dead += 1
            else:
                marked = await outbox.mark_failed(conn, [row["id"]], owner=owner, error=outcome.removeprefix("failed:"),
                                                  backoff=self.backoff, can_die=False)
                report.failed += len(marked)

    async def _push_locked(self, conn: Conn, row: Row, owner: str) -> str:
        """Does what the order needs now and says what became of the row: "synced",
        "dead:<error>" or "failed:<error>"."""
        if row["entity_type"] != "order":
            return f"dead:the petpooja target pushes orders, not {row['entity_type']}"
        order_id: UUID = row["entity_id"]
        restaurant_id: UUID = row["restaurant_id"]
        locked = await petpooja.lock_order(conn, restaurant_id, order_id)
        order = (await petpooja.orders_for_push(conn, [order_id])).get(order_id)
        if order is None:
            log.info("petpooja_order_gone", order_id=str(order_id))
            return "synced"
        if not order["tracked"]:
            return "dead:the order has no petpooja_orders row (it was never queued for PetPooja)"
        if not locked:
            # Another worker is sending this order right now; see again after it is done.
            return "failed:another worker was sending this order; retried after it"
        if order["rest_id"] is None:
            return "dead:the restaurant is no longer connected to PetPooja (outlet disconnected)"
        try:
            outlet = await petpooja.outlet(conn, self.box, restaurant_id)
        except CredentialsUnreadable as exc:
            return f"failed:the outlet's PetPooja credentials do not open with this process's key: {exc}"
        if outlet is None:  # disconnected between the two reads
            return "dead:the restaurant is no longer connected to PetPooja (outlet disconnected)"

        if order["status"] == "cancelled":
            return await self._cancel(conn, order, outlet)
        if order["pushed_at"] is not None:
            return "synced"  # already in PetPooja; nothing new to tell it
        payload = order["payload"]
        if payload is None:  # claimed before the freeze committed elsewhere: freeze now
            payload = await petpooja.freeze_payload(conn, restaurant_id, order_id, self._payload(order))
        return await self._save(conn, order, outlet, payload)

    async def _save(self, conn: Conn, order: Row, outlet: petpooja.Outlet, payload: Mapping[str, Any]) -> str:
        try:
            answer = await self.client.save_order(outlet, payload)
        except PetpoojaUnreachable as exc:
            log.warning("petpooja_push_unreachable", order_id=str(order["id"]), error=str(exc))
            return f"failed:{exc}"
        outcome: Outcome = classify_response(answer.status_code, answer.body)
        if isinstance(outcome, Transient):
            log.warning("petpooja_push_failed", order_id=str(order["id"]), reason=outcome.reason)
            return f"failed:PetPooja save_order: {outcome.reason}: {answer.body[:300].decode('utf-8', 'replace')}"
        if isinstance(outcome, Rejected):
            await petpooja.record_answer(conn, order["restaurant_id"], order["id"], response=_body(answer),
                                         accepted=False)
            log.warning("petpooja_push_rejected", order_id=str(order["id"]), error_code=outcome.error_code)
            return f"dead:save_order: {_describe(outcome)}"
        await petpooja.record_answer(conn, order["restaurant_id"], order["id"], response=_body(answer),
                                     accepted=True, petpooja_order_id=outcome.petpooja_order_id)
        log.info("petpooja_pushed", order_id=str(order["id"]), petpooja_order_id=outcome.petpooja_order_id)
        return "synced"

    async def _cancel(self, conn: Conn, order: Row, outlet: petpooja.Outlet) -> str:
        order_id = str(order["id"])
        if order["cancel_pushed_at"] is not None:
            return "synced"
        if order["cancelled_by"] == "petpooja":
            log.info("petpooja_cancel_not_echoed", order_id=order_id)
            return "synced"
        if order["payload"] is None:
            # Never sent: PetPooja does not know the order, so there is nothing to cancel.
            log.info("petpooja_cancelled_before_push", order_id=order_id)
            return "synced"
        # Pushed, or sent without a readable answer (PetPooja may hold it): cancel it there.
        unconfirmed = order["pushed_at"] is None
        body = cancel_payload(order["id"], order["rest_id"], reason=order["cancel_reason"] or DEFAULT_CANCEL_REASON,
                              petpooja_order_id=order["petpooja_order_id"] or "")
        try:
            answer = await self.client.update_order_status(outlet, body)
        except PetpoojaUnreachable as exc:
            return f"failed:{exc}"
        outcome = classify_response(answer.status_code, answer.body)
        if isinstance(outcome, Transient):
            return f"failed:PetPooja update_order_status: {outcome.reason}: " \
                   f"{answer.body[:300].decode('utf-8', 'replace')}"
        # A refused cancel of an order PetPooja never confirmed means it does not hold it: done.
        done = isinstance(outcome, Accepted) or unconfirmed
        await petpooja.record_cancel(conn, order["restaurant_id"], order["id"], response=_body(answer), done=done)
        if isinstance(outcome, Rejected) and not unconfirmed:
            return f"dead:update_order_status (cancel): {_describe(outcome)}"
        log.info("petpooja_cancel_pushed", order_id=order_id, accepted=isinstance(outcome, Accepted))
        return "synced"

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
    # A round sends its orders one after another, each within the timeout: keep a round
    # inside the claim's lease.
    batch_size = max(1, min(10, int(settings.sync_lease_s // (pp.petpooja_timeout_s + 1))))
    return PetpoojaTarget(db, PetpoojaClient(pp), box, callback_base_url=pp.callback_base_url,
                          lease_s=settings.sync_lease_s, backoff=backoff_of(settings), batch_size=batch_size)
