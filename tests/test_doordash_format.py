"""DoorDash menu bodies and orders: our canonical menu -> the menu push (against DoorDash's
documented example), DoorDash's own limits naming the item, availability-only changes, and
DoorDash's order (the documented webhook shape) -> our cart and a failure reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from scripts.doordash_standin import DoorDashError, validate_menu
from sync.doordash.menu_format import (
    activity_changes,
    check_menu,
    doordash_menu,
    only_activity_differs,
    variations_extra_id,
    with_store,
)
from sync.doordash.orders import doordash_cart, failure_reason
from sync.platform.orders import refused

FIXTURES = Path(__file__).parent / "fixtures"
MENU_EXAMPLE = json.loads((FIXTURES / "doordash_menu_example.json").read_text())
ORDER_EXAMPLE = json.loads((FIXTURES / "doordash_order_example.json").read_text())
MAINS, DRINKS, EMPTY = UUID(int=1), UUID(int=2), UUID(int=3)
DAL, LASSI = UUID(int=11), UUID(int=13)
EXTRAS = "0000000a-0000-4000-8000-000000000001"
NAAN, RAITA = "0000000a-0000-4000-8000-000000000002", "0000000a-0000-4000-8000-000000000003"
HALF, FULL = "0000000b-0000-4000-8000-000000000001", "0000000b-0000-4000-8000-000000000002"
GST = [{"id": "0000000c-0000-4000-8000-000000000001", "name": "CGST", "rate_bps": 250},
       {"id": "0000000c-0000-4000-8000-000000000002", "name": "SGST", "rate_bps": 250}]


def item(item_id: UUID, **overrides: Any) -> dict[str, Any]:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    row: dict[str, Any] = {
        "id": item_id, "category_id": MAINS, "name": "Lassi", "description": None, "price": 9000,
        "is_available": True, "is_veg": True, "rank": 0, "version": 1, "created_at": now, "updated_at": now,
        "order_types": ["dine_in", "takeaway"], "variations": [], "addon_groups": [], "taxes": [],
    }
    return {**row, **overrides}


def menu(**dal: Any) -> list[dict[str, Any]]:
    """Dal (sizes as variations, extras, GST), lassi, and an empty category."""
    group = {"id": EXTRAS, "name": "Add extras", "min_select": 0, "max_select": 2, "addons": [
        {"id": NAAN, "name": "Butter naan", "price": 6000, "is_available": True, "is_veg": True},
        {"id": RAITA, "name": "Raita", "price": 4000, "is_available": False, "is_veg": True}]}
    dal_row = item(DAL, **{"name": "Dal makhani", "price": 99999, "description": "Black lentils", "taxes": GST,
                           "variations": [{"id": HALF, "name": "Half", "price": 24000, "is_available": True},
                                          {"id": FULL, "name": "Full", "price": 36000, "is_available": True}],
                           "addon_groups": [group], **dal})
    return [{"id": MAINS, "name": "Mains", "items": [dal_row]},
            {"id": EMPTY, "name": "Desserts", "items": []},
            {"id": DRINKS, "name": "Drinks", "items": [item(LASSI, category_id=DRINKS, is_available=False)]}]


def keys_within(ours: Any, documented: Any, where: str = "") -> None:
    """Every field we send exists at the same place in DoorDash's documented example."""
    if isinstance(ours, dict):
        assert set(ours) <= set(documented), f"{where}: {set(ours) - set(documented)} are not DoorDash's fields"
        for key, value in ours.items():
            keys_within(value, documented[key], f"{where}.{key}")
    elif isinstance(ours, list) and ours and documented:
        for n, value in enumerate(ours):
            keys_within(value, documented[0], f"{where}[{n}]")


def test_the_menu_has_the_documented_shape_and_the_stand_in_takes_both():
    body = with_store(doordash_menu(menu()), "abc12345", "tabletop", reference="ref-1")
    keys_within(body, MENU_EXAMPLE)
    assert validate_menu(MENU_EXAMPLE) is MENU_EXAMPLE
    assert validate_menu(body) is body
    assert [h["day_index"] for h in body["open_hours"]] == ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
    assert body["special_hours"] == [] and body["store"] == {"merchant_supplied_id": "abc12345",
                                                             "provider_type": "tabletop"}


def test_empty_categories_are_left_out_and_the_rest_keep_our_order():
    categories = doordash_menu(menu())["menu"]["categories"]
    assert [(c["name"], c["sort_id"], c["merchant_supplied_id"]) for c in categories] == [
        ("Mains", 0, str(MAINS)), ("Drinks", 1, str(DRINKS))]


