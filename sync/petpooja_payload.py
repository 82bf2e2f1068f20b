"""Our orders -> PetPooja's v2.1.0 ``save_order`` and ``update_order_status`` bodies, and
PetPooja's answers -> what the outbox worker does next.

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
- Tax and discount are order-level amounts here: ``tax_total``/``discount_total`` carry
  them, ``Tax.details``/``Discount.details`` get one fixed-amount entry each when they are
  not zero (the PetPooja tax/discount id when the caller knows it, else blank), and
  ``item_tax`` stays empty until the menu sync gives us PetPooja's per-item taxes.
- A guest without a name is "Guest"; missing phone, notes and table label are "".
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
class Outlet:
    """A connected PetPooja outlet: its mapping code (not its numeric id) and API keys."""

    rest_id: str
    app_key: str
    app_secret: str
    access_token: str


@dataclass(frozen=True)
class RestaurantInfo:
    """What PetPooja prints about the restaurant; ``timezone`` is an IANA name."""

    name: str
    address: str
    phone: str
    timezone: str


@dataclass(frozen=True)
class Accepted:
    """PetPooja took the order; its own order id may be blank (it is assigned later)."""

    petpooja_order_id: str
    message: str


@dataclass(frozen=True)
class Rejected:
    """PetPooja refused the content: the same body would fail again, so never retry it."""

    error_code: str
    message: str
    validation_errors: Any


@dataclass(frozen=True)
class Transient:
    """Nothing is known to be wrong with the order: retry with backoff."""

    reason: str


Outcome = Accepted | Rejected | Transient


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


def save_order_payload(
    order: Mapping[str, Any],
    outlet: Outlet,
    restaurant: RestaurantInfo,
    *,
    callback_url: str,
    payment_type: PaymentType = "COD",
    min_prep_time: int = 20,
    item_ids: Mapping[str, str] | None = None,
    tax_id: str = "",
    discount_id: str = "",
) -> dict[str, Any]:
    """The ``save_order`` body for one ``order_documents`` row.

    ``item_ids`` maps our menu item ids to PetPooja's item ids (items it lacks go out with
    our id); ``tax_id`` and ``discount_id`` are PetPooja's ids for the order-level entries.
    """
    currency = str(order["currency"])
    created = local_time(order["created_at"], restaurant.timezone)
    order_type = ORDER_TYPE[order["order_type"]]
    known_ids = item_ids or {}

    def amount(minor: int) -> str:
        return money(minor, currency)

    items = [
        {
            "id": known_ids.get(str(line["menu_item_id"]), str(line["menu_item_id"])),
            "name": str(line["name"]),
            "gst_liability": "vendor",
            "item_tax": [],
            "item_discount": "0",
            "price": amount(line["unit_price"]),
            "final_price": amount(line["line_total"]),
            "quantity": str(line["quantity"]),
            "description": _text(line["notes"]),
            "variation_name": "",
            "variation_id": "",
            "AddonItem": {"details": []},
        }
        for line in order["items"] or []
    ]
    taxes = (
        [{"id": tax_id, "title": "Tax", "type": "F", "price": amount(order["tax"]), "tax": amount(order["tax"]),
          "restaurant_liable_amt": amount(0)}]
        if order["tax"]
        else []
    )
    discounts = (
        [{"id": discount_id, "title": "Discount", "type": "F", "price": amount(order["discount"])}]
        if order["discount"]
        else []
    )
    return {
        "app_key": outlet.app_key,
        "app_secret": outlet.app_secret,
        "access_token": outlet.access_token,
        "orderinfo": {
            "OrderInfo": {
                "Restaurant": {
                    "details": {
                        "res_name": restaurant.name,
                        "address": restaurant.address,
                        "contact_information": restaurant.phone,
                        "restID": outlet.rest_id,
                    }
                },
                "Customer": {
                    "details": {
                        "email": "",
                        "name": _text(order["customer_name"]) or "Guest",
                        "address": "",
                        "phone": _text(order["customer_phone"]),
                        "latitude": "",
                        "longitude": "",
                    }
                },
                "Order": {
                    "details": {
                        "orderID": str(order["id"]),
                        "preorder_date": created.strftime("%Y-%m-%d"),
                        "preorder_time": created.strftime("%H:%M:%S"),
                        "service_charge": amount(order["tip"]),
                        "sc_tax_amount": amount(0),
                        "delivery_charges": amount(0),
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


def cancel_payload(order_id: object, outlet: Outlet, *, reason: str, petpooja_order_id: str = "") -> dict[str, str]:
    """The ``update_order_status`` body that cancels our order ``order_id`` in PetPooja."""
    return {
        "app_key": outlet.app_key,
        "app_secret": outlet.app_secret,
        "access_token": outlet.access_token,
        "restID": outlet.rest_id,
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


def classify_response(status_code: int, body: Any) -> Outcome:
    """What a ``save_order`` or ``update_order_status`` answer means for the outbox.

    ``body`` is the raw response (bytes or text) or its parsed JSON. A validation failure
    (HTTP 400, or ``success`` "0") is a rejection; an answer we cannot read as either a
    success or a rejection is transient, never taken for an acceptance.
    """
    if status_code == 429 or status_code >= 500:
        return Transient(f"HTTP {status_code}")
    data = _parsed(body)
    fields = data if isinstance(data, dict) else {}
    success = _flag(fields.get("success"))
    if status_code == 400 or (200 <= status_code < 300 and success == "0"):
        # A 400 repeats for the same body, so it is final even when its body is unreadable.
        return Rejected(
            error_code=_text(fields.get("errorCode")),
            message=_text(fields.get("message")),
            validation_errors=fields.get("validation_errors"),
        )
    if not 200 <= status_code < 300:
        return Transient(f"HTTP {status_code}")
    if not isinstance(data, dict):
        return Transient(f"HTTP {status_code} with a body that is not a JSON object")
    if success == "1":
        return Accepted(petpooja_order_id=_text(fields.get("orderID")), message=_text(fields.get("message")))
    return Transient(f"HTTP {status_code} without a success flag")
