"""Order lines with variations and addons, items with imported taxes, and the store switch,
through the HTTP API against the real database.

The options are set up with plain SQL (as the menu import would leave them): this module
checks what orders and the menu make of them, not how they are imported.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest

from api.app import create_app
from api.config import Settings
from db.queries import sql
from sync.config import SyncSettings
from tests.conftest import STANDIN_KEY, Restaurant, Standin, expect

Sql = Callable[..., list[dict[str, Any]]]

_WRITTEN = """
SELECT (SELECT count(*) FROM orders) AS orders,
       (SELECT count(*) FROM order_items) AS order_items,
       (SELECT count(*) FROM order_events) AS order_events,
       (SELECT count(*) FROM idempotency_keys) AS idempotency_keys,
       (SELECT count(*) FROM sync_log) AS sync_log,
       (SELECT coalesce(sum(last_order_number), 0) FROM order_counters) AS order_numbers
"""


def written(db_sql: Sql) -> dict[str, int]:
    return db_sql(_WRITTEN)[0]


@dataclass
class Menu:
    """A restaurant whose Margherita has sizes, toppings (0-2), a crust (exactly 1) and
    CGST + SGST; Garlic Bread offers toppings but has no sizes; Paneer Tikka has nothing
    and is taxed at the restaurant's 5 %."""

    shop: Restaurant
    ids: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.ids[name]

    def line(self, item: str = "Margherita", quantity: int = 1, *, variation: str | None = "Large",
             addons: tuple[str, ...] = ("Thin",)) -> dict[str, Any]:
        body: dict[str, Any] = {"menu_item_id": self[item], "quantity": quantity,
                                "addon_ids": [self[a] for a in addons]}
        if variation is not None:
            body["variation_id"] = self[variation]
        return body


def _insert(db_sql: Sql, query: str, **params: Any) -> str:
    return str(db_sql(query + " RETURNING id", params)[0]["id"])


async def _add_item(client: httpx.AsyncClient, shop: Restaurant, name: str, price: int) -> str:
    item = expect(await client.post(shop.url("/menu/items"), headers=shop.owner.headers, json={
        "category_id": shop.category_id, "name": name, "price": price}), 201)
    return str(item["id"])


def _variation(db_sql: Sql, rid: str, item: str, name: str, price: int, rank: int, *,
               available: bool = True, deleted: bool = False) -> str:
    return _insert(db_sql, "INSERT INTO menu_variations (restaurant_id, item_id, name, price, is_available, rank,"
                   " external_id, deleted_at) VALUES (%(rid)s, %(item)s, %(name)s, %(price)s, %(available)s,"
                   " %(rank)s, %(ext)s, CASE WHEN %(deleted)s THEN now() END)",
                   rid=rid, item=item, name=name, price=price, available=available, rank=rank,
                   ext=f"v-{uuid4()}", deleted=deleted)


def _group(db_sql: Sql, rid: str, name: str, rank: int, *, deleted: bool = False) -> str:
    return _insert(db_sql, "INSERT INTO menu_addon_groups (restaurant_id, name, rank, external_id, deleted_at)"
                   " VALUES (%(rid)s, %(name)s, %(rank)s, %(ext)s, CASE WHEN %(deleted)s THEN now() END)",
                   rid=rid, name=name, rank=rank, ext=f"g-{name}", deleted=deleted)


def _addon(db_sql: Sql, rid: str, group: str, name: str, price: int, rank: int, *, available: bool = True,
           deleted: bool = False, is_veg: bool | None = True) -> str:
    return _insert(db_sql, "INSERT INTO menu_addons (restaurant_id, group_id, name, price, is_available, is_veg,"
                   " rank, external_id, deleted_at) VALUES (%(rid)s, %(group)s, %(name)s, %(price)s,"
                   " %(available)s, %(is_veg)s, %(rank)s, %(ext)s, CASE WHEN %(deleted)s THEN now() END)",
                   rid=rid, group=group, name=name, price=price, available=available, is_veg=is_veg, rank=rank,
                   ext=f"a-{name}", deleted=deleted)


def _link(db_sql: Sql, rid: str, item: str, group: str, min_select: int, max_select: int, rank: int) -> None:
    db_sql("INSERT INTO menu_item_addon_groups (restaurant_id, item_id, group_id, min_select, max_select, rank)"
           " VALUES (%(rid)s, %(item)s, %(group)s, %(min)s, %(max)s, %(rank)s)",
           {"rid": rid, "item": item, "group": group, "min": min_select, "max": max_select, "rank": rank})


