"""An Uber Eats stand-in: Uber Eats' Marketplace API wire format (OAuth client credentials,
menu upload and item update, get/accept/deny order, signed webhooks) on loopback, for tests
and the dev runner. Not Uber: in memory, no persistence, no security beyond loopback. See
scripts/ubereats_standin.md for what it validates, what Uber's docs confirm and what it chose.

    python -m scripts.ubereats_standin --port 0
    # stdout, exactly one line once it accepts requests:
    ubereats-standin ready http://127.0.0.1:41234
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
import json
import math
import re
import secrets
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scripts import standin_server
from scripts.standin_server import Fault

# The 400 code of Uber's errors guide ("Invalid request"); one constant, so a sandbox run can
# correct it in one edit.
VALIDATION_CODE = "validation_failed"
DEFAULT_EXPIRES_IN = 2592000  # 30 days, Uber's documented example
TOKEN_LIMIT = 100  # token requests per client per hour, and live tokens per client
TOKEN_WINDOW_S = 3600
SCOPES = ("eats.store", "eats.order", "eats.store.orders.read", "eats.store.status.write")
FAULTS = {"ok", "http500", "http429", "hang", "reject"}
REAL_PATHS = frozenset({"token", "menus", "items", "order", "accept", "deny", "cancel"})
ENTITY_TYPES = ("menus", "categories", "items", "modifier_groups")
SINGULAR = {"menus": "menu", "categories": "category", "items": "item", "modifier_groups": "modifier_group"}
DAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
# An order's line when the store has no uploaded menu to take one from.
DEFAULT_ITEM = {"id": "standin-item", "title": {"translations": {"en_us": "Stand-in item"}},
                "price_info": {"price": 1000}}
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

Handler = Callable[[Request], Awaitable[Response]]


class UberError(Exception):
    """An answer of a real path other than success; rendered in one place (``real``)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body)
        self.status, self.body, self.headers = status, body, headers or {}

    def response(self) -> Response:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def invalid(message: str, **metadata: Any) -> UberError:
    return UberError(400, {"code": VALIDATION_CODE, "message": message, "metadata": metadata})


def not_found(message: str) -> UberError:
    return UberError(404, {"code": "resource_not_found", "message": message})


@dataclass
class Client:
    client_id: str
    client_secret: str
    store_ids: set[str]
    scopes: frozenset[str]
    expires_in: int
    token_limit: int
    issued: list[float] = field(default_factory=list)  # times of granted token requests
    live: list[str] = field(default_factory=list)  # its tokens, oldest first


@dataclass
class Token:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class State(standin_server.Outbound):
    clients: dict[str, Client] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    menus: dict[str, dict[str, Any]] = field(default_factory=dict)  # store_id -> the last accepted upload
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # order_id -> accept/deny bodies
    calls: list[dict[str, Any]] = field(default_factory=list)
    fault: Fault = field(default_factory=lambda: Fault("ok", None, REAL_PATHS))
    released: asyncio.Event = field(default_factory=asyncio.Event)  # set: hanging calls give up
    display_ids: count[int] = field(default_factory=lambda: count(1001))
    # One client for every webhook: building one costs ~20-100 ms (its TLS context).
    http: httpx.AsyncClient | None = None


    def reset(self) -> None:
        self.clients.clear()
        self.tokens.clear()
        self.menus.clear()
        self.orders.clear()
        self.actions.clear()
        self.calls.clear()
        self.fault = Fault("ok", None, REAL_PATHS)
        self.display_ids = count(1001)
        self.released.set()  # answer every hanging call, then hang again for new ones
        self.released = asyncio.Event()


# ---------------------------------------------------------------------------- plumbing

async def _body(request: Request) -> bytes:
    raw = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise invalid("The body is not valid gzip.", field="body") from exc
    return raw


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await _body(request) or b"{}")
    except ValueError as exc:
        raise invalid("The body is not valid JSON.", field="body") from exc
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object.", field="body")
    return body


async def _first_item_id(request: Request) -> str | None:
    """The id of the first item of a menu upload, when it has one (for the reject fault)."""
    try:
        items = json.loads(await _body(request)).get("items")
        return str(items[0]["id"]) if isinstance(items, list) and items and isinstance(items[0], dict) else None
    except (UberError, ValueError, AttributeError, KeyError):
        return None


