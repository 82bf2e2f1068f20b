"""PetPooja's callbacks: order status, stock, store status and menu push.

PetPooja signs nothing, so the URL it was given names and authenticates the restaurant:
``/api/webhooks/petpooja/{kind}/{secret}`` where secret is the outlet's callback_secret.
An unknown secret (or no outlet at all) is 404 and stores nothing; the request log
redacts the secret (api/middleware.py) and our own lines name only a hash prefix of it.
With PETPOOJA_CALLBACK_HMAC_KEY set, X-Signature (hex HMAC-SHA256 of the raw body) is
required as well.

Every authenticated delivery is stored with its result (db/webhooks.py): a repeat of the
latest delivery of its kind that changes nothing is a replay (a duplicate); one that does
change something (the state moved in between) applies. Answers follow PetPooja's documented
shapes; an unknown order is a 200 (PetPooja cannot do better by retrying). A body with text
PostgreSQL cannot store (NUL, a lone surrogate) is a 400 like any malformed body, never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, NoReturn, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
import structlog
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.errors import ApiError
from api.handoff import hand_off, queued_in
from api.responses import JSON
from api.state import services
from db import menu_import, webhooks
from db.queries import Conn, Row
from sync.petpooja.menu import MenuFormatError, parse_menu
from sync.petpooja.text import clean, first_unstorable, is_identifier

log = structlog.get_logger("api")

_SECRET = re.compile(r"^[A-Za-z0-9_-]{43,128}$")
M = TypeVar("M", bound=BaseModel)


# ------------------------------------------------------------------------------ bodies


def _text(value: Any) -> Any:
    # PetPooja sends ids as strings or numbers, depending on the field and the day.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _ids(value: Any) -> Any:
    # itemID is documented as a list; some PetPooja builds send a PHP-style object {"0": id}.
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value


def _identifier(value: str) -> str:
    if not is_identifier(value):
        raise ValueError("an id must not be blank or hold control characters")
    return value


# Free text loses its control characters (tab and line breaks stay); an id holding one is refused.
Text = Annotated[str, BeforeValidator(_text), Field(max_length=500), AfterValidator(clean)]
Ref = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=64), AfterValidator(_identifier)]


class Callback(BaseModel):
    # PetPooja adds fields over time; what we do not read we keep in the stored body.
    model_config = ConfigDict(extra="ignore")

    restID: Ref  # PetPooja's field names, as it spells them


class OrderCallback(Callback):
    orderID: Ref
    clientOrderID: Ref | None = None
    clientorderID: Ref | None = None
    status: int
    cancel_reason: Text | None = None
    minimum_prep_time: Text | None = None
    rider_name: Text | None = None
    rider_phone_number: Text | None = None

    @property
    def refs(self) -> list[str]:
        return list(dict.fromkeys(r for r in (self.orderID, self.clientOrderID, self.clientorderID) if r))

    def reason(self) -> str | None:
        parts = []
        if self.cancel_reason:
            parts.append(self.cancel_reason)
        if self.rider_name or self.rider_phone_number:
            parts.append(f"rider {self.rider_name or ''} {self.rider_phone_number or ''}".strip())
        if self.minimum_prep_time:
            parts.append(f"prep {self.minimum_prep_time} min")
        return "; ".join(parts) or None

    def details(self) -> dict[str, str]:
        """What the callback said beside the status, by our names, for the order's timeline."""
        said = {"cancel_reason": self.cancel_reason, "rider_name": self.rider_name,
                "rider_phone": self.rider_phone_number, "minimum_prep_time": self.minimum_prep_time}
        return {k: v for k, v in said.items() if v}


class StockCallback(Callback):
    type: Literal["item", "addon"]
    # Lax bool: true/false, "1"/"0", 1/0 all arrive in the wild.
    inStock: bool
    itemID: Annotated[list[Ref], BeforeValidator(_ids), Field(min_length=1, max_length=5000)]
    autoTurnOnTime: Text | None = None
    customTurnOnTime: Text | None = None


class StoreStatusCallback(Callback):
    # Absent: PetPooja asks for the status; 1/0 (or "1"/"0"): it switches the store.
    store_status: Annotated[int, Field(ge=0, le=1)] | None = None
    turn_on_time: Text | None = None
    reason: Text | None = None


def _problems(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_input=False)]


# ------------------------------------------------------------------------ the delivery


