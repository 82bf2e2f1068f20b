"""PetPooja's callbacks through the HTTP API: the URL secret authenticates, every delivery
is stored with its result, a replay changes nothing, order status only moves forward, stock
and store switches reach orders and the outbox, and the secret never reaches the logs.

PetPooja itself cannot run here: the bodies below are the ones its docs (v2.1.0) and public
integrations show, sent to the callback URLs the connect endpoint gives out.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from api.app import create_app
from api.config import Settings
from sync.config import SyncSettings
from tests.conftest import (
    DELIVERY_ADDRESS,
    STANDIN_KEY,
    Guest,
    MakeRestaurant,
    Restaurant,
    Standin,
    deliver_from,
    expect,
    order_body,
)

DbSql = Callable[..., list[dict[str, Any]]]
OpenGuest = Callable[[Restaurant, int], Awaitable[Guest]]
REST_ID = "ps82kz7f"
HMAC_KEY = "callback-hmac-test-key"


@dataclass
class Outlet:
    restaurant: Restaurant
    urls: dict[str, str]  # kind path segment -> absolute callback URL

    @property
    def secret(self) -> str:
        return urlsplit(self.urls["stock"]).path.rsplit("/", 1)[1]

    def path(self, kind: str) -> str:
        return urlsplit(self.urls[kind]).path


@pytest.fixture
def connect(client: httpx.AsyncClient, make_restaurant: MakeRestaurant) -> Callable[[], Awaitable[Outlet]]:
    async def connect_() -> Outlet:
        r = await make_restaurant()
        answer = expect(await client.put(r.url("/integrations/petpooja"), headers=r.owner.headers, json={
            "rest_id": REST_ID, "app_key": "ak-0001", "app_secret": "as-0002", "access_token": "at-0003",
            "environment": "sandbox"}), 200)
        urls = {urlsplit(url).path.split("/")[-2]: url for url in answer["callback_urls"].values()}
        assert set(urls) == {"order-status", "stock", "store-status", "pushmenu"}
        return Outlet(r, urls)

    return connect_


@pytest.fixture
async def outlet(connect: Callable[[], Awaitable[Outlet]]) -> Outlet:
    return await connect()


def raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


@pytest.fixture
def send(client: httpx.AsyncClient) -> Callable[..., Awaitable[httpx.Response]]:
    """POSTs a body to one of the outlet's callback URLs exactly as given (bytes stay bytes)."""

    async def send_(outlet: Outlet, kind: str, body: dict[str, Any] | bytes,
                    headers: dict[str, str] | None = None) -> httpx.Response:
        content = body if isinstance(body, bytes) else raw(body)
        return await client.post(outlet.path(kind), content=content,
                                 headers={"content-type": "application/json", **(headers or {})})

    return send_


def deliveries(db_sql: DbSql, outlet: Outlet | None = None) -> list[dict[str, Any]]:
    return db_sql("SELECT id, source, kind, body, body_sha256, result, detail, duplicate_of FROM webhook_deliveries"
                  " WHERE %(rid)s::uuid IS NULL OR restaurant_id = %(rid)s ORDER BY id",
                  {"rid": outlet.restaurant.id if outlet else None})


def order_status(order_id: str, status: int | str, **extra: Any) -> dict[str, Any]:
    return {"restID": REST_ID, "orderID": order_id, "status": str(status), "cancel_reason": "",
            "minimum_prep_time": 20, "rider_name": "", "rider_phone_number": "", "is_modified": "No", **extra}


def order_state(db_sql: DbSql, order_id: str) -> tuple[str, list[tuple[Any, ...]]]:
    status = db_sql("SELECT status FROM orders WHERE id = %s", (order_id,))[0]["status"]
    events = db_sql("SELECT from_status, to_status, actor_type, reason FROM order_events WHERE order_id = %s"
                    " ORDER BY id", (order_id,))
    return status, [(e["from_status"], e["to_status"], e["actor_type"], e["reason"]) for e in events]


@pytest.fixture
def guest_order(client: httpx.AsyncClient, open_guest: OpenGuest) -> Callable[..., Awaitable[httpx.Response]]:
    async def place(r: Restaurant, *lines: tuple[str, int]) -> httpx.Response:
        guest = await open_guest(r, 0)
        return await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r, *lines))

    return place


# ---------------------------------------------------------------------- authentication


async def test_a_forged_secret_is_404_stores_nothing_and_logs_only_a_hash_prefix(
    outlet: Outlet, client: httpx.AsyncClient, db_sql: DbSql, capsys: pytest.CaptureFixture[str]
) -> None:
    """A well-formed secret that no outlet has, and a malformed one, are both 404 with nothing stored;
    the refusal is logged with a hash prefix of the secret, never the secret itself."""
    forged = "A" * 43
    for secret in (forged, "short"):
        answer = await client.post(f"/api/webhooks/petpooja/stock/{secret}", json={
            "restID": REST_ID, "type": "item", "inStock": False, "itemID": ["1"]})
        assert answer.status_code == 404
    assert deliveries(db_sql) == []
    logged = capsys.readouterr().err
    assert hashlib.sha256(forged.encode()).hexdigest()[:12] in logged
    assert forged not in logged