async def _injected(request: Request, path: str) -> Response | None:
    """The injected answer for this call, or None to answer normally."""
    state: State = request.app.state.standin
    mode = state.fault.take(path)
    request.state.call["fault"] = None if mode == "ok" else mode
    if mode == "http500":
        raise UberError(500, {"code": "internal_server_error", "message": "Internal Server Error"})
    if mode == "http429":
        raise UberError(429, {"code": "rate_limited", "message": "Too many requests"},
                        {"Retry-After": str(state.fault.retry_after)})
    if mode == "hang":
        await state.released.wait()
        return JSONResponse({"code": "service_unavailable", "message": "stand-in reset while this call hung"},
                            status_code=503)
    if mode == "reject":
        if path == "token":
            raise UberError(400, {"error": "invalid_request"})
        item_id = request.path_params.get("item_id") or (await _first_item_id(request) if path == "menus" else None)
        if item_id is not None:
            raise invalid(f"Injected rejection by the stand-in: item '{item_id}' is invalid.",
                          entity_type="item", entity_id=item_id)
        raise invalid("Injected rejection by the stand-in.")
    return None


def real(path: str) -> Callable[[Handler], Handler]:
    """One of Uber's paths: counted in the calls log with its status, faults applied first, and
    an UberError rendered as its answer."""
    def wrap(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            state: State = request.app.state.standin
            call: dict[str, Any] = {"method": request.method, "path": request.url.path, "name": path,
                                    "status": None, "fault": None, "at": time.time()}
            state.calls.append(call)
            request.state.call = call
            try:
                response = await _injected(request, path) or await handler(request)
            except UberError as exc:
                response = exc.response()
            call["status"] = response.status_code
            return response
        return endpoint
    return wrap


def authorize(request: Request, store_id: str | None, *scopes: str) -> Client:
    """The client behind the bearer token, holding one of ``scopes`` and (unless None) linked to ``store_id``."""
    state: State = request.app.state.standin
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = state.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
    if token is None or token.expires_at <= time.time():
        raise UberError(401, {"code": "unauthorized", "message": "Invalid or expired OAuth token."})
    client = state.clients[token.client_id]
    request.state.call["client_id"] = client.client_id
    if not token.scopes & set(scopes):
        raise UberError(403, {"code": "user_not_allowed",
                              "message": f"The token lacks scope {' or '.join(scopes)}."})
    if store_id is not None and store_id not in client.store_ids:
        raise UberError(403, {"code": "user_not_allowed", "message": "User not allowed to access the store"})
    return client


# -------------------------------------------------------------------------- OAuth

def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """client_secret_post (Uber's documented way) or client_secret_basic."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
        except ValueError:
            return "", ""
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


@real("token")
async def token(request: Request) -> Response:
    state: State = request.app.state.standin
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
    client_id, secret = _client_credentials(request, form)
    client = state.clients.get(client_id)
    if client is None or not hmac.compare_digest(client.client_secret.encode(), secret.encode()):
        raise UberError(401, {"error": "invalid_client"})
    request.state.call["client_id"] = client_id
    if form.get("grant_type") != "client_credentials":
        raise UberError(400, {"error": "unsupported_grant_type" if form.get("grant_type") else "invalid_request"})
    wanted = frozenset(form.get("scope", "").split())
    if not wanted or not wanted <= client.scopes:
        raise UberError(400, {"error": "invalid_scope"})
    now = time.time()
    client.issued = [t for t in client.issued if t > now - TOKEN_WINDOW_S]
    if len(client.issued) >= client.token_limit:
        wait = max(1, math.ceil(client.issued[0] + TOKEN_WINDOW_S - now))
        raise UberError(429, {"error": "rate_limit_exceeded"}, {"Retry-After": str(wait)})
    client.issued.append(now)
    access_token = f"uber-standin-{secrets.token_urlsafe(24)}"
    state.tokens[access_token] = Token(client_id, wanted, now + client.expires_in)
    client.live.append(access_token)
    # Past the limit a new token invalidates the oldest (Uber's Business API docs).
    while len(client.live) > TOKEN_LIMIT:
        state.tokens.pop(client.live.pop(0), None)
    return JSONResponse({"access_token": access_token, "token_type": "Bearer", "expires_in": client.expires_in,
                         "scope": " ".join(sorted(wanted))})


# -------------------------------------------------------------------------- menus

def _title(where: dict[str, Any], entity: dict[str, Any], name: str = "title", *, required: bool = True) -> None:
    value = entity.get(name)
    if value is None and not required:
        return
    translations = value.get("translations") if isinstance(value, dict) else None
    if not (isinstance(translations, dict) and translations
            and all(isinstance(text, str) and text.strip() for text in translations.values())):
        raise invalid(f"{where['entity_type']} '{where['entity_id']}': {name} must be "
                      '{"translations": {"<locale>": "<non-empty text>"}}.', **where, field=name)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _price_info(where: dict[str, Any], price_info: object) -> None:
    if not isinstance(price_info, dict) or not _count(price_info.get("price")):
        raise invalid(f"{where['entity_type']} '{where['entity_id']}': price_info.price must be a non-negative "
                      "integer (minor units).", **where, field="price_info.price")
    overrides = price_info.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(o, dict) and _count(o.get("price")) for o in overrides):
        raise invalid(f"{where['entity_type']} '{where['entity_id']}': each price_info.overrides[].price must be "
                      "a non-negative integer.", **where, field="price_info.overrides")


def _quantity_info(where: dict[str, Any], entity: dict[str, Any]) -> None:
    info = entity.get("quantity_info")
    if info is None:
        return
    if not isinstance(info, dict):
        raise invalid(f"{where['entity_type']} '{where['entity_id']}': quantity_info must be an object.",
                      **where, field="quantity_info")
    quantity = info.get("quantity", {})  # {} is a valid quantity_info: no bounds
    if not isinstance(quantity, dict):
        raise invalid(f"{where['entity_type']} '{where['entity_id']}': quantity_info.quantity must be an object.",
                      **where, field="quantity_info.quantity")
    low, high = quantity.get("min_permitted"), quantity.get("max_permitted")
    for name, value in (("min_permitted", low), ("max_permitted", high)):
        if value is not None and not _count(value):
            raise invalid(f"{where['entity_type']} '{where['entity_id']}': quantity_info.quantity.{name} must be a "
                          "non-negative integer.", **where, field=f"quantity_info.quantity.{name}")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        raise invalid(f"{where['entity_type']} '{where['entity_id']}': quantity_info.quantity.min_permitted {low} "
                      f"is above max_permitted {high}.", **where, field="quantity_info.quantity")


def _refs(where: dict[str, Any], name: str, ids: object, known: set[str], target: str) -> None:
    if not isinstance(ids, list):
        raise invalid(f"{where['entity_type']} '{where['entity_id']}': {name} must be a list.", **where, field=name)
    for ref in ids:
        if ref not in known:
            raise invalid(f"{where['entity_type']} '{where['entity_id']}': {name} refers to {target} '{ref}', "
                          "which is not in the payload.", **where, field=name, missing_id=ref)


def _availability(where: dict[str, Any], periods: object) -> None:
    if periods is None:
        return
    ok = isinstance(periods, list) and all(
        isinstance(day, dict) and day.get("day_of_week") in DAYS and isinstance(day.get("time_periods"), list)
        and all(isinstance(p, dict) and isinstance(p.get("start_time"), str) and isinstance(p.get("end_time"), str)
                and _CLOCK.match(p["start_time"]) and _CLOCK.match(p["end_time"]) for p in day["time_periods"])
        for day in periods)
    if not ok:
        raise invalid(f"menu '{where['entity_id']}': service_availability must be a list of {{day_of_week "
                      "(monday..sunday), time_periods: [{start_time, end_time} as HH:MM]}.",
                      **where, field="service_availability")


def validate_menu(body: dict[str, Any]) -> None:
    """Raises the first problem of a menu upload, as Uber's 400, naming the entity."""
    entities: dict[str, list[dict[str, Any]]] = {}
    for kind in ENTITY_TYPES:
        value = body.get(kind)
        if not isinstance(value, list):
            raise invalid(f"{kind} is required and must be an array (it may be empty).", field=kind)
        ids: set[str] = set()
        for n, entity in enumerate(value):
            entity_id = entity.get("id") if isinstance(entity, dict) else None
            if not isinstance(entity_id, str) or not entity_id:
                raise invalid(f"{kind}[{n}]: id must be a non-empty string.", entity_type=SINGULAR[kind],
                              field=f"{kind}[{n}].id")
            if entity_id in ids:
                raise invalid(f"{SINGULAR[kind]} '{entity_id}' appears twice in {kind}.",
                              entity_type=SINGULAR[kind], entity_id=entity_id, field="id")
            ids.add(entity_id)
        entities[kind] = value
    known = {kind: {e["id"] for e in entities[kind]} for kind in ENTITY_TYPES}

    for kind in ENTITY_TYPES:
        for entity in entities[kind]:
            where = {"entity_type": SINGULAR[kind], "entity_id": entity["id"]}
            _title(where, entity)
            _title(where, entity, "description", required=False)
            _quantity_info(where, entity)
            if kind == "menus":
                _refs(where, "category_ids", entity.get("category_ids", []), known["categories"], "category")
                _availability(where, entity.get("service_availability"))
            elif kind == "categories":
                listed = entity.get("entities", [])
                if not isinstance(listed, list) or not all(isinstance(e, dict) for e in listed):
                    raise invalid(f"category '{entity['id']}': entities must be a list of {{id, type}}.",
                                  **where, field="entities")
                _refs(where, "entities", [e.get("id") for e in listed], known["items"], "item")
            elif kind == "items":
                _price_info(where, entity.get("price_info"))
                groups = entity.get("modifier_group_ids", {"ids": []})
                group_ids = groups.get("ids", []) if isinstance(groups, dict) else groups
                _refs(where, "modifier_group_ids", group_ids, known["modifier_groups"], "modifier group")
            else:
                options = entity.get("modifier_options", [])
                if not isinstance(options, list) or not all(isinstance(o, dict) for o in options):
                    raise invalid(f"modifier_group '{entity['id']}': modifier_options must be a list of {{id, type}}.",
                                  **where, field="modifier_options")
                _refs(where, "modifier_options", [o.get("id") for o in options], known["items"], "item")


@real("menus")
async def upload_menu(request: Request) -> Response:
    state: State = request.app.state.standin
    store_id = request.path_params["store_id"]
    authorize(request, store_id, "eats.store")
    body = await _json_object(request)
    if isinstance(body.get("items"), list):
        request.state.call["items"] = len(body["items"])
    validate_menu(body)
    # "All entities that do not exist in your new payload will be removed."
    state.menus[store_id] = body
    return Response(status_code=204)


@real("items")
async def update_item(request: Request) -> Response:
    state: State = request.app.state.standin
    store_id, item_id = request.path_params["store_id"], request.path_params["item_id"]
    authorize(request, store_id, "eats.store")
    body = await _json_object(request)
    menu = state.menus.get(store_id)
    if menu is None:
        raise not_found(f"No menu has been uploaded for store {store_id}.")
    item = next((i for i in menu["items"] if i["id"] == item_id), None)
    if item is None:
        raise not_found(f"Item {item_id} not found.")
    where = {"entity_type": "item", "entity_id": item_id}
    if "price_info" in body:
        _price_info(where, body["price_info"])
    suspension = body.get("suspension_info")
    if suspension is not None:
        inner = suspension.get("suspension") if isinstance(suspension, dict) else None
        until = inner.get("suspend_until", 0) if isinstance(inner, dict) else None
        if not isinstance(suspension, dict) or (inner is not None and not _count(until)):
            raise invalid(f"item '{item_id}': suspension_info.suspension.suspend_until must be a non-negative "
                          "integer (unix seconds).", **where, field="suspension_info")
    # Sparse: only the fields sent change, each replaced as a whole.
    for name in ("price_info", "suspension_info"):
        if name in body:
            item[name] = body[name]
    return Response(status_code=204)


# ------------------------------------------------------------------------- orders

def _order(request: Request, *scopes: str) -> dict[str, Any]:
    state: State = request.app.state.standin
    # Authenticated first: an unknown token must not learn which orders exist.
    client = authorize(request, None, *scopes)
    order = state.orders.get(request.path_params["order_id"])
    if order is None:
        raise not_found("Order not found")
    if order["store"]["id"] not in client.store_ids:
        raise UberError(403, {"code": "user_not_allowed", "message": "User not allowed to access the order"})
    return order


@real("order")
async def get_order(request: Request) -> Response:
    return JSONResponse(_order(request, "eats.order", "eats.store.orders.read"))


async def _decide(request: Request, state_after: str) -> Response:
    state: State = request.app.state.standin
    order = _order(request, "eats.order")
    body = await _json_object(request)
    if state_after == "DENIED":
        reason = body.get("reason")
        if not (isinstance(reason, dict) and isinstance(reason.get("explanation"), str)):
            raise invalid("reason {explanation, code?, out_of_stock_items?, invalid_items?} is required.",
                          field="reason")
    elif not isinstance(body.get("reason", ""), str):
        raise invalid("reason must be a string.", field="reason")
    if order["current_state"] != "CREATED":
        raise UberError(409, {"code": "resource_status_conflict", "message": "Order status conflict"})
    order["current_state"] = state_after
    state.actions.setdefault(order["id"], []).append(
        {"action": "accept" if state_after == "ACCEPTED" else "deny", "body": body, "at": time.time()})
    return Response(status_code=204)


CANCEL_REASONS = frozenset({"OUT_OF_ITEMS", "KITCHEN_CLOSED", "CUSTOMER_CALLED_TO_CANCEL", "RESTAURANT_TOO_BUSY",
                            "CANNOT_COMPLETE_CUSTOMER_NOTE", "OTHER"})


@real("cancel")
async def cancel_order(request: Request) -> Response:
    """``POST /v1/eats/orders/{order_id}/cancel``: the restaurant cancels an order it accepted."""
    state: State = request.app.state.standin
    order = _order(request, "eats.order")
    body = await _json_object(request)
    if body.get("reason") not in CANCEL_REASONS:
        raise invalid(f"reason must be one of {', '.join(sorted(CANCEL_REASONS))}.", field="reason")
    if not isinstance(body.get("details", ""), str):
        raise invalid("details must be a string.", field="details")
    if order["current_state"] not in ("CREATED", "ACCEPTED"):
        raise not_found("Order not found or already in a terminal state")  # Uber's reference: 404
    order["current_state"] = "CANCELED"
    state.actions.setdefault(order["id"], []).append({"action": "cancel", "body": body, "at": time.time()})
    return Response(status_code=200)


@real("accept")
async def accept_order(request: Request) -> Response:
    return await _decide(request, "ACCEPTED")


@real("deny")
async def deny_order(request: Request) -> Response:
    return await _decide(request, "DENIED")


# -------------------------------------------------------------------- control API

def _control_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _control_body(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


async def post_client(request: Request) -> Response:
    state: State = request.app.state.standin
    body = await _control_body(request) or {}
    client_id, secret, stores = body.get("client_id"), body.get("client_secret"), body.get("store_ids", [])
    scopes = body.get("scopes", list(SCOPES))
    expires_in, limit = body.get("expires_in", DEFAULT_EXPIRES_IN), body.get("token_limit", TOKEN_LIMIT)
    if not (isinstance(client_id, str) and client_id and isinstance(secret, str) and secret):
        return _control_error("client_id and client_secret (non-empty strings) are required")
    if not (isinstance(stores, list) and all(isinstance(s, str) and s for s in stores)):
        return _control_error("store_ids must be a list of store ids")
    if not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
        return _control_error("scopes must be a list of strings")
    if not (_positive(expires_in) and _positive(limit)):
        return _control_error("expires_in and token_limit must be positive integers")
    old = state.clients.get(client_id)
    for access_token in old.live if old else []:
        state.tokens.pop(access_token, None)
    state.clients[client_id] = Client(client_id, secret, set(stores), frozenset(scopes), expires_in, limit)
    return JSONResponse({"client_id": client_id, "store_ids": sorted(stores), "scopes": sorted(scopes)})


async def get_clients(request: Request) -> Response:
    state: State = request.app.state.standin
    now = time.time()
    return JSONResponse({c.client_id: {
        "store_ids": sorted(c.store_ids), "scopes": sorted(c.scopes), "expires_in": c.expires_in,
        "token_requests": len([t for t in c.issued if t > now - TOKEN_WINDOW_S]),
        "live_tokens": len([t for t in c.live if t in state.tokens and state.tokens[t].expires_at > now]),
    } for c in state.clients.values()})


async def post_expire(request: Request) -> Response:
    """Expires every token (or those of ``client_id``) now, so a test sees Uber's 401 without waiting."""
    state: State = request.app.state.standin
    body = await _control_body(request) or {}
    expired = 0
    for value in state.tokens.values():
        if body.get("client_id") in (None, value.client_id) and value.expires_at > 0:
            value.expires_at, expired = 0, expired + 1
    return JSONResponse({"expired": expired})


async def post_fault(request: Request) -> Response:
    state: State = request.app.state.standin
    body = await _control_body(request) or {}
    mode, amount = body.get("mode"), body.get("count")
    paths, retry_after = body.get("paths", sorted(REAL_PATHS)), body.get("retry_after", 1)
    if mode not in FAULTS:
        return _control_error(f"mode must be one of {sorted(FAULTS)}")
    if amount is not None and not _positive(amount):
        return _control_error("count must be a positive integer")
    if not isinstance(paths, list) or not paths or not set(paths) <= REAL_PATHS:
        return _control_error(f"paths must be a non-empty subset of {sorted(REAL_PATHS)}")
    if not (isinstance(retry_after, int) and not isinstance(retry_after, bool) and retry_after >= 0):
        return _control_error("retry_after must be a non-negative integer (seconds)")
    state.fault = Fault(mode, amount, frozenset(paths), retry_after)
    return JSONResponse({"mode": mode, "count": amount, "paths": sorted(paths), "retry_after": retry_after})


async def get_menu(request: Request) -> Response:
    menu = request.app.state.standin.menus.get(request.path_params["store_id"])
    return JSONResponse(menu) if menu is not None else _control_error("no menu uploaded for this store", 404)


async def get_calls(request: Request) -> Response:
    return JSONResponse(request.app.state.standin.calls)


async def post_reset(request: Request) -> Response:
    request.app.state.standin.reset()
    return JSONResponse({"reset": True})


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency_code": currency, "formatted_amount": f"{amount / 100:.2f} {currency}"}


async def post_order(request: Request) -> Response:
    """Places an order at a store, in the shape GET /v2/eats/order/{id} answers; ``cart_items``
    default to one of the store's first uploaded item. Any other key overrides a field."""
    state: State = request.app.state.standin
    body = await _control_body(request)
    if body is None or not isinstance(body.get("store_id"), str):
        return _control_error("store_id is required")
    options = dict(body)
    store_id, currency = options.pop("store_id"), options.pop("currency", "USD")
    order_id = options.pop("id", None) or str(uuid.uuid4())
    lines = options.pop("cart_items", None)
    if lines is None:
        first = (state.menus.get(store_id, {}).get("items") or [DEFAULT_ITEM])[0]
        lines = [{"id": first["id"], "title": next(iter(first["title"]["translations"].values())), "quantity": 1,
                  "price": first["price_info"]["price"]}]
    if not isinstance(lines, list) or not all(isinstance(x, dict) and {"id", "quantity", "price"} <= x.keys()
                                              for x in lines):
        return _control_error("cart_items must be a list of {id, title?, quantity, price (minor units)}")
    items = [{"id": line["id"], "instance_id": str(uuid.uuid4()), "title": line.get("title", line["id"]),
              "external_data": line.get("external_data", line["id"]), "quantity": line["quantity"],
              "price": {"unit_price": _money(line["price"], currency),
                        "total_price": _money(line["price"] * line["quantity"], currency)},
              "selected_modifier_groups": line.get("selected_modifier_groups", [])} for line in lines]
    total = sum(line["price"] * line["quantity"] for line in lines)
    now = time.time()
    order = {
        "id": order_id, "display_id": str(next(state.display_ids)), "external_reference_id": "",
        "current_state": "CREATED", "type": "DELIVERY_BY_UBER",
        "store": {"id": store_id, "name": f"Store {store_id}", "external_reference_id": ""},
        "eater": {"first_name": "Ada", "phone": "+10000000000", "phone_code": "000 00 000"},
        "cart": {"items": items, "special_instructions": ""},
        "payment": {"charges": {"total": _money(total, currency), "sub_total": _money(total, currency)}},
        "placed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "estimated_ready_for_pickup_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 900)),
        **options,
    }
    state.orders[order_id] = order
    return JSONResponse(order)


