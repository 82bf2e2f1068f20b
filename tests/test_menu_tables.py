"""The Menu and the Restaurants / members / tables endpoints of API.md, through the HTTP API."""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.conftest import Restaurant, expect, order_body


@pytest.fixture
async def shop(make_restaurant) -> Restaurant:
    return await make_restaurant()


async def menu_of(client: httpx.AsyncClient, r: Restaurant, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return expect(await client.get(r.url("/menu"), headers=headers or r.owner.headers), 200)


def item_names(menu: dict[str, Any]) -> dict[str, list[str]]:
    return {c["name"]: [i["name"] for i in c["items"]] for c in menu["categories"]}


# ----------------------------------------------------------------------------- categories


async def test_an_owner_creates_a_category_and_it_appears_empty_on_the_menu(client, shop):
    created = expect(await client.post(shop.url("/menu/categories"), headers=shop.owner.headers,
                                       json={"name": "Desserts", "rank": 9}), 201)
    assert (created["name"], created["rank"]) == ("Desserts", 9)
    assert re.fullmatch(r"[0-9a-f-]{36}", created["id"])
    menu = await menu_of(client, shop)
    assert {"id": created["id"], "name": "Desserts", "description": None, "rank": 9, "items": []} in menu["categories"]


async def test_a_duplicate_category_name_is_409_whatever_its_case(client, shop):
    problem = expect(await client.post(shop.url("/menu/categories"), headers=shop.owner.headers,
                                       json={"name": "mains"}), 409)
    assert problem["code"] == "category_name_taken"


async def test_a_category_is_renamed_and_reranked_and_cannot_take_another_categorys_name(client, shop):
    other = expect(await client.post(shop.url("/menu/categories"), headers=shop.owner.headers,
                                     json={"name": "Starters"}), 201)
    renamed = expect(await client.patch(shop.url(f"/menu/categories/{other['id']}"), headers=shop.owner.headers,
                                        json={"name": "Small plates", "rank": -3}), 200)
    assert (renamed["name"], renamed["rank"]) == ("Small plates", -3)
    clash = expect(await client.patch(shop.url(f"/menu/categories/{other['id']}"), headers=shop.owner.headers,
                                      json={"name": "MAINS"}), 409)
    assert clash["code"] == "category_name_taken"
    assert [c["name"] for c in (await menu_of(client, shop))["categories"]] == ["Small plates", "Mains"]


async def test_patching_a_category_with_its_current_values_returns_it_unchanged(client, shop):
    same = expect(await client.patch(shop.url(f"/menu/categories/{shop.category_id}"), headers=shop.owner.headers,
                                     json={"name": "Mains", "rank": 1}), 200)
    assert (same["id"], same["name"], same["rank"]) == (shop.category_id, "Mains", 1)
    assert expect(await client.patch(shop.url(f"/menu/categories/{shop.category_id}"), headers=shop.owner.headers,
                                     json={}), 200)["name"] == "Mains"


async def test_deleting_a_category_that_still_holds_items_is_409_category_not_empty(client, shop):
    problem = expect(await client.delete(shop.url(f"/menu/categories/{shop.category_id}"),
                                         headers=shop.owner.headers), 409)
    assert problem["code"] == "category_not_empty"
    assert "Mains" in item_names(await menu_of(client, shop))


async def test_an_empty_category_is_deleted_with_204_and_its_name_becomes_free(client, shop):
    empty = expect(await client.post(shop.url("/menu/categories"), headers=shop.owner.headers,
                                     json={"name": "Drinks"}), 201)
    response = await client.delete(shop.url(f"/menu/categories/{empty['id']}"), headers=shop.owner.headers)
    assert response.status_code == 204 and response.content == b""
    assert "Drinks" not in item_names(await menu_of(client, shop))
    expect(await client.delete(shop.url(f"/menu/categories/{empty['id']}"), headers=shop.owner.headers), 404)
    expect(await client.patch(shop.url(f"/menu/categories/{empty['id']}"), headers=shop.owner.headers,
                              json={"rank": 2}), 404)
    expect(await client.post(shop.url("/menu/categories"), headers=shop.owner.headers, json={"name": "Drinks"}), 201)


async def test_a_category_whose_items_were_all_deleted_can_be_deleted(client, shop):
    for item in shop.items.values():
        expect(await client.delete(shop.url(f"/menu/items/{item['id']}"), headers=shop.owner.headers), 204)
    expect(await client.delete(shop.url(f"/menu/categories/{shop.category_id}"), headers=shop.owner.headers), 204)
    assert (await menu_of(client, shop))["categories"] == []


async def test_a_bad_category_body_is_422(client, shop):
    for body in ({"name": ""}, {"name": "   "}, {"name": "x" * 121}, {"rank": 1}, {"name": "A", "rank": "1"},
                 {"name": "A", "rank": 10**7}, {"name": "A", "colour": "red"}):
        problem = expect(await client.post(shop.url("/menu/categories"), headers=shop.owner.headers, json=body), 422)
        assert problem["code"] == "validation_error", body


async def test_staff_and_kitchen_cannot_manage_categories(client, shop, make_member):
    for role in ("staff", "kitchen"):
        member = await make_member(shop, role)
        expect(await client.post(shop.url("/menu/categories"), headers=member.headers, json={"name": role}), 403)
        expect(await client.delete(shop.url(f"/menu/categories/{shop.category_id}"), headers=member.headers), 403)


# ---------------------------------------------------------------------------------- items


async def test_a_manager_creates_an_item_with_every_field(client, shop, make_member):
    manager = await make_member(shop, "manager")
    item = expect(await client.post(shop.url("/menu/items"), headers=manager.headers, json={
        "category_id": shop.category_id, "name": "Garlic Naan", "price": 6000, "description": "butter",
        "is_available": False, "rank": 4}), 201)
    assert {k: item[k] for k in ("category_id", "name", "price", "description", "is_available", "rank", "version")} \
        == {"category_id": shop.category_id, "name": "Garlic Naan", "price": 6000, "description": "butter",
            "is_available": False, "rank": 4, "version": 1}


async def test_an_item_in_an_unknown_deleted_or_foreign_category_is_422_unknown_category(
        client, shop, make_restaurant):
    gone = expect(await client.post(shop.url("/menu/categories"), headers=shop.owner.headers,
                                    json={"name": "Gone"}), 201)
    expect(await client.delete(shop.url(f"/menu/categories/{gone['id']}"), headers=shop.owner.headers), 204)
    other = await make_restaurant()
    for category_id in (str(uuid4()), gone["id"], other.category_id):
        problem = expect(await client.post(shop.url("/menu/items"), headers=shop.owner.headers, json={
            "category_id": category_id, "name": "Lost", "price": 100}), 422)
        assert problem["code"] == "unknown_category"
        moved = expect(await client.patch(shop.url(f"/menu/items/{shop.items['Dal Makhani']['id']}"),
                                          headers=shop.owner.headers, json={"category_id": category_id}), 422)
        assert moved["code"] == "unknown_category"
    assert "Lost" not in str(await menu_of(client, shop))


async def test_a_bad_item_body_is_422(client, shop):
    base = {"category_id": shop.category_id, "name": "Thing", "price": 100}
    failures = []
    for change in ({"price": -1}, {"price": "100"}, {"price": 1.5}, {"price": None}, {"name": ""},
                   {"description": "d" * 1001}, {"is_available": "yes"}, {"category_id": "nope"},
                   {"unit_price": 5}):
        response = await client.post(shop.url("/menu/items"), headers=shop.owner.headers, json={**base, **change})
        if response.status_code != 422:
            failures.append((change, response.status_code))
    for missing in ("category_id", "name", "price"):
        body = {k: v for k, v in base.items() if k != missing}
        response = await client.post(shop.url("/menu/items"), headers=shop.owner.headers, json=body)
        if response.status_code != 422:
            failures.append((f"without {missing}", response.status_code))
    patched = await client.patch(shop.url(f"/menu/items/{shop.items['Dal Makhani']['id']}"),
                                 headers=shop.owner.headers, json={"price": -5})
    if patched.status_code != 422:
        failures.append(("patch price -5", patched.status_code))
    assert failures == []
    assert item_names(await menu_of(client, shop))["Mains"] == ["Dal Makhani", "Paneer Tikka", "Seasonal Special"]


async def test_an_item_is_edited_and_its_description_can_be_cleared_with_null(client, shop):
    iid = shop.items["Dal Makhani"]["id"]
    edited = expect(await client.patch(shop.url(f"/menu/items/{iid}"), headers=shop.owner.headers,
                                       json={"name": "Dal Bukhara", "price": 19000, "description": "slow cooked"}), 200)
    assert (edited["name"], edited["price"], edited["description"], edited["version"]) == (
        "Dal Bukhara", 19000, "slow cooked", 2)
    cleared = expect(await client.patch(shop.url(f"/menu/items/{iid}"), headers=shop.owner.headers,
                                        json={"description": None}), 200)
    assert (cleared["name"], cleared["price"], cleared["description"]) == ("Dal Bukhara", 19000, None)
    untouched = expect(await client.patch(shop.url(f"/menu/items/{iid}"), headers=shop.owner.headers,
                                          json={"rank": 3}), 200)
    assert untouched["description"] is None


async def test_a_new_price_applies_to_later_orders_only(client, shop):
    before = expect(await client.post(shop.url("/orders"), headers=shop.owner.headers,
                                      json=order_body(shop, ("Dal Makhani", 1))), 201)
    expect(await client.patch(shop.url(f"/menu/items/{shop.items['Dal Makhani']['id']}"), headers=shop.owner.headers,
                              json={"price": 20000}), 200)
    after = expect(await client.post(shop.url("/orders"), headers=shop.owner.headers,
                                     json=order_body(shop, ("Dal Makhani", 1))), 201)
    assert (before["subtotal"], after["subtotal"]) == (18050, 20000)
    reread = expect(await client.get(shop.url(f"/orders/{before['id']}"), headers=shop.owner.headers), 200)
    assert reread["items"][0]["unit_price"] == 18050


async def test_patching_an_item_with_its_current_values_returns_it_without_a_new_version(client, shop):
    item = shop.items["Paneer Tikka"]
    same = expect(await client.patch(shop.url(f"/menu/items/{item['id']}"), headers=shop.owner.headers,
                                     json={"price": 25000, "name": "Paneer Tikka"}), 200)
    assert (same["id"], same["price"], same["version"]) == (item["id"], 25000, 1)


async def test_a_deleted_item_leaves_the_menu_and_cannot_be_edited_or_deleted_again(client, shop):
    iid = shop.items["Paneer Tikka"]["id"]
    response = await client.delete(shop.url(f"/menu/items/{iid}"), headers=shop.owner.headers)
    assert response.status_code == 204
    assert "Paneer Tikka" not in item_names(await menu_of(client, shop))["Mains"]
    expect(await client.patch(shop.url(f"/menu/items/{iid}"), headers=shop.owner.headers, json={"price": 1}), 404)
    expect(await client.put(shop.url(f"/menu/items/{iid}/availability"), headers=shop.owner.headers,
                            json={"is_available": True}), 404)
    expect(await client.delete(shop.url(f"/menu/items/{iid}"), headers=shop.owner.headers), 404)


async def test_items_of_another_restaurant_are_404_here(client, shop, make_restaurant):
    other = await make_restaurant()
    foreign = other.items["Paneer Tikka"]["id"]
    expect(await client.patch(shop.url(f"/menu/items/{foreign}"), headers=shop.owner.headers, json={"price": 1}), 404)
    expect(await client.delete(shop.url(f"/menu/items/{foreign}"), headers=shop.owner.headers), 404)
    expect(await client.put(shop.url(f"/menu/items/{foreign}/availability"), headers=shop.owner.headers,
                            json={"is_available": False}), 404)
    assert item_names(await menu_of(client, other))["Mains"] == ["Dal Makhani", "Paneer Tikka", "Seasonal Special"]


# --------------------------------------------------------------------------- availability


async def test_every_floor_role_can_86_an_item_and_bring_it_back(client, shop, make_member):
    iid = shop.items["Dal Makhani"]["id"]
    for role in ("owner", "manager", "staff", "kitchen"):
        who = shop.owner if role == "owner" else await make_member(shop, role)
        off = expect(await client.put(shop.url(f"/menu/items/{iid}/availability"), headers=who.headers,
                                      json={"is_available": False}), 200)
        assert off["is_available"] is False, role
        on = expect(await client.put(shop.url(f"/menu/items/{iid}/availability"), headers=who.headers,
                                     json={"is_available": True}), 200)
        assert on["is_available"] is True, role


async def test_an_86ed_item_shows_unavailable_on_the_menu_and_cannot_be_ordered(client, shop, open_guest):
    iid = shop.items["Dal Makhani"]["id"]
    expect(await client.put(shop.url(f"/menu/items/{iid}/availability"), headers=shop.owner.headers,
                            json={"is_available": False}), 200)
    guest = await open_guest(shop)
    dal = next(i for i in (await menu_of(client, shop, guest.headers))["categories"][0]["items"] if i["id"] == iid)
    assert dal["is_available"] is False
    problem = expect(await client.post(shop.url("/orders"), headers=guest.headers,
                                       json=order_body(shop, ("Dal Makhani", 1))), 422)
    assert problem["code"] == "menu_item_unavailable"


async def test_availability_needs_a_boolean_and_a_guest_cannot_set_it(client, shop, open_guest):
    iid = shop.items["Dal Makhani"]["id"]
    for body in ({}, {"is_available": "false"}, {"is_available": 0}, {"is_available": None}):
        expect(await client.put(shop.url(f"/menu/items/{iid}/availability"), headers=shop.owner.headers,
                                json=body), 422)
    guest = await open_guest(shop)
    expect(await client.put(shop.url(f"/menu/items/{iid}/availability"), headers=guest.headers,
                            json={"is_available": False}), 403)
    assert shop.items["Dal Makhani"]["is_available"] is True
    dal = next(i for i in (await menu_of(client, shop))["categories"][0]["items"] if i["id"] == iid)
    assert dal["is_available"] is True


# ------------------------------------------------------------------------------- the menu


async def test_the_menu_lists_live_categories_in_rank_order_with_live_items_and_unavailable_ones_marked(
        client, shop):
    h = shop.owner.headers
    late = expect(await client.post(shop.url("/menu/categories"), headers=h, json={"name": "Desserts", "rank": 5}), 201)
    early = expect(await client.post(shop.url("/menu/categories"), headers=h, json={"name": "Starters", "rank": -1}),
                   201)
    expect(await client.post(shop.url("/menu/items"), headers=h, json={
        "category_id": early["id"], "name": "Samosa", "price": 3000, "description": "two pieces"}), 201)
    expect(await client.post(shop.url("/menu/items"), headers=h, json={
        "category_id": late["id"], "name": "Kulfi", "price": 9000}), 201)
    expect(await client.delete(shop.url(f"/menu/items/{shop.items['Paneer Tikka']['id']}"), headers=h), 204)

    menu = await menu_of(client, shop)
    assert set(menu) == {"categories"}
    assert [(c["name"], c["rank"]) for c in menu["categories"]] == [("Starters", -1), ("Mains", 1), ("Desserts", 5)]
    for category in menu["categories"]:
        assert {"id", "name", "rank", "items"} <= category.keys()
        for item in category["items"]:
            assert {"id", "name", "description", "price", "is_available"} <= item.keys()
    by_name = {i["name"]: i for c in menu["categories"] for i in c["items"]}
    assert set(by_name) == {"Samosa", "Dal Makhani", "Seasonal Special", "Kulfi"}
    assert (by_name["Samosa"]["price"], by_name["Samosa"]["description"], by_name["Samosa"]["is_available"]) == (
        3000, "two pieces", True)
    assert by_name["Seasonal Special"]["is_available"] is False
    assert by_name["Dal Makhani"]["description"] is None


async def test_the_menu_is_readable_by_a_guest_and_every_member_role_and_nobody_else(
        client, shop, make_member, make_user, open_guest, make_restaurant):
    expected = await menu_of(client, shop)
    readers = [shop.owner.headers, (await open_guest(shop)).headers]
    for role in ("manager", "staff", "kitchen"):
        readers.append((await make_member(shop, role)).headers)
    for headers in readers:
        assert await menu_of(client, shop, headers) == expected
    stranger = await make_user()
    expect(await client.get(shop.url("/menu"), headers=stranger.headers), 404)
    other_guest = await open_guest(await make_restaurant())
    expect(await client.get(shop.url("/menu"), headers=other_guest.headers), 404)
    expect(await client.get(shop.url("/menu")), 401)


# ---------------------------------------------------------------------------- restaurants


async def test_creating_a_restaurant_makes_the_caller_its_owner(client, make_user):
    user = await make_user()
    created = expect(await client.post("/api/restaurants", headers=user.headers, json={
        "name": "Dosa Corner", "currency": "INR", "timezone": "Asia/Kolkata", "tax_rate_bps": 500}), 201)
    assert {k: created[k] for k in ("name", "currency", "timezone", "tax_rate_bps")} == {
        "name": "Dosa Corner", "currency": "INR", "timezone": "Asia/Kolkata", "tax_rate_bps": 500}
    me = expect(await client.get("/api/auth/me", headers=user.headers), 200)
    assert {"restaurant_id": created["id"], "role": "owner"} in me["memberships"]
    assert expect(await client.get(f"/api/restaurants/{created['id']}", headers=user.headers), 200) == created


async def test_a_restaurants_tax_rate_defaults_to_zero(client, make_user):
    user = await make_user()
    created = expect(await client.post("/api/restaurants", headers=user.headers, json={
        "name": "No Tax", "currency": "USD", "timezone": "America/New_York"}), 201)
    assert created["tax_rate_bps"] == 0


async def test_a_bad_restaurant_body_is_422_and_creates_nothing(client, make_user):
    user = await make_user()
    base = {"name": "Bad", "currency": "INR", "timezone": "Asia/Kolkata"}
    failures = []
    for change in ({"currency": "inr"}, {"currency": "RUPEE"}, {"currency": "IN"}, {"currency": 356},
                   {"timezone": "Mars/Olympus"}, {"timezone": "asia/kolkata"}, {"timezone": ""},
                   {"tax_rate_bps": -1}, {"tax_rate_bps": 10_001}, {"tax_rate_bps": "500"}, {"tax_rate_bps": 5.5},
                   {"name": ""}, {"id": str(uuid4())}):
        response = await client.post("/api/restaurants", headers=user.headers, json={**base, **change})
        if response.status_code != 422:
            failures.append((change, response.status_code))
    assert failures == []
    assert expect(await client.get("/api/auth/me", headers=user.headers), 200)["memberships"] == []


async def test_creating_a_restaurant_needs_a_user_not_a_guest(client, shop, open_guest):
    body = {"name": "X", "currency": "INR", "timezone": "Asia/Kolkata"}
    expect(await client.post("/api/restaurants", json=body), 401)
    expect(await client.post("/api/restaurants", headers=(await open_guest(shop)).headers, json=body), 403)


async def test_a_restaurant_is_readable_by_members_only(client, shop, make_member, make_user, open_guest):
    kitchen = await make_member(shop, "kitchen")
    assert expect(await client.get(shop.url(), headers=kitchen.headers), 200)["id"] == shop.id
    expect(await client.get(shop.url(), headers=(await make_user()).headers), 404)
    expect(await client.get(shop.url(), headers=(await open_guest(shop)).headers), 403)
    expect(await client.get(f"/api/restaurants/{uuid4()}", headers=shop.owner.headers), 404)


async def test_owners_and_managers_patch_a_restaurant_and_new_orders_use_the_new_tax_rate(
        client, shop, make_member):
    manager = await make_member(shop, "manager")
    patched = expect(await client.patch(shop.url(), headers=manager.headers,
                                        json={"name": "Renamed", "tax_rate_bps": 1800}), 200)
    assert (patched["name"], patched["tax_rate_bps"], patched["currency"], patched["timezone"]) == (
        "Renamed", 1800, "INR", "Asia/Kolkata")
    order = expect(await client.post(shop.url("/orders"), headers=manager.headers,
                                     json=order_body(shop, ("Dal Makhani", 1))), 201)
    assert order["tax"] == 3249  # 18050 * 18 % = 3249.0
    again = expect(await client.patch(shop.url(), headers=shop.owner.headers, json={"timezone": "Europe/London"}), 200)
    assert (again["name"], again["timezone"]) == ("Renamed", "Europe/London")


async def test_patching_a_restaurant_with_its_current_values_returns_it(client, shop):
    same = expect(await client.patch(shop.url(), headers=shop.owner.headers, json={"name": shop.data["name"]}), 200)
    assert same["name"] == shop.data["name"]


async def test_staff_cannot_patch_a_restaurant_and_bad_values_are_422(client, shop, make_member):
    staff = await make_member(shop, "staff")
    expect(await client.patch(shop.url(), headers=staff.headers, json={"name": "Mine"}), 403)
    for body in ({"currency": "usd"}, {"timezone": "Nowhere/Land"}, {"tax_rate_bps": 10_001}, {"owner": "me"}):
        expect(await client.patch(shop.url(), headers=shop.owner.headers, json=body), 422)
    assert expect(await client.get(shop.url(), headers=shop.owner.headers), 200) == shop.data


# -------------------------------------------------------------------------------- members


# Members join by invitation: tests/test_invitations.py.


# --------------------------------------------------------------------------------- tables


async def test_a_table_gets_a_long_unique_url_safe_qr_token(client, shop):
    created = [expect(await client.post(shop.url("/tables"), headers=shop.owner.headers,
                                        json={"label": f"P{n}", "seats": 2}), 201) for n in range(5)]
    tokens = [t["qr_token"] for t in [*shop.tables, *created]]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32,64}", t) for t in tokens), tokens
    assert len(set(tokens)) == len(tokens)
    assert {k: created[0][k] for k in ("label", "seats", "is_active")} == {"label": "P0", "seats": 2, "is_active": True}


