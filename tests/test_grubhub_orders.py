"""Grubhub orders in: Grubhub's signed webhook (checked on the raw body; replays harmless;
forgeries, strangers and another merchant's secret refused with nothing written), the order
made ours and CONFIRMED back through the grubhub_orders target, an order we cannot make
REJECTED naming the items, later statuses not sent (unverified), and Grubhub's cancellation
cancelling ours without being sent back."""

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
from sync.grubhub.adapter import grubhub_adapter
from sync.platform.target import PlatformTarget
from sync.target import Policy
from tests.conftest import GRUBHUB_CREDENTIALS, GRUBHUB_MERCHANT, GrubhubStandin, Restaurant, Served, expect

WEBHOOK = "/api/webhooks/grubhub"


@pytest.fixture
async def app(settings: Settings, grubhub_standin: GrubhubStandin) -> AsyncIterator[Starlette]:
    application = create_app(settings, platform_env=grubhub_standin.env)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def gh_db(app_conninfo: str) -> AsyncIterator[Database]:
    db = Database(app_conninfo, min_size=1, max_size=4)
    await db.open(wait=True)
    yield db
    await db.close()


def _served(db: Database, settings: Settings, env: dict[str, str], name: str) -> Served:
    adapter, _ = grubhub_adapter(env)
    return Served(db, PlatformTarget(db, adapter, credential_box(settings), name=name,
                                     policy=Policy(batch_size=500, lease_s=5, backoff=Backoff(0.05, 0.2, 3))))


@pytest.fixture
async def gh_orders(gh_db: Database, settings: Settings, grubhub_standin: GrubhubStandin) -> AsyncIterator[Served]:
    served = _served(gh_db, settings, grubhub_standin.env, "grubhub_orders")
    yield served
    await served.close()


@pytest.fixture
async def connected(client: httpx.AsyncClient, make_restaurant: Any, grubhub_standin: GrubhubStandin,
                    gh_db: Database, settings: Settings, loopback_api: str) -> Restaurant:
    """A restaurant (INR) whose merchant has its menu on Grubhub (downloaded from this API)."""
    grubhub_standin.register()
    r: Restaurant = await make_restaurant()
    expect(await client.put(r.url("/integrations/grubhub"), headers=r.owner.headers,
                            json={"store_id": GRUBHUB_MERCHANT, **GRUBHUB_CREDENTIALS}), 200)
    menus = _served(gh_db, settings, grubhub_standin.worker_env(loopback_api), "grubhub")
    try:
        assert (await menus.round()).synced == 1
    finally:
        await menus.close()
    return r


def line(item: dict[str, Any], quantity: int = 1, price: float | None = None) -> dict[str, Any]:
    return {"item_id": item["id"], "name": item["name"], "quantity": quantity,
            "price": item["price"] / 100 if price is None else price}


async def deliver(client: httpx.AsyncClient, standin: GrubhubStandin, event_type: str = "NEW_ORDER",
                  **options: Any) -> httpx.Response:
    sent = standin.webhook_request("http://api.test" + WEBHOOK, event_type, **options)
    return await client.post(WEBHOOK, content=sent["body"].encode(), headers=sent["headers"])


async def take(client, connected, grubhub_standin, gh_orders, db_sql, *items: dict[str, Any]) -> dict[str, Any]:
    placed = grubhub_standin.create_order(currency="INR", items=list(items))
    assert (await deliver(client, grubhub_standin, order_uuid=placed["order_uuid"])).status_code == 200
    assert (await gh_orders.round()).synced == 1
    return placed