async def get_orders(request: Request) -> Response:
    state: State = request.app.state.standin
    return JSONResponse([{**order, "actions": state.actions.get(order["id"], [])} for order in state.orders.values()])


def sign(secret: str, raw: bytes) -> str:
    """Uber's X-Uber-Signature: lowercase hex HMAC-SHA256 of the raw body, keyed with the client secret."""
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


async def post_webhook(request: Request) -> Response:
    """Sends Uber's webhook for ``store_id`` to ``url``, signed with the secret of the store's client
    (``client_id`` picks one when several share the store; ``secret`` forges the key). ``dry_run``
    answers what would be sent. Answers the receiver's {status_code, body} and what was sent."""
    state: State = request.app.state.standin
    body = await _control_body(request)
    if body is None or not all(isinstance(body.get(k), str) and body[k] for k in ("url", "event_type", "store_id")):
        return _control_error("url, event_type and store_id are required")
    store_id, event_type = body["store_id"], body["event_type"]
    clients = [c for c in state.clients.values() if store_id in c.store_ids
               and body.get("client_id") in (None, c.client_id)]
    if not clients and "secret" not in body:
        return _control_error(f"no client is linked to store {store_id}")
    secret = body.get("secret") or clients[0].client_secret
    resource_id = body.get("resource_id")
    if resource_id is None:
        if event_type.startswith("order"):
            store_orders = [o["id"] for o in state.orders.values() if o["store"]["id"] == store_id]
            if not store_orders:
                return _control_error("resource_id is required: the store has no orders")
            resource_id = store_orders[-1]
        else:
            resource_id = store_id
    base = str(request.base_url).rstrip("/")
    href = (f"{base}/v2/eats/order/{resource_id}" if event_type.startswith("order")
            else f"{base}/v1/eats/stores/{store_id}")
    event = {"event_id": str(uuid.uuid4()), "event_time": int(time.time()), "event_type": event_type,
             "meta": {"user_id": store_id, "resource_id": resource_id, "status": body.get("status", "pos")},
             "resource_href": href}
    if event_type == "orders.cancel" and not body.get("dry_run") and resource_id in state.orders:
        state.orders[resource_id]["current_state"] = "CANCELED"  # cancelled on Uber's side: the event says so
    raw = json.dumps(event, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-Uber-Signature": sign(secret, raw),
               "X-Environment": "sandbox"}
    return await standin_server.send_webhook(state, body["url"], raw, headers, dry_run=bool(body.get("dry_run")))


