"""The sync health surface operators rely on, against the real outbox and the Convex
stand-in (a real process): a restaurant's sync status, the platform admins' error list and
retry, the sync gauges and push metrics on /metrics, and Convex keeping the newest state
when changes arrive out of order.

Who may call the sync status and the admin endpoints is the tenancy suite's subject
(tests/test_tenancy.py); here only the anonymous caller is checked on the admin endpoints.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from db import outbox
from db.pool import Database
from sync.convex import documents
from sync.convex.client import ConvexHttp
from sync.worker import Worker
from tests import test_sync
from tests.conftest import STANDIN_KEY, Guest, Restaurant, Standin, User, expect, order_body
from tests.test_sync import open_worker, pg_versions, until

# The sync tests' fixtures, used here by name: the API with its pusher pointed at the
# stand-in (app, sync_overrides) and a factory of workers (worker_factory).
app, sync_overrides, worker_factory = test_sync.app, test_sync.sync_overrides, test_sync.worker_factory

DbSql = Callable[..., list[dict[str, Any]]]
MakeWorker = Callable[..., Worker]
STATUSES = ("pending", "in_flight", "failed", "dead", "synced")
# Past the capped backoff of the sync tests' settings (0.2 s), so failed rows are due.
PAST_BACKOFF_S = 0.25


@pytest.fixture
async def admin(make_user: Callable[..., Any], db_sql: DbSql) -> User:
    user: User = await make_user()
    db_sql("UPDATE users SET is_platform_admin = true WHERE id = %s", (user.id,))
    return user




@pytest.fixture
async def convex(standin: Standin) -> AsyncIterator[ConvexHttp]:
    client = ConvexHttp(standin.url, STANDIN_KEY, timeout_s=5)
    yield client
    await client.close()


# ------------------------------------------------------------------------------ helpers


def settled(db_sql: DbSql) -> bool:
    """No row is waiting for the API's pusher or in its hands."""
    return db_sql("SELECT count(*) AS n FROM sync_log WHERE status IN ('pending', 'in_flight')") == [{"n": 0}]


def outbox_counts(db_sql: DbSql, restaurant_id: str) -> dict[str, int]:
    rows = db_sql("SELECT status, count(*) AS n FROM sync_log WHERE restaurant_id = %s GROUP BY status",
                  (restaurant_id,))
    return {status: 0 for status in STATUSES} | {r["status"]: r["n"] for r in rows}


def outbox_rows(db_sql: DbSql) -> list[dict[str, Any]]:
    return db_sql("SELECT * FROM sync_log ORDER BY id")


def row_of(db_sql: DbSql, entity_id: str) -> dict[str, Any]:
    [row] = db_sql("SELECT * FROM sync_log WHERE entity_id = %s", (entity_id,))
    return row


async def convex_status(client: httpx.AsyncClient, r: Restaurant) -> dict[str, Any]:
    body = expect(await client.get(r.url("/sync/status"), headers=r.owner.headers), 200)
    assert set(body["targets"]) == {"convex"}
    status: dict[str, Any] = body["targets"]["convex"]
    return status


def counts(status: dict[str, Any]) -> dict[str, int]:
    return {s: status[s] for s in STATUSES}


async def place(client: httpx.AsyncClient, r: Restaurant, guest: Guest) -> dict[str, Any]:
    return expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)


async def make_dead_order(client: httpx.AsyncClient, r: Restaurant, guest: Guest, standin: Standin,
                          db_sql: DbSql, worker_factory: MakeWorker) -> tuple[dict[str, Any], dict[str, Any]]:
    """An order whose outbox row is dead: its push failed while Convex was down, then a
    worker allowing two attempts had it rejected. The stand-in still rejects it on return."""
    await until(lambda: settled(db_sql))
    standin.fault("down")
    order = await place(client, r, guest)
    await until(lambda: row_of(db_sql, order["id"])["status"] == "failed")
    standin.fault("reject", pgIds=[order["id"]])
    worker = await open_worker(worker_factory, sync_max_attempts=2)
    await asyncio.sleep(PAST_BACKOFF_S)
    assert (await worker.run_pass()).dead == 1
    row = row_of(db_sql, order["id"])
    assert (row["status"], row["attempts"]) == ("dead", 2)
    return order, row


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, None when the series is absent."""
    return samples.get((name, tuple(sorted(labels.items()))))


def queue_gauges(samples: Samples) -> dict[str, float | None]:
    return {status: sample(samples, "sync_queue_depth", target="convex", status=status)
            for status in ("pending", "in_flight", "failed", "dead")}


def push_calls(samples: Samples) -> float:
    """Delivery calls of the API's Convex rounds (one applyBatch each, unless a rejection splits it)."""
    return sample(samples, "sync_push_duration_seconds_count", target="convex") or 0.0


