"""Restaurants and their tables, and the guest session a QR scan opens (members: invitations.py)."""

from __future__ import annotations

import io
import secrets
from datetime import time
from typing import Any
from uuid import uuid4
from xml.sax.saxutils import escape, quoteattr

import segno
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import MEMBERS, OWNER_MANAGER, client_ip, require_user, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.bodies import json_body
from api.config import Settings
from api.errors import ApiError
from api.handoff import after_commit, hand_off, queued_in
from api.models import NewRestaurant, NewTable, OpeningHours, Pause, RestaurantPatch, ShareLinkRequest, TablePatch
from api.ratelimit import address_key
from api.responses import JSON
from api.state import services
from api.tokens import qr_tag
from db import restaurants, tables
from db.queries import Row


def _table(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "label", "seats", "qr_token", "is_active", "version", "created_at", "updated_at")}


async def create_restaurant(request: Request) -> Response:
    principal = require_user(request)
    body = await json_body(request, NewRestaurant)
    restaurant_id = uuid4()
    assert principal.user_id is not None
    async with services(request).db.tenant(restaurant_id) as conn:
        row = await restaurants.create(
            conn, restaurant_id=restaurant_id, owner_id=principal.user_id, name=body.name,
            currency=body.currency, timezone=body.timezone, tax_rate_bps=body.tax_rate_bps,
            address=body.address, phone=body.phone,
        )
    return JSON(row, status_code=201)


async def get_restaurant(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), MEMBERS) as scope:
        return JSON(await restaurants.get(scope.conn, _rid(request)))


async def patch_restaurant(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, RestaurantPatch)
        return JSON(await restaurants.update(scope.conn, _rid(request), body.model_dump(exclude_unset=True)))


async def put_opening_hours(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, OpeningHours)
        clash = body.overlapping()
        if clash is not None:
            raise ApiError(422, "overlapping_hours", "opening ranges overlap",
                           errors=[{"loc": ["body", "hours", clash], "msg": "overlaps another range"}])
        week = [(r.weekday, time.fromisoformat(r.opens), time.fromisoformat(r.closes)) for r in body.hours]
        return JSON(await restaurants.replace_hours(scope.conn, _rid(request), week))


async def pause_orders(request: Request) -> Response:
    """Switches the store off: the switch PetPooja's store-status callback flips."""
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, Pause)
        return JSON(await restaurants.set_store_switch(scope.conn, _rid(request), open_=False, reason=body.reason,
                                                       reopens_at=body.reopens_at))


async def resume_orders(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        return JSON(await restaurants.set_store_switch(scope.conn, _rid(request), open_=True, reason=None,
                                                       reopens_at=None))


async def create_share_link(request: Request) -> Response:
    """The restaurant's takeaway link: one random token per restaurant, kept until rotated."""
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, ShareLinkRequest)
        token = await restaurants.share_token(scope.conn, _rid(request), new_token=secrets.token_urlsafe(18),
                                              rotate=body.rotate)
    return JSON({"url": share_url(services(request).settings, token), "token": token})


def table_url(settings: Settings, qr_token: str) -> str:
    """What a table's QR code carries: the ordering front end's page for that table."""
    return f"{settings.ordering_base}/t/{qr_token}"


def share_url(settings: Settings, token: str) -> str:
    return f"{settings.ordering_base}/s/{token}"


async def _one_table(request: Request) -> Row:
    async with restaurant_scope(request, _rid(request), MEMBERS) as scope:
        rows = await tables.list_all(scope.conn, _rid(request))
    found = [r for r in rows if r["id"] == request.path_params["tid"]]
    if not found:
        raise ApiError(404, "not_found", "table not found")
    return found[0]


async def table_qr_svg(request: Request) -> Response:
    table = await _one_table(request)
    code = segno.make(table_url(services(request).settings, table["qr_token"]), error="m")
    out = io.BytesIO()
    code.save(out, kind="svg", scale=8, border=4, title=f"Table {table['label']}")
    return Response(out.getvalue(), media_type="image/svg+xml")


async def table_qr_png(request: Request) -> Response:
    table = await _one_table(request)
    code = segno.make(table_url(services(request).settings, table["qr_token"]), error="m")
    out = io.BytesIO()
    code.save(out, kind="png", scale=8, border=4)
    return Response(out.getvalue(), media_type="image/png")


_SHEET_COLUMNS, _CELL_W, _CELL_H = 3, 260, 300


