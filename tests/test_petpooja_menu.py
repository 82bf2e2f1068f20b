"""Menu in from PetPooja: the transform of PetPooja's menu JSON into ours, the import that
upserts it by PetPooja id in one transaction (stable ids, soft-deletes, no outbox row for
what did not change), and the pull endpoint against the PetPooja stand-in.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from db.menu_import import ParsedMenu, Source, import_menu
from db.pool import Database
from sync.config import PetpoojaSettings, SyncSettings
from sync.petpooja.menu import MenuFormatError, parse_menu
from tests.conftest import (
    PETPOOJA_KEYS,
    STANDIN_KEY,
    MakeRestaurant,
    PetpoojaStandin,
    Restaurant,
    Standin,
    User,
    expect,
)

DbSql = Callable[..., list[dict[str, Any]]]
MakeMember = Callable[[Restaurant, str], Awaitable[User]]
FIXTURE = Path(__file__).with_name("fixtures") / "petpooja_menu.json"
REST_ID = "xrbx5pq8"


def fixture_menu() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


def find(entries: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    return next(e for e in entries if e[key] == value)


@pytest.fixture
def petpooja_settings(petpooja_standin: PetpoojaStandin) -> PetpoojaSettings:
    return PetpoojaSettings.model_validate({"petpooja_sandbox_url": petpooja_standin.url,
                                            "petpooja_production_url": petpooja_standin.url,
                                            "petpooja_timeout_s": 1.5})


@pytest.fixture
async def app(settings: Settings, petpooja_settings: PetpoojaSettings) -> AsyncIterator[Starlette]:
    application = create_app(settings, petpooja_settings=petpooja_settings)
    async with application.router.lifespan_context(application):
        yield application


def database(app: Starlette) -> Database:
    db: Database = app.state.services.db
    return db


async def run_import(app: Starlette, restaurant: Restaurant, raw: Any, *, source: Source = "pull") -> dict[str, Any]:
    rid = UUID(restaurant.id)
    menu = parse_menu(raw, currency=restaurant.data["currency"])
    async with database(app).tenant(rid) as conn:
        return await import_menu(conn, rid, menu, source=source, started=time.monotonic())


def imported(db_sql: DbSql, table: str, restaurant: Restaurant) -> dict[str, dict[str, Any]]:
    """The restaurant's imported rows of ``table`` by PetPooja id (soft-deleted ones included)."""
    rows = db_sql(f"SELECT * FROM {table} WHERE restaurant_id = %s AND external_id IS NOT NULL",  # noqa: S608  # fixed table names from the tests
                  (restaurant.id,))
    return {r["external_id"]: r for r in rows}


def pending_menu_items(db_sql: DbSql, restaurant: Restaurant) -> set[UUID]:
    rows = db_sql("SELECT entity_id FROM sync_log WHERE restaurant_id = %s AND entity_type = 'menu_item'"
                  " AND status = 'pending'", (restaurant.id,))
    return {r["entity_id"] for r in rows}


def settle_outbox(db_sql: DbSql) -> None:
    """As if the pusher had delivered everything queued so far."""
    db_sql("UPDATE sync_log SET status = 'synced', synced_at = now() WHERE status = 'pending'")


# ------------------------------------------------------------------------ transform


def test_realistic_menu_transforms_into_categories_items_variations_addons_and_taxes() -> None:
    menu = parse_menu(fixture_menu(), currency="INR")

    # The inactive "Summer Specials" category is left out with its item.
    assert [c.name for c in menu.categories] == ["Starters", "Pizza", "Biryani", "Beverages", "Desserts"]
    items = {i.external_id: i for i in menu.items}
    assert len(items) == 16 and "10051" not in items
    assert menu.errors == ()

    paneer = items["10001"]
    assert (paneer.name, paneer.price, paneer.is_veg, paneer.is_available) == ("Paneer Tikka", 26000, True, True)
    assert paneer.tax_external_ids == ("3196", "3197")
    assert [(g.group_external_id, g.min_select, g.max_select) for g in paneer.addon_groups] == [("13040", 0, 1)]
    assert items["10002"].is_veg is False and items["10004"].is_veg is False  # non-veg, egg
    assert items["10003"].in_stock is False and items["10003"].is_available is False  # out of stock
    assert items["10023"].is_active is False and items["10023"].is_available is False  # inactive
    assert items["10033"].tax_external_ids == ()  # packaged water carries no tax

    pizza = items["10012"]
    assert [(v.external_id, v.external_variation_id, v.name, v.price) for v in pizza.variations] == [
        ("10012101", "7001", "Regular", 29900), ("10012103", "7003", "Large", 64950)]
    # The crust group only the Large variation lists is offered on the item, optional.
    assert [(g.group_external_id, g.min_select, g.max_select) for g in pizza.addon_groups] == [
        ("13039", 0, 4), ("13042", 0, 1)]
    soda = items["10032"]
    assert [v.is_available for v in soda.variations] == [True, True, False]

    assert [(t.external_id, t.name, t.rate_bps) for t in menu.taxes] == [("3196", "CGST", 250), ("3197", "SGST", 250)]
    toppings = next(g for g in menu.addon_groups if g.external_id == "13039")
    assert [(a.name, a.price, a.is_veg, a.is_available) for a in toppings.addons] == [
        ("Extra Cheese", 4000, True, True), ("Jalapenos", 3000, True, True), ("Chicken Chunks", 6000, False, True),
        ("Black Olives", 3000, True, False)]


