"""Time slots and reservations: a restaurant's slot rules, its free capacity per slot, booking
(a customer for themselves, staff for a guest), the day's book and status moves; a customer's
own reservations (docs/reservations.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import FLOOR, OWNER_MANAGER, Scope, require_user, restaurant_scope, visitor_scope
from api.access import path_restaurant_id as _rid
from api.bodies import json_body, query_params
from api.errors import ApiError
from api.handoff import after_commit, hand_off, queued_in
from api.models import DayQuery, NewReservation, PreOrder, ReservationMove, SlotQuery, SlotRules
from api.responses import JSON
from api.routes.orders import order_answer
from api.state import services
from db import orders, reservations, tables
from db.pricing import LineRequest
from db.queries import Conn, Row
from db.slots import overlapping

_STAFF = FLOOR | {"admin"}
# A pre-order fired "at arrival" is held until its party is seated; should nobody seat, cancel or
# no-show the reservation, it fires this long after the slot, so no outbox row waits forever.
ARRIVAL_HOLD = timedelta(hours=12)
_FIELDS = ("id", "restaurant_id", "slot_start", "local_date", "party_size", "status", "user_id", "guest_name",
           "guest_phone", "table_preference", "note", "version", "created_at", "updated_at")


def _reservation(row: Row) -> dict[str, Any]:
    out = {k: row[k] for k in _FIELDS}
    if "restaurant_name" in row:
        out["restaurant_name"] = row["restaurant_name"]
    return out


def _rule(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in ("weekday", "start_time", "end_time", "interval_minutes", "max_reservations",
                                "max_covers")}


async def _zone(conn: Conn, rid: UUID) -> ZoneInfo:
    zone = await reservations.time_zone(conn, rid)
    if zone is None:
        raise ApiError(404, "not_found", "restaurant not found")
    return zone


async def get_slot_rules(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), FLOOR) as scope:
        rows = await reservations.rules(scope.conn, _rid(request))
    return JSON({"rules": [_rule(r) for r in rows]})


async def put_slot_rules(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, SlotRules)
        wrong = [(i, r.problem()) for i, r in enumerate(body.rules) if r.problem() is not None]
        if wrong:
            raise ApiError(422, "invalid_slot_rule", wrong[0][1] or "", errors=[
                {"loc": ["body", "rules", i], "msg": msg, "type": "invalid_slot_rule"} for i, msg in wrong])
        clash = overlapping([(r.weekday, r.start_time, r.end_time) for r in body.rules])
        if clash is not None:
            raise ApiError(422, "overlapping_rules", "two rules of one weekday overlap",
                           errors=[{"loc": ["body", "rules", i], "msg": "overlaps another rule of its weekday"}
                                   for i in clash])
        rows = await reservations.replace_rules(scope.conn, _rid(request),
                                                [r.model_dump(mode="json") for r in body.rules])
    return JSON({"rules": [_rule(r) for r in rows]})


def _free(limit: int | None, taken: int) -> int | None:
    return None if limit is None else max(limit - taken, 0)


async def time_slots(request: Request) -> Response:
    rid = _rid(request)
    async with visitor_scope(request, rid, guest=True) as scope:
        zone = await _zone(scope.conn, rid)
        query = query_params(request, SlotQuery)
        slots = await reservations.day_slots(scope.conn, rid, zone, query.date)
    items = []
    for slot, taken in slots:
        booked, covers = (taken["reservations"], taken["covers"]) if taken else (0, 0)
        free_res, free_cov = _free(slot.max_reservations, booked), _free(slot.max_covers, covers)
        items.append({
            "slot_start": slot.start, "local_time": slot.local.strftime("%H:%M"),
            "local_start": slot.local.isoformat(timespec="minutes"),
            "max_reservations": slot.max_reservations, "max_covers": slot.max_covers,
            "free_reservations": free_res, "free_covers": free_cov,
            "available": free_res != 0 and free_cov != 0,
        })
    return JSON({"date": query.date, "timezone": str(zone), "slots": items})


async def _booking(scope: Scope, body: NewReservation) -> reservations.Booking:
    user_id = scope.principal.user_id
    if scope.role in _STAFF:
        if body.name is None:
            detail = "staff booking for a guest give the guest's name"
            raise ApiError(422, "guest_name_required", detail,
                           errors=[{"loc": ["body", "name"], "msg": detail, "type": "guest_name_required"}])
        return reservations.Booking(body.slot_start, body.party_size, None, body.name, body.phone,
                                    body.table_preference, body.note, user_id)
    assert user_id is not None
    name = body.name or await reservations.customer_name(scope.conn, user_id)
    return reservations.Booking(body.slot_start, body.party_size, user_id, name, body.phone,
                                body.table_preference, body.note, user_id)


async def create_reservation(request: Request) -> Response:
    rid = _rid(request)
    async with visitor_scope(request, rid) as scope:
        zone = await _zone(scope.conn, rid)
        body = await json_body(request, NewReservation)
        row = await reservations.book(scope.conn, rid, zone, await _booking(scope, body), now=datetime.now(UTC))
        queued = await queued_in(scope.conn, rid)
    hand_off(request, queued)
    return JSON(_reservation(row), status_code=201)


async def list_reservations(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), FLOOR) as scope:
        query = query_params(request, DayQuery)
        rows = await reservations.of_day(scope.conn, _rid(request), query.date)
    return JSON({"date": query.date, "items": [_reservation(r) for r in rows]})


async def move_reservation(request: Request) -> Response:
    rid = _rid(request)
    reservation_id: UUID = request.path_params["resid"]
    async with visitor_scope(request, rid) as scope:
        await _zone(scope.conn, rid)
        body = await json_body(request, ReservationMove)
        if body.table_id is not None and body.status != "seated":
            detail = "table_id goes with status seated only"
            raise ApiError(422, "table_only_when_seated", detail,
                           errors=[{"loc": ["body", "table_id"], "msg": detail, "type": "table_only_when_seated"}])
        staff = scope.role in _STAFF
        row = await reservations.move(
            scope.conn, rid, reservation_id, target=body.status, mover="staff" if staff else "customer",
            actor_id=scope.principal.user_id, reason=body.reason, now=datetime.now(UTC),
            own_user=None if staff else scope.principal.user_id)
        # The pre-order follows in the same transaction: seated fires it, cancelled or no-show
        # cancels it (unheard of by every target if it had not fired).
        # After the move, which only staff may make to seated (nobody else learns which tables exist).
        if body.table_id is not None and await tables.get(scope.conn, rid, body.table_id) is None:
            detail = "table_id is not a table of this restaurant"
            raise ApiError(422, "unknown_table", detail,
                           errors=[{"loc": ["body", "table_id"], "msg": detail, "type": "unknown_table"}])
        if body.status == "seated":
            await orders.fire_pre_order(scope.conn, rid, reservation_id, table_id=body.table_id)
        elif body.status in ("cancelled", "no_show"):
            await orders.cancel_pre_order(
                scope.conn, rid, reservation_id, actor=scope.principal.actor,
                reason=body.reason or ("the reservation was cancelled" if body.status == "cancelled"
                                       else "the reservation was a no-show"))
        # The reservation, the notification its move made, and a fired or cancelled pre-order.
        queued = await queued_in(scope.conn, rid)
    hand_off(request, queued)
    return JSON(_reservation(row))


async def _own_reservation(scope: Scope, rid: UUID, reservation_id: UUID, *, lock: bool) -> Row:
    """The reservation, for staff or the customer who booked it; anybody else's looks missing."""
    row = await reservations.get(scope.conn, rid, reservation_id, lock=lock)
    if row is None or (scope.role not in _STAFF and row["user_id"] != scope.principal.user_id):
        raise ApiError(404, "not_found", "reservation not found")
    return row


