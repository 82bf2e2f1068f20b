"""A PetPooja stand-in: PetPooja's Online Ordering API v2.1.0 wire format on loopback, for
tests and the dev runner. Not PetPooja: in memory, no persistence, no security beyond
loopback. See scripts/petpooja_standin.md for what it validates and what it chose.

    python -m scripts.petpooja_standin --port 0 [--menu PATH]
    # stdout, exactly one line once it accepts requests:
    petpooja-standin ready http://127.0.0.1:41234
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import count
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scripts import standin_server
from scripts.standin_server import Fault

ROOT = Path(__file__).resolve().parent.parent
# H4's realistic fetch-menu answer when it is there, else the dev demo menu.
DEV_MENU = ROOT / "scripts" / "petpooja_standin_menu.json"
FIXTURE_MENU = ROOT / "tests" / "fixtures" / "petpooja_menu.json"
DEFAULT_MENU = FIXTURE_MENU if FIXTURE_MENU.exists() else DEV_MENU

ORDER_TYPES = {"H", "P", "D"}
PAYMENT_TYPES = {"COD", "CARD", "CREDIT", "ONLINE", "OTHER"}
FAULTS = {"none", "reject", "http500", "hang", "drop"}
REAL_PATHS = frozenset({"save_order", "update_order_status", "mapped_restaurant_menus"})
TOLERANCE = Decimal("0.01")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")

# The required fields of each part of save_order, from PetPooja's v2.1.0 JSON schema
# (plus the amounts the totals check needs, and an item's id, without which the POS
# cannot map the line).
RESTAURANT_FIELDS = ("res_name", "address", "contact_information", "restID")
CUSTOMER_FIELDS = ("name", "phone")
ORDER_FIELDS = ("orderID", "preorder_date", "preorder_time", "order_type", "payment_type", "created_on",
                "service_charge", "sc_tax_amount", "dc_tax_amount", "pc_tax_amount", "discount_total",
                "tax_total", "total")
ORDER_AMOUNTS = ("service_charge", "sc_tax_amount", "delivery_charges", "dc_tax_amount", "packing_charges",
                 "pc_tax_amount", "discount_total", "tax_total", "total")
ITEM_FIELDS = ("id", "name", "item_tax", "item_discount", "final_price", "price", "quantity")
ADDON_FIELDS = ("id", "name", "group_name", "price", "group_id")
TAX_FIELDS = ("id", "title", "price")
DISCOUNT_FIELDS = ("title", "price")
# PetPooja's own example sends these as JSON numbers; everything else must be a string.
NUMBERS_ALLOWED = {"enable_delivery", "min_prep_time", "urgent_time", "group_id"}


@dataclass
class Outlet:
    rest_id: str
    app_key: str
    app_secret: str
    access_token: str
    menu: dict[str, Any]


@dataclass
class State(standin_server.Outbound):
    default_menu: dict[str, Any]
    outlets: dict[str, Outlet] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)  # save_order and cancels, in arrival order
    saved: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (restID, clientOrderID)
    fault: Fault = field(default_factory=lambda: Fault("none", None, REAL_PATHS, off="none"))
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(sorted(REAL_PATHS), 0))
    released: asyncio.Event = field(default_factory=asyncio.Event)  # set: hanging calls give up
    ids: count[int] = field(default_factory=lambda: count(1001))
    # One client for every callback: building one costs ~20-100 ms (its TLS context).
    http: httpx.AsyncClient | None = None

    def reset(self) -> None:
        self.outlets.clear()
        self.records.clear()
        self.saved.clear()
        self.fault = Fault("none", None, REAL_PATHS, off="none")
        self.calls = dict.fromkeys(sorted(REAL_PATHS), 0)
        self.released.set()  # answer every hanging call, then hang again for new ones
        self.released = asyncio.Event()


# ------------------------------------------------------------------------- answers

def failure(message: str, code: str, errors: dict[str, str], status: int = 400) -> JSONResponse:
    return JSONResponse({"success": "0", "message": message, "errorCode": code, "validation_errors": errors},
                        status_code=status)


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def _apply_fault(request: Request, path: str) -> Response | None:
    """The injected answer for this call, or None to answer normally (drop is handled by the caller)."""
    state: State = request.app.state.standin
    state.calls[path] += 1
    mode = state.fault.take(path)
    request.state.fault = mode
    if mode == "reject":
        return failure("Injected rejection by the stand-in.", "SO_106", {"standin": "fault mode reject"})
    if mode == "http500":
        return JSONResponse({"message": "Internal server error"}, status_code=500)
    if mode == "hang":
        await state.released.wait()
        return JSONResponse({"message": "stand-in reset while this call hung"}, status_code=503)
    return None


async def _drop(request: Request, response: Response) -> Response:
    """Closes the connection without an answer (the action has happened), or answers normally."""
    if getattr(request.state, "fault", "none") != "drop":
        return response
    await standin_server.abort(request)
    return response


def _outlet(state: State, rest_id: object, app_key: object, app_secret: object,
            access_token: object) -> tuple[Outlet | None, dict[str, str]]:
    outlet = state.outlets.get(rest_id) if isinstance(rest_id, str) else None
    if outlet is None:
        return None, {"restID": "Restaurant is not mapped with these credentials."}
    errors = {name: f"Invalid {name}." for name, given, want in (
        ("app_key", app_key, outlet.app_key), ("app_secret", app_secret, outlet.app_secret),
        ("access_token", access_token, outlet.access_token)) if given != want}
    return (None, errors) if errors else (outlet, {})


# ---------------------------------------------------------------------- validation

def _amount(value: object) -> Decimal | None:
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _details(parent: object, name: str, errors: dict[str, str]) -> Any:
    """``parent[name]["details"]``, recording an error when it is missing."""
    part = parent.get(name) if isinstance(parent, dict) else None
    details = part.get("details") if isinstance(part, dict) else None
    if details is None:
        errors[f"{name}.details"] = f"{name}.details is required."
    return details


def _optional_details(parent: dict[str, Any], name: str) -> Any:
    """``parent[name]["details"]`` where the part may be left out (then no entries)."""
    part = parent.get(name)
    if part is None:
        return []
    return part.get("details", []) if isinstance(part, dict) else None


def _fields(where: str, obj: object, required: tuple[str, ...], errors: dict[str, str]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        errors[where] = f"{where} must be an object."
        return {}
    for name in required:
        if name not in obj or obj[name] is None:
            errors[f"{where}.{name}"] = f"The {name} field is required."
    for name, value in obj.items():
        if isinstance(value, dict | list) or value is None:
            continue
        if not isinstance(value, str) and not (name in NUMBERS_ALLOWED and isinstance(value, int | float)
                                               and not isinstance(value, bool)):
            errors[f"{where}.{name}"] = f"The {name} field must be a string."
    return obj


def _money(where: str, obj: dict[str, Any], name: str, errors: dict[str, str], *,
           required: bool = True) -> Decimal:
    value = obj.get(name)
    if value is None or (value == "" and not required):
        if required and f"{where}.{name}" not in errors:
            errors[f"{where}.{name}"] = f"The {name} field is required."
        return Decimal(0)
    amount = _amount(value)
    if amount is None:
        errors.setdefault(f"{where}.{name}", f"The {name} field must be a number.")
        return Decimal(0)
    return amount


def validate_save_order(body: dict[str, Any]) -> dict[str, str]:
    """PetPooja's field errors for a save_order body (empty when it is acceptable)."""
    errors: dict[str, str] = {}
    for name in ("app_key", "app_secret", "access_token", "device_type"):
        if not isinstance(body.get(name), str):
            errors[name] = f"The {name} field is required and must be a string."
    orderinfo = body.get("orderinfo")
    info = orderinfo.get("OrderInfo") if isinstance(orderinfo, dict) else None
    if not isinstance(info, dict):
        errors["orderinfo.OrderInfo"] = "orderinfo.OrderInfo is required."
        return errors
    _fields("Restaurant", _details(info, "Restaurant", errors), RESTAURANT_FIELDS, errors)
    _fields("Customer", _details(info, "Customer", errors), CUSTOMER_FIELDS, errors)
    order = _fields("Order", _details(info, "Order", errors), ORDER_FIELDS, errors)
    items = _details(info, "OrderItem", errors)
    taxes = _optional_details(info, "Tax")
    discounts = _optional_details(info, "Discount")

    if order:
        order_type = order.get("order_type")
        if isinstance(order_type, str) and order_type not in ORDER_TYPES:
            errors["Order.order_type"] = "order_type must be one of H (delivery), P (pickup), D (dine-in)."
        if order_type == "D" and not (isinstance(order.get("table_no"), str) and order["table_no"].strip()):
            errors["Order.table_no"] = "table_no is required for a dine-in (D) order."
        payment = order.get("payment_type")
        if isinstance(payment, str) and payment not in PAYMENT_TYPES:
            errors["Order.payment_type"] = f"payment_type must be one of {', '.join(sorted(PAYMENT_TYPES))}."
        created = order.get("created_on")
        if isinstance(created, str):
            try:
                datetime.strptime(created, "%Y-%m-%d %H:%M:%S")
            except ValueError:
                errors["Order.created_on"] = "created_on must be yyyy-mm-dd HH:MM:SS."
        for name, pattern in (("preorder_date", "%Y-%m-%d"), ("preorder_time", "%H:%M:%S")):
            value = order.get(name)
            if isinstance(value, str) and value:
                try:
                    datetime.strptime(value, pattern)
                except ValueError:
                    errors[f"Order.{name}"] = f"{name} must look like {pattern.replace('%', '')}."
        if isinstance(order.get("orderID"), str) and not order["orderID"].strip():
            errors["Order.orderID"] = "The orderID field is required."

    if not isinstance(items, list) or not items:
        errors.setdefault("OrderItem.details", "At least one item is required.")
        items = []
    item_sum = Decimal(0)
    item_discounts = Decimal(0)
    for n, raw in enumerate(items):
        where = f"OrderItem.details.{n}"
        item = _fields(where, raw, ITEM_FIELDS, errors)
        if not item:
            continue
        price = _money(where, item, "price", errors)
        final = _money(where, item, "final_price", errors)
        discount = _money(where, item, "item_discount", errors, required=False)
        quantity = _money(where, item, "quantity", errors)
        if f"{where}.quantity" not in errors and (quantity <= 0 or quantity != quantity.to_integral_value()):
            errors[f"{where}.quantity"] = "quantity must be a whole number above 0."
        if not isinstance(item.get("item_tax", []), list):
            errors[f"{where}.item_tax"] = "item_tax must be a list."
        for m, tax in enumerate(item.get("item_tax") or [] if isinstance(item.get("item_tax"), list) else []):
            _fields(f"{where}.item_tax.{m}", tax, ("id", "name", "amount"), errors)
            if isinstance(tax, dict):
                _money(f"{where}.item_tax.{m}", tax, "amount", errors)
        addons = _optional_details(item, "AddonItem")
        if not isinstance(addons, list):
            errors[f"{where}.AddonItem.details"] = "AddonItem.details must be a list."
        for m, addon in enumerate(addons if isinstance(addons, list) else []):
            addon_fields = _fields(f"{where}.AddonItem.details.{m}", addon, ADDON_FIELDS, errors)
            if addon_fields:
                _money(f"{where}.AddonItem.details.{m}", addon_fields, "price", errors)
        if not any(key.startswith(where) for key in errors) and abs(price * quantity - discount - final) > TOLERANCE:
            errors[f"{where}.final_price"] = (f"final_price {final} is not price x quantity - item_discount "
                                             f"({price} x {quantity} - {discount}).")
        item_sum += final
        item_discounts += discount

    for label, entries, required in (("Tax", taxes, TAX_FIELDS), ("Discount", discounts, DISCOUNT_FIELDS)):
        if not isinstance(entries, list):
            errors[f"{label}.details"] = f"{label}.details must be a list."
            continue
        for n, entry in enumerate(entries):
            values = _fields(f"{label}.details.{n}", entry, required, errors)
            if values:
                _money(f"{label}.details.{n}", values, "price", errors)

    if order:
        amounts = {name: _money("Order", order, name, errors, required=name in ORDER_FIELDS)
                   for name in ORDER_AMOUNTS}
        if not errors:
            # Item discounts already reduce final_price; discount_total counts them too.
            charges = amounts["service_charge"] + amounts["delivery_charges"] + amounts["packing_charges"]
            expected = item_sum - (amounts["discount_total"] - item_discounts) + amounts["tax_total"] + charges
            if abs(expected - amounts["total"]) > TOLERANCE:
                errors["Order.total"] = (
                    f"total {amounts['total']} does not add up: items {item_sum} - discount "
                    f"{amounts['discount_total'] - item_discounts} + tax {amounts['tax_total']} + charges {charges} "
                    f"= {expected}.")
    return errors


