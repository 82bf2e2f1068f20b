"""Notifications: the database creates them when a customer's or a guest session's order or
reservation moves (in the transaction of the move), the recipient lists, reads and deletes its
own and nobody else's, and they reach Convex, where a guest's own Convex token reads its
session's orders and notifications and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import jwt
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from db import outbox
from db.pool import Database
from sync.config import SyncSettings
from sync.convex import documents
from tests.conftest import STANDIN_KEY, Guest, Restaurant, Standin, User, expect, order_body

DbSql = Callable[..., list[dict[str, Any]]]
MakeUser = Callable[..., Awaitable[User]]
OpenGuest = Callable[..., Awaitable[Guest]]


async def move(client: httpx.AsyncClient, r: Restaurant, order_id: str, status: str, reason: str | None = None,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status} if reason is None else {"status": status, "reason": reason}
    return expect(await client.post(r.url(f"/orders/{order_id}/status"), headers=headers or r.owner.headers,
                                    json=body), 200)


async def guest_order(client: httpx.AsyncClient, r: Restaurant, guest: Guest) -> dict[str, Any]:
    return expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)


async def session_list(client: httpx.AsyncClient, guest: Guest, **params: Any) -> dict[str, Any]:
    return expect(await client.get("/api/qr/session/notifications", headers=guest.headers, params=params), 200)


async def slot_rules(client: httpx.AsyncClient, r: Restaurant) -> datetime:
    """Rules every day 12:00-14:00 (hourly, 20 covers); the 12:00 slot a week from now."""
    expect(await client.put(r.url("/slot-rules"), headers=r.owner.headers, json={"rules": [
        {"weekday": d, "start_time": "12:00", "end_time": "14:00", "interval_minutes": 60, "max_covers": 20}
        for d in range(7)]}), 200)
    day = datetime.now(ZoneInfo("Asia/Kolkata")).date() + timedelta(days=7)
    return datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo("Asia/Kolkata")).astimezone(UTC)


async def book(client: httpx.AsyncClient, r: Restaurant, slot: datetime, headers: dict[str, str],
               **extra: Any) -> dict[str, Any]:
    return expect(await client.post(r.url("/reservations"), headers=headers,
                                    json={"slot_start": slot.isoformat(), "party_size": 2, **extra}), 201)


async def move_reservation(client: httpx.AsyncClient, r: Restaurant, rid: str, status: str,
                           headers: dict[str, str], reason: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status} if reason is None else {"status": status, "reason": reason}
    return expect(await client.post(r.url(f"/reservations/{rid}/status"), headers=headers, json=body), 200)


# ------------------------------------------------------------------------- the triggers


async def test_a_staff_move_of_a_guest_order_tells_its_session_in_words(
    client: httpx.AsyncClient, make_restaurant: Any, open_guest: OpenGuest,
) -> None:
    """Each status a guest's order moves to becomes one notification of that session, newest first."""
    r = await make_restaurant()
    guest = await open_guest(r)
    order = await guest_order(client, r, guest)
    for status in ("confirmed", "preparing", "ready", "served", "completed"):
        await move(client, r, order["id"], status)
    page = await session_list(client, guest)
    n = order["number"]
    assert [i["title"] for i in page["items"]] == [
        f"Order #{n} is complete", f"Order #{n} has been served", f"Order #{n} is ready",
        f"Order #{n} is being prepared", f"Order #{n} is confirmed"]
    name = r.data["name"]
    assert page["items"][2]["message"] == f"Your order #{n} at {name} is ready."
    assert page["items"][0]["message"] == f"Your order #{n} at {name} is complete. Thank you!"
    assert {(i["type"], i["reference_type"], i["reference_id"]) for i in page["items"]} == {
        ("order_status", "order", order["id"])}
    assert [i["status"] for i in page["items"]] == ["completed", "served", "ready", "preparing", "confirmed"]
    assert page["unread_count"] == 5
    assert all(i["read_at"] is None and i["restaurant_id"] == r.id for i in page["items"])