async def create_pre_order(request: Request) -> Response:
    """An order for a reservation, placed ahead by its customer or staff through the order
    code path (priced from the menu, one place_order statement), held from the kitchen and
    the POS until it fires (docs/reservations.md)."""
    rid = _rid(request)
    reservation_id: UUID = request.path_params["resid"]
    svc = services(request)
    async with visitor_scope(request, rid) as scope:
        await _zone(scope.conn, rid)
        body = await json_body(request, PreOrder)
        # Locked: a concurrent seating or cancellation is judged after this order, or before it.
        booked = await _own_reservation(scope, rid, reservation_id, lock=True)
        if booked["status"] not in ("pending", "confirmed"):
            raise ApiError(409, "reservation_not_open",
                           f"a {booked['status']} reservation takes no pre-order", extra={"status": booked["status"]})
        await svc.limits.hit(svc.limits.order_create, "order", scope.principal.actor.principal)
        fire_at = (booked["slot_start"] - timedelta(minutes=body.fire_minutes_before)
                   if body.fire_minutes_before is not None else booked["slot_start"] + ARRIVAL_HOLD)
        context = await orders.context(scope.conn, restaurant_id=rid, session_id=None,
                                       user_id=scope.principal.user_id, key=None,
                                       item_ids=[line.menu_item_id for line in body.items])
        new = orders.NewOrder(
            lines=[LineRequest(i.menu_item_id, i.quantity, i.notes, i.variation_id, tuple(i.addon_ids))
                   for i in body.items],
            order_type="dine_in", customer_name=booked["guest_name"], customer_phone=booked["guest_phone"],
            notes=body.notes, reservation_id=reservation_id, fire_at=fire_at,
        )
        created = await orders.create(scope.conn, restaurant_id=rid, new=new, actor=scope.principal.actor,
                                      idempotency=None, context=context)
    # The pusher claims only due rows: this hands it the order in case it fires at once (its
    # fire time already passed); a held one stays with the outbox until then.
    after_commit(request, "order", created.order["id"])
    return JSON(order_answer(created.order), status_code=201)


