"""Connecting a restaurant's PetPooja outlet: who may, what is stored, what is never shown.

Credentials are sealed at rest with AES-256-GCM bound to the restaurant, never appear in a
response or a log line, and a reconnect keeps the callback secret PetPooja already knows.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import pytest
from starlette.applications import Starlette

from api.config import ConfigError, Settings, load_settings
from api.credentials import credential_box
from api.models import PetpoojaConnect
from db import petpooja
from db.credentials import CredentialBox, CredentialsUnreadable
from tests.conftest import MakeRestaurant, Restaurant, User, expect

DbSql = Callable[..., list[dict[str, Any]]]
MakeMember = Callable[[Restaurant, str], Awaitable[User]]
PATH = "/integrations/petpooja"
KINDS = {"order_status": "order-status", "stock": "stock", "store_status": "store-status", "menu_push": "pushmenu"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Every line is logged, so the log checks below see everything the API could say.
    return {"log_level": "DEBUG"}


def connect_body(**changes: Any) -> dict[str, Any]:
    return {"rest_id": "xq7hz2ab", "app_key": "ak-TOPSECRET-key-0001", "app_secret": "as-TOPSECRET-secret-0002",
            "access_token": "at-TOPSECRET-token-0003", "environment": "sandbox", **changes}


def stored(db_sql: DbSql, restaurant: Restaurant) -> list[dict[str, Any]]:
    return db_sql("SELECT * FROM petpooja_outlets WHERE restaurant_id = %s", (restaurant.id,))


def secret_of(connection: dict[str, Any]) -> str:
    """The callback secret, read from the URLs the API gave out."""
    secrets = {urlsplit(url).path.rsplit("/", 1)[1] for url in connection["callback_urls"].values()}
    assert len(secrets) == 1, connection
    secret: str = secrets.pop()
    return secret


async def open_outlet(app: Starlette, restaurant_id: str) -> petpooja.Outlet | None:
    async with app.state.services.db.tenant(UUID(restaurant_id)) as conn:
        return await petpooja.outlet(conn, app.state.services.credentials, UUID(restaurant_id))


# ------------------------------------------------------------------------------ who may


@pytest.mark.parametrize("role", ["owner", "manager"])
async def test_owners_and_managers_connect_and_get_the_callback_urls_to_register(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: MakeMember, db_sql: DbSql, role: str
) -> None:
    """An owner or manager's PUT stores the outlet and answers with rest_id, environment and four callback URLs
    under the public base URL that carry the restaurant's callback secret; GET answers the same."""
    r = await make_restaurant()
    caller = r.owner if role == "owner" else await make_member(r, role)
    connected = expect(await client.put(r.url(PATH), headers=caller.headers, json=connect_body()), 200)
    assert set(connected) == {"connected", "rest_id", "environment", "callback_urls"}
    assert (connected["connected"], connected["rest_id"], connected["environment"]) == (True, "xq7hz2ab", "sandbox")
    (row,) = stored(db_sql, r)
    assert secret_of(connected) == row["callback_secret"]
    assert len(row["callback_secret"]) >= 43  # 32 random bytes, URL-safe base64
    assert connected["callback_urls"] == {
        key: f"http://tabletop.test/api/webhooks/petpooja/{kind}/{row['callback_secret']}"
        for key, kind in KINDS.items()
    }
    assert expect(await client.get(r.url(PATH), headers=caller.headers), 200) == connected


@pytest.mark.parametrize("role", ["staff", "kitchen", "guest"])
async def test_staff_kitchen_and_guests_are_forbidden_and_change_nothing(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: MakeMember, db_sql: DbSql, role: str
) -> None:
    """Staff, kitchen and a guest session of the restaurant get 403 on PUT, GET and DELETE; the outlet stays."""
    r = await make_restaurant()
    expect(await client.put(r.url(PATH), headers=r.owner.headers, json=connect_body()), 200)
    before = stored(db_sql, r)
    if role == "guest":
        table = r.tables[0]
        token = expect(await client.post(f"/api/qr/{table['qr_token']}/session"), 201)["session_token"]
        headers = {"Authorization": f"Bearer {token}"}
    else:
        headers = (await make_member(r, role)).headers
    for method, body in (("PUT", connect_body(rest_id="attacker")), ("GET", None), ("DELETE", None)):
        response = await client.request(method, r.url(PATH), headers=headers, json=body)
        assert expect(response, 403)["code"] == "forbidden", method
    assert stored(db_sql, r) == before