# ---------------------------------------------------------------------------- app

def create_app(state: State) -> Starlette:
    app = Starlette(lifespan=standin_server.lifespan, routes=[
        Route("/oauth/v2/token", token, methods=["POST"]),
        Route("/v2/eats/stores/{store_id}/menus", upload_menu, methods=["PUT"]),
        Route("/v2/eats/stores/{store_id}/menus/items/{item_id}", update_item, methods=["POST"]),
        Route("/v2/eats/order/{order_id}", get_order, methods=["GET"]),
        Route("/v1/eats/orders/{order_id}/accept_pos_order", accept_order, methods=["POST"]),
        Route("/v1/eats/orders/{order_id}/deny_pos_order", deny_order, methods=["POST"]),
        Route("/v1/eats/orders/{order_id}/cancel", cancel_order, methods=["POST"]),
        Route("/_standin/clients", post_client, methods=["POST"]),
        Route("/_standin/clients", get_clients, methods=["GET"]),
        Route("/_standin/expire", post_expire, methods=["POST"]),
        Route("/_standin/fault", post_fault, methods=["POST"]),
        Route("/_standin/stores/{store_id}/menu", get_menu, methods=["GET"]),
        Route("/_standin/calls", get_calls, methods=["GET"]),
        Route("/_standin/orders", post_order, methods=["POST"]),
        Route("/_standin/orders", get_orders, methods=["GET"]),
        Route("/_standin/webhook", post_webhook, methods=["POST"]),
        Route("/_standin/reset", post_reset, methods=["POST"]),
    ])
    app.state.standin = state
    return app


async def serve(port: int) -> None:
    state = State()
    await standin_server.serve(create_app(state), state.released, port, "ubereats-standin")


def main() -> None:
    standin_server.main(__doc__, 8071, serve)


if __name__ == "__main__":
    main()