async def test_tables_are_listed_for_members_by_label(client, shop, make_member, open_guest):
    expect(await client.post(shop.url("/tables"), headers=shop.owner.headers, json={"label": "A0"}), 201)
    kitchen = await make_member(shop, "kitchen")
    listed = expect(await client.get(shop.url("/tables"), headers=kitchen.headers), 200)
    assert [t["label"] for t in listed["items"]] == ["A0", "T1", "T2"]
    assert {t["id"]: t["qr_token"] for t in listed["items"] if t["label"] != "A0"} == {
        t["id"]: t["qr_token"] for t in shop.tables}
    expect(await client.get(shop.url("/tables"), headers=(await open_guest(shop)).headers), 403)


async def test_a_duplicate_table_label_is_409(client, shop):
    problem = expect(await client.post(shop.url("/tables"), headers=shop.owner.headers, json={"label": "T1"}), 409)
    assert problem["code"] == "table_label_taken"
    renamed = expect(await client.patch(shop.url(f"/tables/{shop.tables[1]['id']}"), headers=shop.owner.headers,
                                        json={"label": "T1"}), 409)
    assert renamed["code"] == "table_label_taken"


async def test_a_bad_table_body_is_422_and_staff_cannot_create_tables(client, shop, make_member):
    for body in ({}, {"label": ""}, {"label": "x" * 41}, {"label": "Z", "seats": 0}, {"label": "Z", "seats": 101},
                 {"label": "Z", "qr_token": "mine"}):
        expect(await client.post(shop.url("/tables"), headers=shop.owner.headers, json=body), 422)
    staff = await make_member(shop, "staff")
    expect(await client.post(shop.url("/tables"), headers=staff.headers, json={"label": "Z"}), 403)


