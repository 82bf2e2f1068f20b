"""Our orders -> PetPooja's v2.1.0 ``save_order`` and ``update_order_status`` bodies, and
PetPooja's answers -> the engine's outcomes (sync/outcome.py).

Pure functions: no I/O, no clock, no randomness. The same order maps to the same body
byte for byte, so a resend after a lost response carries exactly what PetPooja may
already hold (it ignores an orderID it has seen), and an order is never sent twice with
different content.

PetPooja wants every value as a string and money in major units ("123.45"); we keep
integer minor units, so amounts go through ``Decimal`` and never through a float.

Choices where PetPooja's documentation is silent or leaves it to the integrator:

- ``enable_delivery`` is "1" (self delivery) on every order: our delivery orders are
  delivered by the restaurant, and "0" would ask PetPooja for a platform rider, which a
  pickup or dine-in order never wants either.
- ``preorder_date``/``preorder_time`` are the order's own creation time: we have no
  scheduled orders, and a later clock reading would break byte-identical resends (which
  is also why no "now" goes into the body).
- The tip has no field of its own; it goes out as ``service_charge`` (untaxed) so that
  ``total`` still adds up: items - discount + tax + service charge.
- Taxes: a line whose item has its own (imported) taxes lists them in ``item_tax`` (id,
  name, amount for the line) and ``Tax.details`` gets one percentage entry per tax
  (``type`` "P", ``price`` the rate, ``tax`` the sum over the lines). An imported item with
  no taxes is tax-free (db/pricing.py) and lists none. Every entry carries PetPooja's tax id:
  the restaurant's own rate, which only items made here pay (they go out with our ids,
  PetPooja knows neither them nor that tax), has no PetPooja id and gets no entry of its own.
  ``tax_total`` and ``total`` are still the order's, what the guest pays, so ``total`` adds
  up (items - discount + tax_total + charges); ``tax_total`` then exceeds the sum of
  ``Tax.details`` by exactly that restaurant-rate tax.
- The discount is order-level: ``discount_total`` and one fixed ``Discount.details`` entry;
  ``item_discount`` is "0" on every line (PetPooja would otherwise count it twice).
- Variations and addons: ``price`` is the unit price with the variation and the addons
  (what we charged for one), ``final_price`` the line total; each chosen addon is one
  ``AddonItem`` entry with quantity "1" per unit of the line. Ids are PetPooja's (the
  menu's external ids) where the menu came from PetPooja, ours otherwise; a line with a
  variation goes out as PetPooja's example does: ``id`` the variation entry's id
  (variation[].id) and ``variation_id`` the variation kind (variationid).
- The body holds no credentials: it is stored as sent (petpooja_orders.payload), and the
  client adds the outlet's keys at send time.
- A guest without a name is "Guest"; missing phone, notes and table label are "".
- A delivery order (docs/delivery-zones.md): ``Customer.details.address`` is the address as the
  customer wrote it (line1, line2, city, postcode, then their instructions in brackets: what a
  rider needs, flat numbers included), ``latitude``/``longitude`` the geocoded point as decimal
  strings, and ``delivery_charges`` the order's delivery fee (untaxed: ``dc_tax_amount`` "0.00").
  The total already includes the fee, so it still adds up. Other orders send "" and "0.00".
- ``udid`` is "": we are a web integration with no device id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sync.outcome import Delivered, GiveUp, Retry
from sync.petpooja.text import first_unstorable, shown

PaymentType = Literal["COD", "CARD", "CREDIT", "ONLINE", "OTHER"]

ORDER_TYPE = {"delivery": "H", "takeaway": "P", "dine_in": "D"}

# ISO 4217 currencies whose minor unit is not the cent; every other one has 2 digits.
MINOR_DIGITS = {
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(
        ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
         "XAF", "XOF", "XPF"],
        0,
    ),
}

CANCELLED = "-1"
_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class RestaurantInfo:
    """What PetPooja prints about the restaurant; ``timezone`` is an IANA name."""

    name: str
    address: str
    phone: str
    timezone: str


def money(minor: int, currency: str) -> str:
    """Integer minor units as a major-unit string with the currency's digits ("123.45")."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"money must be integer minor units, not {type(minor).__name__}")
    digits = MINOR_DIGITS.get(currency.upper(), 2)
    # Built from text, the Decimal is exact at any size; arithmetic such as scaleb() would
    # round to the context's 28 digits.
    return f"{Decimal(f'{minor}E-{digits}'):.{digits}f}"


def local_time(moment: datetime, timezone: str) -> datetime:
    """``moment`` on the restaurant's wall clock; a naive time is refused, not guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("order times must be timezone-aware")
    return moment.astimezone(ZoneInfo(timezone))


def _text(value: object) -> str:
    return "" if value is None else str(value)


def rate(rate_bps: int) -> str:
    """A tax rate in basis points as PetPooja's percentage string (250 -> "2.5", 500 -> "5")."""
    return f"{Decimal(rate_bps).scaleb(-2).normalize():f}"


