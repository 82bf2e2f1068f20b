"""Uber Eats menu bodies: our canonical menu -> the full upload, the checks before it, one
item's suspension, and when an upload can shrink to suspensions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from sync.platform.menu import MenuProblem, check_menu
from sync.ubereats.menu_format import (
    SUSPEND_FOREVER,
    availability_diff,
    item_suspension,
    uber_menu,
)

EXAMPLE = Path(__file__).parent / "fixtures" / "ubereats_menu_example.json"
MAINS, DRINKS, EMPTY = UUID(int=1), UUID(int=2), UUID(int=3)
DAL, PANEER, LASSI = UUID(int=11), UUID(int=12), UUID(int=13)
EXTRAS = "0000000a-0000-4000-8000-000000000001"
NAAN, RAITA = "0000000a-0000-4000-8000-000000000002", "0000000a-0000-4000-8000-000000000003"
HALF, FULL = "0000000b-0000-4000-8000-000000000001", "0000000b-0000-4000-8000-000000000002"
GST = [{"id": "0000000c-0000-4000-8000-000000000001", "name": "CGST", "rate_bps": 250},
       {"id": "0000000c-0000-4000-8000-000000000002", "name": "SGST", "rate_bps": 250}]


def addon_group(min_select: int = 0, max_select: int = 2, **overrides: Any) -> dict[str, Any]:
    group: dict[str, Any] = {
        "id": EXTRAS, "name": "Add extras", "min_select": min_select, "max_select": max_select,
        "addons": [
            {"id": NAAN, "name": "Butter naan", "price": 6000, "is_available": True, "is_veg": True},
            {"id": RAITA, "name": "Raita", "price": 4000, "is_available": True, "is_veg": True},
        ],
    }
    return {**group, **overrides}


def item(item_id: UUID, **overrides: Any) -> dict[str, Any]:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    row: dict[str, Any] = {
        "id": item_id, "category_id": MAINS, "name": "Dal makhani", "description": None, "price": 24000,
        "is_available": True, "is_veg": True, "rank": 0, "version": 1, "created_at": now, "updated_at": now,
        "order_types": ["dine_in", "takeaway"], "variations": [], "addon_groups": [], "taxes": [],
    }
    return {**row, **overrides}


def menu(**dal_overrides: Any) -> list[dict[str, Any]]:
    """Dal (sizes as variations, extras, GST), paneer (the same extras), lassi, and an empty category."""
    dal = item(DAL, **{
        "name": "Dal makhani", "price": 99999, "description": "Black lentils, slow cooked", "taxes": GST,
        "variations": [{"id": HALF, "name": "Half", "price": 24000, "is_available": True},
                       {"id": FULL, "name": "Full", "price": 36000, "is_available": True}],
        "addon_groups": [addon_group()], **dal_overrides,
    })
    paneer = item(PANEER, name="Paneer tikka", price=28000, taxes=GST[:1], addon_groups=[addon_group()])
    lassi = item(LASSI, name="Lassi", price=9000, category_id=DRINKS)
    return [
        {"id": MAINS, "name": "Mains", "rank": 0, "items": [dal, paneer]},
        {"id": EMPTY, "name": "Specials", "rank": 1, "items": []},
        {"id": DRINKS, "name": "Drinks", "rank": 2, "items": [lassi]},
    ]


def by_id(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in entries}


def shapes(value: Any, path: str = "$") -> set[tuple[str, str]]:
    """Every (path, JSON type) in a document, list elements merged under ``[]``."""
    if isinstance(value, dict):
        found = {(path, "object")}
        for key, child in value.items():
            found |= shapes(child, f"{path}.{key}")
        return found
    if isinstance(value, list):
        found = {(path, "array")}
        for child in value:
            found |= shapes(child, f"{path}[]")
        return found
    kind = {bool: "boolean", str: "string", type(None): "null"}.get(type(value), "number")
    return {(path, kind)}


def test_every_field_we_send_appears_with_its_type_in_the_example_built_on_ubers_documented_shape() -> None:
    example = json.loads(EXAMPLE.read_text())
    payload = json.loads(json.dumps(uber_menu(menu(), menu_title="All day")))

    unknown = shapes(payload) - shapes(example)

    assert unknown == set()
    assert set(payload) == set(example) == {"menus", "categories", "items", "modifier_groups"}


def test_the_menu_is_open_all_week_and_lists_categories_with_items_in_rank_order() -> None:
    payload = uber_menu(menu(), menu_title="All day")

    (only,) = payload["menus"]
    assert only["title"] == {"translations": {"en_us": "All day"}}
    assert [d["day_of_week"] for d in only["service_availability"]] == [
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    assert all(d["time_periods"] == [{"start_time": "00:00", "end_time": "23:59"}]
               for d in only["service_availability"])
    assert only["category_ids"] == [str(MAINS), str(DRINKS)]
    assert [c["id"] for c in payload["categories"]] == [str(MAINS), str(DRINKS)]
    assert payload["categories"][0]["entities"] == [{"type": "ITEM", "id": str(DAL)}, {"type": "ITEM", "id": str(PANEER)}]


def test_an_empty_category_is_left_out() -> None:
    payload = uber_menu(menu(), menu_title="All day")

    assert str(EMPTY) not in json.dumps(payload)


def test_variations_become_one_required_group_priced_from_the_cheapest() -> None:
    payload = uber_menu(menu(), menu_title="All day")
    items, groups = by_id(payload["items"]), by_id(payload["modifier_groups"])

    dal = items[str(DAL)]
    assert dal["price_info"] == {"price": 24000}
    assert dal["modifier_group_ids"] == {"ids": [f"{DAL}:variations", EXTRAS]}
    sizes = groups[f"{DAL}:variations"]
    assert sizes["quantity_info"] == {"quantity": {"min_permitted": 1, "max_permitted": 1}}
    assert sizes["modifier_options"] == [{"type": "ITEM", "id": HALF}, {"type": "ITEM", "id": FULL}]
    assert items[HALF]["price_info"] == {"price": 0}
    assert items[FULL]["price_info"] == {"price": 12000}
    assert items[FULL]["tax_info"] == dal["tax_info"] == {"tax_rate": 5}


def test_item_fields_carry_title_description_price_and_tax_as_a_percentage() -> None:
    items = by_id(uber_menu(menu(), menu_title="All day", language="en_gb")["items"])

    dal, paneer, lassi = items[str(DAL)], items[str(PANEER)], items[str(LASSI)]
    assert dal["title"] == {"translations": {"en_gb": "Dal makhani"}}
    assert dal["description"] == {"translations": {"en_gb": "Black lentils, slow cooked"}}
    assert "description" not in paneer
    assert paneer["tax_info"] == {"tax_rate": 2.5}
    assert lassi["tax_info"] == {}
    assert "modifier_group_ids" not in lassi


def test_an_addon_group_shared_by_two_items_is_one_modifier_group_with_its_addons_once() -> None:
    payload = uber_menu(menu(), menu_title="All day")
    groups = [g for g in payload["modifier_groups"] if g["id"] == EXTRAS]
    ids = [i["id"] for i in payload["items"]]

    assert len(groups) == 1
    assert groups[0]["quantity_info"] == {"quantity": {"min_permitted": 0, "max_permitted": 2}}
    assert groups[0]["modifier_options"] == [{"type": "ITEM", "id": NAAN}, {"type": "ITEM", "id": RAITA}]
    assert ids.count(NAAN) == ids.count(RAITA) == 1
    assert by_id(payload["items"])[NAAN]["price_info"] == {"price": 6000}
    assert len(ids) == len(set(ids))


def test_a_shared_addon_group_offered_with_other_limits_gets_its_own_copy() -> None:
    categories = menu(addon_groups=[addon_group(min_select=1, max_select=1)])
    payload = uber_menu(categories, menu_title="All day")
    groups, items = by_id(payload["modifier_groups"]), by_id(payload["items"])

    assert items[str(DAL)]["modifier_group_ids"]["ids"][1] == EXTRAS
    assert items[str(PANEER)]["modifier_group_ids"] == {"ids": [f"{EXTRAS}:0-2"]}
    assert groups[f"{EXTRAS}:0-2"]["quantity_info"]["quantity"] == {"min_permitted": 0, "max_permitted": 2}
    assert [o["context_value"] for o in items[NAAN]["quantity_info"]["overrides"]] == [EXTRAS, f"{EXTRAS}:0-2"]


def test_unavailable_items_variations_and_addons_are_suspended_not_left_out() -> None:
    categories = menu(is_available=False)
    categories[0]["items"][0]["variations"][1]["is_available"] = False
    categories[0]["items"][0]["addon_groups"][0]["addons"][0]["is_available"] = False
    items = by_id(uber_menu(categories, menu_title="All day")["items"])

    suspended = {"suspension": {"suspend_until": SUSPEND_FOREVER, "reason": "Unavailable"}}
    assert items[str(DAL)]["suspension_info"] == suspended
    assert items[FULL]["suspension_info"] == suspended
    assert items[NAAN]["suspension_info"] == suspended
    assert "suspension_info" not in items[str(PANEER)]
    assert "suspension_info" not in items[HALF]


def test_the_payload_is_the_same_for_the_same_menu() -> None:
    assert uber_menu(menu(), menu_title="All day") == uber_menu(menu(), menu_title="All day")


def test_a_clean_menu_has_no_problems() -> None:
    assert check_menu(menu()) == []


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"name": "  "}, "name", "no name"),
        ({"price": -1}, "price", "negative"),
        ({"addon_groups": [addon_group(min_select=2, max_select=1)]}, "addon_groups.min_select", "min 2 > max 1"),
        ({"addon_groups": [addon_group(min_select=3, max_select=3)]}, "addon_groups.min_select", "its 2 addons"),
        ({"variations": [{"id": HALF, "name": "Half", "price": -5, "is_available": True}]}, "variations.price",
         "negative"),
        ({"addon_groups": [addon_group(addons=[{"id": NAAN, "name": "", "price": 0, "is_available": True,
                                                "is_veg": None}])]}, "addons.name", "no name"),
    ],
)
def test_check_menu_names_the_item_and_field_uber_would_refuse(overrides: dict[str, Any], field: str, words: str) -> None:
    categories = menu()
    categories[0]["items"][0] = item(DAL, **overrides)

    problems = check_menu(categories)

    assert [(p.item_id, p.field) for p in problems] == [(str(DAL), field)]
    assert words in problems[0].message


def test_check_menu_finds_an_id_used_twice() -> None:
    categories = menu()
    categories[2]["items"][0]["id"] = PANEER

    assert check_menu(categories) == [
        MenuProblem(str(PANEER), "Lassi", "id", f"id {PANEER} is used by an item and an item"),
    ]


def test_check_menu_finds_a_variation_sharing_an_addons_id() -> None:
    categories = menu()
    categories[0]["items"][0]["variations"][0]["id"] = NAAN

    problems = check_menu(categories)

    assert [(p.item_id, p.field) for p in problems] == [(str(DAL), "id")]
    assert "a variation and an addon" in problems[0].message


def test_item_suspension_sends_only_the_suspension() -> None:
    assert item_suspension(suspended=True) == {
        "suspension_info": {"suspension": {"suspend_until": SUSPEND_FOREVER, "reason": "Unavailable"}}}
    assert item_suspension(suspended=False) == {
        "suspension_info": {"suspension": {"suspend_until": 0, "reason": ""}}}


def test_availability_diff_lists_only_items_whose_suspension_changed() -> None:
    old = json.loads(json.dumps(uber_menu(menu(), menu_title="All day")))  # as stored and read back
    categories = menu(is_available=False)
    categories[0]["items"][0]["variations"][0]["is_available"] = False
    new = uber_menu(categories, menu_title="All day")

    assert availability_diff(old, new) == [(str(DAL), True), (HALF, True)]
    assert availability_diff(new, old) == [(str(DAL), False), (HALF, False)]
    assert availability_diff(new, new) == []


def test_availability_diff_wants_a_full_upload_when_anything_else_changed_or_nothing_was_sent() -> None:
    old = uber_menu(menu(), menu_title="All day")
    renamed = uber_menu(menu(name="Dal tadka"), menu_title="All day")
    repriced_variation = menu(is_available=False)
    repriced_variation[0]["items"][0]["variations"][0]["price"] = 20000

    assert availability_diff(None, old) is None
    assert availability_diff(old, renamed) is None
    assert availability_diff(old, uber_menu(repriced_variation, menu_title="All day")) is None
    assert availability_diff(old, uber_menu(menu(), menu_title="Lunch")) is None
