"""A DoorDash Marketplace stand-in: DoorDash's wire format (JWT-authenticated calls, menu create
and update, item availability, order confirmation and cancellation, store details; order,
order-cancellation and menu status webhooks carrying the store's Bearer token) on loopback,
for tests and the dev runner. Not DoorDash: in memory, no persistence, no security beyond
loopback. See scripts/doordash_standin.md for what it validates, what DoorDash's docs confirm
and what it chose.

    python -m scripts.doordash_standin --port 0
    # stdout, exactly one line once it accepts requests:
    doordash-standin ready http://127.0.0.1:41234
"""

from __future__ import annotations

import asyncio
import binascii
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scripts import standin_server
from scripts.standin_server import Fault

API = "/marketplace/api/v1"
MAX_LIFETIME_S = 1800  # exp - iat, DoorDash's ceiling
FAULTS = {"ok", "http500", "http429", "hang", "reject"}
REAL_PATHS = frozenset({"menus", "menu_update", "item_status", "confirm", "cancel", "store_details"})
DAYS = {"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"}
CANCEL_REASONS = {"ITEM_OUT_OF_STOCK", "STORE_CLOSED", "KITCHEN_BUSY", "OTHER"}
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_USER_AGENT = re.compile(r"^[A-Za-z0-9_]{1,64}/1\.0$")

Handler = Callable[[Request], Awaitable[Response]]


