"""A Grubhub stand-in: Grubhub's POS API wire format (MAC-signed requests with the partner key,
menu ingestion, the menu downloaded from the request's menu_url as Grubhub does, and the job's
status, the merchant's normalized menu, order status) on loopback,
for tests and the dev runner, and Grubhub's webhooks to us (signed with the merchant's webhook
secret). Not Grubhub: in memory, no persistence, no security beyond loopback. See
scripts/grubhub_standin.md for what it validates and what is verified or assumed.

    python -m scripts.grubhub_standin --port 0
    # stdout, exactly one line once it accepts requests:
    grubhub-standin ready http://127.0.0.1:41234
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scripts import standin_server
from scripts.standin_server import Fault

FAULTS = {"ok", "http500", "http429", "hang", "reject", "down"}
REAL_PATHS = frozenset({"ingestion", "job", "menu", "status"})
# Verified in Grubhub's Example Order article; anything else is refused until a sandbox names it.
ORDER_STATUSES = frozenset({"CONFIRMED", "REJECTED"})
_MAC = re.compile(r'^MAC id="(?P<id>[^"]+)",\s*nonce="(?P<nonce>[^"]+)",\s*bodyhash="(?P<bodyhash>[^"]*)",'
                  r'\s*mac="(?P<mac>[^"]+)"$')
STANDIN_JOB_KEYS = frozenset({"removed", "menu_url", "field"})  # /_standin/jobs only
ENTITY_ARRAYS = ("tax_rates", "menu_sections", "items", "modifier_prompts", "modifier_lists", "modifiers",
                 "availability_overrides")

Handler = Callable[[Request], Awaitable[Response]]


class GrubhubError(Exception):
    """An answer of a real path other than success, in Grubhub's error shape {error, message, status}."""

    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None,
                 **extra: Any):
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        self.body = {"error": error, "message": message, "status": status, **extra}

    def response(self) -> Response:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def invalid(where: str, message: str) -> GrubhubError:
    return GrubhubError(400, "invalid_request", f"{where}: {message}", field=where)


@dataclass
class Client:
    partner_key: str
    client_id: str  # as in the MAC id: sv:v1:<client id>
    secret_key: str
    merchant_ids: set[str]
    webhook_secret: str


@dataclass
class State(standin_server.Outbound):
    clients: dict[str, Client] = field(default_factory=dict)
    nonces: set[str] = field(default_factory=set)
    menus: dict[str, dict[str, Any]] = field(default_factory=dict)  # merchant -> its ingested menu
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    fault: Fault = field(default_factory=lambda: Fault("ok", None, REAL_PATHS))
    released: asyncio.Event = field(default_factory=asyncio.Event)
    http: httpx.AsyncClient | None = None


    def reset(self) -> None:
        self.clients.clear()
        self.nonces.clear()
        self.menus.clear()
        self.jobs.clear()
        self.orders.clear()
        self.calls.clear()
        self.fault = Fault("ok", None, REAL_PATHS)
        self.released.set()
        self.released = asyncio.Event()


def mac_id(client_id: str) -> str:
    return client_id if client_id.startswith("sv:v1:") else f"sv:v1:{client_id}"


# ------------------------------------------------------------------------ authentication

def expected_mac(secret_key: str, nonce: str, method: str, request_uri: str, host: str, port: int,
                 bodyhash: str) -> str:
    """The IETF MAC draft's normalized string (nonce, method, request-uri, host, port, bodyhash,
    ext), HMAC-SHA256 keyed with the base64-decoded secret key, base64: ASSUMED, docs/grubhub.md."""
    normalized = f"{nonce}\n{method.upper()}\n{request_uri}\n{host.lower()}\n{port}\n{bodyhash}\n\n"
    key = base64.b64decode(secret_key)
    return base64.b64encode(hmac.new(key, normalized.encode(), hashlib.sha256).digest()).decode()


def _host_port(request: Request) -> tuple[str, int]:
    host, _, port = request.headers.get("host", "").partition(":")
    return host, int(port) if port.isdigit() else 80


