"""Orders: placing (guests and staff), reading, and moving through the lifecycle."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import FLOOR, MEMBERS, Scope, admit, entry_of, knock, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.bodies import json_body, query_params
from api.errors import ApiError
from api.handoff import after_commit, hand_off, queued_in
from api.integration_state import order_integrations, target_labels
from api.models import Cancel, NewOrder, OrderQuery, StatusMove
from api.responses import JSON
from api.routes.delivery import address_not_found, geocoder_unavailable
from api.state import services
from db import delivery, orders
from db.outbox import EntityKey
from db.pricing import LineRequest
from db.queries import Row
from providers.geo import Geocoder, GeocoderUnavailable, Place

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_HIDDEN = frozenset({"session_id"})
# Pickup times are whole PICKUP_STEP minutes (a later time is rounded up to the next one, which
# is what a kitchen can promise) and at most PICKUP_HORIZON ahead (docs/orders.md).
PICKUP_STEP = timedelta(minutes=5)
PICKUP_HORIZON = timedelta(days=7)


def _oid(request: Request) -> UUID:
    oid: UUID = request.path_params["oid"]
    structlog.contextvars.bind_contextvars(order_id=str(oid))
    return oid


def order_answer(row: Row) -> dict[str, Any]:
    """An order as the API answers it (order_documents without the guest session's id)."""
    return {k: v for k, v in row.items() if k not in _HIDDEN}


def _idempotency(request: Request, body: NewOrder) -> orders.Idempotency | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not _KEY.match(key):
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1-255 printable ASCII characters")
    payload = body.model_dump(mode="json")
    for line in payload["items"]:
        # A line without options hashes as it did before lines had options, so a retry that
        # spans the deploy is still recognised as the same request.
        if line["variation_id"] is None:
            del line["variation_id"]
        if not line["addon_ids"]:
            del line["addon_ids"]
    if payload["pickup_at"] is None:
        del payload["pickup_at"]  # likewise for orders without a pickup time
    if payload["payment_method"] is None:
        del payload["payment_method"]  # and without a payment method
    if payload["delivery_address"] is None:
        del payload["delivery_address"]  # and for orders without a delivery address
    canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return orders.Idempotency(key, hashlib.sha256(canonical).digest())


def pickup_time(requested: datetime | None) -> datetime | None:
    """A requested pickup time rounded up to the next PICKUP_STEP (None: none asked)."""
    now = datetime.now(UTC)
    if requested is None or not now <= requested <= now + PICKUP_HORIZON:
        return requested  # refused as past or too far; rounding it could leave the calendar (years 1, 9999)
    step = int(PICKUP_STEP.total_seconds())
    seconds = requested.timestamp()
    rounded = -(-int(seconds) // step) * step if seconds % step else int(seconds)
    return datetime.fromtimestamp(rounded, UTC)


def _pickup_bounds(pickup_at: datetime | None, now: datetime) -> tuple[str, str] | None:
    """What is wrong with a (rounded) pickup time on its own: its code and message."""
    if pickup_at is None:
        return None
    if pickup_at < now:
        return "pickup_in_past", "pickup_at is in the past"
    if pickup_at > now + PICKUP_HORIZON:
        return "pickup_too_far", f"pickup_at is more than {PICKUP_HORIZON.days} days ahead"
    return None


def _field_error(code: str, field: str, detail: str) -> ApiError:
    return ApiError(422, code, detail, errors=[{"loc": ["body", field], "msg": detail, "type": code}])


def _new_order(
    scope: Scope, body: NewOrder, pickup_at: datetime | None, *, replay: bool = False,
) -> orders.NewOrder:
    table_id = body.table_id
    if scope.is_guest and scope.principal.table_id is None:
        # A takeaway session from the restaurant's share link: no table, takeaway only.
        if table_id is not None:
            raise ApiError(422, "table_mismatch", "a takeaway session has no table")
        if body.order_type not in (None, "takeaway"):
            raise ApiError(422, "order_type_not_allowed", "a takeaway session orders takeaway only")
    elif scope.is_guest:
        if table_id is not None and table_id != scope.principal.table_id:
            raise ApiError(422, "table_mismatch", "a guest session orders for its own table only")
        table_id = scope.principal.table_id
        if body.order_type == "delivery":
            raise ApiError(422, "order_type_not_allowed", "a guest at a table cannot order delivery")
    order_type = body.order_type or ("dine_in" if table_id else "takeaway")
    if order_type == "dine_in" and table_id is None:
        raise ApiError(422, "table_required", "a dine_in order needs table_id")
    if pickup_at is not None and order_type != "takeaway":
        raise _field_error("pickup_not_takeaway", "pickup_at", "pickup_at is for takeaway orders only")
    if order_type == "delivery" and body.delivery_address is None:
        raise _field_error("delivery_address_required", "delivery_address", "a delivery order needs delivery_address")
    if order_type != "delivery" and body.delivery_address is not None:
        raise _field_error("delivery_address_not_delivery", "delivery_address",
                           "delivery_address is for delivery orders only")
    # A retry of an order already placed replays it, even once its pickup time has passed.
    wrong = None if replay else _pickup_bounds(pickup_at, datetime.now(UTC))
    if wrong is not None:
        raise _field_error(wrong[0], "pickup_at", wrong[1])
    return orders.NewOrder(
        lines=[LineRequest(i.menu_item_id, i.quantity, i.notes, i.variation_id, tuple(i.addon_ids))
               for i in body.items],
        order_type=order_type, table_id=table_id,
        session_id=scope.principal.session_id if scope.is_guest else None,
        customer_name=body.customer_name, customer_phone=body.customer_phone, notes=body.notes, tip=body.tip,
        pickup_at=pickup_at, payment_method=body.payment_method or "counter",
    )


@dataclass(frozen=True)
class _Located:
    """What geocoding a delivery address gave: asked or not, a place (None: not found), or an outage."""

    asked: bool = False
    place: Place | None = None
    outage: GeocoderUnavailable | None = None


async def _locate(geocoder: Geocoder, address: str) -> _Located:
    # The outage is answered (503) only once the caller and its order are judged: a replay of an
    # order already placed, say, needs no geocoder.
    try:
        return _Located(True, await geocoder.geocode(address))
    except GeocoderUnavailable as exc:
        return _Located(True, None, exc)


def _delivery_to(zone_row: dict[str, Any] | None, body: NewOrder, located: _Located) -> orders.DeliveryTo:
    """A delivery order's address judged against the restaurant's zone: where it goes and its fee."""
    assert body.delivery_address is not None
    if zone_row is None or not zone_row["enabled"]:
        raise ApiError(409, "delivery_off", "this restaurant is not taking delivery orders"
                       + ("" if zone_row is not None else " (it has no delivery zone)"))
    if located.outage is not None:
        raise geocoder_unavailable(located.outage)
    place = located.place
    if place is None:
        raise address_not_found(["body", "delivery_address"],
                                "the delivery address was not found; check the street, city and postcode")
    zone = delivery.Zone.of(zone_row)
    judged = delivery.quote(zone, place.lat, place.lng)
    if not judged.inside:
        detail = (f"the address is {judged.distance_m} m from the restaurant, outside its delivery zone"
                  + (f" ({zone.radius_m} m)" if zone.radius_m is not None else ""))
        raise ApiError(422, "outside_delivery_zone", detail,
                       errors=[{"loc": ["body", "delivery_address"], "msg": detail, "type": "outside_delivery_zone"}],
                       extra={"distance_m": judged.distance_m, "radius_m": zone.radius_m})
    address = body.delivery_address.model_dump(mode="json")
    return orders.DeliveryTo(
        address=address, formatted_address=place.formatted_address, lat=place.lat, lng=place.lng,
        distance_m=judged.distance_m, fee=judged.fee, place_id=place.place_id,
        location_type=place.location_type, partial_match=place.partial_match,
    )


async def create_order(request: Request) -> Response:
    """Two statements, each its own transaction (db/orders.py): the order's context, then the
    order. The checks keep restaurant_scope's order: the caller (401/403/404), its rate limits
    (429), then its body (4xx)."""
    svc = services(request)
    rid = _rid(request)
    principal = knock(request, rid, guest=True)
    try:
        body: NewOrder | None = await json_body(request, NewOrder)
    except ApiError as exc:
        body, refused = None, exc
    key = request.headers.get("idempotency-key")
    pickup_at = pickup_time(body.pickup_at) if body is not None else None
    delivering = body is not None and body.order_type == "delivery"
    located = _Located()
    if delivering and body is not None and body.delivery_address is not None and principal.kind == "user":
        # Geocoding is an outbound call: before the statements, never holding a connection. Only
        # people order delivery (guest sessions may not), and each caller's order budget is
        # spent before the call, so an account costs at most RATE_LIMIT_ORDER_CREATE geocodes a
        # minute whatever restaurant it names (docs/delivery-zones.md).
        await svc.limits.hit(svc.limits.order_create, "order", principal.actor.principal)
        located = await _locate(svc.providers.geo, body.delivery_address.geocoding_query())
    async with svc.db.statements() as conn:
        context = await orders.context(
            conn, restaurant_id=rid, **entry_of(principal), key=key if key is not None and _KEY.match(key) else None,
            item_ids=[line.menu_item_id for line in body.items] if body is not None else [],
            # Out of bounds it is refused below without asking the hours (a far year overflows them).
            pickup_at=pickup_at if _pickup_bounds(pickup_at, datetime.now(UTC)) is None else None,
            delivery=delivering,
        )
        scope = Scope(conn, principal, admit(principal, context[0], MEMBERS))
        if not located.asked:
            await svc.limits.hit(svc.limits.order_create, "order", principal.actor.principal)
        if scope.is_guest and principal.table_id is not None:
            # Per table too: a new session must not reset a guest's budget (docs/auth.md). A
            # takeaway session has no table: opening sessions is limited per address instead.
            await svc.limits.hit(svc.limits.order_table, "order-table", str(principal.table_id), principal.qr_tag or "")
        if body is None:
            raise refused
        replay = context[0]["key_principal"] is not None
        new = _new_order(scope, body, pickup_at, replay=replay)
        if new.order_type == "delivery" and not replay:
            # A replay returns the first order as it was placed: nothing geocoded now goes into it.
            new = replace(new, delivery=_delivery_to(context[0]["delivery_zone"], body, located))
        idempotency = _idempotency(request, body)
        created = await orders.create(conn, restaurant_id=rid, new=new, actor=principal.actor,
                                      idempotency=idempotency, context=context)
    structlog.contextvars.bind_contextvars(order_id=str(created.order["id"]), replayed=created.replayed)
    if created.replayed:
        return JSON(order_answer(created.order), status_code=200, headers={"Idempotent-Replayed": "true"})
    after_commit(request, "order", created.order["id"])
    svc.metrics.orders_created.labels("qr" if scope.is_guest else "staff").inc()
    return JSON(order_answer(created.order), status_code=201)


def _cursor(raw: str | None) -> tuple[datetime, UUID] | None:
    if raw is None:
        return None
    try:
        created_at, _, order_id = base64.urlsafe_b64decode(raw.encode() + b"==").decode().partition("|")
        return datetime.fromisoformat(created_at), UUID(order_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_cursor", "cursor is not one this API issued") from exc


def _next_cursor(rows: list[Row], limit: int) -> str | None:
    if len(rows) < limit:
        return None
    last = rows[-1]
    raw = f"{last['created_at'].isoformat()}|{last['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def list_orders(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), MEMBERS) as scope:
        query = query_params(request, OrderQuery)
        rows = await orders.list_page(
            scope.conn, _rid(request), statuses=query.status, since=query.since,
            cursor=_cursor(query.cursor), limit=query.limit,
        )
    return JSON({"items": [order_answer(r) for r in rows], "next_cursor": _next_cursor(rows, query.limit)})


async def get_order(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), MEMBERS, guest=True) as scope:
        if scope.is_guest:
            assert scope.principal.session_id is not None
            row = await orders.get_for_guest(scope.conn, _rid(request), _oid(request), scope.principal.session_id)
        else:
            row = await orders.get_with_integrations(scope.conn, _rid(request), _oid(request))
            row["integrations"] = order_integrations(row["integrations"], target_labels(request))
    return JSON(order_answer(row))


def _event(row: Row, *, guest: bool) -> dict[str, Any]:
    # A guest sees what happened and why, not who on the staff did it.
    return {"from_status": row["from_status"], "to_status": row["to_status"], "actor_type": row["actor_type"],
            "actor_id": None if guest else row["actor_id"], "actor_name": None if guest else row["actor_name"],
            "reason": row["reason"], "details": row["details"] or {}, "at": row["created_at"]}


def _latest(events: list[dict[str, Any]], key: str) -> str | None:
    return next((e["details"][key] for e in reversed(events) if e["details"].get(key)), None)


async def order_events(request: Request) -> Response:
    """The order's timeline: staff of the restaurant, or the guest session that placed it."""
    async with restaurant_scope(request, _rid(request), MEMBERS, guest=True) as scope:
        status, rows = await orders.timeline(
            scope.conn, _rid(request), _oid(request),
            guest_session=scope.principal.session_id if scope.is_guest else None,
        )
    events = [_event(r, guest=scope.is_guest) for r in rows]
    name, phone = _latest(events, "rider_name"), _latest(events, "rider_phone")
    cancelled = next((e for e in reversed(events) if e["to_status"] == "cancelled"), None)
    cancel_reason = _latest(events, "cancel_reason") or (cancelled["reason"] if cancelled else None)
    return JSON({"order_id": _oid(request), "status": status, "events": events,
                 "rider": {"name": name, "phone": phone} if name or phone else None,
                 "cancel_reason": cancel_reason if status == "cancelled" else None})


async def move_order(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), FLOOR) as scope:
        body = await json_body(request, StatusMove)
        moved = await orders.move(
            scope.conn, restaurant_id=_rid(request), order_id=_oid(request), target=body.status,
            actor=scope.principal.actor, reason=body.reason,
        )
        queued = await queued_in(scope.conn, _rid(request))  # the order, and the notifications its move made
    return _moved(request, moved, queued, scope.principal.actor.kind)


async def cancel_order(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), FLOOR, guest=True) as scope:
        body = await json_body(request, Cancel)
        moved = await orders.move(
            scope.conn, restaurant_id=_rid(request), order_id=_oid(request), target="cancelled",
            actor=scope.principal.actor, reason=body.reason,
            guest_session=scope.principal.session_id if scope.is_guest else None,
        )
        queued = await queued_in(scope.conn, _rid(request))  # the order, and the notifications its move made
    return _moved(request, moved, queued, scope.principal.actor.kind)


def _moved(request: Request, moved: orders.Moved, queued: list[EntityKey], actor: str) -> Response:
    hand_off(request, queued)
    services(request).metrics.status_transitions.labels(moved.from_status, moved.order["status"], actor).inc()
    return JSON(order_answer(moved.order))


_BASE = "/api/restaurants/{rid:uuid}/orders"
routes = [
    Route(_BASE, create_order, methods=["POST"]),
    Route(_BASE, list_orders, methods=["GET"]),
    Route(f"{_BASE}/{{oid:uuid}}", get_order, methods=["GET"]),
    Route(f"{_BASE}/{{oid:uuid}}/events", order_events, methods=["GET"]),
    Route(f"{_BASE}/{{oid:uuid}}/status", move_order, methods=["POST"]),
    Route(f"{_BASE}/{{oid:uuid}}/cancel", cancel_order, methods=["POST"]),
]
