"""Delivery platforms' webhooks: Uber Eats' order notifications (docs/ubereats.md).

Answered at once: the route checks the signature, records the event by its id (a retry of
one answers 200 and does nothing again) and the platform order it names; the platform's
outbox target does the work (fetch, create ours, accept or deny back).

``X-Uber-Signature`` is the lowercase hex HMAC-SHA256 of the raw body keyed with the client
secret of the store's Uber app. The event names its store (``meta.user_id``), so the store is
looked up first; an unknown store, a missing or wrong signature: 401, nothing written.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

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

PlatformId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z_.]{1,64}$")]
ORDER_EVENTS = frozenset({"orders.notification", "orders.scheduled.notification"})
CANCEL_EVENTS = frozenset({"orders.cancel"})


class UberMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    user_id: PlatformId  # the store
    resource_id: PlatformId | None = None  # the order, for order events


class UberEvent(BaseModel):
    """Uber's webhook body (the fields we read; Uber may send more)."""

    model_config = ConfigDict(extra="allow")

    event_id: PlatformId
    event_type: EventType
    meta: UberMeta


def _invalid(detail: str) -> ApiError:
    return ApiError(400, "invalid_event", detail)


def _parse(raw: bytes) -> UberEvent:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _invalid("the body is not JSON") from None
    try:
        return UberEvent.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"])
        raise _invalid(f"the event is not one Uber sends ({where})") from None


async def ubereats(request: Request) -> Response:
    raw = await request.body()
    event = _parse(raw)
    svc = services(request)
    structlog.contextvars.bind_contextvars(platform="ubereats", event_id=event.event_id)
    try:
        async with svc.db.system() as conn:
            store = await platforms.store_by_id(conn, svc.credentials, "ubereats", event.meta.user_id)
    except CredentialsUnreadable:
        log.error("platform_webhook_unverifiable", reason="the store's credentials do not open with this key")
        raise ApiError(503, "unavailable", "the webhook cannot be verified right now; retry",
                       headers={"Retry-After": "60"}) from None
    given = request.headers.get("x-uber-signature", "").strip().lower()
    expected = hmac.new(store[1]["client_secret"].encode(), raw, hashlib.sha256).hexdigest() if store else ""
    if store is None or not hmac.compare_digest(expected.encode(), given.encode()):
        log.warning("platform_webhook_refused", reason="unknown store" if store is None else "bad signature")
        raise ApiError(401, "invalid_signature", "X-Uber-Signature must be the HMAC-SHA256 of the body "
                                                 "keyed with the store's client secret")
    restaurant_id = store[0]
    structlog.contextvars.bind_contextvars(restaurant_id=str(restaurant_id))
    async with svc.db.tenant(restaurant_id) as conn:
        new = await platforms.record_event(conn, "ubereats", event.event_id, event.event_type)
        if new and event.meta.resource_id is not None:
            if event.event_type in ORDER_EVENTS:
                await platforms.receive_order(conn, restaurant_id, "ubereats", event.meta.resource_id)
            elif event.event_type in CANCEL_EVENTS:
                await platforms.cancelled_on_platform(conn, restaurant_id, "ubereats", event.meta.resource_id,
                                                      reason=None)
    log.info("platform_webhook", event_type=event.event_type, replay=not new)
    return Response(status_code=200)


routes = [Route("/api/webhooks/ubereats", ubereats, methods=["POST"])]