class DoorDashError(Exception):
    """An answer of a real path other than success; rendered in one place (``real``)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(body)
        self.status, self.body, self.headers = status, body, headers or {}

    def response(self) -> Response:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def invalid(field_name: str, error: str) -> DoorDashError:
    return DoorDashError(400, {"code": "validation_error", "message": "Validation Failed",
                               "field_errors": [{"field": field_name, "error": error}]})


def unauthorized(message: str) -> DoorDashError:
    return DoorDashError(401, {"code": "authentication_error", "message": message})


def not_found(message: str) -> DoorDashError:
    return DoorDashError(404, {"code": "not_found", "message": message})


@dataclass
class Developer:
    developer_id: str
    key_id: str
    key: bytes  # the signing secret, base64url-decoded
    store_ids: set[str]


@dataclass
class Store:
    store_id: str
    webhook_token: str
    webhook_url: str | None = None  # where menu status webhooks go (DoorDash's portal setting)
    menu_status: str = "SUCCESS"  # what the next menu jobs come to
    menu_id_in_answer: bool = True  # False: the create's answer names no menu (its status webhook does)
    item_status: dict[str, bool] = field(default_factory=dict)


@dataclass
class State(standin_server.Outbound):
    developers: dict[str, Developer] = field(default_factory=dict)
    stores: dict[str, Store] = field(default_factory=dict)
    menus: dict[str, dict[str, Any]] = field(default_factory=dict)  # menu id -> {id, store_id, body, ...}
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # order id -> confirmations, cancels
    webhooks: list[dict[str, Any]] = field(default_factory=list)  # menu status webhooks sent
    calls: list[dict[str, Any]] = field(default_factory=list)
    fault: Fault = field(default_factory=lambda: Fault("ok", None, REAL_PATHS))
    released: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    http: httpx.AsyncClient | None = None


    def reset(self) -> None:
        for collection in (self.developers, self.stores, self.menus, self.orders, self.actions):
            collection.clear()
        self.webhooks.clear()
        self.calls.clear()
        self.fault = Fault("ok", None, REAL_PATHS)
        self.released.set()
        self.released = asyncio.Event()


# ---------------------------------------------------------------------------- plumbing

async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise invalid("body", "the body is not valid JSON") from None


async def _first_item_id(request: Request) -> str | None:
    """The first item of a menu body, for the reject fault."""
    try:
        body = json.loads(await request.body())
        return str(body["menu"]["categories"][0]["items"][0]["merchant_supplied_id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


async def _injected(request: Request, path: str) -> None:
    state: State = request.app.state.standin
    mode = state.fault.take(path)
    request.state.call["fault"] = None if mode == "ok" else mode
    if mode == "http500":
        raise DoorDashError(500, {"code": "internal_error", "message": "Internal Server Error"})
    if mode == "http429":
        raise DoorDashError(429, {"code": "rate_limit_exceeded", "message": "Too many requests"},
                            {"Retry-After": str(state.fault.retry_after)})
    if mode == "hang":
        await state.released.wait()
        raise DoorDashError(503, {"code": "service_unavailable", "message": "stand-in reset while this call hung"})
    if mode == "reject":
        item_id = await _first_item_id(request) if path in ("menus", "menu_update") else None
        where = f"menu.categories[0].items[0] ({item_id})" if item_id else "body"
        raise invalid(where, "Injected rejection by the stand-in")


def real(path: str) -> Callable[[Handler], Handler]:
    """One of DoorDash's paths: logged with its status, authenticated, faults applied, and a
    DoorDashError rendered as its answer."""
    def wrap(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            state: State = request.app.state.standin
            call: dict[str, Any] = {"method": request.method, "path": request.url.path, "name": path,
                                    "status": None, "fault": None, "at": time.time()}
            state.calls.append(call)
            request.state.call = call
            try:
                request.state.developer = authenticate(request)
                await _injected(request, path)
                response = await handler(request)
            except DoorDashError as exc:
                response = exc.response()
            call["status"] = response.status_code
            return response
        return endpoint
    return wrap


def authenticate(request: Request) -> Developer:
    """The developer whose JWT this is, checked as DoorDash documents it: header alg HS256,
    typ JWT, dd-ver DD-JWT-V1; claims aud doordash, iss a registered developer, kid its key,
    iat not in the future, exp after now and at most 1800 s after iat; the signature; and the
    auth-version: v2 and User-Agent headers."""
    state: State = request.app.state.standin
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Missing bearer token")
    if request.headers.get("auth-version") != "v2":
        raise unauthorized("auth-version: v2 is required")
    if not _USER_AGENT.match(request.headers.get("user-agent", "")):
        raise unauthorized("User-Agent must be <provider_type>/1.0")
    try:
        header = jwt.get_unverified_header(token.strip())
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise unauthorized("The token is not a JWT") from None
    if header.get("alg") != "HS256" or header.get("typ") != "JWT" or header.get("dd-ver") != "DD-JWT-V1":
        raise unauthorized("The JWT header must be {alg: HS256, typ: JWT, dd-ver: DD-JWT-V1}")
    developer = state.developers.get(str(claims.get("iss")))
    if developer is None or claims.get("kid") != developer.key_id:
        raise unauthorized("Unknown developer or key")
    try:
        verified = jwt.decode(token.strip(), developer.key, algorithms=["HS256"], audience="doordash",
                              options={"require": ["aud", "iss", "iat", "exp"]})
    except jwt.InvalidTokenError as exc:
        raise unauthorized(f"Invalid token: {type(exc).__name__}") from None
    iat, exp = verified["iat"], verified["exp"]
    if not (isinstance(iat, int) and isinstance(exp, int)) or iat > time.time() + 5 or exp - iat > MAX_LIFETIME_S:
        raise unauthorized("iat must not be in the future and exp at most 1800 s after iat")
    request.state.call["developer_id"] = developer.developer_id
    return developer


def owned_store(request: Request, store_id: Any) -> Store:
    developer: Developer = request.state.developer
    state: State = request.app.state.standin
    store = state.stores.get(store_id) if isinstance(store_id, str) else None
    if store is None or store_id not in developer.store_ids:
        raise not_found(f"Store {store_id} not found")
    return store


# -------------------------------------------------------------------------- menus

def _text(where: str, value: Any, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(where, "must be a non-empty string" if required else "must be a string")


def _int(where: str, value: Any, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise invalid(where, f"must be an integer >= {low}")
    return value


def _bool(where: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise invalid(where, "must be a boolean")


def _list(where: str, value: Any, *, non_empty: bool = False) -> list[Any]:
    if not isinstance(value, list) or (non_empty and not value):
        raise invalid(where, "must be a non-empty list" if non_empty else "must be a list")
    return value


def _object(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(where, "must be an object")
    return value


def _unique(where: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for ref in ids:
        if ref in seen:
            raise invalid(where, f"merchant_supplied_id {ref!r} is used twice")
        seen.add(ref)


def _hours(body: dict[str, Any]) -> None:
    for n, hours in enumerate(_list("open_hours", body.get("open_hours"))):
        where = f"open_hours[{n}]"
        hours = _object(where, hours)
        if hours.get("day_index") not in DAYS:
            raise invalid(f"{where}.day_index", f"must be one of {sorted(DAYS)}")
        for name in ("start_time", "end_time"):
            if not isinstance(hours.get(name), str) or not _CLOCK.match(hours[name]):
                raise invalid(f"{where}.{name}", "must be HH:MM")
    _list("special_hours", body.get("special_hours"))


def _option(where: str, option: Any) -> str:
    option = _object(where, option)
    _text(f"{where}.name", option.get("name"))
    _text(f"{where}.merchant_supplied_id", option.get("merchant_supplied_id"))
    _int(f"{where}.price", option.get("price"))
    _bool(f"{where}.active", option.get("active", True))
    return str(option["merchant_supplied_id"])


def _extra(where: str, extra: Any) -> str:
    extra = _object(where, extra)
    _text(f"{where}.name", extra.get("name"))
    _text(f"{where}.merchant_supplied_id", extra.get("merchant_supplied_id"))
    low = _int(f"{where}.min_num_options", extra.get("min_num_options", 0))
    high = _int(f"{where}.max_num_options", extra.get("max_num_options", 1), 1)
    options = _list(f"{where}.options", extra.get("options"), non_empty=True)
    if low > high or low > len(options):
        raise invalid(f"{where}.min_num_options", f"{low} is above max_num_options or the number of options")
    _unique(f"{where}.options", [_option(f"{where}.options[{n}]", o) for n, o in enumerate(options)])
    return str(extra["merchant_supplied_id"])


def _item(where: str, item: Any) -> str:
    item = _object(where, item)
    _text(f"{where}.name", item.get("name"))
    _text(f"{where}.description", item.get("description"), required=False)
    _text(f"{where}.merchant_supplied_id", item.get("merchant_supplied_id"))
    _bool(f"{where}.active", item.get("active", True))
    _int(f"{where}.price", item.get("price"))
    tax_rate = item.get("tax_rate")
    if tax_rate is not None and (not isinstance(tax_rate, int | float) or isinstance(tax_rate, bool)
                                 or not 0 <= tax_rate <= 100):
        raise invalid(f"{where}.tax_rate", "must be a percentage between 0 and 100")
    extras = _list(f"{where}.extras", item.get("extras", []))
    _unique(f"{where}.extras", [_extra(f"{where}.extras[{n}]", e) for n, e in enumerate(extras)])
    return str(item["merchant_supplied_id"])


def validate_menu(raw: Any) -> dict[str, Any]:
    """A menu body as DoorDash's create and update take it; raises a 400 naming the field."""
    body = _object("body", raw)
    store = _object("store", body.get("store"))
    _text("store.merchant_supplied_id", store.get("merchant_supplied_id"))
    _text("store.provider_type", store.get("provider_type"))
    _text("reference", body.get("reference"), required=False)
    _hours(body)
    menu = _object("menu", body.get("menu"))
    _text("menu.name", menu.get("name"))
    categories = _list("menu.categories", menu.get("categories"))
    items: list[str] = []
    for n, category in enumerate(categories):
        where = f"menu.categories[{n}]"
        category = _object(where, category)
        _text(f"{where}.name", category.get("name"))
        _text(f"{where}.merchant_supplied_id", category.get("merchant_supplied_id"))
        _bool(f"{where}.active", category.get("active", True))
        _int(f"{where}.sort_id", category.get("sort_id", 0))
        entries = _list(f"{where}.items", category.get("items"), non_empty=True)
        items += [_item(f"{where}.items[{i}]", item) for i, item in enumerate(entries)]
    _unique("menu.categories", [str(c["merchant_supplied_id"]) for c in categories])
    _unique("menu.categories[].items", items)
    return body


