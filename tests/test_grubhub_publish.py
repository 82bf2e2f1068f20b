"""A restaurant's menu on Grubhub: connecting its merchant (credentials checked with a signed
read, 422 for a wrong secret, nothing stored), ingestion through the outbox as Grubhub takes it
(a request naming our menu_url, the Grubhub stand-in downloading the menu from this API served
on loopback), the menu Grubhub got equal to the one recorded as published, an availability
change re-ingested with the item unavailable, 429 Retry-After honoured, a refusal recorded
with Grubhub's answer, an outage retried, a menu_url Grubhub cannot reach failing its job."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from api.credentials import credential_box
from db.outbox import Backoff
from db.pool import Database
from sync.grubhub.adapter import grubhub_adapter
from sync.platform.target import PlatformTarget
from sync.target import Policy
from tests.conftest import GRUBHUB_CREDENTIALS, GRUBHUB_MERCHANT, GrubhubStandin, Restaurant, Served, expect

DbSql = Callable[..., list[dict[str, Any]]]


@pytest.fixture
async def app(settings: Settings, grubhub_standin: GrubhubStandin) -> AsyncIterator[Starlette]:
    application = create_app(settings, platform_env=grubhub_standin.env)
    async with application.router.lifespan_context(application):
        yield application


def menu_target(db: Database, settings: Settings, env: dict[str, str]) -> Served:
    """The grubhub menu target as the worker builds it from ``env`` (rounds driven by the tests)."""
    adapter, _ = grubhub_adapter(env)
    return Served(db, PlatformTarget(db, adapter, credential_box(settings), name="grubhub",
                                     policy=Policy(batch_size=500, lease_s=5, backoff=Backoff(0.05, 0.2, 3))))


@pytest.fixture
async def gh_db(app_conninfo: str) -> AsyncIterator[Database]:
    db = Database(app_conninfo, min_size=1, max_size=4)
    await db.open(wait=True)
    yield db
    await db.close()


@pytest.fixture
async def grubhub(gh_db: Database, settings: Settings, grubhub_standin: GrubhubStandin,
                  loopback_api: str) -> AsyncIterator[Served]:
    """The menu target of a worker whose PUBLIC_BASE_URL is this API on loopback."""
    served = menu_target(gh_db, settings, grubhub_standin.worker_env(loopback_api))
    yield served
    await served.close()


async def connect(client: httpx.AsyncClient, r: Restaurant, **body: Any) -> httpx.Response:
    return await client.put(r.url("/integrations/grubhub"), headers=r.owner.headers,
                            json={"store_id": GRUBHUB_MERCHANT, **GRUBHUB_CREDENTIALS, **body})


def ingestions(standin: GrubhubStandin) -> list[dict[str, Any]]:
    return [c for c in standin.calls() if c["name"] == "ingestion"]


def due(db_sql: DbSql) -> None:
    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'grubhub'")


@pytest.mark.parametrize("secret_key", [base64.b64encode(b"not the secret").decode(), "not-base64"])
async def test_a_wrong_secret_is_422_and_nothing_is_stored(client, make_restaurant, grubhub_standin, db_sql,
                                                           secret_key):
    grubhub_standin.register()
    r = await make_restaurant()
    refused = await connect(client, r, secret_key=secret_key)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_credentials"
    assert secret_key not in refused.text
    assert db_sql("SELECT count(*) AS n FROM platform_connections") == [{"n": 0}]


async def test_connecting_ingests_the_menu_grubhub_downloads_from_our_menu_url(client, make_restaurant,
                                                                                grubhub_standin, grubhub,
                                                                                loopback_api, db_sql):
    grubhub_standin.register()
    r = await make_restaurant()
    answer = expect(await connect(client, r), 200)
    assert "secret" not in str(answer) and GRUBHUB_CREDENTIALS["partner_key"] not in str(answer)
    assert (await grubhub.round()).synced == 1
    [job] = grubhub_standin.jobs()
    assert job["merchant_statuses"][0]["status"] == "SUCCESS"
    assert job["menu_url"].startswith(f"{loopback_api}/api/platform-menus/grubhub/{GRUBHUB_MERCHANT}/")
    menu = grubhub_standin.menu()
    assert menu is not None
    assert {i["name"] for i in menu["items"]} == {"Paneer Tikka", "Dal Makhani", "Seasonal Special"}
    # What Grubhub downloaded is what we recorded as published (the availability diff's base).
    assert db_sql("SELECT published_menu FROM platform_connections") == [{"published_menu": menu}]
    state = expect(await client.get(r.url("/integrations/grubhub"), headers=r.owner.headers), 200)["menu"]
    assert state["status"] == "synced" and state["item_count"] == 3
    assert state["external_menu_id"] == job["job_id"]


async def test_a_menu_url_grubhub_cannot_reach_fails_its_job(client, make_restaurant, grubhub_standin, gh_db,
                                                             settings, db_sql):
    """Grubhub takes the ingestion before it downloads: our publish is recorded, its job says
    FAILED_MENU_DOWNLOAD (docs/grubhub.md: what a failed download leaves)."""
    grubhub_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    nowhere = menu_target(gh_db, settings, grubhub_standin.worker_env("http://127.0.0.1:9"))
    try:
        assert (await nowhere.round()).synced == 1
    finally:
        await nowhere.close()
    [job] = grubhub_standin.jobs()
    assert job["merchant_statuses"][0]["status"] == "FAILED_MENU_DOWNLOAD"
    assert grubhub_standin.menu() is None


async def test_an_availability_change_reingests_with_the_item_unavailable(client, make_restaurant, grubhub_standin,
                                                                          grubhub):
    grubhub_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    await grubhub.round()
    item = r.items["Dal Makhani"]
    expect(await client.put(r.url(f"/menu/items/{item['id']}/availability"), headers=r.owner.headers,
                            json={"is_available": False}), 200)
    assert (await grubhub.round()).synced == 1
    stored = {i["external_id"]: i for i in grubhub_standin.menu()["items"]}  # type: ignore[index]
    assert stored[item["id"]]["availability_override"] == "unavailable"
    expect(await client.put(r.url(f"/menu/items/{item['id']}/availability"), headers=r.owner.headers,
                            json={"is_available": True}), 200)
    assert (await grubhub.round()).synced == 1
    stored = {i["external_id"]: i for i in grubhub_standin.menu()["items"]}  # type: ignore[index]
    assert "availability_override" not in stored[item["id"]]
    assert len(ingestions(grubhub_standin)) == 3
    assert [c["download"] for c in ingestions(grubhub_standin)] == ["ok"] * 3


async def test_a_rate_limit_is_honoured_and_a_refusal_recorded_then_retried(client, make_restaurant,
                                                                            grubhub_standin, grubhub, db_sql):
    grubhub_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    grubhub_standin.fault("http429", count=1, paths=["ingestion"], retry_after=7)
    assert (await grubhub.round()).failed == 1
    [row] = db_sql("SELECT status, last_error, next_attempt_at - now() AS due_in FROM sync_log"
                   " WHERE target = 'grubhub'")
    assert "429" in row["last_error"] and row["due_in"].total_seconds() > 5  # Grubhub's Retry-After
    due(db_sql)
    grubhub_standin.fault("reject", count=1, paths=["ingestion"])
    assert (await grubhub.round()).failed == 1
    [conn] = db_sql("SELECT last_response, last_error FROM platform_connections")
    assert conn["last_response"]["field"] == "items[0]" and "400" in conn["last_error"]
    due(db_sql)
    assert (await grubhub.round()).synced == 1
    assert grubhub_standin.menu() is not None


@pytest.mark.parametrize("mode", ["http500", "down"])
async def test_an_outage_is_retried(client, make_restaurant, grubhub_standin, grubhub, db_sql, mode):
    grubhub_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    grubhub_standin.fault(mode, count=1, paths=["ingestion"])
    report = await grubhub.round()
    assert report.failed == 1 and report.dead == 0
    due(db_sql)
    assert (await grubhub.round()).synced == 1