def test_money_follows_the_currency_digits_exactly() -> None:
    raw = fixture_menu()
    find(raw["items"], "itemid", "10001")["price"] = "12.345"
    assert next(i for i in parse_menu(raw, currency="KWD").items if i.external_id == "10001").price == 12345
    with pytest.raises(MenuFormatError) as err:
        parse_menu(raw, currency="INR")
    assert err.value.errors == ["item 10001 Paneer Tikka: price '12.345' has more decimals than INR has"]


def test_bad_numbers_and_broken_structure_are_refused_with_every_problem_listed() -> None:
    raw = fixture_menu()
    find(raw["items"], "itemid", "10001")["price"] = "12,50"
    find(raw["items"], "itemid", "10002")["price"] = 320.0  # a float: exactness already lost
    find(raw["items"], "itemid", "10003")["price"] = "-1"
    find(raw["taxes"], "taxid", "3196")["tax"] = "two"
    raw["items"].append(copy.deepcopy(raw["items"][0]))
    with pytest.raises(MenuFormatError) as err:
        parse_menu(raw, currency="INR")
    assert err.value.errors == [
        "tax 3196: tax 'two' is not a number",
        "item 10001 appears twice",
        "item 10001 Paneer Tikka: price '12,50' is not a number",
        "item 10002 Chicken Tikka: price 320.0 is not a price string",
        "item 10003 Veg Spring Roll: price '-1' is not a price",
        "item 10001 Paneer Tikka: price '12,50' is not a number",
    ]
    for broken, problem in (([], "the menu is not a JSON object"), ({"items": []}, "categories is missing"),
                            ({"categories": {}, "items": []}, "categories is not a list"),
                            ({"success": "0", "message": "Invalid restID"}, "PetPooja answered success=0: Invalid restID"),
                            ({"categories": [], "items": []},
                             "the menu has no importable items; refusing to empty the whole menu")):
        with pytest.raises(MenuFormatError) as err:
            parse_menu(broken, currency="INR")
        assert problem in err.value.errors


def test_parts_that_point_nowhere_are_left_out_and_named() -> None:
    raw = fixture_menu()
    find(raw["items"], "itemid", "10041")["item_categoryid"] = "999"
    find(raw["items"], "itemid", "10001")["addon"].append(
        {"addon_group_id": "404", "addon_item_selection_min": "0", "addon_item_selection_max": "1"})
    find(raw["items"], "itemid", "10031")["item_tax"] = "3196,3197,777"
    find(raw["items"], "itemid", "10022")["addon"][0]["addon_item_selection_min"] = "3"  # max 1 < min 3
    menu = parse_menu(raw, currency="INR")
    assert "10041" not in {i.external_id for i in menu.items}
    assert list(menu.errors) == [
        "item 10001 Paneer Tikka: unknown addon group 404 left out",
        "item 10022 Veg Biryani: addon group 13041 asks for 3 to 1 choices; left out",
        "item 10031 Masala Chaas: unknown tax 777 left out",
        "item 10041 Gulab Jamun: unknown category '999'; item left out",
    ]
    chaas = next(i for i in menu.items if i.external_id == "10031")
    assert chaas.tax_external_ids == ("3196", "3197")


def test_flags_limits_and_duplicate_category_names() -> None:
    raw = fixture_menu()
    biryani = find(raw["items"], "itemid", "10021")
    biryani["in_stock"] = 0
    biryani["addon"][0]["addon_item_selection_max"] = "0"  # no limit: every addon of the group
    find(raw["categories"], "categoryid", "500776")["categoryname"] = "starters"  # clashes with Starters
    menu = parse_menu(raw, currency="INR")
    item = next(i for i in menu.items if i.external_id == "10021")
    assert item.in_stock is False
    assert [(g.min_select, g.max_select) for g in item.addon_groups] == [(0, 2)]
    assert [c.name for c in menu.categories if c.external_id in ("500773", "500776")] == [
        "Starters (Food)", "starters (Drinks)"]


