"""Venues for customers (issue 14): profile fields and opening hours, the public venue list and
its filters (open now in each restaurant's time zone, across DST changes), saved venues, pausing
and resuming, guest orders refused outside opening hours, QR codes as images, and share links."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import segno

from tests.conftest import expect, order_body


def _hours_around(tz: str, *, starts_in: timedelta, lasts: timedelta) -> list[dict[str, Any]]:
    """One range on today's local weekday starting ``starts_in`` from now (wrapping past midnight as needed)."""
    start = datetime.now(ZoneInfo(tz)) + starts_in
    end = start + lasts
    return [{"weekday": start.weekday(), "opens": start.strftime("%H:%M"), "closes": end.strftime("%H:%M")}]


async def _set_hours(client: httpx.AsyncClient, r: Any, hours: list[dict[str, Any]]) -> dict[str, Any]:
    return expect(await client.put(r.url("/opening-hours"), headers=r.owner.headers, json={"hours": hours}), 200)


def _state(db_sql: Any, rid: str, at: str) -> dict[str, Any]:
    row: dict[str, Any] = db_sql("SELECT * FROM opening_state(%s, %s::timestamptz)", (rid, at))[0]
    return row


# ---------------------------------------------------------------------------- profile and hours


async def test_profile_fields_are_patched_and_a_logo_must_be_https(client, make_restaurant):
    r = await make_restaurant()
    patched = expect(await client.patch(r.url(), headers=r.owner.headers, json={
        "description": "Tandoor", "city": "Pune", "website": "https://bistro.example", "dine_in_enabled": False,
        "logo_url": "https://cdn.example/logo.png"}), 200)
    assert {k: patched[k] for k in ("description", "city", "website", "logo_url", "dine_in_enabled")} == {
        "description": "Tandoor", "city": "Pune", "website": "https://bistro.example",
        "logo_url": "https://cdn.example/logo.png", "dine_in_enabled": False}
    refused = expect(await client.patch(r.url(), headers=r.owner.headers,
                                        json={"logo_url": "http://cdn.example/logo.png"}), 422)
    assert refused["errors"][0]["loc"] == ["body", "logo_url"]
    cleared = expect(await client.patch(r.url(), headers=r.owner.headers, json={"logo_url": None}), 200)
    assert (cleared["logo_url"], cleared["city"]) == (None, "Pune")


async def test_opening_hours_replace_the_week_and_come_back_with_the_restaurant(client, make_restaurant, make_member):
    r = await make_restaurant()
    hours = [{"weekday": 4, "opens": "18:00", "closes": "02:00"}, {"weekday": 4, "opens": "12:00", "closes": "15:00"}]
    assert (await _set_hours(client, r, hours))["opening_hours"] == sorted(hours, key=lambda h: h["opens"])
    got = expect(await client.get(r.url(), headers=r.owner.headers), 200)
    assert [h["opens"] for h in got["opening_hours"]] == ["12:00", "18:00"]
    assert (await _set_hours(client, r, []))["opening_hours"] == []
    staff = await make_member(r, "staff")
    assert (await client.put(r.url("/opening-hours"), headers=staff.headers, json={"hours": []})).status_code == 403


async def test_overlapping_ranges_even_across_midnight_and_the_weeks_end_are_refused(client, make_restaurant):
    r = await make_restaurant()
    for hours in ([{"weekday": 0, "opens": "10:00", "closes": "14:00"},
                   {"weekday": 0, "opens": "13:00", "closes": "15:00"}],
                  [{"weekday": 1, "opens": "22:00", "closes": "03:00"},
                   {"weekday": 2, "opens": "02:00", "closes": "05:00"}],
                  [{"weekday": 6, "opens": "22:00", "closes": "03:00"},
                   {"weekday": 0, "opens": "01:00", "closes": "05:00"}],
                  [{"weekday": 0, "opens": "10:00", "closes": "11:00"},
                   {"weekday": 0, "opens": "10:00", "closes": "12:00"}]):
        refused = expect(await client.put(r.url("/opening-hours"), headers=r.owner.headers, json={"hours": hours}),
                         422)
        assert refused["code"] == "overlapping_hours"
    for hours in ([{"weekday": 7, "opens": "10:00", "closes": "11:00"}],
                  [{"weekday": 0, "opens": "24:00", "closes": "11:00"}]):
        refused = expect(await client.put(r.url("/opening-hours"), headers=r.owner.headers, json={"hours": hours}),
                         422)
        assert refused["code"] == "validation_error"
    assert expect(await client.get(r.url(), headers=r.owner.headers), 200)["opening_hours"] == []