def authenticate(request: Request, raw: bytes, merchant_id: str | None) -> Client:
    """The registered client that signed this request; 401 for any flaw, 403 when it does not
    hold ``merchant_id``."""
    state: State = request.app.state.standin

    def refuse(why: str) -> GrubhubError:
        request.state.call["auth"] = why
        return GrubhubError(401, "unauthorized", f"Authentication failed: {why}")

    partner_key = request.headers.get("x-gh-partner-key", "")
    match = _MAC.match(request.headers.get("authorization", "").strip())
    if match is None:
        raise refuse("Authorization must be MAC id=\"...\",nonce=\"...\",bodyhash=\"...\",mac=\"...\"")
    client = state.clients.get(match["id"])
    if client is None or not hmac.compare_digest(client.partner_key.encode(), partner_key.encode()):
        raise refuse("unknown client id or X-GH-PARTNER-KEY")
    bodyhash = base64.b64encode(hashlib.sha256(raw).digest()).decode() if raw else ""
    if not hmac.compare_digest(bodyhash.encode(), match["bodyhash"].encode()):
        raise refuse("bodyhash does not match the body")
    host, port = _host_port(request)
    uri = request.scope["raw_path"].decode() + (f"?{request.scope['query_string'].decode()}"
                                                if request.scope["query_string"] else "")
    mac = expected_mac(client.secret_key, match["nonce"], request.method, uri, host, port, bodyhash)
    if not hmac.compare_digest(mac.encode(), match["mac"].encode()):
        raise refuse("mac does not match the request")
    if match["nonce"] in state.nonces:
        raise refuse("nonce already used")
    state.nonces.add(match["nonce"])
    request.state.call["client_id"] = client.client_id
    if merchant_id is not None and merchant_id not in client.merchant_ids:
        raise GrubhubError(403, "forbidden", f"Merchant {merchant_id} is not linked to this client")
    return client


async def _injected(request: Request, path: str) -> Response | None:
    state: State = request.app.state.standin
    mode = state.fault.take(path)
    request.state.call["fault"] = None if mode == "ok" else mode
    if mode == "http500":
        raise GrubhubError(500, "internal_error", "Internal Server Error")
    if mode == "http429":
        raise GrubhubError(429, "too_many_requests", "Rate limit exceeded",
                           {"Retry-After": str(state.fault.retry_after)})
    if mode == "down":
        raise GrubhubError(503, "unavailable", "Service Unavailable")
    if mode == "hang":
        await state.released.wait()
        return JSONResponse({"error": "unavailable", "message": "stand-in reset while this call hung",
                             "status": 503}, status_code=503)
    if mode == "reject":
        raise invalid("items[0]", "Injected rejection by the stand-in.")
    return None