def _tax(db_sql: Sql, rid: str, item: str, name: str, rate_bps: int, *, deleted: bool = False) -> str:
    tax = _insert(db_sql, "INSERT INTO menu_taxes (restaurant_id, external_id, name, rate_bps, deleted_at)"
                  " VALUES (%(rid)s, %(ext)s, %(name)s, %(rate)s, CASE WHEN %(deleted)s THEN now() END)",
                  rid=rid, ext=f"t-{name}", name=name, rate=rate_bps, deleted=deleted)
    db_sql("INSERT INTO menu_item_taxes (restaurant_id, item_id, tax_id) VALUES (%s, %s, %s)", (rid, item, tax))
    return tax


async def build_menu(client: httpx.AsyncClient, shop: Restaurant, db_sql: Sql) -> Menu:
    rid = shop.id
    ids = {name: str(item["id"]) for name, item in shop.items.items()}
    ids["Margherita"] = pizza = await _add_item(client, shop, "Margherita", 40000)
    ids["Garlic Bread"] = bread = await _add_item(client, shop, "Garlic Bread", 15000)
    ids["Regular"] = _variation(db_sql, rid, pizza, "Regular", 40000, 1)
    ids["Large"] = _variation(db_sql, rid, pizza, "Large", 52000, 2)
    ids["Family"] = _variation(db_sql, rid, pizza, "Family", 70000, 3, available=False)
    ids["Party"] = _variation(db_sql, rid, pizza, "Party", 90000, 4, deleted=True)
    ids["Toppings"] = toppings = _group(db_sql, rid, "Toppings", 1)
    ids["Extra cheese"] = _addon(db_sql, rid, toppings, "Extra cheese", 6000, 1)
    ids["Olives"] = _addon(db_sql, rid, toppings, "Olives", 4000, 2)
    ids["Chicken"] = _addon(db_sql, rid, toppings, "Chicken", 8000, 3, is_veg=False)
    ids["Jalapeno"] = _addon(db_sql, rid, toppings, "Jalapeno", 3000, 4, available=False)
    ids["Truffle"] = _addon(db_sql, rid, toppings, "Truffle", 20000, 5, deleted=True)
    ids["Crust"] = crust = _group(db_sql, rid, "Crust", 2)
    ids["Thin"] = _addon(db_sql, rid, crust, "Thin", 0, 1)
    ids["Stuffed"] = _addon(db_sql, rid, crust, "Stuffed", 9000, 2)
    ids["Drinks"] = drinks = _group(db_sql, rid, "Drinks", 3)
    ids["Cola"] = _addon(db_sql, rid, drinks, "Cola", 5000, 1)
    ids["Sauces"] = sauces = _group(db_sql, rid, "Sauces", 4, deleted=True)
    ids["Chipotle"] = _addon(db_sql, rid, sauces, "Chipotle", 2000, 1)
    _link(db_sql, rid, pizza, toppings, 0, 2, 1)
    _link(db_sql, rid, pizza, crust, 1, 1, 2)
    # A deleted group offered with a minimum: it is off the menu, so its minimum no longer applies.
    _link(db_sql, rid, pizza, sauces, 1, 1, 3)
    _link(db_sql, rid, bread, toppings, 0, 3, 1)
    ids["CGST"] = _tax(db_sql, rid, pizza, "CGST", 250)
    ids["SGST"] = _tax(db_sql, rid, pizza, "SGST", 250)
    ids["Old cess"] = _tax(db_sql, rid, pizza, "Old cess", 100, deleted=True)
    return Menu(shop, ids)


@pytest.fixture
async def menu(client, make_restaurant, db_sql) -> Menu:
    return await build_menu(client, await make_restaurant(tax_rate_bps=500), db_sql)


@pytest.fixture
async def guest(menu, open_guest):
    return await open_guest(menu.shop)


# ------------------------------------------------------------------------------ pricing