# ------------------------------------------------------------------------- open now, DST-safe


async def test_spring_forward_keeps_wall_clock_hours_in_new_york(client, make_restaurant, db_sql):
    """Sunday 2026-03-08 01:00-04:00 New York: 2:00 EST jumps to 3:00 EDT, so the range is two
    real hours, open at 01:30 EST and 03:30 EDT, closed at 04:05 EDT."""
    r = await make_restaurant()
    expect(await client.patch(r.url(), headers=r.owner.headers, json={"timezone": "America/New_York"}), 200)
    await _set_hours(client, r, [{"weekday": 6, "opens": "01:00", "closes": "04:00"}])
    assert _state(db_sql, r.id, "2026-03-08T06:30:00Z")["open_now"] is True  # 01:30 EST
    assert _state(db_sql, r.id, "2026-03-08T07:30:00Z")["open_now"] is True  # 03:30 EDT
    closed = _state(db_sql, r.id, "2026-03-08T08:05:00Z")  # 04:05 EDT
    assert closed["open_now"] is False
    assert closed["opens_at"] == datetime(2026, 3, 15, 5, 0, tzinfo=UTC)  # next Sunday 01:00 EDT


async def test_the_next_opening_after_fall_back_is_read_in_the_new_offset_in_berlin(client, make_restaurant, db_sql):
    """Saturday 2026-10-24 11:30 CEST (no hours) opens next on Sunday 10:00 CET, which is 09:00Z: a
    fixed 24 hours from the day before would say 08:00Z."""
    r = await make_restaurant()
    expect(await client.patch(r.url(), headers=r.owner.headers, json={"timezone": "Europe/Berlin"}), 200)
    await _set_hours(client, r, [{"weekday": 6, "opens": "10:00", "closes": "12:00"}])
    saturday = _state(db_sql, r.id, "2026-10-24T09:30:00Z")
    assert (saturday["open_now"], saturday["opens_at"]) == (False, datetime(2026, 10, 25, 9, 0, tzinfo=UTC))
    assert _state(db_sql, r.id, "2026-10-25T09:30:00Z")["open_now"] is True
    assert _state(db_sql, r.id, "2026-10-25T11:05:00Z")["open_now"] is False


async def test_the_same_local_hours_in_two_time_zones_are_open_at_different_instants(client, make_restaurant,
                                                                                    db_sql):
    kolkata, new_york = await make_restaurant(), await make_restaurant()
    expect(await client.patch(new_york.url(), headers=new_york.owner.headers, json={"timezone": "America/New_York"}),
           200)
    week = [{"weekday": d, "opens": "09:00", "closes": "17:00"} for d in range(7)]
    await _set_hours(client, kolkata, week)
    await _set_hours(client, new_york, week)
    at = "2026-06-10T06:00:00Z"  # 11:30 in Kolkata, 02:00 in New York
    assert (_state(db_sql, kolkata.id, at)["open_now"], _state(db_sql, new_york.id, at)["open_now"]) == (True, False)
    assert _state(db_sql, new_york.id, at)["opens_at"] == datetime(2026, 6, 10, 13, 0, tzinfo=UTC)


