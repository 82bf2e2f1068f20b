"""DoorDash orders in: DoorDash's webhook (its store's Bearer token, replays harmless, strangers
and forgeries refused with nothing written), then the doordash_orders target creating ours from
the order the webhook carried (on the kitchen screen like any order) and confirming it back, or
failing it back naming the items; our cancellation goes to DoorDash's cancellation endpoint,
DoorDash's own cancels ours and is not sent back; another store's token touches nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from api.credentials import credential_box
from db.outbox import Backoff
from db.pool import Database
from sync.doordash.adapter import DoorDashAdapter
from sync.doordash.client import DoorDashClient
from sync.platform.target import PlatformTarget
from sync.target import Policy
from tests.conftest import DOORDASH_CREDENTIALS, DOORDASH_STORE_ID, DoorDashStandin, Restaurant, Served, expect

WEBHOOK = "/api/webhooks/doordash"


@pytest.fixture
async def app(settings: Settings, doordash_standin: DoorDashStandin) -> AsyncIterator[Starlette]:
    application = create_app(settings, platform_env=doordash_standin.env)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def dd_db(app_conninfo: str) -> AsyncIterator[Database]:
    db = Database(app_conninfo, min_size=1, max_size=4)
    await db.open(wait=True)
    yield db
    await db.close()


def _served(db: Database, settings: Settings, standin: DoorDashStandin, name: str) -> Served:
    adapter = DoorDashAdapter(DoorDashClient(standin.url, "tabletop", timeout_s=3), currency="INR")
    return Served(db, PlatformTarget(db, adapter, credential_box(settings), name=name,
                                     policy=Policy(batch_size=500, lease_s=5, backoff=Backoff(0.05, 0.2, 3))))


@pytest.fixture
async def dd_menus(dd_db: Database, settings: Settings, doordash_standin: DoorDashStandin) -> AsyncIterator[Served]:
    served = _served(dd_db, settings, doordash_standin, "doordash")
    yield served
    await served.close()


@pytest.fixture
async def dd(dd_db: Database, settings: Settings, doordash_standin: DoorDashStandin) -> AsyncIterator[Served]:
    """The order target."""
    served = _served(dd_db, settings, doordash_standin, "doordash_orders")
    yield served
    await served.close()


@pytest.fixture
async def connected(client: httpx.AsyncClient, make_restaurant: Any, doordash_standin: DoorDashStandin,
                    dd_menus: Served) -> Restaurant:
    """A restaurant (INR) whose store has its menu on DoorDash."""
    doordash_standin.register()
    r: Restaurant = await make_restaurant()
    expect(await client.put(r.url("/integrations/doordash"), headers=r.owner.headers,
                            json={"store_id": DOORDASH_STORE_ID, **DOORDASH_CREDENTIALS}), 200)
    assert (await dd_menus.round()).synced == 1
    return r


async def deliver(client: httpx.AsyncClient, standin: DoorDashStandin, order_id: str, kind: str = "order",
                  **options: Any) -> httpx.Response:
    """DoorDash's webhook for the order, exactly as the stand-in sends it, posted to the API."""
    sent = standin.webhook_request("http://api.test" + WEBHOOK, order_id, kind, **options)
    return await client.post(WEBHOOK, content=sent["body"].encode(), headers=sent["headers"])


def line(item: dict[str, Any], quantity: int = 1, price: int | None = None) -> dict[str, Any]:
    return {"merchant_supplied_id": item["id"], "name": item["name"], "quantity": quantity,
            "price": item["price"] if price is None else price}


def counts(db_sql: Any) -> dict[str, int]:
    return {table: db_sql(f"SELECT count(*) AS n FROM {table}")[0]["n"]  # noqa: S608  # fixed table names
            for table in ("platform_webhook_events", "platform_orders", "orders")}


async def test_a_doordash_order_becomes_ours_and_is_confirmed_back(client, connected, doordash_standin, dd, db_sql):
    r = connected
    placed = doordash_standin.create_order(items=[line(r.items["Paneer Tikka"], 2), line(r.items["Dal Makhani"])])
    answer = await deliver(client, doordash_standin, placed["id"])
    assert answer.status_code == 200 and answer.content == b""
    assert db_sql("SELECT state, order_id, external_id FROM platform_orders") == [
        {"state": "received", "order_id": None, "external_id": placed["id"]}]

    assert (await dd.round()).synced == 1
    [taken] = db_sql("SELECT state, order_id, platform_total, totals_differ, error FROM platform_orders")
    assert taken["state"] == "accepted" and taken["error"] is None and taken["totals_differ"] is False
    assert taken["platform_total"] == 2 * 25000 + 18050
    [order] = db_sql("SELECT order_type, total, currency, customer_name FROM orders WHERE id = %s",
                     (taken["order_id"],))
    assert order == {"order_type": "delivery", "total": 68050, "currency": "INR", "customer_name": "Kelley B"}
    assert db_sql("SELECT actor_type FROM order_events WHERE order_id = %s", (taken["order_id"],)) == [
        {"actor_type": "doordash"}]
    [dd_side] = doordash_standin.orders()
    assert dd_side["status"] == "CONFIRMED"
    assert dd_side["actions"][0]["body"] == {"merchant_supplied_id": str(taken["order_id"]),
                                             "order_status": "success"}


