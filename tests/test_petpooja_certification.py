"""PetPooja's five sandbox certification cases, end to end through our code: orders placed
through the API on a menu with PetPooja's ids, options and taxes, pushed by the outbox target
to the PetPooja stand-in, which validates them the way the sandbox does (required fields,
string values, final_price = price x quantity - item_discount, total = items - discount + tax
+ charges).

1. items + tax          2. + addons          3. + variation
4. + discount           5. addon + variation + tax

Each case checks that the stand-in accepted the order, that the amounts add up the way
PetPooja adds them, and the exact amounts we expect for it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from db.pricing import tax_on
from tests import test_petpooja_push as push
from tests.conftest import MakeRestaurant, PetpoojaStandin, Restaurant, expect
from tests.test_petpooja_menu import fixture_menu, run_import
from tests.test_petpooja_push import DbSql, MakeTarget, OpenGuest, connect, place, tracked

# The push tests' fixtures: a system-scope database and targets aimed at the stand-in.
make_target = push.make_target


def menu(db_sql: DbSql, r: Restaurant) -> dict[str, Any]:
    """PetPooja's sample menu, as an import would leave it: items with PetPooja ids, CGST and SGST
    at 2.5 % on all but the Dal (tax-free in PetPooja: no item_tax), Garlic Bread in two sizes, a burger
    with toppings, a pizza with sizes, toppings and taxes."""
    ids: dict[str, Any] = {}

    def one(query: str, *params: Any) -> Any:
        return db_sql(query, params)[0]["id"]

    db_sql("UPDATE menu_items SET external_id = %s WHERE id = %s", ("10001", r.items["Paneer Tikka"]["id"]))
    db_sql("UPDATE menu_items SET external_id = %s WHERE id = %s", ("10002", r.items["Dal Makhani"]["id"]))
    cgst = one("INSERT INTO menu_taxes (restaurant_id, external_id, name, rate_bps) VALUES (%s, '11213', 'CGST', 250)"
               " RETURNING id", r.id)
    sgst = one("INSERT INTO menu_taxes (restaurant_id, external_id, name, rate_bps) VALUES (%s, '20375', 'SGST', 250)"
               " RETURNING id", r.id)

    def item(name: str, price: int, external_id: str, *, taxed: bool = False) -> Any:
        item_id = one("INSERT INTO menu_items (restaurant_id, category_id, name, price, external_id)"
                      " VALUES (%s, %s, %s, %s, %s) RETURNING id", r.id, r.category_id, name, price, external_id)
        if taxed:
            for tax in (cgst, sgst):
                db_sql("INSERT INTO menu_item_taxes (restaurant_id, item_id, tax_id) VALUES (%s, %s, %s)",
                       (r.id, item_id, tax))
        ids[name] = item_id
        return item_id

    def variation(item_id: Any, name: str, price: int, external_id: str, kind: str) -> Any:
        return one("INSERT INTO menu_variations (restaurant_id, item_id, name, price, external_id,"
                   " external_variation_id) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                   r.id, item_id, name, price, external_id, kind)

    for tax in (cgst, sgst):
        db_sql("INSERT INTO menu_item_taxes (restaurant_id, item_id, tax_id) VALUES (%s, %s, %s)",
               (r.id, r.items["Paneer Tikka"]["id"], tax))
    toppings = one("INSERT INTO menu_addon_groups (restaurant_id, name, external_id) VALUES (%s, 'Extra Toppings',"
                   " '135707') RETURNING id", r.id)
    ids["Cheese"] = one("INSERT INTO menu_addons (restaurant_id, group_id, name, price, external_id)"
                        " VALUES (%s, %s, 'Cheese', 3000, '1150813') RETURNING id", r.id, toppings)
    ids["Jalapenos"] = one("INSERT INTO menu_addons (restaurant_id, group_id, name, price, external_id)"
                           " VALUES (%s, %s, 'Jalapenos', 2000, '1150814') RETURNING id", r.id, toppings)

    burger = item("Veg Burger", 15000, "118829149", taxed=True)
    bread = item("Garlic Bread", 14000, "7765809", taxed=True)
    ids["3Pieces"] = variation(bread, "3Pieces", 14000, "7765862", "89058")
    ids["6Pieces"] = variation(bread, "6Pieces", 16000, "7765097", "89059")
    pizza = item("Farmhouse Pizza", 30000, "118807411", taxed=True)
    ids["Regular"] = variation(pizza, "Regular", 30000, "7766001", "89060")
    ids["Large"] = variation(pizza, "Large", 45000, "7766002", "89061")
    for item_id in (burger, pizza):
        db_sql("INSERT INTO menu_item_addon_groups (restaurant_id, item_id, group_id, min_select, max_select)"
               " VALUES (%s, %s, %s, 0, 2)", (r.id, item_id, toppings))
    return ids


def adds_up(body: dict[str, Any]) -> dict[str, Any]:
    """PetPooja's arithmetic on an accepted body; returns the Order details."""
    info = body["orderinfo"]["OrderInfo"]
    order, items = info["Order"]["details"], info["OrderItem"]["details"]
    for item in items:
        price, quantity = Decimal(item["price"]), Decimal(item["quantity"])
        assert Decimal(item["final_price"]) == price * quantity - Decimal(item["item_discount"] or 0)
        addons = sum((Decimal(a["price"]) for a in item["AddonItem"]["details"]), Decimal(0))
        assert price >= addons
    items_total = sum(Decimal(i["final_price"]) for i in items)
    charges = sum(Decimal(order[k]) for k in ("service_charge", "delivery_charges", "packing_charges"))
    assert items_total - Decimal(order["discount_total"]) + Decimal(order["tax_total"]) + charges == Decimal(
        order["total"])
    assert sum(Decimal(t["tax"]) for t in info["Tax"]["details"]) == Decimal(order["tax_total"])
    assert sum(Decimal(d["price"]) for d in info["Discount"]["details"]) == Decimal(order["discount_total"])
    item_taxes = sum(Decimal(t["amount"]) for i in items for t in i["item_tax"])
    percent_taxes = sum(Decimal(t["tax"]) for t in info["Tax"]["details"] if t["type"] == "P")
    assert item_taxes == percent_taxes
    return dict(order)