async def get_pre_order(request: Request) -> Response:
    rid = _rid(request)
    reservation_id: UUID = request.path_params["resid"]
    async with visitor_scope(request, rid) as scope:
        await _zone(scope.conn, rid)
        await _own_reservation(scope, rid, reservation_id, lock=False)
        row = await orders.pre_order_of(scope.conn, rid, reservation_id)
    if row is None:
        raise ApiError(404, "not_found", "this reservation has no pre-order")
    return JSON(order_answer(row))


async def my_reservations(request: Request) -> Response:
    principal = require_user(request)
    assert principal.user_id is not None
    async with services(request).db.system() as conn:
        rows = await reservations.of_user(conn, principal.user_id)
    return JSON({"items": [_reservation(r) for r in rows]})


_BASE = "/api/restaurants/{rid:uuid}"
routes = [
    Route(f"{_BASE}/slot-rules", get_slot_rules, methods=["GET"]),
    Route(f"{_BASE}/slot-rules", put_slot_rules, methods=["PUT"]),
    Route(f"{_BASE}/time-slots", time_slots, methods=["GET"]),
    Route(f"{_BASE}/reservations", create_reservation, methods=["POST"]),
    Route(f"{_BASE}/reservations", list_reservations, methods=["GET"]),
    Route(f"{_BASE}/reservations/{{resid:uuid}}/status", move_reservation, methods=["POST"]),
    Route(f"{_BASE}/reservations/{{resid:uuid}}/pre-order", create_pre_order, methods=["POST"]),
    Route(f"{_BASE}/reservations/{{resid:uuid}}/pre-order", get_pre_order, methods=["GET"]),
    Route("/api/me/reservations", my_reservations, methods=["GET"]),
]