def delivery_address(delivery: Mapping[str, Any]) -> str:
    """A delivery order's address as the rider reads it: the customer's own lines (a flat number
    the geocoder drops stays), comma-separated, then their instructions; "" without one."""
    given = delivery.get("address") or {}
    parts = [_text(given.get(k)).strip() for k in ("line1", "line2", "city", "postcode")]
    text = ", ".join(part for part in parts if part)
    instructions = " ".join(_text(given.get("instructions")).split())
    return f"{text} ({instructions})" if text and instructions else text


def _id(line: Mapping[str, Any], external: str, ours: str) -> str:
    """PetPooja's id of a menu entity when it was imported from PetPooja, else ours."""
    return _text(line.get(external)) or _text(line.get(ours))


def save_order_payload(
    order: Mapping[str, Any],
    rest_id: str,
    restaurant: RestaurantInfo,
    *,
    callback_url: str,
    payment_type: PaymentType = "COD",
    min_prep_time: int = 20,
    discount_id: str = "",
) -> dict[str, Any]:
    """The ``save_order`` body for one order, without the outlet's keys (the client adds
    them at send time, so the body can be stored).

    ``order`` has the orders columns and ``items``: each line with ``menu_item_id``,
    ``name``, ``unit_price``, ``quantity``, ``line_total``, ``notes`` and, when known,
    ``item_external_id`` (PetPooja's itemid), ``variation_id``, ``variation_external_id``
    (PetPooja's variation[].id), ``variation_kind_external_id`` (its variationid),
    ``variation_name``, ``addons`` ([{id, external_id, group_id, group_external_id,
    group_name, name, price}], one of each per unit) and ``taxes`` ([{id, external_id, name,
    rate_bps, amount}], the line's own taxes). PetPooja's ids go out where the menu was
    imported from PetPooja, ours otherwise. ``discount_id`` is PetPooja's id for the
    order-level discount entry.
    """
    currency = str(order["currency"])
    created = local_time(order["created_at"], restaurant.timezone)
    delivery: Mapping[str, Any] = order.get("delivery") or {}
    order_type = ORDER_TYPE[order["order_type"]]

    def amount(minor: int) -> str:
        return money(minor, currency)

    items = []
    # PetPooja's order-level tax entries: one per tax, summed over the lines, in first-seen order.
    per_tax: dict[str, dict[str, Any]] = {}
    for line in order["items"] or []:
        line_taxes = line.get("taxes") or []
        for tax in line_taxes:
            key = _id(tax, "external_id", "id")
            entry = per_tax.setdefault(key, {"name": _text(tax["name"]), "rate_bps": int(tax["rate_bps"]), "amount": 0})
            entry["amount"] += int(tax["amount"])
        variation = line.get("variation_id")
        # A variation line is PetPooja's variation entry (variation[].id) with the variation
        # kind (variationid) as variation_id, as in PetPooja's own save_order example.
        item_id = _text(line.get("variation_external_id")) if variation else ""
        items.append({
            "id": item_id or _id(line, "item_external_id", "menu_item_id"),
            "name": str(line["name"]),
            "gst_liability": "vendor",
            "item_tax": [{"id": _id(tax, "external_id", "id"), "name": _text(tax["name"]),
                          "amount": amount(int(tax["amount"]))} for tax in line_taxes],
            "item_discount": "0",
            # Unit price with the variation and addons, not times the quantity.
            "price": amount(line["unit_price"]),
            "final_price": amount(line["line_total"]),
            "quantity": str(line["quantity"]),
            "description": _text(line.get("notes")),
            "variation_name": _text(line.get("variation_name")) if variation else "",
            "variation_id": _id(line, "variation_kind_external_id", "variation_id") if variation else "",
            "AddonItem": {"details": [
                {"id": _id(addon, "external_id", "id"), "name": _text(addon["name"]),
                 "group_name": _text(addon.get("group_name")), "price": amount(int(addon["price"])),
                 "group_id": _id(addon, "group_external_id", "group_id"), "quantity": "1"}
                for addon in line.get("addons") or []
            ]},
        })
    taxes = [
        {"id": key, "title": entry["name"], "type": "P", "price": rate(entry["rate_bps"]),
         "tax": amount(entry["amount"]), "restaurant_liable_amt": amount(0)}
        for key, entry in per_tax.items()
    ]
    # The restaurant-rate tax of items made here (order["tax"] minus the entries above) has no
    # PetPooja tax id, so no entry: it stays in tax_total, which keeps total adding up.
    discounts = (
        [{"id": discount_id, "title": "Discount", "type": "F", "price": amount(order["discount"])}]
        if order["discount"]
        else []
    )
    return {
        "orderinfo": {
            "OrderInfo": {
                "Restaurant": {
                    "details": {
                        "res_name": restaurant.name,
                        "address": restaurant.address,
                        "contact_information": restaurant.phone,
                        "restID": rest_id,
                    }
                },
                "Customer": {
                    "details": {
                        "email": "",
                        "name": _text(order["customer_name"]) or "Guest",
                        "address": delivery_address(delivery),
                        "phone": _text(order["customer_phone"]),
                        "latitude": _text(delivery.get("lat")) if delivery else "",
                        "longitude": _text(delivery.get("lng")) if delivery else "",
                    }
                },
                "Order": {
                    "details": {
                        "orderID": str(order["id"]),
                        "preorder_date": created.strftime("%Y-%m-%d"),
                        "preorder_time": created.strftime("%H:%M:%S"),
                        "service_charge": amount(order["tip"]),
                        "sc_tax_amount": amount(0),
                        "delivery_charges": amount(order.get("delivery_fee") or 0),
                        "dc_tax_amount": amount(0),
                        "packing_charges": amount(0),
                        "pc_tax_amount": amount(0),
                        "order_type": order_type,
                        "advanced_order": "N",
                        "payment_type": payment_type,
                        "table_no": _text(order["table_label"]) if order_type == "D" else "",
                        "no_of_persons": "0",
                        "discount_total": amount(order["discount"]),
                        "discount_type": "F",
                        "tax_total": amount(order["tax"]),
                        "total": amount(order["total"]),
                        "description": _text(order["notes"]),
                        "created_on": created.strftime(_TIME),
                        "enable_delivery": "1",
                        "min_prep_time": str(min_prep_time),
                        "callback_url": callback_url,
                    }
                },
                "OrderItem": {"details": items},
                "Tax": {"details": taxes},
                "Discount": {"details": discounts},
            }
        },
        "udid": "",
        "device_type": "Web",
    }


