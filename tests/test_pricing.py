"""Order pricing (db/pricing.py): pure integer arithmetic in minor units, no database."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID, uuid4

import pytest

from db.pricing import (
    Addon,
    AddonGroup,
    ChosenAddon,
    InvalidChoices,
    ItemTax,
    LineRequest,
    LineTax,
    MenuPrice,
    Totals,
    Variation,
    price_order,
    tax_on,
)

PANEER = UUID("00000000-0000-0000-0000-000000000001")
DAL = UUID("00000000-0000-0000-0000-000000000002")
MENU = {PANEER: MenuPrice("Paneer Tikka", 25000), DAL: MenuPrice("Dal Makhani", 18050)}


def reference_tax(amount: int, rate_bps: int) -> int:
    """Tax computed the slow, obviously right way: exact decimal, rounded half up."""
    return int((Decimal(amount) * rate_bps / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_each_line_total_is_the_menu_price_times_the_quantity():
    lines, _ = price_order(
        [LineRequest(PANEER, 2, "extra spicy"), LineRequest(DAL, 3)], MENU, tax_rate_bps=0
    )
    assert [(p.menu_item_id, p.name, p.unit_price, p.quantity, p.line_total, p.notes) for p in lines] == [
        (PANEER, "Paneer Tikka", 25000, 2, 50000, "extra spicy"),
        (DAL, "Dal Makhani", 18050, 3, 54150, None),
    ]


def test_the_same_item_on_two_lines_is_priced_on_each_line_in_request_order():
    lines, totals = price_order([LineRequest(DAL, 1), LineRequest(PANEER, 1), LineRequest(DAL, 2)],
                                MENU, tax_rate_bps=0)
    assert [(p.menu_item_id, p.line_total) for p in lines] == [(DAL, 18050), (PANEER, 25000), (DAL, 36100)]
    assert totals.subtotal == 18050 + 25000 + 36100


def test_subtotal_is_the_sum_of_the_line_totals():
    _, totals = price_order([LineRequest(PANEER, 2), LineRequest(DAL, 1)], MENU, tax_rate_bps=0)
    assert totals.subtotal == 2 * 25000 + 18050


@pytest.mark.parametrize(
    ("amount", "rate_bps", "expected"),
    [
        (18050, 500, 903),     # 902.5 rounds up
        (18049, 500, 902),     # 902.45 rounds down
        (68050, 500, 3403),    # 3402.5 rounds up
        (10, 500, 1),          # 0.5 rounds up
        (9, 500, 0),           # 0.45 rounds down
        (12225, 1800, 2201),   # 2200.5 rounds up
        (12345, 1800, 2222),   # 2222.1 rounds down
        (25, 1800, 5),         # 4.5 rounds up
        (1, 1800, 0),          # 0.18 rounds down
        (99999, 1800, 18000),  # 17999.82 rounds up
        (100, 10_000, 100),    # a 100 % rate is the amount itself
        (12345, 0, 0),
        (0, 1800, 0),
    ],
)
def test_tax_is_rounded_half_up_to_the_minor_unit(amount, rate_bps, expected):
    assert tax_on(amount, rate_bps) == expected


@pytest.mark.parametrize("rate_bps", [1, 250, 500, 1200, 1800, 2800, 9999])
def test_tax_agrees_with_exact_decimal_half_up_rounding_for_every_amount_up_to_20000(rate_bps):
    mismatches = [a for a in range(20_001) if tax_on(a, rate_bps) != reference_tax(a, rate_bps)]
    assert mismatches == []


def test_order_tax_is_charged_on_the_subtotal_at_the_restaurants_rate():
    _, totals = price_order([LineRequest(PANEER, 2), LineRequest(DAL, 1)], MENU, tax_rate_bps=500)
    assert totals == Totals(subtotal=68050, tax=3403, tip=0, discount=0, total=68050 + 3403)


def test_order_tax_at_1800_bps_on_an_odd_subtotal_rounds_half_up():
    menu = {PANEER: MenuPrice("Odd", 12225)}
    _, totals = price_order([LineRequest(PANEER, 1)], menu, tax_rate_bps=1800)
    assert (totals.tax, totals.total) == (2201, 12225 + 2201)


def test_tip_is_added_after_tax_and_is_not_taxed():
    _, without_tip = price_order([LineRequest(DAL, 1)], MENU, tax_rate_bps=1800)
    _, with_tip = price_order([LineRequest(DAL, 1)], MENU, tax_rate_bps=1800, tip=5000)
    assert with_tip.tax == without_tip.tax == reference_tax(18050, 1800)
    assert with_tip.tip == 5000
    assert with_tip.total == 18050 + reference_tax(18050, 1800) + 5000


def test_a_discount_is_taken_off_before_tax():
    _, totals = price_order([LineRequest(PANEER, 1)], MENU, tax_rate_bps=500, discount=5001)
    assert totals.discount == 5001
    assert totals.tax == reference_tax(25000 - 5001, 500) == 1000  # 999.95 rounds up
    assert totals.total == 25000 - 5001 + 1000


def test_a_discount_larger_than_the_subtotal_is_capped_at_the_subtotal():
    _, totals = price_order([LineRequest(DAL, 1)], MENU, tax_rate_bps=500, tip=700, discount=10**9)
    assert totals.discount == 18050
    assert totals.tax == 0
    assert totals.total == 700


def test_a_zero_tax_rate_charges_no_tax():
    _, totals = price_order([LineRequest(PANEER, 3)], MENU, tax_rate_bps=0, tip=100)
    assert totals == Totals(subtotal=75000, tax=0, tip=100, discount=0, total=75100)


@pytest.mark.parametrize("rate_bps", [0, 500, 1800])
@pytest.mark.parametrize("tip", [0, 1, 999])
@pytest.mark.parametrize("discount", [0, 3, 50_000])
def test_total_always_equals_subtotal_minus_discount_plus_tax_plus_tip(rate_bps, tip, discount):
    # The orders_total_sum constraint in schema.sql refuses any other total.
    _, t = price_order([LineRequest(PANEER, 1), LineRequest(DAL, 7)], MENU,
                       tax_rate_bps=rate_bps, tip=tip, discount=discount)
    assert t.total == t.subtotal - t.discount + t.tax + t.tip
    assert t.total >= 0


def test_a_line_naming_an_item_missing_from_the_menu_raises_key_error():
    with pytest.raises(KeyError):
        price_order([LineRequest(PANEER, 1), LineRequest(uuid4(), 1)], MENU, tax_rate_bps=500)


def test_an_order_with_no_lines_costs_only_its_tip():
    lines, totals = price_order([], MENU, tax_rate_bps=500, tip=250)
    assert lines == []
    assert totals == Totals(subtotal=0, tax=0, tip=250, discount=0, total=250)


# ------------------------------------------------------------------- variations and addons

PIZZA = UUID("00000000-0000-0000-0000-000000000003")
REGULAR, LARGE, FAMILY = (UUID(f"00000000-0000-0000-0001-00000000000{i}") for i in (1, 2, 3))
CHEESE, OLIVES, JALAPENO, THIN, STUFFED = (UUID(f"00000000-0000-0000-0002-00000000000{i}") for i in range(1, 6))
TOPPINGS, CRUST = UUID("00000000-0000-0000-0003-000000000001"), UUID("00000000-0000-0000-0003-000000000002")
CGST = ItemTax(UUID("00000000-0000-0000-0004-000000000001"), "CGST", 250, "t1")
SGST = ItemTax(UUID("00000000-0000-0000-0004-000000000002"), "SGST", 250, "t2")
OPTIONS = {
    **MENU,
    PIZZA: MenuPrice(
        "Margherita", 40000,
        variations=(Variation(REGULAR, "Regular", 40000), Variation(LARGE, "Large", 52000),
                    Variation(FAMILY, "Family", 70000, is_available=False)),
        addon_groups=(
            AddonGroup(TOPPINGS, "Toppings", 0, 2, (Addon(CHEESE, "Extra cheese", 6000, external_id="a1"),
                                                    Addon(OLIVES, "Olives", 4000),
                                                    Addon(JALAPENO, "Jalapeno", 3000, is_available=False))),
            AddonGroup(CRUST, "Crust", 1, 1, (Addon(THIN, "Thin", 0), Addon(STUFFED, "Stuffed", 9000)),
                       external_id="g2"),
        ),
        taxes=(CGST, SGST),
    ),
}


def pizza(quantity: int = 1, variation: UUID | None = LARGE, *addons: UUID) -> LineRequest:
    return LineRequest(PIZZA, quantity, None, variation, addons or (THIN,))


def codes(lines: list[LineRequest]) -> list[tuple[list[str | int], str]]:
    with pytest.raises(InvalidChoices) as raised:
        price_order(lines, OPTIONS, tax_rate_bps=500)
    return [(p.loc, p.code) for p in raised.value.problems]


def test_a_variations_price_replaces_the_items_and_the_addons_prices_are_added_to_the_unit_price():
    [line], totals = price_order([pizza(3, LARGE, CHEESE, STUFFED)], OPTIONS, tax_rate_bps=0)
    assert (line.unit_price, line.line_total) == (52000 + 6000 + 9000, 3 * 67000)
    assert (line.variation_id, line.variation_name) == (LARGE, "Large")
    assert line.addons == (ChosenAddon(CHEESE, "a1", TOPPINGS, "Toppings", "Extra cheese", 6000),
                           ChosenAddon(STUFFED, None, CRUST, "Crust", "Stuffed", 9000, "g2"))
    assert totals.subtotal == 201000


def test_addons_are_recorded_in_the_order_the_line_names_them():
    [line], _ = price_order([pizza(1, LARGE, OLIVES, THIN, CHEESE)], OPTIONS, tax_rate_bps=0)
    assert [a.name for a in line.addons] == ["Olives", "Thin", "Extra cheese"]


def test_an_item_with_its_own_taxes_is_taxed_line_by_line_at_each_of_them():
    lines, totals = price_order([pizza(1, REGULAR, STUFFED), pizza(1, REGULAR, THIN)], OPTIONS, tax_rate_bps=1800)
    # 49000 and 40000 at 2.5 % each: 1225 and 1000 per tax; the restaurant's 18 % does not apply.
    assert [[(t.name, t.amount) for t in line.taxes] for line in lines] == [
        [("CGST", 1225), ("SGST", 1225)], [("CGST", 1000), ("SGST", 1000)]]
    assert lines[0].taxes[0] == LineTax(CGST.id, "t1", "CGST", 250, 1225)
    assert totals == Totals(subtotal=89000, tax=4450, tip=0, discount=0, total=93450)


def test_each_line_tax_is_rounded_half_up_on_its_own():
    menu = {PIZZA: MenuPrice("Odd", 10, taxes=(CGST,))}
    lines, totals = price_order([LineRequest(PIZZA, 1), LineRequest(PIZZA, 1)], menu, tax_rate_bps=0)
    # 0.25 per line rounds down to 0 each time; taxed together it would still be 0.5 -> 1.
    assert [line.taxes[0].amount for line in lines] == [0, 0]
    assert totals.tax == 0


def test_lines_without_their_own_taxes_are_taxed_together_at_the_restaurants_rate():
    lines, totals = price_order([LineRequest(DAL, 1), pizza(1, REGULAR), LineRequest(DAL, 1)], OPTIONS,
                                tax_rate_bps=500)
    assert (lines[0].taxes, lines[2].taxes) == ((), ())
    # 36100 at 5 % = 1805 (two lines of 902.5, rounded once), and 40000 at 2 x 2.5 % = 2000.
    assert totals.tax == reference_tax(36100, 500) + 2 * 1000


def test_an_imported_item_without_taxes_of_its_own_is_tax_free_not_taxed_at_the_restaurants_rate():
    """The POS's taxes are exactly an imported item's tax: none (PetPooja's empty item_tax, or ignore_taxes)
    means none; only items made here are taxed at the restaurant's rate."""
    water = UUID("00000000-0000-0000-0000-000000000009")
    menu = {**OPTIONS, water: MenuPrice("Mineral water", 4000, imported=True),
            PIZZA: replace(OPTIONS[PIZZA], imported=True)}
    lines, totals = price_order([LineRequest(water, 2), LineRequest(DAL, 1), pizza(1, REGULAR)], menu,
                                tax_rate_bps=1800)
    assert [line.taxes for line in lines[:2]] == [(), ()]
    assert [(t.name, t.amount) for t in lines[2].taxes] == [("CGST", 1000), ("SGST", 1000)]
    # 18 % of the dal alone (18050 -> 3249), the pizza's own 2 x 2.5 %, nothing on the water.
    assert totals == Totals(subtotal=8000 + 18050 + 40000, tax=3249 + 2000, tip=0, discount=0,
                            total=8000 + 18050 + 40000 + 3249 + 2000)
    _, only_water = price_order([LineRequest(water, 3)], menu, tax_rate_bps=1800)
    assert (only_water.tax, only_water.total) == (0, 12000)


def test_a_discount_is_shared_by_line_totals_before_each_lines_tax():
    menu = {PIZZA: MenuPrice("Taxed", 30000, taxes=(CGST,)), DAL: MenuPrice("Untaxed", 10000)}
    lines, totals = price_order([LineRequest(PIZZA, 1), LineRequest(DAL, 1)], menu, tax_rate_bps=1000,
                                discount=4000)
    # 3000 of the discount falls on the 30000 line and 1000 on the 10000 line.
    assert lines[0].taxes[0].amount == tax_on(27000, 250)
    assert totals.tax == tax_on(27000, 250) + tax_on(9000, 1000)
    assert totals.total == 40000 - 4000 + totals.tax


@pytest.mark.parametrize("discount", [1, 2, 3, 7, 9999, 10**9])
def test_every_unit_of_the_discount_is_shared_out_exactly_once(discount):
    menu = {PIZZA: MenuPrice("A", 3333, taxes=(ItemTax(CGST.id, "full", 10_000),)),
            DAL: MenuPrice("B", 3334, taxes=(ItemTax(SGST.id, "full", 10_000),))}
    lines, totals = price_order([LineRequest(PIZZA, 1), LineRequest(DAL, 2)], menu, tax_rate_bps=0,
                                discount=discount)
    # At a 100 % rate each line's tax is its taxable amount, so the taxes show the shares.
    taxable = [line.taxes[0].amount for line in lines]
    assert sum(taxable) == totals.tax == totals.subtotal - totals.discount
    assert all(0 <= t <= line.line_total for t, line in zip(taxable, lines, strict=True))
    assert totals.total == totals.subtotal - totals.discount + totals.tax


def test_a_line_of_an_item_with_variations_must_choose_an_available_one_of_that_item():
    assert codes([pizza(1, None)]) == [(["body", "items", 0, "variation_id"], "variation_required")]
    assert codes([pizza(1, FAMILY)]) == [(["body", "items", 0, "variation_id"], "variation_unavailable")]
    assert codes([pizza(1, uuid4())]) == [(["body", "items", 0, "variation_id"], "unknown_variation")]
    assert codes([LineRequest(DAL, 1, None, LARGE)]) == [(["body", "items", 0, "variation_id"],
                                                          "unknown_variation")]


def test_addons_must_be_offered_available_and_within_each_groups_minimum_and_maximum():
    assert codes([pizza(1, LARGE, THIN, uuid4())]) == [(["body", "items", 0, "addon_ids", 1], "unknown_addon")]
    assert codes([pizza(1, LARGE, JALAPENO, THIN)]) == [(["body", "items", 0, "addon_ids", 0], "addon_unavailable")]
    assert codes([pizza(1, LARGE, CHEESE, OLIVES, JALAPENO, THIN)]) == [
        (["body", "items", 0, "addon_ids", 2], "addon_unavailable"),
        (["body", "items", 0, "addon_ids"], "too_many_addons")]
    assert codes([pizza(1, LARGE, CHEESE)]) == [(["body", "items", 0, "addon_ids"], "too_few_addons")]
    assert codes([pizza(1, LARGE, THIN, STUFFED)]) == [(["body", "items", 0, "addon_ids"], "too_many_addons")]
    assert codes([LineRequest(DAL, 1, None, None, (CHEESE,))]) == [
        (["body", "items", 0, "addon_ids", 0], "unknown_addon")]


def test_every_problem_of_every_line_is_reported_in_line_order():
    assert codes([pizza(1, LARGE, THIN), pizza(1, None, CHEESE), LineRequest(DAL, 1, None, LARGE)]) == [
        (["body", "items", 1, "variation_id"], "variation_required"),
        (["body", "items", 1, "addon_ids"], "too_few_addons"),
        (["body", "items", 2, "variation_id"], "unknown_variation"),
    ]