# -------------------------------------------------------------------- real API paths

async def save_order(request: Request) -> Response:
    state: State = request.app.state.standin
    injected = await _apply_fault(request, "save_order")
    if injected is not None:
        return injected
    body = await _json_object(request)
    if body is None:
        return failure("Invalid request body.", "SO_106", {"body": "The body must be a JSON object."})
    info = ((body.get("orderinfo") or {}).get("OrderInfo") or {}) if isinstance(body.get("orderinfo"), dict) else {}
    restaurant = ((info.get("Restaurant") or {}).get("details") or {}) if isinstance(info, dict) else {}
    rest_id = restaurant.get("restID") if isinstance(restaurant, dict) else None
    outlet, errors = _outlet(state, rest_id, body.get("app_key"), body.get("app_secret"), body.get("access_token"))
    if outlet is None:
        return failure("Invalid credentials or restaurant is not mapped.", "SO_105", errors)
    errors = validate_save_order(body)
    if errors:
        return failure("Order validation failed.", "SO_106", errors)
    order = info["Order"]["details"]
    client_id = order["orderID"]
    existing = state.saved.get((outlet.rest_id, client_id))
    if existing is not None:
        # PetPooja ignores an orderID it has seen; record that it came again, and whether it differed.
        existing["resends"] += 1
        existing["resent_different"] = existing["resent_different"] or body != existing["body"]
        record = existing
    else:
        record = {"kind": "save_order", "restID": outlet.rest_id, "clientOrderID": client_id,
                  "orderID": str(next(state.ids)), "status": "saved", "callback_url": order.get("callback_url", ""),
                  "resends": 0, "resent_different": False, "received_at": time.time(), "body": body}
        state.saved[(outlet.rest_id, client_id)] = record
        state.records.append(record)
    return await _drop(request, JSONResponse({
        "success": "1", "message": "Your order is saved.", "restID": outlet.rest_id,
        "clientOrderID": client_id, "orderID": record["orderID"]}))


