"""Reservation pre-orders: an order placed ahead for a reservation is held in the outbox, so
the kitchen (the Convex stand-in, a real process) and every other target see nothing of it
until it fires: when its party is seated, or at its set time before the slot. Cancelling the
reservation cancels it, unheard of by any target. Only the reservation's customer and staff
may place or read it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from sync.worker import Worker
from tests.conftest import (
    ROOT,
    STANDIN_KEY,
    MakeRestaurant,
    MakeUser,
    Restaurant,
    Standin,
    User,
    close_worker,
    expect,
    new_worker,
    order_body,
)
from tests.test_reservations import EVERY_DAY, _future_slot
from tests.test_sync import sync_settings_for, until

DbSql = Callable[..., list[dict[str, Any]]]


@pytest.fixture
async def app(settings: Settings, standin: Standin) -> AsyncIterator[Starlette]:
    """The API with its post-commit pusher pointed at the stand-in."""
    application = create_app(settings, sync_settings_for(standin))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def worker(app_conninfo: str, standin: Standin) -> AsyncIterator[Worker]:
    """The worker process's own class, serving Convex: what would deliver a due row the pusher missed."""
    opened = new_worker(app_conninfo, sync_settings_for(standin))
    await opened.db.open(wait=True)
    yield opened
    await close_worker(opened)


async def _booked(client: httpx.AsyncClient, r: Restaurant, customer: User) -> dict[str, Any]:
    expect(await client.put(r.url("/slot-rules"), headers=r.owner.headers, json={"rules": EVERY_DAY}), 200)
    return expect(await client.post(r.url("/reservations"), headers=customer.headers,
                                    json={"slot_start": _future_slot("Asia/Kolkata"), "party_size": 2}), 201)


async def _move(client: httpx.AsyncClient, r: Restaurant, booked: dict[str, Any], status: str,
                headers: dict[str, str]) -> dict[str, Any]:
    return expect(await client.post(r.url(f"/reservations/{booked['id']}/status"), headers=headers,
                                    json={"status": status}), 200)


def _outbox(db_sql: DbSql, order_id: str) -> list[dict[str, Any]]:
    return db_sql("SELECT target, status, next_attempt_at, last_error FROM sync_log"
                  " WHERE entity_type = 'order' AND entity_id = %s ORDER BY id", (order_id,))


async def _settle(worker: Worker) -> None:
    """Gives the pusher time to act on the commit, then serves every due row as the worker would."""
    await asyncio.sleep(0.2)
    await worker.run_pass()


