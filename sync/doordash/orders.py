"""A DoorDash order (the ``order`` object of its OrderCreate webhook) -> a ``Cart`` for the
mapping every platform shares (sync/platform/orders.py), and a refusal -> the failure reason
of DoorDash's order confirmation. Pure: no I/O.

An item's ``merchant_supplied_id`` is our menu item (our menu gave DoorDash our ids:
menu_format.py); a chosen option's ``merchant_supplied_id`` is one of its variations or
addons. Items come grouped by category (``categories[].items[]``); their ``price`` and their
options' ``price`` are cents of the store's currency, per unit (ASSUMED: docs/doordash.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sync.platform.orders import Cart, CartLine, Refused, clean_text, items_of, minor_units, obj, our_id

MALFORMED = "(a malformed line)"


def order_lines(order: Any) -> Iterable[Mapping[str, Any]]:
    """The order's item lines, whatever category holds them."""
    for category in items_of(obj(order).get("categories")):
        for line in items_of(obj(category).get("items")):
            yield obj(line)


def _ref(line: Mapping[str, Any]) -> str:
    ref = line.get("merchant_supplied_id")
    return ref if isinstance(ref, str) and ref else MALFORMED


def _unit_price(line: Mapping[str, Any]) -> int | None:
    """The item's price with its options' (each times its quantity): one unit as charged."""
    price = minor_units(line.get("price"))
    if price is None:
        return None
    for extra in items_of(line.get("extras")):
        for option in items_of(obj(extra).get("options")):
            option_price, quantity = minor_units(obj(option).get("price")), minor_units(obj(option).get("quantity", 1))
            if option_price is None or quantity is None:
                return None
            price += option_price * quantity
    return price


def _options(line: Mapping[str, Any]) -> list[Any]:
    return [our_id(obj(option).get("merchant_supplied_id")) for extra in items_of(line.get("extras"))
            for option in items_of(obj(extra).get("options"))]


def doordash_cart(order: Any, currency: str) -> Cart:
    """``currency``: the store's (DoorDash's order names none; a store sells in one currency)."""
    order = obj(order)
    lines = []
    for line in order_lines(order):
        unit, quantity = _unit_price(line), line.get("quantity")
        count = minor_units(quantity)
        total = unit * count if unit is not None and count is not None else None
        lines.append(CartLine(ref=_ref(line), item_id=our_id(line.get("merchant_supplied_id")), quantity=quantity,
                              unit_price=unit, line_total=total, options=_options(line),
                              note=clean_text(line.get("special_instructions"), 500)))
    subtotal, tax = minor_units(order.get("subtotal")), minor_units(order.get("tax"))
    consumer = obj(order.get("consumer"))
    return Cart(
        lines=lines, currency=order.get("currency", currency),
        # What the store is paid for the food: the subtotal and its tax. DoorDash's delivery fee
        # and the Dasher's tip are not the restaurant's.
        total=subtotal + tax if subtotal is not None and tax is not None else None,
        order_type="takeaway" if order.get("is_pickup") is True else "delivery",
        customer_name=clean_text(" ".join(str(consumer.get(k) or "") for k in ("first_name", "last_name")), 120),
        customer_phone=clean_text(consumer.get("phone"), 40),
        notes=clean_text(order.get("order_special_instructions"), 1000))


def failure_reason(refused: Refused, order: Any) -> str:
    """The confirmation's ``failure_reason``: why, naming each item as the guest saw it."""
    names = {_ref(line): clean_text(line.get("name"), 120) for line in order_lines(order)}
    refs = refused.invalid_items + refused.out_of_stock_items
    named = ", ".join(f"{names.get(ref) or ref} ({ref})" for ref in refs)
    return f"{refused.explanation}: {named}" if named else refused.explanation
