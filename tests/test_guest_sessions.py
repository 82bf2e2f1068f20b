"""A guest session lasts only as long as its table stays open under the same QR code: closing
the table, replacing its QR code or deleting it ends the sessions it opened, on the very next
request, whatever wrote the change (docs/auth.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.conftest import Guest, MakeRestaurant, Restaurant, expect, order_body

Sql = Callable[..., list[dict[str, Any]]]
OpenGuest = Callable[[Restaurant, int], Awaitable[Guest]]


def ended(response: httpx.Response) -> str:
    """The reason of a 401 session_ended problem (fails on anything else)."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "session_ended", body
    reason: str = body["reason"]
    return reason


async def every_guest_call(client: httpx.AsyncClient, r: Restaurant, guest: Guest, order_id: str) -> list[httpx.Response]:
    """One of each thing a guest does: read the menu, place an order, read and cancel its own order."""
    return [
        await client.get(r.url("/menu"), headers=guest.headers),
        await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)),
        await client.get(r.url(f"/orders/{order_id}"), headers=guest.headers),
        await client.post(r.url(f"/orders/{order_id}/cancel"), headers=guest.headers, json={}),
    ]


def orders_and_statuses(db_sql: Sql) -> list[tuple[str, str]]:
    return [(str(o["id"]), o["status"]) for o in db_sql("SELECT id, status FROM orders ORDER BY created_at")]


async def test_closing_a_table_ends_its_guest_sessions_and_reopening_it_revives_none(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, db_sql: Sql
) -> None:
    """After PATCH is_active false, the table's guest tokens are 401 session_ended (table_closed) on the menu, new
    orders, reading and cancelling their orders, and write nothing; the other table's guest is untouched; reopening
    the table does not bring the old sessions back, and a new scan works."""
    r = await make_restaurant()
    guest, neighbour = await open_guest(r, 0), await open_guest(r, 1)
    placed = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    table = r.tables[0]
    expect(await client.patch(r.url(f"/tables/{table['id']}"), headers=r.owner.headers,
                              json={"is_active": False}), 200)
    before = orders_and_statuses(db_sql)

    assert [ended(response) for response in await every_guest_call(client, r, guest, placed["id"])] == [
        "table_closed"] * 4
    assert orders_and_statuses(db_sql) == before
    expect(await client.post(r.url("/orders"), headers=neighbour.headers, json=order_body(r)), 201)

    expect(await client.patch(r.url(f"/tables/{table['id']}"), headers=r.owner.headers,
                              json={"is_active": True}), 200)
    assert ended(await client.get(r.url("/menu"), headers=guest.headers)) == "table_closed"
    fresh = await open_guest(r, 0)
    expect(await client.post(r.url("/orders"), headers=fresh.headers, json=order_body(r)), 201)


async def test_rotating_a_qr_code_ends_the_sessions_it_opened_even_after_a_close_and_reopen(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, db_sql: Sql
) -> None:
    """After PATCH rotate_qr_token, the table's guest tokens are 401 session_ended (qr_rotated) and write nothing;
    a session opened with the new code works; that one, too, ends when the table is closed, and stays ended after
    the table reopens."""
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    placed = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    table = r.tables[0]
    rotated = expect(await client.patch(r.url(f"/tables/{table['id']}"), headers=r.owner.headers,
                                        json={"rotate_qr_token": True}), 200)
    before = orders_and_statuses(db_sql)
    assert [ended(response) for response in await every_guest_call(client, r, guest, placed["id"])] == [
        "qr_rotated"] * 4
    assert orders_and_statuses(db_sql) == before

    r.tables[0] = rotated
    second = await open_guest(r, 0)
    expect(await client.get(r.url("/menu"), headers=second.headers), 200)
    for is_active in (False, True):
        expect(await client.patch(r.url(f"/tables/{table['id']}"), headers=r.owner.headers,
                                  json={"is_active": is_active}), 200)
    assert ended(await client.get(r.url("/menu"), headers=second.headers)) == "table_closed"
    assert ended(await client.get(r.url("/menu"), headers=guest.headers)) == "qr_rotated"


async def test_editing_a_table_otherwise_leaves_its_sessions_alone(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, db_sql: Sql
) -> None:
    """Relabelling, reseating, rotate_qr_token false and is_active true on an open table end no session."""
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    for patch in ({"label": "Window"}, {"seats": 8}, {"rotate_qr_token": False}, {"is_active": True}):
        expect(await client.patch(r.url(f"/tables/{guest.table_id}"), headers=r.owner.headers, json=patch), 200)
    expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    assert db_sql("SELECT ended_at FROM guest_sessions") == [{"ended_at": None}]


async def test_a_table_closed_or_rotated_outside_the_api_ends_its_sessions_too(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, db_sql: Sql
) -> None:
    """The sessions end in the database (a trigger), so manual SQL closing one table and replacing the other's QR
    code ends their sessions as the API would."""
    r = await make_restaurant()
    closed, rotated = await open_guest(r, 0), await open_guest(r, 1)
    db_sql("UPDATE dining_tables SET is_active = false WHERE id = %s", (closed.table_id,))
    db_sql("UPDATE dining_tables SET qr_token = 'replaced-by-hand-0123456789abcdef' WHERE id = %s",
           (rotated.table_id,))
    assert ended(await client.post(r.url("/orders"), headers=closed.headers, json=order_body(r))) == "table_closed"
    assert ended(await client.post(r.url("/orders"), headers=rotated.headers, json=order_body(r))) == "qr_rotated"
    assert db_sql("SELECT count(*) AS n FROM orders") == [{"n": 0}]


async def test_a_deleted_table_or_a_session_past_its_expiry_lets_its_token_in_no_more(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, db_sql: Sql
) -> None:
    """A token whose table was deleted (its sessions cascade away) is 401 session_ended (gone); one whose stored
    session expired while the token is still within its lifetime is 401 session_ended (expired)."""
    r = await make_restaurant()
    deleted, expired = await open_guest(r, 0), await open_guest(r, 1)
    db_sql("DELETE FROM dining_tables WHERE id = %s", (deleted.table_id,))
    db_sql("UPDATE guest_sessions SET expires_at = now() - interval '1 second' WHERE table_id = %s",
           (expired.table_id,))
    assert ended(await client.get(r.url("/menu"), headers=deleted.headers)) == "gone"
    assert ended(await client.post(r.url("/orders"), headers=expired.headers, json=order_body(r))) == "expired"


async def test_the_store_switched_off_keeps_guest_sessions_open(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, db_sql: Sql
) -> None:
    """A restaurant not accepting orders (PetPooja's store switch) refuses new guest orders with 409 store_closed
    but ends no session: the guest still reads the menu and its own order, and orders again once it reopens."""
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    placed = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    db_sql("UPDATE restaurants SET accepting_orders = false, closed_reason = 'kitchen full' WHERE id = %s", (r.id,))
    refused = await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r))
    assert (refused.status_code, refused.json()["code"]) == (409, "store_closed")
    expect(await client.get(r.url("/menu"), headers=guest.headers), 200)
    expect(await client.get(r.url(f"/orders/{placed['id']}"), headers=guest.headers), 200)
    db_sql("UPDATE restaurants SET accepting_orders = true, closed_reason = NULL WHERE id = %s", (r.id,))
    expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
