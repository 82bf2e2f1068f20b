"""A restaurant's menu on Uber Eats: connecting its store (credentials checked with Uber,
sealed, never answered), publishing through the outbox to the Uber Eats stand-in (a real
process speaking Uber's wire format), coalescing bursts of edits, suspending an item
without a full upload, Uber's refusals and rate limits recorded and retried, tenancy."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from api.credentials import credential_box
from db.outbox import Backoff
from db.pool import Database
from sync.config import SyncSettings
from sync.platform.target import PlatformTarget
from sync.registry import build_targets
from sync.target import Policy
from sync.ubereats.adapter import UberEatsAdapter
from sync.ubereats.client import UberEatsClient
from tests.conftest import UBER_CLIENT, UBER_STORE_ID, Restaurant, Served, UberStandin, expect

DbSql = Callable[..., list[dict[str, Any]]]


@pytest.fixture
async def app(settings: Settings, ubereats_standin: UberStandin) -> AsyncIterator[Starlette]:
    """The API with Uber Eats pointed at the stand-in."""
    application = create_app(settings, platform_env=ubereats_standin.env)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def uber(app_conninfo: str, settings: Settings, ubereats_standin: UberStandin) -> AsyncIterator[Served]:
    """The ubereats target as the worker runs it (no debounce here: rounds are driven by the tests)."""
    db = Database(app_conninfo, min_size=1, max_size=4)
    await db.open(wait=True)
    target = PlatformTarget(db, UberEatsAdapter(UberEatsClient(ubereats_standin.url, ubereats_standin.url,
                                                                timeout_s=3)),
                            credential_box(settings), name="ubereats",
                            policy=Policy(batch_size=500, lease_s=5, backoff=Backoff(0.05, 0.2, 3)))
    served = Served(db, target)
    yield served
    await served.close()
    await db.close()


async def connect(client: httpx.AsyncClient, r: Restaurant, **body: Any) -> httpx.Response:
    return await client.put(r.url("/integrations/ubereats"), headers=r.owner.headers,
                            json={"store_id": UBER_STORE_ID, **UBER_CLIENT, **body})


def uploads(standin: UberStandin) -> list[dict[str, Any]]:
    return [c for c in standin.calls() if c["name"] == "menus"]


def rows(db_sql: DbSql) -> list[dict[str, Any]]:
    return db_sql("SELECT entity_type, status, attempts, last_error, next_attempt_at - now() AS due_in"
                  " FROM sync_log WHERE target = 'ubereats' ORDER BY id")


async def test_a_wrong_secret_is_a_clear_422_and_nothing_is_stored(client, make_restaurant, ubereats_standin, db_sql):
    ubereats_standin.register()
    r = await make_restaurant()
    refused = await connect(client, r, client_secret="not-the-secret")
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_credentials"
    assert "not-the-secret" not in refused.text
    assert expect(await client.get(r.url("/integrations/ubereats"), headers=r.owner.headers), 200) == {
        "connected": False, "platform": "ubereats"}
    assert db_sql("SELECT count(*) AS n FROM platform_connections") == [{"n": 0}]
    assert rows(db_sql) == []


async def test_connecting_publishes_the_whole_menu_and_the_state_reads_back(
        client, make_restaurant, ubereats_standin, uber, db_sql):
    ubereats_standin.register()
    r = await make_restaurant()
    connected = expect(await connect(client, r), 200)
    assert connected["store_id"] == UBER_STORE_ID and connected["menu"]["status"] == "pending"
    assert connected["webhook_url"] == "http://tabletop.test/api/webhooks/ubereats"  # to register with Uber
    assert UBER_CLIENT["client_secret"] not in str(connected)
    [stored] = db_sql("SELECT credentials FROM platform_connections")
    assert UBER_CLIENT["client_secret"].encode() not in bytes(stored["credentials"])

    report = await uber.round()
    assert report.synced == 1
    menu = ubereats_standin.menu()
    assert menu is not None
    titles = {i["title"]["translations"]["en_us"]: i for i in menu["items"]}
    assert set(titles) == {"Paneer Tikka", "Dal Makhani", "Seasonal Special"}
    assert titles["Paneer Tikka"]["price_info"]["price"] == 25000
    assert titles["Seasonal Special"]["suspension_info"]["suspension"]["suspend_until"] > 0  # unavailable here
    state = expect(await client.get(r.url("/integrations/ubereats"), headers=r.owner.headers), 200)["menu"]
    assert state["status"] == "synced" and state["item_count"] == 3 and state["error"] is None


async def test_two_hundred_edits_go_as_one_publish_of_the_final_menu(
        client, make_restaurant, ubereats_standin, uber, db_sql):
    ubereats_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    await uber.round()
    before = len(uploads(ubereats_standin))
    items = list(r.items.values())
    for n in range(200):
        item = items[n % 2]
        expect(await client.patch(r.url(f"/menu/items/{item['id']}"), headers=r.owner.headers,
                                  json={"price": 10_000 + n}), 200)
    # The outbox holds one pending row per edited item, not 200 rows.
    assert [row["status"] for row in rows(db_sql)].count("pending") == 2
    assert (await uber.round()).synced == 2
    assert len(uploads(ubereats_standin)) == before + 1
    prices = {i["id"]: i["price_info"]["price"] for i in ubereats_standin.menu()["items"]}  # type: ignore[index]
    assert prices[items[0]["id"]] == 10_198 and prices[items[1]["id"]] == 10_199


async def test_edits_wait_out_the_debounce_window(app_conninfo, settings, client, make_restaurant, ubereats_standin,
                                                  uber, db_sql):
    ubereats_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    debounced = PlatformTarget(uber.db, UberEatsAdapter(UberEatsClient(ubereats_standin.url, ubereats_standin.url)),
                               credential_box(settings), name="ubereats",
                               policy=Policy(batch_size=500, lease_s=5, backoff=uber.target.policy.backoff,
                                             grace_s=60))
    report = await Served(uber.db, debounced).round()
    assert report.claimed == 0 and uploads(ubereats_standin) == []
    await debounced.close()


async def test_an_availability_change_alone_suspends_the_item_without_a_full_upload(
        client, make_restaurant, ubereats_standin, uber):
    ubereats_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    await uber.round()
    item = r.items["Dal Makhani"]
    expect(await client.put(r.url(f"/menu/items/{item['id']}/availability"), headers=r.owner.headers,
                            json={"is_available": False}), 200)
    before = ubereats_standin.calls()
    assert (await uber.round()).synced == 1
    new_calls = ubereats_standin.calls()[len(before):]
    assert [(c["name"], c["status"]) for c in new_calls if c["name"] != "token"] == [("items", 204)]
    stored = {i["id"]: i for i in ubereats_standin.menu()["items"]}  # type: ignore[index]
    assert stored[item["id"]]["suspension_info"]["suspension"]["suspend_until"] > 0
    # Back on: unsuspended the same way.
    expect(await client.put(r.url(f"/menu/items/{item['id']}/availability"), headers=r.owner.headers,
                            json={"is_available": True}), 200)
    assert (await uber.round()).synced == 1
    stored = {i["id"]: i for i in ubereats_standin.menu()["items"]}  # type: ignore[index]
    assert not (stored[item["id"]].get("suspension_info") or {}).get("suspension", {}).get("suspend_until")


async def test_a_rate_limit_is_honoured_and_a_refusal_is_recorded_then_retried_after_the_fix(
        client, make_restaurant, ubereats_standin, uber, db_sql):
    ubereats_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    ubereats_standin.fault("http429", count=1, paths=["menus"], retry_after=7)
    report = await uber.round()
    assert report.failed == 1
    [row] = rows(db_sql)
    assert row["status"] == "failed" and "429" in row["last_error"]
    assert row["due_in"].total_seconds() > 5  # Uber's Retry-After, not our 50 ms backoff
    state = expect(await client.get(r.url("/integrations/ubereats"), headers=r.owner.headers), 200)["menu"]
    assert state["status"] == "failed" and "429" in state["error"] and state["retry_count"] == 1

    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'ubereats'")
    ubereats_standin.fault("reject", count=1, paths=["menus"])
    assert (await uber.round()).failed == 1
    [row] = rows(db_sql)
    assert "400" in row["last_error"]
    [conn] = db_sql("SELECT last_response, last_error FROM platform_connections")
    assert conn["last_response"] is not None and "400" in conn["last_error"]  # the platform's own answer kept

    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'ubereats'")
    assert (await uber.round()).synced == 1
    state = expect(await client.get(r.url("/integrations/ubereats"), headers=r.owner.headers), 200)["menu"]
    assert state["status"] == "synced" and state["retry_count"] == 0 and state["error"] is None


async def test_an_unreachable_uber_is_retried_with_backoff(client, make_restaurant, ubereats_standin, uber, db_sql):
    ubereats_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    ubereats_standin.fault("http500", count=1, paths=["menus"])
    report = await uber.round()
    assert report.failed == 1 and report.dead == 0
    [row] = rows(db_sql)
    assert row["status"] == "failed" and "500" in row["last_error"]
    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'ubereats'")
    assert (await uber.round()).synced == 1


async def test_a_disconnected_store_gets_nothing_more(client, make_restaurant, ubereats_standin, uber, db_sql):
    ubereats_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    assert (await client.delete(r.url("/integrations/ubereats"), headers=r.owner.headers)).status_code == 204
    report = await uber.round()
    assert report.skipped == 1 and uploads(ubereats_standin) == []
    expect(await client.patch(r.url(f"/menu/items/{r.items['Dal Makhani']['id']}"), headers=r.owner.headers,
                              json={"price": 999}), 200)
    assert [row["status"] for row in rows(db_sql)] == ["synced"]  # no new row for a store no longer connected


async def test_another_restaurant_can_neither_see_nor_take_the_store(client, make_restaurant, make_user,
                                                                     ubereats_standin, uber):
    ubereats_standin.register()
    a, b = await make_restaurant(), await make_restaurant()
    expect(await connect(client, a), 200)
    # B's owner on A's integration: refused before anything is read or called.
    for response in (await client.get(a.url("/integrations/ubereats"), headers=b.owner.headers),
                     await client.put(a.url("/integrations/ubereats"), headers=b.owner.headers,
                                      json={"store_id": "x", **UBER_CLIENT}),
                     await client.delete(a.url("/integrations/ubereats"), headers=b.owner.headers)):
        assert response.status_code in (403, 404)
    taken = await connect(client, b)
    assert taken.status_code == 409 and taken.json()["code"] == "store_taken"
    assert expect(await client.get(a.url("/integrations/ubereats"), headers=a.owner.headers), 200)["connected"]
    # A staff member of A may not connect stores.
    staff = await make_user()
    assert (await client.put(b.url("/integrations/ubereats"), headers=staff.headers,
                             json={"store_id": "y", **UBER_CLIENT})).status_code in (403, 404)


@pytest.mark.parametrize("body", [
    {"store_id": "bad store id"}, {"store_id": "x" * 129}, {"client_secret": "with space"}, {"client_id": ""},
    {"store_id": 5}, {"client_secret": "a\x00b"}, {"extra": 1},
])
async def test_bad_bodies_are_422_and_call_nobody(client, make_restaurant, ubereats_standin, body, db_sql):
    ubereats_standin.register()
    r = await make_restaurant()
    response = await connect(client, r, **body)
    assert response.status_code == 422
    assert [c for c in ubereats_standin.calls() if c["name"] == "token"] == []
    assert db_sql("SELECT count(*) AS n FROM platform_connections") == [{"n": 0}]


async def test_refresh_queues_a_full_publish(client, make_restaurant, ubereats_standin, uber):
    ubereats_standin.register()
    r = await make_restaurant()
    assert (await client.post(r.url("/integrations/ubereats/refresh"), headers=r.owner.headers)).status_code == 404
    expect(await connect(client, r), 200)
    await uber.round()
    expect(await client.post(r.url("/integrations/ubereats/refresh"), headers=r.owner.headers), 202)
    assert (await uber.round()).synced == 1
    # Nothing changed since the last publish: the same menu goes again in full (a refresh is a full upload).
    assert len(uploads(ubereats_standin)) == 2


async def test_the_worker_serves_menus_debounced_and_orders_at_once(app_conninfo):
    """The registry builds both of the platform's targets: menus wait UBEREATS_DEBOUNCE_S, orders nothing."""
    env = {"PETPOOJA_CREDENTIALS_KEY": base64.b64encode(os.urandom(32)).decode(), "UBEREATS_DEBOUNCE_S": "7"}
    db = Database(app_conninfo, min_size=1, max_size=1)
    targets = build_targets(db, SyncSettings(), env)
    try:
        assert targets["ubereats"].policy.grace_s == 7
        assert targets["ubereats_orders"].policy.grace_s == 0
    finally:
        for target in targets.values():
            await target.close()


