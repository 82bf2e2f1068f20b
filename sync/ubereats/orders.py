"""An Uber Eats order (``GET /v2/eats/order/{order_id}``) -> a ``Cart`` for the mapping every
platform shares (sync/platform/orders.py), and a refusal -> ``deny_pos_order``'s reason.

Pure: no I/O. An item's ``id`` in Uber's cart is our menu item (our menu upload gave Uber
our ids: menu_format.py); a selected modifier option's ``id`` is one of its variations or
addons.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync.platform.orders import Cart, CartLine, Refused, clean_text, items_of, minor_units, obj, our_id

# Uber's order types that are picked up by the guest; every other is delivered.
PICK_UP_TYPES = frozenset({"PICK_UP", "DINE_IN"})
# deny_pos_order's reason codes by why we refuse.
DENY_CODES = {"sold_out": "ITEM_AVAILABILITY", "not_on_menu": "ITEM_ISSUE", "other": "OTHER"}


def uber_cart(order: Any) -> Cart:
    order = obj(order)
    lines = []
    for line in items_of(obj(order.get("cart")).get("items")):
        raw = obj(line)
        price = obj(raw.get("price"))
        options = [our_id(obj(option).get("id")) for group in items_of(raw.get("selected_modifier_groups"))
                   for option in items_of(obj(group).get("selected_items"))]
        lines.append(CartLine(
            ref=str(raw["id"]) if "id" in raw else "(a malformed line)", item_id=our_id(raw.get("id")),
            quantity=raw.get("quantity"),
            unit_price=minor_units(obj(price.get("unit_price")).get("amount")),
            line_total=minor_units(obj(price.get("total_price")).get("amount")),
            options=options, note=clean_text(raw.get("special_instructions"), 500)))
    total = obj(obj(obj(order.get("payment")).get("charges")).get("total"))
    eater, cart = obj(order.get("eater")), obj(order.get("cart"))
    return Cart(
        lines=lines, currency=total.get("currency_code"), total=minor_units(total.get("amount")),
        order_type="takeaway" if order.get("type") in PICK_UP_TYPES else "delivery",
        customer_name=clean_text(" ".join(str(eater.get(k) or "") for k in ("first_name", "last_name")), 120),
        customer_phone=clean_text(eater.get("phone"), 40), notes=clean_text(cart.get("special_instructions"), 1000))


def deny_reason(refused: Refused) -> Mapping[str, Any]:
    """``deny_pos_order``'s ``reason`` body."""
    return {"explanation": refused.explanation, "code": DENY_CODES[refused.kind],
            "out_of_stock_items": refused.out_of_stock_items, "invalid_items": refused.invalid_items}