async def test_a_table_is_relabelled_reseated_and_its_seats_cleared(client, shop):
    tid = shop.tables[0]["id"]
    edited = expect(await client.patch(shop.url(f"/tables/{tid}"), headers=shop.owner.headers,
                                       json={"label": "Window 1", "seats": 6}), 200)
    assert (edited["label"], edited["seats"], edited["qr_token"]) == ("Window 1", 6, shop.tables[0]["qr_token"])
    cleared = expect(await client.patch(shop.url(f"/tables/{tid}"), headers=shop.owner.headers,
                                        json={"seats": None}), 200)
    assert (cleared["label"], cleared["seats"]) == ("Window 1", None)


async def test_patching_a_table_with_its_current_values_returns_it(client, shop):
    table = shop.tables[0]
    same = expect(await client.patch(shop.url(f"/tables/{table['id']}"), headers=shop.owner.headers,
                                     json={"label": table["label"], "seats": table["seats"]}), 200)
    assert (same["id"], same["qr_token"], same["version"]) == (table["id"], table["qr_token"], 1)


async def test_a_closed_table_opens_no_sessions_until_reopened(client, shop):
    table = shop.tables[0]
    closed = expect(await client.patch(shop.url(f"/tables/{table['id']}"), headers=shop.owner.headers,
                                       json={"is_active": False}), 200)
    assert closed["is_active"] is False
    expect(await client.post(f"/api/qr/{table['qr_token']}/session"), 404)
    expect(await client.patch(shop.url(f"/tables/{table['id']}"), headers=shop.owner.headers,
                              json={"is_active": True}), 200)
    session = expect(await client.post(f"/api/qr/{table['qr_token']}/session"), 201)
    assert session["table"] == {"id": table["id"], "label": table["label"]}


