"""Richer menus: an item's picture, ingredients, allergens and preparation time, a category's
description, written through the menu routes and read back through the whole menu and the
list and single reads of categories and items; bad values are a 422 that writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import Guest, MakeRestaurant, Restaurant, expect

DbSql = Callable[..., list[dict[str, Any]]]
OpenGuest = Callable[[Restaurant, int], Awaitable[Guest]]

DETAILS = {"image_url": "https://cdn.example.com/dishes/paneer.jpg?w=640", "ingredients": ["paneer", "yoghurt", "mint"],
           "allergens": ["milk", "mustard"], "prep_minutes": 15}


async def test_an_item_is_created_with_its_details_and_every_read_shows_them(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest
) -> None:
    r = await make_restaurant()
    created = expect(await client.post(r.url("/menu/items"), headers=r.owner.headers, json={
        "category_id": r.category_id, "name": "Tandoori Paneer", "price": 27000, **DETAILS}), 201)
    assert {k: created[k] for k in DETAILS} == DETAILS
    guest = await open_guest(r, 0)
    menu = expect(await client.get(r.url("/menu"), headers=guest.headers), 200)
    listed = {i["id"]: i for c in menu["categories"] for i in c["items"]}
    assert {k: listed[created["id"]][k] for k in DETAILS} == DETAILS
    one = expect(await client.get(r.url(f"/menu/items/{created['id']}"), headers=guest.headers), 200)
    assert one == listed[created["id"]]
    # An item made without them says so: no picture, no lists, no time.
    plain = listed[r.items["Paneer Tikka"]["id"]]
    assert (plain["image_url"], plain["ingredients"], plain["allergens"], plain["prep_minutes"]) == (None, [], [], None)


async def test_a_patch_replaces_lists_whole_and_null_clears_the_picture_and_the_time(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant
) -> None:
    r = await make_restaurant()
    iid = r.items["Dal Makhani"]["id"]
    expect(await client.patch(r.url(f"/menu/items/{iid}"), headers=r.owner.headers, json=DETAILS), 200)
    patched = expect(await client.patch(r.url(f"/menu/items/{iid}"), headers=r.owner.headers, json={
        "allergens": ["gluten"], "image_url": None}), 200)
    assert (patched["allergens"], patched["ingredients"], patched["image_url"], patched["prep_minutes"]) == (
        ["gluten"], DETAILS["ingredients"], None, 15)
    cleared = expect(await client.patch(r.url(f"/menu/items/{iid}"), headers=r.owner.headers, json={
        "allergens": [], "ingredients": [], "prep_minutes": None}), 200)
    assert (cleared["allergens"], cleared["ingredients"], cleared["prep_minutes"]) == ([], [], None)
    # An ingredient named twice is kept once, as first spelt (the document cannot state that rule).
    once = expect(await client.patch(r.url(f"/menu/items/{iid}"), headers=r.owner.headers,
                                     json={"ingredients": ["Salt", "salt ", "Pepper", "SALT"]}), 200)
    assert once["ingredients"] == ["Salt", "Pepper"]
    # A field left out is left alone.
    renamed = expect(await client.patch(r.url(f"/menu/items/{iid}"), headers=r.owner.headers,
                                        json={"name": "Dal Bukhara"}), 200)
    assert renamed["description"] == cleared["description"]


@pytest.mark.parametrize(("field", "value"), [
    ("image_url", "http://cdn.example.com/a.jpg"),
    ("image_url", "https://cdn.example.com/" + "a" * 500),
    ("image_url", "https://user:pw@cdn.example.com/a.jpg"),
    ("image_url", "javascript:alert(1)"),
    ("allergens", ["milk", "chocolate"]),
    ("allergens", ["milk", "milk"]),
    ("allergens", "milk"),
    ("ingredients", [f"spice {n}" for n in range(51)]),
    ("ingredients", ["x" * 81]),
    ("ingredients", ["  "]),
    ("ingredients", ["line\nbreak"]),
    ("prep_minutes", 601),
    ("prep_minutes", -1),
    ("prep_minutes", 1.5),
    ("prep_minutes", "ten"),
])
async def test_bad_details_are_422_naming_the_field_and_write_nothing(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql, field: str, value: Any
) -> None:
    r = await make_restaurant()
    before = db_sql("SELECT * FROM menu_items WHERE restaurant_id = %s ORDER BY id", (r.id,))
    version = db_sql("SELECT version FROM menu_versions WHERE restaurant_id = %s", (r.id,))
    for response in (
        await client.post(r.url("/menu/items"), headers=r.owner.headers,
                          json={"category_id": r.category_id, "name": "Bad", "price": 100, field: value}),
        await client.patch(r.url(f"/menu/items/{r.items['Paneer Tikka']['id']}"), headers=r.owner.headers,
                           json={field: value}),
    ):
        problem = expect(response, 422)
        assert problem["code"] == "validation_error"
        assert problem["errors"][0]["loc"][:2] == ["body", field], problem
    assert db_sql("SELECT * FROM menu_items WHERE restaurant_id = %s ORDER BY id", (r.id,)) == before
    assert db_sql("SELECT version FROM menu_versions WHERE restaurant_id = %s", (r.id,)) == version


async def test_the_database_refuses_what_the_api_would_have_refused(db_sql: DbSql, make_restaurant: MakeRestaurant) -> None:
    """The constraints are the last wall for writes that do not come through the API."""
    r = await make_restaurant()
    for statement in ("UPDATE menu_items SET image_url = 'http://x.example/a.jpg' WHERE restaurant_id = %s",
                      "UPDATE menu_items SET allergens = '{chocolate}' WHERE restaurant_id = %s",
                      "UPDATE menu_items SET prep_minutes = 601 WHERE restaurant_id = %s",
                      "UPDATE menu_items SET ingredients = array_fill('x'::text, ARRAY[51]) WHERE restaurant_id = %s"):
        with pytest.raises(psycopg.errors.CheckViolation):
            db_sql(statement, (r.id,))


async def test_a_category_carries_a_description_that_can_be_changed_and_cleared(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest
) -> None:
    r = await make_restaurant()
    created = expect(await client.post(r.url("/menu/categories"), headers=r.owner.headers,
                                       json={"name": "Breads", "description": "From the tandoor,\nhot"}), 201)
    assert created["description"] == "From the tandoor,\nhot"
    guest = await open_guest(r, 0)
    one = expect(await client.get(r.url(f"/menu/categories/{created['id']}"), headers=guest.headers), 200)
    assert (one["description"], one["items"]) == ("From the tandoor,\nhot", [])
    changed = expect(await client.patch(r.url(f"/menu/categories/{created['id']}"), headers=r.owner.headers,
                                        json={"description": "Fresh"}), 200)
    assert changed["description"] == "Fresh"
    kept = expect(await client.patch(r.url(f"/menu/categories/{created['id']}"), headers=r.owner.headers,
                                     json={"rank": 5}), 200)
    assert kept["description"] == "Fresh"
    cleared = expect(await client.patch(r.url(f"/menu/categories/{created['id']}"), headers=r.owner.headers,
                                        json={"description": None}), 200)
    assert cleared["description"] is None
    expect(await client.patch(r.url(f"/menu/categories/{created['id']}"), headers=r.owner.headers,
                              json={"description": "x" * 1001}), 422)


async def test_categories_and_items_are_listed_and_read_one_by_one_as_the_menu_shows_them(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest
) -> None:
    r = await make_restaurant()
    empty = expect(await client.post(r.url("/menu/categories"), headers=r.owner.headers,
                                     json={"name": "Desserts", "rank": 9}), 201)
    guest = await open_guest(r, 0)
    menu = expect(await client.get(r.url("/menu"), headers=guest.headers), 200)
    categories = expect(await client.get(r.url("/menu/categories"), headers=guest.headers), 200)["items"]
    assert [(c["id"], c["name"], c["item_count"]) for c in categories] == [
        (r.category_id, "Mains", 3), (empty["id"], "Desserts", 0)]
    assert "items" not in categories[0]
    mains = expect(await client.get(r.url(f"/menu/categories/{r.category_id}"), headers=r.owner.headers), 200)
    assert mains == menu["categories"][0]
    items = expect(await client.get(r.url("/menu/items"), headers=guest.headers), 200)["items"]
    assert items == [i for c in menu["categories"] for i in c["items"]]
    for item in items:
        assert expect(await client.get(r.url(f"/menu/items/{item['id']}"), headers=guest.headers), 200) == item


async def test_unknown_deleted_and_other_restaurants_ids_are_404(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant
) -> None:
    r, other = await make_restaurant(), await make_restaurant()
    gone = r.items["Seasonal Special"]["id"]
    expect(await client.delete(r.url(f"/menu/items/{gone}"), headers=r.owner.headers), 204)
    empty = expect(await client.post(r.url("/menu/categories"), headers=r.owner.headers, json={"name": "Gone"}), 201)
    expect(await client.delete(r.url(f"/menu/categories/{empty['id']}"), headers=r.owner.headers), 204)
    for path in (f"/menu/items/{gone}", f"/menu/categories/{empty['id']}",
                 f"/menu/items/{other.items['Paneer Tikka']['id']}", f"/menu/categories/{other.category_id}",
                 "/menu/items/00000000-0000-4000-8000-000000000000"):
        problem = expect(await client.get(r.url(path), headers=r.owner.headers), 404)
        assert problem["code"] == "not_found"
        assert other.items["Paneer Tikka"]["name"] not in str(problem)