def line(item_id: Any, quantity: int, variation: Any = None, *addons: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"menu_item_id": str(item_id), "quantity": quantity}
    if variation is not None:
        body["variation_id"] = str(variation)
    if addons:
        body["addon_ids"] = [str(a) for a in addons]
    return body


@pytest.mark.parametrize("case", ["items_tax", "addons", "variation", "discount", "addon_variation_tax"])
async def test_certification_case_is_accepted_by_petpooja_with_totals_that_add_up(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql, case: str,
) -> None:
    r = await make_restaurant(tax_rate_bps=500)
    await connect(client, r, petpooja_standin)
    ids = menu(db_sql, r)
    paneer, dal = r.items["Paneer Tikka"]["id"], r.items["Dal Makhani"]["id"]
    lines = {
        # Paneer 2 x 250.00 with CGST + SGST 2.5 % (12.50 each); Dal 180.50 tax-free (PetPooja gave it no tax:
        # the restaurant's 5 % does not apply to an imported item).
        "items_tax": [line(paneer, 2), line(dal, 1)],
        # Burger 150.00 + Cheese 30.00 + Jalapenos 20.00 = 200.00 a unit, x 2, CGST + SGST 2.5 % (10.00 each).
        "addons": [line(ids["Veg Burger"], 2, None, ids["Cheese"], ids["Jalapenos"])],
        # Garlic Bread 6Pieces 160.00 x 3 = 480.00, CGST + SGST 2.5 % (12.00 each).
        "variation": [line(ids["Garlic Bread"], 3, ids["6Pieces"])],
        # Paneer 2 x 250.00 = 500.00, 30.00 off, CGST + SGST 2.5 % of 470.00 = 11.75 each.
        "discount": [line(paneer, 2)],
        # Pizza Large 450.00 + Cheese 30.00 = 480.00 a unit, x 2 = 960.00; CGST + SGST 2.5 % = 24.00 each.
        "addon_variation_tax": [line(ids["Farmhouse Pizza"], 2, ids["Large"], ids["Cheese"])],
    }[case]
    order = await place(client, r, await open_guest(r), lines)
    if case == "discount":
        # Orders take no discount through the API yet: set one as a POS-side promotion would (each line tax
        # on the discounted amount).
        subtotal = order["subtotal"]
        line_tax = tax_on(subtotal - 3000, 250)
        db_sql("UPDATE orders SET discount = 3000, tax = %s, total = %s WHERE id = %s",
               (2 * line_tax, subtotal - 3000 + 2 * line_tax, order["id"]))
        db_sql("UPDATE order_items SET taxes = (SELECT jsonb_agg(t || jsonb_build_object('amount', %s::bigint))"
               " FROM jsonb_array_elements(taxes) t) WHERE order_id = %s", (line_tax, order["id"]))

    assert (await make_target().round(owner="w1")).synced == 1, db_sql(
        "SELECT last_error FROM sync_log WHERE target = 'petpooja'")

    (saved,) = petpooja_standin.saved()
    body = saved["body"]
    details = adds_up(body)
    info = body["orderinfo"]["OrderInfo"]
    items, taxes = info["OrderItem"]["details"], info["Tax"]["details"]
    assert tracked(db_sql, order["id"])["petpooja_order_id"] == saved["orderID"]
    summary = [(i["id"], i["price"], i["quantity"], i["final_price"], i["variation_id"], i["variation_name"],
                [(a["id"], a["group_id"], a["price"]) for a in i["AddonItem"]["details"]],
                [(t["id"], t["amount"]) for t in i["item_tax"]]) for i in items]
    tax_entries = [(t["id"], t["title"], t["type"], t["price"], t["tax"]) for t in taxes]
    amounts = (details["tax_total"], details["discount_total"], details["total"])
    if case == "items_tax":
        assert summary == [("10001", "250.00", "2", "500.00", "", "", [], [("11213", "12.50"), ("20375", "12.50")]),
                           ("10002", "180.50", "1", "180.50", "", "", [], [])]
        assert tax_entries == [("11213", "CGST", "P", "2.5", "12.50"), ("20375", "SGST", "P", "2.5", "12.50")]
        assert amounts == ("25.00", "0.00", "705.50")
    elif case == "addons":
        assert summary == [("118829149", "200.00", "2", "400.00", "", "",
                            [("1150813", "135707", "30.00"), ("1150814", "135707", "20.00")],
                            [("11213", "10.00"), ("20375", "10.00")])]
        assert [(a["name"], a["group_name"], a["quantity"]) for a in items[0]["AddonItem"]["details"]] == [
            ("Cheese", "Extra Toppings", "1"), ("Jalapenos", "Extra Toppings", "1")]
        assert tax_entries == [("11213", "CGST", "P", "2.5", "10.00"), ("20375", "SGST", "P", "2.5", "10.00")]
        assert amounts == ("20.00", "0.00", "420.00")
    elif case == "variation":
        assert summary == [("7765097", "160.00", "3", "480.00", "89059", "6Pieces", [],
                            [("11213", "12.00"), ("20375", "12.00")])]
        assert amounts == ("24.00", "0.00", "504.00")
    elif case == "discount":
        assert summary == [("10001", "250.00", "2", "500.00", "", "", [], [("11213", "11.75"), ("20375", "11.75")])]
        assert info["Discount"]["details"] == [{"id": "", "title": "Discount", "type": "F", "price": "30.00"}]
        assert amounts == ("23.50", "30.00", "493.50")
    else:
        assert summary == [("7766002", "480.00", "2", "960.00", "89061", "Large", [("1150813", "135707", "30.00")],
                            [("11213", "24.00"), ("20375", "24.00")])]
        assert tax_entries == [("11213", "CGST", "P", "2.5", "24.00"), ("20375", "SGST", "P", "2.5", "24.00")]
        assert amounts == ("48.00", "0.00", "1008.00")
    stored = expect(await client.get(r.url(f"/orders/{order['id']}"), headers=r.owner.headers), 200)
    assert details["total"] == f"{Decimal(stored['total']) / 100:.2f}"


