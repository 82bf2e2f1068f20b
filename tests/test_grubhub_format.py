"""Our canonical menu -> Grubhub's PosNormalizedMenu (pure), Grubhub's own limits named on the
item, and a Grubhub order read into a cart, amounts turned into minor units exactly."""

from __future__ import annotations

from typing import Any

from sync.grubhub.menu_format import UNAVAILABLE, grubhub_menu, grubhub_problems
from sync.grubhub.orders import grubhub_cart, minor, reject_body
from sync.platform.orders import refused

ITEM = "11111111-1111-4111-8111-111111111111"
VAR_S, VAR_L = "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
GROUP, ADDON = "44444444-4444-4444-8444-444444444444", "55555555-5555-4555-8555-555555555555"
OTHER = "66666666-6666-4666-8666-666666666666"


def menu(**item: Any) -> list[dict[str, Any]]:
    addon = {"id": ADDON, "name": "Extra cheese", "price": 150, "is_available": False}
    group = {"id": GROUP, "name": "Extras", "min_select": 0, "max_select": 2, "addons": [addon]}
    lassi = {"id": ITEM, "name": "Lassi", "description": "Sweet", "price": 0, "is_available": True,
             "taxes": [{"rate_bps": 500}], "addon_groups": [group],
             "variations": [{"id": VAR_S, "name": "Small", "price": 12050, "is_available": True},
                            {"id": VAR_L, "name": "Large", "price": 15000, "is_available": True}], **item}
    tea = {"id": OTHER, "name": "Tea", "description": "", "price": 199, "is_available": False, "taxes": [],
           "variations": [], "addon_groups": [{**group, "min_select": 1, "max_select": 1}]}
    return [{"id": "c1", "name": "Drinks", "items": [lassi, tea]}, {"id": "c2", "name": "Empty", "items": []}]


def test_the_menu_is_flat_linked_by_our_ids_with_decimal_prices():
    payload = grubhub_menu(menu(), currency="USD")
    assert payload["menu_info"] == {"currency": "USD", "sections": ["c1"]}
    assert payload["menu_sections"] == [{"external_id": "c1", "name": "Drinks", "items": [ITEM, OTHER]}]
    lassi, tea = payload["items"]
    assert lassi["price"] == 120.5 and lassi["tax_rate"] == "tax:500" and "availability_override" not in lassi
    assert lassi["modifier_prompts"] == [f"{ITEM}:variations", GROUP]
    assert tea["availability_override"] == UNAVAILABLE and tea["price"] == 1.99 and "tax_rate" not in tea
    assert tea["modifier_prompts"] == [f"{GROUP}:1-1"]  # same group, other limits: its own prompt
    assert payload["tax_rates"] == [{"external_id": "tax:500", "name": "Tax 5.0%", "rate": 0.05}]
    prompts = {p["external_id"]: p for p in payload["modifier_prompts"]}
    assert prompts[f"{ITEM}:variations"]["default_selection_model"] == {"minimum_quantity": 1, "maximum_quantity": 1}
    assert prompts[GROUP]["default_selection_model"] == {"minimum_quantity": 0, "maximum_quantity": 2}
    modifiers = {m["external_id"]: m for m in payload["modifiers"]}
    assert modifiers[VAR_S]["default_price"] == 0.0 and modifiers[VAR_L]["default_price"] == 29.5
    assert modifiers[ADDON] == {"external_id": ADDON, "name": "Extra cheese", "default_price": 1.5,
                                "availability_override": UNAVAILABLE}
    assert len(payload["modifiers"]) == 3  # the shared addon once
    assert [o["override_type"] for o in payload["availability_overrides"]] == ["UNAVAILABLE"]


def test_a_menu_with_everything_available_has_no_override():
    categories = menu()
    categories[0]["items"] = categories[0]["items"][:1]
    categories[0]["items"][0]["addon_groups"] = []
    assert grubhub_menu(categories, currency="USD")["availability_overrides"] == []


def test_grubhubs_own_limits_name_the_item():
    problems = grubhub_problems(menu(taxes=[{"rate_bps": 9000}, {"rate_bps": 2000}]))
    assert [(p.item_name, p.field) for p in problems] == [("Lassi", "taxes")]
    categories = menu()
    categories[0]["items"][0]["addon_groups"][0]["max_select"] = 0
    assert [(p.item_name, p.field) for p in grubhub_problems(categories)] == [("Lassi", "addon_groups.max_select")]


def test_amounts_become_minor_units_exactly_or_not_at_all():
    assert [minor(v) for v in (3.5, 12.05, 0, 7, 0.1 + 0.2)] == [350, 1205, 0, 700, None]
    assert [minor(v) for v in (-1, "3.5", True, None, 1.005)] == [None] * 5


def test_an_order_is_read_into_a_cart_with_modifiers_in_the_unit_price():
    cart = grubhub_cart({
        "order_uuid": "o1", "currency": "USD", "fulfillment_type": "PICKUP",
        "customer": {"first_name": "Ada", "last_name": "L\x00ovelace", "phone": "+1312"},
        "items": [{"item_id": ITEM, "quantity": 2, "price": 12.05,
                   "modifiers": [{"external_id": VAR_L, "price": 2.95}, {"external_id": "not-ours", "price": 0}]},
                  {"item_id": 7, "quantity": "x", "price": "free"}],
        "totals": {"total": 30.5}, "special_instructions": "ring twice"})
    first, second = cart.lines
    assert first.unit_price == 1500 and first.line_total == 3000 and first.options[0] is not None
    assert first.options[1] is None  # not an id of ours: the line is refused by the shared mapping
    assert second.item_id is None and second.unit_price is None and second.ref == "7"
    assert (cart.order_type, cart.total, cart.currency) == ("takeaway", 3050, "USD")
    assert cart.customer_name == "Ada Lovelace" and cart.notes == "ring twice"
    assert grubhub_cart("nonsense").lines == [] and grubhub_cart({"items": "x"}).order_type == "delivery"


def test_a_rejection_names_the_items():
    body = reject_body(refused("some items are not on the menu as ordered", ["mystery"]))
    assert body["status"] == "REJECTED" and "mystery" in body["reason"]