async def test_a_cancellation_carries_its_reason_and_is_written_in_the_move_s_transaction(
    client: httpx.AsyncClient, make_restaurant: Any, open_guest: OpenGuest, db_sql: DbSql,
) -> None:
    """The notification is created by the same transaction as the status event (same now())."""
    r = await make_restaurant()
    guest = await open_guest(r)
    order = await guest_order(client, r, guest)
    await move(client, r, order["id"], "cancelled", reason="  Out of paneer today ")
    [item] = (await session_list(client, guest))["items"]
    assert item["title"] == f"Order #{order['number']} was cancelled"
    assert item["message"].endswith("was cancelled. Reason: Out of paneer today")
    [same] = db_sql("SELECT n.created_at = e.created_at AS same FROM notifications n, order_events e"
                    " WHERE n.reference_id = e.order_id AND e.to_status = 'cancelled' AND n.reference_id = %s",
                    (order["id"],))
    assert same["same"]


async def test_the_convex_order_carries_the_latest_status_reason_and_the_api_s_does_not(
    client: httpx.AsyncClient, make_restaurant: Any, open_guest: OpenGuest, system_db: Database,
) -> None:
    """The worker's read for Convex adds the latest move's reason (null when that move gave none);
    the order the API and the webhooks show is unchanged."""
    r = await make_restaurant()
    guest = await open_guest(r)
    order = await guest_order(client, r, guest)
    await move(client, r, order["id"], "confirmed", reason="table 4 asked twice")
    key = UUID(order["id"])
    async with system_db.system() as conn:
        assert (await outbox.convex_rows(conn, "order", [key]))[key]["status_reason"] == "table 4 asked twice"
        assert "status_reason" not in (await outbox.entity_rows(conn, "order", [key]))[key]
    await move(client, r, order["id"], "preparing")
    async with system_db.system() as conn:
        row = (await outbox.convex_rows(conn, "order", [key]))[key]
    assert row["status_reason"] is None
    assert documents.order_doc(row)["statusReason"] is None
    assert "status_reason" not in expect(await client.get(r.url(f"/orders/{order['id']}"), headers=r.owner.headers),
                                         200)


async def test_a_guest_cancelling_its_own_order_is_not_told_of_it(
    client: httpx.AsyncClient, make_restaurant: Any, open_guest: OpenGuest, db_sql: DbSql,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r)
    order = await guest_order(client, r, guest)
    expect(await client.post(r.url(f"/orders/{order['id']}/cancel"), headers=guest.headers, json={}), 200)
    assert (await session_list(client, guest))["items"] == []
    assert db_sql("SELECT count(*) AS n FROM notifications")[0]["n"] == 0


async def test_orders_without_a_guest_or_a_customer_notify_nobody(
    client: httpx.AsyncClient, make_restaurant: Any, make_member: Any, db_sql: DbSql,
) -> None:
    """A member ordering at the counter is staff, not a customer: nobody is told."""
    r = await make_restaurant()
    staff = await make_member(r, "staff")
    order = expect(await client.post(r.url("/orders"), headers=staff.headers,
                                     json={**order_body(r), "order_type": "takeaway"}), 201)
    await move(client, r, order["id"], "confirmed")
    assert db_sql("SELECT count(*) AS n FROM notifications")[0]["n"] == 0
    assert expect(await client.get("/api/me/notifications", headers=staff.headers), 200)["items"] == []


async def test_reservation_moves_tell_the_customer_who_booked(
    client: httpx.AsyncClient, make_restaurant: Any, make_user: MakeUser, make_member: Any,
) -> None:
    """Confirmed, seated, completed and a staff cancellation with its reason reach the customer;
    their own cancellation and a booking staff made for a walk-in notify nobody."""
    r = await make_restaurant()
    staff = await make_member(r, "staff")
    customer = await make_user()
    slot = await slot_rules(client, r)
    first = await book(client, r, slot, customer.headers)
    await move_reservation(client, r, first["id"], "confirmed", staff.headers)
    second = await book(client, r, slot, customer.headers)
    await move_reservation(client, r, second["id"], "cancelled", staff.headers, reason="kitchen closed")
    third = await book(client, r, slot, customer.headers)
    await move_reservation(client, r, third["id"], "cancelled", customer.headers)  # their own: not told
    walk_in = await book(client, r, slot, staff.headers, name="Ann")
    await move_reservation(client, r, walk_in["id"], "confirmed", staff.headers)
    await move_reservation(client, r, first["id"], "seated", staff.headers)
    await move_reservation(client, r, first["id"], "completed", staff.headers)
    page = expect(await client.get("/api/me/notifications", headers=customer.headers), 200)
    assert [(i["title"], i["reference_id"]) for i in page["items"]] == [
        ("Thank you for your visit", first["id"]), ("You are seated", first["id"]),
        ("Reservation cancelled", second["id"]), ("Reservation confirmed", first["id"])]
    name = r.data["name"]
    assert page["items"][0]["message"] == f"Thank you for dining at {name}."
    assert page["items"][1]["message"] == f"Welcome to {name}! Your table for 2 is ready. Enjoy your meal."
    page["items"] = page["items"][2:]
    local = slot.astimezone(ZoneInfo("Asia/Kolkata"))
    when = f"{local:%A} {local.day} {local:%B} at 12:00"
    assert page["items"][1]["message"] == (
        f"Your reservation at {r.data['name']} for 2 on {when} is confirmed. See you then!")
    assert page["items"][0]["message"].endswith("was cancelled. Reason: kitchen closed")
    assert {i["type"] for i in page["items"]} == {"reservation"}