async def tables_qr_sheet(request: Request) -> Response:
    """One printable SVG page: every active table's code under its label, three to a row."""
    async with restaurant_scope(request, _rid(request), MEMBERS) as scope:
        rows = [r for r in await tables.list_all(scope.conn, _rid(request)) if r["is_active"]]
    settings = services(request).settings
    cells = []
    for i, row in enumerate(rows):
        x, y = (i % _SHEET_COLUMNS) * _CELL_W, (i // _SHEET_COLUMNS) * _CELL_H
        code = segno.make(table_url(settings, row["qr_token"]), error="m")
        size = code.symbol_size(scale=1, border=4)[0]
        scale = 220 / size
        inline = code.svg_inline(scale=scale, border=4, omitsize=False)
        cells.append(f'<g transform="translate({x + 20},{y + 20})">{inline}'
                     f'<text x="110" y="250" text-anchor="middle" font-family="sans-serif" font-size="20"'
                     f' data-table-id={quoteattr(str(row["id"]))}>{escape(row["label"])}</text></g>')
    rows_n = max(1, -(-len(rows) // _SHEET_COLUMNS))
    width, height = _SHEET_COLUMNS * _CELL_W, rows_n * _CELL_H
    svg = (f'<?xml version="1.0" encoding="utf-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}">{"".join(cells)}</svg>\n')
    return Response(svg.encode(), media_type="image/svg+xml")


async def create_table(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, NewTable)
        row = await tables.create(scope.conn, restaurant_id=_rid(request), label=body.label, seats=body.seats)
    after_commit(request, "table", row["id"])
    return JSON(_table(row), status_code=201)


async def list_tables(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), MEMBERS) as scope:
        rows = await tables.list_all(scope.conn, _rid(request))
    return JSON({"items": [_table(r) for r in rows]})


async def patch_table(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, TablePatch)
        row = await tables.update(
            scope.conn, restaurant_id=_rid(request), table_id=request.path_params["tid"],
            changes=body.model_dump(exclude_unset=True),
        )
        changed = await queued_in(scope.conn, _rid(request))  # the table, and its orders after a relabel
    hand_off(request, changed)
    return JSON(_table(row))


async def open_qr_session(request: Request) -> Response:
    """Limited per table (its current QR code), not per client address: a restaurant's guest
    Wi-Fi or a carrier's NAT puts a whole dinner service behind one address. What one address
    is limited in is unknown QR codes, which is what guessing them would produce."""
    svc = services(request)
    limits = svc.limits
    address = address_key(client_ip(request))
    await limits.check(limits.qr_lookup_failures, "qr-unknown", address)
    qr_token = request.path_params["qr_token"]
    async with svc.db.system() as conn:
        found = await tables.by_qr_token(conn, qr_token) if len(qr_token) <= 64 else None
        if found is None:
            await limits.count(limits.qr_lookup_failures, "qr-unknown", address)
            raise ApiError(404, "not_found", "this QR code is not known or its table is closed")
        if not found["is_active"]:
            raise ApiError(404, "not_found", "this QR code is not known or its table is closed")
        tag = qr_tag(qr_token)
        await limits.hit(limits.qr_session, "qr-table", str(found["table_id"]), tag)
        session = await tables.open_guest_session(
            conn, restaurant_id=found["restaurant_id"], table_id=found["table_id"],
            ttl_s=svc.settings.guest_session_ttl_s,
        )
    structlog.contextvars.bind_contextvars(restaurant_id=str(found["restaurant_id"]))
    issued = svc.tokens.guest_token(
        restaurant_id=found["restaurant_id"], table_id=found["table_id"], session_id=session["id"], qr_tag=tag
    )
    return JSON({
        "session_token": issued.token,
        "expires_in": issued.expires_in,
        "restaurant": {"id": found["restaurant_id"], "name": found["name"], "currency": found["currency"]},
        "table": {"id": found["table_id"], "label": found["label"]},
    }, status_code=201)


routes = [
    Route("/api/restaurants", create_restaurant, methods=["POST"]),
    Route("/api/restaurants/{rid:uuid}", get_restaurant, methods=["GET"]),
    Route("/api/restaurants/{rid:uuid}", patch_restaurant, methods=["PATCH"]),
    Route("/api/restaurants/{rid:uuid}/tables", create_table, methods=["POST"]),
    Route("/api/restaurants/{rid:uuid}/opening-hours", put_opening_hours, methods=["PUT"]),
    Route("/api/restaurants/{rid:uuid}/pause", pause_orders, methods=["POST"]),
    Route("/api/restaurants/{rid:uuid}/resume", resume_orders, methods=["POST"]),
    Route("/api/restaurants/{rid:uuid}/share-link", create_share_link, methods=["POST"]),
    Route("/api/restaurants/{rid:uuid}/tables/qr-sheet.svg", tables_qr_sheet, methods=["GET"]),
    Route("/api/restaurants/{rid:uuid}/tables", list_tables, methods=["GET"]),
    Route("/api/restaurants/{rid:uuid}/tables/{tid:uuid}", patch_table, methods=["PATCH"]),
    Route("/api/restaurants/{rid:uuid}/tables/{tid:uuid}/qr.svg", table_qr_svg, methods=["GET"]),
    Route("/api/restaurants/{rid:uuid}/tables/{tid:uuid}/qr.png", table_qr_png, methods=["GET"]),
    Route("/api/qr/{qr_token:str}/session", open_qr_session, methods=["POST"]),
]
