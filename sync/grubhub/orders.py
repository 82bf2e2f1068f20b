"""A Grubhub order, as its new-order webhook carries it -> a ``Cart`` for the mapping every
platform shares (sync/platform/orders.py), and our answers -> the order status body.

Pure: no I/O. The shape is ASSUMED (docs/grubhub.md): Grubhub publishes no schema for its
order webhook; this reads the fields a third-party rebuild of its docs lists (``order_uuid``,
``fulfillment_type``, ``customer``, ``items[{item_id, quantity, price, modifiers}]``,
``totals.total``), with our ids as ``item_id`` and each modifier's ``external_id`` (our menu
ingestion gave Grubhub our ids), amounts as decimals (3.5 = 350 minor units) and the
order's ``currency``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sync.platform.orders import Cart, CartLine, Refused, clean_text, items_of, obj, our_id

# Verified statuses of PUT .../orders/{order_uuid}/status (Grubhub's Example Order article).
CONFIRMED, REJECTED = "CONFIRMED", "REJECTED"


def minor(value: Any) -> int | None:
    """A decimal amount (3.5) -> minor units (350); None unless a non-negative amount of at most
    two decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        cents = Decimal(str(value)) * 100
    except InvalidOperation:
        return None
    return int(cents) if cents >= 0 and cents == cents.to_integral_value() else None


def _line(raw: Any) -> CartLine:
    raw = obj(raw)
    modifiers = [obj(m) for m in items_of(raw.get("modifiers"))]
    base, extras = minor(raw.get("price")), [minor(m.get("price")) for m in modifiers]
    # The unit price the guest paid: the item and its modifiers (each modifier's price is per unit).
    unit = None if base is None or None in extras else base + sum(e for e in extras if e is not None)
    quantity = raw.get("quantity")
    ref = raw.get("item_id")
    return CartLine(
        ref=str(ref)[:128] if isinstance(ref, str | int) else "(a malformed line)", item_id=our_id(ref),
        quantity=quantity, unit_price=unit,
        line_total=unit * quantity if unit is not None and isinstance(quantity, int) else None,
        options=[our_id(m.get("external_id")) for m in modifiers],
        note=clean_text(raw.get("special_instructions"), 500))


def grubhub_cart(order: Any) -> Cart:
    order = obj(order)
    customer = obj(order.get("customer"))
    return Cart(
        lines=[_line(raw) for raw in items_of(order.get("items"))], currency=order.get("currency"),
        total=minor(obj(order.get("totals")).get("total")),
        order_type="takeaway" if order.get("fulfillment_type") == "PICKUP" else "delivery",
        customer_name=clean_text(" ".join(str(customer.get(k) or "") for k in ("first_name", "last_name")), 120),
        customer_phone=clean_text(customer.get("phone"), 40), notes=clean_text(order.get("special_instructions"), 1000))


def confirm_body(wait_time_min: int) -> dict[str, Any]:
    return {"status": CONFIRMED, "wait_time_in_minutes": wait_time_min}


def reject_body(refused: Refused) -> dict[str, Any]:
    """REJECTED (verified); ``reason`` names the items (the field is ASSUMED: a third-party
    rebuild lists it for status updates)."""
    return {"status": REJECTED, "reason": refused.summary[:500]}