async def test_a_grubhub_order_becomes_ours_and_is_confirmed_back(client, connected, grubhub_standin, gh_orders,
                                                                  db_sql):
    r = connected
    placed = grubhub_standin.create_order(currency="INR", fulfillment_type="PICKUP", items=[
        line(r.items["Paneer Tikka"], 2), line(r.items["Dal Makhani"])])
    answer = await deliver(client, grubhub_standin, order_uuid=placed["order_uuid"])
    assert answer.status_code == 200 and answer.content == b""
    assert db_sql("SELECT state, external_id FROM platform_orders") == [
        {"state": "received", "external_id": placed["order_uuid"]}]
    assert (await gh_orders.round()).synced == 1
    [taken] = db_sql("SELECT state, order_id, platform_total, totals_differ FROM platform_orders")
    assert taken["state"] == "accepted" and taken["totals_differ"] is False
    assert taken["platform_total"] == 2 * 25000 + 18050
    [order] = db_sql("SELECT order_type, total, currency FROM orders WHERE id = %s", (taken["order_id"],))
    assert order == {"order_type": "takeaway", "total": 68050, "currency": "INR"}
    assert db_sql("SELECT actor_type FROM order_events WHERE order_id = %s", (taken["order_id"],)) == [
        {"actor_type": "grubhub"}]
    [side] = grubhub_standin.orders()
    assert side["status"] == "CONFIRMED" and side["updates"][0]["body"] == {"status": "CONFIRMED",
                                                                            "wait_time_in_minutes": 20}


async def test_a_replayed_webhook_does_nothing_again(client, connected, grubhub_standin, gh_orders, db_sql):
    placed = grubhub_standin.create_order(currency="INR", items=[line(connected.items["Dal Makhani"])])
    sent = grubhub_standin.webhook_request("http://api.test" + WEBHOOK, order_uuid=placed["order_uuid"])
    for _ in range(3):
        response = await client.post(WEBHOOK, content=sent["body"].encode(), headers=sent["headers"])
        assert response.status_code == 200
    assert db_sql("SELECT event_id FROM platform_webhook_events") == [
        {"event_id": f"NEW_ORDER:{placed['order_uuid']}:"}]
    assert (await gh_orders.round()).synced == 1
    assert db_sql("SELECT count(*) AS n FROM orders") == [{"n": 1}]
    assert len(grubhub_standin.orders()[0]["updates"]) == 1


@pytest.mark.parametrize("forgery", ["wrong key", "no signature", "altered body", "unknown merchant",
                                     "another merchant's secret"])
