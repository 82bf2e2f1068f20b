"""The service's edges: problem+json errors, body limits, rate limits, CORS, security and
request-id headers, /health, /ready, /metrics, the canonical request log line, and the
settings production refuses to start without.

Every test that touches the database gets a fresh one (about half a second each), so
similar cases run in a loop inside one test and report every case that fails.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from api.app import create_app
from api.config import ConfigError, Settings, load_settings
from sync.config import SyncSettings
from tests.conftest import ROOT, Guest, MakeRestaurant, expect, order_body

Sql = Callable[..., list[dict[str, Any]]]

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
REGISTER = {"email": "edge@example.com", "password": "correct horse battery", "full_name": "Edge Case"}


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    # conftest's fixture ignores indirect parametrisation; this one honours it.
    overrides: dict[str, Any] = getattr(request, "param", {})
    return overrides


def offline_settings(tmp_path: Path, signing_key_pem: str, **values: Any) -> Settings:
    """Test settings whose database socket does not exist."""
    return Settings.model_validate({
        "env_mode": "test", "database_url": f"postgresql://tabletop_app@/tabletop?host={tmp_path / 'no-such-dir'}",
        "jwt_private_key": signing_key_pem, "password_time_cost": 1, "password_memory_kib": 64,
        "log_format": "json", "log_level": "CRITICAL", "db_pool_min": 1, "db_pool_max": 1, **values,
    })


@pytest.fixture
async def offline_client(
    tmp_path: Path, signing_key_pem: str, settings_overrides: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real app whose database is unreachable, for edges that never reach the database (headers,
    routing, CORS): it saves creating a database per test."""
    app = create_app(offline_settings(tmp_path, signing_key_pem, **settings_overrides), SyncSettings.model_validate({}))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport,
                                                                   base_url="http://tabletop.test") as client:
        yield client


def overrides(**values: Any) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("settings_overrides", [values], indirect=True, ids=["overrides"])


def count(db_sql: Sql, table: str) -> int:
    return int(db_sql(f"SELECT count(*) AS n FROM {table}")[0]["n"])  # noqa: S608  # literal table names


def problem_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    code: str = response.json()["code"]
    return code


def retry_after(response: httpx.Response) -> int:
    value = response.headers["retry-after"]
    assert value.isdigit(), value
    return int(value)


# ------------------------------------------------------------------------ error shapes


async def test_every_error_is_problem_json_with_type_title_status_detail_and_code(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant
) -> None:
    """400, 401, 403, 404, 405, 409, 415 and 422 responses are application/problem+json with type, title, status
    (equal to the HTTP status), detail and a snake_case code; 422 adds errors of {loc, msg}."""
    r = await make_restaurant()
    guest = expect(await client.post(f"/api/qr/{r.tables[0]['qr_token']}/session"), 201)["session_token"]
    cases: list[tuple[int, str, httpx.Response]] = [
        (400, "malformed_json", await client.post("/api/auth/register", content=b"{",
                                                  headers={"Content-Type": "application/json"})),
        (401, "not_authenticated", await client.get("/api/auth/me")),
        (403, "forbidden", await client.get("/api/auth/me", headers={"Authorization": f"Bearer {guest}"})),
        (404, "not_found", await client.get("/api/no/such/route")),
        (405, "method_not_allowed", await client.delete("/api/auth/login")),
        (409, "email_taken", await client.post("/api/auth/register", json={
            "email": r.owner.email, "password": "correct horse battery", "full_name": "Again"})),
        (415, "unsupported_media_type", await client.post("/api/auth/register", content=json.dumps(REGISTER),
                                                          headers={"Content-Type": "text/plain"})),
        (422, "validation_error", await client.post("/api/auth/register", json={"email": "x"})),
    ]
    for status, code, response in cases:
        assert response.status_code == status, (code, response.text)
        assert response.headers["content-type"] == "application/problem+json", code
        body = response.json()
        assert {"type", "title", "status", "detail", "code"} <= set(body), body
        assert body["status"] == status
        assert body["code"] == code
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", body["code"])
        assert isinstance(body["type"], str)
        assert body["type"]
        assert isinstance(body["title"], str)
        assert body["title"]
        assert isinstance(body["detail"], str)
        assert body["detail"]
    errors = cases[-1][2].json()["errors"]
    assert {tuple(e["loc"]) for e in errors} >= {("body", "email"), ("body", "password"), ("body", "full_name")}
    assert all(isinstance(e["loc"], list) and isinstance(e["msg"], str) and e["msg"] for e in errors)