def _menu_entities(body: dict[str, Any]) -> set[str]:
    """Every item's and option's merchant_supplied_id in a stored menu."""
    found: set[str] = set()
    for category in body["menu"]["categories"]:
        for item in category["items"]:
            found.add(item["merchant_supplied_id"])
            found |= {o["merchant_supplied_id"] for e in item.get("extras", []) for o in e["options"]}
    return found


async def _menu_status(state: State, store: Store, kind: str, menu_id: str, reference: str | None) -> None:
    """DoorDash's menu status webhook, sent once the job is done (at once here)."""
    if store.webhook_url is None:
        return
    event = {"event": {"type": kind, "status": store.menu_status, "reference": reference,
                       "details": None if store.menu_status == "SUCCESS" else "Store hours are invalid"},
             "store": {"merchant_supplied_id": store.store_id}, "menu": {"id": menu_id}}
    sent: dict[str, Any] = {"url": store.webhook_url, "body": event}
    try:
        answer = await state.client().post(store.webhook_url, json=event,
                                           headers={"Authorization": f"Bearer {store.webhook_token}"})
        sent["status_code"] = answer.status_code
    except httpx.HTTPError as exc:
        sent["error"] = repr(exc)
    state.webhooks.append(sent)


def _later(state: State, job: Awaitable[None]) -> None:
    task: asyncio.Task[None] = asyncio.ensure_future(job)
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


