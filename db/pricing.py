"""Order pricing from the menu's prices: line options, lines, subtotal, tax, tip and total.

Pure arithmetic on integer minor units, and the checks of a line's options against the
menu (which variation, which addons). A line's unit price is its variation's price (or
the item's when it has none) plus the prices of its addons.

Tax, rounded half up to the minor unit:
* an item imported from the POS is taxed at exactly its own (the POS's) taxes, line by line
  at each of them, each amount recorded on the line; none means none: the POS said the item
  is tax-free (no taxes, or PetPooja's ignore_taxes), and the restaurant's rate never applies
  to it;
* the lines of items made here are taxed together at the restaurant's rate, rounded once
  (so an order without imported items is taxed exactly as before imports existed).
A discount is shared among the lines in proportion to their totals and comes off each
line's taxable amount before tax.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from uuid import UUID

# The largest price of an item, variation or addon in minor units (the API's Money bound, and
# what a POS menu import accepts): 100 million major units.
MAX_PRICE = 100_000_000_00
# The largest amount an order may come to: beyond 2**53 a JSON number loses units in
# JavaScript (guests' browsers, Convex), long before a bigint column overflows.
MAX_AMOUNT = 2**53 - 1


@dataclass(frozen=True)
class LineRequest:
    menu_item_id: UUID
    quantity: int
    notes: str | None = None
    variation_id: UUID | None = None
    addon_ids: tuple[UUID, ...] = ()


@dataclass(frozen=True)
class Variation:
    id: UUID
    name: str
    price: int
    is_available: bool = True


@dataclass(frozen=True)
class Addon:
    id: UUID
    name: str
    price: int
    is_available: bool = True
    external_id: str | None = None


@dataclass(frozen=True)
class AddonGroup:
    """A group as an item offers it: with the item's own minimum and maximum choices."""

    id: UUID
    name: str
    min_select: int
    max_select: int
    addons: tuple[Addon, ...] = ()
    external_id: str | None = None


@dataclass(frozen=True)
class ItemTax:
    id: UUID
    name: str
    rate_bps: int
    external_id: str | None = None


@dataclass(frozen=True)
class MenuPrice:
    """An orderable item with its live variations, addon groups and taxes. ``imported``: it
    came from the POS, whose taxes (``taxes``, maybe none) are then exactly its tax."""

    name: str
    price: int
    variations: tuple[Variation, ...] = ()
    addon_groups: tuple[AddonGroup, ...] = ()
    taxes: tuple[ItemTax, ...] = ()
    imported: bool = False
    available: bool = True


@dataclass(frozen=True)
class ChosenAddon:
    id: UUID
    external_id: str | None
    group_id: UUID
    group_name: str
    name: str
    price: int
    group_external_id: str | None = None


@dataclass(frozen=True)
class LineTax:
    id: UUID
    external_id: str | None
    name: str
    rate_bps: int
    amount: int


@dataclass(frozen=True)
class PricedLine:
    menu_item_id: UUID
    name: str
    unit_price: int
    quantity: int
    line_total: int
    notes: str | None
    variation_id: UUID | None = None
    variation_name: str | None = None
    addons: tuple[ChosenAddon, ...] = ()
    taxes: tuple[LineTax, ...] = ()


@dataclass(frozen=True)
class Totals:
    subtotal: int
    tax: int
    tip: int
    discount: int
    total: int
    delivery_fee: int = 0  # a delivery order's fee (docs/delivery-zones.md): untaxed, undiscounted


@dataclass(frozen=True)
class Problem:
    """Why a line's options cannot be ordered. ``field`` is ``variation_id`` or
    ``addon_ids``; ``index`` is the position in ``addon_ids`` when one addon is at fault."""

    line: int
    field: str
    code: str
    msg: str
    index: int | None = None

    @property
    def loc(self) -> list[str | int]:
        loc: list[str | int] = ["body", "items", self.line, self.field]
        return loc if self.index is None else [*loc, self.index]


class InvalidChoices(ValueError):
    def __init__(self, problems: list[Problem]):
        super().__init__(problems[0].msg)
        self.problems = problems


def tax_on(amount: int, rate_bps: int) -> int:
    return (amount * rate_bps + 5_000) // 10_000