def real(path: str) -> Callable[[Handler], Handler]:
    """One of Grubhub's paths: logged with its status, faults first, errors rendered in one place."""
    def wrap(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            state: State = request.app.state.standin
            call: dict[str, Any] = {"method": request.method, "path": request.url.path, "name": path,
                                    "status": None, "fault": None, "at": time.time()}
            state.calls.append(call)
            request.state.call = call
            try:
                response = await _injected(request, path) or await handler(request)
            except GrubhubError as exc:
                response = exc.response()
            call["status"] = response.status_code
            return response
        return endpoint
    return wrap


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise invalid("body", "The body is not valid JSON.") from None


# ------------------------------------------------------------------------------ menus

def _text(where: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise invalid(where, "must be a non-empty string")


def _number(where: str, value: Any, *, high: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (high and value > high):
        raise invalid(where, f"must be a number from 0{f' to {high}' if high else ''}")


def _refs(where: str, value: Any, known: set[str]) -> None:
    if not isinstance(value, list):
        raise invalid(where, "must be a list of external_id values")
    for n, ref in enumerate(value):
        if ref not in known:
            raise invalid(f"{where}[{n}]", f"refers to {ref!r}, which is not in the menu")


def validate_menu(menu: Any) -> dict[str, Any]:
    """The menu, or its first problem raised as a 400 naming the field."""
    if not isinstance(menu, dict):
        raise invalid("menu", "must be a PosNormalizedMenu object")
    info = menu.get("menu_info")
    if not isinstance(info, dict) or not re.fullmatch(r"[A-Z]{3}", str(info.get("currency", ""))):
        raise invalid("menu_info.currency", "is required (ISO 4217)")
    ids: dict[str, set[str]] = {}
    for kind in ENTITY_ARRAYS:
        entities = menu.get(kind, [])
        if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
            raise invalid(kind, "must be a list of objects")
        ids[kind] = set()
        for n, entity in enumerate(entities):
            _text(f"{kind}[{n}].external_id", entity.get("external_id"))
            _text(f"{kind}[{n}].name", entity.get("name"))
            if entity["external_id"] in ids[kind]:
                raise invalid(f"{kind}[{n}].external_id", f"{entity['external_id']!r} is used twice")
            ids[kind].add(entity["external_id"])
    _refs("menu_info.sections", info.get("sections", []), ids["menu_sections"])
    for n, rate in enumerate(menu.get("tax_rates", [])):
        _number(f"tax_rates[{n}].rate", rate.get("rate"), high=1)
    for n, section in enumerate(menu.get("menu_sections", [])):
        _refs(f"menu_sections[{n}].items", section.get("items", []), ids["items"])
    for n, item in enumerate(menu.get("items", [])):
        _number(f"items[{n}].price", item.get("price"))
        if "tax_rate" in item and item["tax_rate"] not in ids["tax_rates"]:
            raise invalid(f"items[{n}].tax_rate", f"refers to {item['tax_rate']!r}, which is not in tax_rates")
        _refs(f"items[{n}].modifier_prompts", item.get("modifier_prompts", []), ids["modifier_prompts"])
        _refs(f"items[{n}].availability_override", [item["availability_override"]] if "availability_override"
              in item else [], ids["availability_overrides"])
    for n, prompt in enumerate(menu.get("modifier_prompts", [])):
        _refs(f"modifier_prompts[{n}].modifier_list", [prompt.get("modifier_list")], ids["modifier_lists"])
        model = prompt.get("default_selection_model", {})
        low, high = model.get("minimum_quantity", 0), model.get("maximum_quantity", 1)
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high and high >= 1):
            raise invalid(f"modifier_prompts[{n}].default_selection_model",
                          "needs 0 <= minimum_quantity <= maximum_quantity and maximum_quantity >= 1")
    for n, listed in enumerate(menu.get("modifier_lists", [])):
        _refs(f"modifier_lists[{n}].modifiers", listed.get("modifiers", []), ids["modifiers"])
    for n, modifier in enumerate(menu.get("modifiers", [])):
        _number(f"modifiers[{n}].default_price", modifier.get("default_price"))
        _refs(f"modifiers[{n}].availability_override", [modifier["availability_override"]] if "availability_override"
              in modifier else [], ids["availability_overrides"])
    return menu


def _removed(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """External ids in the old menu and not the new one: ingestion removes them."""
    if old is None:
        return []
    return sorted({e["external_id"] for kind in ENTITY_ARRAYS for e in old.get(kind, [])}
                  - {e["external_id"] for kind in ENTITY_ARRAYS for e in new.get(kind, [])})


# PosNormalizedMenuUpdateRequest's fields (Grubhub's Menu OpenAPI); merchant_ids and menu_url required.
UPDATE_REQUEST_FIELDS = frozenset({"merchant_ids", "menu_url", "normalized_menu", "apply_existing_schedule_overrides"})


class DownloadFailed(Exception):
    """menu_url did not answer a menu: the job is FAILED_MENU_DOWNLOAD."""


async def download(state: State, url: str) -> Any:
    """GETs the menu as Grubhub does, "either as a gzip file or uncompressed"; once (Grubhub
    retries nine times over five minutes: a stand-in that waited would make tests slow)."""
    try:
        answer = await state.client().get(url, headers={"Accept": "application/json", "Accept-Encoding": "gzip"})
    except httpx.HTTPError as exc:
        raise DownloadFailed(f"could not download the menu: {type(exc).__name__}") from None
    if answer.status_code != 200:
        raise DownloadFailed(f"could not download the menu: HTTP {answer.status_code}")
    content = answer.content
    try:
        return json.loads(gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content)
    except (ValueError, OSError, EOFError):
        raise DownloadFailed("the downloaded menu is not JSON") from None


def _job(job_id: str, merchant_id: str, status: str, details: str, **extra: Any) -> dict[str, Any]:
    """A job as GET .../jobs/{job_id} answers it, plus the stand-in's own keys (``removed``,
    ``menu_url``) that only /_standin/jobs shows."""
    merchant = {"merchant_id": merchant_id, "status": status, "details": [details]}
    if "proof" in extra:
        merchant["menu_proof_url"] = extra.pop("proof")
    return {"job_id": job_id, "details": details, "merchant_statuses": [merchant], **extra}


async def run_job(request: Request, job_id: str, merchant_id: str, url: str) -> dict[str, Any]:
    """Downloads, validates and stores the merchant's menu (before the ingestion is answered, so
    a job is final when its id is known); its status says what came of it."""
    state: State = request.app.state.standin
    try:
        menu = validate_menu(await download(state, url))
    except DownloadFailed as exc:
        request.state.call["download"] = str(exc)
        return _job(job_id, merchant_id, "FAILED_MENU_DOWNLOAD", str(exc), menu_url=url, removed=[])
    except GrubhubError as exc:
        request.state.call["download"] = "invalid"
        return _job(job_id, merchant_id, "FAILED_VALIDATION", str(exc), menu_url=url, removed=[],
                    field=exc.body.get("field"))
    request.state.call["download"] = "ok"
    request.state.call["items"] = len(menu.get("items", []))
    removed = _removed(state.menus.get(merchant_id), menu)
    state.menus[merchant_id] = menu
    return _job(job_id, merchant_id, "SUCCESS", "Successful ingestion", menu_url=url, removed=removed,
                proof=f"{request.base_url}proof/{merchant_id}")


def _downloadable(url: str) -> bool:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


@real("ingestion")
async def ingest(request: Request) -> Response:
    state: State = request.app.state.standin
    raw = await request.body()
    authenticate(request, raw, None)
    body = _json(raw)
    if not isinstance(body, dict):
        raise invalid("body", "must be a PosNormalizedMenuUpdateRequest object")
    unknown = sorted(set(body) - UPDATE_REQUEST_FIELDS)
    if unknown:
        raise invalid(unknown[0], "is not a field of PosNormalizedMenuUpdateRequest")
    merchants = body.get("merchant_ids")
    if not (isinstance(merchants, list) and len(merchants) == 1 and isinstance(merchants[0], str)):
        raise invalid("merchant_ids", "must hold exactly one merchant id")
    authenticate_merchant(request, merchants[0])
    url = body.get("menu_url")
    if not (isinstance(url, str) and _downloadable(url)):
        raise invalid("menu_url", "must be an http(s) URL the menu can be downloaded from")
    if body.get("normalized_menu") is not True:
        raise invalid("normalized_menu", "must be true for a normalized menu")
    if not isinstance(body.get("apply_existing_schedule_overrides", False), bool):
        raise invalid("apply_existing_schedule_overrides", "must be a boolean")
    job_id = str(uuid.uuid4())
    state.jobs[job_id] = await run_job(request, job_id, merchants[0], url)
    return JSONResponse({"job_id": job_id})


def authenticate_merchant(request: Request, merchant_id: str) -> None:
    state: State = request.app.state.standin
    client = state.clients[request.state.call["client_id"]]
    if merchant_id not in client.merchant_ids:
        raise GrubhubError(403, "forbidden", f"Merchant {merchant_id} is not linked to this client")


@real("job")
async def job_status(request: Request) -> Response:
    state: State = request.app.state.standin
    authenticate(request, await request.body(), None)
    job = state.jobs.get(request.path_params["job_id"])
    if job is None:
        raise GrubhubError(404, "not_found", "No job found for that ID")
    return JSONResponse({k: v for k, v in job.items() if k not in STANDIN_JOB_KEYS})


@real("menu")
async def merchant_menu(request: Request) -> Response:
    state: State = request.app.state.standin
    merchant_id = request.path_params["merchant_id"]
    authenticate(request, await request.body(), merchant_id)
    menu = state.menus.get(merchant_id)
    if menu is None:
        raise GrubhubError(404, "not_found", "Menu not found")
    return JSONResponse(menu)


@real("status")
async def order_status(request: Request) -> Response:
    state: State = request.app.state.standin
    merchant_id, order_uuid = request.path_params["merchant_id"], request.path_params["order_uuid"]
    raw = await request.body()
    authenticate(request, raw, merchant_id)
    body = _json(raw)
    if not isinstance(body, dict) or body.get("status") not in ORDER_STATUSES:
        raise invalid("status", f"must be one of {', '.join(sorted(ORDER_STATUSES))}")
    wait = body.get("wait_time_in_minutes")
    if wait is not None and not (isinstance(wait, int) and not isinstance(wait, bool) and wait >= 1):
        raise invalid("wait_time_in_minutes", "must be a positive integer")
    if not isinstance(body.get("reason", ""), str):
        raise invalid("reason", "must be a string")
    order = state.orders.get(order_uuid)
    if order is None or order["merchant_id"] != merchant_id:
        raise GrubhubError(404, "not_found", "Order not found")
    if order["status"] != "RESTAURANT_CONFIRMABLE":
        raise GrubhubError(409, "conflict", f"The order is {order['status']}")
    order["status"] = body["status"]
    order.setdefault("updates", []).append({"body": body, "at": time.time()})
    return Response(status_code=200)


# -------------------------------------------------------------------- control API

def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _control(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def post_client(request: Request) -> Response:
    """Registers a partner key + client (id, base64 secret key) holding ``merchant_ids``, each
    merchant's webhooks signed with ``webhook_secret``."""
    state: State = request.app.state.standin
    body = await _control(request)
    names = ("partner_key", "client_id", "secret_key", "webhook_secret")
    if not all(isinstance(body.get(n), str) and body[n] for n in names):
        return _error(f"{', '.join(names)} (non-empty strings) are required")
    try:
        base64.b64decode(body["secret_key"], validate=True)
    except (binascii.Error, ValueError):
        return _error("secret_key must be base64, as Grubhub issues it")
    merchants = body.get("merchant_ids", [])
    if not (isinstance(merchants, list) and all(isinstance(m, str) and m for m in merchants)):
        return _error("merchant_ids must be a list of merchant ids")
    client = Client(body["partner_key"], mac_id(body["client_id"]), body["secret_key"], set(merchants),
                    body["webhook_secret"])
    state.clients[client.client_id] = client
    return JSONResponse({"client_id": client.client_id, "merchant_ids": sorted(merchants)})


async def post_fault(request: Request) -> Response:
    state: State = request.app.state.standin
    body = await _control(request)
    mode, amount = body.get("mode"), body.get("count")
    paths, retry_after = body.get("paths", sorted(REAL_PATHS)), body.get("retry_after", 1)
    if mode not in FAULTS:
        return _error(f"mode must be one of {sorted(FAULTS)}")
    if amount is not None and not (isinstance(amount, int) and amount > 0):
        return _error("count must be a positive integer")
    if not isinstance(paths, list) or not paths or not set(paths) <= REAL_PATHS:
        return _error(f"paths must be a non-empty subset of {sorted(REAL_PATHS)}")
    if not (isinstance(retry_after, int) and retry_after >= 0):
        return _error("retry_after must be a non-negative integer (seconds)")
    state.fault = Fault(mode, amount, frozenset(paths), retry_after)
    return JSONResponse({"mode": mode, "count": amount, "paths": sorted(paths), "retry_after": retry_after})


async def get_menu(request: Request) -> Response:
    menu = request.app.state.standin.menus.get(request.path_params["merchant_id"])
    return JSONResponse(menu) if menu is not None else _error("no menu ingested for this merchant", 404)


async def get_jobs(request: Request) -> Response:
    return JSONResponse(list(request.app.state.standin.jobs.values()))


async def get_calls(request: Request) -> Response:
    return JSONResponse(request.app.state.standin.calls)


async def post_reset(request: Request) -> Response:
    request.app.state.standin.reset()
    return JSONResponse({"reset": True})


def _first_item(state: State, merchant_id: str) -> dict[str, Any]:
    items = state.menus.get(merchant_id, {}).get("items") or [{"external_id": "standin-item", "name": "Item",
                                                               "price": 10.0}]
    first: dict[str, Any] = items[0]
    return {"item_id": first["external_id"], "name": first["name"], "quantity": 1, "price": first["price"],
            "modifiers": []}


async def post_order(request: Request) -> Response:
    """Places an order at a merchant in the shape of Grubhub's new-order webhook; ``items``
    ([{item_id, name?, quantity, price, modifiers?}]) default to the merchant's first ingested
    item. Any other key overrides a field."""
    state: State = request.app.state.standin
    body = await _control(request)
    if not isinstance(body.get("merchant_id"), str):
        return _error("merchant_id is required")
    options = dict(body)
    merchant_id = options.pop("merchant_id")
    items = options.pop("items", None) or [_first_item(state, merchant_id)]
    if not all(isinstance(i, dict) and {"item_id", "quantity", "price"} <= i.keys() for i in items):
        return _error("items must be a list of {item_id, quantity, price, modifiers?}")
    subtotal = round(sum((i["price"] + sum(m.get("price", 0) for m in i.get("modifiers", []))) * i["quantity"]
                         for i in items), 2)
    order = {"order_uuid": options.pop("order_uuid", None) or str(uuid.uuid4()), "merchant_id": merchant_id,
             "currency": "USD", "fulfillment_type": "DELIVERY", "placed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "customer": {"first_name": "Ada", "last_name": "Diner", "phone": "+13125550142"},
             "items": [{"name": i.get("name", i["item_id"]), "modifiers": [], **i} for i in items],
             "totals": {"subtotal": subtotal, "tax": 0.0, "tip": 0.0, "total": subtotal},
             "special_instructions": "", **options}
    state.orders[order["order_uuid"]] = {**order, "status": "RESTAURANT_CONFIRMABLE"}
    return JSONResponse(order)


async def get_orders(request: Request) -> Response:
    return JSONResponse(list(request.app.state.standin.orders.values()))


def sign(secret: str, raw: bytes) -> str:
    """X-GH-Signature (ASSUMED): lowercase hex HMAC-SHA256 of the raw body keyed with the webhook secret."""
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def _event(state: State, body: dict[str, Any]) -> dict[str, Any] | str:
    event_type, merchant_id = body["event_type"], body["merchant_id"]
    if event_type == "MENU_INGESTION_STATUS":
        return {"event_type": event_type, "merchant_id": merchant_id, "job_id": body.get("job_id", ""),
                "status": body.get("status", "SUCCESS")}
    order_uuid = body.get("order_uuid") or next(
        (o["order_uuid"] for o in reversed(state.orders.values()) if o["merchant_id"] == merchant_id), None)
    if order_uuid is None:
        return "order_uuid is required: the merchant has no orders"
    order = state.orders.get(order_uuid, {"order_uuid": order_uuid, "merchant_id": merchant_id})
    if event_type == "NEW_ORDER":
        return {"event_type": event_type, **{k: v for k, v in order.items() if k not in ("status", "updates")},
                "merchant_id": merchant_id}
    if event_type == "ORDER_CANCELLED":
        if order_uuid in state.orders:
            state.orders[order_uuid]["status"] = "CANCELLED"
        return {"event_type": event_type, "order_uuid": order_uuid, "merchant_id": merchant_id,
                "cancelled_by": body.get("cancelled_by", "DINER")}
    return {"event_type": event_type, "order_uuid": order_uuid, "merchant_id": merchant_id,
            "new_status": body.get("new_status", "COMPLETED")}


async def post_webhook(request: Request) -> Response:
    """Sends Grubhub's webhook ``event_type`` (NEW_ORDER, ORDER_CANCELLED, ORDER_STATUS_CHANGE,
    MENU_INGESTION_STATUS) for ``merchant_id`` to ``url``, signed with the merchant's webhook
    secret (``secret`` forges one); ``dry_run`` answers what would be sent."""
    state: State = request.app.state.standin
    body = await _control(request)
    if not all(isinstance(body.get(k), str) and body[k] for k in ("url", "event_type", "merchant_id")):
        return _error("url, event_type and merchant_id are required")
    holders = [c for c in state.clients.values() if body["merchant_id"] in c.merchant_ids]
    if not holders and "secret" not in body:
        return _error(f"no client holds merchant {body['merchant_id']}")
    event = _event(state, body)
    if isinstance(event, str):
        return _error(event)
    raw = json.dumps(event, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json",
               "X-GH-Signature": sign(body.get("secret") or holders[0].webhook_secret, raw)}
    return await standin_server.send_webhook(state, body["url"], raw, headers, dry_run=bool(body.get("dry_run")))


# ---------------------------------------------------------------------------- app

def create_app(state: State) -> Starlette:
    app = Starlette(lifespan=standin_server.lifespan, routes=[
        Route("/pos/v1/menu/ingestion", ingest, methods=["POST"]),
        Route("/pos/v1/menu/ingestion/jobs/{job_id}", job_status, methods=["GET"]),
        Route("/pos/v1/merchant/{merchant_id}/menu/normalized", merchant_menu, methods=["GET"]),
        Route("/pos/v1/merchant/{merchant_id}/orders/{order_uuid}/status", order_status, methods=["PUT"]),
        Route("/_standin/clients", post_client, methods=["POST"]),
        Route("/_standin/fault", post_fault, methods=["POST"]),
        Route("/_standin/merchants/{merchant_id}/menu", get_menu, methods=["GET"]),
        Route("/_standin/jobs", get_jobs, methods=["GET"]),
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
    await standin_server.serve(create_app(state), state.released, port, "grubhub-standin")


def main() -> None:
    standin_server.main(__doc__, 8073, serve)


if __name__ == "__main__":
    main()
