"""A restaurant's menu on DoorDash: connecting its store (the access key checked with DoorDash,
sealed with the webhook token, never answered), publishing through the outbox to the DoorDash
stand-in (a real process verifying DoorDash's JWT): created once, then updated by id and never
created again; availability alone through the item-availability call; DoorDash's refusals,
rate limits and outages recorded and retried; its menu status webhook keeping the menu id."""

from __future__ import annotations

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
from sync.doordash.adapter import DoorDashAdapter
from sync.doordash.client import DoorDashClient
from sync.platform.target import PlatformTarget
from sync.target import Policy
from tests.conftest import (
    DOORDASH_CREDENTIALS,
    DOORDASH_STORE_ID,
    DOORDASH_WEBHOOK_TOKEN,
    DoorDashStandin,
    Restaurant,
    Served,
    expect,
)

DbSql = Callable[..., list[dict[str, Any]]]
WEBHOOK = "/api/webhooks/doordash"


@pytest.fixture
async def app(settings: Settings, doordash_standin: DoorDashStandin) -> AsyncIterator[Starlette]:
    """The API with DoorDash pointed at the stand-in."""
    application = create_app(settings, platform_env=doordash_standin.env)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def doordash(app_conninfo: str, settings: Settings, doordash_standin: DoorDashStandin) -> AsyncIterator[Served]:
    """The doordash target as the worker runs it (no debounce: rounds are driven by the tests)."""
    db = Database(app_conninfo, min_size=1, max_size=4)
    await db.open(wait=True)
    adapter = DoorDashAdapter(DoorDashClient(doordash_standin.url, "tabletop", timeout_s=3), currency="INR")
    served = Served(db, PlatformTarget(db, adapter, credential_box(settings), name="doordash",
                                       policy=Policy(batch_size=500, lease_s=5, backoff=Backoff(0.05, 0.2, 3))))
    yield served
    await served.close()
    await db.close()


async def connect(client: httpx.AsyncClient, r: Restaurant, **body: Any) -> httpx.Response:
    return await client.put(r.url("/integrations/doordash"), headers=r.owner.headers,
                            json={"store_id": DOORDASH_STORE_ID, **DOORDASH_CREDENTIALS, **body})


async def connected(client: httpx.AsyncClient, make_restaurant: Any, standin: DoorDashStandin,
                    doordash: Served, **register: Any) -> Restaurant:
    standin.register(**register)
    r: Restaurant = await make_restaurant()
    expect(await connect(client, r), 200)
    assert (await doordash.round()).synced == 1
    return r


def menu_calls(standin: DoorDashStandin) -> list[tuple[str, int]]:
    return [(c["name"], c["status"]) for c in standin.calls() if c["name"] != "store_details"]


def rows(db_sql: DbSql) -> list[dict[str, Any]]:
    return db_sql("SELECT status, attempts, last_error, next_attempt_at - now() AS due_in"
                  " FROM sync_log WHERE target = 'doordash' ORDER BY id")


@pytest.mark.parametrize("secret", ["CE_xMOBi56_uegC-rQfm1_zsP2Nxgr73ozSbARxMg2E", "not*base64url!"])
async def test_a_wrong_signing_secret_is_a_clear_422_and_nothing_is_stored(client, make_restaurant,
                                                                            doordash_standin, db_sql, secret):
    doordash_standin.register()
    r = await make_restaurant()
    refused = await connect(client, r, signing_secret=secret)
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_credentials"
    assert secret not in refused.text
    assert db_sql("SELECT count(*) AS n FROM platform_connections") == [{"n": 0}] and rows(db_sql) == []


async def test_a_store_the_key_does_not_hold_is_refused(client, make_restaurant, doordash_standin):
    doordash_standin.register(("another-store",))
    r = await make_restaurant()
    assert (await connect(client, r)).status_code == 422