async def test_operators_see_a_platforms_refusal_filtered_by_restaurant_and_target_and_retry_it(
        client, make_restaurant, make_user, ubereats_standin, uber, db_sql):
    ubereats_standin.register()
    refused, other = await make_restaurant(), await make_restaurant()
    expect(await connect(client, refused), 200)
    ubereats_standin.fault("reject", count=1, paths=["menus"])
    assert (await uber.round()).failed == 1
    # Another restaurant's failed row of another target, which the filters must leave out.
    db_sql("INSERT INTO sync_log (restaurant_id, target, entity_type, entity_id, entity_version, status, last_error)"
           " VALUES (%s, 'convex', 'order', gen_random_uuid(), 1, 'failed', 'elsewhere')", (other.id,))
    admin = await make_user()
    db_sql("UPDATE users SET is_platform_admin = true WHERE id = %s", (admin.id,))
    listed = expect(await client.get("/api/admin/sync/errors", headers=admin.headers,
                                     params={"restaurant_id": refused.id, "target": "ubereats"}), 200)["items"]
    assert [(e["target"], e["entity_type"]) for e in listed] == [("ubereats", "menu")]
    assert "400" in listed[0]["last_error"]
    assert expect(await client.get("/api/admin/sync/errors", headers=admin.headers,
                                   params={"target": "convex"}), 200)["items"][0]["last_error"] == "elsewhere"
    for bad in ({"target": "Not A Target"}, {"restaurant_id": "nope"}):
        assert (await client.get("/api/admin/sync/errors", headers=admin.headers, params=bad)).status_code == 422
    expect(await client.post(f"/api/admin/sync/errors/{listed[0]['id']}/retry", headers=admin.headers), 202)
    assert (await uber.round()).synced == 1
