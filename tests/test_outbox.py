"""The outbox seam: every committed change of a synced entity (order, menu item, table)
leaves exactly one pending convex sync_log row carrying the entity's current version,
written by triggers in the same transaction, whichever path made the change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from tests.conftest import Restaurant, expect, order_body

DbSql = Callable[..., list[dict[str, Any]]]

_VERSION = {
    "order": "SELECT version FROM orders WHERE id = %s",
    "menu_item": "SELECT version FROM menu_items WHERE id = %s",
    "table": "SELECT version FROM dining_tables WHERE id = %s",
}


def rows_for(db_sql: DbSql, entity_id: str) -> list[dict[str, Any]]:
    return db_sql(
        "SELECT restaurant_id::text AS restaurant_id, target, entity_type, entity_id::text AS entity_id,"
        " entity_version, status FROM sync_log WHERE entity_id = %s ORDER BY id", (entity_id,))


def pending_for(db_sql: DbSql, entity_id: str) -> list[dict[str, Any]]:
    return [r for r in rows_for(db_sql, entity_id) if r["status"] == "pending"]


def version_of(db_sql: DbSql, entity_type: str, entity_id: str) -> int:
    return int(db_sql(_VERSION[entity_type], (entity_id,))[0]["version"])


def settle(db_sql: DbSql) -> None:
    """Does what a successful push does, so the next change has to write a fresh row."""
    db_sql("UPDATE sync_log SET status = 'synced', synced_at = now() WHERE status = 'pending'")


def assert_one_pending_at_current_version(db_sql: DbSql, r: Restaurant, entity_type: str, entity_id: str) -> int:
    version = version_of(db_sql, entity_type, entity_id)
    assert pending_for(db_sql, entity_id) == [{
        "restaurant_id": r.id, "target": "convex", "entity_type": entity_type, "entity_id": entity_id,
        "entity_version": version, "status": "pending",
    }]
    return version


@pytest.fixture(autouse=True)
def no_pusher(app) -> None:
    """These tests read rows before anything pushes them: with Convex unconfigured (the test
    default) the API starts no pusher, so every row stays exactly as the triggers wrote it."""
    assert app.state.services.pusher is None


@pytest.fixture
async def shop(make_restaurant) -> Restaurant:
    return await make_restaurant()


@pytest.fixture
def item_id(shop) -> str:
    return str(shop.items["Paneer Tikka"]["id"])


# ------------------------------------------------------------------------- API write paths


async def test_creating_an_order_leaves_it_at_version_1_with_one_pending_row_at_version_1(
        client, shop, open_guest, db_sql):
    guest = await open_guest(shop)
    order = expect(await client.post(shop.url("/orders"), headers=guest.headers, json=order_body(shop)), 201)
    # Inserting the items touches the order in the same transaction: that must not bump it.
    assert order["version"] == 1
    assert assert_one_pending_at_current_version(db_sql, shop, "order", order["id"]) == 1
    assert len(rows_for(db_sql, order["id"])) == 1


async def test_a_status_move_enqueues_the_order_at_its_new_version(client, shop, db_sql):
    order = expect(await client.post(shop.url("/orders"), headers=shop.owner.headers, json=order_body(shop)), 201)
    settle(db_sql)
    moved = expect(await client.post(shop.url(f"/orders/{order['id']}/status"), headers=shop.owner.headers,
                                     json={"status": "confirmed"}), 200)
    assert assert_one_pending_at_current_version(db_sql, shop, "order", order["id"]) == moved["version"] == 2


async def test_a_cancel_enqueues_the_order_at_its_new_version(client, shop, open_guest, db_sql):
    guest = await open_guest(shop)
    order = expect(await client.post(shop.url("/orders"), headers=guest.headers, json=order_body(shop)), 201)
    settle(db_sql)
    cancelled = expect(await client.post(shop.url(f"/orders/{order['id']}/cancel"), headers=guest.headers), 200)
    assert assert_one_pending_at_current_version(db_sql, shop, "order", order["id"]) == cancelled["version"] == 2


async def test_a_refused_status_move_enqueues_nothing(client, shop, db_sql):
    order = expect(await client.post(shop.url("/orders"), headers=shop.owner.headers, json=order_body(shop)), 201)
    settle(db_sql)
    expect(await client.post(shop.url(f"/orders/{order['id']}/status"), headers=shop.owner.headers,
                             json={"status": "served"}), 409)
    assert pending_for(db_sql, order["id"]) == []
    assert version_of(db_sql, "order", order["id"]) == 1


async def test_creating_a_menu_item_enqueues_it_at_version_1(client, shop, db_sql):
    item = expect(await client.post(shop.url("/menu/items"), headers=shop.owner.headers, json={
        "category_id": shop.category_id, "name": "Naan", "price": 4000}), 201)
    assert assert_one_pending_at_current_version(db_sql, shop, "menu_item", str(item["id"])) == 1


async def test_editing_a_menu_item_enqueues_it_at_its_new_version(client, shop, item_id, db_sql):
    settle(db_sql)
    edited = expect(await client.patch(shop.url(f"/menu/items/{item_id}"), headers=shop.owner.headers,
                                       json={"price": 26000}), 200)
    assert assert_one_pending_at_current_version(db_sql, shop, "menu_item", item_id) == edited["version"] == 2


async def test_an_availability_change_enqueues_the_item_at_its_new_version(client, shop, make_member, item_id, db_sql):
    kitchen = await make_member(shop, "kitchen")
    settle(db_sql)
    changed = expect(await client.put(shop.url(f"/menu/items/{item_id}/availability"), headers=kitchen.headers,
                                      json={"is_available": False}), 200)
    assert assert_one_pending_at_current_version(db_sql, shop, "menu_item", item_id) == changed["version"] == 2


async def test_deleting_a_menu_item_enqueues_it_at_a_version_above_its_last_state(client, shop, item_id, db_sql):
    settle(db_sql)
    expect(await client.delete(shop.url(f"/menu/items/{item_id}"), headers=shop.owner.headers), 204)
    # Menu items are soft-deleted: the row stays, with deleted_at and a raised version.
    assert db_sql("SELECT deleted_at IS NOT NULL AS gone FROM menu_items WHERE id = %s", (item_id,)) == [
        {"gone": True}]
    assert assert_one_pending_at_current_version(db_sql, shop, "menu_item", item_id) == 2


async def test_creating_a_table_enqueues_it_at_version_1(client, shop, db_sql):
    table = expect(await client.post(shop.url("/tables"), headers=shop.owner.headers, json={"label": "Patio"}), 201)
    assert assert_one_pending_at_current_version(db_sql, shop, "table", str(table["id"])) == 1


@pytest.mark.parametrize("change", [{"label": "Window"}, {"seats": 6}, {"is_active": False},
                                    {"rotate_qr_token": True}])
async def test_editing_a_table_enqueues_it_at_its_new_version(client, shop, db_sql, change):
    table_id = str(shop.tables[0]["id"])
    settle(db_sql)
    edited = expect(await client.patch(shop.url(f"/tables/{table_id}"), headers=shop.owner.headers, json=change), 200)
    assert assert_one_pending_at_current_version(db_sql, shop, "table", table_id) == edited["version"] == 2


async def test_consecutive_changes_of_one_menu_item_coalesce_into_one_pending_row_at_the_latest_version(
        client, shop, db_sql):
    item = expect(await client.post(shop.url("/menu/items"), headers=shop.owner.headers, json={
        "category_id": shop.category_id, "name": "Kulfi", "price": 9000}), 201)
    iid = str(item["id"])
    for change in ({"price": 9500}, {"name": "Pista Kulfi"}, {"description": "frozen"}):
        expect(await client.patch(shop.url(f"/menu/items/{iid}"), headers=shop.owner.headers, json=change), 200)
    expect(await client.put(shop.url(f"/menu/items/{iid}/availability"), headers=shop.owner.headers,
                            json={"is_available": False}), 200)
    assert assert_one_pending_at_current_version(db_sql, shop, "menu_item", iid) == 5
    assert len(rows_for(db_sql, iid)) == 1


async def test_consecutive_moves_of_one_order_coalesce_into_one_pending_row_at_the_latest_version(
        client, shop, db_sql):
    order = expect(await client.post(shop.url("/orders"), headers=shop.owner.headers, json=order_body(shop)), 201)
    for status in ("confirmed", "preparing", "ready"):
        expect(await client.post(shop.url(f"/orders/{order['id']}/status"), headers=shop.owner.headers,
                                 json={"status": status}), 200)
    assert assert_one_pending_at_current_version(db_sql, shop, "order", order["id"]) == 4
    assert len(rows_for(db_sql, order["id"])) == 1


async def test_a_change_after_a_sync_starts_a_new_pending_row_beside_the_synced_one(client, shop, item_id, db_sql):
    settle(db_sql)
    expect(await client.patch(shop.url(f"/menu/items/{item_id}"), headers=shop.owner.headers,
                              json={"price": 1}), 200)
    assert [(r["status"], r["entity_version"]) for r in rows_for(db_sql, item_id)] == [("synced", 1), ("pending", 2)]


async def test_setting_availability_to_its_current_value_adds_no_row_and_no_version(client, shop, item_id, db_sql):
    settle(db_sql)
    same = expect(await client.put(shop.url(f"/menu/items/{item_id}/availability"), headers=shop.owner.headers,
                                   json={"is_available": True}), 200)
    assert same["version"] == 1
    assert version_of(db_sql, "menu_item", item_id) == 1
    assert pending_for(db_sql, item_id) == []
    assert len(rows_for(db_sql, item_id)) == 1


# ------------------------------------------------------------------------ rollback paths


async def test_a_rolled_back_write_by_the_app_role_leaves_no_outbox_row(shop, item_id, app_conninfo, db_sql):
    settle(db_sql)
    before = db_sql("SELECT count(*) AS n, coalesce(sum(entity_version), 0) AS v FROM sync_log")
    with psycopg.connect(app_conninfo) as conn:
        conn.execute("SELECT set_config('app.restaurant_id', %s, true)", (shop.id,))
        conn.execute("UPDATE menu_items SET price = price + 1 WHERE id = %s", (item_id,))
        # Inside the transaction the trigger has written the row (and RLS lets the tenant see it) ...
        inside = conn.execute("SELECT entity_version FROM sync_log WHERE entity_id = %s AND status = 'pending'",
                              (item_id,)).fetchall()
        assert inside == [(2,)]
        conn.rollback()
    # ... and rolling back takes it away with the change itself.
    assert db_sql("SELECT count(*) AS n, coalesce(sum(entity_version), 0) AS v FROM sync_log") == before
    assert pending_for(db_sql, item_id) == []
    assert version_of(db_sql, "menu_item", item_id) == 1


async def test_an_order_refused_with_422_leaves_no_outbox_row(client, shop, open_guest, db_sql):
    guest = await open_guest(shop)
    settle(db_sql)
    before = db_sql("SELECT count(*) AS n FROM sync_log")
    for body in (order_body(shop, ("Paneer Tikka", 1), ("Seasonal Special", 1)),
                 {"items": [{"menu_item_id": str(uuid4()), "quantity": 1}]},
                 {"items": [{"menu_item_id": shop.items["Dal Makhani"]["id"], "quantity": 0}]}):
        expect(await client.post(shop.url("/orders"), headers=guest.headers, json=body), 422)
    assert db_sql("SELECT count(*) AS n FROM sync_log") == before
    assert db_sql("SELECT count(*) AS n FROM sync_log WHERE status = 'pending'") == [{"n": 0}]


# ------------------------------------------------------------------------- manual SQL paths


@pytest.fixture
async def order(client, shop, db_sql) -> dict[str, Any]:
    created = expect(await client.post(shop.url("/orders"), headers=shop.owner.headers, json=order_body(shop)), 201)
    settle(db_sql)
    return created


async def test_a_manual_sql_update_of_an_order_is_enqueued_by_the_trigger(shop, order, db_sql):
    db_sql("UPDATE orders SET notes = 'fixed by hand' WHERE id = %s", (order["id"],))
    assert assert_one_pending_at_current_version(db_sql, shop, "order", order["id"]) == 2


async def test_a_manual_sql_update_that_changes_nothing_is_not_enqueued(shop, order, db_sql):
    db_sql("UPDATE orders SET notes = notes WHERE id = %s", (order["id"],))
    assert pending_for(db_sql, order["id"]) == []
    assert version_of(db_sql, "order", order["id"]) == 1


async def test_adding_an_order_item_by_sql_raises_the_orders_version_and_enqueues_it(shop, order, db_sql):
    db_sql(
        "INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price, quantity,"
        " line_total) VALUES (%s, %s, 3, %s, 'Dal Makhani', 18050, 2, 36100)",
        (shop.id, order["id"], shop.items["Dal Makhani"]["id"]))
    assert assert_one_pending_at_current_version(db_sql, shop, "order", order["id"]) == 2


async def test_changing_or_removing_an_order_item_by_sql_raises_the_orders_version_each_time(shop, order, db_sql):
    db_sql("UPDATE order_items SET notes = 'less salt' WHERE order_id = %s AND position = 1", (order["id"],))
    assert version_of(db_sql, "order", order["id"]) == 2
    db_sql("DELETE FROM order_items WHERE order_id = %s AND position = 2", (order["id"],))
    assert assert_one_pending_at_current_version(db_sql, shop, "order", order["id"]) == 3


async def test_touching_an_order_and_its_items_in_one_transaction_raises_its_version_once(
        shop, order, db_sql, admin_conninfo):
    with psycopg.connect(admin_conninfo) as conn:  # one transaction, committed on leaving the block
        conn.execute("UPDATE orders SET notes = 'x' WHERE id = %s", (order["id"],))
        conn.execute("UPDATE order_items SET notes = 'y' WHERE order_id = %s", (order["id"],))
    assert assert_one_pending_at_current_version(db_sql, shop, "order", order["id"]) == 2


async def test_deleting_an_order_by_sql_enqueues_it_one_version_above_its_last_state(shop, order, db_sql):
    db_sql("UPDATE orders SET notes = 'v2' WHERE id = %s", (order["id"],))
    settle(db_sql)
    last = version_of(db_sql, "order", order["id"])
    assert last == 2
    db_sql("DELETE FROM orders WHERE id = %s", (order["id"],))
    assert db_sql("SELECT count(*) AS n FROM orders WHERE id = %s", (order["id"],)) == [{"n": 0}]
    assert pending_for(db_sql, order["id"]) == [{
        "restaurant_id": shop.id, "target": "convex", "entity_type": "order", "entity_id": order["id"],
        "entity_version": last + 1, "status": "pending",
    }]


async def test_deleting_an_order_whose_change_is_still_pending_coalesces_to_the_delete_version(
        client, shop, db_sql):
    created = expect(await client.post(shop.url("/orders"), headers=shop.owner.headers, json=order_body(shop)), 201)
    db_sql("DELETE FROM orders WHERE id = %s", (created["id"],))
    assert [(r["status"], r["entity_version"]) for r in rows_for(db_sql, created["id"])] == [("pending", 2)]


async def test_a_bulk_sql_update_enqueues_every_changed_item_once(shop, db_sql):
    settle(db_sql)
    db_sql("UPDATE menu_items SET price = price + 100 WHERE restaurant_id = %s", (shop.id,))
    pending = db_sql("SELECT entity_id::text AS id, entity_version FROM sync_log"
                     " WHERE status = 'pending' ORDER BY entity_id")
    assert pending == sorted(({"id": str(i["id"]), "entity_version": 2} for i in shop.items.values()),
                             key=lambda r: r["id"])


async def test_deleting_a_table_by_sql_enqueues_it_one_version_above_its_last_state(shop, db_sql):
    table = db_sql("INSERT INTO dining_tables (restaurant_id, label, qr_token) VALUES (%s, 'Tmp', %s)"
                   " RETURNING id::text AS id", (shop.id, uuid4().hex))[0]
    settle(db_sql)
    db_sql("DELETE FROM dining_tables WHERE id = %s", (table["id"],))
    assert [(r["entity_type"], r["status"], r["entity_version"]) for r in rows_for(db_sql, table["id"])] == [
        ("table", "synced", 1), ("table", "pending", 2)]