@real("menus")
async def create_menu(request: Request) -> Response:
    """A new menu every time, even for a store that has one: DoorDash's "duplicate menus"."""
    state: State = request.app.state.standin
    body = validate_menu(await _json(request))
    store = owned_store(request, body["store"]["merchant_supplied_id"])
    menu_id, reference = str(uuid.uuid4()), body.get("reference") or str(uuid.uuid4())
    state.menus[menu_id] = {"id": menu_id, "store_id": store.store_id, "body": body, "versions": 1}
    request.state.call["menu_id"] = menu_id
    _later(state, _menu_status(state, store, "MenuCreate", menu_id, reference))
    answer = {"reference": reference, "status": "received", **({"menu_id": menu_id} if store.menu_id_in_answer else {})}
    return JSONResponse(answer, status_code=202)


@real("menu_update")
async def update_menu(request: Request) -> Response:
    state: State = request.app.state.standin
    body = validate_menu(await _json(request))
    store = owned_store(request, body["store"]["merchant_supplied_id"])
    menu = state.menus.get(request.path_params["menu_id"])
    if menu is None or menu["store_id"] != store.store_id:
        raise not_found(f"Menu {request.path_params['menu_id']} not found for this store")
    menu["body"], menu["versions"] = body, menu["versions"] + 1
    request.state.call["menu_id"] = menu["id"]
    reference = body.get("reference") or str(uuid.uuid4())
    _later(state, _menu_status(state, store, "MenuUpdate", menu["id"], reference))
    return JSONResponse({"reference": reference, "menu_id": menu["id"], "status": "received"}, status_code=202)


@real("item_status")
async def item_status(request: Request) -> Response:
    """``[{merchant_supplied_id, is_active}]``; answered per item (400 when any is unknown)."""
    state: State = request.app.state.standin
    store = owned_store(request, request.path_params["store_id"])
    body = _list("body", await _json(request), non_empty=True)
    known = set().union(*(_menu_entities(m["body"]) for m in state.menus.values() if m["store_id"] == store.store_id))
    results, failed = [], False
    for n, entry in enumerate(body):
        entry = _object(f"[{n}]", entry)
        _text(f"[{n}].merchant_supplied_id", entry.get("merchant_supplied_id"))
        _bool(f"[{n}].is_active", entry.get("is_active"))
        ok = entry["merchant_supplied_id"] in known
        failed = failed or not ok
        results.append({"merchant_supplied_id": entry["merchant_supplied_id"],
                        "response": "Success" if ok else "Server Error"})
    if not failed:
        store.item_status.update({e["merchant_supplied_id"]: e["is_active"] for e in body})
    request.state.call["items"] = len(body)
    return JSONResponse(results, status_code=400 if failed else 200)