async def test_another_restaurants_owner_gets_not_found_and_the_unauthenticated_401(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql
) -> None:
    """B's owner on A's outlet is 404 and no token is 401, for PUT, GET and DELETE; A's outlet is untouched."""
    a, b = await make_restaurant(), await make_restaurant()
    expect(await client.put(a.url(PATH), headers=a.owner.headers, json=connect_body()), 200)
    before = stored(db_sql, a)
    for method, body in (("PUT", connect_body(rest_id="attacker")), ("GET", None), ("DELETE", None)):
        response = await client.request(method, a.url(PATH), headers=b.owner.headers, json=body)
        assert expect(response, 404)["code"] == "not_found", method
        response = await client.request(method, a.url(PATH), json=body)
        assert expect(response, 401)["code"] == "not_authenticated", method
    assert stored(db_sql, a) == before
    assert stored(db_sql, b) == []


# ------------------------------------------------------------------------------ bad input


BAD_BODIES = {
    "missing app_secret": {k: v for k, v in connect_body().items() if k != "app_secret"},
    "missing environment": {k: v for k, v in connect_body().items() if k != "environment"},
    "app_key a number": connect_body(app_key=12345),
    "access_token null": connect_body(access_token=None),
    "unknown field": connect_body(webhook_url="https://evil.example"),
    "empty app_secret": connect_body(app_secret=""),
    "huge access_token": connect_body(access_token="x" * 10_000),
    "rest_id with spaces": connect_body(rest_id="my outlet"),
    "rest_id too long": connect_body(rest_id="r" * 65),
    "empty rest_id": connect_body(rest_id=""),
    "bad environment": connect_body(environment="staging"),
    "app_key with a space": connect_body(app_key="two words"),
}


@pytest.mark.parametrize("body", [pytest.param(b, id=k) for k, b in BAD_BODIES.items()])
async def test_an_invalid_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql, body: dict[str, Any]
) -> None:
    """A body missing a field, with a wrong type, an unknown field, an empty or oversized string, or an
    unknown environment is 422: nothing is stored, and an existing connection is left as it was."""
    r, connected = await make_restaurant(), await make_restaurant()
    expect(await client.put(connected.url(PATH), headers=connected.owner.headers, json=connect_body()), 200)
    before = stored(db_sql, connected)
    for target in (r, connected):
        problem = expect(await client.put(target.url(PATH), headers=target.owner.headers, json=body), 422)
        assert problem["code"] == "validation_error"
        assert "TOPSECRET" not in str(problem)
    assert stored(db_sql, r) == []
    assert stored(db_sql, connected) == before


# ------------------------------------------------------------------------------ at rest


async def test_credentials_are_sealed_at_rest_and_open_only_for_their_own_restaurant(
    client: httpx.AsyncClient, app: Starlette, make_restaurant: MakeRestaurant, db_sql: DbSql
) -> None:
    """The stored column holds none of the key, secret or token in plain text; it opens back to them for its
    restaurant with the recorded key id, and copied into another restaurant's row it does not open."""
    a, b = await make_restaurant(), await make_restaurant()
    body = connect_body()
    expect(await client.put(a.url(PATH), headers=a.owner.headers, json=body), 200)
    expect(await client.put(b.url(PATH), headers=b.owner.headers, json=connect_body(app_secret="b-own-secret")), 200)
    (row,) = stored(db_sql, a)
    sealed = bytes(row["credentials"])
    for field in ("app_key", "app_secret", "access_token"):
        assert body[field].encode() not in sealed, field
        assert base64.b64encode(body[field].encode())[:16] not in sealed, field
    assert b"TOPSECRET" not in sealed
    assert row["key_id"] == app.state.services.credentials.key_id
    # Two sealings of the same values differ: each has its own random nonce.
    expect(await client.put(a.url(PATH), headers=a.owner.headers, json=body), 200)
    assert bytes(stored(db_sql, a)[0]["credentials"]) != sealed

    opened = await open_outlet(app, a.id)
    assert opened == petpooja.Outlet("xq7hz2ab", "sandbox", petpooja.Credentials(
        body["app_key"], body["app_secret"], body["access_token"]))
    assert "TOPSECRET" not in repr(opened)

    db_sql("UPDATE petpooja_outlets SET credentials = (SELECT credentials FROM petpooja_outlets"
           " WHERE restaurant_id = %(a)s) WHERE restaurant_id = %(b)s", {"a": a.id, "b": b.id})
    with pytest.raises(CredentialsUnreadable):
        await open_outlet(app, b.id)
    assert await open_outlet(app, a.id) == opened