async def test_rotating_a_qr_token_issues_a_new_one_and_the_old_qr_stops_opening_sessions(client, shop):
    table = shop.tables[0]
    rotated = expect(await client.patch(shop.url(f"/tables/{table['id']}"), headers=shop.owner.headers,
                                        json={"rotate_qr_token": True}), 200)
    assert rotated["qr_token"] != table["qr_token"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,64}", rotated["qr_token"])
    assert (rotated["label"], rotated["seats"], rotated["is_active"]) == (table["label"], table["seats"], True)
    expect(await client.post(f"/api/qr/{table['qr_token']}/session"), 404)
    session = expect(await client.post(f"/api/qr/{rotated['qr_token']}/session"), 201)
    assert session["table"]["id"] == table["id"]
    assert session["restaurant"]["id"] == shop.id
    not_rotated = expect(await client.patch(shop.url(f"/tables/{table['id']}"), headers=shop.owner.headers,
                                            json={"rotate_qr_token": False, "seats": 3}), 200)
    assert not_rotated["qr_token"] == rotated["qr_token"]


async def test_patching_an_unknown_or_foreign_table_is_404(client, shop, make_restaurant):
    other = await make_restaurant()
    for tid in (str(uuid4()), other.tables[0]["id"]):
        expect(await client.patch(shop.url(f"/tables/{tid}"), headers=shop.owner.headers, json={"seats": 2}), 404)
    assert expect(await client.get(other.url("/tables"), headers=other.owner.headers), 200)["items"][0]["seats"] == 4