def push_results(samples: Samples, outcome: str) -> float:
    return sample(samples, "sync_push_results_total", target="convex", outcome=outcome) or 0.0


# ----------------------------------------------------------------------- 1. sync status


async def test_sync_status_counts_the_outbox_through_a_healthy_push_an_outage_and_the_recovery(
        client: httpx.AsyncClient, make_restaurant: Any, open_guest: Any, standin: Standin, db_sql: DbSql,
        worker_factory: MakeWorker) -> None:
    r = await make_restaurant()
    other = await make_restaurant()  # its rows must never count for r
    guest = await open_guest(r)
    await until(lambda: settled(db_sql))
    setup = outbox_counts(db_sql, r.id)["synced"]
    assert setup > 0
    healthy = await convex_status(client, r)
    assert healthy == {"pending": 0, "in_flight": 0, "failed": 0, "dead": 0, "synced": setup,
                       "oldest_pending_seconds": None}

    standin.fault("down")
    started = time.monotonic()
    orders = [await place(client, r, guest)]
    first_placed = time.monotonic()
    orders += [await place(client, r, guest) for _ in range(2)]
    await until(lambda: settled(db_sql))
    await asyncio.sleep(0.3)
    asked = time.monotonic()
    outage = await convex_status(client, r)
    answered = time.monotonic()
    assert counts(outage) == {"pending": 0, "in_flight": 0, "failed": 3, "dead": 0, "synced": setup}
    assert counts(outage) == outbox_counts(db_sql, r.id)
    # The age of the first order's row, measured live (tolerance for the two clocks' reading).
    assert asked - first_placed - 0.25 <= outage["oldest_pending_seconds"] <= answered - started + 0.25
    assert outage["oldest_pending_seconds"] >= 0.3
    assert (await convex_status(client, other))["failed"] == 0

    standin.fault("ok")
    await asyncio.sleep(PAST_BACKOFF_S)
    worker = await open_worker(worker_factory)
    assert (await worker.run_pass()).synced == 3
    recovered = await convex_status(client, r)
    assert recovered == {"pending": 0, "in_flight": 0, "failed": 0, "dead": 0, "synced": setup + 3,
                         "oldest_pending_seconds": None}
    assert set(standin.versions("orders")) == {o["id"] for o in orders}


async def test_sync_status_counts_a_push_stuck_in_flight_as_unsynced_and_ages_it(
        client: httpx.AsyncClient, make_restaurant: Any, open_guest: Any, standin: Standin, db_sql: DbSql) -> None:
    r = await make_restaurant()
    guest = await open_guest(r)
    await until(lambda: settled(db_sql))
    standin.fault("hang")  # the push is sent and never answered (until the 2 s client timeout)
    await place(client, r, guest)
    await until(lambda: outbox_counts(db_sql, r.id)["in_flight"] == 1)
    await asyncio.sleep(0.1)
    status = await convex_status(client, r)
    assert (status["in_flight"], status["pending"], status["failed"]) == (1, 0, 0)
    assert status["oldest_pending_seconds"] is not None
    assert status["oldest_pending_seconds"] >= 0.1


# ------------------------------------------------------------------ 2. the error list


async def test_admins_list_failed_and_dead_rows_of_every_restaurant_with_their_last_error(
        client: httpx.AsyncClient, make_restaurant: Any, open_guest: Any, standin: Standin, db_sql: DbSql,
        worker_factory: MakeWorker, admin: User) -> None:
    a, b = await make_restaurant(), await make_restaurant()
    guest_a, guest_b = await open_guest(a), await open_guest(b)
    poisoned, _ = await make_dead_order(client, a, guest_a, standin, db_sql, worker_factory)
    standin.fault("down")
    failed = await place(client, b, guest_b)
    await until(lambda: settled(db_sql))

    body = expect(await client.get("/api/admin/sync/errors", headers=admin.headers), 200)
    expected = db_sql("SELECT id FROM sync_log WHERE status IN ('failed', 'dead') ORDER BY id DESC")
    assert [i["id"] for i in body["items"]] == [r["id"] for r in expected]
    assert len(body["items"]) == 2
    assert body["next_before_id"] is None
    by_entity = {i["entity_id"]: i for i in body["items"]}

    dead = by_entity[poisoned["id"]]
    assert {k: dead[k] for k in ("status", "attempts", "entity_type", "entity_version", "restaurant_id", "target")} \
        == {"status": "dead", "attempts": 2, "entity_type": "order", "entity_version": 1, "restaurant_id": a.id,
            "target": "convex"}
    assert dead["last_error"].startswith("rejected by convex: injected rejection of " + poisoned["id"])
    assert "injected_reject" in dead["last_error"]

    down = by_entity[failed["id"]]
    assert {k: down[k] for k in ("status", "attempts", "entity_type", "restaurant_id")} \
        == {"status": "failed", "attempts": 1, "entity_type": "order", "restaurant_id": b.id}
    assert down["last_error"].startswith("HTTP 503")