# ---------------------------------------------------------------------------- the routes


async def test_the_list_pages_newest_first_and_counts_every_unread(
    client: httpx.AsyncClient, make_restaurant: Any, open_guest: OpenGuest,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r)
    order = await guest_order(client, r, guest)
    for status in ("confirmed", "preparing", "ready"):
        await move(client, r, order["id"], status)
    first = await session_list(client, guest, limit=2)
    assert [i["status"] for i in first["items"]] == ["ready", "preparing"]
    assert first["unread_count"] == 3 and first["next_cursor"] is not None
    rest = await session_list(client, guest, limit=2, cursor=first["next_cursor"])
    assert [i["status"] for i in rest["items"]] == ["confirmed"]
    assert rest["next_cursor"] is None and rest["unread_count"] == 3
    for params in ({"cursor": "!!"}, {"limit": 0}, {"limit": 201}, {"page": 2}):
        response = await client.get("/api/qr/session/notifications", headers=guest.headers, params=params)
        assert response.status_code == 422, params


async def test_read_read_all_and_delete_settle_the_recipient_s_own(
    client: httpx.AsyncClient, make_restaurant: Any, open_guest: OpenGuest,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r)
    order = await guest_order(client, r, guest)
    for status in ("confirmed", "preparing", "ready"):
        await move(client, r, order["id"], status)
    ready, preparing, _ = (await session_list(client, guest))["items"]
    read = expect(await client.post(f"/api/qr/session/notifications/{ready['id']}/read", headers=guest.headers), 200)
    assert read["id"] == ready["id"] and read["read_at"] is not None
    again = expect(await client.post(f"/api/qr/session/notifications/{ready['id']}/read", headers=guest.headers),
                   200)
    assert again["read_at"] == read["read_at"]  # the first time is kept
    assert (await session_list(client, guest))["unread_count"] == 2
    assert expect(await client.post("/api/qr/session/notifications/read-all", headers=guest.headers), 200) == {
        "marked": 2, "unread_count": 0}
    assert expect(await client.post("/api/qr/session/notifications/read-all", headers=guest.headers),
                  200)["marked"] == 0
    expect(await client.delete(f"/api/qr/session/notifications/{preparing['id']}", headers=guest.headers), 204)
    expect(await client.delete(f"/api/qr/session/notifications/{preparing['id']}", headers=guest.headers), 404)
    assert [i["status"] for i in (await session_list(client, guest))["items"]] == ["ready", "confirmed"]


async def test_another_session_s_or_account_s_notification_is_not_found_and_untouched(
    client: httpx.AsyncClient, make_restaurant: Any, open_guest: OpenGuest, make_user: MakeUser, db_sql: DbSql,
) -> None:
    """Another guest at the same table, a guest of another restaurant and a customer all get 404
    for a notification that is not theirs, and it stays unread and present."""
    r, other = await make_restaurant(), await make_restaurant()
    guest, neighbour, stranger = await open_guest(r), await open_guest(r), await open_guest(other)
    customer = await make_user()
    order = await guest_order(client, r, guest)
    await move(client, r, order["id"], "confirmed")
    [mine] = (await session_list(client, guest))["items"]
    for headers in (neighbour.headers, stranger.headers):
        for method, path in (("POST", f"/api/qr/session/notifications/{mine['id']}/read"),
                             ("DELETE", f"/api/qr/session/notifications/{mine['id']}")):
            expect(await client.request(method, path, headers=headers), 404)
        expect(await client.post("/api/qr/session/notifications/read-all", headers=headers), 200)
        assert (await session_list(client, Guest(headers["Authorization"][7:], "", "")))["items"] == []
    for method, path in (("POST", f"/api/me/notifications/{mine['id']}/read"),
                         ("DELETE", f"/api/me/notifications/{mine['id']}")):
        expect(await client.request(method, path, headers=customer.headers), 404)
    expect(await client.post("/api/me/notifications/read-all", headers=customer.headers), 200)
    [row] = db_sql("SELECT read_at, version FROM notifications WHERE id = %s", (mine["id"],))
    assert row == {"read_at": None, "version": 1}