@real("store_details")
async def store_details(request: Request) -> Response:
    store = owned_store(request, request.path_params["store_id"])
    return JSONResponse({"merchant_supplied_id": store.store_id, "name": f"Store {store.store_id}",
                         "is_active": True, "status": "open"})


# -------------------------------------------------------------------------- orders

def _order(request: Request) -> dict[str, Any]:
    state: State = request.app.state.standin
    order = state.orders.get(request.path_params["order_id"])
    if order is None:
        raise not_found(f"Order {request.path_params['order_id']} not found")
    owned_store(request, order["store"]["merchant_supplied_id"])
    return order


@real("confirm")
async def confirm_order(request: Request) -> Response:
    """The order confirmation: ``{merchant_supplied_id, order_status: success|fail, failure_reason?, prep_time?}``."""
    state: State = request.app.state.standin
    order = _order(request)
    body = _object("body", await _json(request))
    _text("merchant_supplied_id", body.get("merchant_supplied_id"))
    if body.get("order_status") not in ("success", "fail"):
        raise invalid("order_status", "must be success or fail")
    if body["order_status"] == "fail":
        _text("failure_reason", body.get("failure_reason"))
    if order["status"] != "NEW":
        raise DoorDashError(409, {"code": "conflict", "message": f"The order is already {order['status']}"})
    order["status"] = "CONFIRMED" if body["order_status"] == "success" else "FAILED"
    state.actions.setdefault(order["id"], []).append({"action": "confirm", "body": body})
    return JSONResponse({"id": order["id"], "status": order["status"]}, status_code=202)


@real("cancel")
async def cancel_order(request: Request) -> Response:
    state: State = request.app.state.standin
    order = _order(request)
    body = _object("body", await _json(request))
    if body.get("cancel_reason") not in CANCEL_REASONS:
        raise invalid("cancel_reason", f"must be one of {sorted(CANCEL_REASONS)}")
    _text("cancel_details", body.get("cancel_details"), required=False)
    if order["status"] == "CANCELLED":
        raise not_found("The order is already cancelled")
    order["status"] = "CANCELLED"
    state.actions.setdefault(order["id"], []).append({"action": "cancel", "body": body})
    return JSONResponse({"id": order["id"], "status": order["status"]}, status_code=202)


# ---------------------------------------------------------------------- control API

def _control_error(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _control_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(s, str) and s for s in value)


async def post_developer(request: Request) -> Response:
    """Registers (or replaces) a developer's access key and its stores: ``{developer_id, key_id,
    signing_secret (base64url), stores: [{store_id, webhook_token, webhook_url?, menu_status?,
    menu_id_in_answer?}]}``."""
    state: State = request.app.state.standin
    body = await _control_body(request)
    if not all(isinstance(body.get(k), str) and body[k] for k in ("developer_id", "key_id", "signing_secret")):
        return _control_error("developer_id, key_id and signing_secret are required")
    try:
        key = jwt.utils.base64url_decode(body["signing_secret"])
    except (binascii.Error, ValueError):
        return _control_error("signing_secret must be base64url")
    stores = body.get("stores", [])
    if not isinstance(stores, list) or not all(isinstance(s, dict) and isinstance(s.get("store_id"), str)
                                               and isinstance(s.get("webhook_token"), str) for s in stores):
        return _control_error("stores must be a list of {store_id, webhook_token, webhook_url?}")
    for s in stores:
        state.stores[s["store_id"]] = Store(s["store_id"], s["webhook_token"], s.get("webhook_url"),
                                            s.get("menu_status", "SUCCESS"), s.get("menu_id_in_answer", True))
    state.developers[body["developer_id"]] = Developer(body["developer_id"], body["key_id"], key,
                                                       {s["store_id"] for s in stores})
    return JSONResponse({"developer_id": body["developer_id"], "store_ids": sorted(s["store_id"] for s in stores)})