async def test_unknown_routes_are_404_not_found_and_wrong_methods_405_method_not_allowed(
    offline_client: httpx.AsyncClient,
) -> None:
    """An unknown path (or a rid that is not a UUID) is 404 not_found; a known path with a wrong method is 405
    method_not_allowed with an Allow header."""
    for path in ("/nope", "/api/restaurants/not-a-uuid", "/api/qr/abc/session/extra"):
        assert problem_code(await offline_client.get(path), 404) == "not_found", path
    response = await offline_client.put("/api/auth/register", json=REGISTER)
    assert problem_code(response, 405) == "method_not_allowed"
    assert "POST" in response.headers["allow"]
    assert problem_code(await offline_client.post("/health"), 405) == "method_not_allowed"


# ------------------------------------------------------------------------ request bodies


async def test_malformed_json_is_400_and_writes_nothing(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: Sql
) -> None:
    """Bodies that are not JSON (truncated, trailing comma, bare words, invalid UTF-8) are 400 malformed_json on
    public and authenticated endpoints, and store nothing."""
    r = await make_restaurant()
    users, restaurants = count(db_sql, "users"), count(db_sql, "restaurants")
    for raw in (b"{", b'{"email": }', b"nul", b'{"name": "x",}', b"\xff\xfe{}", b"{'name': 'single quotes'}"):
        for path, headers in (("/api/auth/register", {}), ("/api/restaurants", r.owner.headers)):
            response = await client.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})
            assert problem_code(response, 400) == "malformed_json", (path, raw)
    assert (count(db_sql, "users"), count(db_sql, "restaurants")) == (users, restaurants)


async def test_a_body_that_is_not_json_is_415_and_writes_nothing(client: httpx.AsyncClient, db_sql: Sql) -> None:
    """A text/plain, form, multipart or untyped body is 415 unsupported_media_type and stores nothing, while the same
    JSON sent as application/json (with a charset) registers."""
    as_json = json.dumps(REGISTER).encode()
    refused = [
        client.post("/api/auth/register", content=as_json, headers={"Content-Type": "text/plain"}),
        client.post("/api/auth/register", data=REGISTER),
        client.post("/api/auth/register", files={"email": (None, REGISTER["email"])}),
        client.post("/api/auth/register", content=as_json, headers={"Content-Type": ""}),
        client.post("/api/auth/register", content=as_json, headers={"Content-Type": "application/jsonx"}),
    ]
    for pending in refused:
        response = await pending
        assert problem_code(response, 415) == "unsupported_media_type", response.request.headers.get("content-type")
    assert count(db_sql, "users") == 0
    expect(await client.post("/api/auth/register", content=as_json,
                             headers={"Content-Type": "application/json; charset=utf-8"}), 201)
    assert count(db_sql, "users") == 1


def padded_registration(email: str, size: int) -> bytes:
    """A valid registration body padded with JSON whitespace to exactly ``size`` bytes."""
    body = json.dumps({**REGISTER, "email": email}).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


async def chunks(body: bytes, size: int = 300) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


@overrides(max_body_bytes=1024)
async def test_a_body_over_the_cap_is_413_whether_declared_or_streamed(client: httpx.AsyncClient, db_sql: Sql) -> None:
    """A body over max_body_bytes is 413 payload_too_large both when Content-Length declares it and when it arrives
    chunked without one, and stores nothing; the same bodies under the cap register."""
    json_headers = {"Content-Type": "application/json"}
    declared = await client.post("/api/auth/register", content=padded_registration("a@example.com", 1025),
                                 headers=json_headers)
    assert declared.request.headers["content-length"] == "1025"
    assert problem_code(declared, 413) == "payload_too_large"

    streamed = await client.post("/api/auth/register", content=chunks(padded_registration("b@example.com", 3000)),
                                 headers=json_headers)
    assert "content-length" not in streamed.request.headers
    assert streamed.request.headers["transfer-encoding"] == "chunked"
    assert problem_code(streamed, 413) == "payload_too_large"
    assert count(db_sql, "users") == 0

    expect(await client.post("/api/auth/register", content=padded_registration("c@example.com", 1024),
                             headers=json_headers), 201)
    expect(await client.post("/api/auth/register", content=chunks(padded_registration("d@example.com", 1024)),
                             headers=json_headers), 201)
    assert sorted(u["email"] for u in db_sql("SELECT email FROM users")) == ["c@example.com", "d@example.com"]


