"""The Grubhub stand-in refuses what Grubhub would: a wrong MAC, a reused nonce, a body that
does not match its bodyhash, a wrong partner key, another partner's merchant, an ingestion
request that is not Grubhub's (400 naming the field); it downloads the menu from the request's
menu_url (plain or gzip), a download that fails or a menu that is invalid failing the job
(FAILED_MENU_DOWNLOAD, FAILED_VALIDATION naming the field); and ingestion replaces the menu by
external id."""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest

from db.platforms import Credentials
from sync.grubhub.client import GrubhubClient, authorization
from tests.conftest import GRUBHUB_CREDENTIALS, GRUBHUB_MERCHANT, GrubhubStandin

CREDS = Credentials(GRUBHUB_CREDENTIALS)
SECTION = {"external_id": "s1", "name": "Mains", "items": ["i1"]}
ITEM = {"external_id": "i1", "name": "Dal", "price": 12.5, "modifier_prompts": []}


def valid_menu(**changes: Any) -> dict[str, Any]:
    return {"menu_info": {"currency": "USD", "sections": ["s1"]}, "menu_sections": [SECTION], "items": [ITEM],
            **changes}


def ingestion(menu_url: str, **changes: Any) -> dict[str, Any]:
    return {"merchant_ids": [GRUBHUB_MERCHANT], "menu_url": menu_url, "normalized_menu": True,
            "apply_existing_schedule_overrides": False, **changes}


@dataclass
class MenuHost:
    """Files on loopback for the stand-in to download: path -> (status, body)."""

    server: ThreadingHTTPServer
    files: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def put(self, menu: Any = None, *, raw: bytes | None = None, status: int = 200, path: str = "/menu") -> str:
        self.files[path] = (status, orjson.dumps(menu) if raw is None else raw)
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"


