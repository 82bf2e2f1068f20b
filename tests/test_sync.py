"""The realtime cache under normal operation and under failure: every committed change
reaches Convex (the stand-in, a real process speaking Convex's HTTP API), in order per
entity, through Convex being down, hanging or rejecting, and through processes dying."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from sync.config import SyncSettings
from sync.worker import Worker
from tests.conftest import ROOT, STANDIN_KEY, Standin, close_worker, expect, new_worker, order_body


def sync_settings_for(standin: Standin, **overrides: Any) -> SyncSettings:
    return SyncSettings.model_validate({
        "convex_url": standin.url, "convex_deploy_key": STANDIN_KEY, "convex_timeout_s": 2.0,
        "sync_batch_window_ms": 2, "sync_backoff_base_s": 0.05, "sync_backoff_max_s": 0.2,
        "sync_grace_s": 0, "sync_lease_s": 30, "sync_epoch_check_s": 0, "worker_metrics_port": 0, **overrides,
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
    opened: list[Worker] = []

    def make(**overrides: Any) -> Worker:
        worker = new_worker(app_conninfo, sync_settings_for(standin, **overrides))
        opened.append(worker)
        return worker

    yield make
    for worker in opened:
        await close_worker(worker)


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


@pytest.mark.parametrize("sync_overrides", [{"sync_overlap_after_ms": 60_000}])
async def test_orders_committed_while_a_push_is_in_flight_go_together_in_the_next_round(
        client, make_restaurant, open_guest, standin, db_sql, sync_overrides):
    """Batches grow with load (sync/pusher.py): while one round waits on Convex, the orders
    committed meanwhile queue and then go in one round, not a round each."""
    r = await make_restaurant()
    guest = await open_guest(r)
    await until(lambda: set(outbox_statuses(db_sql)) <= {"synced"})
    standin.fault("hang_after_apply", count=1)
    before = standin.stats()["mutationCalls"]
    expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    await until(lambda: standin.stats()["mutationCalls"] == before + 1)  # that round now hangs (2 s timeout)
    later = [expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
             for _ in range(5)]
    await until(lambda: {o["id"] for o in later} <= set(standin.versions("orders")))
    assert standin.stats()["mutationCalls"] == before + 2


@pytest.mark.parametrize("sync_overrides", [{"convex_timeout_s": 10.0}])
async def test_a_hanging_round_holds_nothing_back(client, make_restaurant, standin, db_sql, sync_overrides):
    """...but not behind a slow round: a batch of OVERLAP_BATCH goes at once, beside it, and
    what is left after SYNC_OVERLAP_AFTER_MS (50 ms)."""
    r = await make_restaurant()
    await until(lambda: set(outbox_statuses(db_sql)) <= {"synced"})
    standin.fault("hang_after_apply", count=1)
    first = expect(await client.post(r.url("/orders"), headers=r.owner.headers, json=order_body(r)), 201)
    await until(lambda: outbox_statuses(db_sql).get("in_flight") == 1)
    later = await asyncio.gather(*[client.post(r.url("/orders"), headers=r.owner.headers, json=order_body(r))
                                   for _ in range(20)])
    ids = {expect(response, 201)["id"] for response in later}
    await until(lambda: ids <= set(standin.versions("orders")))
    # The first order's round is still waiting for its answer.
    assert db_sql("SELECT status FROM sync_log WHERE entity_id = %s", (first["id"],)) == [{"status": "in_flight"}]


def assert_convex_equals_postgres(standin: Standin, db_sql: Callable[..., list[dict[str, Any]]]) -> None:
    assert standin.versions("orders") == pg_versions(db_sql, "orders")
    assert standin.versions("menuItems") == live_menu_versions(db_sql)
    assert standin.versions("tables") == pg_versions(db_sql, "dining_tables")


async def test_after_an_outage_one_worker_pass_converges_200_orders_and_their_updates(
        client, make_restaurant, open_guest, standin, db_sql, worker_factory):
    r = await make_restaurant()
    guests = [await open_guest(r, 0), await open_guest(r, 1)]
    await until(lambda: standin.versions("tables") == pg_versions(db_sql, "dining_tables"))
    standin.fault("down")
    orders = [expect(await client.post(r.url("/orders"), headers=guests[n % 2].headers, json=order_body(r)), 201)
              for n in range(200)]
    for order in orders[::2]:
        expect(await client.post(r.url(f"/orders/{order['id']}/status"), headers=r.owner.headers,
                                 json={"status": "confirmed"}), 200)
    for order in orders[1::4]:
        expect(await client.post(r.url(f"/orders/{order['id']}/cancel"), headers=guests[1].headers, json={}), 200)
    await until(lambda: "pending" not in outbox_statuses(db_sql) and "in_flight" not in outbox_statuses(db_sql))
    assert outbox_statuses(db_sql).get("failed", 0) > 0
    assert standin.versions("orders") == {}
    standin.fault("ok")
    await asyncio.sleep(0.25)  # past the capped backoff (0.2 s here)
    worker = await open_worker(worker_factory)
    report = await worker.run_pass()
    assert report.failed == 0
    assert set(outbox_statuses(db_sql)) == {"synced"}
    assert_convex_equals_postgres(standin, db_sql)
    cancelled = {o["id"] for o in orders[1::4]}
    assert {d["pgId"] for d in standin.dump()["orders"] if d["status"] == "cancelled"} == cancelled


async def test_a_document_convex_rejects_goes_dead_without_blocking_the_others(
        client, make_restaurant, open_guest, standin, db_sql, worker_factory):
    r = await make_restaurant()
    guest = await open_guest(r)
    await until(lambda: standin.versions("tables") == pg_versions(db_sql, "dining_tables"))
    standin.fault("down")
    orders = [expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
              for _ in range(6)]
    poisoned = orders[3]["id"]
    await until(lambda: set(outbox_statuses(db_sql)) <= {"failed", "synced"})
    standin.fault("reject", pgIds=[poisoned])
    worker = await open_worker(worker_factory, sync_max_attempts=3)
    for _ in range(4):
        await asyncio.sleep(0.25)
        await worker.run_pass()
    [dead] = db_sql("SELECT entity_id::text AS id, attempts, last_error FROM sync_log WHERE status = 'dead'")
    assert dead["id"] == poisoned
    assert dead["attempts"] == 3
    assert "rejected by convex" in dead["last_error"]
    assert set(standin.versions("orders")) == {o["id"] for o in orders} - {poisoned}
    assert db_sql("SELECT count(*) AS n FROM sync_log WHERE status NOT IN ('synced', 'dead')") == [{"n": 0}]


async def test_two_workers_at_once_never_push_the_same_row_and_lose_nothing(
        client, make_restaurant, open_guest, standin, db_sql, worker_factory):
    r = await make_restaurant()
    guest = await open_guest(r)
    await until(lambda: standin.versions("tables") == pg_versions(db_sql, "dining_tables"))
    standin.fault("down")
    orders = [expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
              for _ in range(120)]
    await until(lambda: set(outbox_statuses(db_sql)) <= {"failed", "synced"})
    standin.fault("ok")
    await asyncio.sleep(0.25)
    before = standin.stats()
    one = await open_worker(worker_factory, sync_batch_size=10)
    two = await open_worker(worker_factory, sync_batch_size=10)
    first, second = await asyncio.gather(one.run_pass(), two.run_pass())
    after = standin.stats()
    assert first.claimed > 0
    assert second.claimed > 0
    assert first.claimed + second.claimed == len(orders)
    # Each order's one change was applied exactly once: nothing went twice (stale), nothing was lost.
    assert after["applied"] - before["applied"] == len(orders)
    assert after["stale"] == before["stale"]
    assert_convex_equals_postgres(standin, db_sql)


async def test_the_sweep_pushes_what_an_api_that_died_after_commit_never_pushed(
        settings, make_restaurant, open_guest, standin, db_sql, worker_factory):
    # An API without a pusher is one that died between commit and push: rows stay pending.
    dead_api = create_app(settings, SyncSettings())
    async with dead_api.router.lifespan_context(dead_api):
        transport = httpx.ASGITransport(app=dead_api)
        async with httpx.AsyncClient(transport=transport, base_url="http://tabletop.test") as other:
            r = await make_restaurant()
            guest = await open_guest(r)
            for _ in range(5):
                expect(await other.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    pending = db_sql("SELECT count(*) AS n FROM sync_log WHERE status = 'pending' AND entity_type = 'order'")
    assert pending == [{"n": 5}]
    young = await open_worker(worker_factory, sync_grace_s=3600)
    assert (await young.run_pass()).claimed == 0  # within the grace period the API may still push them
    worker = await open_worker(worker_factory, sync_grace_s=0)
    await worker.run_pass()
    assert_convex_equals_postgres(standin, db_sql)
    assert set(outbox_statuses(db_sql)) == {"synced"}


async def test_a_lease_left_by_a_dead_pusher_expires_and_the_worker_takes_over(
        client, make_restaurant, open_guest, standin, db_sql, worker_factory):
    r = await make_restaurant()
    guest = await open_guest(r)
    await until(lambda: standin.versions("tables") == pg_versions(db_sql, "dining_tables"))
    standin.fault("hang")
    order = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    await until(lambda: outbox_statuses(db_sql).get("in_flight", 0) == 1)
    # The pusher holding the lease is gone (we simply expire its lease as death would).
    db_sql("UPDATE sync_log SET next_attempt_at = now() - interval '1 second', lease_owner = 'api-dead'"
           " WHERE status = 'in_flight'")
    standin.fault("ok")
    worker = await open_worker(worker_factory)
    report = await worker.run_pass()
    assert report.claimed == 1
    assert standin.versions("orders") == {order["id"]: 1}


async def test_the_worker_process_wakes_on_notify_instead_of_waiting_its_interval_and_stops_on_sigterm(
        client, make_restaurant, open_guest, standin, db_sql, app_conninfo, tmp_path):
    r = await make_restaurant()
    guest = await open_guest(r)
    await until(lambda: standin.versions("tables") == pg_versions(db_sql, "dining_tables"))
    env = {**os.environ, "DATABASE_URL": app_conninfo, "CONVEX_URL": standin.url, "CONVEX_DEPLOY_KEY": STANDIN_KEY,
           "SYNC_RETRY_INTERVAL_S": "3600", "SYNC_BACKOFF_BASE_S": "0.1", "SYNC_BACKOFF_MAX_S": "0.2",
           "LOG_FORMAT": "json", "WORKER_METRICS_PORT": "0", "SYNC_EPOCH_CHECK_S": "0"}
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(  # noqa: ASYNC220  # starting a process is instant; we await it below
        [sys.executable, "-m", "sync.worker"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        # Started once its connection has run LISTEN (a fixed sleep was flaky under load).
        await until(lambda: db_sql("SELECT count(*) AS n FROM pg_stat_activity"
                                   " WHERE datname = current_database() AND query ILIKE 'LISTEN%%'")[0]["n"] > 0,
                    timeout_s=30)
        standin.fault("error500", count=1)  # the API's one push fails, it NOTIFYs the worker
        order = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
        # With a one-hour interval, only the wake-up can have pushed it.
        await until(lambda: standin.versions("orders") == {order["id"]: 1}, timeout_s=15)
        # Convex has it before the worker records it: wait for the record too.
        await until(lambda: db_sql("SELECT status FROM sync_log WHERE entity_type = 'order'") == [
            {"status": "synced"}])
        assert db_sql("SELECT attempts FROM sync_log WHERE entity_type = 'order'") == [{"attempts": 1}]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()
    assert "worker_stopped" in (tmp_path / "worker.log").read_text()