async def post_fault(request: Request) -> Response:
    state: State = request.app.state.standin
    body = await _control_body(request)
    mode, amount = body.get("mode"), body.get("count")
    paths, retry_after = body.get("paths", sorted(REAL_PATHS)), body.get("retry_after", 1)
    if mode not in FAULTS:
        return _control_error(f"mode must be one of {sorted(FAULTS)}")
    if amount is not None and not (isinstance(amount, int) and amount > 0):
        return _control_error("count must be a positive integer")
    if not _strings(paths) or not paths or not set(paths) <= REAL_PATHS:
        return _control_error(f"paths must be a non-empty subset of {sorted(REAL_PATHS)}")
    if not (isinstance(retry_after, int) and retry_after >= 0):
        return _control_error("retry_after must be a non-negative integer (seconds)")
    state.fault = Fault(mode, amount, frozenset(paths), retry_after)
    return JSONResponse({"mode": mode, "count": amount, "paths": sorted(paths), "retry_after": retry_after})


async def get_menus(request: Request) -> Response:
    """Every menu created, in order: {id, store_id, body, versions}."""
    return JSONResponse(list(request.app.state.standin.menus.values()))


async def get_store(request: Request) -> Response:
    store = request.app.state.standin.stores.get(request.path_params["store_id"])
    if store is None:
        return _control_error("no such store", 404)
    return JSONResponse({"store_id": store.store_id, "item_status": store.item_status})


async def get_calls(request: Request) -> Response:
    return JSONResponse(request.app.state.standin.calls)


async def get_webhooks(request: Request) -> Response:
    """The menu status webhooks sent: {url, body, status_code | error}."""
    return JSONResponse(request.app.state.standin.webhooks)


async def post_reset(request: Request) -> Response:
    request.app.state.standin.reset()
    return JSONResponse({"reset": True})


async def post_order(request: Request) -> Response:
    """Places an order at a store, as DoorDash's OrderCreate webhook carries it: ``items`` are
    ``[{merchant_supplied_id, name?, quantity, price, extras?}]`` (cents); any other key overrides."""
    state: State = request.app.state.standin
    body = await _control_body(request)
    options = dict(body)
    store_id, items = options.pop("store_id", None), options.pop("items", None)
    if not isinstance(store_id, str) or store_id not in state.stores:
        return _control_error("store_id must be a registered store")
    if not isinstance(items, list) or not all(isinstance(x, dict) and {"merchant_supplied_id", "quantity", "price"}
                                              <= x.keys() for x in items):
        return _control_error("items must be a list of {merchant_supplied_id, name?, quantity, price, extras?}")
    lines = [{"name": x.get("name", x["merchant_supplied_id"]), "extras": [], "special_instructions": "", **x}
             for x in items]
    subtotal = sum(x["price"] * x["quantity"] + sum(o["price"] * o.get("quantity", 1) * x["quantity"]
                                                   for e in x.get("extras", []) for o in e["options"]) for x in items)
    order = {
        "id": str(uuid.uuid4()), "status": "NEW", "subtotal": subtotal, "tax": 0, "tip_amount": 0,
        "delivery_fee": 299, "is_pickup": False, "order_special_instructions": "",
        "estimated_pickup_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 900)),
        "consumer": {"first_name": "Kelley", "last_name": "B", "phone": "1231234567"},
        "store": {"merchant_supplied_id": store_id, "provider_type": "tabletop", "timezone": "Asia/Kolkata"},
        "categories": [{"merchant_supplied_id": "standin-category", "name": "Ordered", "items": lines}],
        "is_tax_remitted_by_doordash": False, **options,
    }
    state.orders[order["id"]] = order
    return JSONResponse(order)


