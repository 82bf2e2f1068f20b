"""Order pricing (db/pricing.py): pure integer arithmetic in minor units, no database."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID, uuid4

import pytest

from db.pricing import LineRequest, MenuPrice, Totals, price_order, tax_on

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
