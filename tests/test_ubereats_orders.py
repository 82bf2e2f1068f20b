"""Uber Eats orders in: Uber's signed webhook (checked on the raw body, replays harmless,
forgeries and strangers refused, nothing written for them), then the ubereats target fetching
the order from the Uber Eats stand-in, creating ours (on the kitchen screen through Convex like
any order) and accepting it back, or denying it back naming the items we cannot make."""

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
from sync.config import SyncSettings
from sync.platform.target import PlatformTarget
from sync.registry import convex_target
from sync.target import Policy
from sync.ubereats.adapter import UberEatsAdapter
from sync.ubereats.client import UberEatsClient
from tests.conftest import STANDIN_KEY, UBER_CLIENT, UBER_STORE_ID, Restaurant, Served, Standin, UberStandin, expect

WEBHOOK = "/api/webhooks/ubereats"


@pytest.fixture
async def app(settings: Settings, ubereats_standin: UberStandin) -> AsyncIterator[Starlette]:
    application = create_app(settings, platform_env=ubereats_standin.env)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def uber_db(app_conninfo: str) -> AsyncIterator[Database]:
    db = Database(app_conninfo, min_size=1, max_size=4)
    await db.open(wait=True)
    yield db
    await db.close()


def _served(db: Database, settings: Settings, standin: UberStandin, name: str) -> Served:
    """One of the platform's targets as the worker runs it (rounds driven by the tests, no debounce)."""
    return Served(db, PlatformTarget(db, UberEatsAdapter(UberEatsClient(standin.url, standin.url, timeout_s=3)),
                                     credential_box(settings), name=name,
                                     policy=Policy(batch_size=500, lease_s=5, backoff=Backoff(0.05, 0.2, 3))))


@pytest.fixture
async def uber_menus(uber_db: Database, settings: Settings, ubereats_standin: UberStandin) -> AsyncIterator[Served]:
    served = _served(uber_db, settings, ubereats_standin, "ubereats")
    yield served
    await served.close()


@pytest.fixture
async def uber(uber_db: Database, settings: Settings, ubereats_standin: UberStandin) -> AsyncIterator[Served]:
    """The order target."""
    served = _served(uber_db, settings, ubereats_standin, "ubereats_orders")
    yield served
    await served.close()


@pytest.fixture
async def connected(client: httpx.AsyncClient, make_restaurant: Any, ubereats_standin: UberStandin,
                    uber_menus: Served) -> Restaurant:
    """A restaurant (INR) whose store has its menu on Uber."""
    ubereats_standin.register()
    r: Restaurant = await make_restaurant()
    expect(await client.put(r.url("/integrations/ubereats"), headers=r.owner.headers,
                            json={"store_id": UBER_STORE_ID, **UBER_CLIENT}), 200)
    assert (await uber_menus.round()).synced == 1
    return r


async def deliver(client: httpx.AsyncClient, standin: UberStandin, order_id: str, **options: Any) -> httpx.Response:
    """Uber's webhook for the order, exactly as the stand-in signs it, posted to the API."""
    sent = standin.webhook_request("http://api.test" + WEBHOOK, resource_id=order_id, **options)
    return await client.post(WEBHOOK, content=sent["body"].encode(), headers=sent["headers"])


def line(item: dict[str, Any], quantity: int = 1, price: int | None = None) -> dict[str, Any]:
    return {"id": item["id"], "title": item["name"], "quantity": quantity,
            "price": item["price"] if price is None else price}