async def get_orders(request: Request) -> Response:
    state: State = request.app.state.standin
    return JSONResponse([{**order, "actions": state.actions.get(order["id"], [])} for order in state.orders.values()])


def _webhook_body(state: State, body: dict[str, Any]) -> dict[str, Any] | str:
    """The body DoorDash sends for ``kind`` (order, cancel) of ``order_id``, or why it cannot."""
    order = state.orders.get(body.get("order_id", ""))
    if order is None:
        return "order_id must name an order placed here"
    if body.get("kind") == "cancel":
        actions = state.actions.get(order["id"], [])
        ours = next((a["body"]["merchant_supplied_id"] for a in actions if a["action"] == "confirm"), None)
        order["status"] = "CANCELLED"
        return {"external_order_id": order["id"], "client_order_id": ours, "store": order["store"], "is_asap": True}
    return {"event": {"type": "OrderCreate", "status": "NEW"},
            "order": {k: v for k, v in order.items() if k != "status"}}


async def post_webhook(request: Request) -> Response:
    """Sends DoorDash's webhook for an order (``kind`` order: OrderCreate; cancel: the order
    cancellation) to ``url`` with the store's Bearer token (``token`` forges another).
    ``dry_run`` answers what would be sent. Answers {status_code, body, sent}."""
    state: State = request.app.state.standin
    body = await _control_body(request)
    if not isinstance(body.get("url"), str) or body.get("kind") not in ("order", "cancel"):
        return _control_error("url and kind (order or cancel) are required")
    event = _webhook_body(state, body)
    if isinstance(event, str):
        return _control_error(event)
    store = state.stores[event["store"]["merchant_supplied_id"] if "store" in event
                         else event["order"]["store"]["merchant_supplied_id"]]
    token = body.get("token", store.webhook_token)
    raw = json.dumps(event, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return await standin_server.send_webhook(state, body["url"], raw, headers, dry_run=bool(body.get("dry_run")))


# ---------------------------------------------------------------------------- app

@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    state: State = app.state.standin
    state.released.set()
    for task in list(state.tasks):
        task.cancel()
    if state.http is not None:
        await state.http.aclose()


def create_app(state: State) -> Starlette:
    app = Starlette(lifespan=standin_server.lifespan, routes=[
        Route(f"{API}/menus", create_menu, methods=["POST"]),
        Route(f"{API}/menus/{{menu_id}}", update_menu, methods=["PATCH"]),
        Route(f"{API}/stores/{{store_id}}/item_status", item_status, methods=["PATCH"]),
        Route(f"{API}/stores/{{store_id}}/store_details", store_details, methods=["GET"]),
        Route(f"{API}/orders/{{order_id}}", confirm_order, methods=["PATCH"]),
        Route(f"{API}/orders/{{order_id}}/cancellation", cancel_order, methods=["PATCH"]),
        Route("/_standin/developers", post_developer, methods=["POST"]),
        Route("/_standin/fault", post_fault, methods=["POST"]),
        Route("/_standin/menus", get_menus, methods=["GET"]),
        Route("/_standin/stores/{store_id}", get_store, methods=["GET"]),
        Route("/_standin/calls", get_calls, methods=["GET"]),
        Route("/_standin/webhooks", get_webhooks, methods=["GET"]),
        Route("/_standin/orders", post_order, methods=["POST"]),
        Route("/_standin/orders", get_orders, methods=["GET"]),
        Route("/_standin/webhook", post_webhook, methods=["POST"]),
        Route("/_standin/reset", post_reset, methods=["POST"]),
    ])
    app.state.standin = state
    return app


async def serve(port: int) -> None:
    state = State()
    await standin_server.serve(create_app(state), state.released, port, "doordash-standin")


def main() -> None:
    standin_server.main(__doc__, 8073, serve)


if __name__ == "__main__":
    main()
