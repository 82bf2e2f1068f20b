"""Time slots and reservations: a restaurant's slot rules, its free capacity per slot, booking
(a customer for themselves, staff for a guest), the day's book and status moves; a customer's
own reservations (docs/reservations.md)."""

from __future__ import annotations

from datetime import UTC, datetime
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
from api.handoff import hand_off, queued_in
from api.models import DayQuery, NewReservation, ReservationMove, SlotQuery, SlotRules
from api.responses import JSON
from api.state import services
from db import reservations
from db.queries import Conn, Row
from db.slots import overlapping

_STAFF = FLOOR | {"admin"}
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
        staff = scope.role in _STAFF
        row = await reservations.move(
            scope.conn, rid, reservation_id, target=body.status, mover="staff" if staff else "customer",
            actor_id=scope.principal.user_id, reason=body.reason, now=datetime.now(UTC),
            own_user=None if staff else scope.principal.user_id)
        queued = await queued_in(scope.conn, rid)  # the reservation, and the notification its move made
    hand_off(request, queued)
    return JSON(_reservation(row))


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
    Route("/api/me/reservations", my_reservations, methods=["GET"]),
]