def test_a_connect_body_never_prints_its_secrets() -> None:
    """repr() and str() of a parsed connect body show rest_id and environment, never the key, secret or token."""
    body = PetpoojaConnect.model_validate(connect_body())
    for text in (repr(body), str(body)):
        assert "xq7hz2ab" in text and "TOPSECRET" not in text


def test_a_sealed_value_opens_only_with_its_key_its_key_id_and_its_restaurant() -> None:
    """Another key, another key id, another restaurant or a flipped byte each fail to open a sealed value."""
    rid, other = UUID(int=1), UUID(int=2)
    box = CredentialBox(bytes(32), "k1")
    sealed = box.seal("petpooja", rid, {"app_secret": "s"})
    assert box.open("petpooja", rid, sealed, "k1") == {"app_secret": "s"}
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    attempts: list[Callable[[], object]] = [
        lambda: CredentialBox(bytes(range(32)), "k1").open("petpooja", rid, sealed, "k1"),
        lambda: box.open("petpooja", rid, sealed, "k0"),
        lambda: box.open("petpooja", other, sealed, "k1"),
        lambda: box.open("other-purpose", rid, sealed, "k1"),
        lambda: box.open("petpooja", rid, tampered, "k1"),
    ]
    for attempt in attempts:
        with pytest.raises(CredentialsUnreadable):
            attempt()
    with pytest.raises(ValueError, match="32 bytes"):
        CredentialBox(bytes(16), "k1")


# ------------------------------------------------------------------------------ lifecycle


async def test_a_reconnect_replaces_the_credentials_and_keeps_the_callback_secret(
    client: httpx.AsyncClient, app: Starlette, make_restaurant: MakeRestaurant, db_sql: DbSql
) -> None:
    """A second PUT stores the new rest_id, environment and credentials under the same callback URLs."""
    r = await make_restaurant()
    first = expect(await client.put(r.url(PATH), headers=r.owner.headers, json=connect_body()), 200)
    created_at = stored(db_sql, r)[0]["created_at"]
    new = connect_body(rest_id="prod-9", app_key="ak-2", app_secret="as-2", access_token="at-2",
                       environment="production")
    second = expect(await client.put(r.url(PATH), headers=r.owner.headers, json=new), 200)
    assert second["callback_urls"] == first["callback_urls"]
    assert (second["rest_id"], second["environment"]) == ("prod-9", "production")
    (row,) = stored(db_sql, r)
    assert row["created_at"] == created_at and row["updated_at"] > created_at
    assert await open_outlet(app, r.id) == petpooja.Outlet("prod-9", "production",
                                                           petpooja.Credentials("ak-2", "as-2", "at-2"))


async def test_get_when_not_connected_and_delete_disconnects(
    client: httpx.AsyncClient, app: Starlette, make_restaurant: MakeRestaurant, db_sql: DbSql
) -> None:
    """GET before connecting is {connected: false}; DELETE is 204 and removes the row (credentials and callback
    secret with it), after which GET is {connected: false} again; a second DELETE is still 204; a new connect gets
    a new callback secret."""
    r = await make_restaurant()
    assert expect(await client.get(r.url(PATH), headers=r.owner.headers), 200) == {"connected": False}
    first = expect(await client.put(r.url(PATH), headers=r.owner.headers, json=connect_body()), 200)
    assert expect(await client.delete(r.url(PATH), headers=r.owner.headers), 204) == {}
    assert stored(db_sql, r) == []
    assert await open_outlet(app, r.id) is None
    assert expect(await client.get(r.url(PATH), headers=r.owner.headers), 200) == {"connected": False}
    expect(await client.delete(r.url(PATH), headers=r.owner.headers), 204)
    again = expect(await client.put(r.url(PATH), headers=r.owner.headers, json=connect_body()), 200)
    assert secret_of(again) != secret_of(first)


