"""The menu cache and conditional reads (api/menu_cache.py): the menu, its parts, the share
link and the venue profile carry an ETag and answer 304 to a client that holds it; a change
to the menu (from this process, another one, or plain SQL) gives a new ETag and the new menu at
once; a process reads each restaurant's menu once per version, however many guests ask at
the same time, never serves one restaurant another's menu, and keeps at most its size."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psycopg
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from api.menu_cache import MenuCache
from tests.conftest import Guest, MakeRestaurant, Restaurant, expect, overrides

DbSql = Callable[..., list[dict[str, Any]]]
OpenGuest = Callable[[Restaurant, int], Awaitable[Guest]]


def cache_of(app: Starlette) -> MenuCache:
    cache: MenuCache = app.state.services.menu_cache
    return cache


async def _menu(client: httpx.AsyncClient, r: Restaurant, **headers: str) -> httpx.Response:
    return await client.get(r.url("/menu"), headers={**r.owner.headers, **headers})


async def test_a_client_holding_the_menus_etag_gets_304_without_a_body(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant
) -> None:
    r = await make_restaurant()
    first = await _menu(client, r)
    etag = first.headers["etag"]
    assert first.status_code == 200 and first.json()["categories"]
    assert first.headers["cache-control"] == "private, no-cache"
    for held in (etag, f"W/{etag}", f'"other", {etag}', f'W/"x" ,W/{etag} , "y"', "*"):
        again = await _menu(client, r, **{"If-None-Match": held})
        assert again.status_code == 304, held
        assert again.content == b""
        assert again.headers["etag"] == etag
    for held in ('"other"', etag.strip('"'), f"{etag}garbage", "W/", "", '"a" "b"'):
        full = await _menu(client, r, **{"If-None-Match": held})
        assert (full.status_code, full.content) == (200, first.content), held


async def test_a_menu_change_gives_a_new_etag_and_the_new_menu_at_once(
    client: httpx.AsyncClient, app: Starlette, make_restaurant: MakeRestaurant
) -> None:
    r = await make_restaurant()
    etag = (await _menu(client, r)).headers["etag"]
    iid = r.items["Paneer Tikka"]["id"]
    expect(await client.patch(r.url(f"/menu/items/{iid}"), headers=r.owner.headers, json={"price": 26000}), 200)
    changed = await _menu(client, r, **{"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    prices = {i["id"]: i["price"] for c in changed.json()["categories"] for i in c["items"]}
    assert prices[iid] == 26000
    # 86-ing by the floor staff is a change too, and so is a read of an item by itself.
    expect(await client.put(r.url(f"/menu/items/{iid}/availability"), headers=r.owner.headers,
                            json={"is_available": False}), 200)
    item = await client.get(r.url(f"/menu/items/{iid}"), headers={**r.owner.headers,
                                                                  "If-None-Match": changed.headers["etag"]})
    assert item.status_code == 200 and item.json()["is_available"] is False
    # A write that changes nothing keeps the version (and the cache).
    tag = item.headers["etag"]
    expect(await client.put(r.url(f"/menu/items/{iid}/availability"), headers=r.owner.headers,
                            json={"is_available": False}), 200)
    assert (await _menu(client, r, **{"If-None-Match": tag})).status_code == 304


async def test_every_part_of_the_menu_answers_304_on_its_etag(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest
) -> None:
    r = await make_restaurant()
    guest = await open_guest(r, 0)
    for path in ("/menu", "/menu/categories", f"/menu/categories/{r.category_id}", "/menu/items",
                 f"/menu/items/{r.items['Dal Makhani']['id']}"):
        first = expect(await client.get(r.url(path), headers=guest.headers), 200)
        response = await client.get(r.url(path), headers=guest.headers)
        assert response.json() == first
        tagged = await client.get(r.url(path), headers={**guest.headers, "If-None-Match": response.headers["etag"]})
        assert tagged.status_code == 304, path


async def test_writes_from_another_process_and_from_plain_sql_are_seen_by_the_next_read(
    client: httpx.AsyncClient, app: Starlette, settings: Settings, make_restaurant: MakeRestaurant, db_sql: DbSql
) -> None:
    """The version check reads the database on every request: no TTL, so no stale menu."""
    r = await make_restaurant()
    etag = (await _menu(client, r)).headers["etag"]
    other = create_app(settings)  # a second API process: its own cache, the same database
    async with other.router.lifespan_context(other), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://tabletop.test") as elsewhere:
        iid = r.items["Dal Makhani"]["id"]
        expect(await elsewhere.patch(r.url(f"/menu/items/{iid}"), headers=r.owner.headers,
                                     json={"name": "Dal Bukhara"}), 200)
    seen = await _menu(client, r, **{"If-None-Match": etag})
    assert seen.status_code == 200
    assert "Dal Bukhara" in [i["name"] for c in seen.json()["categories"] for i in c["items"]]
    # A write no API made (a support engineer's UPDATE, a variation added by SQL) is seen too.
    db_sql("UPDATE menu_items SET name = 'Dal Makhani Classic' WHERE id = %s", (iid,))
    names = [i["name"] for c in (await _menu(client, r)).json()["categories"] for i in c["items"]]
    assert "Dal Makhani Classic" in names
    db_sql("INSERT INTO menu_variations (restaurant_id, item_id, name, price) VALUES (%s, %s, 'Half', 9000)",
           (r.id, iid))
    item = expect(await client.get(r.url(f"/menu/items/{iid}"), headers=r.owner.headers), 200)
    assert [v["name"] for v in item["variations"]] == ["Half"]


async def test_the_cache_never_serves_one_restaurant_another_restaurants_menu(
    client: httpx.AsyncClient, app: Starlette, make_restaurant: MakeRestaurant, db_sql: DbSql
) -> None:
    a, b = await make_restaurant(), await make_restaurant()
    # Same number of writes each: their menu versions are equal, so only the key tells them apart.
    versions = db_sql("SELECT version FROM menu_versions WHERE restaurant_id IN (%s, %s)", (a.id, b.id))
    assert len({v["version"] for v in versions}) == 1
    menus = {}
    for _ in range(2):
        for r in (a, b):
            menu = await _menu(client, r)
            ids = {i["id"] for c in menu.json()["categories"] for i in c["items"]}
            assert ids == {i["id"] for i in r.items.values()}
            menus.setdefault(r.id, menu.headers["etag"])
            assert menus[r.id] == menu.headers["etag"]
    assert menus[a.id] != menus[b.id]
    # B's ETag is no use at A.
    assert (await _menu(client, a, **{"If-None-Match": menus[b.id]})).status_code == 200


async def test_a_storm_of_guests_reads_the_menu_from_the_database_once(
    client: httpx.AsyncClient, app: Starlette, make_restaurant: MakeRestaurant, open_guest: OpenGuest
) -> None:
    r = await make_restaurant()
    guests = [await open_guest(r, n % 2) for n in range(6)]
    cache = cache_of(app)
    misses = cache.misses
    answers = await asyncio.gather(*(client.get(r.url("/menu"), headers=g.headers) for g in guests * 5))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert cache.misses - misses == 1  # concurrent readers of a missing version wait for one build
    expect(await client.patch(r.url(f"/menu/items/{r.items['Paneer Tikka']['id']}"), headers=r.owner.headers,
                               json={"price": 1}), 200)
    await asyncio.gather(*(client.get(r.url("/menu"), headers=g.headers) for g in guests))
    assert cache.misses - misses == 2
    registry = app.state.services.metrics.registry
    assert registry.get_sample_value("menu_cache_reads_total", {"result": "miss"}) == cache.misses
    assert registry.get_sample_value("menu_cache_reads_total", {"result": "hit"}) == cache.hits


@overrides(menu_cache_size=2)
async def test_the_cache_keeps_at_most_its_size_least_recently_read_out_first(
    client: httpx.AsyncClient, app: Starlette, make_restaurant: MakeRestaurant
) -> None:
    cache = cache_of(app)
    a, b, c = await make_restaurant(), await make_restaurant(), await make_restaurant()
    for r in (a, b, a, c):
        await _menu(client, r)
    assert len(cache) == 2
    misses = cache.misses
    await _menu(client, a)  # read more recently than b: kept
    assert cache.misses == misses
    await _menu(client, b)  # pushed out by c: read again
    assert cache.misses == misses + 1


@overrides(menu_cache_size=0)
async def test_with_the_cache_off_the_menu_is_read_every_time_without_an_etag(
    client: httpx.AsyncClient, app: Starlette, make_restaurant: MakeRestaurant
) -> None:
    r = await make_restaurant()
    first, second = await _menu(client, r), await _menu(client, r, **{"If-None-Match": "*"})
    assert (first.status_code, second.status_code) == (200, 200)
    assert "etag" not in first.headers
    assert first.content == second.content
    assert len(cache_of(app)) == 0


async def test_the_venue_profile_and_the_share_link_answer_304_on_their_etags(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant
) -> None:
    r = await make_restaurant()
    venue = await client.get(f"/api/venues/{r.id}")
    assert venue.status_code == 200 and venue.headers["cache-control"] == "no-cache"
    assert (await client.get(f"/api/venues/{r.id}", headers={"If-None-Match": venue.headers["etag"]})).status_code == 304
    token = expect(await client.post(r.url("/share-link"), headers=r.owner.headers), 200)["token"]
    shared = await client.get(f"/api/share/{token}")
    assert shared.status_code == 200
    body = shared.json()
    assert (body["restaurant"]["id"], body["order_type"]) == (r.id, "takeaway")
    assert {i["id"] for c in body["menu"]["categories"] for i in c["items"]} == {i["id"] for i in r.items.values()}
    tag = shared.headers["etag"]
    assert (await client.get(f"/api/share/{token}", headers={"If-None-Match": tag})).status_code == 304
    # The profile changes: both tags change; the menu changes: the share link's does.
    expect(await client.patch(r.url(), headers=r.owner.headers, json={"description": "Now with a garden"}), 200)
    assert (await client.get(f"/api/venues/{r.id}", headers={"If-None-Match": venue.headers["etag"]})).status_code == 200
    moved = await client.get(f"/api/share/{token}", headers={"If-None-Match": tag})
    assert moved.status_code == 200 and moved.json()["restaurant"]["description"] == "Now with a garden"
    expect(await client.patch(r.url(f"/menu/items/{r.items['Paneer Tikka']['id']}"), headers=r.owner.headers,
                              json={"price": 1}), 200)
    assert (await client.get(f"/api/share/{token}", headers={"If-None-Match": moved.headers["etag"]})).status_code == 200


async def test_a_transaction_raises_the_menu_version_once_and_a_rolled_back_savepoint_not_at_all(
    make_restaurant: MakeRestaurant, db_sql: DbSql, admin_conninfo: str
) -> None:
    r = await make_restaurant()

    def version() -> int:
        rows = db_sql("SELECT version FROM menu_versions WHERE restaurant_id = %s", (r.id,))
        found: int = rows[0]["version"]
        return found

    before = version()
    db_sql("UPDATE menu_items SET price = price + 1 WHERE restaurant_id = %s", (r.id,))  # three rows
    assert version() == before + 1
    with psycopg.connect(admin_conninfo) as conn:  # one transaction
        conn.execute("SAVEPOINT s")
        conn.execute("UPDATE menu_items SET rank = rank + 1 WHERE restaurant_id = %s", (r.id,))
        conn.execute("ROLLBACK TO SAVEPOINT s")
        conn.execute("UPDATE menu_categories SET rank = rank + 1 WHERE restaurant_id = %s", (r.id,))
        conn.execute("UPDATE menu_items SET rank = rank + 1 WHERE restaurant_id = %s", (r.id,))
    assert version() == before + 2

