"""Delivery zones and delivery orders (docs/delivery-zones.md): owners set where the restaurant
delivers and for what fee; a delivery order's address is geocoded before any statement, judged
against the zone, and stored with its point, distance and fee (in the total). Every bad input is
a 4xx that writes nothing; a geocoder outage is 503 with Retry-After that writes nothing.

Geocoding goes through the development gazetteer (the default app) or, where the real client
matters (outages, replays), Google's client against the Geocoding stand-in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from providers.factory import Providers
from providers.geo import GoogleGeocoder
from scripts.seed import DEMO_PASSWORD, seed
from tests.conftest import (
    DELIVERY_ADDRESS,
    DELIVERY_POINT,
    GeocodingStandin,
    MakeRestaurant,
    Restaurant,
    Standin,
    User,
    deliver_from,
    expect,
    order_body,
)
from tests.test_sync import sync_settings_for, until

KEY = "test-maps-key-for-the-api-never-logged"
BANDS = [{"up_to_m": 1000, "fee": 2000}, {"up_to_m": 3000, "fee": 3500}, {"up_to_m": 5000, "fee": 5000}]
KOREGAON = {"line1": "21 Koregaon Park Road", "city": "Pune"}  # 2,410 m away
BANER = {"line1": "9 Baner Road", "line2": "Baner", "city": "Pune", "postcode": "411045"}  # 10,691 m away
UNKNOWN = {"line1": "42 Nowhere Lane", "city": "Atlantis"}


def written(db_sql: Any) -> dict[str, int]:
    row = db_sql("SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM order_items) AS items,"
                 " (SELECT count(*) FROM idempotency_keys) AS keys, (SELECT count(*) FROM sync_log) AS outbox,"
                 " (SELECT count(*) FROM delivery_zones) AS zones,"
                 " (SELECT coalesce(sum(hashtext(z::text)), 0) FROM delivery_zones z) AS zone_hash")[0]
    return dict(row)


@pytest.fixture
async def shop(make_restaurant: MakeRestaurant) -> Restaurant:
    return await make_restaurant()


@pytest.fixture
async def staff(shop: Restaurant, make_member: Any) -> User:
    return await make_member(shop, "staff")


def delivery_order(r: Restaurant, address: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {**order_body(r), "order_type": "delivery", "delivery_address": address or DELIVERY_ADDRESS, **extra}


# ------------------------------------------------------------------------ the zone


async def test_an_owner_sets_a_radius_zone_with_fee_bands_and_the_staff_read_it(
        client: httpx.AsyncClient, shop: Restaurant, make_member: Any) -> None:
    zone = await deliver_from(client, shop, fee_bands=BANDS)
    assert zone == {"enabled": True, "location": DELIVERY_POINT, "location_source": "given", "formatted_address": None,
                    "radius_m": 5000, "polygon": None, "fee_bands": BANDS, "currency": "INR",
                    "updated_at": zone["updated_at"]}
    for role in ("staff", "kitchen", "manager"):
        member = await make_member(shop, role)
        assert expect(await client.get(shop.url("/delivery-zone"), headers=member.headers), 200) == zone


async def test_without_a_location_the_restaurants_address_is_geocoded(client: httpx.AsyncClient,
                                                                      shop: Restaurant) -> None:
    expect(await client.patch(shop.url(), headers=shop.owner.headers,
                              json={"address": "12 MG Road, Camp", "city": "Pune"}), 200)
    zone = expect(await client.put(shop.url("/delivery-zone"), headers=shop.owner.headers,
                                   json={"enabled": True, "radius_m": 3000}), 200)
    assert (zone["location"], zone["location_source"], zone["formatted_address"]) == (
        DELIVERY_POINT, "geocoded", "12, Mahatma Gandhi Rd, Camp, Pune, Maharashtra 411001, India")


async def test_a_restaurant_address_that_is_missing_or_unknown_is_422_and_writes_nothing(
        client: httpx.AsyncClient, shop: Restaurant, db_sql: Any) -> None:
    before = written(db_sql)
    body = {"enabled": True, "radius_m": 3000}
    problem = expect(await client.put(shop.url("/delivery-zone"), headers=shop.owner.headers, json=body), 422)
    assert problem["code"] == "restaurant_address_missing"
    expect(await client.patch(shop.url(), headers=shop.owner.headers, json={"address": "42 Nowhere Lane"}), 200)
    problem = expect(await client.put(shop.url("/delivery-zone"), headers=shop.owner.headers, json=body), 422)
    assert (problem["code"], problem["errors"][0]["loc"]) == ("address_not_found", ["body", "location"])
    assert written(db_sql) == before


async def test_another_restaurants_people_get_404_and_floor_roles_and_guests_may_not_set_it(
        client: httpx.AsyncClient, shop: Restaurant, make_restaurant: MakeRestaurant, make_member: Any,
        open_guest: Any, db_sql: Any) -> None:
    await deliver_from(client, shop)
    other = await make_restaurant()
    before = written(db_sql)
    body = {"enabled": False, "location": DELIVERY_POINT, "radius_m": 10}
    for method, json in (("GET", None), ("PUT", body)):
        answer = await client.request(method, shop.url("/delivery-zone"), headers=other.owner.headers, json=json)
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
    for role in ("staff", "kitchen"):
        member = await make_member(shop, role)
        refused = expect(await client.put(shop.url("/delivery-zone"), headers=member.headers, json=body), 403)
        assert refused["code"] == "forbidden"
    guest = await open_guest(shop)
    for method, json in (("GET", None), ("PUT", body)):
        answer = await client.request(method, shop.url("/delivery-zone"), headers=guest.headers, json=json)
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    outsider = await open_guest(other)
    answer = await client.get(shop.url("/delivery-zone"), headers=outsider.headers)
    assert answer.status_code == 404
    assert (await client.put(shop.url("/delivery-zone"), json=body)).status_code == 401
    assert written(db_sql) == before


async def test_a_restaurant_without_a_zone_answers_404(client: httpx.AsyncClient, shop: Restaurant) -> None:
    assert expect(await client.get(shop.url("/delivery-zone"), headers=shop.owner.headers), 404)["code"] == "not_found"


SQUARE = [[73.87, 18.51], [73.89, 18.51], [73.89, 18.53], [73.87, 18.53], [73.87, 18.51]]
BAD_ZONES = [
    ("neither shape", {}, "zone_shape"),
    ("both shapes", {"radius_m": 100, "polygon": SQUARE}, "zone_shape"),
    ("radius 0", {"radius_m": 0}, "validation_error"),
    ("radius too big", {"radius_m": 100_001}, "validation_error"),
    ("radius fractional", {"radius_m": 10.5}, "validation_error"),
    ("radius as text", {"radius_m": "100"}, "validation_error"),
    ("open ring", {"polygon": [*SQUARE[:-1], [73.871, 18.51]]}, "invalid_polygon"),
    ("three points", {"polygon": SQUARE[:3]}, "validation_error"),
    ("bow tie", {"polygon": [[73.87, 18.51], [73.89, 18.53], [73.89, 18.51], [73.87, 18.53], [73.87, 18.51]]},
     "invalid_polygon"),
    ("flat", {"polygon": [[73.87, 18.51], [73.88, 18.51], [73.89, 18.51], [73.87, 18.51]]}, "invalid_polygon"),
    ("point of three numbers", {"polygon": [[73.87, 18.51, 0], *SQUARE[1:]]}, "validation_error"),
    ("latitude past the pole", {"polygon": [[73.87, 91], [73.89, 18.51], [73.89, 18.53], [73.87, 91]]},
     "invalid_polygon"),
    ("longitude past 180", {"polygon": [[181, 18.51], *SQUARE[1:-1], [181, 18.51]]}, "validation_error"),
    ("too many points", {"polygon": [[73.87 + i / 10_000, 18.51] for i in range(100)] + [[73.9, 18.6], [73.87, 18.51]]},
     "validation_error"),
    ("bands descending", {"radius_m": 5000, "fee_bands": [{"up_to_m": 5000, "fee": 1}, {"up_to_m": 1000, "fee": 1}]},
     "fee_bands_not_ascending"),
    ("bands repeating", {"radius_m": 5000, "fee_bands": [{"up_to_m": 5000, "fee": 1}, {"up_to_m": 5000, "fee": 2}]},
     "fee_bands_not_ascending"),
    ("bands short of the radius", {"radius_m": 5000, "fee_bands": [{"up_to_m": 4999, "fee": 1}]}, "fee_bands_short"),
    ("bands short of the polygon", {"polygon": SQUARE, "fee_bands": [{"up_to_m": 1000, "fee": 1}]},
     "fee_bands_short"),
    ("negative fee", {"radius_m": 5000, "fee_bands": [{"up_to_m": 5000, "fee": -1}]}, "validation_error"),
    ("unknown band field", {"radius_m": 5000, "fee_bands": [{"up_to_m": 5000, "fee": 1, "tax": 1}]},
     "validation_error"),
    ("latitude out of range", {"radius_m": 10, "location": {"lat": 90.5, "lng": 0}}, "validation_error"),
    ("location as text", {"radius_m": 10, "location": "18.5,73.8"}, "validation_error"),
    ("enabled missing", {"radius_m": 10, "enabled": None}, "validation_error"),
]


@pytest.mark.parametrize(("case", "fields", "code"), BAD_ZONES, ids=[c[0] for c in BAD_ZONES])
async def test_a_bad_zone_is_422_naming_the_problem_and_writes_nothing(
        client: httpx.AsyncClient, shop: Restaurant, db_sql: Any, case: str, fields: dict[str, Any],
        code: str) -> None:
    await deliver_from(client, shop)
    before = written(db_sql)
    body = {"enabled": True, "location": DELIVERY_POINT, **fields}
    body = {k: v for k, v in body.items() if v is not None}
    problem = expect(await client.put(shop.url("/delivery-zone"), headers=shop.owner.headers, json=body), 422)
    assert problem["code"] == code, problem
    assert written(db_sql) == before


async def test_a_body_that_is_not_a_zone_is_a_4xx(client: httpx.AsyncClient, shop: Restaurant) -> None:
    for content in (b"", b"[]", b"null", b"{\"enabled\": true, \"radius_m\": 1e999}", b"\x00", "{\"é\": 1}".encode()):
        answer = await client.put(shop.url("/delivery-zone"), headers={**shop.owner.headers,
                                                                       "content-type": "application/json"},
                                  content=content)
        assert 400 <= answer.status_code < 500, (content, answer.text)


# --------------------------------------------------------------- delivery orders


async def test_a_delivery_order_stores_its_address_point_distance_and_fee_in_the_total(
        client: httpx.AsyncClient, shop: Restaurant, staff: User, db_sql: Any) -> None:
    await deliver_from(client, shop, fee_bands=BANDS)
    address = {**DELIVERY_ADDRESS, "instructions": "Flat 3B, ring twice\nleave with the guard"}
    order = expect(await client.post(shop.url("/orders"), headers=staff.headers,
                                     json=delivery_order(shop, address, customer_name="Asha")), 201)
    assert order["delivery"] == {
        "address": {**address, "line2": "Camp", "postcode": "411001"},
        "formatted_address": "4, East Street, Camp, Pune, Maharashtra 411001, India", "lat": 18.515, "lng": 73.881,
        "distance_m": 542, "place_id": "standin-pune-east-street-4", "location_type": "ROOFTOP",
        "partial_match": False}
    assert order["delivery_fee"] == 2000  # the first band: up to 1,000 m
    assert order["total"] == order["subtotal"] + order["tax"] + order["tip"] - order["discount"] + 2000
    [stored] = db_sql("SELECT delivery, delivery_fee, total FROM orders WHERE id = %s", (order["id"],))
    assert (stored["delivery"], stored["delivery_fee"], stored["total"]) == (
        order["delivery"], 2000, order["total"])
    got = expect(await client.get(shop.url(f"/orders/{order['id']}"), headers=staff.headers), 200)
    assert (got["delivery"], got["delivery_fee"]) == (order["delivery"], 2000)


async def test_the_fee_is_the_first_band_that_reaches_the_distance(client: httpx.AsyncClient, shop: Restaurant,
                                                                   staff: User) -> None:
    await deliver_from(client, shop, fee_bands=BANDS)
    order = expect(await client.post(shop.url("/orders"), headers=staff.headers,
                                     json=delivery_order(shop, KOREGAON)), 201)
    assert (order["delivery"]["distance_m"], order["delivery_fee"]) == (2410, 3500)


async def test_a_zone_without_bands_delivers_free(client: httpx.AsyncClient, shop: Restaurant, staff: User) -> None:
    await deliver_from(client, shop)
    order = expect(await client.post(shop.url("/orders"), headers=staff.headers, json=delivery_order(shop)), 201)
    assert order["delivery_fee"] == 0


async def test_an_address_outside_the_zone_is_422_with_its_distance_and_writes_nothing(
        client: httpx.AsyncClient, shop: Restaurant, staff: User, db_sql: Any) -> None:
    await deliver_from(client, shop, fee_bands=BANDS)
    before = written(db_sql)
    problem = expect(await client.post(shop.url("/orders"), headers=staff.headers,
                                       json=delivery_order(shop, BANER)), 422)
    assert (problem["code"], problem["distance_m"], problem["radius_m"]) == ("outside_delivery_zone", 10691, 5000)
    assert problem["errors"][0]["loc"] == ["body", "delivery_address"]
    assert written(db_sql) == before


async def test_a_polygon_zone_takes_what_is_inside_it_and_refuses_what_is_not(
        client: httpx.AsyncClient, shop: Restaurant, staff: User) -> None:
    # Camp and Koregaon Park, not Shivajinagar (4 km west, nearer than Koregaon Park's corner).
    polygon = [[73.875, 18.510], [73.900, 18.510], [73.900, 18.540], [73.875, 18.540], [73.875, 18.510]]
    await deliver_from(client, shop, radius_m=None, polygon=polygon, fee_bands=[{"up_to_m": 4000, "fee": 1000}])
    inside = expect(await client.post(shop.url("/orders"), headers=staff.headers,
                                      json=delivery_order(shop, KOREGAON)), 201)
    assert inside["delivery_fee"] == 1000
    outside = expect(await client.post(shop.url("/orders"), headers=staff.headers, json=delivery_order(
        shop, {"line1": "7 FC Road", "city": "Pune"})), 422)
    assert (outside["code"], outside["distance_m"], outside["radius_m"]) == ("outside_delivery_zone", 4052, None)


async def test_an_unknown_address_is_422_address_not_found_and_writes_nothing(
        client: httpx.AsyncClient, shop: Restaurant, staff: User, db_sql: Any) -> None:
    await deliver_from(client, shop)
    before = written(db_sql)
    problem = expect(await client.post(shop.url("/orders"), headers=staff.headers,
                                       json=delivery_order(shop, UNKNOWN)), 422)
    assert (problem["code"], problem["errors"][0]["loc"]) == ("address_not_found", ["body", "delivery_address"])
    assert written(db_sql) == before


async def test_delivery_off_or_never_set_is_409_delivery_off_and_writes_nothing(
        client: httpx.AsyncClient, shop: Restaurant, staff: User, db_sql: Any) -> None:
    before = written(db_sql)
    problem = expect(await client.post(shop.url("/orders"), headers=staff.headers, json=delivery_order(shop)), 409)
    assert problem["code"] == "delivery_off" and "no delivery zone" in problem["detail"]
    await deliver_from(client, shop, enabled=False)
    before = written(db_sql)
    problem = expect(await client.post(shop.url("/orders"), headers=staff.headers, json=delivery_order(shop)), 409)
    assert problem["code"] == "delivery_off"
    assert written(db_sql) == before


async def test_another_restaurants_zone_is_never_used(client: httpx.AsyncClient, shop: Restaurant,
                                                      make_restaurant: MakeRestaurant) -> None:
    await deliver_from(client, shop)
    other = await make_restaurant()
    problem = expect(await client.post(other.url("/orders"), headers=other.owner.headers,
                                       json=delivery_order(other)), 409)
    assert problem["code"] == "delivery_off"
    # And another restaurant's staff cannot order delivery from this one.
    assert (await client.post(shop.url("/orders"), headers=other.owner.headers,
                              json=delivery_order(shop))).status_code == 404


async def test_the_address_is_required_for_delivery_and_refused_for_other_order_types(
        client: httpx.AsyncClient, shop: Restaurant, staff: User, db_sql: Any) -> None:
    await deliver_from(client, shop)
    before = written(db_sql)
    cases = [({**order_body(shop), "order_type": "delivery"}, "delivery_address_required"),
             ({**order_body(shop), "order_type": "takeaway", "delivery_address": DELIVERY_ADDRESS},
              "delivery_address_not_delivery"),
             ({**order_body(shop), "delivery_address": DELIVERY_ADDRESS}, "delivery_address_not_delivery"),
             ({**order_body(shop), "order_type": "dine_in", "table_id": shop.tables[0]["id"],
               "delivery_address": DELIVERY_ADDRESS}, "delivery_address_not_delivery")]
    for body, code in cases:
        problem = expect(await client.post(shop.url("/orders"), headers=staff.headers, json=body), 422)
        assert (problem["code"], problem["errors"][0]["loc"]) == (code, ["body", "delivery_address"])
    assert written(db_sql) == before


async def test_guests_cannot_order_delivery_as_before(client: httpx.AsyncClient, shop: Restaurant, open_guest: Any,
                                                      db_sql: Any) -> None:
    await deliver_from(client, shop)
    guest = await open_guest(shop)
    before = written(db_sql)
    problem = expect(await client.post(shop.url("/orders"), headers=guest.headers, json=delivery_order(shop)), 422)
    assert problem["code"] == "order_type_not_allowed"
    link = expect(await client.post(shop.url("/share-link"), headers=shop.owner.headers, json={}), 200)
    session = expect(await client.post(f"/api/share/{link['token']}/session"), 201)
    problem = expect(await client.post(shop.url("/orders"), headers={
        "Authorization": f"Bearer {session['session_token']}"}, json=delivery_order(shop)), 422)
    assert problem["code"] == "order_type_not_allowed"
    assert written(db_sql) == before


BAD_ADDRESSES = [
    ("not an object", "12 MG Road, Pune"),
    ("empty", {}),
    ("no city", {"line1": "4 East Street"}),
    ("blank line1", {"line1": "   ", "city": "Pune"}),
    ("line1 too long", {"line1": "x" * 201, "city": "Pune"}),
    ("NUL", {"line1": "4 East\x00Street", "city": "Pune"}),
    ("line break in line1", {"line1": "4 East\nStreet", "city": "Pune"}),
    ("escape in city", {"line1": "4 East Street", "city": "Pu\x1b[31mne"}),
    ("line separator", {"line1": "4 East\u2028Street", "city": "Pune"}),
    ("postcode with symbols", {"line1": "4 East Street", "city": "Pune", "postcode": "411<001>"}),
    ("postcode too long", {"line1": "4 East Street", "city": "Pune", "postcode": "1" * 17}),
    ("instructions too long", {**DELIVERY_ADDRESS, "instructions": "ring " * 61}),
    ("instructions with a bell", {**DELIVERY_ADDRESS, "instructions": "ring\x07"}),
    ("unknown field", {**DELIVERY_ADDRESS, "lat": 18.5}),
    ("number as line1", {"line1": 4, "city": "Pune"}),
]


@pytest.mark.parametrize(("case", "address"), BAD_ADDRESSES, ids=[c[0] for c in BAD_ADDRESSES])
async def test_a_malformed_delivery_address_is_422_naming_it_and_writes_nothing(
        client: httpx.AsyncClient, shop: Restaurant, staff: User, db_sql: Any, case: str, address: Any) -> None:
    await deliver_from(client, shop)
    before = written(db_sql)
    body = {**order_body(shop), "order_type": "delivery", "delivery_address": address}
    problem = expect(await client.post(shop.url("/orders"), headers=staff.headers, json=body), 422)
    assert problem["code"] == "validation_error"
    assert all(e["loc"][:2] == ["body", "delivery_address"] for e in problem["errors"]), problem
    assert written(db_sql) == before


async def test_odd_unicode_in_an_address_is_kept_as_written(client: httpx.AsyncClient, shop: Restaurant,
                                                            staff: User) -> None:
    await deliver_from(client, shop)
    # Not in the gazetteer: found or not, it is a clean 422 (never a 5xx), and the text is accepted.
    address = {"line1": "Straße 4 \U0001F355 ١٢", "city": "पुणे", "line2": "\u200b"}
    problem = expect(await client.post(shop.url("/orders"), headers=staff.headers,
                                       json=delivery_order(shop, address)), 422)
    assert problem["code"] == "address_not_found"


# ------------------------------------------- the real client against the stand-in


@pytest.fixture
async def google_client(settings: Settings, geocoding_standin: GeocodingStandin
                        ) -> AsyncIterator[httpx.AsyncClient]:
    """The same API, geocoding with Google's client against the stand-in (0.5 s timeout)."""
    geo = GoogleGeocoder(KEY, url=geocoding_standin.geocode_url, timeout_s=0.5)
    application: Starlette = create_app(settings, providers=Providers(geo=geo))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("203.0.113.8", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabletop.test") as c:
            yield c


async def test_orders_through_googles_client_geocode_once_before_the_order(
        client: httpx.AsyncClient, google_client: httpx.AsyncClient, geocoding_standin: GeocodingStandin,
        shop: Restaurant, staff: User) -> None:
    await deliver_from(client, shop, fee_bands=BANDS)
    order = expect(await google_client.post(shop.url("/orders"), headers=staff.headers,
                                            json=delivery_order(shop, KOREGAON)), 201)
    assert (order["delivery"]["distance_m"], order["delivery_fee"]) == (2410, 3500)
    assert geocoding_standin.calls() == [{"address": "21 Koregaon Park Road, Pune", "key_present": True,
                                          "status": "OK", "fault": "ok"}]


@pytest.mark.parametrize("fault", ["down", "http500", "hang", "OVER_QUERY_LIMIT", "REQUEST_DENIED", "UNKNOWN_ERROR"])
async def test_a_geocoder_outage_is_503_with_retry_after_and_writes_nothing(
        client: httpx.AsyncClient, google_client: httpx.AsyncClient, geocoding_standin: GeocodingStandin,
        shop: Restaurant, staff: User, db_sql: Any, capsys: pytest.CaptureFixture[str], fault: str) -> None:
    await deliver_from(client, shop)
    before = written(db_sql)
    geocoding_standin.fault(fault)
    answer = await google_client.post(shop.url("/orders"), headers=staff.headers, json=delivery_order(shop))
    assert answer.status_code == 503, answer.text
    assert (answer.json()["code"], answer.headers["retry-after"]) == ("geocoder_unavailable", "5")
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert written(db_sql) == before
    logged = capsys.readouterr()
    assert "geocoder_unavailable" in logged.err and KEY not in logged.err + logged.out


async def test_a_replay_returns_the_first_order_even_when_the_geocoder_or_the_zone_changed(
        client: httpx.AsyncClient, google_client: httpx.AsyncClient, geocoding_standin: GeocodingStandin,
        shop: Restaurant, staff: User, db_sql: Any) -> None:
    await deliver_from(client, shop, fee_bands=BANDS)
    headers = {**staff.headers, "Idempotency-Key": "delivery-1"}
    body = delivery_order(shop, KOREGAON)
    first = expect(await google_client.post(shop.url("/orders"), headers=headers, json=body), 201)
    before = written(db_sql)
    geocoding_standin.fault("down")  # the geocoder is gone: the retry still gets its order
    replayed = await google_client.post(shop.url("/orders"), headers=headers, json=body)
    assert (replayed.status_code, replayed.headers["idempotent-replayed"]) == (200, "true")
    assert replayed.json() == first
    geocoding_standin.fault("ok")
    # The zone shrank to 1 km: the replay is the order as placed, not a fresh judgement.
    await deliver_from(client, shop, radius_m=1000, fee_bands=[])
    before = written(db_sql)
    again = expect(await google_client.post(shop.url("/orders"), headers=headers, json=body), 200)
    assert again == first
    assert written(db_sql) == before
    # The same key with another address is the reused-key conflict, not a second order.
    other = expect(await google_client.post(shop.url("/orders"), headers=headers,
                                            json=delivery_order(shop, DELIVERY_ADDRESS)), 409)
    assert other["code"] == "idempotency_key_reused"
    assert written(db_sql) == before


async def test_a_geocoder_outage_while_setting_a_zone_from_the_address_is_503_and_writes_nothing(
        client: httpx.AsyncClient, google_client: httpx.AsyncClient, geocoding_standin: GeocodingStandin,
        shop: Restaurant, db_sql: Any) -> None:
    expect(await client.patch(shop.url(), headers=shop.owner.headers,
                              json={"address": "12 MG Road, Camp", "city": "Pune"}), 200)
    before = written(db_sql)
    geocoding_standin.fault("OVER_QUERY_LIMIT")
    answer = await google_client.put(shop.url("/delivery-zone"), headers=shop.owner.headers,
                                     json={"enabled": True, "radius_m": 3000})
    assert (answer.status_code, answer.json()["code"], answer.headers["retry-after"]) == (
        503, "geocoder_unavailable", "5")
    assert written(db_sql) == before
    geocoding_standin.fault("ok")
    zone = expect(await google_client.put(shop.url("/delivery-zone"), headers=shop.owner.headers,
                                          json={"enabled": True, "radius_m": 3000}), 200)
    assert (zone["location"], zone["location_source"]) == (DELIVERY_POINT, "geocoded")
    assert geocoding_standin.calls()[-1]["address"] == "12 MG Road, Camp, Pune"


async def test_a_polygon_zone_reads_back_as_it_was_set(client: httpx.AsyncClient, shop: Restaurant) -> None:
    zone = await deliver_from(client, shop, radius_m=None, polygon=SQUARE, fee_bands=[{"up_to_m": 3000, "fee": 0}])
    assert (zone["radius_m"], zone["polygon"]) == (None, SQUARE)
    assert expect(await client.get(shop.url("/delivery-zone"), headers=shop.owner.headers), 200) == zone


# ------------------------------------------------------------------------ the seed


async def test_the_demo_restaurant_takes_a_delivery_order_once_seeded(client: httpx.AsyncClient,
                                                                      app_conninfo: str) -> None:
    demo = await seed(app_conninfo)
    await seed(app_conninfo)  # idempotent: the zone is set once
    tokens = expect(await client.post("/api/auth/login", json={"email": "staff@demo.tabletop",
                                                               "password": DEMO_PASSWORD}), 200)
    body = {"items": [{"menu_item_id": str(demo.item_ids["Dal Makhani"]), "quantity": 1}], "order_type": "delivery",
            "delivery_address": {"line1": "4 East Street", "city": "Pune"}, "customer_name": "Asha"}
    order = expect(await client.post(f"/api/restaurants/{demo.restaurant_id}/orders",
                                     headers={"Authorization": f"Bearer {tokens['access_token']}"}, json=body), 201)
    assert (order["delivery"]["distance_m"], order["delivery_fee"]) == (542, 2000)


class TestTheKitchenSeesWhereItGoes:
    """The Convex order (what kitchen screens subscribe to) carries a delivery order's address and
    fee, as Postgres has them; other orders carry none."""

    @pytest.fixture
    async def app(self, settings: Settings, standin: Standin) -> AsyncIterator[Starlette]:
        application = create_app(settings, sync_settings_for(standin))
        async with application.router.lifespan_context(application):
            yield application

    async def test_a_delivery_order_s_convex_document_has_its_address_and_fee(
            self, client: httpx.AsyncClient, shop: Restaurant, staff: User, standin: Standin) -> None:
        await deliver_from(client, shop, fee_bands=BANDS)
        delivered = expect(await client.post(shop.url("/orders"), headers=staff.headers,
                                             json=delivery_order(shop)), 201)
        here = expect(await client.post(shop.url("/orders"), headers=staff.headers, json=order_body(shop)), 201)
        await until(lambda: {delivered["id"], here["id"]} <= set(standin.versions("orders")))
        docs = {d["pgId"]: d for d in standin.dump()["orders"]}
        assert docs[delivered["id"]]["deliveryAddress"] == delivered["delivery"]["formatted_address"] == (
            "4, East Street, Camp, Pune, Maharashtra 411001, India")
        assert docs[delivered["id"]]["deliveryFee"] == 2000
        assert (docs[here["id"]]["deliveryAddress"], docs[here["id"]]["deliveryFee"]) == (None, 0)