class Delivery:
    """One authenticated callback: its restaurant, kind and raw body."""

    def __init__(self, request: Request, outlet: Row, kind: str, body: bytes):
        self.request, self.outlet, self.kind, self.body = request, outlet, kind, body
        self.restaurant_id: UUID = outlet["restaurant_id"]

    async def load(self) -> dict[str, Any]:
        """The body as a JSON object that PostgreSQL can store every string of; anything else is
        stored as invalid (the raw body is bytea, and the detail names only where it was) and
        answered 400."""
        try:
            raw = orjson.loads(self.body)
            if not isinstance(raw, dict):
                raise ValueError("the body is not a JSON object")
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
            await self.invalid([{"loc": ["body"], "msg": str(exc), "type": "json_invalid"}])
        found = first_unstorable(raw)
        if found is not None:
            await self.invalid([{"loc": ["body", *found[0]], "type": "string_unstorable",
                                 "msg": "text holds NUL (\\u0000) or a lone surrogate, which cannot be stored"}])
        return raw

    async def parse(self, model: type[M]) -> M:
        """The body as ``model``; a malformed one is stored as invalid and answered 400."""
        raw = await self.load()
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            await self.invalid(_problems(exc))

    async def invalid(self, errors: list[dict[str, Any]]) -> NoReturn:
        await self.record_alone("invalid", {"errors": errors})
        raise ApiError(400, "invalid_callback", f"the {self.kind} callback is malformed", errors=errors)

    async def record_alone(self, result: str, detail: dict[str, Any] | None = None) -> None:
        async with services(self.request).db.tenant(self.restaurant_id) as conn:
            delivery_id = await webhooks.record(conn, self.restaurant_id, self.kind, self.body, result, detail)
        log.warning("petpooja_callback", kind=self.kind, result=result, delivery_id=delivery_id)

    def rest_id_matches(self, body: Callback) -> bool:
        return hmac.compare_digest(body.restID.encode(), str(self.outlet["rest_id"]).encode())

    async def apply(self, effect: Callable[[Conn, bool], Awaitable[webhooks.Outcome]]) -> webhooks.Outcome:
        """Runs ``effect`` and records the delivery in the same transaction; after commit, the
        pusher hears of everything it queued.

        The effect always runs (``effect(conn, repeat)``, repeat: the body is byte-identical to the
        latest delivery of its kind): PetPooja's bodies carry no event id, and the same body may
        mean something again once the state changed in between (stock off, on again by staff,
        off again). A repeat whose effect changes nothing is the replay: recorded as a duplicate.
        """
        async with services(self.request).db.tenant(self.restaurant_id) as conn:
            previous = await webhooks.repeated_delivery(conn, self.restaurant_id, self.kind, self.body)
            outcome = await effect(conn, previous is not None)
            duplicate_of = None
            if previous is not None:
                if outcome.effective:
                    outcome.detail["repeats"] = previous
                else:
                    duplicate_of = previous
                    outcome = webhooks.Outcome(webhooks.DUPLICATE, {**outcome.detail, "duplicate_of": previous})
            delivery_id = await webhooks.record(conn, self.restaurant_id, self.kind, self.body, outcome.result,
                                                outcome.detail, duplicate_of=duplicate_of)
            changed = await queued_in(conn, self.restaurant_id)
        hand_off(self.request, changed)
        if outcome.result == webhooks.APPLIED and "to_status" in outcome.detail:
            services(self.request).metrics.status_transitions.labels(
                outcome.detail["from_status"], outcome.detail["to_status"], "petpooja").inc()
        log.info("petpooja_callback", kind=self.kind, result=outcome.result, delivery_id=delivery_id,
                 changed=len(outcome.changed))
        return outcome


def _secret_tag(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


async def _authenticate(request: Request, kind: str) -> Delivery:
    secret: str = request.path_params["secret"]
    svc = services(request)
    outlet = None
    if _SECRET.match(secret):
        async with svc.db.system() as conn:
            outlet = await webhooks.outlet_by_secret(conn, secret)
    if outlet is None or not hmac.compare_digest(str(outlet["callback_secret"]).encode(), secret.encode()):
        log.warning("petpooja_callback_refused", kind=kind, reason="unknown secret", secret_sha256=_secret_tag(secret))
        raise ApiError(404, "not_found", "not found")
    structlog.contextvars.bind_contextvars(restaurant_id=str(outlet["restaurant_id"]))
    body = await request.body()
    key = svc.settings.petpooja_callback_hmac_key
    if key is not None:
        expected = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        given = request.headers.get("x-signature", "").strip().lower()
        if not hmac.compare_digest(expected.encode(), given.encode()):
            log.warning("petpooja_callback_refused", kind=kind, reason="bad signature")
            raise ApiError(401, "invalid_signature", "X-Signature must be the hex HMAC-SHA256 of the body")
    return Delivery(request, outlet, kind, body)


_NOT_FOUND = {"http_code": 404, "status": "failed", "message": "Restaurant not found."}


# ------------------------------------------------------------------------------- kinds


async def order_status(request: Request) -> Response:
    delivery = await _authenticate(request, "order-status")
    body = await delivery.parse(OrderCallback)
    structlog.contextvars.bind_contextvars(petpooja_order=body.orderID)
    if not delivery.rest_id_matches(body):
        await delivery.record_alone("restID mismatch", {"restID": body.restID})
    else:
        await delivery.apply(lambda conn, _repeat: webhooks.apply_order_status(
            conn, delivery.restaurant_id, order_refs=body.refs, code=body.status, reason=body.reason(),
            details=body.details()))
    # PetPooja documents an empty 200 whatever we made of it.
    return Response(status_code=200)


async def stock(request: Request) -> Response:
    delivery = await _authenticate(request, "stock")
    body = await delivery.parse(StockCallback)
    if not delivery.rest_id_matches(body):
        await delivery.record_alone("restID mismatch", {"restID": body.restID})
        return JSON(_NOT_FOUND, status_code=404)
    await delivery.apply(lambda conn, _repeat: webhooks.apply_stock(
        conn, delivery.restaurant_id, kind=body.type, in_stock=body.inStock, external_ids=body.itemID))
    return JSON({"code": 200, "status": "success", "message": "Stock status updated successfully"})


_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


def local_time(text: str | None, timezone: str) -> datetime | None:
    """PetPooja's "yyyy-mm-dd HH:MM:SS" in the restaurant's time zone; None when blank or unreadable."""
    if not text or not text.strip():
        return None
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=ZoneInfo(timezone))
        except ValueError:
            continue
    return None