@pytest.fixture
def menu_host() -> Iterator[MenuHost]:
    files: dict[str, tuple[int, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = files.get(self.path, (404, b"not here"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield MenuHost(server, files)
    server.shutdown()
    server.server_close()


def job_of(standin: GrubhubStandin, answer: httpx.Response) -> dict[str, Any]:
    """The stand-in's record of the job an ingestion answered (with its own keys: field, removed)."""
    assert answer.status_code == 200, answer.text
    [job] = [j for j in standin.jobs() if j["job_id"] == answer.json()["job_id"]]
    return job


def signed(standin: GrubhubStandin, method: str, path: str, body: Any, *, nonce: str = "1:abc",
           creds: Credentials = CREDS, content: bytes | None = None) -> httpx.Response:
    raw = orjson.dumps(body) if body is not None else b""
    url = httpx.URL(f"{standin.url}{path}")
    headers = {"X-GH-PARTNER-KEY": creds["partner_key"], "Content-Type": "application/json",
               "Authorization": authorization(creds, method, url, raw, nonce)}
    return standin.http.request(method, url, content=raw if content is None else content, headers=headers)


async def test_the_real_client_ingests_and_reads_the_job(grubhub_standin, menu_host):
    grubhub_standin.register()
    client = GrubhubClient(grubhub_standin.url, timeout_s=3)
    try:
        answer = await client.ingest_menu(CREDS, GRUBHUB_MERCHANT, menu_host.put(valid_menu()))
        assert answer.status == 200
        job = await client.ingestion_job(CREDS, answer.body["job_id"])
        assert job.body["merchant_statuses"][0]["status"] == "SUCCESS"
        assert set(job.body) == {"job_id", "details", "merchant_statuses"}  # Grubhub's fields only
        assert (await client.merchant_menu(CREDS, GRUBHUB_MERCHANT)).body["items"] == [ITEM]
    finally:
        await client.close()


@pytest.mark.parametrize("flaw", ["wrong secret", "wrong partner key", "tampered body", "reused nonce",
                                  "no mac", "unknown client"])
def test_a_flawed_signature_is_401(grubhub_standin, menu_host, flaw):
    grubhub_standin.register()
    body = ingestion(menu_host.put(valid_menu()))
    if flaw == "reused nonce":
        assert signed(grubhub_standin, "POST", "/pos/v1/menu/ingestion", body, nonce="9:n").status_code == 200
    creds = {"wrong secret": Credentials({**GRUBHUB_CREDENTIALS, "secret_key": base64.b64encode(b"x").decode()}),
             "wrong partner key": Credentials({**GRUBHUB_CREDENTIALS, "partner_key": "nope"}),
             "unknown client": Credentials({**GRUBHUB_CREDENTIALS, "client_id": "stranger"})}.get(flaw, CREDS)
    content = orjson.dumps({**body, "merchant_ids": ["other"]}) if flaw == "tampered body" else None
    if flaw == "no mac":
        answer = grubhub_standin.http.post(f"{grubhub_standin.url}/pos/v1/menu/ingestion", json=body,
                                           headers={"X-GH-PARTNER-KEY": GRUBHUB_CREDENTIALS["partner_key"]})
    else:
        answer = signed(grubhub_standin, "POST", "/pos/v1/menu/ingestion", body, nonce="9:n", creds=creds,
                        content=content)
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    assert grubhub_standin.jobs() == ([] if flaw != "reused nonce" else grubhub_standin.jobs())


def test_the_bodyhash_is_the_base64_sha256_of_the_body(grubhub_standin):
    raw = orjson.dumps(ingestion("http://127.0.0.1:9/menu"))
    header = authorization(CREDS, "POST", httpx.URL(f"{grubhub_standin.url}/x"), raw, "1:a")
    assert f'bodyhash="{base64.b64encode(hashlib.sha256(raw).digest()).decode()}"' in header
    assert header.startswith('MAC id="sv:v1:test-gh-client",nonce="1:a",')


def test_another_partners_merchant_is_403(grubhub_standin, menu_host):
    grubhub_standin.register(merchant_ids=("someone-else",))
    answer = signed(grubhub_standin, "POST", "/pos/v1/menu/ingestion", ingestion(menu_host.put(valid_menu())))
    assert answer.status_code == 403


@pytest.mark.parametrize(("changes", "field"), [
    ({"menu_url": None, "menu": valid_menu()}, "menu"),  # the menu inline: not Grubhub's request
    ({"menu_url": None}, "menu_url"),
    ({"menu_url": "ftp://127.0.0.1/menu"}, "menu_url"),
    ({"menu_url": "not a url"}, "menu_url"),
    ({"merchant_ids": [GRUBHUB_MERCHANT, "503737"]}, "merchant_ids"),
    ({"normalized_menu": False}, "normalized_menu"),
    ({"apply_existing_schedule_overrides": "no"}, "apply_existing_schedule_overrides"),
])
def test_an_ingestion_request_that_is_not_grubhubs_is_400_naming_the_field(grubhub_standin, menu_host, changes,
                                                                          field):
    grubhub_standin.register()
    body = {k: v for k, v in {**ingestion(menu_host.put(valid_menu())), **changes}.items() if v is not None}
    answer = signed(grubhub_standin, "POST", "/pos/v1/menu/ingestion", body)
    assert answer.status_code == 400 and answer.json()["field"] == field
    assert grubhub_standin.jobs() == [] and grubhub_standin.menu() is None


@pytest.mark.parametrize("host", ["404", "not json", "nobody listening"])
def test_a_menu_that_cannot_be_downloaded_fails_the_job(grubhub_standin, menu_host, host):
    grubhub_standin.register()
    url = {"404": menu_host.put(valid_menu(), status=404), "not json": menu_host.put(raw=b"<html>"),
           "nobody listening": "http://127.0.0.1:9/menu"}[host]
    job = job_of(grubhub_standin, signed(grubhub_standin, "POST", "/pos/v1/menu/ingestion", ingestion(url)))
    assert job["merchant_statuses"][0]["status"] == "FAILED_MENU_DOWNLOAD"
    assert grubhub_standin.menu() is None


def test_a_gzip_menu_file_is_downloaded_as_grubhub_allows(grubhub_standin, menu_host):
    grubhub_standin.register()
    url = menu_host.put(raw=gzip.compress(orjson.dumps(valid_menu())))
    job = job_of(grubhub_standin, signed(grubhub_standin, "POST", "/pos/v1/menu/ingestion", ingestion(url)))
    assert job["merchant_statuses"][0]["status"] == "SUCCESS"
    assert grubhub_standin.menu() == valid_menu()


@pytest.mark.parametrize(("menu", "field"), [
    (None, "menu"),
    (valid_menu(menu_info={"sections": ["s1"]}), "menu_info.currency"),
    (valid_menu(items=[{**ITEM, "price": -1}]), "items[0].price"),
    (valid_menu(items=[{**ITEM, "price": "12.50"}]), "items[0].price"),
    (valid_menu(items=[{**ITEM, "name": " "}]), "items[0].name"),
    (valid_menu(items=[ITEM, ITEM]), "items[1].external_id"),
    (valid_menu(menu_sections=[{**SECTION, "items": ["ghost"]}]), "menu_sections[0].items[0]"),
    (valid_menu(items=[{**ITEM, "modifier_prompts": ["p"]}]), "items[0].modifier_prompts[0]"),
    (valid_menu(tax_rates=[{"external_id": "t", "name": "T", "rate": 5}]), "tax_rates[0].rate"),
    (valid_menu(modifier_prompts=[{"external_id": "p", "name": "P", "modifier_list": "l",
                                   "default_selection_model": {"minimum_quantity": 2, "maximum_quantity": 1}}],
                modifier_lists=[{"external_id": "l", "name": "L", "modifiers": []}]),
     "modifier_prompts[0].default_selection_model"),
])
def test_an_invalid_menu_fails_the_job_naming_the_field(grubhub_standin, menu_host, menu, field):
    grubhub_standin.register()
    answer = signed(grubhub_standin, "POST", "/pos/v1/menu/ingestion", ingestion(menu_host.put(menu)))
    job = job_of(grubhub_standin, answer)
    assert job["merchant_statuses"][0]["status"] == "FAILED_VALIDATION" and job["field"] == field
    assert grubhub_standin.menu() is None


def test_ingestion_removes_what_the_new_menu_leaves_out(grubhub_standin, menu_host):
    grubhub_standin.register()
    two = valid_menu(items=[ITEM, {**ITEM, "external_id": "i2"}],
                     menu_sections=[{**SECTION, "items": ["i1", "i2"]}])
    assert signed(grubhub_standin, "POST", "/pos/v1/menu/ingestion", ingestion(menu_host.put(two, path="/a")),
                  nonce="1:a").status_code == 200
    assert signed(grubhub_standin, "POST", "/pos/v1/menu/ingestion", ingestion(menu_host.put(valid_menu())),
                  nonce="1:b").status_code == 200
    assert [i["external_id"] for i in grubhub_standin.menu()["items"]] == ["i1"]  # type: ignore[index]
    assert grubhub_standin.jobs()[-1]["removed"] == ["i2"]


def test_order_status_accepts_only_verified_statuses_once(grubhub_standin):
    grubhub_standin.register()
    order = grubhub_standin.create_order(items=[{"item_id": "i1", "quantity": 1, "price": 3.0}])
    path = f"/pos/v1/merchant/{GRUBHUB_MERCHANT}/orders/{order['order_uuid']}/status"
    assert signed(grubhub_standin, "PUT", path, {"status": "READY"}, nonce="1:a").status_code == 400
    assert signed(grubhub_standin, "PUT", path, {"status": "CONFIRMED", "wait_time_in_minutes": 20},
                  nonce="1:b").status_code == 200
    assert signed(grubhub_standin, "PUT", path, {"status": "REJECTED"}, nonce="1:c").status_code == 409
    assert grubhub_standin.orders()[0]["status"] == "CONFIRMED"