async def test_the_menu_is_created_once_then_updated_by_its_id_and_never_created_again(
        client, make_restaurant, doordash_standin, doordash, db_sql):
    r = await connected(client, make_restaurant, doordash_standin, doordash)
    state = expect(await client.get(r.url("/integrations/doordash"), headers=r.owner.headers), 200)
    assert DOORDASH_CREDENTIALS["signing_secret"] not in str(state) and DOORDASH_WEBHOOK_TOKEN not in str(state)
    [created] = doordash_standin.menus()
    assert state["menu"]["status"] == "synced" and state["menu"]["external_menu_id"] == created["id"]
    assert state["menu"]["item_count"] == 3
    items = {i["name"]: i for c in created["body"]["menu"]["categories"] for i in c["items"]}
    assert items["Paneer Tikka"]["price"] == 25000 and items["Seasonal Special"]["active"] is False

    expect(await client.patch(r.url(f"/menu/items/{r.items['Dal Makhani']['id']}"), headers=r.owner.headers,
                              json={"price": 19000}), 200)
    assert (await doordash.round()).synced == 1
    expect(await client.post(r.url("/integrations/doordash/refresh"), headers=r.owner.headers), 202)
    assert (await doordash.round()).synced == 1
    assert menu_calls(doordash_standin) == [("menus", 202), ("menu_update", 202), ("menu_update", 202)]
    [menu] = doordash_standin.menus()  # still one menu at DoorDash
    assert menu["versions"] == 3
    prices = {i["name"]: i["price"] for c in menu["body"]["menu"]["categories"] for i in c["items"]}
    assert prices["Dal Makhani"] == 19000


async def test_an_availability_change_alone_uses_the_item_availability_call(
        client, make_restaurant, doordash_standin, doordash):
    r = await connected(client, make_restaurant, doordash_standin, doordash)
    dal = r.items["Dal Makhani"]["id"]
    for available in (False, True):
        expect(await client.put(r.url(f"/menu/items/{dal}/availability"), headers=r.owner.headers,
                                json={"is_available": available}), 200)
        assert (await doordash.round()).synced == 1
        assert doordash_standin.item_status()[dal] is available
    assert menu_calls(doordash_standin) == [("menus", 202), ("item_status", 200), ("item_status", 200)]


async def test_a_menu_update_after_an_item_was_deactivated_reactivates_it_through_the_item_call(
        client, make_restaurant, doordash_standin, doordash):
    """DoorDash: an item deactivated through item availability stays so until that call reactivates it."""
    r = await connected(client, make_restaurant, doordash_standin, doordash)
    dal = r.items["Dal Makhani"]["id"]
    expect(await client.put(r.url(f"/menu/items/{dal}/availability"), headers=r.owner.headers,
                            json={"is_available": False}), 200)
    await doordash.round()
    expect(await client.patch(r.url(f"/menu/items/{dal}"), headers=r.owner.headers,
                              json={"price": 17000, "is_available": True}), 200)
    assert (await doordash.round()).synced == 1
    assert menu_calls(doordash_standin)[-2:] == [("menu_update", 202), ("item_status", 200)]
    assert doordash_standin.item_status()[dal] is True


async def test_a_rate_limit_is_honoured_and_a_refusal_is_recorded_with_the_answer_then_retried(
        client, make_restaurant, doordash_standin, doordash, db_sql):
    doordash_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    doordash_standin.fault("http429", count=1, paths=["menus"], retry_after=7)
    assert (await doordash.round()).failed == 1
    [row] = rows(db_sql)
    assert "429" in row["last_error"] and row["due_in"].total_seconds() > 5  # DoorDash's Retry-After

    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'doordash'")
    doordash_standin.fault("reject", count=1, paths=["menus"])
    assert (await doordash.round()).failed == 1
    [conn] = db_sql("SELECT last_response, last_error, external_menu_id, failed_menu IS NOT NULL AS kept"
                    " FROM platform_connections")
    assert "400" in conn["last_error"] and conn["external_menu_id"] is None
    assert conn["last_response"]["field_errors"][0]["field"].endswith(")")  # DoorDash's answer names the item
    assert doordash_standin.menus() == []

    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'doordash'")
    assert (await doordash.round()).synced == 1
    assert len(doordash_standin.menus()) == 1
    state = expect(await client.get(r.url("/integrations/doordash"), headers=r.owner.headers), 200)["menu"]
    assert state["status"] == "synced" and state["error"] is None and state["retry_count"] == 0