async def test_a_range_past_midnight_is_open_after_midnight_on_the_next_day(client, make_restaurant, db_sql):
    r = await make_restaurant()  # Asia/Kolkata, +05:30
    await _set_hours(client, r, [{"weekday": 4, "opens": "18:00", "closes": "02:00"}])  # Friday night
    assert _state(db_sql, r.id, "2026-06-12T19:30:00Z")["open_now"] is True  # Saturday 01:00 local
    assert _state(db_sql, r.id, "2026-06-12T21:00:00Z")["open_now"] is False  # Saturday 02:30 local


# ------------------------------------------------------------------------------- public venues


async def test_venues_filter_by_name_city_dine_in_and_open_now_and_page(client, make_restaurant):
    a, b, c = await make_restaurant(), await make_restaurant(), await make_restaurant()
    for r, city, dine_in in ((a, "Lyon", True), (b, "lyon", False), (c, "Pune", True)):
        expect(await client.patch(r.url(), headers=r.owner.headers, json={"city": city, "dine_in_enabled": dine_in,
                                                                          "name": f"Venue {city} {r.id[:4]}"}), 200)
    await _set_hours(client, b, _hours_around("Asia/Kolkata", starts_in=timedelta(hours=2), lasts=timedelta(hours=1)))
    await _set_hours(client, c, _hours_around("Asia/Kolkata", starts_in=timedelta(hours=-1), lasts=timedelta(hours=2)))

    def ids(page: dict[str, Any]) -> set[str]:
        return {v["id"] for v in page["items"]}

    lyon = expect(await client.get("/api/venues", params={"city": "LYON"}), 200)
    assert ids(lyon) == {a.id, b.id}
    assert ids(expect(await client.get("/api/venues", params={"city": "lyon", "dine_in": "true"}), 200)) == {a.id}
    open_now = expect(await client.get("/api/venues", params={"open_now": "true"}), 200)
    assert {a.id, c.id} <= ids(open_now) and b.id not in ids(open_now)
    closed = expect(await client.get(f"/api/venues/{b.id}"), 200)
    assert closed["open_now"] is False and closed["next_opens_at"] is not None
    assert ids(expect(await client.get("/api/venues", params={"q": f"Pune {c.id[:4]}"}), 200)) == {c.id}
    assert expect(await client.get("/api/venues", params={"q": "%"}), 200)["items"] == []

    seen: list[str] = []
    params: dict[str, Any] = {"city": "lyon", "limit": 1}
    while True:
        page = expect(await client.get("/api/venues", params=params), 200)
        seen += [v["id"] for v in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert sorted(seen) == sorted([a.id, b.id]) and len(seen) == 2


async def test_a_venue_shows_only_public_fields(client, make_restaurant):
    r = await make_restaurant()
    venue = expect(await client.get(f"/api/venues/{r.id}"), 200)
    assert not {"tax_rate_bps", "share_token", "closed_reason", "accepting_orders"} & set(venue)
    assert venue["open_now"] is True and venue["next_opens_at"] is None


async def test_a_paused_venue_is_not_open_now(client, make_restaurant):
    r = await make_restaurant()
    expect(await client.post(r.url("/pause"), headers=r.owner.headers, json={"reason": "staff training"}), 200)
    assert expect(await client.get(f"/api/venues/{r.id}"), 200)["open_now"] is False


# ------------------------------------------------------------------------------- saved venues


async def test_saved_venues_are_added_listed_favoured_and_removed_and_are_the_users_own(
        client, make_restaurant, make_user, db_sql):
    r, other = await make_restaurant(), await make_restaurant()
    asha, ravi = await make_user(), await make_user()
    expect(await client.post("/api/me/saved-venues", headers=asha.headers, json={"restaurant_id": r.id}), 201)
    expect(await client.post("/api/me/saved-venues", headers=asha.headers, json={"restaurant_id": other.id}), 201)
    fav = expect(await client.patch(f"/api/me/saved-venues/{other.id}", headers=asha.headers,
                                    json={"favourite": True}), 200)
    assert fav["favourite"] is True
    listed = expect(await client.get("/api/me/saved-venues", headers=asha.headers), 200)["items"]
    assert [v["restaurant_id"] for v in listed] == [other.id, r.id]
    # Another user sees, changes and removes none of them.
    assert expect(await client.get("/api/me/saved-venues", headers=ravi.headers), 200)["items"] == []
    expect(await client.patch(f"/api/me/saved-venues/{r.id}", headers=ravi.headers, json={"favourite": True}), 404)
    expect(await client.delete(f"/api/me/saved-venues/{r.id}", headers=ravi.headers), 404)
    expect(await client.delete(f"/api/me/saved-venues/{r.id}", headers=asha.headers), 204)
    assert [v["restaurant_id"] for v in expect(await client.get("/api/me/saved-venues", headers=asha.headers),
                                               200)["items"]] == [other.id]
    assert db_sql("SELECT count(*) AS n FROM saved_venues")[0]["n"] == 1


async def test_the_app_role_sees_no_saved_venues_without_its_user(client, make_restaurant, make_user, app_conninfo):
    import psycopg

    r, asha = await make_restaurant(), await make_user()
    expect(await client.post("/api/me/saved-venues", headers=asha.headers, json={"restaurant_id": r.id}), 201)
    with psycopg.connect(app_conninfo) as conn:
        conn.execute("SELECT set_config('app.scope', 'system', true)")
        assert conn.execute("SELECT count(*) FROM saved_venues").fetchone() == (0,)
        conn.execute("SELECT set_config('app.user_id', %s, true)", (asha.id,))
        assert conn.execute("SELECT count(*) FROM saved_venues").fetchone() == (1,)


# ----------------------------------------------------------------------- pausing and hours


async def test_pause_refuses_guest_orders_with_the_reason_and_resume_takes_them_again(
        client, make_restaurant, make_member, open_guest):
    r = await make_restaurant()
    guest = await open_guest(r)
    reopens = "2099-01-01T10:00:00Z"
    paused = expect(await client.post(r.url("/pause"), headers=r.owner.headers,
                                      json={"reason": "private event", "reopens_at": reopens}), 200)
    assert (paused["accepting_orders"], paused["closed_reason"]) == (False, "private event")
    refused = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 409)
    assert (refused["code"], refused["reason"], refused["reopens_at"]) == ("store_closed", "private event", reopens)
    staff = await make_member(r, "staff")
    expect(await client.post(r.url("/resume"), headers=staff.headers), 403)
    resumed = expect(await client.post(r.url("/resume"), headers=r.owner.headers), 200)
    assert (resumed["accepting_orders"], resumed["closed_reason"], resumed["reopens_at"]) == (True, None, None)
    expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)