async def test_the_error_list_pages_newest_first_by_id_and_refuses_bad_queries(
        client: httpx.AsyncClient, make_restaurant: Any, open_guest: Any, standin: Standin, db_sql: DbSql,
        admin: User) -> None:
    r = await make_restaurant()
    guest = await open_guest(r)
    await until(lambda: settled(db_sql))
    standin.fault("down")
    for _ in range(5):
        await place(client, r, guest)
    await until(lambda: settled(db_sql))
    everything = expect(await client.get("/api/admin/sync/errors", headers=admin.headers), 200)
    ids = [i["id"] for i in everything["items"]]
    assert len(ids) == 5
    assert ids == sorted(ids, reverse=True)

    pages: list[list[int]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = expect(await client.get("/api/admin/sync/errors", headers=admin.headers, params=params), 200)
        pages.append([i["id"] for i in page["items"]])
        if page["next_before_id"] is None:
            break
        assert page["next_before_id"] == pages[-1][-1]
        params = {"limit": 2, "before_id": page["next_before_id"]}
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]

    for bad in ({"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"before_id": 0}, {"status": "pending"}):
        response = await client.get("/api/admin/sync/errors", headers=admin.headers, params=bad)
        assert response.status_code == 422, bad
        assert response.json()["code"] == "validation_error"


# ------------------------------------------------------------------------- 3. retry


async def test_a_retried_dead_row_is_due_again_with_a_fresh_budget_and_the_next_pass_delivers_it(
        client: httpx.AsyncClient, make_restaurant: Any, open_guest: Any, standin: Standin, db_sql: DbSql,
        worker_factory: MakeWorker, admin: User, admin_conninfo: str) -> None:
    r = await make_restaurant()
    guest = await open_guest(r)
    order, dead = await make_dead_order(client, r, guest, standin, db_sql, worker_factory)
    standin.fault("ok")
    worker = await open_worker(worker_factory, sync_max_attempts=2)
    await asyncio.sleep(PAST_BACKOFF_S)
    assert (await worker.run_pass()).claimed == 0  # a dead row is never due on its own
    assert order["id"] not in standin.versions("orders")
    before = outbox_rows(db_sql)

    async with await psycopg.AsyncConnection.connect(admin_conninfo, autocommit=True) as listener:
        await listener.execute("LISTEN sync_wake")
        response = await client.post(f"/api/admin/sync/errors/{dead['id']}/retry", headers=admin.headers)
        answer = expect(response, 202)
        assert answer == {"id": dead["id"], "status": "failed", "attempts": 0, "due": "now",
                          "recorded": {**answer["recorded"], "action": "retry", "actor": f"user:{admin.id}"}}
        wakes = [n.payload async for n in listener.notifies(timeout=5, stop_after=1)]
    assert wakes == ["convex"]

    after = outbox_rows(db_sql)
    assert [row for row in after if row["id"] != dead["id"]] == [row for row in before if row["id"] != dead["id"]]
    [retried] = [row for row in after if row["id"] == dead["id"]]
    [due] = db_sql("SELECT next_attempt_at <= now() AS due FROM sync_log WHERE id = %s", (dead["id"],))
    assert due["due"]
    assert retried == {**dead, "status": "failed", "attempts": 0, "next_attempt_at": retried["next_attempt_at"],
                       "updated_at": retried["updated_at"]}

    report = await worker.run_pass()
    assert (report.claimed, report.synced) == (1, 1)
    synced = row_of(db_sql, order["id"])
    assert (synced["status"], synced["attempts"], synced["last_error"]) == ("synced", 0, None)
    assert standin.versions("orders")[order["id"]] == pg_versions(db_sql, "orders")[order["id"]] == 1


async def test_retrying_a_row_that_is_not_failed_or_dead_is_not_found_and_changes_nothing(
        client: httpx.AsyncClient, make_restaurant: Any, db_sql: DbSql, admin: User) -> None:
    r = await make_restaurant()
    await until(lambda: settled(db_sql))
    [synced] = db_sql("SELECT max(id) AS id FROM sync_log WHERE status = 'synced'")
    # A manual change with no API to push it leaves a pending row.
    db_sql("UPDATE menu_items SET price = price + 1 WHERE restaurant_id = %s AND name = 'Paneer Tikka'", (r.id,))
    [pending] = db_sql("SELECT id FROM sync_log WHERE status = 'pending'")
    before = outbox_rows(db_sql)
    unknown = before[-1]["id"] + 1000
    for row_id in (synced["id"], pending["id"], unknown, 0, 2**70):
        response = await client.post(f"/api/admin/sync/errors/{row_id}/retry", headers=admin.headers)
        assert response.status_code == 404, row_id
        assert response.json()["code"] == "not_found"
    for not_an_id in ("abc", "1.5", "-1", "%20"):
        response = await client.post(f"/api/admin/sync/errors/{not_an_id}/retry", headers=admin.headers)
        assert response.status_code == 404, not_an_id
        assert response.headers["content-type"] == "application/problem+json"
    for method, url in (("GET", "/api/admin/sync/errors"), ("POST", f"/api/admin/sync/errors/{pending['id']}/retry")):
        response = await client.request(method, url)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
    assert outbox_rows(db_sql) == before


# ----------------------------------------------------------------------- 4. /metrics


async def test_metrics_report_the_queue_dead_rows_and_every_push_as_the_outbox_changes(
        client: httpx.AsyncClient, make_restaurant: Any, open_guest: Any, standin: Standin, db_sql: DbSql,
        worker_factory: MakeWorker, admin: User) -> None:
    r = await make_restaurant()
    guest = await open_guest(r)
    await until(lambda: settled(db_sql))

    healthy = await scrape(client)
    assert queue_gauges(healthy) == {"pending": 0, "in_flight": 0, "failed": 0, "dead": 0}
    assert sample(healthy, "sync_oldest_pending_seconds", target="convex") == 0
    assert sample(healthy, "sync_dead_rows", target="convex") == 0
    # So far the API's pusher made every call the stand-in received, and each one succeeded.
    stats = standin.stats()
    assert push_calls(healthy) == stats["mutationCalls"] > 0
    assert sample(healthy, "sync_push_duration_seconds_bucket", target="convex", le="+Inf") == stats["mutationCalls"]
    assert push_results(healthy, "delivered") == stats["applied"] == outbox_counts(db_sql, r.id)["synced"]
    assert push_results(healthy, "retry") == 0

    standin.fault("down")
    calls_before = standin.stats()["mutationCalls"]
    for _ in range(2):
        await place(client, r, guest)
    await until(lambda: settled(db_sql))
    await asyncio.sleep(0.1)
    outage = await scrape(client)
    assert queue_gauges(outage) == {"pending": 0, "in_flight": 0, "failed": 2, "dead": 0}
    assert (sample(outage, "sync_oldest_pending_seconds", target="convex") or 0) >= 0.1
    assert push_calls(outage) - push_calls(healthy) == standin.stats()["mutationCalls"] - calls_before > 0
    assert push_results(outage, "delivered") == push_results(healthy, "delivered")
    assert push_results(outage, "retry") == 2

    order, dead = await make_dead_order(client, r, guest, standin, db_sql, worker_factory)
    # The worker pushed the other failed row and retired this one; its pushes are its own
    # process's metrics, so the API's push counters stand still while the gauges move.
    with_dead = await scrape(client)
    assert queue_gauges(with_dead) == {"pending": 0, "in_flight": 0, "failed": 0, "dead": 1}
    assert sample(with_dead, "sync_dead_rows", target="convex") == 1
    assert sample(with_dead, "sync_oldest_pending_seconds", target="convex") == 0  # a dead row waits for no one

    standin.fault("ok")
    expect(await client.post(f"/api/admin/sync/errors/{dead['id']}/retry", headers=admin.headers), 202)
    retried = await scrape(client)
    assert queue_gauges(retried) == {"pending": 0, "in_flight": 0, "failed": 1, "dead": 0}
    assert sample(retried, "sync_dead_rows", target="convex") == 0
    assert (await (await open_worker(worker_factory)).run_pass()).synced == 1

    delivered_before = push_results(retried, "delivered")
    await place(client, r, guest)
    await until(lambda: settled(db_sql))
    recovered = await scrape(client)
    assert queue_gauges(recovered) == {"pending": 0, "in_flight": 0, "failed": 0, "dead": 0}
    assert sample(recovered, "sync_dead_rows", target="convex") == 0
    assert sample(recovered, "sync_oldest_pending_seconds", target="convex") == 0
    assert push_results(recovered, "delivered") == delivered_before + 1
    assert push_calls(recovered) == push_calls(retried) + 1
    assert standin.versions("orders")[order["id"]] == 1


# ------------------------------------------------------------ 5. out-of-order delivery


async def apply(convex: ConvexHttp, *changes: dict[str, Any]) -> list[str]:
    value = await convex.mutation("sync:applyBatch", {"changes": list(changes)})
    return [result["result"] for result in value["results"]]


async def current_row(db: Database, entity_type: str, entity_id: str) -> dict[str, Any] | None:
    async with db.system() as conn:
        return (await outbox.convex_rows(conn, entity_type, [UUID(entity_id)])).get(UUID(entity_id))


async def test_convex_keeps_an_orders_newest_state_when_older_changes_and_a_late_upsert_arrive_after_it(
        client: httpx.AsyncClient, make_restaurant: Any, open_guest: Any, standin: Standin, db_sql: DbSql,
        system_db: Database, convex: ConvexHttp) -> None:
    r = await make_restaurant()
    guest = await open_guest(r)
    order = await place(client, r, guest)
    [v1_row] = db_sql("SELECT * FROM sync_log WHERE entity_id = %s", (order["id"],))
    v1 = documents.change("order", v1_row, await current_row(system_db, "order", order["id"]))
    expect(await client.post(r.url(f"/orders/{order['id']}/status"), headers=r.owner.headers,
                             json={"status": "confirmed"}), 200)
    v2 = documents.change("order", v1_row, await current_row(system_db, "order", order["id"]))
    assert (v1["version"], v1["doc"]["status"], v2["version"], v2["doc"]["status"]) == (1, "pending", 2, "confirmed")
    await until(lambda: settled(db_sql))
    standin.reset()  # an empty Convex: from here on only this test delivers

    assert await apply(convex, v2) == ["applied"]
    assert await apply(convex, v1) == ["stale"]
    assert await apply(convex, v2, v1) == ["stale", "stale"]
    [doc] = standin.dump()["orders"]
    assert (doc["pgId"], doc["status"], doc["version"]) == (order["id"], "confirmed", 2)

    db_sql("DELETE FROM orders WHERE id = %s", (order["id"],))
    [delete_row] = db_sql("SELECT * FROM sync_log WHERE entity_id = %s AND status = 'pending'", (order["id"],))
    deletion = documents.change("order", delete_row, await current_row(system_db, "order", order["id"]))
    assert (deletion["op"], deletion["version"]) == ("delete", 3)
    assert await apply(convex, deletion) == ["deleted"]
    assert await apply(convex, v2) == ["stale"]  # the late upsert does not bring the order back
    assert await apply(convex, deletion) == ["stale"]
    dump = standin.dump()
    assert dump["orders"] == []
    assert [(t["entity"], t["pgId"], t["version"]) for t in dump["tombstones"]] == [("orders", order["id"], 3)]
    assert standin.stats()["stale"] == 5


async def test_convex_keeps_a_deleted_menu_item_deleted_when_its_earlier_upsert_arrives_late(
        client: httpx.AsyncClient, make_restaurant: Any, standin: Standin, db_sql: DbSql, system_db: Database,
        convex: ConvexHttp) -> None:
    r = await make_restaurant()
    item = r.items["Dal Makhani"]
    await until(lambda: settled(db_sql))
    key = {"entity_id": item["id"], "restaurant_id": r.id, "entity_version": item["version"]}
    upsert = documents.change("menu_item", key, await current_row(system_db, "menu_item", item["id"]))
    expect(await client.delete(r.url(f"/menu/items/{item['id']}"), headers=r.owner.headers), 204)
    deletion = documents.change("menu_item", key, await current_row(system_db, "menu_item", item["id"]))
    assert (upsert["op"], deletion["op"]) == ("upsert", "delete")
    assert deletion["version"] > upsert["version"]
    await until(lambda: settled(db_sql))
    standin.reset()

    assert await apply(convex, deletion) == ["deleted"]
    assert await apply(convex, upsert) == ["stale"]
    assert standin.dump()["menuItems"] == []