# --------------------------------------------------------------------------- rate limits


async def login(client: httpx.AsyncClient, email: str, password: str = "correct horse battery",
                ip: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return await client.post("/api/auth/login", json={"email": email, "password": password}, headers=headers)


@overrides(rate_limit_login="3/minute")
async def test_logins_from_one_ip_are_rate_limited_with_retry_after(
    client: httpx.AsyncClient, app: Starlette, db_sql: Sql
) -> None:
    """After 3 login attempts from one IP the 4th, even with the right password, is 429 rate_limited with an integer
    Retry-After and issues no token, while another IP can still log in."""
    expect(await client.post("/api/auth/register", json=REGISTER), 201)
    for i in range(3):
        assert problem_code(await login(client, f"someone{i}@example.com"), 401) == "invalid_credentials"
    limited = await login(client, REGISTER["email"])
    assert problem_code(limited, 429) == "rate_limited"
    assert 1 <= retry_after(limited) <= 60
    assert count(db_sql, "refresh_tokens") == 0

    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://tabletop.test") as elsewhere:
        expect(await login(elsewhere, REGISTER["email"]), 200)


# Logins per email, QR sessions and orders per table: tests/test_rate_limits.py; the client
# address behind proxies: tests/test_client_ip.py.


@overrides(rate_limit_order_create="3/minute")
async def test_order_creation_is_rate_limited_per_guest_session(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: Callable[..., Any], db_sql: Sql
) -> None:
    """A guest session's 4th order within the window is 429 rate_limited with Retry-After and writes no order, while
    another guest session can still order."""
    r = await make_restaurant()
    guest: Guest = await open_guest(r, 0)
    other: Guest = await open_guest(r, 1)
    for _ in range(3):
        expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    limited = await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r))
    assert problem_code(limited, 429) == "rate_limited"
    assert 1 <= retry_after(limited) <= 60
    assert count(db_sql, "orders") == 3
    expect(await client.post(r.url("/orders"), headers=other.headers, json=order_body(r)), 201)
    assert count(db_sql, "orders") == 4


# ---------------------------------------------------------------------------------- CORS