async def test_a_guest_order_outside_opening_hours_is_409_closed_naming_when_it_opens(
        client, make_restaurant, open_guest, db_sql):
    r = await make_restaurant()
    guest = await open_guest(r)
    await _set_hours(client, r, _hours_around("Asia/Kolkata", starts_in=timedelta(hours=3), lasts=timedelta(hours=1)))
    before = db_sql("SELECT count(*) AS n FROM orders")[0]["n"]
    refused = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 409)
    assert refused["code"] == "closed"
    opens_at = datetime.fromisoformat(refused["opens_at"])
    assert timedelta(hours=2, minutes=58) < opens_at - datetime.now(UTC) <= timedelta(hours=3)
    assert db_sql("SELECT count(*) AS n FROM orders")[0]["n"] == before
    # Staff may still take an order (a call before opening).
    expect(await client.post(r.url("/orders"), headers=r.owner.headers,
                             json={**order_body(r), "order_type": "takeaway"}), 201)
    await _set_hours(client, r, _hours_around("Asia/Kolkata", starts_in=timedelta(hours=-1), lasts=timedelta(hours=2)))
    expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)


async def test_a_restaurant_without_hours_is_always_open(client, make_restaurant, open_guest, db_sql):
    r = await make_restaurant()
    guest = await open_guest(r)
    assert _state(db_sql, r.id, "2026-01-01T03:00:00Z") == {"has_hours": False, "open_now": False, "opens_at": None}
    expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    assert expect(await client.get(f"/api/venues/{r.id}"), 200)["open_now"] is True


