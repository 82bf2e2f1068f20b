"""DoorDash's webhooks (docs/doordash.md): new orders (OrderCreate), orders cancelled on
DoorDash, and the outcome of a menu job (MenuCreate / MenuUpdate: SUCCESS or FAILURE).

DoorDash signs nothing: each webhook carries the token the restaurant set on its DoorDash
webhook subscription as ``Authorization: Bearer <token>``. The event names its store
(``order.store.merchant_supplied_id`` or ``store.merchant_supplied_id``), so the store is looked
up first and the token compared, in constant time, with the one sealed with its credentials;
an unknown store, a missing or wrong token: 401, nothing written.

DoorDash documents no event id. Replays are recognised by ids made of what the event names:
``OrderCreate:<order id>``, ``OrderCancel:<order id>`` and ``<MenuCreate|MenuUpdate>:<reference>``
(the reference our menu push gave the job, echoed by DoorDash). Answered at once: an order goes
through the outbox (created here, confirmed back by the doordash target).
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any
from uuid import UUID

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
from db.queries import Conn

log = structlog.get_logger("api")

PlatformId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]
EventName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]{1,64}$")]
Detail = Annotated[str, StringConstraints(max_length=2000)]
MENU_EVENTS = frozenset({"MenuCreate", "MenuUpdate"})


class DoorDashStore(BaseModel):
    model_config = ConfigDict(extra="allow")

    merchant_supplied_id: PlatformId  # our store id


class DoorDashEventHead(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: EventName
    status: EventName | None = None
    reference: PlatformId | None = None
    details: Detail | None = None


class DoorDashOrder(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: PlatformId
    store: DoorDashStore


class DoorDashMenu(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: PlatformId | None = None


class DoorDashEvent(BaseModel):
    """Any of DoorDash's webhook bodies (the fields we read; DoorDash sends more): an event
    (``event`` with its ``order``, or its ``store`` and ``menu``), or an order cancellation
    (``external_order_id``, ``client_order_id``, ``store``), which has no ``event``."""

    model_config = ConfigDict(extra="allow")

    event: DoorDashEventHead | None = None
    order: DoorDashOrder | None = None
    store: DoorDashStore | None = None
    menu: DoorDashMenu | None = None
    external_order_id: PlatformId | None = None
    client_order_id: Annotated[str, StringConstraints(max_length=128)] | None = None

    def store_id(self) -> str:
        store = self.order.store if self.order is not None else self.store
        if store is None:
            raise _invalid("the event names no store (order.store or store)")
        return store.merchant_supplied_id

    def kind(self) -> str:
        """OrderCreate, OrderCancel, MenuCreate, MenuUpdate, or another event's type."""
        if self.event is None:
            if self.external_order_id is None:
                raise _invalid("the body is neither an event nor an order cancellation")
            return "OrderCancel"
        if self.event.type == "OrderCreate" and self.order is None:
            raise _invalid("an OrderCreate event carries its order")
        return self.event.type


def _invalid(detail: str) -> ApiError:
    return ApiError(400, "invalid_event", detail)


def _parse(raw: bytes) -> tuple[DoorDashEvent, dict[str, Any]]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _invalid("the body is not JSON") from None
    try:
        return DoorDashEvent.model_validate(data), data
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"])
        raise _invalid(f"the event is not one DoorDash sends ({where})") from None


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def _restaurant(request: Request, store_id: str) -> UUID:
    """The restaurant holding the store, once the webhook's token is the store's; 401 otherwise."""
    svc = services(request)
    try:
        async with svc.db.system() as conn:
            store = await platforms.store_by_id(conn, svc.credentials, "doordash", store_id)
    except CredentialsUnreadable:
        log.error("platform_webhook_unverifiable", reason="the store's credentials do not open with this key")
        raise ApiError(503, "unavailable", "the webhook cannot be verified right now; retry",
                       headers={"Retry-After": "60"}) from None
    expected = store[1].values.get("webhook_token", "") if store is not None else ""
    given = _bearer(request)
    # An empty expected token (none configured) matches nothing: fail closed.
    if store is None or not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        log.warning("platform_webhook_refused", reason="unknown store" if store is None else "bad token")
        raise ApiError(401, "invalid_token", "Authorization must be Bearer <the webhook token configured for "
                                             "this store on DoorDash>")
    return store[0]


async def doordash(request: Request) -> Response:
    event, data = _parse(await request.body())
    kind, store_id = event.kind(), event.store_id()
    structlog.contextvars.bind_contextvars(platform="doordash", event_type=kind)
    restaurant_id = await _restaurant(request, store_id)
    structlog.contextvars.bind_contextvars(restaurant_id=str(restaurant_id))
    async with services(request).db.tenant(restaurant_id) as conn:
        replay = False
        if kind == "OrderCreate" and event.order is not None:
            replay = not await platforms.record_event(conn, "doordash", f"{kind}:{event.order.id}", kind)
            if not replay:
                await platforms.receive_order(conn, restaurant_id, "doordash", event.order.id, order=data["order"])
        elif kind == "OrderCancel" and event.external_order_id is not None:
            replay = not await platforms.record_event(conn, "doordash", f"{kind}:{event.external_order_id}", kind)
            if not replay:
                await platforms.cancelled_on_platform(conn, restaurant_id, "doordash", event.external_order_id,
                                                      reason=None)
        elif kind in MENU_EVENTS and event.event is not None:
            replay = await _menu_status(conn, restaurant_id, kind, event)
        else:
            log.info("platform_webhook_ignored", reason="an event we do not act on")
    log.info("platform_webhook", replay=replay)
    return Response(status_code=200)


async def _menu_status(conn: Conn, restaurant_id: UUID, kind: str, event: DoorDashEvent) -> bool:
    """Records a menu job's outcome; True when it was recorded before (a replay)."""
    head = event.event
    assert head is not None
    if head.reference is not None and not await platforms.record_event(conn, "doordash",
                                                                      f"{kind}:{head.reference}", kind):
        return True
    ok = head.status == "SUCCESS"
    error = None if ok else f"DoorDash could not process the menu ({head.status}): {head.details or 'no details'}"
    await platforms.record_menu_status(conn, restaurant_id, "doordash",
                                       menu_id=event.menu.id if event.menu is not None else None, error=error)
    return False


routes = [Route("/api/webhooks/doordash", doordash, methods=["POST"])]
