"""Venues for customers: the public list and profile, a share link's restaurant and menu, and
each user's saved venues."""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import client_ip, require_user
from api.bodies import json_body, query_params
from api.errors import ApiError
from api.menu_cache import body_etag, conditional
from api.models import Favourite, SaveVenue, VenueQuery
from api.ratelimit import address_key
from api.responses import JSON, dumps
from api.routes.menu import menu_answer
from api.state import services
from db import tables, venues
from db.queries import Row

_PUBLIC = ("id", "name", "description", "address", "city", "phone", "website", "logo_url", "timezone", "currency",
           "dine_in_enabled", "open_now", "next_opens_at", "opening_hours")


def venue(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in _PUBLIC}


def _saved(row: Row) -> dict[str, Any]:
    return {"restaurant_id": row["venue_id"], "favourite": row["favourite"], "saved_at": row["created_at"],
            **({"name": row["name"], "city": row["city"], "logo_url": row["logo_url"]} if "name" in row else {})}


def _after(raw: str | None) -> tuple[str, UUID] | None:
    if raw is None:
        return None
    try:
        name, _, venue_id = base64.urlsafe_b64decode(raw.encode() + b"==").decode().rpartition("|")
        return name, UUID(venue_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_cursor", "cursor is not one this API issued") from exc


def _next(rows: list[Row], limit: int) -> str | None:
    if len(rows) < limit:
        return None
    raw = f"{rows[-1]['name']}|{rows[-1]['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def list_venues(request: Request) -> Response:
    query = query_params(request, VenueQuery)
    filters = venues.VenueFilter(q=query.q, city=query.city, open_now=query.open_now, dine_in=query.dine_in)
    async with services(request).db.system() as conn:
        rows = await venues.list_public(conn, filters, after=_after(query.cursor), limit=query.limit)
    return JSON({"items": [venue(r) for r in rows], "next_cursor": _next(rows, query.limit)})


async def get_venue(request: Request) -> Response:
    """The profile, with an ETag of its bytes: open_now and next_opens_at move with the clock, not
    with a version, and the profile is one row (no cache: docs/menu.md)."""
    async with services(request).db.system() as conn:
        body = dumps(venue(await venues.get_public(conn, request.path_params["rid"])))
    return conditional(request, body, body_etag(body), private=False)


async def open_share_link(request: Request) -> Response:
    """The restaurant a share link names, and its menu: what a phone shows for a takeaway order."""
    token = request.path_params["token"]
    if len(token) > 64:
        raise ApiError(404, "not_found", "this share link is not known")
    async with services(request).db.system() as conn:
        venue_id = await venues.by_share_token(conn, token)
        profile = dumps(venue(await venues.get_public(conn, venue_id)))
        current = await services(request).menu_cache.menu(conn, venue_id, menu_answer)
    # Spliced rather than serialised again: the menu's bytes are the cached ones.
    body = b'{"restaurant":' + profile + b',"order_type":"takeaway","menu":' + current.body + b"}"
    etag = body_etag(profile + (current.etag or "").encode()) if current.etag is not None else None
    return conditional(request, body, etag, private=False)


async def open_share_session(request: Request) -> Response:
    """A takeaway guest session from a share link: a guest session without a table, which
    orders takeaway through the restaurant's order route. Limited per client address (the
    link is public), and unknown links count as the QR codes' unknown codes do."""
    svc = services(request)
    limits = svc.limits
    address = address_key(client_ip(request))
    await limits.check(limits.qr_lookup_failures, "qr-unknown", address)
    token = request.path_params["token"]
    async with svc.db.system() as conn:
        found = await venues.share_restaurant(conn, token) if len(token) <= 64 else None
        if found is None:
            await limits.count(limits.qr_lookup_failures, "qr-unknown", address)
            raise ApiError(404, "not_found", "this share link is not known")
        await limits.hit(limits.share_session, "share-session", address)
        session = await tables.open_guest_session(conn, restaurant_id=found["id"], table_id=None,
                                                  ttl_s=svc.settings.guest_session_ttl_s)
    issued = svc.tokens.guest_token(restaurant_id=found["id"], table_id=None, session_id=session["id"])
    return JSON({
        "session_token": issued.token, "expires_in": issued.expires_in, "order_type": "takeaway",
        "restaurant": {"id": found["id"], "name": found["name"], "currency": found["currency"]}, "table": None,
    }, status_code=201)


async def save_venue(request: Request) -> Response:
    principal = require_user(request)
    body = await json_body(request, SaveVenue)
    assert principal.user_id is not None
    async with services(request).db.user(principal.user_id) as conn:
        row = await venues.save(conn, user_id=principal.user_id, venue_id=body.restaurant_id,
                                favourite=body.favourite)
    return JSON(_saved(row), status_code=201)


async def list_saved(request: Request) -> Response:
    principal = require_user(request)
    assert principal.user_id is not None
    async with services(request).db.user(principal.user_id) as conn:
        rows = await venues.saved(conn, principal.user_id)
    return JSON({"items": [_saved(r) for r in rows]})


async def set_favourite(request: Request) -> Response:
    principal = require_user(request)
    body = await json_body(request, Favourite)
    assert principal.user_id is not None
    async with services(request).db.user(principal.user_id) as conn:
        row = await venues.set_favourite(conn, user_id=principal.user_id, venue_id=request.path_params["rid"],
                                         favourite=body.favourite)
    return JSON(_saved(row))


async def forget_venue(request: Request) -> Response:
    principal = require_user(request)
    assert principal.user_id is not None
    async with services(request).db.user(principal.user_id) as conn:
        await venues.forget(conn, user_id=principal.user_id, venue_id=request.path_params["rid"])
    return Response(status_code=204)


routes = [
    Route("/api/venues", list_venues, methods=["GET"]),
    Route("/api/venues/{rid:uuid}", get_venue, methods=["GET"]),
    Route("/api/share/{token:str}", open_share_link, methods=["GET"]),
    Route("/api/share/{token:str}/session", open_share_session, methods=["POST"]),
    Route("/api/me/saved-venues", save_venue, methods=["POST"]),
    Route("/api/me/saved-venues", list_saved, methods=["GET"]),
    Route("/api/me/saved-venues/{rid:uuid}", set_favourite, methods=["PATCH"]),
    Route("/api/me/saved-venues/{rid:uuid}", forget_venue, methods=["DELETE"]),
]