@overrides(cors_origins=["https://kitchen.example"])
async def test_cors_allows_configured_origins_only(offline_client: httpx.AsyncClient) -> None:
    """A preflight or request from a configured origin gets Access-Control-Allow-Origin; one from any other origin
    does not."""
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = await offline_client.options("/api/auth/login", headers={"Origin": "https://kitchen.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://kitchen.example"
    assert "POST" in allowed.headers["access-control-allow-methods"]

    refused = await offline_client.options("/api/auth/login", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers

    simple = await offline_client.get("/health", headers={"Origin": "https://kitchen.example"})
    assert simple.headers["access-control-allow-origin"] == "https://kitchen.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in (
        await offline_client.get("/health", headers={"Origin": "https://evil.example"})).headers


async def test_without_cors_origins_there_is_no_cors_layer(offline_client: httpx.AsyncClient) -> None:
    """No CORS_ORIGINS: no answer carries a CORS header (not even Vary: Origin), and a preflight is refused like
    any other unserved method, as a 405 problem."""
    preflight = await offline_client.options("/api/auth/login", headers={
        "Origin": "https://kitchen.example", "Access-Control-Request-Method": "POST"})
    assert problem_code(preflight, 405) == "method_not_allowed"
    simple = await offline_client.get("/health", headers={"Origin": "https://kitchen.example"})
    for response in (preflight, simple):
        assert not [h for h in response.headers if h.startswith("access-control-") or h == "vary"], response.headers


# ------------------------------------------------------------------------------- headers


@overrides(max_body_bytes=1024)
async def test_security_headers_and_a_request_id_are_on_every_response(offline_client: httpx.AsyncClient) -> None:
    """200, 401, 404, 405, 413 and 422 responses all carry nosniff, DENY, a CSP, Referrer-Policy, no-store and an
    X-Request-ID, and no HSTS outside production."""
    responses = {
        "200": await offline_client.get("/health"),
        "401": await offline_client.get("/api/auth/me"),
        "404": await offline_client.get("/nope"),
        "405": await offline_client.delete("/health"),
        "413": await offline_client.post("/api/auth/register", content=b"{" + b" " * 2000 + b"}",
                                 headers={"Content-Type": "application/json"}),
        "422": await offline_client.post("/api/auth/register", json={}),
    }
    for name, response in responses.items():
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        assert "default-src 'none'" in response.headers["content-security-policy"], name
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], name
        assert GENERATED_REQUEST_ID.match(response.headers["x-request-id"]), name
        assert "strict-transport-security" not in response.headers, name
    assert responses["413"].status_code == 413


async def test_a_valid_request_id_is_echoed_and_an_invalid_one_replaced(offline_client: httpx.AsyncClient) -> None:
    """A well-formed incoming X-Request-ID comes back unchanged (on success and error); a malformed one is replaced
    by a fresh id; without one, every response gets its own."""
    for good in ("abc-123.DEF_9", "x" * 64, "0f8fad5b-d9cb-469f-a165-70867728950e"):
        for path in ("/health", "/nope"):
            assert (await offline_client.get(path, headers={"X-Request-ID": good})).headers["x-request-id"] == good
    for bad in ("x" * 200, "x" * 65, "has spaces in it", "semi;colon", "slash/y", "{json}"):
        echoed = (await offline_client.get("/health", headers={"X-Request-ID": bad})).headers["x-request-id"]
        assert echoed != bad
        assert GENERATED_REQUEST_ID.match(echoed), echoed
    ids = {(await offline_client.get("/health")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


# ---------------------------------------------------------------------- health and ready


async def test_ready_follows_the_schema_version_while_health_stays_200(client: httpx.AsyncClient, db_sql: Sql) -> None:
    """/ready is 200 with this code's migrations applied, 503 schema_outdated once the newest schema_migrations
    row is gone (the database is behind the code), and 200 again when it is back; /health is 200 throughout."""
    assert expect(await client.get("/health"), 200) == {"status": "ok"}
    assert expect(await client.get("/ready"), 200) == {"status": "ready"}
    (newest,) = db_sql("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)"
                       " RETURNING version, name, checksum, applied_at")
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "schema_outdated"}
    assert expect(await client.get("/health"), 200) == {"status": "ok"}
    db_sql("INSERT INTO schema_migrations (version, name, checksum, applied_at)"
           " VALUES (%(version)s, %(name)s, %(checksum)s, %(applied_at)s)", newest)
    assert expect(await client.get("/ready"), 200) == {"status": "ready"}


async def test_ready_is_503_when_the_database_is_unreachable(tmp_path: Path, signing_key_pem: str) -> None:
    """An app whose database socket does not exist starts, answers /health 200, and /ready 503 (not a hang)."""
    app = create_app(offline_settings(tmp_path, signing_key_pem), SyncSettings.model_validate({}))
    # A guard against a hang, not a timing assertion: /ready gives up on the database after 2 s.
    with anyio.fail_after(20):
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://tabletop.test") as client:
                assert expect(await client.get("/health"), 200) == {"status": "ok"}
                response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["reason"].startswith("database_unavailable")


# ------------------------------------------------------------------------------- metrics


async def test_metrics_count_requests_by_route_template_and_status(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant
) -> None:
    """/metrics is Prometheus text with http_requests_total by method, route template and status, and latency
    buckets per route; raw paths never become labels."""
    r = await make_restaurant()
    for _ in range(2):
        expect(await client.get(r.url("/orders"), headers=r.owner.headers), 200)
    await client.get(r.url("/orders"))  # 401
    await client.get(f"/api/restaurants/{r.id}/nothing-here")  # unmatched 404

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "http_requests_total{" in response.text
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    template = "/api/restaurants/{rid:uuid}/orders"
    requests = {(s.labels["method"], s.labels["route"], s.labels["status"]): s.value
                for s in families["http_requests"].samples if s.name == "http_requests_total"}
    assert requests[("GET", template, "200")] == 2
    assert requests[("GET", template, "401")] == 1
    assert requests[("GET", "unmatched", "404")] == 1
    assert requests[("POST", "/api/restaurants/{rid:uuid}/tables", "201")] == 2
    assert all(r.id not in route for _, route, _ in requests), "a raw path became a label"

    buckets = {s.labels["le"]: s.value for s in families["http_request_duration_seconds"].samples
               if s.name == "http_request_duration_seconds_bucket" and s.labels["route"] == template}
    assert len(buckets) > 5
    assert buckets["+Inf"] == 3


async def test_metrics_count_orders_by_channel_status_moves_and_show_the_pool(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: Any
) -> None:
    """orders_created_total by channel (a guest's QR session or a member), never a replay;
    order_status_transitions_total by from, to and actor; the connection pool's gauges."""
    r = await make_restaurant()
    guest = await open_guest(r)
    headers = {**guest.headers, "Idempotency-Key": "once"}
    first = expect(await client.post(r.url("/orders"), headers=headers, json=order_body(r)), 201)
    expect(await client.post(r.url("/orders"), headers=headers, json=order_body(r)), 200)  # a replay
    expect(await client.post(r.url("/orders"), headers=r.owner.headers,
                             json={**order_body(r), "table_id": r.tables[0]["id"]}), 201)
    expect(await client.post(r.url(f"/orders/{first['id']}/status"), headers=r.owner.headers,
                             json={"status": "confirmed"}), 200)
    expect(await client.post(r.url(f"/orders/{first['id']}/status"), headers=r.owner.headers,
                             json={"status": "served"}), 409)  # refused: not counted

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families((await client.get("/metrics")).text) for s in f.samples}
    assert samples[("orders_created_total", (("channel", "qr"),))] == 1
    assert samples[("orders_created_total", (("channel", "staff"),))] == 1
    moves = {labels: v for (name, labels), v in samples.items() if name == "order_status_transitions_total"}
    assert moves == {(("actor", "user"), ("from_status", "pending"), ("to_status", "confirmed")): 1}
    assert samples[("db_pool_max", ())] == 8
    assert 1 <= samples[("db_pool_size", ())] <= 8
    assert 0 <= samples[("db_pool_in_use", ())] <= samples[("db_pool_size", ())]
    assert samples[("db_pool_waiting", ())] == 0


# ---------------------------------------------------------------------------------- logs


@overrides(log_level="INFO")
async def test_each_request_logs_one_json_http_request_line_with_its_request_id(
    capfd: pytest.CaptureFixture[str], client: httpx.AsyncClient
) -> None:
    """With log_format json, every request writes exactly one JSON http_request line to stderr carrying its
    request_id, method, path, route template and status."""
    capfd.readouterr()
    await client.get("/health", headers={"X-Request-ID": "log-test-1"})
    await client.get("/nope", headers={"X-Request-ID": "log-test-2"})
    await client.post("/api/auth/register", json={}, headers={"X-Request-ID": "log-test-3"})
    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "http_request"]
    by_id = {line["request_id"]: line for line in requests}
    assert len(requests) == 3, err
    first = by_id["log-test-1"]
    assert {k: first[k] for k in ("level", "method", "path", "route", "status")} == {
        "level": "info", "method": "GET", "path": "/health", "route": "/health", "status": 200}
    assert isinstance(first["duration_ms"], float | int)
    assert first["timestamp"].endswith("Z")
    assert (by_id["log-test-2"]["route"], by_id["log-test-2"]["status"]) == ("unmatched", 404)
    assert (by_id["log-test-3"]["route"], by_id["log-test-3"]["status"]) == ("/api/auth/register", 422)