async def update_order_status(request: Request) -> Response:
    state: State = request.app.state.standin
    injected = await _apply_fault(request, "update_order_status")
    if injected is not None:
        return injected
    body = await _json_object(request)
    if body is None:
        return failure("Invalid request body.", "SO_106", {"body": "The body must be a JSON object."})
    outlet, errors = _outlet(state, body.get("restID"), body.get("app_key"), body.get("app_secret"),
                             body.get("access_token"))
    if outlet is None:
        return failure("Invalid credentials or restaurant is not mapped.", "SO_105", errors)
    for name in ("clientorderID", "status", "cancelReason"):
        if not isinstance(body.get(name), str):
            errors[name] = f"The {name} field is required and must be a string."
    if not errors and body["status"] != "-1":
        errors["status"] = "Only status -1 (cancel) can be sent."
    record = state.saved.get((outlet.rest_id, body.get("clientorderID", "")))
    if not errors and record is None:
        errors["clientorderID"] = "No order with this clientorderID."
    if errors:
        return failure("Order status update failed.", "SO_106", errors)
    assert record is not None
    record["status"] = "cancelled"
    state.records.append({"kind": "cancel", "restID": outlet.rest_id, "clientOrderID": record["clientOrderID"],
                          "orderID": record["orderID"], "body": body})
    return await _drop(request, JSONResponse({
        "success": "1", "message": "Order status updated successfully.", "restID": outlet.rest_id,
        "orderID": record["orderID"], "clientorderID": record["clientOrderID"]}))