async def test_a_line_is_priced_from_its_variation_and_addons_and_taxed_at_its_items_own_taxes(
        client, menu, guest, db_sql):
    body = {"items": [
        menu.line(quantity=2, addons=("Extra cheese", "Olives", "Stuffed")),
        {"menu_item_id": menu["Paneer Tikka"], "quantity": 1},
    ]}
    order = expect(await client.post(menu.shop.url("/orders"), headers=guest.headers, json=body), 201)

    pizza, paneer = order["items"]
    # Large 52000 replaces the item's 40000; the addons' prices are in the unit price.
    assert (pizza["unit_price"], pizza["quantity"], pizza["line_total"]) == (52000 + 6000 + 4000 + 9000, 2, 142000)
    assert (pizza["variation_id"], pizza["variation_name"]) == (menu["Large"], "Large")
    assert pizza["addons"] == [
        {"id": menu["Extra cheese"], "external_id": "a-Extra cheese", "group_id": menu["Toppings"],
         "group_external_id": "g-Toppings", "group_name": "Toppings", "name": "Extra cheese", "price": 6000},
        {"id": menu["Olives"], "external_id": "a-Olives", "group_id": menu["Toppings"],
         "group_external_id": "g-Toppings", "group_name": "Toppings", "name": "Olives", "price": 4000},
        {"id": menu["Stuffed"], "external_id": "a-Stuffed", "group_id": menu["Crust"],
         "group_external_id": "g-Crust", "group_name": "Crust", "name": "Stuffed", "price": 9000},
    ]
    assert (paneer["unit_price"], paneer["variation_id"], paneer["variation_name"], paneer["addons"]) == (
        25000, None, None, [])
    # CGST and SGST at 2.5 % each on 142000; the Paneer line at the restaurant's 5 % on 25000.
    assert (order["subtotal"], order["tax"], order["total"]) == (167000, 3550 + 3550 + 1250, 167000 + 8350)

    stored = db_sql("SELECT taxes, variation_id::text AS variation_id, variation_name FROM order_items"
                    " WHERE order_id = %s ORDER BY position", (order["id"],))
    assert stored[0]["taxes"] == [
        {"id": menu["CGST"], "external_id": "t-CGST", "name": "CGST", "rate_bps": 250, "amount": 3550},
        {"id": menu["SGST"], "external_id": "t-SGST", "name": "SGST", "rate_bps": 250, "amount": 3550},
    ]
    assert (stored[0]["variation_id"], stored[0]["variation_name"]) == (menu["Large"], "Large")
    assert stored[1]["taxes"] == []
    assert db_sql("SELECT tax, total FROM orders WHERE id = %s", (order["id"],))[0] == {"tax": 8350,
                                                                                        "total": 175350}


async def test_an_item_without_variations_is_priced_from_its_own_price_plus_its_addons(client, menu, guest):
    body = {"items": [menu.line("Garlic Bread", 3, variation=None, addons=("Chicken", "Olives", "Extra cheese")),
                      menu.line("Garlic Bread", 1, variation=None, addons=())]}
    order = expect(await client.post(menu.shop.url("/orders"), headers=guest.headers, json=body), 201)
    assert [(i["unit_price"], i["line_total"], [a["name"] for a in i["addons"]]) for i in order["items"]] == [
        (15000 + 8000 + 4000 + 6000, 3 * 33000, ["Chicken", "Olives", "Extra cheese"]),
        (15000, 15000, []),
    ]
    # Garlic Bread has no taxes of its own: the restaurant's 5 % on the whole subtotal.
    assert (order["subtotal"], order["tax"]) == (114000, 5700)


async def test_the_order_returned_on_creation_is_the_order_read_back(client, menu, guest):
    body = {"items": [menu.line(addons=("Olives", "Thin")), menu.line("Paneer Tikka", variation=None, addons=())]}
    created = expect(await client.post(menu.shop.url("/orders"), headers=guest.headers, json=body), 201)
    read = expect(await client.get(menu.shop.url(f"/orders/{created['id']}"), headers=guest.headers), 200)
    assert created == read


async def test_a_replay_with_the_same_key_returns_the_first_order_unchanged_after_a_price_change(
        client, menu, guest, db_sql):
    headers = {**guest.headers, "Idempotency-Key": "pizza-1"}
    body = {"items": [menu.line(addons=("Extra cheese", "Thin"))]}
    first = expect(await client.post(menu.shop.url("/orders"), headers=headers, json=body), 201)
    db_sql("UPDATE menu_variations SET price = 99999 WHERE id = %s", (menu["Large"],))
    db_sql("UPDATE menu_addons SET price = 99999 WHERE id = %s", (menu["Extra cheese"],))
    before = written(db_sql)
    replay = await client.post(menu.shop.url("/orders"), headers=headers, json=body)
    assert (replay.status_code, replay.headers.get("idempotent-replayed")) == (200, "true")
    assert replay.json() == first
    assert first["items"][0]["unit_price"] == 58000
    assert written(db_sql) == before


