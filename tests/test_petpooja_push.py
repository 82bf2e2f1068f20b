"""Orders out to PetPooja: the client (settings, URLs, keys, SigV4), and the outbox target
pushing orders to the PetPooja stand-in."""

from __future__ import annotations

import json

import httpx
import pytest

from db.petpooja import Credentials, Outlet
from sync.config import SyncConfigError, load_petpooja_settings
from sync.petpooja_client import PetpoojaClient, PetpoojaError, PetpoojaUnreachable

OUTLET = Outlet("xk91ab", "sandbox", Credentials("key-1", "secret-1", "token-1"))


def test_settings_default_to_petpooja_hosts_and_read_the_environment() -> None:
    default = load_petpooja_settings({})
    assert default.petpooja_sandbox_url.startswith("https://") and default.petpooja_production_url.startswith("https://")
    assert not default.sigv4
    custom = load_petpooja_settings({"PETPOOJA_SANDBOX_URL": "http://127.0.0.1:9/", "PETPOOJA_TIMEOUT_S": "2.5"})
    assert (custom.base_url("sandbox"), custom.base_url("production"), custom.petpooja_timeout_s) == (
        "http://127.0.0.1:9", default.petpooja_production_url, 2.5)
    with pytest.raises(SyncConfigError, match="go together"):
        load_petpooja_settings({"PETPOOJA_SIGV4_REGION": "ap-southeast-1"})
    with pytest.raises(SyncConfigError, match="petpooja_timeout_s"):
        load_petpooja_settings({"PETPOOJA_TIMEOUT_S": "-1"})


async def test_calls_go_to_the_outlet_environment_with_keys_in_body_or_headers() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("mapped_restaurant_menus"):
            return httpx.Response(200, json={"success": "1", "restaurants": []})
        return httpx.Response(200, json={"success": "1", "orderID": "77"})

    settings = load_petpooja_settings({"PETPOOJA_SANDBOX_URL": "http://sandbox.test/V1",
                                       "PETPOOJA_PRODUCTION_URL": "http://prod.test"})
    client = PetpoojaClient(settings, transport=httpx.MockTransport(answer))
    try:
        saved = await client.save_order(OUTLET, {"orderinfo": {"x": "1"}})
        await client.update_order_status(Outlet("p1", "production", OUTLET.credentials), {"status": "-1"})
        menu = await client.fetch_menu(OUTLET)
    finally:
        await client.close()
    assert saved.status_code == 200 and json.loads(saved.body)["orderID"] == "77"
    assert [str(r.url) for r in seen] == ["http://sandbox.test/V1/save_order", "http://prod.test/update_order_status",
                                          "http://sandbox.test/V1/mapped_restaurant_menus"]
    assert json.loads(seen[0].content) == {"orderinfo": {"x": "1"}, "app_key": "key-1", "app_secret": "secret-1",
                                           "access_token": "token-1"}
    assert json.loads(seen[1].content)["app_secret"] == "secret-1"
    assert json.loads(seen[2].content) == {"restID": "xk91ab"}
    assert (seen[2].headers["app-key"], seen[2].headers["app-secret"], seen[2].headers["access-token"]) == (
        "key-1", "secret-1", "token-1")
    assert "authorization" not in seen[0].headers
    assert menu == {"success": "1", "restaurants": []}


async def test_a_signed_request_carries_an_aws4_hmac_sha256_authorization() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": "1"})

    settings = load_petpooja_settings({
        "PETPOOJA_SANDBOX_URL": "https://abc123.execute-api.ap-southeast-1.amazonaws.com/V1",
        "PETPOOJA_SIGV4_REGION": "ap-southeast-1", "PETPOOJA_SIGV4_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "PETPOOJA_SIGV4_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"})
    client = PetpoojaClient(settings, transport=httpx.MockTransport(answer))
    try:
        await client.save_order(OUTLET, {"orderinfo": {}})
    finally:
        await client.close()
    auth = seen[0].headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/ap-southeast-1/execute-api/aws4_request" in auth
    assert "SignedHeaders=" in auth and "host" in auth and "Signature=" in auth
    assert seen[0].headers["x-amz-date"]
    assert "wJalrXUtnFEMI" not in repr(settings)


async def test_network_failure_timeout_and_bad_menu_answers_raise_clear_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    settings = load_petpooja_settings({"PETPOOJA_SANDBOX_URL": "http://sandbox.test"})
    for transport, match in ((refuse, "unreachable"), (hang, "did not answer")):
        client = PetpoojaClient(settings, transport=httpx.MockTransport(transport))
        with pytest.raises(PetpoojaUnreachable, match=match):
            await client.save_order(OUTLET, {})
        await client.close()

    for response, match in (
        (httpx.Response(401, json={"message": "Invalid credentials"}), "HTTP 401: Invalid credentials"),
        (httpx.Response(200, content=b"<html>"), "not a JSON object"),
        (httpx.Response(200, json={"success": "0", "message": "restID not mapped"}), "restID not mapped"),
    ):
        client = PetpoojaClient(settings, transport=httpx.MockTransport(lambda _r, resp=response: resp))
        with pytest.raises(PetpoojaError, match=match):
            await client.fetch_menu(OUTLET)
        await client.close()