async def test_a_forged_or_stranger_webhook_is_401_and_writes_nothing(client, connected, grubhub_standin, db_sql,
                                                                      forgery):
    placed = grubhub_standin.create_order(currency="INR", items=[line(connected.items["Dal Makhani"])])
    options: dict[str, Any] = {"order_uuid": placed["order_uuid"]}
    if forgery == "wrong key":
        options["secret"] = "not-the-webhook-secret"
    if forgery == "unknown merchant":
        options.update(merchant_id="someone-else", secret=GRUBHUB_CREDENTIALS["webhook_secret"])
    if forgery == "another merchant's secret":
        grubhub_standin.register(merchant_ids=("other-merchant",), client_id="other", webhook_secret="other-secret")
        options["secret"] = "other-secret"
    sent = grubhub_standin.webhook_request("http://api.test" + WEBHOOK, **options)
    headers, body = dict(sent["headers"]), sent["body"]
    if forgery == "no signature":
        del headers["X-GH-Signature"]
    if forgery == "altered body":
        body = body.replace('"quantity":1', '"quantity":9')
    response = await client.post(WEBHOOK, content=body.encode(), headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "invalid_signature"
    assert db_sql("SELECT count(*) AS n FROM platform_webhook_events") == [{"n": 0}]
    assert db_sql("SELECT count(*) AS n FROM platform_orders") == [{"n": 0}]


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"event_type": "NEW_ORDER"}', b'{"event_type": "NEW_ORDER", "merchant_id": "503736"}',
    b'{"event_type": "new order", "merchant_id": "503736", "order_uuid": "o"}',
    b'{"event_type": "NEW_ORDER", "merchant_id": "5037\\u000036", "order_uuid": "o"}',
    b'{"event_type": "NEW_ORDER", "merchant_id": "503736", "order_uuid": "' + b"x" * 5000 + b'"}',
])
async def test_a_malformed_event_is_400(client, connected, body, db_sql):
    response = await client.post(WEBHOOK, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_event"
    assert db_sql("SELECT count(*) AS n FROM platform_webhook_events") == [{"n": 0}]


async def test_an_order_with_an_unknown_item_is_rejected_naming_it(client, connected, grubhub_standin, gh_orders,
                                                                   db_sql):
    await take(client, connected, grubhub_standin, gh_orders, db_sql, line(connected.items["Dal Makhani"]),
               {"item_id": "not-our-item", "name": "Mystery", "quantity": 1, "price": 1.0})
    [taken] = db_sql("SELECT state, order_id, error FROM platform_orders")
    assert taken["state"] == "denied" and taken["order_id"] is None and "not-our-item" in taken["error"]
    [side] = grubhub_standin.orders()
    assert side["status"] == "REJECTED" and "not-our-item" in side["updates"][0]["body"]["reason"]
    assert db_sql("SELECT count(*) AS n FROM orders") == [{"n": 0}]


async def test_our_ready_and_cancelled_statuses_are_not_sent(client, connected, grubhub_standin, gh_orders, db_sql):
    """Grubhub's docs verify CONFIRMED and REJECTED only: a later status of ours sends nothing."""
    r = connected
    await take(client, connected, grubhub_standin, gh_orders, db_sql, line(r.items["Dal Makhani"]))
    [taken] = db_sql("SELECT order_id FROM platform_orders")
    expect(await client.post(r.url(f"/orders/{taken['order_id']}/cancel"), headers=r.owner.headers,
                             json={"reason": "out of dal"}), 200)
    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'grubhub_orders'")
    await gh_orders.round()
    assert db_sql("SELECT status_sent FROM platform_orders") == [{"status_sent": "cancelled"}]
    assert len(grubhub_standin.orders()[0]["updates"]) == 1  # the CONFIRMED only


async def test_grubhubs_cancellation_cancels_ours_and_is_not_sent_back(client, connected, grubhub_standin,
                                                                       gh_orders, db_sql):
    placed = await take(client, connected, grubhub_standin, gh_orders, db_sql,
                        line(connected.items["Dal Makhani"]))
    answer = await deliver(client, grubhub_standin, "ORDER_CANCELLED", order_uuid=placed["order_uuid"])
    assert answer.status_code == 200
    [taken] = db_sql("SELECT state, order_id FROM platform_orders")
    assert taken["state"] == "cancelled"
    assert db_sql("SELECT status FROM orders") == [{"status": "cancelled"}]
    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'grubhub_orders'")
    await gh_orders.round()
    assert len(grubhub_standin.orders()[0]["updates"]) == 1


async def test_a_menu_ingestion_status_event_is_recorded_once(client, connected, grubhub_standin, db_sql):
    job_id = grubhub_standin.jobs()[0]["job_id"]
    for _ in range(2):
        answer = await deliver(client, grubhub_standin, "MENU_INGESTION_STATUS", job_id=job_id, status="SUCCESS")
        assert answer.status_code == 200
    assert db_sql("SELECT event_id FROM platform_webhook_events") == [
        {"event_id": f"MENU_INGESTION_STATUS:{job_id}:SUCCESS"}]


async def test_a_failed_ingestion_marks_the_menu_failed_but_only_for_the_stores_last_job(
        client, connected, grubhub_standin, db_sql):
    job_id = grubhub_standin.jobs()[0]["job_id"]
    assert db_sql("SELECT sync_status, external_menu_id FROM platform_connections") == [
        {"sync_status": "synced", "external_menu_id": job_id}]
    # An older job's failure changes nothing: the store's menu is the last job's.
    answer = await deliver(client, grubhub_standin, "MENU_INGESTION_STATUS", job_id="an-older-job",
                           status="FAILED_VALIDATION")
    assert answer.status_code == 200
    assert db_sql("SELECT sync_status FROM platform_connections") == [{"sync_status": "synced"}]
    answer = await deliver(client, grubhub_standin, "MENU_INGESTION_STATUS", job_id=job_id,
                           status="FAILED_MENU_DOWNLOAD")
    assert answer.status_code == 200
    [state] = db_sql("SELECT sync_status, last_error, published_menu FROM platform_connections")
    assert state["sync_status"] == "failed" and "FAILED_MENU_DOWNLOAD" in state["last_error"]
    assert state["published_menu"] is None  # the next publish sends the whole menu