async def test_a_replay_with_the_same_key_but_other_addons_is_409(client, menu, guest, db_sql):
    headers = {**guest.headers, "Idempotency-Key": "pizza-2"}
    expect(await client.post(menu.shop.url("/orders"), headers=headers,
                             json={"items": [menu.line(addons=("Olives", "Thin"))]}), 201)
    problem = expect(await client.post(menu.shop.url("/orders"), headers=headers,
                                       json={"items": [menu.line(addons=("Extra cheese", "Thin"))]}), 409)
    assert problem["code"] == "idempotency_key_reused"


# ------------------------------------------------------------------------ invalid choices


def _invalid_choices(menu: Menu, other_menu: Menu) -> list[tuple[str, dict[str, Any], str, list[Any]]]:
    """(case, line, code, where the 422 points) for lines whose options the menu refuses."""
    at_variation = ["body", "items", 0, "variation_id"]
    at_addons = ["body", "items", 0, "addon_ids"]
    return [
        ("no variation for an item that has them", menu.line(variation=None), "variation_required", at_variation),
        ("a variation of another item", menu.line("Garlic Bread", variation="Large", addons=()),
         "unknown_variation", at_variation),
        ("a variation that does not exist", {**menu.line(), "variation_id": str(uuid4())},
         "unknown_variation", at_variation),
        ("another restaurant's variation", {**menu.line(), "variation_id": other_menu["Large"]},
         "unknown_variation", at_variation),
        ("a deleted variation", menu.line(variation="Party"), "unknown_variation", at_variation),
        ("an unavailable variation", menu.line(variation="Family"), "variation_unavailable", at_variation),
        ("an addon of a group the item does not offer", menu.line(addons=("Thin", "Cola")), "unknown_addon",
         [*at_addons, 1]),
        ("an addon of a deleted group", menu.line(addons=("Thin", "Chipotle")), "unknown_addon", [*at_addons, 1]),
        ("a deleted addon", menu.line(addons=("Truffle", "Thin")), "unknown_addon", [*at_addons, 0]),
        ("an addon that does not exist", {**menu.line(), "addon_ids": [menu["Thin"], str(uuid4())]},
         "unknown_addon", [*at_addons, 1]),
        ("another restaurant's addon", {**menu.line(), "addon_ids": [menu["Thin"], other_menu["Olives"]]},
         "unknown_addon", [*at_addons, 1]),
        ("an unavailable addon", menu.line(addons=("Thin", "Jalapeno")), "addon_unavailable", [*at_addons, 1]),
        ("more toppings than the maximum", menu.line(addons=("Thin", "Olives", "Extra cheese", "Chicken")),
         "too_many_addons", at_addons),
        ("two crusts where one is allowed", menu.line(addons=("Thin", "Stuffed")), "too_many_addons", at_addons),
        ("no crust where one is required", menu.line(addons=("Olives",)), "too_few_addons", at_addons),
        ("no addons at all where one is required", menu.line(addons=()), "too_few_addons", at_addons),
        ("an addon on an item with no addon groups", menu.line("Paneer Tikka", variation=None, addons=("Olives",)),
         "unknown_addon", [*at_addons, 0]),
    ]


async def test_every_invalid_choice_is_422_naming_the_line_and_its_code_and_writes_nothing(
        client, menu, guest, make_restaurant, db_sql):
    other_menu = await build_menu(client, await make_restaurant(), db_sql)
    failures = []
    for case, line, code, loc in _invalid_choices(menu, other_menu):
        before = written(db_sql)
        # Behind a valid first line, so the location proves which line is at fault.
        body = {"items": [menu.line("Paneer Tikka", variation=None, addons=()), line]}
        response = await client.post(menu.shop.url("/orders"), json=body,
                                     headers={**guest.headers, "Idempotency-Key": f"bad-{uuid4()}"})
        problem = response.json()
        expected_loc = [loc[0], loc[1], 1, *loc[3:]]
        outcome = (response.status_code, response.headers["content-type"].split(";")[0], problem.get("code"),
                   [(e["loc"], e["code"]) for e in problem.get("errors", [])])
        if outcome != (422, "application/problem+json", code, [(expected_loc, code)]):
            failures.append((case, outcome))
        if written(db_sql) != before:
            failures.append((case, "wrote something"))
    assert failures == []