async def test_an_outage_is_retried_and_creates_one_menu(client, make_restaurant, doordash_standin, doordash,
                                                         db_sql):
    doordash_standin.register()
    r = await make_restaurant()
    expect(await connect(client, r), 200)
    doordash_standin.fault("http500", count=1, paths=["menus"])
    report = await doordash.round()
    assert report.failed == 1 and report.dead == 0 and "500" in rows(db_sql)[0]["last_error"]
    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'doordash'")
    assert (await doordash.round()).synced == 1
    assert len(doordash_standin.menus()) == 1


async def menu_status(client: httpx.AsyncClient, kind: str, status: str, menu_id: str | None,
                      reference: str = "ref-1", token: str = DOORDASH_WEBHOOK_TOKEN) -> httpx.Response:
    """DoorDash's menu status webhook, as its docs show it."""
    body = {"event": {"type": kind, "status": status, "reference": reference,
                      "details": None if status == "SUCCESS" else "Store hours are invalid"},
            "store": {"merchant_supplied_id": DOORDASH_STORE_ID}, "menu": {"id": menu_id}}
    return await client.post(WEBHOOK, json=body, headers={"Authorization": f"Bearer {token}"})


async def test_without_a_menu_id_in_the_answer_updates_wait_for_the_menu_status_webhook(
        client, make_restaurant, doordash_standin, doordash, db_sql):
    r = await connected(client, make_restaurant, doordash_standin, doordash, menu_id_in_answer=False)
    [created] = doordash_standin.menus()
    expect(await client.patch(r.url(f"/menu/items/{r.items['Dal Makhani']['id']}"), headers=r.owner.headers,
                              json={"price": 19000}), 200)
    assert (await doordash.round()).failed == 1  # waits: a second create would duplicate the menu
    assert len(doordash_standin.menus()) == 1 and "not named it yet" in rows(db_sql)[-1]["last_error"]

    # A FAILURE that names the menu (its hours failed) still gives the id; the next publish is a whole update.
    assert (await menu_status(client, "MenuCreate", "FAILURE", created["id"])).status_code == 200
    state = expect(await client.get(r.url("/integrations/doordash"), headers=r.owner.headers), 200)["menu"]
    assert state["external_menu_id"] == created["id"] and state["status"] == "failed"
    assert "Store hours are invalid" in state["error"]
    db_sql("UPDATE sync_log SET next_attempt_at = now() WHERE target = 'doordash'")
    assert (await doordash.round()).synced == 1
    assert [m["versions"] for m in doordash_standin.menus()] == [2]
    # The same job's status again is a replay: nothing changes.
    assert (await menu_status(client, "MenuCreate", "FAILURE", created["id"])).status_code == 200
    assert expect(await client.get(r.url("/integrations/doordash"), headers=r.owner.headers),
                  200)["menu"]["status"] == "synced"


async def test_a_menu_status_with_a_wrong_token_changes_nothing(client, make_restaurant, doordash_standin, doordash,
                                                                db_sql):
    await connected(client, make_restaurant, doordash_standin, doordash)
    before = db_sql("SELECT external_menu_id, sync_status FROM platform_connections")
    answer = await menu_status(client, "MenuUpdate", "FAILURE", "forged-menu", token="guess")
    assert answer.status_code == 401 and answer.json()["code"] == "invalid_token"
    assert db_sql("SELECT external_menu_id, sync_status FROM platform_connections") == before
    assert db_sql("SELECT count(*) AS n FROM platform_webhook_events") == [{"n": 0}]


async def test_moving_to_another_store_creates_that_stores_menu_instead_of_updating_the_old_one(
        client, make_restaurant, doordash_standin, doordash):
    r = await connected(client, make_restaurant, doordash_standin, doordash,
                        store_ids=(DOORDASH_STORE_ID, "second-store"))
    expect(await connect(client, r), 200)  # the same store again (new credentials, say): its menu id stays
    assert (await doordash.round()).synced == 1
    expect(await connect(client, r, store_id="second-store"), 200)
    assert (await doordash.round()).synced == 1
    assert [m["store_id"] for m in doordash_standin.menus()] == [DOORDASH_STORE_ID, "second-store"]
    assert menu_calls(doordash_standin) == [("menus", 202), ("menu_update", 202), ("menus", 202)]