# -------------------------------------------------------------------------------- config

PRODUCTION_REQUIRED = ("DATABASE_URL", "JWT_PRIVATE_KEY", "JWT_KEY_ID", "JWT_ISSUER", "PETPOOJA_CREDENTIALS_KEY")


@pytest.fixture
def production_env(signing_key_pem: str) -> dict[str, str]:
    return {
        "ENV_MODE": "production",
        "DATABASE_URL": "postgresql://tabletop_app@db.internal/tabletop",
        "JWT_PRIVATE_KEY": signing_key_pem,
        "JWT_KEY_ID": "2026-01",
        "JWT_ISSUER": "https://api.tabletop.example",
        "PETPOOJA_CREDENTIALS_KEY": base64.b64encode(bytes(range(32))).decode(),
        # A real provider needs its credentials too (providers/factory.py): Vapi's server secret.
        "VAPI_SERVER_SECRET": "prod-vapi-server-secret-for-tests",
    }


@pytest.mark.parametrize("missing", PRODUCTION_REQUIRED)
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_production_refuses_to_start_without_each_required_setting(
    production_env: dict[str, str], missing: str, how: str
) -> None:
    """ENV_MODE=production without (or with an empty) DATABASE_URL, JWT key, JWT_KEY_ID, JWT_ISSUER or
    PETPOOJA_CREDENTIALS_KEY raises ConfigError naming that setting."""
    env = dict(production_env)
    if how == "absent":
        del env[missing]
    else:
        env[missing] = ""
    with pytest.raises(ConfigError, match=missing) as raised:
        load_settings(env)
    others = [name for name in PRODUCTION_REQUIRED if name != missing]
    assert not any(name in str(raised.value) for name in others), str(raised.value)