async def test_every_problem_of_every_line_is_reported_at_once(client, menu, guest, db_sql):
    before = written(db_sql)
    body = {"items": [menu.line(variation="Family", addons=("Jalapeno", "Cola")),
                      menu.line("Garlic Bread", variation=None, addons=("Thin",))]}
    problem = expect(await client.post(menu.shop.url("/orders"), headers=guest.headers, json=body), 422)
    assert problem["code"] == "variation_unavailable"
    assert problem["detail"].startswith("item 1: Margherita (Family) is unavailable")
    assert [(e["loc"], e["code"]) for e in problem["errors"]] == [
        (["body", "items", 0, "variation_id"], "variation_unavailable"),
        (["body", "items", 0, "addon_ids", 0], "addon_unavailable"),
        (["body", "items", 0, "addon_ids", 1], "unknown_addon"),
        (["body", "items", 0, "addon_ids"], "too_few_addons"),
        (["body", "items", 1, "addon_ids", 0], "unknown_addon"),
    ]
    assert written(db_sql) == before


async def test_an_out_of_stock_item_with_options_is_422_like_any_unavailable_item(client, menu, guest, db_sql):
    db_sql("UPDATE menu_items SET is_available = false WHERE id = %s", (menu["Margherita"],))
    problem = expect(await client.post(menu.shop.url("/orders"), headers=guest.headers,
                                       json={"items": [menu.line()]}), 422)
    assert problem["code"] == "menu_item_unavailable"
    assert [e["loc"] for e in problem["errors"]] == [["body", "items", 0, "menu_item_id"]]


async def test_an_item_not_offered_for_the_orders_type_is_422_naming_its_line_and_writes_nothing(
        client, menu, guest, db_sql):
    """Issue 11, finding 10: PetPooja's item_ordertype (menu_items.order_types) is enforced: a delivery-and-pickup
    item cannot be ordered at a table (the guest's dine-in order names the line), but may be taken away."""
    db_sql("UPDATE menu_items SET order_types = '{takeaway,delivery}' WHERE id = %s", (menu["Garlic Bread"],))
    before = written(db_sql)
    body = {"items": [menu.line("Paneer Tikka", variation=None, addons=()),
                      menu.line("Garlic Bread", variation=None, addons=())]}
    problem = expect(await client.post(menu.shop.url("/orders"), headers=guest.headers, json=body), 422)
    assert problem["code"] == "order_type_not_offered"
    assert [(e["loc"], e["code"], e["msg"]) for e in problem["errors"]] == [
        (["body", "items", 1, "menu_item_id"], "order_type_not_offered", "Garlic Bread is not offered for dine in")]
    assert written(db_sql) == before
    taken_away = expect(await client.post(menu.shop.url("/orders"), headers=menu.shop.owner.headers,
                                          json={**body, "order_type": "takeaway"}), 201)
    assert [line["name"] for line in taken_away["items"]] == ["Paneer Tikka", "Garlic Bread"]
    # Items made here are offered for every type; the menu says which types each item takes.
    got = expect(await client.get(menu.shop.url("/menu"), headers=guest.headers), 200)
    types = {i["name"]: i["order_types"] for c in got["categories"] for i in c["items"]}
    assert types["Garlic Bread"] == ["takeaway", "delivery"]
    assert types["Paneer Tikka"] == ["dine_in", "takeaway", "delivery"]


async def test_an_order_beyond_what_a_json_number_holds_exactly_is_422_and_writes_nothing(
        client, menu, guest, db_sql):
    """Every price, addon and tax of an imported menu is within bounds, but many at once multiply: 30 lines of 99
    items at the largest price with 50 such addons and six 100 % taxes come to more than 2**53 minor units, which
    a browser or Convex cannot hold exactly (thousands of taxes would overflow bigint: a 500). It is refused."""
    rid, item = menu.shop.id, menu["Garlic Bread"]
    db_sql("UPDATE menu_items SET price = 10000000000 WHERE id = %s", (item,))
    group = _group(db_sql, rid, "Everything", 9)
    addons = [_addon(db_sql, rid, group, f"Gold {n}", 10_000_000_000, n) for n in range(50)]
    _link(db_sql, rid, item, group, 0, 50, 2)
    for n in range(6):
        _tax(db_sql, rid, item, f"Levy {n}", 10_000)
    before = written(db_sql)
    line = {"menu_item_id": item, "quantity": 99, "addon_ids": addons}
    problem = expect(await client.post(menu.shop.url("/orders"), headers=guest.headers,
                                       json={"items": [line] * 30}), 422)
    assert problem["code"] == "order_too_large"
    assert written(db_sql) == before


