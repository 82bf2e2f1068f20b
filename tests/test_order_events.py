"""An order's timeline (GET .../orders/{oid}/events): every status move with who made it and
why, for the restaurant's staff and for the guest session that placed the order (which does not
see staff names); what PetPooja's callbacks said beside a move (rider name and phone, cancel
reason) is shown; another session's order, like a missing one, is 404."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.conftest import Guest, MakeRestaurant, Restaurant, User, expect, order_body

DbSql = Callable[..., list[dict[str, Any]]]
OpenGuest = Callable[[Restaurant, int], Awaitable[Guest]]
MakeMember = Callable[[Restaurant, str], Awaitable[User]]
REST_ID = "ps82kz7f"


async def _guest_order(client: httpx.AsyncClient, r: Restaurant, guest: Guest) -> dict[str, Any]:
    return expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)


async def test_staff_read_every_move_with_who_and_why_and_the_guest_reads_them_without_staff_names(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: MakeMember, open_guest: OpenGuest
) -> None:
    r = await make_restaurant()
    cook = await make_member(r, "kitchen")
    guest = await open_guest(r, 0)
    order = await _guest_order(client, r, guest)
    url = r.url(f"/orders/{order['id']}")
    expect(await client.post(url + "/status", headers=cook.headers, json={"status": "confirmed"}), 200)
    expect(await client.post(url + "/status", headers=r.owner.headers,
                             json={"status": "cancelled", "reason": "out of paneer"}), 200)

    staff_view = expect(await client.get(url + "/events", headers=cook.headers), 200)
    assert (staff_view["order_id"], staff_view["status"]) == (order["id"], "cancelled")
    moves = [(e["from_status"], e["to_status"], e["actor_type"], e["actor_name"], e["reason"])
             for e in staff_view["events"]]
    assert moves == [(None, "pending", "guest", None, None),
                     ("pending", "confirmed", "user", "Test Person", None),
                     ("confirmed", "cancelled", "user", "Test Person", "out of paneer")]
    assert [e["actor_id"] for e in staff_view["events"][1:]] == [cook.id, r.owner.id]
    assert staff_view["cancel_reason"] == "out of paneer"
    assert staff_view["rider"] is None

    guest_view = expect(await client.get(url + "/events", headers=guest.headers), 200)
    assert [(e["from_status"], e["to_status"], e["reason"]) for e in guest_view["events"]] == [
        (m[0], m[1], m[4]) for m in moves]
    assert {(e["actor_id"], e["actor_name"]) for e in guest_view["events"]} == {(None, None)}
    assert cook.id not in json.dumps(guest_view) and r.owner.id not in json.dumps(guest_view)


async def test_another_sessions_order_and_a_missing_order_are_the_same_404(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest
) -> None:
    r, other = await make_restaurant(), await make_restaurant()
    mine, neighbour = await open_guest(r, 0), await open_guest(r, 1)
    same_table = await open_guest(r, 0)  # a second phone at the same table is another session
    order = await _guest_order(client, r, mine)
    theirs = await _guest_order(client, other, await open_guest(other, 0))
    answers = [
        await client.get(r.url(f"/orders/{order['id']}/events"), headers=neighbour.headers),
        await client.get(r.url(f"/orders/{order['id']}/events"), headers=same_table.headers),
        await client.get(r.url("/orders/00000000-0000-4000-8000-000000000000/events"), headers=mine.headers),
        await client.get(r.url(f"/orders/{theirs['id']}/events"), headers=mine.headers),
        await client.get(r.url(f"/orders/{theirs['id']}/events"), headers=r.owner.headers),
    ]
    for response in answers:
        problem = expect(response, 404)
        assert (problem["code"], problem["detail"]) == ("not_found", "order not found")
    # A guest of another restaurant is turned away at the restaurant, before any order is looked at.
    assert expect(await client.get(other.url(f"/orders/{theirs['id']}/events"), headers=mine.headers),
                  404)["code"] == "not_found"
    expect(await client.get(r.url(f"/orders/{order['id']}/events")), 401)


async def test_petpoojas_rider_and_cancel_reason_are_shown_on_the_timeline(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, db_sql: DbSql
) -> None:
    r = await make_restaurant()
    answer = expect(await client.put(r.url("/integrations/petpooja"), headers=r.owner.headers, json={
        "rest_id": REST_ID, "app_key": "ak-0001", "app_secret": "as-0002", "access_token": "at-0003",
        "environment": "sandbox"}), 200)
    status_url = next(urlsplit(u).path for u in answer["callback_urls"].values() if "/order-status/" in u)
    guest = await open_guest(r, 0)
    order = await _guest_order(client, r, guest)

    async def callback(status: int, **said: Any) -> None:
        body = {"restID": REST_ID, "orderID": order["id"], "status": str(status), "cancel_reason": "",
                "minimum_prep_time": 20, "rider_name": "", "rider_phone_number": "", **said}
        expect(await client.post(status_url, content=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"}), 200)

    await callback(1)
    await callback(5, rider_name="Ravi Kumar", rider_phone_number="+91 98450 12345")
    timeline = expect(await client.get(r.url(f"/orders/{order['id']}/events"), headers=guest.headers), 200)
    assert timeline["status"] == "ready"
    assert timeline["rider"] == {"name": "Ravi Kumar", "phone": "+91 98450 12345"}
    assert timeline["events"][-1]["actor_type"] == "petpooja"
    assert timeline["events"][-1]["details"] == {"rider_name": "Ravi Kumar", "rider_phone": "+91 98450 12345",
                                                 "minimum_prep_time": "20"}
    assert timeline["cancel_reason"] is None

    await callback(-1, cancel_reason="Customer not reachable")
    timeline = expect(await client.get(r.url(f"/orders/{order['id']}/events"), headers=r.owner.headers), 200)
    assert (timeline["status"], timeline["cancel_reason"]) == ("cancelled", "Customer not reachable")
    assert timeline["rider"] == {"name": "Ravi Kumar", "phone": "+91 98450 12345"}  # the latest one named
    assert [e["to_status"] for e in timeline["events"]] == ["pending", "confirmed", "ready", "cancelled"]
    # The reason text the event always had is unchanged.
    assert timeline["events"][-1]["reason"] == "Customer not reachable; prep 20 min"
    stored = db_sql("SELECT details FROM order_events WHERE order_id = %s ORDER BY id", (order["id"],))
    assert [row["details"] for row in stored][:2] == [None, {"minimum_prep_time": "20"}]
