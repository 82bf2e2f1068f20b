"""A platform's order, read into a ``Cart`` by the platform's parser, -> our order's lines and
totals. Pure: no I/O.

Every platform's cart names our ids, because our menu publish gave the platform our ids: a
line's item is our menu item, a chosen option one of its variations or addons. The order is
priced as the platform charged it (unit prices and totals as given); ``totals_differ`` says
whether our menu prices the same items differently (a platform's own taxes and fees on top
are not ours to judge).

An order we cannot make (an item that is not ours or is unavailable, options the item does
not allow, another currency, an empty cart) is ``Refused``, naming the items: the platform's
adapter turns that into its deny call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
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

RefusalKind = Literal["sold_out", "not_on_menu", "other"]


@dataclass(frozen=True)
class CartLine:
    """One line as the platform sent it. ``ref`` is the platform's name for the item (shown
    to operators and sent back when it is refused); ``options`` are our option ids, None
    where the platform named something that is not an id of ours."""

    ref: str
    item_id: UUID | None
    quantity: Any
    unit_price: int | None
    line_total: int | None
    options: Sequence[UUID | None] = ()
    note: str | None = None


@dataclass(frozen=True)
class Cart:
    lines: Sequence[CartLine]
    currency: Any
    total: int | None  # what the platform charged the guest, in minor units
    order_type: str  # ours: delivery or takeaway
    customer_name: str | None = None
    customer_phone: str | None = None
    notes: str | None = None


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
    """Why we deny the order, for the platform's deny call and for operators."""

    explanation: str
    kind: RefusalKind
    out_of_stock_items: list[str]
    invalid_items: list[str]

    @property
    def summary(self) -> str:
        return f"denied: {self.explanation}: {', '.join(self.invalid_items + self.out_of_stock_items)}"


def refused(explanation: str, invalid: list[str], out_of_stock: list[str] | None = None) -> Refused:
    kind: RefusalKind = "sold_out" if out_of_stock and not invalid else "not_on_menu" if invalid else "other"
    return Refused(explanation, kind, out_of_stock or [], invalid)


# --- reading a platform's JSON safely --------------------------------------------------------


def obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items_of(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def minor_units(value: Any) -> int | None:
    """A non-negative whole amount, or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def our_id(value: Any) -> UUID | None:
    try:
        return UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def clean_text(value: Any, limit: int) -> str | None:
    """Free text from a platform, without control characters, at most ``limit`` characters."""
    if not isinstance(value, str):
        return None
    cleaned = "".join(c for c in value if c.isprintable() or c == "\n").strip()
    return cleaned[:limit] or None


# --- the mapping -------------------------------------------------------------------------------


def item_ids(cart: Cart) -> list[UUID]:
    """Our menu item ids the cart names (ids that are not ours are left out)."""
    return [line.item_id for line in cart.lines if line.item_id is not None]


def map_cart(cart: Cart, menu: Mapping[UUID, MenuPrice], *, currency: str, tax_rate_bps: int) -> Mapped | Refused:
    """``menu``: our live items the cart names (db.orders.menu_prices), by id."""
    invalid, out_of_stock = [], []
    requests: list[LineRequest] = []
    charged: list[tuple[int, int]] = []  # the platform's unit price and line total per line
    for line in cart.lines:
        item = menu.get(line.item_id) if line.item_id is not None else None
        if item is None or line.item_id is None:
            invalid.append(line.ref)
            continue
        if not item.available:
            out_of_stock.append(line.ref)
            continue
        quantity, unit = line.quantity, line.unit_price
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 1000 or unit is None:
            invalid.append(line.ref)
            continue
        if None in line.options:
            invalid.append(line.ref)
            continue
        variations = {v.id for v in item.variations}
        request = LineRequest(line.item_id, quantity, line.note,
                              next((c for c in line.options if c in variations), None),
                              tuple(c for c in line.options if c is not None and c not in variations))
        if check_choices(len(requests), request, item):
            invalid.append(line.ref)
            continue
        requests.append(request)
        charged.append((unit, line.line_total if line.line_total is not None else unit * quantity))
    if invalid or out_of_stock:
        return refused("some items are not on the menu as ordered" if invalid else "some items are sold out",
                       invalid, out_of_stock)
    if not requests:
        return refused("the order has no items", [])
    if cart.currency != currency or cart.total is None:
        return refused(f"the order is not charged in the restaurant's currency ({currency})", [])
    return _mapped(cart, requests, charged, menu, cart.total, tax_rate_bps)


def _mapped(cart: Cart, requests: list[LineRequest], charged: list[tuple[int, int]],
            menu: Mapping[UUID, MenuPrice], platform_total: int, tax_rate_bps: int) -> Mapped:
    try:
        ours, our_totals = price_order(requests, menu, tax_rate_bps=tax_rate_bps)
    except InvalidChoices:  # checked line by line above
        raise AssertionError("choices were checked") from None
    # Our lines (names, options) at the platform's prices; its taxes are in its total, not on lines.
    lines = [replace(line, unit_price=unit, line_total=total, taxes=())
             for line, (unit, total) in zip(ours, charged, strict=True)]
    subtotal = sum(line.line_total for line in lines)
    # The total as charged: what the platform adds to the items (taxes, fees) is our tax, what
    # it takes off (promotions) our discount, so that subtotal + tax - discount = its total.
    totals = Totals(subtotal, max(0, platform_total - subtotal), 0, max(0, subtotal - platform_total), platform_total)
    return Mapped(lines=lines, totals=totals, order_type=cart.order_type, customer_name=cart.customer_name,
                  customer_phone=cart.customer_phone, notes=cart.notes, platform_total=platform_total,
                  # The items as the platform priced them against our menu.
                  totals_differ=our_totals.subtotal != subtotal)