async def mapped_restaurant_menus(request: Request) -> Response:
    state: State = request.app.state.standin
    injected = await _apply_fault(request, "mapped_restaurant_menus")
    if injected is not None:
        return injected
    body = await _json_object(request)
    if body is None:
        return failure("Invalid request body.", "SO_106", {"body": "The body must be a JSON object."})
    headers = request.headers
    outlet, errors = _outlet(state, body.get("restID"), headers.get("app-key"), headers.get("app-secret"),
                             headers.get("access-token"))
    if outlet is None:
        return failure("Invalid credentials or restaurant is not mapped.", "SO_105", errors)
    return await _drop(request, JSONResponse(outlet.menu))


# ------------------------------------------------------------------- control API

def _control_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def put_outlet(request: Request) -> Response:
    state: State = request.app.state.standin
    body = await _json_object(request)
    keys = ("app_key", "app_secret", "access_token")
    if body is None or not all(isinstance(body.get(k), str) and body[k] for k in keys):
        return _control_error("app_key, app_secret and access_token (non-empty strings) are required")
    menu = body.get("menu", state.default_menu)
    if not isinstance(menu, dict):
        return _control_error("menu must be PetPooja's fetch-menu object")
    rest_id = request.path_params["rest_id"]
    state.outlets[rest_id] = Outlet(rest_id, body["app_key"], body["app_secret"], body["access_token"], menu)
    return JSONResponse({"restID": rest_id})


async def post_faults(request: Request) -> Response:
    state: State = request.app.state.standin
    body = await _json_object(request)
    mode = body.get("mode") if body else None
    amount = body.get("count") if body else None
    paths = body.get("paths", sorted(REAL_PATHS)) if body else None
    if mode not in FAULTS:
        return _control_error(f"mode must be one of {sorted(FAULTS)}")
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount < 1):
        return _control_error("count must be a positive integer")
    if not isinstance(paths, list) or not paths or not set(paths) <= REAL_PATHS:
        return _control_error(f"paths must be a non-empty subset of {sorted(REAL_PATHS)}")
    state.fault = Fault(mode, amount, frozenset(paths), off="none")
    return JSONResponse({"mode": mode, "count": amount, "paths": sorted(paths)})