def test_variations_are_one_required_extra_priced_as_differences_from_the_cheapest():
    [dal] = doordash_menu(menu())["menu"]["categories"][0]["items"]
    assert dal["price"] == 24000 and dal["merchant_supplied_id"] == str(DAL)
    sizes = dal["extras"][0]
    assert sizes["merchant_supplied_id"] == variations_extra_id(str(DAL))
    assert (sizes["min_num_options"], sizes["max_num_options"]) == (1, 1)
    assert [(o["name"], o["price"]) for o in sizes["options"]] == [("Half", 0), ("Full", 12000)]
    assert dal["tax_rate"] == 5 and dal["description"] == "Black lentils"


def test_addon_groups_keep_their_limits_and_what_is_sold_out_is_inactive():
    categories = doordash_menu(menu())["menu"]["categories"]
    extras = categories[0]["items"][0]["extras"][1]
    assert (extras["merchant_supplied_id"], extras["min_num_options"], extras["max_num_options"]) == (EXTRAS, 0, 2)
    assert [(o["name"], o["price"], o["active"]) for o in extras["options"]] == [
        ("Butter naan", 6000, True), ("Raita", 4000, False)]
    [lassi] = categories[1]["items"]
    assert lassi["active"] is False and "tax_rate" not in lassi and lassi["extras"] == []


@pytest.mark.parametrize(("change", "field"), [
    ({"name": "D" * 300}, "name"),
    ({"description": "x" * 1001}, "description"),
    ({"addon_groups": [{"id": EXTRAS, "name": "Extras", "min_select": 0, "max_select": 0,
                        "addons": [{"id": NAAN, "name": "Naan", "price": 1, "is_available": True}]}]},
     "addon_groups.max_select"),
    ({"price": -1}, "price"),  # a shared check still applies
])
def test_a_menu_doordash_would_refuse_is_caught_naming_the_item(change, field):
    problems = check_menu(menu(**change))
    assert [(p.item_id, p.field) for p in problems] == [(str(DAL), field)]


def test_only_a_change_of_what_is_active_becomes_the_item_availability_body():
    before = doordash_menu(menu())
    after = doordash_menu(menu(is_available=False))
    assert only_activity_differs(before, after)
    assert activity_changes(before, after) == [{"merchant_supplied_id": str(DAL), "is_active": False}]
    repriced = doordash_menu(menu(variations=[{"id": HALF, "name": "Half", "price": 25000, "is_available": True}]))
    assert not only_activity_differs(before, repriced)
    assert not only_activity_differs(None, after) and activity_changes(None, after) == []
    assert activity_changes(before, before) == []


def test_the_stand_in_refuses_what_doordash_would():
    body = with_store(doordash_menu(menu()), "s", "tabletop", reference="r")
    body["menu"]["categories"][1]["items"].append(dict(body["menu"]["categories"][1]["items"][0]))
    with pytest.raises(DoorDashError) as refusal:
        validate_menu(body)
    assert refusal.value.status == 400 and "used twice" in str(refusal.value.body)


def test_the_documented_order_becomes_our_cart():
    cart = doordash_cart(ORDER_EXAMPLE["order"], "USD")
    [line] = cart.lines
    assert line.ref == "780709" and line.quantity == 2
    assert line.unit_price == 149 + 50 and line.line_total == 2 * 199  # the option's price is in the unit
    assert line.item_id is None and line.options == [None]  # DoorDash's own ids here, not ours
    assert line.note == "well done"
    assert cart.total == 1564 + 94 and cart.currency == "USD" and cart.order_type == "delivery"
    assert cart.customer_name == "Kelley B" and cart.customer_phone == "1231234567" and cart.notes == "Ring twice"
    assert doordash_cart({**ORDER_EXAMPLE["order"], "is_pickup": True}, "USD").order_type == "takeaway"


@pytest.mark.parametrize("broken", [{"subtotal": -1}, {"subtotal": "1564"}, {"tax": None}])
def test_an_order_without_usable_totals_has_none(broken):
    assert doordash_cart({**ORDER_EXAMPLE["order"], **broken}, "USD").total is None


def test_a_failure_reason_names_each_item_as_the_guest_saw_it():
    reason = failure_reason(refused("some items are sold out", [], ["780709"]), ORDER_EXAMPLE["order"])
    assert reason == "some items are sold out: Plain Bagel (780709)"