def test_production_loads_with_every_required_setting(production_env: dict[str, str], tmp_path: Path) -> None:
    """ENV_MODE=production with all required settings loads (a key file stands in for an inline key); development
    needs none of them."""
    settings = load_settings(production_env)
    assert settings.production
    assert (settings.jwt_key_id, settings.jwt_issuer) == ("2026-01", "https://api.tabletop.example")
    key_file = tmp_path / "jwt.pem"
    key_file.write_text(production_env["JWT_PRIVATE_KEY"])
    env = {k: v for k, v in production_env.items() if k != "JWT_PRIVATE_KEY"}
    assert load_settings({**env, "JWT_PRIVATE_KEY_FILE": str(key_file)}).jwt_private_key_file == key_file
    assert not load_settings({}).production
    with pytest.raises(ConfigError, match=r"(?i)env_mode"):
        load_settings({**production_env, "ENV_MODE": "prod"})
    with pytest.raises(ConfigError, match=r"(?i)db_pool_max"):
        load_settings({**production_env, "DB_POOL_MAX": "many"})


def test_the_app_refuses_to_build_without_a_database_url(signing_key_pem: str) -> None:
    """create_app with settings lacking database_url raises ConfigError instead of starting half-configured."""
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app(Settings.model_validate({"jwt_private_key": signing_key_pem}), SyncSettings.model_validate({}))


# Run in a fresh interpreter: a production app caches its loggers on first use (db.logs),
# which would freeze them for every later test of this process.
PRODUCTION_APP = """
import asyncio, json, os
import httpx
from api.app import create_app
from api.config import load_settings
from sync.config import SyncSettings

async def main():
    # Sync to Convex has its own required settings (sync.config); off here: the API's are under test.
    app = create_app(load_settings(os.environ), SyncSettings.model_validate({}))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="https://a.test") as c:
        ready, health, jwks = await c.get("/ready"), await c.get("/health"), await c.get("/.well-known/jwks.json")
    print(json.dumps({"ready": ready.status_code, "hsts": health.headers.get("strict-transport-security"),
                      "kids": [k["kid"] for k in jwks.json()["keys"]]}))

asyncio.run(main())
"""


def test_a_production_app_starts_and_serves_with_all_settings_present(
    production_env: dict[str, str], app_conninfo: str
) -> None:
    """An app built from a complete production environment starts, is ready, sends HSTS and signs with JWT_KEY_ID."""
    env = {name: value for name, value in os.environ.items() if name in {"PATH", "HOME", "LANG", "VIRTUAL_ENV"}}
    env.update(production_env, DATABASE_URL=app_conninfo, LOG_LEVEL="WARNING", PASSWORD_MEMORY_KIB="64",
               PASSWORD_TIME_COST="1")
    done = subprocess.run([sys.executable, "-c", PRODUCTION_APP], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ready"] == 200
    assert result["hsts"].startswith("max-age=")
    assert result["kids"] == ["2026-01"]


def test_no_two_routes_match_the_same_path_so_their_order_in_the_app_only_decides_speed(
        tmp_path: Path, signing_key_pem: str) -> None:
    """api/app.py puts the busiest routes first (Starlette tries them in order): safe only while
    a path that one route matches fully is matched fully by no other for the same method."""
    from starlette.routing import Match, Route

    app = create_app(offline_settings(tmp_path, signing_key_pem))
    samples = {"uuid": "00000000-0000-0000-0000-0000000000a1", "str": "sample", "int": "7", "path": "a/b"}
    routes = [r for r in app.routes if isinstance(r, Route)]
    assert len(routes) > 40
    for route in routes:
        path = re.sub(r"\{(\w+)(?::(\w+))?\}", lambda m: samples[m.group(2) or "str"], route.path)
        for method in sorted(route.methods or {"GET"}):
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            full = [other.path for other in routes if other.matches(scope)[0] is Match.FULL]
            assert full == [route.path], (method, path, full)