async def test_no_secret_appears_in_any_response_or_log_line(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, capfd: pytest.CaptureFixture[str]
) -> None:
    """Across connect, reconnect, read, a rejected body and disconnect, with every log level on, neither the
    app key, secret nor token appears in a response (body or headers) or in the logs."""
    r = await make_restaurant()
    capfd.readouterr()
    body = connect_body()
    responses = [
        await client.put(r.url(PATH), headers=r.owner.headers, json=body),
        await client.put(r.url(PATH), headers=r.owner.headers, json=body),
        await client.get(r.url(PATH), headers=r.owner.headers),
        await client.put(r.url(PATH), headers=r.owner.headers, json={**body, "environment": "staging"}),
        await client.put(r.url(PATH), headers=r.owner.headers, json={**body, "app_secret": body["app_secret"] + " x"}),
        await client.delete(r.url(PATH), headers=r.owner.headers),
    ]
    assert [resp.status_code for resp in responses] == [200, 200, 200, 422, 422, 204]
    logs = capfd.readouterr().err
    assert "petpooja_connected" in logs and "http_request" in logs  # the logs were captured at all
    for secret in (body["app_key"], body["app_secret"], body["access_token"], "TOPSECRET"):
        for resp in responses:
            assert secret not in resp.text and secret not in str(resp.headers)
        assert secret not in logs


# ------------------------------------------------------------------------------ configuration


def test_the_credentials_key_comes_from_configuration_and_development_keeps_one(
    tmp_path: Path, signing_key_pem: str
) -> None:
    """PETPOOJA_CREDENTIALS_KEY must be base64 of 32 bytes; a configured key is used with its configured id;
    without one, development generates a key under .data/ once and every later start uses it."""
    key = base64.b64encode(bytes(range(32))).decode()
    for bad in ("not base64!", base64.b64encode(bytes(16)).decode()):
        with pytest.raises(ConfigError, match=r"(?i)petpooja_credentials_key") as raised:
            load_settings({"PETPOOJA_CREDENTIALS_KEY": bad})
        assert bad not in str(raised.value)  # a malformed key is not echoed into the startup error
    configured = credential_box(load_settings({"PETPOOJA_CREDENTIALS_KEY": key,
                                               "PETPOOJA_CREDENTIALS_KEY_ID": "2026-11"}))
    assert configured.key_id == "2026-11"
    derived = credential_box(load_settings({"PETPOOJA_CREDENTIALS_KEY": key}))
    assert derived.key_id.startswith("k-") and key not in derived.key_id
    sealed = configured.seal("petpooja", UUID(int=1), {"app_secret": "s"})
    assert derived.open("petpooja", UUID(int=1), sealed, derived.key_id) == {"app_secret": "s"}

    dev = Settings.model_validate({"dev_credentials_key_path": tmp_path / "dev-key"})
    first, second = credential_box(dev), credential_box(dev)
    assert (tmp_path / "dev-key").stat().st_mode & 0o777 == 0o600
    assert first.key_id == second.key_id
    sealed = first.seal("petpooja", UUID(int=1), {"app_secret": "s"})
    assert second.open("petpooja", UUID(int=1), sealed, second.key_id) == {"app_secret": "s"}
    assert list(tmp_path.iterdir()) == [tmp_path / "dev-key"]


def test_callback_urls_use_the_public_base_url_or_else_the_issuer() -> None:
    """PUBLIC_BASE_URL (trailing slash dropped) is the callback URLs' base; unset, the JWT issuer is."""
    assert load_settings({"PUBLIC_BASE_URL": "https://hooks.example/"}).base_url == "https://hooks.example"
    assert load_settings({"JWT_ISSUER": "https://api.example"}).base_url == "https://api.example"