async def test_imported_items_without_petpooja_taxes_are_tax_free_and_reach_petpooja_without_an_unnamed_tax(
    app: Starlette, client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql,
) -> None:
    """Issue 11, finding 9: an item PetPooja sends with an empty item_tax (packaged water) or with ignore_taxes "1"
    is charged no tax at all, not the restaurant's 5 %; an imported item with taxes pays exactly those; only an item
    made here pays the restaurant's rate. PetPooja gets no tax line without one of its tax ids, and total adds up."""
    r = await make_restaurant(tax_rate_bps=500)
    await connect(client, r, petpooja_standin)
    menu = fixture_menu()
    next(i for i in menu["items"] if i["itemid"] == "10001")["ignore_taxes"] = "1"  # Paneer Tikka, item_tax kept
    await run_import(app, r, menu)
    imported = {row["external_id"]: row["id"] for row in db_sql(
        "SELECT external_id, id FROM menu_items WHERE restaurant_id = %s AND external_id IS NOT NULL", (r.id,))}

    order = await place(client, r, await open_guest(r), [
        line(imported["10033"], 2), line(imported["10001"], 1), line(imported["10004"], 1),
        line(r.items["Dal Makhani"]["id"], 1)])

    # Water 2 x 20.00 and Paneer 260.00: no tax; Egg Bhurji Pav 150.00: CGST + SGST 3.75 each; Dal (made here)
    # 180.50 at the restaurant's 5 %: 9.03.
    assert (order["subtotal"], order["tax"], order["total"]) == (63050, 750 + 903, 63050 + 750 + 903)
    assert (await make_target().round(owner="w1")).synced == 1
    (saved,) = petpooja_standin.saved()
    info = saved["body"]["orderinfo"]["OrderInfo"]
    assert [(t["id"], t["title"], t["tax"]) for t in info["Tax"]["details"]] == [
        ("3196", "CGST", "3.75"), ("3197", "SGST", "3.75")]
    assert [(i["id"], [t["id"] for t in i["item_tax"]]) for i in info["OrderItem"]["details"]] == [
        ("10033", []), ("10001", []), ("10004", ["3196", "3197"]), (r.items["Dal Makhani"]["id"], [])]
    details = info["Order"]["details"]
    items_total = sum(Decimal(i["final_price"]) for i in info["OrderItem"]["details"])
    assert (details["tax_total"], details["total"]) == ("16.53", "647.03")
    assert items_total + Decimal(details["tax_total"]) + Decimal(details["service_charge"]) == Decimal(details["total"])