async def test_an_uber_order_becomes_ours_reaches_the_kitchen_screen_and_is_accepted_back(
        client, connected, ubereats_standin, uber, db_sql, app_conninfo, standin: Standin):
    r = connected
    placed = ubereats_standin.create_order(currency="INR", cart_items=[
        line(r.items["Paneer Tikka"], 2), line(r.items["Dal Makhani"])])
    answer = await deliver(client, ubereats_standin, placed["id"])
    assert answer.status_code == 200 and answer.content == b""
    assert db_sql("SELECT state, order_id FROM platform_orders") == [{"state": "received", "order_id": None}]

    assert (await uber.round()).synced == 1
    [taken] = db_sql("SELECT state, order_id, platform_total, totals_differ, error FROM platform_orders")
    assert taken["state"] == "accepted" and taken["error"] is None and taken["totals_differ"] is False
    assert taken["platform_total"] == 2 * 25000 + 18050
    [order] = db_sql("SELECT order_type, subtotal, total, status, currency FROM orders WHERE id = %s",
                     (taken["order_id"],))
    assert order == {"order_type": "delivery", "subtotal": 68050, "total": 68050, "status": "pending",
                     "currency": "INR"}
    lines = db_sql("SELECT name, quantity, unit_price FROM order_items WHERE order_id = %s ORDER BY position",
                   (taken["order_id"],))
    assert [(x["name"], x["quantity"], x["unit_price"]) for x in lines] == [
        ("Paneer Tikka", 2, 25000), ("Dal Makhani", 1, 18050)]
    assert db_sql("SELECT actor_type FROM order_events WHERE order_id = %s", (taken["order_id"],)) == [
        {"actor_type": "ubereats"}]
    [uber_side] = [o for o in ubereats_standin.orders() if o["id"] == placed["id"]]
    assert uber_side["current_state"] == "ACCEPTED"
    # The kitchen screen: the order reaches Convex through the outbox like any other.
    db = Database(app_conninfo, min_size=1, max_size=2)
    await db.open(wait=True)
    convex = convex_target(SyncSettings.model_validate({"convex_url": standin.url, "convex_deploy_key": STANDIN_KEY,
                                                        "sync_grace_s": 0}))
    assert convex is not None
    try:
        await Served(db, convex).round()
    finally:
        await convex.close()
        await db.close()
    assert str(taken["order_id"]) in standin.versions("orders")


async def test_a_replayed_webhook_does_nothing_again(client, connected, ubereats_standin, uber, db_sql):
    placed = ubereats_standin.create_order(currency="INR", cart_items=[line(connected.items["Dal Makhani"])])
    sent = ubereats_standin.webhook_request("http://api.test" + WEBHOOK, resource_id=placed["id"])
    for _ in range(3):  # Uber retries until it sees a 200, up to 7 times
        response = await client.post(WEBHOOK, content=sent["body"].encode(), headers=sent["headers"])
        assert response.status_code == 200
    assert db_sql("SELECT count(*) AS n FROM platform_webhook_events") == [{"n": 1}]
    assert (await uber.round()).synced == 1
    # Another event of the same order (a new event id) names the same order: still one order here.
    assert (await deliver(client, ubereats_standin, placed["id"])).status_code == 200
    await uber.round()
    assert db_sql("SELECT count(*) AS n FROM orders") == [{"n": 1}]
    assert [a["action"] for a in ubereats_standin.orders()[0]["actions"]] == ["accept"]