async def test_addon_lists_that_repeat_an_addon_or_are_too_long_are_refused_at_the_edge(
        client, menu, guest, db_sql):
    before = written(db_sql)
    cases = [
        ("an addon twice", {**menu.line(), "addon_ids": [menu["Thin"], menu["Thin"]]}),
        ("51 addons", {**menu.line(), "addon_ids": [str(uuid4()) for _ in range(51)]}),
        ("addon_ids not a list", {**menu.line(), "addon_ids": menu["Thin"]}),
        ("an addon id not a uuid", {**menu.line(), "addon_ids": ["cheese"]}),
        ("variation_id not a uuid", {**menu.line(), "variation_id": "large"}),
    ]
    failures = []
    for case, line in cases:
        response = await client.post(menu.shop.url("/orders"), headers=guest.headers, json={"items": [line]})
        problem = response.json()
        if (response.status_code, problem.get("code")) != (422, "validation_error"):
            failures.append((case, response.status_code, response.text))
        elif not any(e["loc"][:3] == ["body", "items", 0] for e in problem["errors"]):
            failures.append((case, problem["errors"]))
    assert failures == []
    assert written(db_sql) == before


# -------------------------------------------------------------------------- store switch


def close_store(db_sql: Sql, rid: str, *, reason: str | None = "Kitchen closed for cleaning",
                reopens_in: str | None = "1 hour") -> None:
    db_sql("UPDATE restaurants SET accepting_orders = false, closed_reason = %(reason)s,"
           " reopens_at = now() + %(reopens)s::interval WHERE id = %(rid)s",
           {"reason": reason, "reopens": reopens_in, "rid": rid})


async def test_a_guest_order_while_the_store_is_closed_is_409_with_the_reason_and_writes_nothing(
        client, menu, guest, db_sql):
    close_store(db_sql, menu.shop.id)
    before = written(db_sql)
    response = await client.post(menu.shop.url("/orders"), json={"items": [menu.line()]},
                                 headers={**guest.headers, "Idempotency-Key": "closed-1"})
    problem = expect(response, 409)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "store_closed"
    assert problem["reason"] == "Kitchen closed for cleaning"
    assert "Kitchen closed for cleaning" in problem["detail"]
    [stored] = db_sql("SELECT reopens_at FROM restaurants WHERE id = %s", (menu.shop.id,))
    assert datetime.fromisoformat(problem["reopens_at"].replace("Z", "+00:00")) == stored["reopens_at"]
    assert written(db_sql) == before


async def test_staff_may_still_order_while_the_store_is_closed(client, menu, make_member, db_sql):
    close_store(db_sql, menu.shop.id, reason=None, reopens_in=None)
    staff = await make_member(menu.shop, "staff")
    order = expect(await client.post(menu.shop.url("/orders"), headers=staff.headers,
                                     json={"items": [menu.line()]}), 201)
    assert order["status"] == "pending"


async def test_a_closed_store_without_reason_or_reopening_time_says_so_with_nulls(client, menu, guest, db_sql):
    close_store(db_sql, menu.shop.id, reason=None, reopens_in=None)
    problem = expect(await client.post(menu.shop.url("/orders"), headers=guest.headers,
                                       json={"items": [menu.line()]}), 409)
    assert (problem["code"], problem["reason"], problem["reopens_at"]) == ("store_closed", None, None)


async def test_guests_order_again_once_the_store_reopens_or_its_reopening_time_has_passed(
        client, menu, guest, db_sql):
    close_store(db_sql, menu.shop.id, reopens_in="-1 minute")
    expect(await client.post(menu.shop.url("/orders"), headers=guest.headers, json={"items": [menu.line()]}), 201)
    close_store(db_sql, menu.shop.id, reopens_in=None)
    expect(await client.post(menu.shop.url("/orders"), headers=guest.headers, json={"items": [menu.line()]}), 409)
    db_sql("UPDATE restaurants SET accepting_orders = true, closed_reason = NULL WHERE id = %s", (menu.shop.id,))
    expect(await client.post(menu.shop.url("/orders"), headers=guest.headers, json={"items": [menu.line()]}), 201)


async def test_a_guests_retry_of_an_order_placed_before_closing_is_still_a_replay(client, menu, guest, db_sql):
    headers = {**guest.headers, "Idempotency-Key": "before-closing"}
    first = expect(await client.post(menu.shop.url("/orders"), headers=headers, json={"items": [menu.line()]}), 201)
    close_store(db_sql, menu.shop.id)
    assert expect(await client.post(menu.shop.url("/orders"), headers=headers,
                                    json={"items": [menu.line()]}), 200) == first