def test_item_ordertype_becomes_the_order_types_an_item_is_offered_for() -> None:
    """PetPooja's codes (1 delivery, 2 pick up, 3 dine in, as its ordertypes list says) in our words and order;
    not said: every type; codes PetPooja lists under a name we do not take are dropped, unknown ones noted."""
    raw = fixture_menu()
    for itemid, listed in (("10001", "1,2"), ("10002", "3"), ("10004", ""), ("10011", " 2 , 3 ,"),
                           ("10013", "1,9")):
        find(raw["items"], "itemid", itemid)["item_ordertype"] = listed
    items = {i.external_id: i for i in parse_menu(raw, currency="INR").items}
    assert items["10001"].order_types == ("takeaway", "delivery")
    assert items["10002"].order_types == ("dine_in",)
    assert items["10004"].order_types == items["10012"].order_types == ("dine_in", "takeaway", "delivery")
    assert items["10011"].order_types == ("dine_in", "takeaway")
    assert items["10013"].order_types == ("delivery",)
    assert "item 10013 Farmhouse Pizza: unknown order type 9 ignored" in parse_menu(raw, currency="INR").errors

    # A menu whose ordertypes list numbers them otherwise is read by name; one we do not take is dropped.
    raw["ordertypes"] = [{"ordertypeid": 7, "ordertype": "Dine In"}, {"ordertypeid": 8, "ordertype": "Catering"}]
    find(raw["items"], "itemid", "10001")["item_ordertype"] = "7,8"
    assert next(i for i in parse_menu(raw, currency="INR").items if i.external_id == "10001").order_types == (
        "dine_in",)
    find(raw["items"], "itemid", "10001")["item_ordertype"] = "1;2"
    with pytest.raises(MenuFormatError) as err:
        parse_menu(raw, currency="INR")
    assert err.value.errors == ["item 10001 Paneer Tikka: item_ordertype '1;2' is not a list of order type codes"]


def test_text_loses_control_characters_keeps_printable_unicode_and_ids_or_nul_refuse_the_menu() -> None:
    """Names and descriptions keep every printable character (Devanagari, emoji, Arabic with its direction mark)
    and their line breaks, and lose escape sequences, bells and C1 controls; an id holding a control character,
    or a NUL anywhere (even in a field we do not read), makes the menu unreadable rather than a failed write."""
    raw = fixture_menu()
    paneer = find(raw["items"], "itemid", "10001")
    paneer["itemname"] = "\x1b[1mपनीर टिक्का 🧀\x07"
    paneer["itemdescription"] = "Smoky\u0085\r\nشاورما\u200f\tspicy"
    find(raw["categories"], "categoryid", "500773")["categoryname"] = "Starters\x7f"
    menu = parse_menu(raw, currency="INR")
    item = next(i for i in menu.items if i.external_id == "10001")
    assert (item.name, item.description) == ("[1mपनीर टिक्का 🧀", "Smoky\r\nشاورما\u200f\tspicy")
    assert next(c.name for c in menu.categories if c.external_id == "500773") == "Starters"

    for where, edit in (
        ("itemid '10001\\x01'", lambda m: find(m["items"], "itemid", "10001").update(itemid="10001\x01")),
        ("items[0].item_image_url", lambda m: m["items"][0].update(item_image_url="x\u0000")),
        ("taxes[0].taxname", lambda m: m["taxes"][0].update(taxname="\ud800")),
    ):
        broken = fixture_menu()
        edit(broken)
        with pytest.raises(MenuFormatError) as err:
            parse_menu(broken, currency="INR")
        assert any(where in e for e in err.value.errors), err.value.errors
        assert all("\x00" not in e and "\ud800" not in e for e in err.value.errors)


def test_parse_menu_is_pure_and_leaves_its_input_alone() -> None:
    raw = fixture_menu()
    before = json.dumps(raw, sort_keys=True)
    assert parse_menu(raw, currency="INR") == parse_menu(raw, currency="INR")
    assert json.dumps(raw, sort_keys=True) == before
    assert isinstance(parse_menu(raw, currency="INR"), ParsedMenu)


# --------------------------------------------------------------------------- import