async def test_a_pickup_order_is_a_takeaway(client, connected, doordash_standin, dd, db_sql):
    placed = doordash_standin.create_order(items=[line(connected.items["Dal Makhani"])], is_pickup=True)
    assert (await deliver(client, doordash_standin, placed["id"])).status_code == 200
    await dd.round()
    assert db_sql("SELECT order_type FROM orders") == [{"order_type": "takeaway"}]


async def test_a_replayed_webhook_does_nothing_again(client, connected, doordash_standin, dd, db_sql):
    placed = doordash_standin.create_order(items=[line(connected.items["Dal Makhani"])])
    for _ in range(3):
        assert (await deliver(client, doordash_standin, placed["id"])).status_code == 200
    assert counts(db_sql) == {"platform_webhook_events": 1, "platform_orders": 1, "orders": 0}
    assert (await dd.round()).synced == 1
    assert (await deliver(client, doordash_standin, placed["id"])).status_code == 200
    await dd.round()
    assert counts(db_sql)["orders"] == 1
    assert [a["action"] for a in doordash_standin.orders()[0]["actions"]] == ["confirm"]


@pytest.mark.parametrize("forgery", ["wrong token", "no token", "basic scheme", "unknown store"])
async def test_a_forged_or_stranger_webhook_is_401_and_writes_nothing(client, connected, doordash_standin, forgery,
                                                                      db_sql):
    if forgery == "unknown store":
        doordash_standin.register(("someone-elses-store",), developer_id="dev-2", key_id="key-2")
    store = "someone-elses-store" if forgery == "unknown store" else DOORDASH_STORE_ID
    placed = doordash_standin.create_order(store_id=store, items=[line(connected.items["Dal Makhani"])])
    sent = doordash_standin.webhook_request("http://api.test" + WEBHOOK, placed["id"],
                                            **({"token": "guess"} if forgery == "wrong token" else {}))
    headers = dict(sent["headers"])
    if forgery == "no token":
        del headers["Authorization"]
    if forgery == "basic scheme":
        headers["Authorization"] = headers["Authorization"].replace("Bearer", "Basic")
    response = await client.post(WEBHOOK, content=sent["body"].encode(), headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"
    assert counts(db_sql) == {"platform_webhook_events": 0, "platform_orders": 0, "orders": 0}


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b"{}", b'{"event": {"type": "OrderCreate"}}',
    b'{"event": {"type": "OrderCreate"}, "order": {"id": "a b", "store": {"merchant_supplied_id": "s"}}}',
    b'{"event": {"type": "OrderCreate"}, "order": {"id": "o\\u0000", "store": {"merchant_supplied_id": "s"}}}',
    b'{"event": {"type": "OrderCreate"}, "order": {"id": "o", "store": {"merchant_supplied_id": 5}}}',
    b'{"event": {"type": "Order Create!"}, "store": {"merchant_supplied_id": "s"}}',
    b'{"external_order_id": "o"}',
    b'{"event": {"type": "MenuCreate", "status": "SUCCESS"}, "store": {"merchant_supplied_id": "'
    + b"x" * 5000 + b'"}}',
])
async def test_a_malformed_event_is_400(client, connected, body, db_sql):
    response = await client.post(WEBHOOK, content=body, headers={"Content-Type": "application/json",
                                                                 "Authorization": "Bearer x"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_event"
    assert counts(db_sql)["platform_webhook_events"] == 0


async def test_an_order_we_cannot_make_is_failed_back_naming_the_items(client, connected, doordash_standin, dd,
                                                                       db_sql):
    sold_out = connected.items["Seasonal Special"]  # unavailable here
    placed = doordash_standin.create_order(items=[
        line(connected.items["Dal Makhani"]), line(sold_out),
        {"merchant_supplied_id": "not-our-item", "name": "Mystery", "quantity": 1, "price": 100}])
    assert (await deliver(client, doordash_standin, placed["id"])).status_code == 200
    assert (await dd.round()).synced == 1
    [taken] = db_sql("SELECT state, order_id, error FROM platform_orders")
    assert taken["state"] == "denied" and taken["order_id"] is None
    assert "not-our-item" in taken["error"] and sold_out["id"] in taken["error"]
    assert counts(db_sql)["orders"] == 0
    [dd_side] = doordash_standin.orders()
    assert dd_side["status"] == "FAILED"
    body = dd_side["actions"][0]["body"]
    assert body["order_status"] == "fail" and "Mystery (not-our-item)" in body["failure_reason"]


async def test_a_failed_confirmation_is_retried_without_creating_the_order_twice(client, connected,
                                                                               doordash_standin, dd, db_sql):
    placed = doordash_standin.create_order(items=[line(connected.items["Dal Makhani"], 3)])
    assert (await deliver(client, doordash_standin, placed["id"])).status_code == 200
    doordash_standin.fault("http500", count=1, paths=["confirm"])
    assert (await dd.round()).failed == 1
    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'doordash_orders'")
    assert (await dd.round()).synced == 1
    assert db_sql("SELECT state FROM platform_orders") == [{"state": "accepted"}]
    assert counts(db_sql)["orders"] == 1


async def _taken(client: httpx.AsyncClient, r: Restaurant, standin: DoorDashStandin, dd: Served,
                 db_sql: Any) -> tuple[dict[str, Any], str]:
    """A DoorDash order taken here: (DoorDash's order, our order id)."""
    placed = standin.create_order(items=[line(r.items["Dal Makhani"])])
    assert (await deliver(client, standin, placed["id"])).status_code == 200
    assert (await dd.round()).synced == 1
    [taken] = db_sql("SELECT order_id FROM platform_orders")
    return placed, str(taken["order_id"])


async def test_our_cancellation_goes_to_doordashs_cancellation_endpoint_once(client, connected, doordash_standin,
                                                                             dd, db_sql):
    r = connected
    _placed, order_id = await _taken(client, r, doordash_standin, dd, db_sql)
    expect(await client.post(r.url(f"/orders/{order_id}/status"), headers=r.owner.headers,
                             json={"status": "confirmed"}), 200)
    assert (await dd.round()).synced == 1  # nothing to send for "confirmed"
    expect(await client.post(r.url(f"/orders/{order_id}/cancel"), headers=r.owner.headers,
                             json={"reason": "out of dal"}), 200)
    assert (await dd.round()).synced == 1
    [dd_side] = doordash_standin.orders()
    assert dd_side["status"] == "CANCELLED" and [a["action"] for a in dd_side["actions"]] == ["confirm", "cancel"]
    assert dd_side["actions"][1]["body"]["cancel_reason"] == "OTHER"
    assert (await dd.round()).claimed == 0  # told once


async def test_doordashs_own_cancellation_cancels_ours_and_is_not_sent_back(client, connected, doordash_standin, dd,
                                                                           db_sql):
    placed, order_id = await _taken(client, connected, doordash_standin, dd, db_sql)
    for _ in range(2):  # the second is a replay
        assert (await deliver(client, doordash_standin, placed["id"], "cancel")).status_code == 200
    assert db_sql("SELECT status FROM orders WHERE id = %s", (order_id,)) == [{"status": "cancelled"}]
    assert db_sql("SELECT actor_type, to_status FROM order_events WHERE order_id = %s ORDER BY id DESC LIMIT 1",
                  (order_id,)) == [{"actor_type": "doordash", "to_status": "cancelled"}]
    assert db_sql("SELECT state, status_sent FROM platform_orders") == [
        {"state": "cancelled", "status_sent": "cancelled"}]
    await dd.round()
    assert [a["action"] for a in doordash_standin.orders()[0]["actions"]] == ["confirm"]


async def test_another_stores_token_touches_nothing_here(client, connected, make_restaurant, doordash_standin, dd,
                                                         db_sql):
    """Restaurant B's store and token are real; a webhook naming A's store with B's token is refused,
    and an order B's webhook names lands at B, never at A."""
    doordash_standin.register(("b-store",), developer_id="dev-b", key_id="key-b", webhook_token="b-token")
    b: Restaurant = await make_restaurant()
    expect(await client.put(b.url("/integrations/doordash"), headers=b.owner.headers,
                            json={"store_id": "b-store", **DOORDASH_CREDENTIALS, "developer_id": "dev-b",
                                  "key_id": "key-b", "webhook_token": "b-token"}), 200)
    at_a = doordash_standin.create_order(items=[line(connected.items["Dal Makhani"])])
    assert (await deliver(client, doordash_standin, at_a["id"], token="b-token")).status_code == 401
    assert counts(db_sql) == {"platform_webhook_events": 0, "platform_orders": 0, "orders": 0}
    cancel_a = doordash_standin.webhook_request("http://api.test" + WEBHOOK, at_a["id"], "cancel", token="b-token")
    assert (await client.post(WEBHOOK, content=cancel_a["body"].encode(),
                              headers=cancel_a["headers"])).status_code == 401
    at_b = doordash_standin.create_order(store_id="b-store", items=[line(connected.items["Dal Makhani"])])
    assert (await deliver(client, doordash_standin, at_b["id"])).status_code == 200
    assert db_sql("SELECT restaurant_id::text AS r FROM platform_orders") == [{"r": str(b.id)}]
