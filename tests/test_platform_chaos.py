"""Chaos with the delivery platforms: whatever dies and whatever the platform answers, every
platform order is taken exactly once (one order of ours, accepted once on the platform's side)
and the platform ends with the menu Postgres has.

Everything is real: the API in process, Postgres, the Convex and Uber Eats stand-ins as
processes, and the worker as `python -m sync.worker`, killed with SIGKILL mid-work. The
oracle reads the Postgres tables, not the formatter.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from tests.conftest import (
    DOORDASH_CREDENTIALS,
    DOORDASH_STORE_ID,
    UBER_CLIENT,
    UBER_STORE_ID,
    DoorDashStandin,
    Restaurant,
    Standin,
    UberStandin,
    expect,
    spawn,
    stop,
)
from tests.test_chaos import sync_env
from tests.test_sync import sync_settings_for, until

DbSql = Callable[..., list[dict[str, Any]]]
WEBHOOK = "/api/webhooks/ubereats"
ORDERS, EDITS = 8, 12


@pytest.fixture
async def app(settings: Settings, standin: Standin, ubereats_standin: UberStandin,
              doordash_standin: DoorDashStandin) -> AsyncIterator[Starlette]:
    application = create_app(settings, sync_settings_for(standin),
                             platform_env={**ubereats_standin.env, **doordash_standin.env})
    async with application.router.lifespan_context(application):
        yield application


def uber_rows(db_sql: DbSql) -> dict[str, int]:
    return {r["status"]: r["n"] for r in db_sql(
        "SELECT status, count(*) AS n FROM sync_log WHERE target LIKE 'ubereats%%' GROUP BY status")}


def settled(db_sql: DbSql) -> bool:
    taken = db_sql("SELECT count(*) AS n FROM platform_orders WHERE state = 'accepted'")[0]["n"]
    return taken == ORDERS and set(uber_rows(db_sql)) == {"synced"}


async def edit_the_menu(client: httpx.AsyncClient, r: Restaurant) -> None:
    """Prices and availability of two items, edited back and forth: the last edit wins."""
    for n in range(EDITS):
        item = r.items["Dal Makhani"] if n % 2 else r.items["Paneer Tikka"]
        body = {"price": 20_000 + n} if n % 3 else {"is_available": n % 4 != 0}
        expect(await client.patch(r.url(f"/menu/items/{item['id']}"), headers=r.owner.headers, json=body), 200)


async def test_uber_orders_and_menu_edits_survive_a_killed_worker_and_uber_faults(
        client, make_restaurant, ubereats_standin, standin, db_sql, app_conninfo, tmp_path):
    ubereats_standin.register()
    r = await make_restaurant()
    expect(await client.put(r.url("/integrations/ubereats"), headers=r.owner.headers,
                            json={"store_id": UBER_STORE_ID, **UBER_CLIENT}), 200)
    env = {**sync_env(app_conninfo, standin), **ubereats_standin.env, "UBEREATS_DEBOUNCE_S": "0"}
    first = spawn([sys.executable, "-m", "sync.worker"], env, tmp_path / "worker-1.log")
    try:
        await until(lambda: db_sql("SELECT sync_status FROM platform_connections")[0]["sync_status"] == "synced",
                    timeout_s=20)
        ubereats_standin.fault("hang")  # the worker's next calls to Uber stay out until it dies
        cart = [{"id": r.items["Dal Makhani"]["id"], "title": "Dal Makhani", "quantity": 1,
                 "price": r.items["Dal Makhani"]["price"]}]
        placed = [ubereats_standin.create_order(currency="INR", cart_items=cart) for _ in range(ORDERS)]
        for order in placed:
            sent = ubereats_standin.webhook_request("http://api.test" + WEBHOOK, resource_id=order["id"])
            assert (await client.post(WEBHOOK, content=sent["body"].encode(), headers=sent["headers"])).status_code == 200
        await edit_the_menu(client, r)
        await until(lambda: uber_rows(db_sql).get("in_flight", 0) > 0, timeout_s=20)
        first.kill()
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop(first)

    # Uber comes back failing a few calls of every kind; a second worker takes over after the leases.
    ubereats_standin.fault("http500", count=4)
    second = spawn([sys.executable, "-m", "sync.worker"], env, tmp_path / "worker-2.log")
    try:
        await until(lambda: settled(db_sql), timeout_s=60)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    finally:
        stop(second)

    # Each platform order is one order of ours, accepted once on Uber's side.
    taken = db_sql("SELECT external_id, order_id FROM platform_orders")
    assert sorted(t["external_id"] for t in taken) == sorted(o["id"] for o in placed)
    assert len({t["order_id"] for t in taken}) == ORDERS
    assert db_sql("SELECT count(*) AS n FROM orders") == [{"n": ORDERS}]
    for order in ubereats_standin.orders():
        assert order["current_state"] == "ACCEPTED"
        assert [a["action"] for a in order["actions"]] == ["accept"]
    # Uber's menu is Postgres's: every live item at its price, suspended exactly when unavailable.
    uber_items = {i["id"]: i for i in ubereats_standin.menu()["items"]}
    for item in db_sql("SELECT id::text AS id, price, is_available FROM menu_items WHERE deleted_at IS NULL"):
        on_uber = uber_items[item["id"]]
        assert on_uber["price_info"]["price"] == item["price"]
        until_ = ((on_uber.get("suspension_info") or {}).get("suspension") or {}).get("suspend_until") or 0
        assert (until_ > 0) == (not item["is_available"]), item


async def test_a_platform_that_hangs_delays_no_other_platform(
        client, make_restaurant, ubereats_standin, doordash_standin, standin, db_sql, app_conninfo, tmp_path):
    ubereats_standin.register()
    doordash_standin.register()
    r = await make_restaurant()
    expect(await client.put(r.url("/integrations/ubereats"), headers=r.owner.headers,
                            json={"store_id": UBER_STORE_ID, **UBER_CLIENT}), 200)
    doordash_standin.fault("hang", paths=["menus"])  # DoorDash hangs creating its first menu
    expect(await client.put(r.url("/integrations/doordash"), headers=r.owner.headers,
                            json={"store_id": DOORDASH_STORE_ID, **DOORDASH_CREDENTIALS}), 200)
    env = {**sync_env(app_conninfo, standin), **ubereats_standin.env, **doordash_standin.env,
           "UBEREATS_DEBOUNCE_S": "0", "DOORDASH_DEBOUNCE_S": "0", "DOORDASH_TIMEOUT_S": "8"}
    worker = spawn([sys.executable, "-m", "sync.worker"], env, tmp_path / "worker.log")
    try:
        def uber_price() -> int | None:
            menu = ubereats_standin.menu()
            items = {i["id"]: i for i in (menu or {}).get("items", [])}
            dal = items.get(r.items["Dal Makhani"]["id"])
            return None if dal is None else int(dal["price_info"]["price"])

        await until(lambda: uber_price() == r.items["Dal Makhani"]["price"], timeout_s=20)
        expect(await client.patch(r.url(f"/menu/items/{r.items['Dal Makhani']['id']}"), headers=r.owner.headers,
                                  json={"price": 21_111}), 200)
        # Uber gets the edit while DoorDash's publishes hang (each times out after 8 s and is retried).
        await until(lambda: uber_price() == 21_111, timeout_s=10)
        assert doordash_standin.menus() == []
        assert db_sql("SELECT count(*) AS n FROM sync_log WHERE target = 'doordash' AND status = 'synced'"
                      ) == [{"n": 0}]
        # DoorDash comes back: its menu catches up with the edit, created once.
        doordash_standin.fault("ok")
        await until(lambda: len(doordash_standin.menus()) == 1 and set(
            uber_rows_of(db_sql, "doordash")) == {"synced"}, timeout_s=60)
    finally:
        stop(worker)
    [created] = doordash_standin.menus()
    prices = {i["merchant_supplied_id"]: i["price"] for c in created["body"]["menu"]["categories"] for i in c["items"]}
    assert prices[r.items["Dal Makhani"]["id"]] == 21_111


def uber_rows_of(db_sql: DbSql, target: str) -> dict[str, int]:
    return {r["status"]: r["n"] for r in db_sql(
        "SELECT status, count(*) AS n FROM sync_log WHERE target = %s GROUP BY status", (target,))}