async def test_import_creates_the_whole_menu_and_records_the_sync(
    app: Starlette, make_restaurant: MakeRestaurant, db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()
    result = await run_import(app, restaurant, fixture_menu())

    assert result["status"] == "ok" and result["source"] == "pull" and result["errors"] == []
    assert result["counts"] == {
        "taxes": {"created": 2, "updated": 0, "deleted": 0},
        "addon_groups": {"created": 4, "updated": 0, "deleted": 0},
        "addons": {"created": 10, "updated": 0, "deleted": 0},
        "categories": {"created": 5, "updated": 0, "deleted": 0, "adopted": 0},
        "items": {"created": 16, "updated": 0, "deleted": 0},
        "variations": {"created": 10, "updated": 0, "deleted": 0},
        "item_taxes": {"created": 30, "updated": 0, "deleted": 0},
        "item_addon_groups": {"created": 9, "updated": 0, "deleted": 0},
    }
    items = imported(db_sql, "menu_items", restaurant)
    assert set(result["changed_item_ids"]) == {i["id"] for i in items.values()}
    categories = imported(db_sql, "menu_categories", restaurant)
    pizza = items["10012"]
    assert (pizza["name"], pizza["price"], pizza["is_veg"], pizza["is_available"], pizza["rank"]) == (
        "Chicken Tikka Pizza", 29900, False, True, 2)
    assert pizza["category_id"] == categories["500774"]["id"]
    assert items["10003"]["is_available"] is False and items["10023"]["is_available"] is False
    assert items["10021"]["is_veg"] is False and items["10042"]["is_veg"] is False and items["10001"]["is_veg"]

    variations = imported(db_sql, "menu_variations", restaurant)
    assert {(v["external_id"], v["external_variation_id"], v["name"], v["price"]) for v in variations.values()
            if v["item_id"] == pizza["id"]} == {("10012101", "7001", "Regular", 29900),
                                                ("10012103", "7003", "Large", 64950)}
    links = db_sql("SELECT g.external_id, l.min_select, l.max_select FROM menu_item_addon_groups l"
                   " JOIN menu_addon_groups g ON g.restaurant_id = l.restaurant_id AND g.id = l.group_id"
                   " WHERE l.restaurant_id = %s AND l.item_id = %s ORDER BY l.rank", (restaurant.id, pizza["id"]))
    assert [(x["external_id"], x["min_select"], x["max_select"]) for x in links] == [("13039", 0, 4), ("13042", 0, 1)]
    taxes = db_sql("SELECT t.name, t.rate_bps FROM menu_item_taxes x JOIN menu_taxes t"
                   " ON t.restaurant_id = x.restaurant_id AND t.id = x.tax_id WHERE x.item_id = %s ORDER BY t.name",
                   (pizza["id"],))
    assert [(t["name"], t["rate_bps"]) for t in taxes] == [("CGST", 250), ("SGST", 250)]
    assert db_sql("SELECT count(*) AS n FROM menu_item_taxes WHERE restaurant_id = %s", (restaurant.id,))[0]["n"] == 30
    # Every new item is queued for Convex; the items made by hand are untouched and still live.
    assert {i["id"] for i in items.values()} <= pending_menu_items(db_sql, restaurant)
    manual = db_sql("SELECT name FROM menu_items WHERE restaurant_id = %s AND external_id IS NULL"
                    " AND deleted_at IS NULL ORDER BY name", (restaurant.id,))
    assert [m["name"] for m in manual] == ["Dal Makhani", "Paneer Tikka", "Seasonal Special"]
    syncs = db_sql("SELECT source, status, counts, duration_ms FROM menu_syncs WHERE restaurant_id = %s",
                   (restaurant.id,))
    assert len(syncs) == 1 and syncs[0]["counts"] == result["counts"] and syncs[0]["duration_ms"] >= 0


async def test_reimporting_the_same_menu_changes_nothing_and_queues_nothing(
    app: Starlette, make_restaurant: MakeRestaurant, db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()
    await run_import(app, restaurant, fixture_menu())
    before = {t: imported(db_sql, t, restaurant) for t in
              ("menu_items", "menu_variations", "menu_categories", "menu_addons", "menu_addon_groups", "menu_taxes")}
    settle_outbox(db_sql)

    result = await run_import(app, restaurant, fixture_menu(), source="push")

    assert result["changed_item_ids"] == []
    assert all(c["created"] == c["updated"] == c["deleted"] == 0 for c in result["counts"].values())
    for table, rows in before.items():
        assert imported(db_sql, table, restaurant) == rows, table  # same ids, versions, updated_at
    assert pending_menu_items(db_sql, restaurant) == set()


async def test_second_import_updates_soft_deletes_and_revives_with_stable_ids(
    app: Starlette, make_restaurant: MakeRestaurant, db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()
    await run_import(app, restaurant, fixture_menu())
    first = imported(db_sql, "menu_items", restaurant)
    first_variations = imported(db_sql, "menu_variations", restaurant)
    settle_outbox(db_sql)

    raw = fixture_menu()
    raw["items"] = [i for i in raw["items"] if i["itemid"] != "10043"]  # Malai Kulfi is gone
    find(raw["items"], "itemid", "10001")["price"] = "275.00"
    margherita = find(raw["items"], "itemid", "10011")
    margherita["variation"] = [v for v in margherita["variation"] if v["id"] != "10011102"]  # no Medium
    find(raw["addongroups"], "addongroupid", "13041")["addongroupitems"].pop()  # no Salan
    result = await run_import(app, restaurant, raw)

    assert result["counts"]["items"] == {"created": 0, "updated": 1, "deleted": 1}
    assert result["counts"]["variations"] == {"created": 0, "updated": 0, "deleted": 1}
    assert result["counts"]["addons"] == {"created": 0, "updated": 0, "deleted": 1}
    second = imported(db_sql, "menu_items", restaurant)
    assert {k: v["id"] for k, v in second.items()} == {k: v["id"] for k, v in first.items()}
    assert second["10001"]["price"] == 27500 and second["10001"]["version"] == first["10001"]["version"] + 1
    assert second["10043"]["deleted_at"] is not None
    assert imported(db_sql, "menu_variations", restaurant)["10011102"]["deleted_at"] is not None
    assert imported(db_sql, "menu_addons", restaurant)["72311"]["deleted_at"] is not None
    changed = {first["10001"]["id"], first["10043"]["id"]}
    assert set(result["changed_item_ids"]) == changed
    assert pending_menu_items(db_sql, restaurant) == changed  # outbox rows only for the changed items
    untouched = [k for k in first if k not in ("10001", "10043")]
    assert all(second[k]["version"] == first[k]["version"] for k in untouched)

    settle_outbox(db_sql)
    result = await run_import(app, restaurant, fixture_menu())  # everything back
    assert result["counts"]["items"] == {"created": 0, "updated": 2, "deleted": 0}
    assert result["counts"]["variations"] == {"created": 0, "updated": 1, "deleted": 0}
    third = imported(db_sql, "menu_items", restaurant)
    assert third["10043"]["deleted_at"] is None and third["10043"]["id"] == first["10043"]["id"]
    revived = imported(db_sql, "menu_variations", restaurant)["10011102"]
    assert revived["deleted_at"] is None and revived["id"] == first_variations["10011102"]["id"]
    assert pending_menu_items(db_sql, restaurant) == changed


async def test_links_taxes_groups_and_categories_follow_the_menu(
    app: Starlette, make_restaurant: MakeRestaurant, db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()
    await run_import(app, restaurant, fixture_menu())
    raw = fixture_menu()
    raw["taxes"] = [t for t in raw["taxes"] if t["taxid"] != "3197"]  # SGST gone
    raw["addongroups"] = [g for g in raw["addongroups"] if g["addongroupid"] != "13042"]  # no crust upgrade
    raw["categories"] = [c for c in raw["categories"] if c["categoryid"] != "500777"]  # no desserts ...
    raw["items"] = [i for i in raw["items"] if i["item_categoryid"] != "500777"]  # ... nor their items
    find(raw["categories"], "categoryid", "500776")["categoryname"] = "Drinks"
    find(raw["items"], "itemid", "10002")["addon"][0]["addon_item_selection_max"] = "3"
    result = await run_import(app, restaurant, raw)

    assert result["counts"]["taxes"]["deleted"] == 1 and result["counts"]["addon_groups"]["deleted"] == 1
    assert result["counts"]["categories"] == {"created": 0, "updated": 1, "deleted": 1, "adopted": 0}
    items = imported(db_sql, "menu_items", restaurant)
    # The renamed category's items are re-pushed (Convex copies the category name).
    drinks = {items[k]["id"] for k in ("10031", "10032", "10033")}
    assert drinks <= set(result["changed_item_ids"])
    links = db_sql("SELECT count(*) AS n FROM menu_item_taxes WHERE restaurant_id = %s", (restaurant.id,))
    assert links[0]["n"] == 12  # 12 taxed items left, CGST only
    # Link changes count too (a repeated push is a replay only when nothing at all changed).
    assert result["counts"]["item_taxes"] == {"created": 0, "updated": 0, "deleted": 18}
    assert result["counts"]["item_addon_groups"]["updated"] == 1
    groups = db_sql("SELECT i.external_id AS item, g.external_id AS grp, l.max_select FROM menu_item_addon_groups l"
                    " JOIN menu_items i ON i.restaurant_id = l.restaurant_id AND i.id = l.item_id"
                    " JOIN menu_addon_groups g ON g.restaurant_id = l.restaurant_id AND g.id = l.group_id"
                    " WHERE l.restaurant_id = %s", (restaurant.id,))
    assert "13042" not in {g["grp"] for g in groups}
    assert find(groups, "item", "10002")["max_select"] == 3
    assert imported(db_sql, "menu_categories", restaurant)["500777"]["deleted_at"] is not None


async def test_a_category_made_here_with_a_petpooja_name_is_adopted(
    app: Starlette, client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()
    made = expect(await client.post(restaurant.url("/menu/categories"), headers=restaurant.owner.headers,
                                    json={"name": "PIZZA", "rank": 9}), 201)
    result = await run_import(app, restaurant, fixture_menu())

    assert result["counts"]["categories"] == {"created": 4, "updated": 1, "deleted": 0, "adopted": 1}
    pizza = imported(db_sql, "menu_categories", restaurant)["500774"]
    assert (str(pizza["id"]), pizza["name"], pizza["rank"]) == (made["id"], "Pizza", 2)
    # The hand-made "Mains" category and its items stay as they were.
    assert db_sql("SELECT name FROM menu_categories WHERE restaurant_id = %s AND external_id IS NULL"
                  " AND deleted_at IS NULL", (restaurant.id,)) == [{"name": "Mains"}]


async def test_a_rename_onto_a_name_another_category_holds_keeps_the_old_name(
    app: Starlette, make_restaurant: MakeRestaurant, db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()  # holds the hand-made "Mains"
    await run_import(app, restaurant, fixture_menu())
    raw = fixture_menu()
    find(raw["categories"], "categoryid", "500775")["categoryname"] = "MAINS"
    find(raw["categories"], "categoryid", "500774")["categoryrank"] = "7"
    result = await run_import(app, restaurant, raw)

    assert result["errors"] == ["category 500775: the name 'MAINS' belongs to another category; kept 'Biryani'"]
    categories = imported(db_sql, "menu_categories", restaurant)
    assert categories["500775"]["name"] == "Biryani" and categories["500774"]["rank"] == 7
    assert result["counts"]["categories"] == {"created": 0, "updated": 1, "deleted": 0, "adopted": 0}


async def test_a_pull_racing_a_push_ends_as_one_of_the_two_menus(
    app: Starlette, make_restaurant: MakeRestaurant, db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()
    # Two menus sharing no PetPooja id, so no unique index makes one wait for the other: only
    # the import lock keeps each from missing the other's rows when it soft-deletes.
    pizzas, rest = fixture_menu(), fixture_menu()
    pizzas["categories"] = [c for c in pizzas["categories"] if c["categoryid"] == "500774"]
    pizzas["items"] = [i for i in pizzas["items"] if i["item_categoryid"] == "500774"]
    rest["categories"] = [c for c in rest["categories"] if c["categoryid"] != "500774"]
    rest["items"] = [i for i in rest["items"] if i["item_categoryid"] != "500774"]
    for menu in (pizzas, rest):
        for item in menu["items"]:
            item["addon"], item["item_tax"] = [], ""
            for variation in item["variation"]:
                variation["addon"] = []
    del rest["taxes"], rest["addongroups"]
    pizzas["taxes"] = pizzas["addongroups"] = []

    results = await asyncio.gather(run_import(app, restaurant, pizzas),
                                   run_import(app, restaurant, rest, source="push"))

    live = {k for k, v in imported(db_sql, "menu_items", restaurant).items() if v["deleted_at"] is None}
    assert live in ({i["itemid"] for i in pizzas["items"]}, {i["itemid"] for i in rest["items"]} - {"10051"})
    assert all(r["status"] == "ok" for r in results)


async def test_a_thousand_item_menu_imports_whole_and_a_one_price_change_updates_one_item(
    app: Starlette, make_restaurant: MakeRestaurant, capsys: pytest.CaptureFixture[str],
) -> None:
    restaurant = await make_restaurant()
    rid = UUID(restaurant.id)
    raw = big_menu(1000)

    async def timed_import() -> tuple[dict[str, Any], float, float]:
        started = time.perf_counter()
        menu = parse_menu(raw, currency="INR")
        parsed = time.perf_counter()
        async with database(app).tenant(rid) as conn:
            result = await import_menu(conn, rid, menu, source="pull", started=time.monotonic())
        return result, parsed - started, time.perf_counter() - parsed

    result, parse_first, first = await timed_import()
    assert result["counts"]["items"]["created"] == 1000
    assert result["counts"]["variations"]["created"] == 2000
    raw["items"][0]["price"] = "1.00"
    result, parse_again, again = await timed_import()
    assert result["counts"]["items"] == {"created": 0, "updated": 1, "deleted": 0}
    with capsys.disabled():
        print(f"\n1,000 items, 2,000 variations, 150 addons, 3,000 addon links, 2,000 tax links: "
              f"parse {parse_first * 1000:.0f} ms + first import {first * 1000:.0f} ms (commit included); "
              f"parse {parse_again * 1000:.0f} ms + re-import with one change {again * 1000:.0f} ms")
    # Timings are printed for the curious, never judged here: bench/ measures speed.


def big_menu(n: int) -> dict[str, Any]:
    raw = fixture_menu()
    template = find(raw["items"], "itemid", "10012")
    raw["categories"] = [{"categoryid": f"c{c}", "categoryname": f"Category {c}", "categoryrank": str(c),
                          "active": "1", "parent_category_id": "0"} for c in range(20)]
    raw["addongroups"] = [{"addongroupid": f"g{g}", "addongroup_name": f"Group {g}", "active": "1",
                           "addongroup_rank": str(g),
                           "addongroupitems": [{"addonitemid": f"g{g}a{a}", "addonitem_name": f"Addon {g}.{a}",
                                                "addonitem_price": "15.00", "active": "1", "attributes": "1",
                                                "addonitem_rank": str(a)} for a in range(5)]}
                          for g in range(30)]
    items = []
    for k in range(n):
        item = copy.deepcopy(template)
        item.update(itemid=f"i{k}", itemname=f"Dish {k}", item_categoryid=f"c{k % 20}", price=f"{100 + k}.50")
        item["variation"] = [dict(v, id=f"i{k}v{j}", addon=[]) for j, v in enumerate(item["variation"])]
        item["addon"] = [{"addon_group_id": f"g{(k + j) % 30}", "addon_item_selection_min": "0",
                          "addon_item_selection_max": "2"} for j in range(3)]
        items.append(item)
    raw["items"] = items
    return raw


# ------------------------------------------------------------------------- endpoint


async def connect(client: httpx.AsyncClient, restaurant: Restaurant, standin: PetpoojaStandin,
                  menu: dict[str, Any] | None = None) -> None:
    standin.register(REST_ID, menu=fixture_menu() if menu is None else menu)
    expect(await client.put(restaurant.url("/integrations/petpooja"), headers=restaurant.owner.headers,
                            json={"rest_id": REST_ID, "environment": "sandbox", **PETPOOJA_KEYS}), 200)


def nothing_imported(db_sql: DbSql, restaurant: Restaurant) -> bool:
    return all(not imported(db_sql, t, restaurant) for t in (
        "menu_items", "menu_categories", "menu_variations", "menu_addon_groups", "menu_addons", "menu_taxes"))


async def test_pull_imports_the_outlets_menu_and_lists_the_sync(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: MakeMember,
    petpooja_standin: PetpoojaStandin, db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()
    await connect(client, restaurant, petpooja_standin)
    manager = await make_member(restaurant, "manager")

    body = expect(await client.post(restaurant.url("/menu/sync"), headers=manager.headers), 200)

    assert body["status"] == "ok" and body["source"] == "pull" and body["errors"] == []
    assert body["counts"]["items"] == {"created": 16, "updated": 0, "deleted": 0}
    assert body["counts"]["variations"]["created"] == 10 and body["counts"]["addons"]["created"] == 10
    assert isinstance(body["id"], int) and body["duration_ms"] >= 0
    assert len(imported(db_sql, "menu_items", restaurant)) == 16
    assert petpooja_standin.stats()["calls"]["mapped_restaurant_menus"] == 1

    again = expect(await client.post(restaurant.url("/menu/sync"), headers=restaurant.owner.headers), 200)
    assert again["counts"]["items"] == {"created": 0, "updated": 0, "deleted": 0}
    syncs = expect(await client.get(restaurant.url("/menu/syncs"), headers=manager.headers), 200)["syncs"]
    assert [s["id"] for s in syncs] == [again["id"], body["id"]]
    assert syncs[1]["counts"] == body["counts"]


async def test_pull_without_a_connected_outlet_is_409_and_records_nothing(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()
    problem = expect(await client.post(restaurant.url("/menu/sync"), headers=restaurant.owner.headers), 409)
    assert problem["code"] == "petpooja_not_connected"
    assert db_sql("SELECT * FROM menu_syncs WHERE restaurant_id = %s", (restaurant.id,)) == []


@pytest.mark.parametrize("fault", ["hang", "drop", "http500", "reject", "wrong_keys"])
async def test_petpooja_unreachable_or_refusing_is_502_recorded_as_a_failed_sync(
    fault: str, client: httpx.AsyncClient, make_restaurant: MakeRestaurant, petpooja_standin: PetpoojaStandin,
    db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()
    await connect(client, restaurant, petpooja_standin)
    if fault == "wrong_keys":
        petpooja_standin.register(REST_ID, app_key="another-key")
    else:
        petpooja_standin.fault(fault)

    problem = expect(await client.post(restaurant.url("/menu/sync"), headers=restaurant.owner.headers), 502)

    assert problem["code"] == "petpooja_unavailable"
    syncs = db_sql("SELECT id, source, status, counts, errors FROM menu_syncs WHERE restaurant_id = %s",
                   (restaurant.id,))
    assert len(syncs) == 1 and syncs[0]["id"] == problem["sync_id"]
    assert (syncs[0]["source"], syncs[0]["status"], syncs[0]["counts"]) == ("pull", "failed", {})
    assert len(syncs[0]["errors"]) == 1 and "PetPooja" in syncs[0]["errors"][0]
    assert nothing_imported(db_sql, restaurant)
    assert pending_menu_items(db_sql, restaurant) == {UUID(i["id"]) for i in restaurant.items.values()}
    assert "test-app-secret" not in str(problem) + str(syncs)


async def test_a_menu_that_cannot_be_read_is_502_with_its_problems_and_imports_nothing(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, petpooja_standin: PetpoojaStandin,
    db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()
    menu = fixture_menu()
    find(menu["items"], "itemid", "10001")["price"] = "two hundred"
    del menu["categories"]
    await connect(client, restaurant, petpooja_standin, menu)

    problem = expect(await client.post(restaurant.url("/menu/sync"), headers=restaurant.owner.headers), 502)

    assert problem["code"] == "petpooja_menu_invalid"
    assert [e["detail"] for e in problem["errors"]] == [
        "categories is missing", "item 10001 Paneer Tikka: price 'two hundred' is not a number"]
    failed = db_sql("SELECT status, errors FROM menu_syncs WHERE restaurant_id = %s", (restaurant.id,))
    assert failed == [{"status": "failed", "errors": [e["detail"] for e in problem["errors"]]}]
    assert nothing_imported(db_sql, restaurant)


@pytest.mark.parametrize("where", ["item name", "refusal message"])
async def test_a_pulled_menu_or_refusal_with_a_nul_is_502_with_a_failed_sync_never_500(
    where: str, client: httpx.AsyncClient, make_restaurant: MakeRestaurant, petpooja_standin: PetpoojaStandin,
    db_sql: DbSql,
) -> None:
    """PostgreSQL stores no NUL: a pulled menu holding one is unreadable (502 petpooja_menu_invalid) and PetPooja's
    refusal message holding one is recorded escaped (502 petpooja_unavailable); a failed sync either way."""
    restaurant = await make_restaurant()
    menu = fixture_menu()
    if where == "item name":
        find(menu["items"], "itemid", "10001")["itemname"] = "Paneer\u0000Tikka"
    else:
        menu = {"success": "0", "message": "Invalid\u0000restID"}
    await connect(client, restaurant, petpooja_standin, menu)

    problem = expect(await client.post(restaurant.url("/menu/sync"), headers=restaurant.owner.headers), 502)

    assert problem["code"] == ("petpooja_menu_invalid" if where == "item name" else "petpooja_unavailable")
    failed = db_sql("SELECT status, errors FROM menu_syncs WHERE restaurant_id = %s", (restaurant.id,))
    assert [f["status"] for f in failed] == ["failed"]
    assert "\\x00" in failed[0]["errors"][0] or "NUL" in failed[0]["errors"][0]
    assert nothing_imported(db_sql, restaurant)


async def test_only_owners_and_managers_of_this_restaurant_may_sync_or_read_syncs(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: MakeMember,
    petpooja_standin: PetpoojaStandin, db_sql: DbSql,
) -> None:
    restaurant = await make_restaurant()
    other = await make_restaurant()
    await connect(client, restaurant, petpooja_standin)
    staff = await make_member(restaurant, "staff")
    for method, path in (("POST", "/menu/sync"), ("GET", "/menu/syncs")):
        assert expect(await client.request(method, restaurant.url(path), headers=staff.headers), 403)["code"] == (
            "forbidden")
        assert expect(await client.request(method, restaurant.url(path), headers=other.owner.headers), 404)[
            "code"] == "not_found"
    assert petpooja_standin.stats()["calls"]["mapped_restaurant_menus"] == 0
    assert db_sql("SELECT * FROM menu_syncs") == []


async def test_pulled_items_reach_convex_after_commit(
    settings: Settings, petpooja_settings: PetpoojaSettings, standin: Standin, petpooja_standin: PetpoojaStandin,
    make_restaurant: MakeRestaurant, db_sql: DbSql,
) -> None:
    sync_settings = SyncSettings.model_validate({
        "convex_url": standin.url, "convex_deploy_key": STANDIN_KEY, "convex_timeout_s": 2.0,
        "sync_batch_window_ms": 2, "sync_grace_s": 0})
    synced = create_app(settings, sync_settings, petpooja_settings)
    async with synced.router.lifespan_context(synced), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=synced), base_url="http://tabletop.test") as client:
        restaurant = await make_restaurant()
        await connect(client, restaurant, petpooja_standin)
        expect(await client.post(restaurant.url("/menu/sync"), headers=restaurant.owner.headers), 200)
        menu = fixture_menu()
        find(menu["items"], "itemid", "10001")["price"] = "275.00"
        petpooja_standin.register(REST_ID, menu=menu)
        expect(await client.post(restaurant.url("/menu/sync"), headers=restaurant.owner.headers), 200)

        items = imported(db_sql, "menu_items", restaurant)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            docs = {d["pgId"]: d for d in standin.dump()["menuItems"]}
            if all(str(i["id"]) in docs and int(docs[str(i["id"])]["version"]) == i["version"]
                   for i in items.values()):
                break
            await asyncio.sleep(0.05)
        assert {str(i["id"]) for i in items.values()} <= set(docs), "the imported items never reached Convex"
        paneer = docs[str(items["10001"]["id"])]
        assert (paneer["name"], paneer["price"], paneer["categoryName"]) == ("Paneer Tikka", 27500, "Starters")
        assert int(paneer["version"]) == items["10001"]["version"] == 2