# ------------------------------------------------------------------- restaurant details


async def test_the_restaurant_shows_its_address_phone_and_store_switch_and_takes_address_and_phone(
        client, menu, db_sql):
    shop = menu.shop
    got = expect(await client.get(shop.url(), headers=shop.owner.headers), 200)
    assert {k: got[k] for k in ("address", "phone", "accepting_orders", "closed_reason", "reopens_at")} == {
        "address": None, "phone": None, "accepting_orders": True, "closed_reason": None, "reopens_at": None}
    patched = expect(await client.patch(shop.url(), headers=shop.owner.headers, json={
        "address": "  12 MG Road, Bengaluru  ", "phone": "+91 80 1234 5678"}), 200)
    assert (patched["address"], patched["phone"]) == ("12 MG Road, Bengaluru", "+91 80 1234 5678")
    # A patch that leaves them out keeps them; null clears one.
    expect(await client.patch(shop.url(), headers=shop.owner.headers, json={"name": "Renamed"}), 200)
    cleared = expect(await client.patch(shop.url(), headers=shop.owner.headers, json={"phone": None}), 200)
    assert (cleared["name"], cleared["address"], cleared["phone"]) == ("Renamed", "12 MG Road, Bengaluru", None)

    close_store(db_sql, shop.id, reason="Rain")
    got = expect(await client.get(shop.url(), headers=shop.owner.headers), 200)
    assert (got["accepting_orders"], got["closed_reason"]) == (False, "Rain")
    assert got["reopens_at"] is not None
    # Once reopens_at has passed, guests may order again, and the restaurant says so.
    close_store(db_sql, shop.id, reason="Rain", reopens_in="-1 second")
    got = expect(await client.get(shop.url(), headers=shop.owner.headers), 200)
    assert (got["accepting_orders"], got["closed_reason"]) == (True, "Rain")


async def test_a_new_restaurant_may_give_its_address_and_phone(client, make_user):
    owner = await make_user()
    created = expect(await client.post("/api/restaurants", headers=owner.headers, json={
        "name": "Dosa Corner", "currency": "INR", "timezone": "Asia/Kolkata", "address": "4 Anna Salai, Chennai",
        "phone": "044 2345 6789"}), 201)
    assert (created["address"], created["phone"], created["accepting_orders"]) == (
        "4 Anna Salai, Chennai", "044 2345 6789", True)


async def test_the_store_switch_cannot_be_patched_and_bad_address_or_phone_is_422(client, menu, db_sql):
    shop = menu.shop
    cases = [
        ({"accepting_orders": False}, ("body", "accepting_orders")),
        ({"closed_reason": "x"}, ("body", "closed_reason")),
        ({"reopens_at": "2030-01-01T00:00:00Z"}, ("body", "reopens_at")),
        ({"address": "x" * 501}, ("body", "address")),
        ({"address": "   "}, ("body", "address")),
        ({"phone": "call me"}, ("body", "phone")),
        ({"phone": "1" * 21}, ("body", "phone")),
        ({"phone": 5551234}, ("body", "phone")),
    ]
    failures = []
    for body, loc in cases:
        response = await client.patch(shop.url(), headers=shop.owner.headers, json=body)
        if response.status_code != 422 or loc not in [tuple(e["loc"]) for e in response.json().get("errors", [])]:
            failures.append((body, response.status_code, response.text))
    assert failures == []
    assert db_sql("SELECT accepting_orders, address, phone FROM restaurants WHERE id = %s", (shop.id,)) == [
        {"accepting_orders": True, "address": None, "phone": None}]


# --------------------------------------------------------------------------------- menu


