"""An Uber Eats order (``GET /v2/eats/order/{order_id}``) -> our order's lines and totals.

Pure: no I/O. Uber's cart names our ids, because our menu upload gave Uber our ids
(menu_format.py): an item's ``id`` is our menu item, and a selected modifier option's ``id``
is one of its variations or addons. The order is priced as Uber charged it (unit prices and
totals as given); ``totals_differ`` says whether our menu prices the same items differently
(Uber's own taxes and fees on top are not ours to judge).

An order we cannot make (an item that is not ours or is unavailable, options the item does
not allow, another currency, an empty cart) is ``Refused`` with the reason Uber's
``deny_pos_order`` takes, naming the items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from db.pricing import (
    InvalidChoices,
    LineRequest,
    MenuPrice,
    PricedLine,
    Totals,
    check_choices,
    price_order,
)

# Uber's order types that are picked up by the guest; every other is delivered.
PICK_UP_TYPES = frozenset({"PICK_UP", "DINE_IN"})


@dataclass(frozen=True)
class Mapped:
    lines: list[PricedLine]
    totals: Totals
    order_type: str
    customer_name: str | None
    customer_phone: str | None
    notes: str | None
    platform_total: int
    totals_differ: bool


@dataclass(frozen=True)
class Refused:
    """Why we deny the order: deny_pos_order's ``reason`` body, and a line for operators."""

    explanation: str
    code: str
    out_of_stock_items: list[str]
    invalid_items: list[str]

    @property
    def reason(self) -> dict[str, Any]:
        return {"explanation": self.explanation, "code": self.code,
                "out_of_stock_items": self.out_of_stock_items, "invalid_items": self.invalid_items}


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _amount(money: Any) -> int | None:
    value = money.get("amount") if isinstance(money, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _text(value: Any, limit: int) -> str | None:
    """Free text from Uber, without control characters, at most ``limit`` characters."""
    if not isinstance(value, str):
        return None
    cleaned = "".join(c for c in value if c.isprintable() or c == "\n").strip()
    return cleaned[:limit] or None


def item_ids(order: Mapping[str, Any]) -> list[UUID]:
    """Our menu item ids the order's cart names (ids that are not ours are left out)."""
    items = _list(_obj(order.get("cart")).get("items"))
    return [i for i in (_uuid(_obj(item).get("id")) for item in items) if i is not None]


def map_order(order: Mapping[str, Any], menu: Mapping[UUID, MenuPrice], *, currency: str,
              tax_rate_bps: int) -> Mapped | Refused:
    """``menu``: our live items the cart names (db.orders.menu_prices), by id."""
    raw_items = _list(_obj(order.get("cart")).get("items"))
    invalid, out_of_stock = [], []
    requests: list[LineRequest] = []
    charged: list[tuple[int, int]] = []  # Uber's unit price and line total per line
    for raw in raw_items:
        if not isinstance(raw, Mapping):
            return _refused("the order's cart is malformed", [])
        uber_id = str(raw.get("id"))
        item_id, quantity = _uuid(raw.get("id")), raw.get("quantity")
        item = menu.get(item_id) if item_id is not None else None
        if item is None or item_id is None:
            invalid.append(uber_id)
            continue
        if not item.available:
            out_of_stock.append(uber_id)
            continue
        price = _obj(raw.get("price"))
        unit, total = _amount(price.get("unit_price")), _amount(price.get("total_price"))
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 1000 or unit is None:
            invalid.append(uber_id)
            continue
        chosen = [_uuid(_obj(option).get("id")) for group in _list(raw.get("selected_modifier_groups"))
                  for option in _list(_obj(group).get("selected_items"))]
        if None in chosen:
            invalid.append(uber_id)
            continue
        variations = {v.id for v in item.variations}
        request = LineRequest(item_id, quantity, _text(raw.get("special_instructions"), 500),
                              next((c for c in chosen if c in variations), None),
                              tuple(c for c in chosen if c is not None and c not in variations))
        if check_choices(len(requests), request, item):
            invalid.append(uber_id)
            continue
        requests.append(request)
        charged.append((unit, total if total is not None else unit * quantity))
    if invalid or out_of_stock:
        return _refused("some items are not on the menu as ordered" if invalid else "some items are sold out",
                        invalid, out_of_stock)
    if not requests:
        return _refused("the order has no items", [])
    charges = _obj(_obj(order.get("payment")).get("charges"))
    uber_currency = _obj(charges.get("total")).get("currency_code")
    platform_total = _amount(charges.get("total"))
    if uber_currency != currency or platform_total is None:
        return _refused(f"the order is not charged in the restaurant's currency ({currency})", [])
    return _mapped(order, requests, charged, menu, platform_total, tax_rate_bps)


def _refused(explanation: str, invalid: list[str], out_of_stock: list[str] | None = None) -> Refused:
    code = "ITEM_AVAILABILITY" if out_of_stock and not invalid else "ITEM_ISSUE" if invalid else "OTHER"
    return Refused(explanation, code, out_of_stock or [], invalid)


def _mapped(order: Mapping[str, Any], requests: list[LineRequest], charged: list[tuple[int, int]],
            menu: Mapping[UUID, MenuPrice], platform_total: int, tax_rate_bps: int) -> Mapped:
    try:
        ours, our_totals = price_order(requests, menu, tax_rate_bps=tax_rate_bps)
    except InvalidChoices:  # checked line by line above
        raise AssertionError("choices were checked") from None
    # Our lines (names, options) at Uber's prices; Uber's taxes are in its total, not on lines.
    lines = [replace(line, unit_price=unit, line_total=total, taxes=())
             for line, (unit, total) in zip(ours, charged, strict=True)]
    subtotal = sum(line.line_total for line in lines)
    # Uber's total as charged: what it adds to the items (taxes, fees) is our tax, what it
    # takes off (promotions) our discount, so that subtotal + tax - discount = Uber's total.
    totals = Totals(subtotal, max(0, platform_total - subtotal), 0, max(0, subtotal - platform_total), platform_total)
    eater, cart = _obj(order.get("eater")), _obj(order.get("cart"))
    return Mapped(
        lines=lines, totals=totals,
        order_type="takeaway" if order.get("type") in PICK_UP_TYPES else "delivery",
        customer_name=_text(" ".join(str(eater.get(k) or "") for k in ("first_name", "last_name")), 120),
        customer_phone=_text(eater.get("phone"), 40), notes=_text(cart.get("special_instructions"), 1000),
        platform_total=platform_total,
        # The items as Uber priced them against our menu (Uber adds its own taxes and fees).
        totals_differ=our_totals.subtotal != subtotal,
    )