async def test_without_a_connected_outlet_every_callback_url_is_404(
    outlet: Outlet, client: httpx.AsyncClient, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """Disconnecting forgets the secret: the old URLs fail closed and store nothing."""
    r = outlet.restaurant
    expect(await client.delete(r.url("/integrations/petpooja"), headers=r.owner.headers), 204)
    for kind in outlet.urls:
        assert (await send(outlet, kind, {"restID": REST_ID})).status_code == 404, kind
    assert deliveries(db_sql) == []


@pytest.mark.parametrize("settings_overrides", [{"petpooja_callback_hmac_key": HMAC_KEY}])
async def test_with_an_hmac_key_configured_a_callback_needs_x_signature_over_its_raw_body(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """Missing or wrong X-Signature is 401 and stores nothing; the right one is accepted."""
    body = raw({"restID": REST_ID})
    good = hmac.new(HMAC_KEY.encode(), body, hashlib.sha256).hexdigest()
    bad = hmac.new(b"another key", body, hashlib.sha256).hexdigest()
    assert (await send(outlet, "store-status", body)).status_code == 401
    assert (await send(outlet, "store-status", body, {"X-Signature": bad})).status_code == 401
    assert deliveries(db_sql) == []
    answer = expect(await send(outlet, "store-status", body, {"X-Signature": good.upper()}), 200)
    assert answer["store_status"] == "1"
    assert [d["result"] for d in deliveries(db_sql)] == ["answered"]


@pytest.mark.parametrize("settings_overrides", [{"log_level": "INFO"}])
async def test_the_request_log_redacts_the_secret_of_webhook_paths(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Every request is logged, callbacks included, but their last path segment reads [redacted]."""
    capsys.readouterr()
    expect(await send(outlet, "store-status", {"restID": REST_ID}), 200)
    await send(outlet, "stock", b"not json")
    logged = capsys.readouterr().err
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    paths = [line["path"] for line in lines if line.get("event") == "http_request"]
    assert paths == ["/api/webhooks/petpooja/store-status/[redacted]", "/api/webhooks/petpooja/stock/[redacted]"]
    assert outlet.secret not in logged


async def test_a_body_over_the_cap_is_413_and_only_a_menu_push_may_be_megabytes(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """Callbacks keep the API's 64 KiB cap except the menu push (4 MiB): beyond it, 413."""
    padding = "x" * (100 * 1024)
    assert (await send(outlet, "stock", {"restID": REST_ID, "pad": padding})).status_code == 413
    big = raw({"restID": REST_ID, "pad": "x" * (5 * 1024 * 1024)})
    assert (await send(outlet, "pushmenu", big)).status_code == 413
    assert (await send(outlet, "pushmenu", {"restID": REST_ID, "pad": padding})).status_code != 413
    assert [d["kind"] for d in deliveries(db_sql)] in ([], ["pushmenu"])


# ------------------------------------------------------------------------- order status


async def test_order_callbacks_walk_a_dine_in_order_forward_with_petpooja_events_and_outbox_rows(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """accepted -> food ready -> delivered (served at the table) each answer an empty 200, move the order,
    record an order event from petpooja and leave the order's Convex outbox row at its new version;
    dispatched means nothing for a dine-in order and is ignored."""
    order = expect(await guest_order(outlet.restaurant), 201)
    steps = [(1, "confirmed"), (5, "ready"), (4, "ready"), (10, "served")]
    for code, expected in steps:
        answer = await send(outlet, "order-status", order_status(order["id"], code))
        assert (answer.status_code, answer.content) == (200, b"")
        assert order_state(db_sql, order["id"])[0] == expected
    _, events = order_state(db_sql, order["id"])
    assert events[1:] == [("pending", "confirmed", "petpooja", "prep 20 min"), ("confirmed", "ready", "petpooja",
                          "prep 20 min"), ("ready", "served", "petpooja", "prep 20 min")]
    assert [d["result"] for d in deliveries(db_sql, outlet)] == [
        "applied", "applied", "ignored: no dine_in status for 4", "applied"]
    version = db_sql("SELECT version FROM orders WHERE id = %s", (order["id"],))[0]["version"]
    outbox = db_sql("SELECT entity_version FROM sync_log WHERE target = 'convex' AND entity_type = 'order'"
                    " AND entity_id = %s AND status = 'pending'", (order["id"],))
    assert outbox == [{"entity_version": version}]


async def test_a_late_accepted_after_food_ready_is_logged_as_backwards_and_changes_nothing(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """Forward only: once ready, a later accepted (or a second food ready) is stored as ignored."""
    order = expect(await guest_order(outlet.restaurant), 201)
    await send(outlet, "order-status", order_status(order["id"], 5))
    before = order_state(db_sql, order["id"])
    for code in (2, 5):
        answer = await send(outlet, "order-status", order_status(order["id"], code, rider_name=f"r{code}"))
        assert (answer.status_code, answer.content) == (200, b"")
    assert order_state(db_sql, order["id"]) == before == ("ready", before[1])
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["applied", "ignored: backwards", "ignored: backwards"]


async def test_a_delivery_order_may_skip_steps_straight_to_dispatched_and_delivered(
    outlet: Outlet, client: httpx.AsyncClient, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """pending -> dispatched skips confirmed, preparing and ready; the rider is kept as the event's reason."""
    r = outlet.restaurant
    await deliver_from(client, r)
    order = expect(await client.post(r.url("/orders"), headers=r.owner.headers, json={
        **order_body(r), "order_type": "delivery", "customer_name": "Asha", "customer_phone": "+91 98765 43210",
        "delivery_address": DELIVERY_ADDRESS}), 201)
    await send(outlet, "order-status", order_status(order["id"], 4, rider_name="Ravi", rider_phone_number="98765",
                                                    minimum_prep_time=""))
    await send(outlet, "order-status", order_status(order["id"], 10, minimum_prep_time=""))
    status, events = order_state(db_sql, order["id"])
    assert status == "delivered"
    assert events[1:] == [("pending", "dispatched", "petpooja", "rider Ravi 98765"),
                          ("dispatched", "delivered", "petpooja", None)]


async def test_petpooja_cancels_an_order_with_its_reason_and_a_final_order_never_moves_again(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """status -1 cancels (even after food ready) with cancel_reason as the reason of an event from petpooja (which
    the PetPooja target reads so as not to push the cancel back); later callbacks for it are ignored."""
    order = expect(await guest_order(outlet.restaurant), 201)
    await send(outlet, "order-status", order_status(order["id"], 5, minimum_prep_time=""))
    await send(outlet, "order-status", order_status(order["id"], -1, cancel_reason="Out of paneer",
                                                    minimum_prep_time=""))
    await send(outlet, "order-status", order_status(order["id"], 10))
    status, events = order_state(db_sql, order["id"])
    assert status == "cancelled"
    assert events[-1] == ("ready", "cancelled", "petpooja", "Out of paneer")
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["applied", "applied", "ignored: order is cancelled"]


async def test_an_order_is_found_by_petpoojas_own_order_id_too(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """After save_order PetPooja knows the order by its own id (recorded in petpooja_orders); a callback naming
    that id moves our order."""
    order = expect(await guest_order(outlet.restaurant), 201)
    # What the worker records when it sends the order and PetPooja answers {"orderID": "26", ...}.
    db_sql("INSERT INTO petpooja_orders (restaurant_id, order_id, petpooja_order_id, pushed_at)"
           " VALUES (%s, %s, '26', now())", (outlet.restaurant.id, order["id"]))
    await send(outlet, "order-status", order_status("26", 1))
    assert order_state(db_sql, order["id"])[0] == "confirmed"


async def test_an_unknown_order_is_answered_200_and_logged(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """PetPooja cannot do better by retrying: an empty 200, the delivery stored as unknown order."""
    for ref in ("999999", "6f1c2a54-8f0e-4d53-9a86-1f3f0a7c1e11"):
        answer = await send(outlet, "order-status", order_status(ref, 1))
        assert (answer.status_code, answer.content) == (200, b"")
    assert [(d["result"], d["detail"]["order_refs"]) for d in deliveries(db_sql, outlet)] == [
        ("unknown order", ["999999"]), ("unknown order", ["6f1c2a54-8f0e-4d53-9a86-1f3f0a7c1e11"])]


async def test_a_replayed_callback_is_stored_as_duplicate_and_changes_nothing(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """The same body again (PetPooja retrying) is answered alike, stored with duplicate_of, and adds no event."""
    order = expect(await guest_order(outlet.restaurant), 201)
    body = raw(order_status(order["id"], 1))
    await send(outlet, "order-status", body)
    before = order_state(db_sql, order["id"])
    version = db_sql("SELECT version FROM orders WHERE id = %s", (order["id"],))[0]["version"]
    answer = await send(outlet, "order-status", body)
    assert (answer.status_code, answer.content) == (200, b"")
    assert order_state(db_sql, order["id"]) == before
    assert db_sql("SELECT version FROM orders WHERE id = %s", (order["id"],))[0]["version"] == version
    first, replay = deliveries(db_sql, outlet)
    assert (replay["result"], replay["duplicate_of"], bytes(replay["body"])) == ("duplicate", first["id"], body)
    assert bytes(replay["body_sha256"]) == hashlib.sha256(body).digest()


async def test_two_concurrent_identical_deliveries_apply_once(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """The per-restaurant-and-kind lock makes one of two simultaneous identical stock deliveries the replay."""
    r = outlet.restaurant
    db_sql("UPDATE menu_items SET external_id = 'pt-1' WHERE id = %s", (r.items["Paneer Tikka"]["id"],))
    body = raw({"restID": REST_ID, "type": "item", "inStock": False, "itemID": ["pt-1"]})
    answers = await asyncio.gather(*(send(outlet, "stock", body) for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    results = sorted(d["result"] for d in deliveries(db_sql, outlet))
    assert results == ["applied", "duplicate", "duplicate", "duplicate"]


async def test_a_malformed_or_mistyped_callback_is_400_and_stored_as_invalid(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """Bad JSON, a non-object, a non-numeric status and a missing orderID are each 400 and change nothing."""
    order = expect(await guest_order(outlet.restaurant), 201)
    bodies: list[bytes] = [b"{not json", b"[1, 2]", raw(order_status(order["id"], "accepted")),
                           raw({"restID": REST_ID, "status": "1"})]
    for body in bodies:
        problem = expect(await send(outlet, "order-status", body), 400)
        assert problem["code"] == "invalid_callback"
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["invalid"] * 4
    assert order_state(db_sql, order["id"])[0] == "pending"


async def test_a_callback_for_another_outlets_rest_id_is_logged_as_a_mismatch_and_changes_nothing(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """The body's restID must be the outlet's: otherwise an order callback is still an empty 200, the others
    PetPooja's 404 shape, and nothing but the log changes."""
    order = expect(await guest_order(outlet.restaurant), 201)
    answer = await send(outlet, "order-status", order_status(order["id"], 1, restID="other01"))
    assert (answer.status_code, answer.content) == (200, b"")
    problem = expect(await send(outlet, "store-status", {"restID": "other01", "store_status": 0}), 404)
    assert problem["status"] == "failed"
    assert order_state(db_sql, order["id"])[0] == "pending"
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["restID mismatch", "restID mismatch"]
    assert db_sql("SELECT accepting_orders FROM restaurants WHERE id = %s", (outlet.restaurant.id,)) == [
        {"accepting_orders": True}]


# -------------------------------------------------------------------------------- stock


async def test_stock_off_makes_an_item_unorderable_and_reaches_the_outbox_until_it_is_back(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """An item switched off by PetPooja id refuses guest orders with 422 and leaves its Convex outbox row at
    the new version; unknown ids are reported in the log; switching it on makes it orderable again."""
    r = outlet.restaurant
    item_id = r.items["Paneer Tikka"]["id"]
    db_sql("UPDATE menu_items SET external_id = '118829149' WHERE id = %s", (item_id,))
    answer = expect(await send(outlet, "stock", {
        "restID": REST_ID, "type": "item", "inStock": False, "itemID": ["118829149", "404404"],
        "autoTurnOnTime": "custom", "customTurnOnTime": "2026-12-03 18:00"}), 200)
    assert answer == {"code": 200, "status": "success", "message": "Stock status updated successfully"}
    refused = expect(await guest_order(r, ("Paneer Tikka", 1)), 422)
    assert refused["code"] == "menu_item_unavailable"
    row = db_sql("SELECT is_available, version FROM menu_items WHERE id = %s", (item_id,))[0]
    assert row["is_available"] is False
    outbox = db_sql("SELECT entity_version FROM sync_log WHERE target = 'convex' AND entity_type = 'menu_item'"
                    " AND entity_id = %s AND status = 'pending'", (item_id,))
    assert outbox == [{"entity_version": row["version"]}]
    (delivery,) = deliveries(db_sql, outlet)
    assert (delivery["result"], delivery["detail"]["changed"], delivery["detail"]["unknown"]) == (
        "applied", ["118829149"], ["404404"])

    # "1"/"0" strings and PetPooja's PHP-style object for itemID are accepted too.
    expect(await send(outlet, "stock", {"restID": REST_ID, "type": "item", "inStock": "1",
                                        "itemID": {"0": 118829149}}), 200)
    expect(await guest_order(r, ("Paneer Tikka", 1)), 201)


async def test_off_on_off_applies_all_three_and_only_a_repeat_that_changes_nothing_is_a_duplicate(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """A legitimate repeat of an older body applies; only a repeat of the latest one is a replay."""
    item_id = outlet.restaurant.items["Dal Makhani"]["id"]
    db_sql("UPDATE menu_items SET external_id = 'dm-7' WHERE id = %s", (item_id,))
    off = raw({"restID": REST_ID, "type": "item", "inStock": False, "itemID": ["dm-7"]})
    on = raw({"restID": REST_ID, "type": "item", "inStock": True, "itemID": ["dm-7"]})
    for body in (off, on, off, off):
        expect(await send(outlet, "stock", body), 200)
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["applied", "applied", "applied", "duplicate"]
    assert db_sql("SELECT is_available FROM menu_items WHERE id = %s", (item_id,)) == [{"is_available": False}]


async def test_a_repeated_stock_off_applies_again_once_staff_or_a_menu_push_turned_the_item_back_on(
    outlet: Outlet, client: httpx.AsyncClient, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """Stock bodies carry no event id: the same "off" as the latest delivery is a real repeat when the item came
    back on in between (a staff toggle PetPooja never hears of, or a menu push), so it applies and guests get 422;
    sent once more with nothing to change, it is the replay (duplicate)."""
    r = outlet.restaurant
    item_id = r.items["Paneer Tikka"]["id"]
    db_sql("UPDATE menu_items SET external_id = 'pt-8' WHERE id = %s", (item_id,))
    off = raw({"restID": REST_ID, "type": "item", "inStock": False, "itemID": ["pt-8"]})
    expect(await send(outlet, "stock", off), 200)
    expect(await client.put(r.url(f"/menu/items/{item_id}/availability"), headers=r.owner.headers,
                            json={"is_available": True}), 200)
    expect(await guest_order(r, ("Paneer Tikka", 1)), 201)

    answer = expect(await send(outlet, "stock", off), 200)
    assert answer["message"] == "Stock status updated successfully"
    assert db_sql("SELECT is_available FROM menu_items WHERE id = %s", (item_id,)) == [{"is_available": False}]
    assert expect(await guest_order(r, ("Paneer Tikka", 1)), 422)["code"] == "menu_item_unavailable"
    expect(await send(outlet, "stock", off), 200)
    first, repeat, replay = deliveries(db_sql, outlet)
    assert (first["result"], repeat["result"], repeat["duplicate_of"], repeat["detail"]["repeats"]) == (
        "applied", "applied", None, first["id"])
    assert (replay["result"], replay["duplicate_of"]) == ("duplicate", repeat["id"])

    # A menu push is the other way an item comes back on: PetPooja's own menu says it is in stock.
    menu = pushed_menu()
    pushed_item = menu["items"][0]
    pushed_item.update(in_stock="2", active="1")
    expect(await send(outlet, "pushmenu", menu), 200)
    pushed = db_sql("SELECT id FROM menu_items WHERE restaurant_id = %s AND external_id = %s",
                    (r.id, pushed_item["itemid"]))[0]["id"]
    off_pushed = raw({"restID": REST_ID, "type": "item", "inStock": False, "itemID": [pushed_item["itemid"]]})
    expect(await send(outlet, "stock", off_pushed), 200)
    expect(await send(outlet, "pushmenu", menu), 200)
    assert db_sql("SELECT is_available FROM menu_items WHERE id = %s", (pushed,)) == [{"is_available": True}]
    expect(await send(outlet, "stock", off_pushed), 200)
    assert db_sql("SELECT is_available FROM menu_items WHERE id = %s", (pushed,)) == [{"is_available": False}]
    assert [d["result"] for d in deliveries(db_sql, outlet) if d["kind"] == "stock"][-2:] == ["applied", "applied"]


async def test_a_repeated_menu_push_reimports_what_staff_changed_and_is_a_duplicate_only_when_nothing_changes(
    outlet: Outlet, client: httpx.AsyncClient, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """The same menu pushed again after staff switched an imported item off brings PetPooja's state back (a second
    push sync); pushed once more it changes nothing: a duplicate with no menu sync."""
    r = outlet.restaurant
    body = raw(pushed_menu())
    expect(await send(outlet, "pushmenu", body), 200)
    item = db_sql("SELECT id FROM menu_items WHERE restaurant_id = %s AND external_id IS NOT NULL AND is_available"
                  " ORDER BY external_id LIMIT 1", (r.id,))[0]["id"]
    expect(await client.put(r.url(f"/menu/items/{item}/availability"), headers=r.owner.headers,
                            json={"is_available": False}), 200)
    expect(await send(outlet, "pushmenu", body), 200)
    assert db_sql("SELECT is_available FROM menu_items WHERE id = %s", (item,)) == [{"is_available": True}]
    expect(await send(outlet, "pushmenu", body), 200)
    assert len(db_sql("SELECT id FROM menu_syncs WHERE restaurant_id = %s", (r.id,))) == 2
    first, repeat, replay = deliveries(db_sql, outlet)
    assert (repeat["result"], repeat["detail"]["counts"]["items"]["updated"], repeat["detail"]["repeats"]) == (
        "applied", 1, first["id"])
    assert (replay["result"], replay["duplicate_of"]) == ("duplicate", repeat["id"])


async def test_a_repeated_store_close_applies_again_after_the_store_was_opened_by_hand(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """Store switches are keyed on state too: the same close after the store was reopened outside PetPooja's
    callbacks closes it again; with the store already closed it is a duplicate."""
    close = raw({"restID": REST_ID, "store_status": 0, "turn_on_time": "", "reason": "Gas leak"})
    expect(await send(outlet, "store-status", close), 200)
    db_sql("UPDATE restaurants SET accepting_orders = true, closed_reason = NULL WHERE id = %s",
           (outlet.restaurant.id,))
    expect(await send(outlet, "store-status", close), 200)
    assert db_sql("SELECT accepting_orders, closed_reason FROM restaurants WHERE id = %s",
                  (outlet.restaurant.id,)) == [{"accepting_orders": False, "closed_reason": "Gas leak"}]
    expect(await send(outlet, "store-status", close), 200)
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["applied", "applied", "duplicate"]


async def test_an_order_callback_repeated_once_the_order_is_known_applies(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """PetPooja may call back with its own order id before our worker recorded it: that first delivery is an
    unknown order, and PetPooja's retry of the very same body, once the id is recorded, moves the order."""
    order = expect(await guest_order(outlet.restaurant), 201)
    body = raw(order_status("4242", 1))
    await send(outlet, "order-status", body)
    db_sql("INSERT INTO petpooja_orders (restaurant_id, order_id, petpooja_order_id, pushed_at)"
           " VALUES (%s, %s, '4242', now())", (outlet.restaurant.id, order["id"]))
    await send(outlet, "order-status", body)
    await send(outlet, "order-status", body)
    assert order_state(db_sql, order["id"])[0] == "confirmed"
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["unknown order", "applied", "duplicate"]


async def test_addon_stock_switches_addons_by_petpooja_id(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """type addon switches menu_addons, not items; an id of an item is unknown as an addon."""
    rid = outlet.restaurant.id
    group = db_sql("INSERT INTO menu_addon_groups (restaurant_id, name, external_id) VALUES (%s, 'Extra', '135707')"
                   " RETURNING id", (rid,))[0]["id"]
    db_sql("INSERT INTO menu_addons (restaurant_id, group_id, name, price, external_id)"
           " VALUES (%s, %s, 'Cheese', 1000, '1150813')", (rid, group))
    expect(await send(outlet, "stock", {"restID": REST_ID, "type": "addon", "inStock": "0",
                                        "itemID": ["1150813", "118829149"]}), 200)
    assert db_sql("SELECT is_available FROM menu_addons WHERE restaurant_id = %s", (rid,)) == [{"is_available": False}]
    (delivery,) = deliveries(db_sql, outlet)
    assert (delivery["detail"]["changed"], delivery["detail"]["unknown"]) == (["1150813"], ["118829149"])


# ------------------------------------------------------------------------- store status


async def test_store_off_refuses_guest_orders_until_petpooja_turns_it_on_again(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """Get answers the switch in PetPooja's shape; update 0 closes with the reason until turn_on_time (read in
    the restaurant's time zone) and guest orders are 409 store_closed; update 1 opens again."""
    r = outlet.restaurant
    got = expect(await send(outlet, "store-status", {"restID": REST_ID}), 200)
    assert got == {"http_code": 200, "status": "success", "store_status": "1",
                   "message": "Store Delivery Status fetched successfully"}
    updated = expect(await send(outlet, "store-status", {
        "restID": REST_ID, "store_status": "0", "turn_on_time": "2099-01-31 18:30:00", "reason": "Gas leak"}), 200)
    assert updated == {"http_code": 200, "status": "success",
                       "message": f"Store Status updated successfully for store {REST_ID}"}
    row = db_sql("SELECT accepting_orders, closed_reason, reopens_at FROM restaurants WHERE id = %s", (r.id,))[0]
    assert (row["accepting_orders"], row["closed_reason"]) == (False, "Gas leak")
    assert row["reopens_at"] == datetime(2099, 1, 31, 18, 30, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert expect(await send(outlet, "store-status", {"restID": REST_ID}), 200)["store_status"] == "0"
    refused = expect(await guest_order(r), 409)
    assert refused["code"] == "store_closed"

    expect(await send(outlet, "store-status", {"restID": REST_ID, "store_status": 1, "turn_on_time": "",
                                               "reason": ""}), 200)
    assert db_sql("SELECT accepting_orders, closed_reason, reopens_at FROM restaurants WHERE id = %s", (r.id,)) == [
        {"accepting_orders": True, "closed_reason": None, "reopens_at": None}]
    expect(await guest_order(r), 201)
    assert [(d["kind"], d["result"]) for d in deliveries(db_sql, outlet)] == [
        ("store-status-get", "answered"), ("store-status", "applied"), ("store-status-get", "answered"),
        ("store-status", "applied")]


async def test_a_blank_or_unreadable_turn_on_time_closes_the_store_until_told(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """Closing matters more than the reopening time: a blank one means no reopens_at, an unreadable one too
    (noted in the log)."""
    for turn_on in ("", "tomorrow-ish"):
        expect(await send(outlet, "store-status", {"restID": REST_ID, "store_status": 0, "turn_on_time": turn_on,
                                                   "reason": turn_on or "blank"}), 200)
        assert db_sql("SELECT accepting_orders, reopens_at FROM restaurants WHERE id = %s",
                      (outlet.restaurant.id,)) == [{"accepting_orders": False, "reopens_at": None}]
    assert deliveries(db_sql, outlet)[-1]["detail"]["turn_on_time_unreadable"] == "tomorrow-ish"


# ---------------------------------------------------------------------------- menu push

STANDIN_MENU = Path(__file__).resolve().parent.parent / "scripts" / "petpooja_standin_menu.json"


def pushed_menu(rest_id: str = REST_ID) -> dict[str, Any]:
    """The stand-in's realistic menu (the fetch-menu structure PetPooja also pushes), for this outlet."""
    menu: dict[str, Any] = json.loads(STANDIN_MENU.read_text())
    menu["restaurants"][0]["details"]["menusharingcode"] = rest_id
    return menu


async def test_a_pushed_menu_is_imported_once_and_its_replay_changes_nothing(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """The push answers PetPooja's success shape, imports the menu by PetPooja ids with a push menu_syncs row and
    Convex outbox rows for its items; the same push again is a duplicate: no second import."""
    rid = outlet.restaurant.id
    body = raw(pushed_menu())
    answer = expect(await send(outlet, "pushmenu", body), 200)
    assert answer == {"success": "1", "message": "Menu items are successfully listed."}
    syncs = db_sql("SELECT id, source, status FROM menu_syncs WHERE restaurant_id = %s", (rid,))
    assert [(s["source"], s["status"]) for s in syncs] == [("push", "ok")]
    imported = db_sql("SELECT id, version FROM menu_items WHERE restaurant_id = %s AND external_id IS NOT NULL"
                      " AND deleted_at IS NULL", (rid,))
    assert imported
    outbox = db_sql("SELECT entity_id, entity_version FROM sync_log WHERE target = 'convex'"
                    " AND entity_type = 'menu_item' AND status = 'pending' AND restaurant_id = %s", (rid,))
    assert {(i["id"], i["version"]) for i in imported} <= {(o["entity_id"], o["entity_version"]) for o in outbox}
    (delivery,) = deliveries(db_sql, outlet)
    assert (delivery["result"], delivery["detail"]["menu_sync_id"]) == ("applied", syncs[0]["id"])

    expect(await send(outlet, "pushmenu", body), 200)
    assert len(db_sql("SELECT id FROM menu_syncs WHERE restaurant_id = %s", (rid,))) == 1
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["applied", "duplicate"]


async def test_a_pushed_menu_that_cannot_be_read_is_400_with_its_errors_and_a_failed_sync(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """A menu without items is refused with what was wrong, recorded as a failed push sync, and imports nothing."""
    menu = pushed_menu()
    del menu["items"]
    problem = expect(await send(outlet, "pushmenu", menu), 400)
    assert problem["code"] == "invalid_callback" and problem["errors"]
    rid = outlet.restaurant.id
    assert [(s["source"], s["status"]) for s in db_sql(
        "SELECT source, status FROM menu_syncs WHERE restaurant_id = %s", (rid,))] == [("push", "failed")]
    assert db_sql("SELECT id FROM menu_items WHERE restaurant_id = %s AND external_id IS NOT NULL", (rid,)) == []
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["invalid"]


async def test_an_item_petpooja_sells_only_for_delivery_and_pickup_cannot_be_ordered_at_a_table(
    outlet: Outlet, client: httpx.AsyncClient, open_guest: OpenGuest,
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """Issue 11, finding 10: item_ordertype "1,2" is imported; the menu shows it; a guest at a table gets 422
    order_type_not_offered naming the line and nothing is written; a takeaway order of it goes through."""
    menu = pushed_menu()
    item = next(i for i in menu["items"] if not i["variation"] and not i["addon"] and i["in_stock"] != "0"
                and i["active"] == "1")
    item["item_ordertype"] = "1,2"
    expect(await send(outlet, "pushmenu", menu), 200)
    r = outlet.restaurant
    item_id = db_sql("SELECT id FROM menu_items WHERE restaurant_id = %s AND external_id = %s",
                     (r.id, item["itemid"]))[0]["id"]
    guest = await open_guest(r, 0)
    shown = {i["id"]: i["order_types"] for c in expect(await client.get(r.url("/menu"), headers=guest.headers),
                                                         200)["categories"] for i in c["items"]}
    assert shown[str(item_id)] == ["takeaway", "delivery"]
    orders = db_sql("SELECT count(*) AS n FROM orders WHERE restaurant_id = %s", (r.id,))
    body = {"items": [{"menu_item_id": r.items["Dal Makhani"]["id"], "quantity": 1},
                      {"menu_item_id": str(item_id), "quantity": 2}]}
    problem = expect(await client.post(r.url("/orders"), headers=guest.headers, json=body), 422)
    assert (problem["code"], [e["loc"] for e in problem["errors"]]) == (
        "order_type_not_offered", [["body", "items", 1, "menu_item_id"]])
    assert db_sql("SELECT count(*) AS n FROM orders WHERE restaurant_id = %s", (r.id,)) == orders
    expect(await client.post(r.url("/orders"), headers=r.owner.headers, json={**body, "order_type": "takeaway"}), 201)


async def test_a_menu_pushed_for_another_outlet_is_refused_and_imports_nothing(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """The menu's menusharingcode must be this outlet's restID."""
    problem = expect(await send(outlet, "pushmenu", pushed_menu("other01")), 404)
    assert problem == {"success": "0", "message": "Restaurant not found."}
    assert db_sql("SELECT id FROM menu_syncs") == []
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["restID mismatch"]


# ------------------------------------------------------------------------------ Convex


@pytest.fixture
async def synced(settings: Settings, standin: Standin) -> AsyncIterator[httpx.AsyncClient]:
    """A second API process on the same database whose post-commit pusher writes to the Convex stand-in."""
    application = create_app(settings, SyncSettings.model_validate({
        "convex_url": standin.url, "convex_deploy_key": STANDIN_KEY, "convex_timeout_s": 2.0,
        "sync_batch_window_ms": 2}))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabletop.test") as c:
            yield c


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Waits for an eventually-true condition (a liveness bound, not a performance claim)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_callbacks_reach_convex_right_after_commit(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]], synced: httpx.AsyncClient,
    standin: Standin, db_sql: DbSql
) -> None:
    """The pusher is told after commit: an order moved by PetPooja and an item it switched off show up in Convex
    at their new versions without waiting for the worker."""
    r = outlet.restaurant
    item_id = r.items["Paneer Tikka"]["id"]
    db_sql("UPDATE menu_items SET external_id = 'pt-9' WHERE id = %s", (item_id,))
    order = expect(await guest_order(r), 201)
    headers = {"content-type": "application/json"}
    assert (await synced.post(outlet.path("order-status"), content=raw(order_status(order["id"], 5)),
                              headers=headers)).status_code == 200
    assert (await synced.post(outlet.path("stock"), headers=headers, content=raw(
        {"restID": REST_ID, "type": "item", "inStock": False, "itemID": ["pt-9"]}))).status_code == 200

    def order_doc() -> dict[str, Any] | None:
        return next((d for d in standin.dump()["orders"] if d["pgId"] == order["id"]), None)

    def item_doc() -> dict[str, Any] | None:
        return next((d for d in standin.dump()["menuItems"] if d["pgId"] == item_id), None)

    await until(lambda: order_doc() is not None and item_doc() is not None)
    versions = {row["id"]: row["version"] for row in db_sql(
        "SELECT id::text AS id, version FROM orders WHERE id = %(o)s UNION ALL"
        " SELECT id::text, version FROM menu_items WHERE id = %(i)s", {"o": order["id"], "i": item_id})}
    doc, item = order_doc(), item_doc()
    assert doc is not None and item is not None
    assert (doc["status"], doc["version"]) == ("ready", versions[order["id"]])
    assert (item["isAvailable"], item["version"]) == (False, versions[item_id])


# ---------------------------------------------------- input PostgreSQL cannot hold (issue 11, finding 6)


def snapshot(db_sql: DbSql, outlet: Outlet) -> dict[str, Any]:
    """Everything a callback could change for the outlet's restaurant."""
    rid = outlet.restaurant.id
    return {
        "orders": db_sql("SELECT id, status, version FROM orders WHERE restaurant_id = %s ORDER BY id", (rid,)),
        "events": db_sql("SELECT count(*) AS n FROM order_events WHERE restaurant_id = %s", (rid,)),
        "items": db_sql("SELECT id, name, description, price, is_available, external_id, deleted_at, version"
                        " FROM menu_items WHERE restaurant_id = %s ORDER BY id", (rid,)),
        "addons": db_sql("SELECT id, is_available FROM menu_addons WHERE restaurant_id = %s ORDER BY id", (rid,)),
        "store": db_sql("SELECT accepting_orders, closed_reason, reopens_at FROM restaurants WHERE id = %s", (rid,)),
        "syncs": db_sql("SELECT count(*) AS n FROM menu_syncs WHERE restaurant_id = %s AND status = 'ok'", (rid,)),
    }


def with_nul(kind: str, order_id: str) -> dict[str, dict[str, Any]]:
    """Bodies of ``kind`` with a NUL in each field PetPooja sends (and in one we do not read)."""
    nul = "\u0000"
    if kind == "order-status":
        return {
            "orderID": order_status(order_id + nul, 1),
            "clientOrderID": order_status(order_id, 1, clientOrderID=nul),
            "cancel_reason": order_status(order_id, -1, cancel_reason=f"Out of{nul}paneer"),
            "rider_name": order_status(order_id, 1, rider_name=f"Ravi{nul}"),
            "minimum_prep_time": order_status(order_id, 1, minimum_prep_time=f"20{nul}"),
            "restID": order_status(order_id, 1, restID=REST_ID + nul),
            "is_modified (not read)": order_status(order_id, 1, is_modified=nul),
        }
    if kind == "stock":
        stock = {"restID": REST_ID, "type": "item", "inStock": False, "itemID": ["pt-1"]}
        return {
            "itemID": {**stock, "itemID": ["pt-1", f"pt-1{nul}"]},
            "itemID object key": {**stock, "itemID": {f"0{nul}": "pt-1"}},
            "type": {**stock, "type": f"item{nul}"},
            "customTurnOnTime": {**stock, "customTurnOnTime": f"2026-12-03{nul}"},
            "a key": {**stock, f"extra{nul}": 1},
        }
    if kind == "store-status":
        store = {"restID": REST_ID, "store_status": 0, "turn_on_time": "2099-01-31 18:30:00", "reason": "Gas leak"}
        return {
            "reason": {**store, "reason": f"Gas{nul}leak"},
            "turn_on_time": {**store, "turn_on_time": f"2099-01-31 18:30:00{nul}"},
            "restID": {**store, "restID": nul},
        }
    bodies = {}
    for label, edit in {
        "item name": lambda m: m["items"][0].update(itemname=f"Paneer{nul}"),
        "item description": lambda m: m["items"][0].update(itemdescription=nul),
        "item id": lambda m: m["items"][0].update(itemid=f"1{nul}"),
        "category name": lambda m: m["categories"][0].update(categoryname=f"Starters{nul}"),
        "tax name": lambda m: m["taxes"][0].update(taxname=f"CGST{nul}"),
        "addon name": lambda m: m["addongroups"][0]["addongroupitems"][0].update(addonitem_name=nul),
        "menusharingcode": lambda m: m["restaurants"][0]["details"].update(menusharingcode=REST_ID + nul),
        "an image url (not read)": lambda m: m["items"][0].update(item_image_url=f"https://x/{nul}"),
    }.items():
        menu = pushed_menu()
        edit(menu)
        bodies[label] = menu
    return bodies


@pytest.mark.parametrize("kind", ["order-status", "stock", "store-status", "pushmenu"])
async def test_a_nul_in_any_field_of_a_callback_is_400_recorded_and_changes_nothing(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql, kind: str
) -> None:
    """PostgreSQL stores no NUL in text or jsonb: every field of every kind (ids, reasons, names, times, keys,
    fields we do not even read) carrying one is refused with PetPooja's 400 for a bad body, the delivery is kept
    byte for byte as invalid with where the NUL was, and nothing else changes."""
    r = outlet.restaurant
    db_sql("UPDATE menu_items SET external_id = 'pt-1' WHERE id = %s", (r.items["Paneer Tikka"]["id"],))
    order = expect(await guest_order(r), 201)
    before = snapshot(db_sql, outlet)
    bodies = with_nul(kind, order["id"])
    for label, body in bodies.items():
        content = raw(body)
        problem = expect(await send(outlet, kind, content), 400)
        assert problem["code"] == "invalid_callback", label
        assert problem["errors"][0]["type"] == "string_unstorable", label
        stored = deliveries(db_sql, outlet)[-1]
        assert (stored["result"], bytes(stored["body"])) == ("invalid", content), label
    assert snapshot(db_sql, outlet) == before
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["invalid"] * len(bodies)


async def test_control_characters_are_stripped_from_callback_text_and_refused_in_ids(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """A reason keeps its words, tab and line breaks but loses escape sequences and other controls; an id with a
    control character names nothing we know and is refused (400); printable Unicode passes unchanged."""
    r = outlet.restaurant
    db_sql("UPDATE menu_items SET external_id = 'pt-1' WHERE id = %s", (r.items["Paneer Tikka"]["id"],))
    order = expect(await guest_order(r), 201)
    await send(outlet, "order-status", order_status(order["id"], -1, minimum_prep_time="",
                                                    cancel_reason="\x1b[31mOut of\tpaneer\x07\u0085 — पनीर 🧀"))
    assert order_state(db_sql, order["id"])[1][-1] == ("pending", "cancelled", "petpooja", "[31mOut of\tpaneer — पनीर 🧀")
    expect(await send(outlet, "store-status", {"restID": REST_ID, "store_status": 0, "reason": "Closed\x08\x7f\r\n"}),
           200)
    assert db_sql("SELECT closed_reason FROM restaurants WHERE id = %s", (r.id,)) == [{"closed_reason": "Closed\r\n"}]
    for item_id in ("pt-1\x01", "pt\u009f1", "   "):
        problem = expect(await send(outlet, "stock", {"restID": REST_ID, "type": "item", "inStock": False,
                                                      "itemID": [item_id]}), 400)
        assert problem["code"] == "invalid_callback"
    assert db_sql("SELECT is_available FROM menu_items WHERE external_id = 'pt-1'") == [{"is_available": True}]


@pytest.mark.parametrize(("field", "value"), [
    ("price", "1e400"), ("price", "99999999999999999999"), ("price", "100000000.01"), ("price", "Infinity"),
    ("price", "NaN"), ("price", "-0.50"), ("price", "1_000"), ("price", "١٢٠"), ("price", "0x10"),
    ("price", 1e400), ("itemrank", "99999999999"), ("itemrank", "1e400"), ("itemrank", "Infinity"),
    ("itemrank", "1e999999999"), ("itemrank", 99999999999999999999), ("variation price", "1e400"),
    ("addon price", "99999999999999999999"), ("addon min", "1e400"), ("tax", "1e400"), ("tax", "NaN"),
    ("category rank", "-99999999999"), ("item id", "1" * 65), ("category name", "x" * 256),
])
async def test_out_of_range_numbers_and_oversized_ids_in_a_pushed_menu_are_400_with_a_failed_sync(
    outlet: Outlet, send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql, field: str, value: Any
) -> None:
    """Prices, ranks, limits and rates that no column can hold (or that are not plain decimals: exponents,
    NaN, Infinity, other scripts' digits, underscores), ids too long for their index and names beyond 255
    characters refuse the whole menu: 400, a failed push sync naming the problem, nothing imported."""
    menu = pushed_menu()
    pizza = next(i for i in menu["items"] if i["variation"])
    target = {
        "price": (menu["items"][0], "price"), "itemrank": (menu["items"][0], "itemrank"),
        "variation price": (pizza["variation"][0], "price"),
        "addon price": (menu["addongroups"][0]["addongroupitems"][0], "addonitem_price"),
        "addon min": (next(i for i in menu["items"] if i["addon"])["addon"][0], "addon_item_selection_min"),
        "tax": (menu["taxes"][0], "tax"), "category rank": (menu["categories"][0], "categoryrank"),
        "item id": (menu["items"][0], "itemid"), "category name": (menu["categories"][0], "categoryname"),
    }[field]
    target[0][target[1]] = value
    # The float 1e400 goes out as the JSON number 1e400 (json.dumps writes it Infinity).
    content = raw(menu).replace(b"Infinity", b"1e400") if value == 1e400 else raw(menu)
    problem = expect(await send(outlet, "pushmenu", content), 400)
    assert problem["code"] == "invalid_callback"
    rid = outlet.restaurant.id
    assert db_sql("SELECT status FROM menu_syncs WHERE restaurant_id = %s", (rid,)) in (
        [{"status": "failed"}], [])
    assert db_sql("SELECT id FROM menu_items WHERE restaurant_id = %s AND external_id IS NOT NULL", (rid,)) == []
    assert [d["result"] for d in deliveries(db_sql, outlet)] == ["invalid"]


async def test_odd_numbers_and_times_in_order_and_store_callbacks_are_answered_never_500(
    outlet: Outlet, guest_order: Callable[..., Awaitable[httpx.Response]],
    send: Callable[..., Awaitable[httpx.Response]], db_sql: DbSql
) -> None:
    """A status code no int64 holds, a fraction or an exponent is refused (400) or logged as an unknown code;
    a store switch other than 0/1 is 400; turn_on_time at the calendar's ends still closes the store."""
    order = expect(await guest_order(outlet.restaurant), 201)
    for status in ("99999999999999999999", "-99999999999999999999", 99999999999999999999, "1e3", 1.5, "NaN"):
        answer = await send(outlet, "order-status", raw(order_status(order["id"], 0)).replace(
            b'"status": "0"', b'"status": ' + json.dumps(status).encode()))
        assert answer.status_code in (200, 400), status
    assert order_state(db_sql, order["id"])[0] == "pending"
    assert {d["result"] for d in deliveries(db_sql, outlet)} <= {"invalid", "duplicate"} | {
        f"ignored: unknown status {n}" for n in (99999999999999999999, -99999999999999999999)}
    for switch in (2, -1, "1e0", "0.5", 99999999999999999999):
        assert (await send(outlet, "store-status", {"restID": REST_ID, "store_status": switch})).status_code == 400
    for turn_on in ("0001-01-01 00:00:00", "9999-12-31 23:59:59", "2026-02-30 10:00:00", "2026-12-03 24:00"):
        expect(await send(outlet, "store-status", {"restID": REST_ID, "store_status": 0, "turn_on_time": turn_on,
                                                   "reason": turn_on}), 200)
        assert db_sql("SELECT accepting_orders, closed_reason FROM restaurants WHERE id = %s",
                      (outlet.restaurant.id,)) == [{"accepting_orders": False, "closed_reason": turn_on}]