async def test_a_pre_order_is_held_from_convex_until_its_party_is_seated_then_arrives_at_its_latest_version(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, standin: Standin,
    worker: Worker, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    customer = await make_user()
    booked = await _booked(client, r, customer)
    body = {**order_body(r), "notes": "birthday: candles on the dessert"}
    body["items"][0]["notes"] = "less spicy"
    order = expect(await client.post(r.url(f"/reservations/{booked['id']}/pre-order"), headers=customer.headers,
                                     json=body), 201)
    assert order["reservation_id"] == booked["id"] and order["order_type"] == "dine_in"
    assert order["payment_status"] == "unpaid" and order["table_id"] is None
    assert order["customer_name"] == booked["guest_name"]
    assert order["items"][0]["notes"] == "less spicy"
    # Held "at arrival": due only long after the slot (the fallback), and the rows say so.
    fire_at = datetime.fromisoformat(order["fire_at"])
    assert fire_at == datetime.fromisoformat(booked["slot_start"]) + timedelta(hours=12)
    assert [(o["status"], o["next_attempt_at"]) for o in _outbox(db_sql, order["id"])] == [("pending", fire_at)]
    await _settle(worker)
    assert order["id"] not in standin.versions("orders")
    # Sync health counts the held row as pending, but it does not age (it is not late), even
    # once it has been waiting an hour.
    db_sql("UPDATE sync_log SET created_at = created_at - interval '1 hour' WHERE entity_id = %s", (order["id"],))
    health = expect(await client.get(r.url("/sync/status"), headers=r.owner.headers), 200)["targets"]["convex"]
    assert health["pending"] == 1 and not health["oldest_pending_seconds"]

    # Staff work on the reservation and the order meanwhile: still nothing reaches the kitchen.
    await _move(client, r, booked, "confirmed", r.owner.headers)
    expect(await client.post(r.url(f"/orders/{order['id']}/status"), headers=r.owner.headers,
                             json={"status": "confirmed"}), 200)
    await _settle(worker)
    assert order["id"] not in standin.versions("orders")
    assert [(o["status"], o["next_attempt_at"]) for o in _outbox(db_sql, order["id"])] == [("pending", fire_at)]
    # The customer sees it among their orders, and both they and staff can read it.
    mine = expect(await client.get("/api/me/orders", headers=customer.headers), 200)["items"]
    assert [o["id"] for o in mine] == [order["id"]]
    for headers in (customer.headers, r.owner.headers):
        read = expect(await client.get(r.url(f"/reservations/{booked['id']}/pre-order"), headers=headers), 200)
        assert read["id"] == order["id"] and read["status"] == "confirmed"

    # Seated at T2: the pre-order fires in the seating's transaction, served there, and the
    # pusher delivers it.
    expect(await client.post(r.url(f"/reservations/{booked['id']}/status"), headers=r.owner.headers,
                             json={"status": "seated", "table_id": r.tables[1]["id"]}), 200)
    await until(lambda: order["id"] in standin.versions("orders"))
    [doc] = [d for d in standin.dump()["orders"] if d["pgId"] == order["id"]]
    assert doc["tableLabel"] == "T2"
    [row] = db_sql("SELECT version, status, fire_at <= now() AS fired FROM orders WHERE id = %s", (order["id"],))
    assert row["fired"] and doc["status"] == row["status"] == "confirmed"
    assert doc["version"] == row["version"]
    assert [i["notes"] for i in doc["items"]] == ["less spicy", None]
    await until(lambda: {o["status"] for o in _outbox(db_sql, order["id"])} == {"synced"})


async def test_a_pre_order_with_a_set_time_fires_when_the_clock_reaches_it(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, standin: Standin,
    worker: Worker, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    customer = await make_user()
    booked = await _booked(client, r, customer)
    order = expect(await client.post(r.url(f"/reservations/{booked['id']}/pre-order"), headers=r.owner.headers,
                                     json={**order_body(r), "fire_minutes_before": 20}), 201)
    fire_at = datetime.fromisoformat(order["fire_at"])
    assert fire_at == datetime.fromisoformat(booked["slot_start"]) - timedelta(minutes=20)
    await _settle(worker)
    assert order["id"] not in standin.versions("orders")
    # The clock reaches fire_at: the outbox's own clock is moved, the order is not touched.
    db_sql("UPDATE sync_log SET next_attempt_at = now() - interval '1 second' WHERE entity_id = %s",
           (order["id"],))
    await worker.run_pass()
    assert standin.versions("orders").get(order["id"]) == order["version"]


async def test_cancelling_the_reservation_cancels_its_held_pre_order_and_no_target_ever_hears_of_it(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, standin: Standin,
    worker: Worker, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    customer = await make_user()
    booked = await _booked(client, r, customer)
    order = expect(await client.post(r.url(f"/reservations/{booked['id']}/pre-order"), headers=customer.headers,
                                     json=order_body(r)), 201)
    expect(await client.post(r.url(f"/reservations/{booked['id']}/status"), headers=customer.headers,
                             json={"status": "cancelled", "reason": "plans changed"}), 200)
    [row] = db_sql("SELECT status FROM orders WHERE id = %s", (order["id"],))
    assert row["status"] == "cancelled"
    events = db_sql("SELECT from_status, to_status, actor_type, reason FROM order_events WHERE order_id = %s"
                    " ORDER BY id", (order["id"],))
    assert events[-1] == {"from_status": "pending", "to_status": "cancelled", "actor_type": "user",
                          "reason": "plans changed"}
    assert [(o["status"], o["last_error"]) for o in _outbox(db_sql, order["id"])] == [
        ("synced", "skipped: the pre-order was cancelled before it fired")]
    await _settle(worker)
    assert order["id"] not in standin.versions("orders")
    expect(await client.get(r.url(f"/reservations/{booked['id']}/pre-order"), headers=customer.headers), 404)


async def test_cancelling_after_the_pre_order_fired_tells_the_kitchen(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, standin: Standin,
    worker: Worker, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    customer = await make_user()
    booked = await _booked(client, r, customer)
    order = expect(await client.post(r.url(f"/reservations/{booked['id']}/pre-order"), headers=customer.headers,
                                     json={**order_body(r), "fire_minutes_before": 30}), 201)
    db_sql("UPDATE sync_log SET next_attempt_at = now() - interval '1 second' WHERE entity_id = %s",
           (order["id"],))
    db_sql("UPDATE orders SET fire_at = now() - interval '1 second' WHERE id = %s", (order["id"],))
    await worker.run_pass()
    await until(lambda: order["id"] in standin.versions("orders"))
    expect(await client.post(r.url(f"/reservations/{booked['id']}/status"), headers=customer.headers,
                             json={"status": "cancelled"}), 200)
    await until(lambda: {d["pgId"]: d["status"] for d in standin.dump()["orders"]}.get(order["id"]) == "cancelled")


async def test_only_the_reservations_customer_and_staff_place_or_read_its_pre_order(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, open_guest: Any,
) -> None:
    r = await make_restaurant()
    customer, other = await make_user(), await make_user()
    booked = await _booked(client, r, customer)
    url = r.url(f"/reservations/{booked['id']}/pre-order")
    # Another customer's reservation looks missing, to place and to read.
    assert expect(await client.post(url, headers=other.headers, json=order_body(r)), 404)["code"] == "not_found"
    expect(await client.get(url, headers=other.headers), 404)
    guest = await open_guest(r)
    expect(await client.post(url, headers=guest.headers, json=order_body(r)), 403)
    unknown = r.url("/reservations/00000000-0000-4000-8000-000000000000/pre-order")
    expect(await client.post(unknown, headers=r.owner.headers, json=order_body(r)), 404)
    # Not yet placed: 404; then one live pre-order per reservation.
    expect(await client.get(url, headers=customer.headers), 404)
    expect(await client.post(url, headers=customer.headers, json=order_body(r)), 201)
    again = expect(await client.post(url, headers=r.owner.headers, json=order_body(r)), 409)
    assert again["code"] == "pre_order_exists"
    # Items are checked as on any order; an unavailable one writes nothing.
    second = await _booked(client, r, customer)
    refused = expect(await client.post(r.url(f"/reservations/{second['id']}/pre-order"), headers=customer.headers,
                                       json=order_body(r, ("Seasonal Special", 1))), 422)
    assert refused["code"] == "menu_item_unavailable"
    # A reservation already seated or cancelled takes none.
    await _move(client, r, second, "cancelled", customer.headers)
    closed = expect(await client.post(r.url(f"/reservations/{second['id']}/pre-order"), headers=customer.headers,
                                      json=order_body(r)), 409)
    assert closed["code"] == "reservation_not_open"
    # A table goes with seating only, and only one of this restaurant's.
    third = await _booked(client, r, customer)
    expect(await client.post(r.url(f"/reservations/{third['id']}/pre-order"), headers=customer.headers,
                             json=order_body(r)), 201)
    wrong = expect(await client.post(r.url(f"/reservations/{third['id']}/status"), headers=r.owner.headers,
                                     json={"status": "confirmed", "table_id": r.tables[0]["id"]}), 422)
    assert wrong["code"] == "table_only_when_seated"
    await _move(client, r, third, "confirmed", r.owner.headers)
    elsewhere = await make_restaurant()
    foreign = expect(await client.post(r.url(f"/reservations/{third['id']}/status"), headers=r.owner.headers,
                                       json={"status": "seated", "table_id": elsewhere.tables[0]["id"]}), 422)
    assert foreign["code"] == "unknown_table"
    read = expect(await client.get(r.url(f"/reservations/{third['id']}/pre-order"), headers=r.owner.headers), 200)
    assert read["table_id"] is None and datetime.fromisoformat(read["fire_at"]) > datetime.now(UTC)
    # fire_minutes_before is bounded by the schema.
    expect(await client.post(url, headers=customer.headers, json={**order_body(r), "fire_minutes_before": 241}),
           422)


async def test_a_full_sync_leaves_a_held_pre_order_out_and_brings_a_fired_one(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_user: MakeUser, standin: Standin,
    worker: Worker, db_sql: DbSql, app_conninfo: str,
) -> None:
    """scripts/fullSync (a real subprocess) rebuilds Convex from Postgres without firing anything early."""
    r = await make_restaurant()
    customer = await make_user()
    booked = await _booked(client, r, customer)
    order = expect(await client.post(r.url(f"/reservations/{booked['id']}/pre-order"), headers=customer.headers,
                                     json=order_body(r)), 201)
    await _settle(worker)
    environ = {**os.environ, "DATABASE_URL": app_conninfo, "CONVEX_URL": standin.url,
               "CONVEX_DEPLOY_KEY": STANDIN_KEY, "CONVEX_TIMEOUT_S": "5"}

    async def full_sync() -> int:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "scripts.fullSync", "--json", cwd=ROOT, env=environ,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        return await asyncio.wait_for(process.wait(), 120)  # a hang guard, not a performance claim

    assert await full_sync() == 0
    assert order["id"] not in standin.versions("orders")
    await _move(client, r, booked, "confirmed", r.owner.headers)
    await _move(client, r, booked, "seated", r.owner.headers)
    await until(lambda: order["id"] in standin.versions("orders"))
    standin.reset()
    assert await full_sync() == 0
    assert order["id"] in standin.versions("orders")


async def test_a_takeaway_s_pickup_time_and_payment_status_reach_the_kitchen_s_document(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, standin: Standin,
) -> None:
    """The pass hands a takeaway over at its pickup time: the Convex order carries it (ms since
    the epoch, null for as soon as ready) and the payment status, as Postgres has them."""
    r = await make_restaurant()
    pickup = (datetime.now(UTC) + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    timed = expect(await client.post(r.url("/orders"), headers=r.owner.headers, json={
        **order_body(r), "order_type": "takeaway", "pickup_at": pickup.isoformat()}), 201)
    asap = expect(await client.post(r.url("/orders"), headers=r.owner.headers, json=order_body(r)), 201)
    await until(lambda: {timed["id"], asap["id"]} <= set(standin.versions("orders")))
    docs = {d["pgId"]: d for d in standin.dump()["orders"]}
    assert docs[timed["id"]]["pickupAt"] == pickup.timestamp() * 1000
    assert docs[asap["id"]]["pickupAt"] is None
    assert docs[timed["id"]]["paymentStatus"] == docs[asap["id"]]["paymentStatus"] == "unpaid"
