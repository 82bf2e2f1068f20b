"""Order fields customers expect, and takeaway orders from a share link: a takeaway pickup time
(rounded to whole 5 minutes, within opening hours, not past, at most 7 days ahead), a special
request per line, a payment status that starts unpaid; a share link's takeaway guest session
that orders takeaway only, through the same order route as a table's guests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import MakeRestaurant, Restaurant, expect, order_body, overrides

KOLKATA = ZoneInfo("Asia/Kolkata")


def _orders(db_sql: Any) -> int:
    return int(db_sql("SELECT count(*) AS n FROM orders")[0]["n"])


def _local(days: int, hour: int, minute: int = 0) -> datetime:
    day = datetime.now(KOLKATA).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=KOLKATA)


async def _hours(client: httpx.AsyncClient, r: Restaurant, opens: str, closes: str) -> None:
    expect(await client.put(r.url("/opening-hours"), headers=r.owner.headers,
                            json={"hours": [{"weekday": d, "opens": opens, "closes": closes} for d in range(7)]}), 200)


async def _share_session(client: httpx.AsyncClient, r: Restaurant) -> dict[str, Any]:
    link = expect(await client.post(r.url("/share-link"), headers=r.owner.headers, json={}), 200)
    return expect(await client.post(f"/api/share/{link['token']}/session"), 201)


def _bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['session_token']}"}


async def test_a_takeaway_pickup_time_is_rounded_up_to_whole_five_minutes_and_shown_with_payment_status(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant
) -> None:
    r = await make_restaurant()
    asked = _local(1, 12, 2) + timedelta(seconds=30)
    order = expect(await client.post(r.url("/orders"), headers=r.owner.headers, json={
        **order_body(r), "order_type": "takeaway", "pickup_at": asked.isoformat()}), 201)
    assert datetime.fromisoformat(order["pickup_at"]) == _local(1, 12, 5)
    assert order["payment_status"] == "unpaid"
    assert order["reservation_id"] is None and order["fire_at"] is None
    # On a whole step it stays; every read shows it.
    exact = expect(await client.post(r.url("/orders"), headers=r.owner.headers, json={
        **order_body(r), "order_type": "takeaway", "pickup_at": _local(1, 13).isoformat()}), 201)
    assert datetime.fromisoformat(exact["pickup_at"]) == _local(1, 13)
    read = expect(await client.get(r.url(f"/orders/{order['id']}"), headers=r.owner.headers), 200)
    assert (read["pickup_at"], read["payment_status"]) == (order["pickup_at"], "unpaid")
    page = expect(await client.get(r.url("/orders"), headers=r.owner.headers), 200)["items"]
    assert {o["id"]: o["payment_status"] for o in page} == {order["id"]: "unpaid", exact["id"]: "unpaid"}


async def test_a_pickup_time_that_is_not_takeaway_past_or_too_far_ahead_is_refused_by_its_own_code(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: Any, db_sql: Any
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r)
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    cases = [
        (guest.headers, {"pickup_at": soon}, "pickup_not_takeaway"),  # a table's guest orders dine in
        (r.owner.headers, {"order_type": "delivery", "pickup_at": soon}, "pickup_not_takeaway"),
        (r.owner.headers, {"order_type": "takeaway", "pickup_at": "2020-01-01T10:00:00+05:30"}, "pickup_in_past"),
        (r.owner.headers, {"order_type": "takeaway",
                           "pickup_at": (datetime.now(UTC) + timedelta(days=8)).isoformat()}, "pickup_too_far"),
        # Far beyond what a calendar computes: still a clear 422, never an overflow.
        (r.owner.headers, {"order_type": "takeaway", "pickup_at": "9999-12-31T23:59:00+00:00"}, "pickup_too_far"),
        (r.owner.headers, {"order_type": "takeaway", "pickup_at": "0001-01-01T00:01:00+14:00"}, "pickup_in_past"),
    ]
    for headers, extra, code in cases:
        refused = expect(await client.post(r.url("/orders"), headers=headers, json={**order_body(r), **extra}), 422)
        assert refused["code"] == code, (extra, refused)
        assert refused["errors"][0]["loc"] == ["body", "pickup_at"]
    # Without an offset it is not a time at all.
    expect(await client.post(r.url("/orders"), headers=r.owner.headers,
                             json={**order_body(r), "order_type": "takeaway", "pickup_at": "2030-01-01T10:00:00"}),
           422)
    assert _orders(db_sql) == 0


async def test_a_pickup_time_outside_opening_hours_is_a_conflict_naming_when_it_opens(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Any
) -> None:
    r = await make_restaurant()
    await _hours(client, r, "10:00", "22:00")
    body = {**order_body(r), "order_type": "takeaway"}
    refused = expect(await client.post(r.url("/orders"), headers=r.owner.headers,
                                       json={**body, "pickup_at": _local(1, 23).isoformat()}), 409)
    assert refused["code"] == "pickup_closed"
    assert datetime.fromisoformat(refused["opens_at"]) == _local(2, 10)
    assert _orders(db_sql) == 0
    # Staff may take the order now whatever the hours; the pickup time must be in them.
    placed = expect(await client.post(r.url("/orders"), headers=r.owner.headers,
                                      json={**body, "pickup_at": _local(1, 21, 55).isoformat()}), 201)
    assert datetime.fromisoformat(placed["pickup_at"]) == _local(1, 21, 55)


async def test_a_line_carries_its_special_request_and_a_control_character_in_it_is_refused(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: Any, db_sql: Any
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r)
    body = order_body(r)
    body["items"][0]["notes"] = "no onions,\nextra chutney"
    order = expect(await client.post(r.url("/orders"), headers=guest.headers, json=body), 201)
    assert [i["notes"] for i in order["items"]] == ["no onions,\nextra chutney", None]
    for bad in ("ring the bell\x07", "x" * 501, "delete\x7f", "escape\x1b[31m"):
        body["items"][0]["notes"] = bad
        refused = expect(await client.post(r.url("/orders"), headers=guest.headers, json=body), 422)
        assert refused["errors"][0]["loc"][:4] == ["body", "items", 0, "notes"]
    assert _orders(db_sql) == 1


async def test_a_share_link_opens_a_takeaway_session_that_orders_takeaway_only_and_reads_its_own_orders(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Any
) -> None:
    r = await make_restaurant()
    session = await _share_session(client, r)
    assert session["order_type"] == "takeaway" and session["table"] is None
    assert session["restaurant"]["id"] == r.id
    headers = _bearer(session)
    expect(await client.get(r.url("/menu"), headers=headers), 200)
    pickup = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    order = expect(await client.post(r.url("/orders"), headers={**headers, "Idempotency-Key": "share-1"},
                                     json={**order_body(r), "pickup_at": pickup}), 201)
    assert order["order_type"] == "takeaway" and order["table_id"] is None and order["pickup_at"] is not None
    # A retry replays it.
    again = await client.post(r.url("/orders"), headers={**headers, "Idempotency-Key": "share-1"},
                              json={**order_body(r), "pickup_at": pickup})
    assert again.status_code == 200 and again.json()["id"] == order["id"]
    for extra, code in (({"order_type": "dine_in"}, "order_type_not_allowed"),
                        ({"order_type": "delivery"}, "order_type_not_allowed"),
                        ({"table_id": r.tables[0]["id"]}, "table_mismatch")):
        refused = expect(await client.post(r.url("/orders"), headers=headers, json={**order_body(r), **extra}), 422)
        assert refused["code"] == code
    assert expect(await client.get(r.url(f"/orders/{order['id']}"), headers=headers), 200)["id"] == order["id"]
    mine = expect(await client.get("/api/qr/session/orders", headers=headers), 200)
    assert [o["id"] for o in mine["items"]] == [order["id"]]
    # Its guest may cancel it while pending, as a table's guest may.
    cancelled = expect(await client.post(r.url(f"/orders/{order['id']}/cancel"), headers=headers, json={}), 200)
    assert cancelled["status"] == "cancelled"
    assert db_sql("SELECT table_id FROM guest_sessions") == [{"table_id": None}]


async def test_an_unknown_or_rotated_share_link_opens_no_session_and_a_takeaway_session_stays_in_its_restaurant(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: Any, db_sql: Any
) -> None:
    a, b = await make_restaurant(), await make_restaurant()
    link = expect(await client.post(a.url("/share-link"), headers=a.owner.headers, json={}), 200)
    expect(await client.post("/api/share/no-such-link/session"), 404)
    expect(await client.post(f"/api/share/{'x' * 65}/session"), 404)
    expect(await client.post(a.url("/share-link"), headers=a.owner.headers, json={"rotate": True}), 200)
    assert expect(await client.post(f"/api/share/{link['token']}/session"), 404)["code"] == "not_found"
    assert db_sql("SELECT count(*) AS n FROM guest_sessions") == [{"n": 0}]
    session = await _share_session(client, a)
    headers = _bearer(session)
    # Another restaurant's orders, menu and order reads are not found; nothing is written there.
    expect(await client.post(b.url("/orders"), headers=headers, json=order_body(b)), 404)
    expect(await client.get(b.url("/menu"), headers=headers), 404)
    b_guest = await open_guest(b)
    b_order = expect(await client.post(b.url("/orders"), headers=b_guest.headers, json=order_body(b)), 201)
    expect(await client.get(b.url(f"/orders/{b_order['id']}"), headers=headers), 404)
    # Nor does a takeaway session read a table guest's order of its own restaurant.
    a_guest = await open_guest(a)
    a_order = expect(await client.post(a.url("/orders"), headers=a_guest.headers, json=order_body(a)), 201)
    expect(await client.get(a.url(f"/orders/{a_order['id']}"), headers=headers), 404)
    assert _orders(db_sql) == 2


@overrides(rate_limit_share_session="2/minute")
async def test_takeaway_sessions_are_limited_per_client_address(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant
) -> None:
    r = await make_restaurant()
    link = expect(await client.post(r.url("/share-link"), headers=r.owner.headers, json={}), 200)
    for _ in range(2):
        expect(await client.post(f"/api/share/{link['token']}/session"), 201)
    refused = await client.post(f"/api/share/{link['token']}/session")
    assert refused.status_code == 429 and "retry-after" in refused.headers