def check_choices(line_no: int, line: LineRequest, item: MenuPrice) -> list[Problem]:
    """Every reason ``line``'s variation and addons are not a valid choice of ``item``."""
    problems: list[Problem] = []
    variations = {v.id: v for v in item.variations}
    if line.variation_id is not None:
        chosen = variations.get(line.variation_id)
        if chosen is None:
            problems.append(Problem(line_no, "variation_id", "unknown_variation",
                                    f"this is not a variation of {item.name}"))
        elif not chosen.is_available:
            problems.append(Problem(line_no, "variation_id", "variation_unavailable",
                                    f"{item.name} ({chosen.name}) is unavailable"))
    elif variations:
        names = ", ".join(v.name for v in item.variations)
        problems.append(Problem(line_no, "variation_id", "variation_required",
                                f"{item.name} needs a variation: one of {names}"))

    groups = {a.id: g for g in item.addon_groups for a in g.addons}
    counts = {g.id: 0 for g in item.addon_groups}
    for index, addon_id in enumerate(line.addon_ids):
        group = groups.get(addon_id)
        if group is None:
            problems.append(Problem(line_no, "addon_ids", "unknown_addon",
                                    f"this is not an addon {item.name} offers", index))
            continue
        addon = next(a for a in group.addons if a.id == addon_id)
        counts[group.id] += 1
        if not addon.is_available:
            problems.append(Problem(line_no, "addon_ids", "addon_unavailable",
                                    f"{addon.name} is unavailable", index))
    for group in item.addon_groups:
        n = counts[group.id]
        if n < group.min_select:
            problems.append(Problem(line_no, "addon_ids", "too_few_addons",
                                    f"choose at least {group.min_select} of {group.name} for {item.name}"
                                    f" ({n} chosen)"))
        elif n > group.max_select:
            problems.append(Problem(line_no, "addon_ids", "too_many_addons",
                                    f"choose at most {group.max_select} of {group.name} for {item.name}"
                                    f" ({n} chosen)"))
    return problems


def _price_line(line: LineRequest, item: MenuPrice) -> PricedLine:
    variation = next((v for v in item.variations if v.id == line.variation_id), None)
    addons = tuple(
        ChosenAddon(a.id, a.external_id, g.id, g.name, a.name, a.price, g.external_id)
        for addon_id in line.addon_ids
        for g in item.addon_groups for a in g.addons if a.id == addon_id
    )
    unit_price = (variation.price if variation else item.price) + sum(a.price for a in addons)
    return PricedLine(
        menu_item_id=line.menu_item_id, name=item.name, unit_price=unit_price, quantity=line.quantity,
        line_total=unit_price * line.quantity, notes=line.notes,
        variation_id=variation.id if variation else None, variation_name=variation.name if variation else None,
        addons=addons,
    )


def _shares(amounts: Sequence[int], whole: int) -> list[int]:
    """``whole`` split in proportion to ``amounts`` (largest remainders get the leftover units)."""
    total = sum(amounts)
    if total == 0 or whole == 0:
        return [0] * len(amounts)
    shares = [whole * a // total for a in amounts]
    by_remainder = sorted(range(len(amounts)), key=lambda i: (-(whole * amounts[i] % total), i))
    for i in by_remainder[: whole - sum(shares)]:
        shares[i] += 1
    return shares


def price_order(
    lines: Sequence[LineRequest],
    menu: Mapping[UUID, MenuPrice],
    *,
    tax_rate_bps: int,
    tip: int = 0,
    discount: int = 0,
    delivery_fee: int = 0,
) -> tuple[list[PricedLine], Totals]:
    """Prices every line from ``menu``; ``delivery_fee`` is added to the total as it is (no
    tax, no share of the discount).

    A line whose item is missing raises KeyError; invalid options raise InvalidChoices
    naming every problem of every line.
    """
    problems = [p for i, line in enumerate(lines) for p in check_choices(i, line, menu[line.menu_item_id])]
    if problems:
        raise InvalidChoices(problems)
    priced = [_price_line(line, menu[line.menu_item_id]) for line in lines]
    subtotal = sum(p.line_total for p in priced)
    discount = min(discount, subtotal)
    taxable = [p.line_total - share for p, share in zip(priced, _shares([p.line_total for p in priced], discount),
                                                        strict=True)]
    restaurant_base = 0
    for i, (line, base) in enumerate(zip(lines, taxable, strict=True)):
        item = menu[line.menu_item_id]
        if item.imported or item.taxes:
            priced[i] = replace(priced[i], taxes=tuple(
                LineTax(t.id, t.external_id, t.name, t.rate_bps, tax_on(base, t.rate_bps)) for t in item.taxes))
        else:
            restaurant_base += base
    tax = tax_on(restaurant_base, tax_rate_bps) + sum(t.amount for p in priced for t in p.taxes)
    return priced, Totals(subtotal, tax, tip, discount, subtotal - discount + tax + tip + delivery_fee, delivery_fee)