async def test_who_may_call_which_list(
    client: httpx.AsyncClient, make_restaurant: Any, open_guest: OpenGuest,
) -> None:
    """A person's token is 403 on the session's list, a guest's on the account's; no token is 401,
    and an ended session is 401 session_ended."""
    r = await make_restaurant()
    guest = await open_guest(r)
    assert expect(await client.get("/api/qr/session/notifications", headers=r.owner.headers), 403)["code"] == \
        "forbidden"
    expect(await client.get("/api/me/notifications", headers=guest.headers), 403)
    expect(await client.get("/api/me/notifications"), 401)
    expect(await client.get("/api/qr/session/notifications"), 401)
    expect(await client.post("/api/qr/session/convex-token", headers=r.owner.headers), 403)
    expect(await client.post("/api/me/convex-token", headers=guest.headers), 403)
    expect(await client.patch(r.url(f"/tables/{guest.table_id}"), headers=r.owner.headers,
                              json={"is_active": False}), 200)
    for response in (await client.get("/api/qr/session/notifications", headers=guest.headers),
                     await client.post("/api/qr/session/convex-token", headers=guest.headers)):
        assert expect(response, 401)["code"] == "session_ended"


async def test_a_guest_convex_token_names_the_restaurant_and_session_and_is_short(
    client: httpx.AsyncClient, make_restaurant: Any, open_guest: OpenGuest, settings: Settings,
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r)
    issued = expect(await client.post("/api/qr/session/convex-token", headers=guest.headers), 200)
    claims = jwt.decode(issued["token"], options={"verify_signature": False})
    session = jwt.decode(guest.token, options={"verify_signature": False})
    assert claims["role"] == "guest" and claims["typ"] == "convex"
    assert claims["restaurant_id"] == r.id and claims["session_id"] == session["session_id"]
    assert claims["aud"] == settings.convex_audience
    assert claims["exp"] - claims["iat"] == issued["expires_in"] == settings.recipient_convex_token_ttl_s == 900
    assert "table_id" not in claims and "user_id" not in claims
    # The Convex token is not an API token: the API refuses it.
    expect(await client.get("/api/qr/session/orders", headers={"Authorization": f"Bearer {issued['token']}"}), 401)


# ------------------------------------------------------------------- through to Convex


def _sync_settings(standin: Standin) -> SyncSettings:
    return SyncSettings.model_validate({
        "convex_url": standin.url, "convex_deploy_key": STANDIN_KEY, "convex_timeout_s": 2.0,
        "sync_batch_window_ms": 2, "sync_grace_s": 0, "sync_lease_s": 30, "sync_epoch_check_s": 0,
        "worker_metrics_port": 0,
    })