async def store_status(request: Request) -> Response:
    delivery = await _authenticate(request, "store-status")
    body = await delivery.parse(StoreStatusCallback)
    if not delivery.rest_id_matches(body):
        await delivery.record_alone("restID mismatch", {"restID": body.restID})
        return JSON(_NOT_FOUND, status_code=404)
    if body.store_status is None:
        # A question, not a change: logged under its own kind so it never hides a replayed update.
        delivery.kind = "store-status-get"
        async with services(request).db.tenant(delivery.restaurant_id) as conn:
            now = await webhooks.store_status(conn, delivery.restaurant_id)
            await webhooks.record(conn, delivery.restaurant_id, delivery.kind, delivery.body, "answered",
                                  {"open": now["open"]})
        return JSON({"http_code": 200, "status": "success", "store_status": "1" if now["open"] else "0",
                     "message": "Store Delivery Status fetched successfully"})
    reopens_at = local_time(body.turn_on_time, delivery.outlet["timezone"])
    opening = body.store_status == 1

    async def effect(conn: Conn, _repeat: bool) -> webhooks.Outcome:
        outcome = await webhooks.apply_store_status(conn, delivery.restaurant_id, open_=opening, reason=body.reason,
                                                    reopens_at=reopens_at)
        if not opening and body.turn_on_time and reopens_at is None:
            outcome.detail["turn_on_time_unreadable"] = body.turn_on_time
        return outcome

    await delivery.apply(effect)
    return JSON({"http_code": 200, "status": "success",
                 "message": f"Store Status updated successfully for store {body.restID}"})


def menu_rest_id(raw: dict[str, Any]) -> str | None:
    """The outlet a pushed menu is for: its restaurant's menusharingcode (the restID), or a top-level restID."""
    restaurants = raw.get("restaurants")
    if isinstance(restaurants, list) and restaurants and isinstance(restaurants[0], dict):
        details = restaurants[0].get("details")
        if isinstance(details, dict) and details.get("menusharingcode"):
            return str(details["menusharingcode"])
    return str(raw["restID"]) if raw.get("restID") else None


async def push_menu(request: Request) -> Response:
    started = time.monotonic()
    delivery = await _authenticate(request, "pushmenu")
    raw = await delivery.load()
    rest_id = menu_rest_id(raw)
    if not hmac.compare_digest((rest_id or "").encode(), str(delivery.outlet["rest_id"]).encode()):
        await delivery.record_alone("restID mismatch", {"restID": rest_id})
        return JSON({"success": "0", "message": "Restaurant not found."}, status_code=404)
    try:
        menu = parse_menu(raw, currency=delivery.outlet["currency"])
    except MenuFormatError as exc:
        async with services(request).db.tenant(delivery.restaurant_id) as conn:
            await menu_import.record_failed_sync(conn, delivery.restaurant_id, source="push", errors=exc.errors,
                                                 started=started)
        await delivery.invalid([{"loc": ["body"], "msg": error, "type": "menu_format"} for error in exc.errors])

    async def effect(conn: Conn, repeat: bool) -> webhooks.Outcome:
        # A repeated push that changes nothing records no menu sync: it is the replay.
        importer = menu_import.import_menu_if_changed if repeat else menu_import.import_menu
        sync = await importer(conn, delivery.restaurant_id, menu, source="push", started=started)
        if sync is None:
            return webhooks.Outcome(webhooks.APPLIED)
        return webhooks.Outcome(webhooks.APPLIED, {"menu_sync_id": sync["id"], "counts": sync["counts"],
                                                   "errors": sync["errors"]},
                                tuple(("menu_item", item_id) for item_id in sync["changed_item_ids"]),
                                effective=True)

    await delivery.apply(effect)
    return JSON({"success": "1", "message": "Menu items are successfully listed."})


_BASE = "/api/webhooks/petpooja"
routes = [
    Route(f"{_BASE}/order-status/{{secret}}", order_status, methods=["POST"]),
    Route(f"{_BASE}/stock/{{secret}}", stock, methods=["POST"]),
    Route(f"{_BASE}/store-status/{{secret}}", store_status, methods=["POST"]),
    Route(f"{_BASE}/pushmenu/{{secret}}", push_menu, methods=["POST"]),
]
