"""The URL Grubhub downloads a merchant's menu from: with the right token it answers the
merchant's current menu in Grubhub's format, built from Postgres when asked (an edit shows at
once, no publish needed); a wrong token, another merchant's token, an unknown or disconnected
merchant all get the same 404; credentials that do not open are a 503; the request log never
shows the token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from db import menu
from db.platforms import Credentials
from db.pool import Database
from sync.grubhub.menu_format import grubhub_menu
from sync.grubhub.menu_url import menu_url
from tests.conftest import GRUBHUB_CREDENTIALS, GRUBHUB_MERCHANT, GrubhubStandin, Restaurant, expect, overrides

CREDS = Credentials(GRUBHUB_CREDENTIALS)
OTHER_MERCHANT = "503737"


@pytest.fixture
async def app(settings: Settings, grubhub_standin: GrubhubStandin) -> AsyncIterator[Starlette]:
    application = create_app(settings, platform_env=grubhub_standin.env)
    async with application.router.lifespan_context(application):
        yield application


def path_of(merchant_id: str, credentials: Credentials = CREDS) -> str:
    return menu_url("", merchant_id, credentials)


async def connect(client: httpx.AsyncClient, r: Restaurant, merchant_id: str = GRUBHUB_MERCHANT) -> None:
    expect(await client.put(r.url("/integrations/grubhub"), headers=r.owner.headers,
                            json={"store_id": merchant_id, **GRUBHUB_CREDENTIALS}), 200)


async def expected_menu(db: Database, r: Restaurant) -> dict[str, Any]:
    """Grubhub's format of the restaurant's menu as Postgres holds it now."""
    async with db.system() as conn:
        return grubhub_menu(await menu.full_menu(conn, UUID(r.id)), currency="INR")


async def test_the_right_token_answers_the_merchants_current_menu(client, make_restaurant, grubhub_standin,
                                                                  system_db):
    grubhub_standin.register()
    r = await make_restaurant()
    await connect(client, r)
    answer = await client.get(path_of(GRUBHUB_MERCHANT))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == await expected_menu(system_db, r)
    assert {i["name"] for i in answer.json()["items"]} == {"Paneer Tikka", "Dal Makhani", "Seasonal Special"}
    dal = r.items["Dal Makhani"]["id"]
    expect(await client.put(r.url(f"/menu/items/{dal}/availability"), headers=r.owner.headers,
                            json={"is_available": False}), 200)
    now = expect(await client.get(path_of(GRUBHUB_MERCHANT)), 200)
    assert {i["external_id"]: i for i in now["items"]}[dal]["availability_override"] == "unavailable"
    assert now == await expected_menu(system_db, r)


def _wrong(path: str) -> str:
    head, _, token = path.rpartition("/")
    return f"{head}/{'0' if token[0] != '0' else '1'}{token[1:]}"


@pytest.mark.parametrize("ask", ["wrong token", "unknown merchant", "short token", "upper-case token",
                                 "disconnected merchant"])
async def test_a_wrong_token_or_merchant_is_the_same_404(client, make_restaurant, grubhub_standin, ask):
    grubhub_standin.register()
    r = await make_restaurant()
    await connect(client, r)
    right = path_of(GRUBHUB_MERCHANT)
    if ask == "disconnected merchant":
        expect(await client.delete(r.url("/integrations/grubhub"), headers=r.owner.headers), 204)
    path = {"wrong token": _wrong(right), "unknown merchant": path_of("no-such-merchant"),
            "short token": right[:-1], "upper-case token": right.upper().replace("/API/PLATFORM-MENUS/GRUBHUB/",
                                                                                 "/api/platform-menus/grubhub/"),
            "disconnected merchant": right}[ask]
    answer = await client.get(path)
    assert answer.status_code == 404
    assert {k: answer.json()[k] for k in ("code", "detail", "title")} == {
        "code": "not_found", "detail": "no menu here", "title": "Not Found"}
    assert "Dal Makhani" not in answer.text and GRUBHUB_MERCHANT not in answer.text


async def test_another_restaurants_merchant_with_this_token_is_404(client, make_restaurant, grubhub_standin,
                                                                  system_db):
    """Both merchants hold the same credentials: the token is bound to its merchant id too."""
    grubhub_standin.register(merchant_ids=(GRUBHUB_MERCHANT, OTHER_MERCHANT))
    mine, theirs = await make_restaurant(), await make_restaurant()
    await connect(client, mine)
    await connect(client, theirs, OTHER_MERCHANT)
    my_token = path_of(GRUBHUB_MERCHANT).rpartition("/")[2]
    answer = await client.get(f"{path_of(OTHER_MERCHANT).rpartition('/')[0]}/{my_token}")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert expect(await client.get(path_of(OTHER_MERCHANT)), 200) == await expected_menu(system_db, theirs)
    assert expect(await client.get(path_of(GRUBHUB_MERCHANT)), 200) == await expected_menu(system_db, mine)


async def test_credentials_that_do_not_open_are_503(client, make_restaurant, grubhub_standin, db_sql):
    grubhub_standin.register()
    r = await make_restaurant()
    await connect(client, r)
    db_sql("UPDATE platform_connections SET key_id = 'a-retired-key'")
    answer = await client.get(path_of(GRUBHUB_MERCHANT))
    assert answer.status_code == 503 and answer.json()["code"] == "unavailable"
    assert answer.headers["retry-after"] == "60"


@overrides(log_level="INFO")
async def test_the_request_log_never_shows_the_token(client, make_restaurant, grubhub_standin,
                                                     capfd: pytest.CaptureFixture[str]):
    grubhub_standin.register()
    r = await make_restaurant()
    await connect(client, r)
    right = path_of(GRUBHUB_MERCHANT)
    capfd.readouterr()
    assert (await client.get(right)).status_code == 200
    assert (await client.get(_wrong(right))).status_code == 404
    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    paths = [line["path"] for line in lines if line.get("event") == "http_request"]
    assert paths == [f"/api/platform-menus/grubhub/{GRUBHUB_MERCHANT}/[redacted]"] * 2
    assert right.rpartition("/")[2] not in err and _wrong(right).rpartition("/")[2] not in err
    assert any(line.get("event") == "platform_menu_refused" and line["reason"] == "wrong token" for line in lines)