# ------------------------------------------------------------------------------- QR codes


def _expected_svg_path(url: str) -> str:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=8, border=4)
    match = re.search(r' d="([^"]+)"', out.getvalue().decode())
    assert match
    return match.group(1)


async def test_a_tables_qr_code_encodes_its_ordering_url_as_svg_and_png(client, make_restaurant, make_member,
                                                                       settings):
    r = await make_restaurant()
    table = r.tables[0]
    url = f"{settings.ordering_base}/t/{table['qr_token']}"
    kitchen = await make_member(r, "kitchen")
    svg = await client.get(r.url(f"/tables/{table['id']}/qr.svg"), headers=kitchen.headers)
    assert (svg.status_code, svg.headers["content-type"]) == (200, "image/svg+xml")
    assert f' d="{_expected_svg_path(url)}"' in svg.text
    png = await client.get(r.url(f"/tables/{table['id']}/qr.png"), headers=kitchen.headers)
    assert (png.status_code, png.headers["content-type"]) == (200, "image/png")
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png.content[16:20], "big"), int.from_bytes(png.content[20:24], "big")
    expected = segno.make(url, error="m").symbol_size(scale=8, border=4)
    assert (width, height) == expected
    assert (await client.get(r.url(f"/tables/{r.id}/qr.png"), headers=kitchen.headers)).status_code == 404


async def test_the_qr_sheet_has_every_active_tables_code_and_label(client, make_restaurant, settings):
    r = await make_restaurant()
    expect(await client.patch(r.url(f"/tables/{r.tables[1]['id']}"), headers=r.owner.headers,
                              json={"is_active": False}), 200)
    sheet = await client.get(r.url("/tables/qr-sheet.svg"), headers=r.owner.headers)
    assert (sheet.status_code, sheet.headers["content-type"]) == (200, "image/svg+xml")
    assert sheet.text.count("<svg") == 2  # the page and one active table
    assert ">T1</text>" in sheet.text and ">T2</text>" not in sheet.text
    assert _expected_svg_path(f"{settings.ordering_base}/t/{r.tables[0]['qr_token']}") in sheet.text


async def test_the_ordering_base_url_is_configurable(client, make_restaurant, settings):
    assert settings.ordering_base == settings.base_url  # unset: the API's own base URL
    assert settings.model_copy(update={"ordering_base_url": "https://order.example"}).ordering_base == \
        "https://order.example"


# ---------------------------------------------------------------------------- share links


async def test_a_share_link_opens_the_menu_for_takeaway_and_rotating_it_ends_the_old_one(
        client, make_restaurant, settings):
    r = await make_restaurant()
    first = expect(await client.post(r.url("/share-link"), headers=r.owner.headers), 200)
    assert first["url"] == f"{settings.ordering_base}/s/{first['token']}"
    again = expect(await client.post(r.url("/share-link"), headers=r.owner.headers), 200)
    assert again == first  # kept until rotated
    shared = expect(await client.get(f"/api/share/{first['token']}"), 200)
    assert (shared["restaurant"]["id"], shared["order_type"]) == (r.id, "takeaway")
    assert {i["name"] for c in shared["menu"]["categories"] for i in c["items"]} >= {"Paneer Tikka"}
    rotated = expect(await client.post(r.url("/share-link"), headers=r.owner.headers, json={"rotate": True}), 200)
    assert rotated["token"] != first["token"]
    expect(await client.get(f"/api/share/{first['token']}"), 404)
    expect(await client.get(f"/api/share/{rotated['token']}"), 200)