async def test_the_menu_lists_each_items_live_variations_addon_groups_and_taxes(client, menu, guest, db_sql):
    db_sql("UPDATE menu_items SET is_veg = true WHERE id = %s", (menu["Margherita"],))
    got = expect(await client.get(menu.shop.url("/menu"), headers=guest.headers), 200)
    items = {i["name"]: i for c in got["categories"] for i in c["items"]}
    pizza = items["Margherita"]
    assert pizza["is_veg"] is True
    assert pizza["variations"] == [
        {"id": menu["Regular"], "name": "Regular", "price": 40000, "is_available": True},
        {"id": menu["Large"], "name": "Large", "price": 52000, "is_available": True},
        {"id": menu["Family"], "name": "Family", "price": 70000, "is_available": False},
    ]

    def addon(name: str, price: int, *, available: bool = True, is_veg: bool | None = True) -> dict[str, Any]:
        return {"id": menu[name], "name": name, "price": price, "is_available": available, "is_veg": is_veg}

    toppings = {"id": menu["Toppings"], "name": "Toppings", "addons": [
        addon("Extra cheese", 6000), addon("Olives", 4000), addon("Chicken", 8000, is_veg=False),
        addon("Jalapeno", 3000, available=False)]}
    assert pizza["addon_groups"] == [
        {**toppings, "min_select": 0, "max_select": 2},
        {"id": menu["Crust"], "name": "Crust", "min_select": 1, "max_select": 1,
         "addons": [addon("Thin", 0), addon("Stuffed", 9000)]},
    ]
    assert pizza["taxes"] == [{"id": menu["CGST"], "name": "CGST", "rate_bps": 250},
                              {"id": menu["SGST"], "name": "SGST", "rate_bps": 250}]
    # The same group offered by another item with that item's own maximum.
    assert items["Garlic Bread"]["addon_groups"] == [{**toppings, "min_select": 0, "max_select": 3}]
    assert (items["Garlic Bread"]["variations"], items["Garlic Bread"]["taxes"]) == ([], [])
    paneer = items["Paneer Tikka"]
    assert (paneer["is_veg"], paneer["variations"], paneer["addon_groups"], paneer["taxes"]) == (None, [], [], [])


def _seq_scans(conninfo: str, name: str, params: dict[str, Any]) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        # With enable_seqscan off, a plan that still scans sequentially has no usable index.
        conn.execute("SET enable_seqscan = off")
        conn.execute("SELECT set_config('app.restaurant_id', %s, true)", (params["restaurant_id"],))
        row = conn.execute(f"EXPLAIN (FORMAT JSON) {sql(name)}", params).fetchone()  # type: ignore[arg-type]  # our named SQL
        assert row is not None

    def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
        return [plan, *(n for child in plan.get("Plans", []) for n in nodes(child))]

    return [n.get("Relation Name", "?") for n in nodes(row[0][0]["Plan"]) if n["Node Type"] == "Seq Scan"]


@pytest.mark.parametrize(("name", "params"), [
    ("list_menu_items", {}),
    ("order_menu", {"item_ids": ["00000000-0000-0000-0000-0000000000c1"]}),
])
def test_the_menu_and_order_pricing_reads_reach_every_option_table_through_an_index(app_conninfo, name, params):
    """Both are one statement per request however many options the menu has (correlated
    subqueries, no query per item), so each subquery must find its rows by index."""
    rid = "00000000-0000-0000-0000-0000000000a1"
    assert _seq_scans(app_conninfo, name, {"restaurant_id": rid, **params}) == []


# ---------------------------------------------------------------------------- Convex


@pytest.fixture
async def synced_client(settings: Settings, standin: Standin) -> AsyncIterator[httpx.AsyncClient]:
    """A second API on the same database whose post-commit pusher writes to the stand-in."""
    sync = SyncSettings.model_validate({"convex_url": standin.url, "convex_deploy_key": STANDIN_KEY,
                                        "convex_timeout_s": 2.0, "sync_batch_window_ms": 2})
    application = create_app(settings, sync)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("203.0.113.8", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabletop.test") as c:
            yield c


async def test_kitchen_screens_get_the_lines_variation_and_addons_through_convex(
        synced_client, menu, guest, standin):
    body = {"items": [menu.line(addons=("Extra cheese", "Thin")), menu.line("Paneer Tikka", variation=None,
                                                                          addons=())]}
    order = expect(await synced_client.post(menu.shop.url("/orders"), headers=guest.headers, json=body), 201)
    for _ in range(200):  # a liveness bound, not a performance claim
        if order["id"] in standin.versions("orders"):
            break
        await asyncio.sleep(0.05)
    [doc] = [d for d in standin.dump()["orders"] if d["pgId"] == order["id"]]
    assert [(i["name"], i["variationName"], [(a["name"], a["groupName"], a["price"]) for a in i["addons"]])
            for i in doc["items"]] == [
        ("Margherita", "Large", [("Extra cheese", "Toppings", 6000), ("Thin", "Crust", 0)]),
        ("Paneer Tikka", None, []),
    ]
    assert [a["pgId"] for a in doc["items"][0]["addons"]] == [menu["Extra cheese"], menu["Thin"]]
