"""Orders out to PetPooja: the client (settings, URLs, keys, SigV4), and the outbox target
pushing orders to the PetPooja stand-in."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from db.outbox import Backoff
from db.petpooja import Credentials, Outlet
from db.pool import Database
from sync.config import PetpoojaSettings, SyncConfigError, SyncSettings, load_petpooja_settings
from sync.petpooja.client import PetpoojaClient, PetpoojaError, PetpoojaUnreachable
from sync.petpooja.payload import money
from sync.petpooja.target import PetpoojaTarget, petpooja_target
from sync.registry import build_targets
from sync.target import Policy
from tests.conftest import (
    DELIVERY_ADDRESS,
    Guest,
    MakeRestaurant,
    PetpoojaStandin,
    Restaurant,
    Served,
    User,
    deliver_from,
    expect,
    order_body,
)

DbSql = Callable[..., list[dict[str, Any]]]
OpenGuest = Callable[[Restaurant, int], Awaitable[Guest]]

OUTLET = Outlet("xk91ab", "sandbox", Credentials("key-1", "secret-1", "token-1"))


def test_settings_default_to_petpooja_hosts_and_read_the_environment() -> None:
    default = load_petpooja_settings({})
    assert default.petpooja_sandbox_url.startswith("https://") and default.petpooja_production_url.startswith("https://")
    assert not default.sigv4
    custom = load_petpooja_settings({"PETPOOJA_SANDBOX_URL": "http://127.0.0.1:9/", "PETPOOJA_TIMEOUT_S": "2.5"})
    assert (custom.base_url("sandbox"), custom.base_url("production"), custom.petpooja_timeout_s) == (
        "http://127.0.0.1:9", default.petpooja_production_url, 2.5)
    with pytest.raises(SyncConfigError, match="go together"):
        load_petpooja_settings({"PETPOOJA_SIGV4_REGION": "ap-southeast-1"})
    with pytest.raises(SyncConfigError, match="petpooja_timeout_s"):
        load_petpooja_settings({"PETPOOJA_TIMEOUT_S": "-1"})


async def test_calls_go_to_the_outlet_environment_with_keys_in_body_or_headers() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("mapped_restaurant_menus"):
            return httpx.Response(200, json={"success": "1", "restaurants": []})
        return httpx.Response(200, json={"success": "1", "orderID": "77"})

    settings = load_petpooja_settings({"PETPOOJA_SANDBOX_URL": "http://sandbox.test/V1",
                                       "PETPOOJA_PRODUCTION_URL": "http://prod.test"})
    client = PetpoojaClient(settings, transport=httpx.MockTransport(answer))
    try:
        saved = await client.save_order(OUTLET, {"orderinfo": {"x": "1"}})
        await client.update_order_status(Outlet("p1", "production", OUTLET.credentials), {"status": "-1"})
        menu = await client.fetch_menu(OUTLET)
    finally:
        await client.close()
    assert saved.status_code == 200 and json.loads(saved.body)["orderID"] == "77"
    assert [str(r.url) for r in seen] == ["http://sandbox.test/V1/save_order", "http://prod.test/update_order_status",
                                          "http://sandbox.test/V1/mapped_restaurant_menus"]
    assert json.loads(seen[0].content) == {"orderinfo": {"x": "1"}, "app_key": "key-1", "app_secret": "secret-1",
                                           "access_token": "token-1"}
    assert json.loads(seen[1].content)["app_secret"] == "secret-1"
    assert json.loads(seen[2].content) == {"restID": "xk91ab"}
    assert (seen[2].headers["app-key"], seen[2].headers["app-secret"], seen[2].headers["access-token"]) == (
        "key-1", "secret-1", "token-1")
    assert "authorization" not in seen[0].headers
    assert menu == {"success": "1", "restaurants": []}


async def test_a_signed_request_carries_an_aws4_hmac_sha256_authorization() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": "1"})

    settings = load_petpooja_settings({
        "PETPOOJA_SANDBOX_URL": "https://abc123.execute-api.ap-southeast-1.amazonaws.com/V1",
        "PETPOOJA_SIGV4_REGION": "ap-southeast-1", "PETPOOJA_SIGV4_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "PETPOOJA_SIGV4_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"})
    client = PetpoojaClient(settings, transport=httpx.MockTransport(answer))
    try:
        await client.save_order(OUTLET, {"orderinfo": {}})
    finally:
        await client.close()
    auth = seen[0].headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/ap-southeast-1/execute-api/aws4_request" in auth
    assert "SignedHeaders=" in auth and "host" in auth and "Signature=" in auth
    assert seen[0].headers["x-amz-date"]
    assert "wJalrXUtnFEMI" not in repr(settings)


async def test_network_failure_timeout_and_bad_menu_answers_raise_clear_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    settings = load_petpooja_settings({"PETPOOJA_SANDBOX_URL": "http://sandbox.test"})
    for transport, match in ((refuse, "unreachable"), (hang, "did not answer")):
        client = PetpoojaClient(settings, transport=httpx.MockTransport(transport))
        with pytest.raises(PetpoojaUnreachable, match=match):
            await client.save_order(OUTLET, {})
        await client.close()

    for response, match in (
        (httpx.Response(401, json={"message": "Invalid credentials"}), "HTTP 401: Invalid credentials"),
        (httpx.Response(200, content=b"<html>"), "not a JSON object"),
        (httpx.Response(200, json={"success": "0", "message": "restID not mapped"}), "restID not mapped"),
    ):
        client = PetpoojaClient(settings, transport=httpx.MockTransport(lambda _r, resp=response: resp))
        with pytest.raises(PetpoojaError, match=match):
            await client.fetch_menu(OUTLET)
        await client.close()


# ----------------------------------------------------------------- the outbox target
# Orders go in through the API; the target pushes them to the PetPooja stand-in (a real
# process speaking PetPooja's wire format) over real HTTP.


class RecordingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, keeping the bytes of every request it sends."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[str, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.sent.append((request.url.path, body))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()




MakeTarget = Callable[..., Served]
FAST = Backoff(base_s=0.05, max_s=0.05, max_attempts=3)


@pytest.fixture
async def make_target(app: Starlette, system_db: Database,
                      petpooja_standin: PetpoojaStandin) -> AsyncIterator[MakeTarget]:
    made: list[Served] = []

    def make(*, timeout_s: float = 2.0, transport: httpx.AsyncBaseTransport | None = None,
             backoff: Backoff = FAST, batch_size: int = 10) -> Served:
        settings = PetpoojaSettings(petpooja_sandbox_url=petpooja_standin.url,
                                    petpooja_production_url="http://127.0.0.1:9", petpooja_timeout_s=timeout_s)
        target = PetpoojaTarget(system_db, PetpoojaClient(settings, transport=transport),
                                app.state.services.credentials, callback_base_url="http://tabletop.test",
                                policy=Policy(batch_size=batch_size, lease_s=30, backoff=backoff))
        made.append(Served(system_db, target))
        return made[-1]

    yield make
    for served in made:
        await served.close()


@pytest.fixture
async def admin(make_user: Callable[..., Any], db_sql: DbSql) -> User:
    user: User = await make_user()
    db_sql("UPDATE users SET is_platform_admin = true WHERE id = %s", (user.id,))
    return user


async def connect(client: httpx.AsyncClient, r: Restaurant, standin: PetpoojaStandin, rest_id: str = "",
                  **keys: str) -> str:
    """Registers an outlet in the stand-in and connects the restaurant to it; returns the rest_id."""
    rest_id = rest_id or f"out{r.id[:8]}"
    registered = standin.register(rest_id)
    expect(await client.put(r.url("/integrations/petpooja"), headers=r.owner.headers, json={
        "rest_id": rest_id, "environment": "sandbox", **registered, **keys}), 200)
    return rest_id


async def place(client: httpx.AsyncClient, r: Restaurant, guest: Guest,
                lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body = {"items": lines} if lines is not None else order_body(r)
    return expect(await client.post(r.url("/orders"), headers=guest.headers, json=body), 201)


async def cancel(client: httpx.AsyncClient, r: Restaurant, order: dict[str, Any],
                 reason: str = "Guest changed their mind") -> None:
    expect(await client.post(r.url(f"/orders/{order['id']}/cancel"), headers=r.owner.headers,
                             json={"reason": reason}), 200)


def rows(db_sql: DbSql, order_id: str) -> list[dict[str, Any]]:
    return db_sql("SELECT * FROM sync_log WHERE target = 'petpooja' AND entity_id = %s ORDER BY id", (order_id,))


def tracked(db_sql: DbSql, order_id: str) -> dict[str, Any]:
    (row,) = db_sql("SELECT * FROM petpooja_orders WHERE order_id = %s", (order_id,))
    return row


async def test_a_qr_order_is_pushed_as_dine_in_and_petpooja_order_id_recorded(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    rest_id = await connect(client, r, petpooja_standin)
    order = await place(client, r, await open_guest(r))
    assert [row["status"] for row in rows(db_sql, order["id"])] == ["pending"]

    report = await make_target().round(owner="w1")

    assert (report.claimed, report.synced, report.failed, report.dead) == (1, 1, 0, 0)
    (saved,) = petpooja_standin.saved()
    info = saved["body"]["orderinfo"]["OrderInfo"]
    assert (saved["restID"], saved["clientOrderID"]) == (rest_id, order["id"])
    assert saved["body"]["app_key"] == "test-app-key"
    details = info["Order"]["details"]
    assert (details["order_type"], details["table_no"], details["total"]) == ("D", "T1", money(order["total"], "INR"))
    assert details["callback_url"].startswith("http://tabletop.test/api/webhooks/petpooja/order-status/")
    row = tracked(db_sql, order["id"])
    assert row["petpooja_order_id"] == saved["orderID"] and row["pushed_at"] is not None
    assert row["response"]["success"] == "1"
    # Frozen without credentials, and exactly what was sent once they are added.
    assert "app_key" not in row["payload"] and "TOPSECRET" not in json.dumps(row["payload"])
    assert {k: v for k, v in saved["body"].items() if k not in ("app_key", "app_secret", "access_token")} == row[
        "payload"]
    assert [r_["status"] for r_ in rows(db_sql, order["id"])] == ["synced"]
    assert (await make_target().round(owner="w1")).claimed == 0


async def test_a_delivery_order_goes_out_with_its_address_point_and_delivery_charge(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, petpooja_standin: PetpoojaStandin,
    make_target: MakeTarget,
) -> None:
    """docs/delivery-zones.md: Customer.details.address, latitude and longitude, and Order.details.delivery_charges
    (which the stand-in adds into its check that the total adds up)."""
    r = await make_restaurant()
    await connect(client, r, petpooja_standin)
    await deliver_from(client, r, fee_bands=[{"up_to_m": 5000, "fee": 4500}])
    order = expect(await client.post(r.url("/orders"), headers=r.owner.headers, json={
        **order_body(r), "order_type": "delivery", "customer_name": "Asha", "customer_phone": "+91 98765 43210",
        "delivery_address": {**DELIVERY_ADDRESS, "instructions": "Flat 3B\nring twice"}}), 201)

    report = await make_target().round(owner="w1")

    assert (report.synced, report.dead) == (1, 0)
    (saved,) = petpooja_standin.saved()
    info = saved["body"]["orderinfo"]["OrderInfo"]
    assert info["Customer"]["details"] == {
        "email": "", "name": "Asha", "phone": "+91 98765 43210", "latitude": "18.515", "longitude": "73.881",
        "address": "4 East Street, Camp, Pune, 411001 (Flat 3B ring twice)"}
    details = info["Order"]["details"]
    assert (details["order_type"], details["delivery_charges"], details["dc_tax_amount"], details["total"]) == (
        "H", "45.00", "0.00", money(order["total"], "INR"))


async def test_restaurants_without_an_outlet_get_no_petpooja_rows(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    order = await place(client, r, await open_guest(r))
    assert rows(db_sql, order["id"]) == []


@pytest.mark.parametrize("case", ["SO_105", "SO_106"])
async def test_a_validation_failure_is_dead_at_once_with_validation_errors_in_the_sync_errors_api(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql, admin: User, case: str,
) -> None:
    r = await make_restaurant()
    if case == "SO_105":  # keys PetPooja does not know for this outlet
        await connect(client, r, petpooja_standin, access_token="stale-token")
    else:  # the content refused (the stand-in's injected SO_106)
        await connect(client, r, petpooja_standin)
        petpooja_standin.fault("reject", count=1)
    order = await place(client, r, await open_guest(r))

    report = await make_target().round(owner="w1")

    assert (report.claimed, report.dead, report.synced, report.failed) == (1, 1, 0, 0)
    (row,) = rows(db_sql, order["id"])
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert f"errorCode={case}" in row["last_error"] and "validation_errors=" in row["last_error"]
    expected = "access_token" if case == "SO_105" else "fault mode reject"
    assert expected in row["last_error"]
    assert tracked(db_sql, order["id"])["pushed_at"] is None
    assert tracked(db_sql, order["id"])["response"]["errorCode"] == case
    errors = expect(await client.get("/api/admin/sync/errors", headers=admin.headers), 200)["items"]
    (listed,) = [e for e in errors if e["entity_id"] == order["id"]]
    assert (listed["target"], listed["status"]) == ("petpooja", "dead")
    assert case in listed["last_error"] and expected in listed["last_error"]
    assert "test-app-secret" not in listed["last_error"]
    assert petpooja_standin.saved() == []
    assert (await make_target().round(owner="w1")).claimed == 0  # never retried by itself


@pytest.mark.parametrize("fault", ["http500", "hang", "network"])
async def test_transient_failures_are_retried_with_backoff_until_petpooja_recovers(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql, fault: str,
) -> None:
    r = await make_restaurant()
    await connect(client, r, petpooja_standin)
    order = await place(client, r, await open_guest(r))
    if fault == "network":
        # Nothing listens there: the connection is refused.
        down = make_target(backoff=Backoff(0.05, 0.05, 2))
        down.target.client.settings = down.target.client.settings.model_copy(update={"petpooja_sandbox_url": "http://127.0.0.1:9"})
        for _ in range(3):  # past max_attempts: an unreachable PetPooja never makes the row dead
            assert (await down.round(owner="w1")).failed == 1
            await asyncio.sleep(0.06)
        error = "unreachable"
    else:
        petpooja_standin.fault(fault, count=1)
        started = time.monotonic()
        target = make_target(timeout_s=0.5, backoff=Backoff(4.0, 4.0, 3))
        assert (await target.round(owner="w1")).failed == 1
        assert fault != "hang" or time.monotonic() - started < 5
        assert (await target.round(owner="w1")).claimed == 0  # backing off (2-4 s)
        error = "HTTP 500" if fault == "http500" else "did not answer within 0.5s"

    (row,) = rows(db_sql, order["id"])
    assert row["status"] == "failed" and error in row["last_error"], row
    assert tracked(db_sql, order["id"])["pushed_at"] is None

    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE id = %s", (row["id"],))  # the backoff has passed
    assert (await make_target().round(owner="w1")).synced == 1
    assert [row["status"] for row in rows(db_sql, order["id"])] == ["synced"]
    assert tracked(db_sql, order["id"])["pushed_at"] is not None
    saved = [s for s in petpooja_standin.saved() if s["clientOrderID"] == order["id"]]
    assert len(saved) == 1 and not saved[0]["resent_different"]


async def test_a_lost_response_is_resent_byte_for_byte_and_petpooja_keeps_one_order(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    await connect(client, r, petpooja_standin)
    order = await place(client, r, await open_guest(r))
    transport = RecordingTransport()
    target = make_target(transport=transport)
    petpooja_standin.fault("drop", count=1)  # PetPooja stores it, then the answer is lost

    assert (await target.round(owner="w1")).failed == 1
    (row,) = rows(db_sql, order["id"])
    assert row["status"] == "failed" and "unreachable" in row["last_error"]
    frozen = tracked(db_sql, order["id"])["payload"]
    await asyncio.sleep(0.1)
    assert (await target.round(owner="w1")).synced == 1

    assert [path for path, _ in transport.sent] == ["/save_order", "/save_order"]
    assert transport.sent[0][1] == transport.sent[1][1]
    (saved,) = petpooja_standin.saved()
    assert (saved["resends"], saved["resent_different"]) == (1, False)
    row_ = tracked(db_sql, order["id"])
    assert row_["payload"] == frozen and row_["petpooja_order_id"] == saved["orderID"]


async def test_the_frozen_payload_is_what_goes_out_even_if_the_order_changes_later(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    await connect(client, r, petpooja_standin)
    order = await place(client, r, await open_guest(r))
    petpooja_standin.fault("http500", count=1)
    assert (await make_target().round(owner="w1")).failed == 1
    frozen = tracked(db_sql, order["id"])["payload"]
    db_sql("UPDATE orders SET notes = 'changed after the first attempt' WHERE id = %s", (order["id"],))
    db_sql("UPDATE restaurants SET name = 'Renamed' WHERE id = %s", (r.id,))
    await asyncio.sleep(0.1)
    assert (await make_target().round(owner="w1")).synced == 1
    (saved,) = petpooja_standin.saved()
    assert {k: v for k, v in saved["body"].items() if k not in ("app_key", "app_secret", "access_token")} == frozen
    assert saved["body"]["orderinfo"]["OrderInfo"]["Order"]["details"]["description"] != "changed after the first attempt"


async def test_cancelling_a_pushed_order_pushes_update_order_status_minus_one(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    rest_id = await connect(client, r, petpooja_standin)
    order = await place(client, r, await open_guest(r))
    target = make_target()
    assert (await target.round(owner="w1")).synced == 1
    await cancel(client, r, order, "Kitchen closed early")

    assert (await target.round(owner="w1")).synced == 1

    saved, cancelled = petpooja_standin.orders()
    assert cancelled["kind"] == "cancel"
    assert cancelled["body"] == {
        "app_key": "test-app-key", "app_secret": "test-app-secret", "access_token": "test-access-token",
        "restID": rest_id, "orderID": saved["orderID"], "clientorderID": order["id"],
        "cancelReason": "Kitchen closed early", "status": "-1"}
    row = tracked(db_sql, order["id"])
    assert row["cancel_pushed_at"] is not None and row["cancel_response"]["success"] == "1"
    assert [x["status"] for x in rows(db_sql, order["id"])] == ["synced", "synced"]
    assert (await target.round(owner="w1")).claimed == 0


async def test_an_order_cancelled_before_it_was_pushed_is_never_sent(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    await connect(client, r, petpooja_standin)
    order = await place(client, r, await open_guest(r))
    await cancel(client, r, order)

    report = await make_target().round(owner="w1")

    assert (report.claimed, report.skipped) == (1, 1)
    assert petpooja_standin.orders() == []
    # PetPooja's record of an order starts when it is first claimed to be sent; this one never was.
    assert db_sql("SELECT * FROM petpooja_orders WHERE order_id = %s", (order["id"],)) == []
    (row,) = rows(db_sql, order["id"])
    assert (row["status"], row["last_error"]) == (
        "synced", "the order was cancelled before it was ever sent to PetPooja: nothing to cancel")


async def test_a_cancellation_that_came_from_petpooja_is_not_echoed_back(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    await connect(client, r, petpooja_standin)
    order = await place(client, r, await open_guest(r))
    target = make_target()
    assert (await target.round(owner="w1")).synced == 1

    answer = await petpooja_standin.deliver(client, order["id"], "-1", cancel_reason="Out of paneer")
    assert answer.status_code == 200, answer.text
    assert expect(await client.get(r.url(f"/orders/{order['id']}"), headers=r.owner.headers),
                  200)["status"] == "cancelled"
    assert len(rows(db_sql, order["id"])) == 2  # the cancellation queued a row ...

    assert (await target.round(owner="w1")).skipped == 1
    assert [o["kind"] for o in petpooja_standin.orders()] == ["save_order"]  # ... that sends nothing
    assert tracked(db_sql, order["id"])["cancel_pushed_at"] is None


async def test_an_outlet_disconnected_before_the_push_makes_the_row_dead_with_a_clear_error(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    await connect(client, r, petpooja_standin)
    order = await place(client, r, await open_guest(r))
    assert (await client.delete(r.url("/integrations/petpooja"), headers=r.owner.headers)).status_code == 204

    assert (await make_target().round(owner="w1")).dead == 1
    (row,) = rows(db_sql, order["id"])
    assert row["status"] == "dead" and "no longer connected to PetPooja" in row["last_error"]
    assert petpooja_standin.orders() == []


async def test_two_workers_never_push_an_order_twice(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    await connect(client, r, petpooja_standin)
    guest = await open_guest(r)
    orders = [await place(client, r, guest) for _ in range(8)]
    # A second due row for some orders too (a cancellation row beside a failed first push looks
    # like this): two workers may claim two rows of one order at once.
    for order in orders[:4]:
        db_sql("INSERT INTO sync_log (restaurant_id, target, entity_type, entity_id, entity_version, status)"
               " VALUES (%s, 'petpooja', 'order', %s, 1, 'failed')", (r.id, order["id"]))
    first, second = make_target(batch_size=3), make_target(batch_size=3)

    async def work(target: Served, owner: str) -> None:
        for _ in range(30):
            await target.round(owner=owner)
            await asyncio.sleep(0.02)

    await asyncio.gather(work(first, "w1"), work(second, "w2"))

    saved = petpooja_standin.saved()
    assert sorted(s["clientOrderID"] for s in saved) == sorted(o["id"] for o in orders)
    assert [s["resends"] for s in saved] == [0] * len(orders)
    assert petpooja_standin.stats()["calls"]["save_order"] == len(orders)
    assert {row["status"] for order in orders for row in rows(db_sql, order["id"])} == {"synced"}


async def test_the_workers_own_target_opens_what_the_api_sealed_and_is_off_in_production_without_a_key(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, system_db: Database,
) -> None:
    """build_targets (what ``python -m sync.worker`` runs) has the petpooja target with the dev key the API
    sealed with; PETPOOJA_SANDBOX_URL and PUBLIC_BASE_URL come from the environment."""
    r = await make_restaurant()
    await connect(client, r, petpooja_standin)
    order = await place(client, r, await open_guest(r))
    target = petpooja_target(system_db, SyncSettings(), {"PETPOOJA_SANDBOX_URL": petpooja_standin.url,
                                                         "PUBLIC_BASE_URL": "https://api.example.test/"})
    assert target is not None
    served = build_targets(system_db, SyncSettings())
    # No CONVEX_URL here: no Convex target.
    assert list(served) == ["petpooja", "webhook", "stripe_refund", "ubereats", "ubereats_orders", "doordash",
                            "doordash_orders", "grubhub", "grubhub_orders"]
    for other in served.values():
        await other.close()
    try:
        assert (await Served(system_db, target).round(owner="worker")).synced == 1
    finally:
        await target.close()
    (saved,) = petpooja_standin.saved()
    assert saved["clientOrderID"] == order["id"]
    assert saved["callback_url"].startswith("https://api.example.test/api/webhooks/petpooja/order-status/")
    assert petpooja_target(system_db, SyncSettings(), {"ENV_MODE": "production"}) is None



@pytest.mark.parametrize("fault", ["drop", "http500"])
async def test_an_order_cancelled_after_an_unanswered_push_is_cancelled_in_petpooja_if_it_holds_it(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest,
    petpooja_standin: PetpoojaStandin, make_target: MakeTarget, db_sql: DbSql, fault: str,
) -> None:
    """The first push got no usable answer (dropped after PetPooja stored it, or a 500 before), then the
    order was cancelled: the cancel goes out, since PetPooja may hold the order. Where it does, the cancel
    is taken; where it does not, PetPooja's refusal means there is nothing to cancel and the row is done.
    The save_order is not sent again either way."""
    r = await make_restaurant()
    await connect(client, r, petpooja_standin)
    order = await place(client, r, await open_guest(r))
    target = make_target()
    petpooja_standin.fault(fault, count=1)
    assert (await target.round(owner="w1")).failed == 1
    await cancel(client, r, order, "Guest left")
    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE entity_id = %s", (order["id"],))

    report = await target.round(owner="w1")

    assert (report.claimed, report.synced, report.dead, report.failed) == (2, 2, 0, 0)
    kinds = [o["kind"] for o in petpooja_standin.orders()]
    row = tracked(db_sql, order["id"])
    assert row["pushed_at"] is None and row["cancel_pushed_at"] is not None
    if fault == "drop":
        assert kinds == ["save_order", "cancel"]
        assert row["cancel_response"]["success"] == "1"
    else:
        assert kinds == []
        assert row["cancel_response"]["errorCode"] == "SO_106"
    assert petpooja_standin.stats()["calls"]["save_order"] == 1


async def test_an_answer_trickling_in_is_cut_off_at_the_timeout() -> None:
    """A server that sends its answer a byte at a time (each read well inside httpx's per-read
    timeout) still cannot hold a call past PETPOOJA_TIMEOUT_S."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        try:
            for _ in range(1000):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = PetpoojaClient(load_petpooja_settings({"PETPOOJA_SANDBOX_URL": f"http://127.0.0.1:{port}",
                                                    "PETPOOJA_TIMEOUT_S": "0.5"}))
    started = time.monotonic()
    try:
        with pytest.raises(PetpoojaUnreachable, match=r"did not answer within 0\.5s \(deadline\)"):
            await client.save_order(OUTLET, {})
    finally:
        await client.close()
        server.close()
    assert time.monotonic() - started < 2
