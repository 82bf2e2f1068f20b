"""The realtime cache under normal operation and under failure: every committed change
reaches Convex (the stand-in, a real process speaking Convex's HTTP API), in order per
entity, through Convex being down, hanging or rejecting, and through processes dying."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from db.pool import Database
from sync.config import SyncSettings
from sync.convex import ConvexHttp
from sync.worker import Worker
from tests.conftest import STANDIN_KEY, Standin, expect, order_body


def sync_settings_for(standin: Standin, **overrides: Any) -> SyncSettings:
    return SyncSettings.model_validate({
        "convex_url": standin.url, "convex_deploy_key": STANDIN_KEY, "convex_timeout_s": 2.0,
        "sync_batch_window_ms": 2, "sync_backoff_base_s": 0.05, "sync_backoff_max_s": 0.2,
        "sync_grace_s": 0, "sync_lease_s": 30, **overrides,
    })


@pytest.fixture
def sync_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def app(settings: Settings, standin: Standin, sync_overrides: dict[str, Any]) -> AsyncIterator[Starlette]:
    """The API with its post-commit pusher pointed at the stand-in."""
    application = create_app(settings, sync_settings_for(standin, **sync_overrides))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def worker_factory(app_conninfo: str, standin: Standin) -> AsyncIterator[Callable[..., Worker]]:
    opened: list[tuple[Database, ConvexHttp]] = []

    def make(**overrides: Any) -> Worker:
        settings = sync_settings_for(standin, **overrides)
        db = Database(app_conninfo, min_size=1, max_size=4)
        convex = ConvexHttp(settings.convex_url or "", STANDIN_KEY, timeout_s=settings.convex_timeout_s)
        opened.append((db, convex))
        worker = Worker(db, convex, settings)
        return worker

    yield make
    for db, convex in opened:
        await convex.close()
        await db.close()


async def open_worker(make: Callable[..., Worker], **overrides: Any) -> Worker:
    worker = make(**overrides)
    await worker.db.open(wait=True)
    return worker


def pg_versions(db_sql: Callable[..., list[dict[str, Any]]], table: str) -> dict[str, int]:
    rows = db_sql(f"SELECT id::text AS id, version FROM {table}")  # noqa: S608  # fixed table names
    return {r["id"]: r["version"] for r in rows}


def live_menu_versions(db_sql: Callable[..., list[dict[str, Any]]]) -> dict[str, int]:
    return {r["id"]: r["version"] for r in db_sql(
        "SELECT id::text AS id, version FROM menu_items WHERE deleted_at IS NULL")}


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Waits for an eventually-true condition (a liveness bound, not a performance claim)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def outbox_statuses(db_sql: Callable[..., list[dict[str, Any]]]) -> dict[str, int]:
    return {r["status"]: r["n"] for r in db_sql("SELECT status, count(*) AS n FROM sync_log GROUP BY status")}


async def test_a_guest_order_reaches_convex_after_commit_with_its_items_and_version(
        client, make_restaurant, open_guest, standin, db_sql):
    r = await make_restaurant()
    guest = await open_guest(r)
    order = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    await until(lambda: order["id"] in standin.versions("orders"))
    [doc] = [d for d in standin.dump()["orders"] if d["pgId"] == order["id"]]
    assert doc["version"] == order["version"] == 1
    assert doc["restaurantId"] == r.id
    assert doc["tableLabel"] == "T1"
    assert doc["total"] == order["total"]
    assert [(i["name"], i["quantity"]) for i in doc["items"]] == [("Paneer Tikka", 2), ("Dal Makhani", 1)]
    await until(lambda: outbox_statuses(db_sql).get("pending", 0) == 0 and "in_flight" not in outbox_statuses(db_sql))
    assert set(outbox_statuses(db_sql)) == {"synced"}


async def test_status_moves_and_menu_edits_reach_convex_at_the_latest_version(
        client, make_restaurant, open_guest, standin, db_sql):
    r = await make_restaurant()
    guest = await open_guest(r)
    order = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    for status in ("confirmed", "preparing", "ready"):
        expect(await client.post(r.url(f"/orders/{order['id']}/status"), headers=r.owner.headers,
                                 json={"status": status}), 200)
    item = r.items["Dal Makhani"]
    expect(await client.put(r.url(f"/menu/items/{item['id']}/availability"), headers=r.owner.headers,
                            json={"is_available": False}), 200)
    await until(lambda: standin.versions("orders").get(order["id"]) == 4)
    await until(lambda: standin.versions("menuItems") == live_menu_versions(db_sql))
    assert {d["pgId"]: d["status"] for d in standin.dump()["orders"]} == {order["id"]: "ready"}
    assert {d["pgId"]: d["isAvailable"] for d in standin.dump()["menuItems"]}[item["id"]] is False
    assert standin.versions("tables") == pg_versions(db_sql, "dining_tables")


async def test_a_hanging_convex_does_not_hold_back_order_responses(
        client, make_restaurant, open_guest, standin, db_sql):
    r = await make_restaurant()
    guest = await open_guest(r)
    await until(lambda: standin.stats()["mutationCalls"] > 0)
    standin.fault("hang")
    before = standin.stats()["mutationCalls"]
    orders = [expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
              for _ in range(10)]
    # Every response came back while the stand-in answered none of the pushes it received.
    assert len(orders) == 10
    await until(lambda: standin.stats()["mutationCalls"] > before)
    assert db_sql("SELECT count(*) AS n FROM orders") == [{"n": 10}]
    assert set(standin.versions("orders")) & {o["id"] for o in orders} == set()
