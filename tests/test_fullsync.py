"""scripts/fullSync as operators run it: a real subprocess reading the test database as the
app role and writing to the Convex stand-in (a real process). Data is made through the API
with no Convex configured, so every outbox row stays pending and Convex starts empty."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from db import fullsync
from db.pool import Database
from db.queries import sql
from sync.convex import documents
from sync.convex.client import ConvexHttp
from tests.conftest import ROOT, STANDIN_KEY, Restaurant, Standin, expect, order_body

DbSql = Callable[..., list[dict[str, Any]]]


@dataclass
class Run:
    code: int
    summary: dict[str, Any]
    stdout: str
    stderr: str


FullSync = Callable[..., Awaitable[Run]]


@pytest.fixture
def full_sync(app_conninfo: str, standin: Standin) -> FullSync:
    async def run(*args: str, env: dict[str, str] | None = None) -> Run:
        environ = {**os.environ, "DATABASE_URL": app_conninfo, "CONVEX_URL": standin.url,
                   "CONVEX_DEPLOY_KEY": STANDIN_KEY, "CONVEX_TIMEOUT_S": "5", **(env or {})}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "scripts.fullSync", "--json", *args, cwd=ROOT,
            env={k: v for k, v in environ.items() if v}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        # A hang guard, not a performance claim.
        out, err = await asyncio.wait_for(process.communicate(), 120)
        stdout, stderr = out.decode(), err.decode()
        summary = json.loads(stdout) if stdout.strip() else {}
        assert process.returncode is not None
        return Run(process.returncode, summary, stdout, stderr)

    return run


@pytest.fixture
def restaurant_with_orders(client: httpx.AsyncClient, make_restaurant: Any,
                           open_guest: Any) -> Callable[..., Awaitable[tuple[Restaurant, list[dict[str, Any]]]]]:
    async def make(orders: int = 2) -> tuple[Restaurant, list[dict[str, Any]]]:
        r = await make_restaurant()
        guest = await open_guest(r)
        made = [expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
                for _ in range(orders)]
        return r, made

    return make


def pg_versions(db_sql: DbSql, table: str, restaurant_id: str | None = None) -> dict[str, int]:
    live = "deleted_at IS NULL" if table == "menu_items" else "true"
    rows = db_sql(f"SELECT id::text AS id, version, restaurant_id::text AS rid FROM {table} WHERE {live}")  # noqa: S608  # fixed table names
    return {r["id"]: r["version"] for r in rows if restaurant_id in (None, r["rid"])}


def convex_state(standin: Standin) -> dict[str, dict[str, int]]:
    return {table: standin.versions(table) for table in ("orders", "menuItems", "tables", "reservations",
                                                           "notifications")}


def postgres_state(db_sql: DbSql) -> dict[str, dict[str, int]]:
    return {"orders": pg_versions(db_sql, "orders"), "menuItems": pg_versions(db_sql, "menu_items"),
            "tables": pg_versions(db_sql, "dining_tables"), "reservations": pg_versions(db_sql, "reservations"),
            "notifications": pg_versions(db_sql, "notifications")}


def expected_docs(db_sql: DbSql, entity_type: str, query: str, table: str) -> list[dict[str, Any]]:
    """What the live pusher would write for every row: its own query and documents.change."""
    ids = [r["id"] for r in db_sql(f"SELECT id FROM {table}")]  # noqa: S608  # fixed table names
    docs = []
    for row in db_sql(sql(query), {"ids": ids}):
        c = documents.change(entity_type, {"entity_id": row["id"], "restaurant_id": row["restaurant_id"],
                                           "entity_version": row["version"]}, row)
        if c["op"] == "upsert":
            docs.append({**c["doc"], "pgId": c["pgId"], "restaurantId": c["restaurantId"], "version": c["version"]})
    return sorted(docs, key=lambda d: d["pgId"])


async def push_directly(standin: Standin, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    convex = ConvexHttp(standin.url, STANDIN_KEY)
    try:
        value = await convex.mutation("sync:applyBatch", {"changes": changes})
    finally:
        await convex.close()
    results: list[dict[str, Any]] = value["results"]
    return results


def stray_table(restaurant_id: str, version: float = 1.0) -> dict[str, Any]:
    return {"entity": "tables", "op": "upsert", "pgId": str(uuid.uuid4()), "restaurantId": restaurant_id,
            "version": version, "doc": {"label": "Ghost", "seats": 2.0, "isActive": True}}


async def test_a_full_sync_into_an_empty_convex_reproduces_postgres_and_a_second_run_applies_nothing(
        client, restaurant_with_orders, standin, db_sql, full_sync):
    r, orders = await restaurant_with_orders(2)
    expect(await client.post(r.url(f"/orders/{orders[0]['id']}/status"), headers=r.owner.headers,
                             json={"status": "confirmed"}), 200)
    gone = r.items["Seasonal Special"]["id"]
    expect(await client.delete(r.url(f"/menu/items/{gone}"), headers=r.owner.headers), 204)
    assert standin.dump()["orders"] == []

    first = await full_sync()

    assert first.code == 0, first.stderr
    assert convex_state(standin) == postgres_state(db_sql)
    assert convex_state(standin)["orders"][orders[0]["id"]] == 2
    assert gone not in standin.versions("menuItems")
    dump = standin.dump()
    assert sorted(dump["orders"], key=lambda d: d["pgId"]) == expected_docs(
        db_sql, "order", "order_convex_documents_by_ids", "orders")
    assert sorted(dump["menuItems"], key=lambda d: d["pgId"]) == expected_docs(
        db_sql, "menu_item", "menu_item_documents_by_ids", "menu_items")
    assert sorted(dump["tables"], key=lambda d: d["pgId"]) == expected_docs(
        db_sql, "table", "table_documents_by_ids", "dining_tables")
    assert sorted(dump["notifications"], key=lambda d: d["pgId"]) == expected_docs(
        db_sql, "notification", "notification_documents_by_ids", "notifications")
    assert len(dump["notifications"]) == 1
    assert {d["tableLabel"] for d in dump["orders"]} == {"T1"}
    assert all([i["name"] for i in d["items"]] == ["Paneer Tikka", "Dal Makhani"] for d in dump["orders"])
    assert [t["pgId"] for t in dump["tombstones"]] == [gone]
    assert "\r" not in first.stderr  # progress updates only on a terminal
    # 2 orders + 3 menu items (one a delete) + 2 tables + the guest's notification of the confirmation.
    assert {k: first.summary[k] for k in ("pushed", "applied", "deleted", "stale", "failed")} == {
        "pushed": 8, "applied": 7, "deleted": 1, "stale": 0, "failed": 0}

    second = await full_sync()

    assert second.code == 0, second.stderr
    assert {k: second.summary[k] for k in ("pushed", "applied", "deleted", "stale", "failed")} == {
        "pushed": 8, "applied": 0, "deleted": 0, "stale": 8, "failed": 0}
    assert standin.dump() == dump


async def test_the_restaurant_and_entity_flags_limit_what_is_pushed(
        restaurant_with_orders, standin, db_sql, full_sync):
    r1, _ = await restaurant_with_orders(1)
    r2, _ = await restaurant_with_orders(1)

    only_menu = await full_sync("--restaurant", r1.id, "--entity", "menu_items")

    assert only_menu.code == 0, only_menu.stderr
    assert only_menu.summary["pushed"] == 3
    assert convex_state(standin) == {"orders": {}, "menuItems": pg_versions(db_sql, "menu_items", r1.id), "tables": {},
                                     "reservations": {}, "notifications": {}}

    all_orders = await full_sync("--entity", "orders")

    assert all_orders.code == 0, all_orders.stderr
    assert standin.versions("orders") == pg_versions(db_sql, "orders")
    assert {d["restaurantId"] for d in standin.dump()["orders"]} == {r1.id, r2.id}
    assert standin.versions("tables") == {}


async def test_a_snapshot_never_overwrites_a_newer_version_already_in_convex(
        restaurant_with_orders, standin, db_sql, full_sync):
    _, [order, _] = await restaurant_with_orders(2)
    [row] = db_sql(sql("order_documents_by_ids"), {"ids": [order["id"]]})
    newer = documents.change("order", {"entity_id": row["id"], "restaurant_id": row["restaurant_id"],
                                       "entity_version": row["version"]}, {**row, "version": 7, "status": "ready"})
    assert await push_directly(standin, [newer]) == [{"entity": "orders", "pgId": order["id"], "result": "applied"}]

    run = await full_sync()

    assert run.code == 0, run.stderr
    [doc] = [d for d in standin.dump()["orders"] if d["pgId"] == order["id"]]
    assert (doc["version"], doc["status"]) == (7, "ready")
    assert run.summary["stale"] == 1
    assert run.summary["applied"] == run.summary["pushed"] - 1
    # Convex ahead of Postgres is drift that only a bug can cause: verify says so.
    verify = await full_sync("--verify")
    assert verify.code == 1
    assert verify.summary["drift"]["orders"]["newer"] == 1


async def test_prune_removes_convex_documents_absent_from_postgres_and_keeps_the_rest(
        restaurant_with_orders, standin, db_sql, full_sync):
    r1, _ = await restaurant_with_orders(1)
    r2, _ = await restaurant_with_orders(1)
    assert (await full_sync()).code == 0
    strays = [stray_table(r1.id), stray_table(r1.id, 3.0), stray_table(r2.id)]
    stray_item = {"entity": "menuItems", "op": "upsert", "pgId": str(uuid.uuid4()), "restaurantId": r1.id,
                  "version": 1.0, "doc": {"categoryId": str(uuid.uuid4()), "categoryName": None, "name": "Ghost",
                                          "description": None, "price": 1.0, "isAvailable": True, "rank": 0.0}}
    await push_directly(standin, [*strays, stray_item])

    scoped = await full_sync("--prune", "--restaurant", r1.id)

    assert scoped.code == 0, scoped.stderr
    assert scoped.summary["pruned"] == 3
    assert scoped.summary["applied"] == 0
    # r2's stray is outside the scope and stays; everything Postgres holds stays.
    assert convex_state(standin) == {**postgres_state(db_sql),
                                     "tables": {**pg_versions(db_sql, "dining_tables"), strays[2]["pgId"]: 1}}
    assert {(t["pgId"], t["version"]) for t in standin.dump()["tombstones"]} == {
        (strays[0]["pgId"], 1), (strays[1]["pgId"], 3), (stray_item["pgId"], 1)}

    everywhere = await full_sync("--prune")

    assert everywhere.code == 0, everywhere.stderr
    assert everywhere.summary["pruned"] == 1
    assert convex_state(standin) == postgres_state(db_sql)


async def test_verify_reports_drift_with_exit_1_and_no_drift_with_exit_0_after_a_full_sync(
        client, restaurant_with_orders, open_guest, standin, db_sql, full_sync):
    r, [order] = await restaurant_with_orders(1)
    assert (await full_sync()).code == 0
    expect(await client.post(r.url(f"/orders/{order['id']}/status"), headers=r.owner.headers,
                             json={"status": "confirmed"}), 200)
    guest = await open_guest(r)
    expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    gone = r.items["Dal Makhani"]["id"]
    expect(await client.delete(r.url(f"/menu/items/{gone}"), headers=r.owner.headers), 204)
    await push_directly(standin, [stray_table(r.id)])
    before = standin.dump()

    drifted = await full_sync("--verify")

    assert drifted.code == 1
    assert {name: {k: d[k] for k in ("missing", "extra", "older", "newer")}
            for name, d in drifted.summary["drift"].items()} == {
        "orders": {"missing": 1, "extra": 0, "older": 1, "newer": 0},
        "menu_items": {"missing": 0, "extra": 1, "older": 0, "newer": 0},
        "tables": {"missing": 0, "extra": 1, "older": 0, "newer": 0},
        "reservations": {"missing": 0, "extra": 0, "older": 0, "newer": 0},
        # The confirmation told the order's guest (its notification was not pushed: no pusher here).
        "notifications": {"missing": 1, "extra": 0, "older": 0, "newer": 0}}
    assert "drift orders: missing=1" in drifted.stderr
    assert standin.dump() == before

    assert (await full_sync("--prune")).code == 0
    clean = await full_sync("--verify")

    assert clean.code == 0, clean.stderr
    assert all(d["missing"] == d["extra"] == d["older"] == d["newer"] == 0 for d in clean.summary["drift"].values())


async def test_a_dry_run_reports_what_would_change_and_writes_nothing(
        restaurant_with_orders, standin, full_sync):
    r, _ = await restaurant_with_orders(2)
    await push_directly(standin, [stray_table(r.id)])
    before, calls = standin.dump(), standin.stats()["mutationCalls"]

    run = await full_sync("--dry-run", "--prune")

    assert run.code == 0, run.stderr
    assert standin.dump() == before
    assert standin.stats()["mutationCalls"] == calls
    # 2 orders + 3 menu items + 2 tables, none of them in Convex yet; one stray to prune.
    assert {k: run.summary[k] for k in ("pushed", "applied", "stale", "pruned", "failed")} == {
        "pushed": 7, "applied": 7, "stale": 0, "pruned": 1, "failed": 0}


async def test_an_unreachable_convex_fails_the_run_with_every_change_counted_as_failed(
        restaurant_with_orders, standin, full_sync):
    await restaurant_with_orders(2)
    standin.fault("down")

    run = await full_sync()
    verify = await full_sync("--verify")

    assert run.code == 1
    assert run.summary["failed"] == run.summary["pushed"] == 7
    assert run.summary["applied"] == 0
    assert "convex unavailable" in run.stderr
    assert verify.code == 1
    assert verify.summary["failed"] > 0


async def test_a_rejected_change_fails_alone_and_every_other_batch_is_applied(
        restaurant_with_orders, standin, db_sql, full_sync):
    _, [poisoned, _] = await restaurant_with_orders(2)
    standin.fault("reject", pgIds=[poisoned["id"]])

    run = await full_sync("--batch-size", "4")

    assert run.code == 1
    assert run.summary["failed"] == 1
    assert run.summary["applied"] == run.summary["pushed"] - 1
    assert f"rejected orders {poisoned['id']}" in run.stderr
    expected = postgres_state(db_sql)
    del expected["orders"][poisoned["id"]]
    assert convex_state(standin) == expected


async def test_rows_are_pushed_in_pages_of_the_batch_size_never_all_at_once(
        restaurant_with_orders, standin, db_sql, full_sync):
    await restaurant_with_orders(9)
    calls = standin.stats()["mutationCalls"]

    run = await full_sync("--entity", "orders", "--batch-size", "2")

    assert run.code == 0, run.stderr
    assert run.summary["pushed"] == 9
    assert (run.summary["batches"], run.summary["max_batch"]) == (5, 2)
    assert standin.stats()["mutationCalls"] - calls == 5
    assert standin.versions("orders") == pg_versions(db_sql, "orders")


async def test_the_postgres_stream_reads_through_a_server_side_cursor_one_page_at_a_time(
        restaurant_with_orders, app_conninfo):
    await restaurant_with_orders(5)
    db = Database(app_conninfo, min_size=1, max_size=1)
    await db.open(wait=True)
    try:
        sizes, open_cursors = [], []
        async with db.system() as conn:
            async for page in fullsync.stream(conn, "order", restaurant_id=None, page_size=2):
                sizes.append(len(page))
                cur = await conn.execute("SELECT name FROM pg_cursors")
                open_cursors.append([name for (name,) in await cur.fetchall()])
    finally:
        await db.close()
    assert sizes == [2, 2, 1]
    assert open_cursors == [["fullsync_orders"]] * 3


@pytest.mark.parametrize("unset", ["DATABASE_URL", "CONVEX_URL", "CONVEX_DEPLOY_KEY"])
async def test_a_missing_setting_exits_2_naming_it(full_sync, unset):
    run = await full_sync(env={unset: ""})

    assert run.code == 2
    assert unset in run.stderr
    assert run.stdout == ""
