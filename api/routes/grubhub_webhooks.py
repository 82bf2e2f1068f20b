"""Grubhub's webhooks (docs/grubhub.md): new orders, Grubhub's cancellations, status changes
and menu ingestion results, for the merchant the event names.

Answered at once: the route checks the signature, records the event (a retry of one answers
200 and does nothing again) and, for a new order, the order as the webhook carried it; the
grubhub outbox target does the work (create ours, confirm or reject back).

Grubhub offers basic auth, HMAC or JWT, chosen at onboarding; we choose HMAC. Its header is not
published: ``X-GH-Signature``, the lowercase hex HMAC-SHA256 of the raw body keyed with the
store's webhook secret, is ASSUMED. The event names its merchant, so the store is looked up
first; an unknown merchant, a store without a webhook secret, a missing or wrong signature:
401, nothing written.

Grubhub's events carry no event id that we know of: the dedupe key is the event's
``event_id`` when present, else ``<event_type>:<order_uuid or job_id>:<status>``, so a retry
of one event is one row and a later status of the same order is another.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

import orjson
import structlog
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.errors import ApiError
from api.state import services
from db import platforms
from db.credentials import CredentialsUnreadable

log = structlog.get_logger("api")

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Word = Annotated[str, StringConstraints(pattern=r"^[A-Z_]{1,32}$")]
SIGNATURE_HEADER = "x-gh-signature"
NEW_ORDER, CANCELLED, INGESTION_STATUS = "NEW_ORDER", "ORDER_CANCELLED", "MENU_INGESTION_STATUS"


class GrubhubEvent(BaseModel):
    """Grubhub's webhook body (the fields we read; the order's own fields come with a new order)."""

    model_config = ConfigDict(extra="allow")

    event_type: Word
    merchant_id: Id
    event_id: Id | None = None
    order_uuid: Id | None = None
    job_id: Id | None = None  # a menu ingestion's
    new_status: Word | None = None  # an order status change's
    status: Word | None = None  # a menu ingestion's result
    cancelled_by: Annotated[str, StringConstraints(max_length=64)] | None = None

    def dedupe_id(self) -> str:
        if self.event_id is not None:
            return self.event_id
        subject = self.order_uuid or self.job_id or self.merchant_id
        return f"{self.event_type}:{subject}:{self.new_status or self.status or ''}"


def _invalid(detail: str) -> ApiError:
    return ApiError(400, "invalid_event", detail)


def _parse(raw: bytes) -> tuple[GrubhubEvent, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _invalid("the body is not JSON") from None
    try:
        event = GrubhubEvent.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"])
        raise _invalid(f"the event is not one Grubhub sends ({where})") from None
    if event.event_type in (NEW_ORDER, CANCELLED) and event.order_uuid is None:
        raise _invalid("the event is not one Grubhub sends (order_uuid)")
    return event, data


def _signed(secret: str | None, raw: bytes, given: str) -> bool:
    """Fails closed: a store without a webhook secret accepts nothing."""
    if not secret:
        return False
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


async def grubhub(request: Request) -> Response:
    raw = await request.body()
    event, data = _parse(raw)
    svc = services(request)
    structlog.contextvars.bind_contextvars(platform="grubhub", event_type=event.event_type)
    try:
        async with svc.db.system() as conn:
            store = await platforms.store_by_id(conn, svc.credentials, "grubhub", event.merchant_id)
    except CredentialsUnreadable:
        log.error("platform_webhook_unverifiable", reason="the store's credentials do not open with this key")
        raise ApiError(503, "unavailable", "the webhook cannot be verified right now; retry",
                       headers={"Retry-After": "60"}) from None
    secret = store[1].values.get("webhook_secret") if store else None
    if store is None or not _signed(secret, raw, request.headers.get(SIGNATURE_HEADER, "")):
        log.warning("platform_webhook_refused", reason="unknown merchant" if store is None else "bad signature")
        raise ApiError(401, "invalid_signature", "X-GH-Signature must be the hex HMAC-SHA256 of the body keyed "
                                                 "with the store's webhook secret")
    restaurant_id = store[0]
    structlog.contextvars.bind_contextvars(restaurant_id=str(restaurant_id))
    async with svc.db.tenant(restaurant_id) as conn:
        new = await platforms.record_event(conn, "grubhub", event.dedupe_id(), event.event_type)
        if new and event.order_uuid is not None:
            if event.event_type == NEW_ORDER:
                await platforms.receive_order(conn, restaurant_id, "grubhub", event.order_uuid, order=data)
            elif event.event_type == CANCELLED:
                await platforms.cancelled_on_platform(conn, restaurant_id, "grubhub", event.order_uuid,
                                                      reason=event.cancelled_by)
        if new and event.event_type == INGESTION_STATUS and event.job_id and event.status not in (None, "SUCCESS"):
            # The publish was recorded as synced when Grubhub took the job; its failure (a menu
            # it could not download or validate) marks it failed, for the last job only.
            await platforms.record_menu_status(conn, restaurant_id, "grubhub", menu_id=None, of_job=event.job_id,
                                               error=f"Grubhub's ingestion job {event.job_id}: {event.status}")
    log.info("platform_webhook", replay=not new, job_id=event.job_id, status=event.status or event.new_status)
    return Response(status_code=200)


routes = [Route("/api/webhooks/grubhub", grubhub, methods=["POST"])]