def cancel_payload(order_id: object, rest_id: str, *, reason: str, petpooja_order_id: str = "") -> dict[str, str]:
    """The ``update_order_status`` body that cancels our order ``order_id`` in PetPooja,
    without the outlet's keys (the client adds them)."""
    return {
        "restID": rest_id,
        "orderID": petpooja_order_id,
        "clientorderID": str(order_id),
        "cancelReason": reason,
        "status": CANCELLED,
    }


def _parsed(body: Any) -> Any:
    if isinstance(body, bytes | bytearray | str):
        try:
            return json.loads(body)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
            return None
    return body


def _flag(value: object) -> str | None:
    """PetPooja's ``success`` as "1"/"0"; documented as a string, tolerated as an int."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def classify_response(status_code: int, body: Any) -> Delivered | GiveUp | Retry:
    """What a ``save_order`` or ``update_order_status`` answer means for the outbox.

    ``body`` is the raw response (bytes or text) or its parsed JSON. Success ("1") is
    delivered, its detail PetPooja's order id (blank when PetPooja assigns it later). A
    validation failure (HTTP 400, or ``success`` "0") means the same body would fail again:
    give up, with PetPooja's code, message and validation errors for operators. An answer we
    cannot read as either is retried, never taken for an acceptance.
    """
    if status_code == 429 or status_code >= 500:
        return Retry(f"HTTP {status_code}")
    data = _parsed(body)
    fields = data if isinstance(data, dict) else {}
    success = _flag(fields.get("success"))
    if status_code == 400 or (200 <= status_code < 300 and success == "0"):
        # A 400 repeats for the same body, so it is final even when its body is unreadable.
        # PetPooja's words end up in last_error (text) and logs: escaped, they may hold anything.
        errors = shown(json.dumps(fields.get("validation_errors"), sort_keys=True, ensure_ascii=False))
        return GiveUp(f"PetPooja rejected it: errorCode={shown(_text(fields.get('errorCode'))) or '-'} "
                      f"message={shown(_text(fields.get('message'))) or '-'} validation_errors={errors}")
    if not 200 <= status_code < 300:
        return Retry(f"HTTP {status_code}")
    if not isinstance(data, dict):
        return Retry(f"HTTP {status_code} with a body that is not a JSON object")
    if success == "1":
        return Delivered(shown(_text(fields.get("orderID"))))
    return Retry(f"HTTP {status_code} without a success flag")


def storable_answer(body: bytes) -> Any:
    """An answer's body for the jsonb columns: its JSON, or its text (escaped, at most 2,000
    characters) when it is not JSON or holds what PostgreSQL cannot store (NUL, a lone surrogate)."""
    try:
        data = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        pass
    else:
        if first_unstorable(data) is None:
            return data
    return {"raw": shown(body.decode("utf-8", "replace")[:2000])}


def answer_excerpt(body: bytes) -> str:
    """The start of an answer for an error message (last_error is text): escaped."""
    return shown(body[:300].decode("utf-8", "replace"))