@pytest.mark.parametrize("forgery", ["wrong key", "no signature", "altered body", "unknown store"])
async def test_a_forged_or_stranger_webhook_is_401_and_writes_nothing(client, connected, ubereats_standin, forgery,
                                                                      db_sql):
    placed = ubereats_standin.create_order(currency="INR", cart_items=[line(connected.items["Dal Makhani"])])
    options = {"secret": "not-the-client-secret"} if forgery == "wrong key" else {}
    store = "someone-elses-store" if forgery == "unknown store" else UBER_STORE_ID
    sent = ubereats_standin.webhook_request("http://api.test" + WEBHOOK, store_id=store, resource_id=placed["id"],
                                            **({"secret": "x"} if forgery == "unknown store" else options))
    headers, body = dict(sent["headers"]), sent["body"]
    if forgery == "no signature":
        del headers["X-Uber-Signature"]
    if forgery == "altered body":
        body = body.replace(placed["id"], "00000000-0000-0000-0000-000000000000")
    response = await client.post(WEBHOOK, content=body.encode(), headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "invalid_signature"
    assert db_sql("SELECT count(*) AS n FROM platform_webhook_events") == [{"n": 0}]
    assert db_sql("SELECT count(*) AS n FROM platform_orders") == [{"n": 0}]


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"event_id": "a b", "event_type": "orders.notification", "meta": {"user_id": "s"}}',
    b'{"event_id": "e\\u0000", "event_type": "orders.notification", "meta": {"user_id": "s"}}',
    b'{"event_id": "e", "event_type": "orders.notification", "meta": {"user_id": 5}}',
    b'{"event_id": "e", "event_type": "orders.notification"}',
])
async def test_a_malformed_event_is_400(client, connected, body, db_sql):
    response = await client.post(WEBHOOK, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_event"
    assert db_sql("SELECT count(*) AS n FROM platform_webhook_events") == [{"n": 0}]


async def test_an_order_we_cannot_make_is_denied_back_naming_the_items(client, connected, ubereats_standin, uber,
                                                                       db_sql):
    sold_out = connected.items["Seasonal Special"]  # unavailable here
    placed = ubereats_standin.create_order(currency="INR", cart_items=[
        line(connected.items["Dal Makhani"]), line(sold_out),
        {"id": "not-our-item", "title": "Mystery", "quantity": 1, "price": 100}])
    assert (await deliver(client, ubereats_standin, placed["id"])).status_code == 200
    assert (await uber.round()).synced == 1
    [taken] = db_sql("SELECT state, order_id, error FROM platform_orders")
    assert taken["state"] == "denied" and taken["order_id"] is None
    assert "not-our-item" in taken["error"] and sold_out["id"] in taken["error"]
    assert db_sql("SELECT count(*) AS n FROM orders") == [{"n": 0}]
    [uber_side] = ubereats_standin.orders()
    assert uber_side["current_state"] == "DENIED"
    reason = uber_side["actions"][0]["body"]["reason"]
    assert reason["invalid_items"] == ["not-our-item"] and reason["out_of_stock_items"] == [sold_out["id"]]


async def test_a_failed_accept_is_retried_without_creating_the_order_twice(client, connected, ubereats_standin, uber,
                                                                          db_sql):
    placed = ubereats_standin.create_order(currency="INR", cart_items=[line(connected.items["Dal Makhani"], 3)])
    assert (await deliver(client, ubereats_standin, placed["id"])).status_code == 200
    ubereats_standin.fault("http500", count=1, paths=["accept"])
    assert (await uber.round()).failed == 1
    [taken] = db_sql("SELECT state, order_id, error FROM platform_orders")
    assert taken["state"] == "received" and taken["order_id"] is not None and "500" in taken["error"]
    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'ubereats_orders'")
    assert (await uber.round()).synced == 1
    assert db_sql("SELECT state FROM platform_orders") == [{"state": "accepted"}]
    assert db_sql("SELECT count(*) AS n FROM orders") == [{"n": 1}]


async def test_uber_prices_are_kept_as_charged_and_a_difference_is_flagged(client, connected, ubereats_standin, uber,
                                                                           db_sql):
    """Uber charged more than our menu says: the order keeps Uber's prices, and is flagged."""
    placed = ubereats_standin.create_order(currency="INR", cart_items=[line(connected.items["Dal Makhani"],
                                                                           price=20000)])
    assert (await deliver(client, ubereats_standin, placed["id"])).status_code == 200
    await uber.round()
    [taken] = db_sql("SELECT totals_differ, platform_total, order_id FROM platform_orders")
    assert taken["totals_differ"] is True and taken["platform_total"] == 20000
    assert db_sql("SELECT total FROM orders") == [{"total": 20000}]


async def test_another_restaurants_store_secret_cannot_place_orders_here(client, connected, make_restaurant,
                                                                         ubereats_standin, db_sql):
    """A webhook signed with another app's secret for this store is refused: the store names its client."""
    ubereats_standin.register("other-client", "other-secret", ("other-store",))
    placed = ubereats_standin.create_order(currency="INR", cart_items=[line(connected.items["Dal Makhani"])])
    sent = ubereats_standin.webhook_request("http://api.test" + WEBHOOK, resource_id=placed["id"],
                                            secret="other-secret")
    response = await client.post(WEBHOOK, content=sent["body"].encode(), headers=sent["headers"])
    assert response.status_code == 401
    assert db_sql("SELECT count(*) AS n FROM platform_orders") == [{"n": 0}]


async def _taken(client: httpx.AsyncClient, r: Restaurant, standin: UberStandin, uber: Served,
                 db_sql: Any) -> tuple[dict[str, Any], str]:
    """An Uber order taken here: (Uber's order, our order id)."""
    placed = standin.create_order(currency="INR", cart_items=[line(r.items["Dal Makhani"])])
    assert (await deliver(client, standin, placed["id"])).status_code == 200
    assert (await uber.round()).synced == 1
    [taken] = db_sql("SELECT order_id FROM platform_orders")
    return placed, str(taken["order_id"])


async def test_our_cancellation_goes_back_to_uber_once_and_other_moves_send_nothing(
        client, connected, ubereats_standin, uber, db_sql):
    r = connected
    placed, order_id = await _taken(client, r, ubereats_standin, uber, db_sql)
    expect(await client.post(r.url(f"/orders/{order_id}/status"), headers=r.owner.headers,
                             json={"status": "confirmed"}), 200)
    assert (await uber.round()).synced == 1  # Uber has no call for "confirmed": recorded, nothing sent
    assert db_sql("SELECT order_status, status_sent FROM platform_orders") == [
        {"order_status": "confirmed", "status_sent": "confirmed"}]
    expect(await client.post(r.url(f"/orders/{order_id}/cancel"), headers=r.owner.headers,
                             json={"reason": "out of paneer"}), 200)
    assert (await uber.round()).synced == 1
    [uber_side] = [o for o in ubereats_standin.orders() if o["id"] == placed["id"]]
    assert uber_side["current_state"] == "CANCELED"
    assert [a["action"] for a in uber_side["actions"]] == ["accept", "cancel"]
    assert uber_side["actions"][1]["body"]["reason"] == "OTHER"
    assert (await uber.round()).claimed == 0  # told once


async def test_a_cancel_that_uber_refuses_is_retried_until_it_lands(client, connected, ubereats_standin, uber,
                                                                    db_sql):
    r = connected
    placed, order_id = await _taken(client, r, ubereats_standin, uber, db_sql)
    expect(await client.post(r.url(f"/orders/{order_id}/cancel"), headers=r.owner.headers, json={}), 200)
    ubereats_standin.fault("http500", count=1, paths=["cancel"])
    assert (await uber.round()).failed == 1
    assert "HTTP 500" in db_sql("SELECT error FROM platform_orders")[0]["error"]
    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'ubereats_orders'")
    assert (await uber.round()).synced == 1
    [uber_side] = [o for o in ubereats_standin.orders() if o["id"] == placed["id"]]
    assert [a["action"] for a in uber_side["actions"]] == ["accept", "cancel"]


async def test_ubers_own_cancellation_cancels_ours_and_is_not_sent_back(client, connected, ubereats_standin, uber,
                                                                        db_sql):
    placed, order_id = await _taken(client, connected, ubereats_standin, uber, db_sql)
    sent = ubereats_standin.webhook("http://api.test" + WEBHOOK, event_type="orders.cancel",
                                    resource_id=placed["id"], dry_run=True)["sent"]
    assert (await client.post(WEBHOOK, content=sent["body"].encode(), headers=sent["headers"])).status_code == 200
    assert db_sql("SELECT status FROM orders WHERE id = %s", (order_id,)) == [{"status": "cancelled"}]
    assert db_sql("SELECT actor_type, to_status FROM order_events WHERE order_id = %s ORDER BY id DESC LIMIT 1",
                  (order_id,)) == [{"actor_type": "ubereats", "to_status": "cancelled"}]
    assert db_sql("SELECT state, status_sent FROM platform_orders") == [
        {"state": "cancelled", "status_sent": "cancelled"}]
    await uber.round()
    [uber_side] = [o for o in ubereats_standin.orders() if o["id"] == placed["id"]]
    assert [a["action"] for a in uber_side["actions"]] == ["accept"]


async def test_an_order_uber_cancels_before_we_take_it_is_never_taken(client, connected, ubereats_standin, uber,
                                                                      db_sql):
    placed = ubereats_standin.create_order(currency="INR", cart_items=[line(connected.items["Dal Makhani"])])
    assert (await deliver(client, ubereats_standin, placed["id"])).status_code == 200
    sent = ubereats_standin.webhook_request("http://api.test" + WEBHOOK, event_type="orders.cancel",
                                            resource_id=placed["id"])
    assert (await client.post(WEBHOOK, content=sent["body"].encode(), headers=sent["headers"])).status_code == 200
    assert (await uber.round()).synced == 1
    assert db_sql("SELECT state, order_id FROM platform_orders") == [{"state": "cancelled", "order_id": None}]
    assert db_sql("SELECT count(*) AS n FROM orders") == [{"n": 0}]
