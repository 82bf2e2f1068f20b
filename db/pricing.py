"""Order pricing from the menu's prices: lines, subtotal, tax, tip and total.

Pure arithmetic on integer minor units. Tax is charged on the subtotal less the discount
at the restaurant's rate in basis points, rounded half up to the minor unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class LineRequest:
    menu_item_id: UUID
    quantity: int
    notes: str | None = None


@dataclass(frozen=True)
class MenuPrice:
    name: str
    price: int


@dataclass(frozen=True)
class PricedLine:
    menu_item_id: UUID
    name: str
    unit_price: int
    quantity: int
    line_total: int
    notes: str | None


@dataclass(frozen=True)
class Totals:
    subtotal: int
    tax: int
    tip: int
    discount: int
    total: int


def tax_on(amount: int, rate_bps: int) -> int:
    return (amount * rate_bps + 5_000) // 10_000


def price_order(
    lines: Sequence[LineRequest],
    menu: Mapping[UUID, MenuPrice],
    *,
    tax_rate_bps: int,
    tip: int = 0,
    discount: int = 0,
) -> tuple[list[PricedLine], Totals]:
    """Prices every line from ``menu``; a line whose item is missing raises KeyError."""
    priced = [
        PricedLine(
            menu_item_id=line.menu_item_id,
            name=menu[line.menu_item_id].name,
            unit_price=menu[line.menu_item_id].price,
            quantity=line.quantity,
            line_total=menu[line.menu_item_id].price * line.quantity,
            notes=line.notes,
        )
        for line in lines
    ]
    subtotal = sum(p.line_total for p in priced)
    discount = min(discount, subtotal)
    tax = tax_on(subtotal - discount, tax_rate_bps)
    return priced, Totals(subtotal, tax, tip, discount, subtotal - discount + tax + tip)