@pytest.fixture
async def app(settings: Settings, standin: Standin) -> AsyncIterator[Starlette]:
    """The API with its post-commit pusher pointed at the Convex stand-in."""
    application = create_app(settings, _sync_settings(standin))
    async with application.router.lifespan_context(application):
        yield application


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Waits for an eventually-true condition (a liveness bound, not a performance claim)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def convex_query(standin: Standin, token: str, path: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """A public query over Convex's HTTP API, as a browser client with this token calls it."""
    response = httpx.post(f"{standin.url}/api/query", json={"path": path, "args": args or {}, "format": "json"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def value(answer: dict[str, Any]) -> Any:
    assert answer["status"] == "success", answer
    return answer["value"]


def refused(answer: dict[str, Any]) -> str:
    assert answer["status"] == "error", answer
    code: str = answer["errorData"]["code"]
    return code


async def test_a_status_move_reaches_the_guest_s_phone_through_convex(
    client: httpx.AsyncClient, make_restaurant: Any, open_guest: OpenGuest, standin: Standin,
) -> None:
    """End to end: staff cancel a guest's order with a reason; the order (status, latest reason)
    and the notification reach Convex through the outbox, the guest's Convex token reads both,
    another session's token reads neither, and no staff query answers a guest token."""
    r = await make_restaurant()
    guest, neighbour = await open_guest(r), await open_guest(r, 1)
    order = await guest_order(client, r, guest)
    await guest_order(client, r, neighbour)
    await move(client, r, order["id"], "confirmed")
    await move(client, r, order["id"], "cancelled", reason="out of paneer")
    await until(lambda: len(standin.dump()["notifications"]) == 2
                and any(o.get("statusReason") == "out of paneer" for o in standin.dump()["orders"]))

    token = expect(await client.post("/api/qr/session/convex-token", headers=guest.headers), 200)["token"]
    [tracked] = value(convex_query(standin, token, "orders:forGuestSession"))
    assert tracked["pgId"] == order["id"]
    assert (tracked["status"], tracked["statusReason"]) == ("cancelled", "out of paneer")
    assert "sessionId" not in tracked
    mine = value(convex_query(standin, token, "notifications:mine"))
    assert mine["unreadCount"] == 2
    assert [n["status"] for n in mine["items"]] == ["cancelled", "confirmed"]
    assert mine["items"][0]["message"].endswith("Reason: out of paneer")

    other = expect(await client.post("/api/qr/session/convex-token", headers=neighbour.headers), 200)["token"]
    [theirs] = value(convex_query(standin, other, "orders:forGuestSession"))
    assert theirs["pgId"] != order["id"]
    assert value(convex_query(standin, other, "notifications:mine")) == {"items": [], "unreadCount": 0}
    for staff_query in ("orders:liveByStatus", "reservations:today", "menu:availability"):
        assert refused(convex_query(standin, token, staff_query)) == "forbidden"
    assert refused(convex_query(standin, token, "orders:get", {"pgId": order["id"]})) == "forbidden"
    staff_token = expect(await client.post(r.url("/convex-token"), headers=r.owner.headers), 200)["token"]
    assert refused(convex_query(standin, staff_token, "orders:forGuestSession")) == "forbidden"
    assert refused(convex_query(standin, staff_token, "notifications:mine")) == "forbidden"

    # Reading it on the phone through the API reaches Convex too.
    expect(await client.post("/api/qr/session/notifications/read-all", headers=guest.headers), 200)
    await until(lambda: all(n["readAt"] is not None for n in standin.dump()["notifications"]
                            if n["sessionId"] is not None and n["pgId"] in {i["pgId"] for i in mine["items"]}))
    assert value(convex_query(standin, token, "notifications:mine"))["unreadCount"] == 0


async def test_reservations_reach_the_staff_book_and_customers_their_notifications(
    client: httpx.AsyncClient, make_restaurant: Any, make_user: MakeUser, standin: Standin,
) -> None:
    r = await make_restaurant()
    customer = await make_user()
    slot = await slot_rules(client, r)
    booked = await book(client, r, slot, customer.headers, note="window please")
    await move_reservation(client, r, booked["id"], "confirmed", r.owner.headers)
    await until(lambda: any(d["status"] == "confirmed" for d in standin.dump()["reservations"])
                and len(standin.dump()["notifications"]) == 1)
    staff_token = expect(await client.post(r.url("/convex-token"), headers=r.owner.headers), 200)["token"]
    book_ = value(convex_query(standin, staff_token, "reservations:today", {"localDate": booked["local_date"]}))
    [entry] = book_["items"]
    assert (entry["pgId"], entry["status"], entry["partySize"], entry["note"], entry["timezone"]) == (
        booked["id"], "confirmed", 2, "window please", "Asia/Kolkata")
    assert entry["slotStart"] == slot.timestamp() * 1000
    # Today (in Asia/Kolkata) has no reservation: the book is empty, and says which day it is.
    today = value(convex_query(standin, staff_token, "reservations:today"))
    assert today == {"localDate": datetime.now(ZoneInfo("Asia/Kolkata")).date().isoformat(), "items": []}
    token = expect(await client.post("/api/me/convex-token", headers=customer.headers), 200)["token"]
    [note] = value(convex_query(standin, token, "notifications:mine"))["items"]
    assert (note["type"], note["referenceId"], note["userId"]) == ("reservation", booked["id"], customer.id)
    assert refused(convex_query(standin, token, "reservations:today")) == "forbidden"
    assert refused(convex_query(standin, token, "orders:forGuestSession")) == "forbidden"