async def get_orders(request: Request) -> Response:
    return JSONResponse(request.app.state.standin.records)


async def get_stats(request: Request) -> Response:
    state: State = request.app.state.standin
    return JSONResponse({"calls": state.calls, "fault": {"mode": state.fault.mode, "count": state.fault.remaining}})


async def post_reset(request: Request) -> Response:
    request.app.state.standin.reset()
    return JSONResponse({"reset": True})


async def _deliver(state: State, url: str, body: Any, headers: dict[str, str] | None = None) -> Response:
    try:
        answer = await state.client().post(url, json=body, headers=headers or {})
    except httpx.HTTPError as exc:
        return _control_error(f"could not deliver to {url}: {exc!r}", 502)
    return JSONResponse({"status_code": answer.status_code, "body": answer.text})


def _minutes(value: object) -> int:
    """PetPooja sends minimum_prep_time as a number; the order's min_prep_time, else 20."""
    try:
        return int(str(value))
    except ValueError:
        return 20


async def post_callback(request: Request) -> Response:
    """PetPooja's order callback for a stored order, sent to that order's callback_url."""
    state: State = request.app.state.standin
    body = await _json_object(request)
    if body is None or not isinstance(body.get("status"), str):
        return _control_error("status (a string such as \"1\", \"5\", \"4\", \"10\", \"-1\") is required")
    client_id = request.path_params["order_id"]
    matches = [r for r in state.records if r["kind"] == "save_order" and r["clientOrderID"] == client_id]
    if not matches:
        return _control_error(f"no stored order {client_id}", 404)
    record = matches[-1]
    order = record["body"]["orderinfo"]["OrderInfo"]["Order"]["details"]
    options = dict(body)
    url = options.pop("url", None) or record["callback_url"]
    dry_run = options.pop("dry_run", False)
    headers = options.pop("headers", None)
    # The field names of PetPooja's callback; orderID is the integrator's own order id (the
    # one sent in save_order), as public integrations observe. Anything given overrides.
    callback = {"restID": record["restID"], "orderID": record["clientOrderID"], "status": "",
                "cancel_reason": "", "minimum_prep_time": _minutes(order.get("min_prep_time")),
                "minimum_delivery_time": "", "rider_name": "", "rider_phone_number": "", "is_modified": "No",
                **options}
    if dry_run:
        return JSONResponse({"url": url, "body": callback})
    if not url:
        return _control_error(f"order {client_id} has no callback_url")
    if callback["status"] == "-1":
        record["status"] = "cancelled"
    return await _deliver(state, url, callback, headers)


async def post_send(request: Request) -> Response:
    body = await _json_object(request)
    if body is None or not isinstance(body.get("url"), str) or "body" not in body:
        return _control_error("url and body are required")
    return await _deliver(request.app.state.standin, body["url"], body["body"], body.get("headers"))


# ---------------------------------------------------------------------------- app

def load_menu(path: Path) -> dict[str, Any]:
    menu = json.loads(path.read_text())
    if not isinstance(menu, dict):
        raise SystemExit(f"{path}: a fetch-menu object is required")
    return menu


def create_app(state: State) -> Callable[..., Awaitable[None]]:
    app = Starlette(lifespan=standin_server.lifespan, routes=[
        Route("/save_order", save_order, methods=["POST"]),
        Route("/update_order_status", update_order_status, methods=["POST"]),
        Route("/mapped_restaurant_menus", mapped_restaurant_menus, methods=["POST"]),
        Route("/_standin/outlets/{rest_id}", put_outlet, methods=["PUT"]),
        Route("/_standin/faults", post_faults, methods=["POST"]),
        Route("/_standin/orders", get_orders, methods=["GET"]),
        Route("/_standin/orders/{order_id}/callback", post_callback, methods=["POST"]),
        Route("/_standin/send", post_send, methods=["POST"]),
        Route("/_standin/stats", get_stats, methods=["GET"]),
        Route("/_standin/reset", post_reset, methods=["POST"]),
    ])
    app.state.standin = state
    return standin_server.with_transport(app)


async def serve(port: int, menu: dict[str, Any]) -> None:
    state = State(menu)
    await standin_server.serve(create_app(state), state.released, port, "petpooja-standin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8070, help="0 picks a free one (read it from the ready line)")
    parser.add_argument("--menu", type=Path, default=DEFAULT_MENU, help="the default menu of registered outlets")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, load_menu(args.menu)))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
