"""Admission control (api/admission.py): above ADMISSION_MAX_IN_FLIGHT requests in flight a new
one is refused at once with 503 `overloaded` and Retry-After, writing nothing; a request that
gets no database connection within DB_POOL_TIMEOUT_S gets the same answer. /health, /ready and
/metrics always answer.

A request is held in flight deterministically by streaming its body slowly: the handler waits
for the rest of the body until the test releases it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from tests.conftest import MakeUser, expect, overrides

Sql = Callable[..., list[dict[str, Any]]]


def restaurant(name: str) -> dict[str, Any]:
    return {"name": name, "currency": "INR", "timezone": "Asia/Kolkata", "tax_rate_bps": 500}


async def metric_samples(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(response.text) for s in f.samples}


async def in_flight(client: httpx.AsyncClient) -> float:
    return (await metric_samples(client))[("http_requests_in_flight", ())]


class Held:
    """``count`` login requests whose bodies stop half-way until ``release()``."""

    def __init__(self, client: httpx.AsyncClient, count: int):
        self.client, self.count = client, count
        self.released = anyio.Event()
        self.statuses: list[int] = []

    async def _body(self) -> AsyncIterator[bytes]:
        yield b'{"email": "nobody@example.com", '
        await self.released.wait()
        yield b'"password": "not the password of anyone"}'

    async def _one(self) -> None:
        response = await self.client.post("/api/auth/login", content=self._body(),
                                          headers={"Content-Type": "application/json"})
        self.statuses.append(response.status_code)

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        before = await in_flight(self.client)
        for _ in range(self.count):
            tg.start_soon(self._one)
        with anyio.fail_after(10):  # a liveness bound, not a timing claim
            while await in_flight(self.client) < before + self.count:  # noqa: ASYNC110  # polls /metrics
                await anyio.sleep(0.01)

    def release(self) -> None:
        self.released.set()


@overrides(admission_max_in_flight=3, admission_retry_after_s=7, log_level="INFO")
async def test_beyond_the_in_flight_limit_a_request_is_refused_at_once_with_retry_after_and_writes_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, db_sql: Sql, capfd: pytest.CaptureFixture[str]
) -> None:
    """With 3 requests in flight (the limit), a 4th is a 503 `overloaded` problem with Retry-After, the usual
    security headers and X-Request-ID, counted in /metrics and logged with status 503; it creates nothing.
    /health, /ready and /metrics still answer; once the 3 end, requests are admitted again."""
    owner = await make_user()
    held = Held(client, 3)
    async with anyio.create_task_group() as tg:
        await held.start(tg)
        capfd.readouterr()
        refused = await client.post("/api/restaurants", headers={**owner.headers, "X-Request-ID": "refused-1"},
                                    json=restaurant("Refused Bistro"))
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "overloaded"
        assert refused.json()["status"] == 503
        assert refused.headers["retry-after"] == "7"
        assert refused.headers["x-request-id"] == "refused-1"
        assert refused.headers["x-content-type-options"] == "nosniff"
        log_lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
        assert [(line["request_id"], line["status"]) for line in log_lines if line.get("event") == "http_request"] \
            == [("refused-1", 503)]

        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).status_code == 200
        samples = await metric_samples(client)
        assert samples[("http_requests_in_flight", ())] == 3
        assert samples[("http_requests_refused_total", (("reason", "in_flight"),))] == 1
        assert samples[("http_requests_total", (("method", "POST"), ("route", "unmatched"), ("status", "503")))] == 1
        held.release()
    assert held.statuses == [401, 401, 401]

    assert await in_flight(client) == 0
    expect(await client.post("/api/restaurants", headers=owner.headers, json=restaurant("Admitted Bistro")), 201)
    assert [row["name"] for row in db_sql("SELECT name FROM restaurants ORDER BY name")] == ["Admitted Bistro"]


@overrides(admission_max_in_flight=0)
async def test_a_limit_of_zero_admits_everything_and_still_counts_what_is_in_flight(
    client: httpx.AsyncClient, make_user: MakeUser, db_sql: Sql
) -> None:
    """ADMISSION_MAX_IN_FLIGHT=0 turns refusals off: with 5 requests in flight another is served; the gauge
    still shows them."""
    owner = await make_user()
    held = Held(client, 5)
    async with anyio.create_task_group() as tg:
        await held.start(tg)
        assert await in_flight(client) == 5
        expect(await client.post("/api/restaurants", headers=owner.headers, json=restaurant("Open Bistro")), 201)
        held.release()
    samples = await metric_samples(client)
    assert not [v for (name, _), v in samples.items() if name == "http_requests_refused_total" and v]
    assert [row["name"] for row in db_sql("SELECT name FROM restaurants")] == ["Open Bistro"]


@overrides(db_pool_min=1, db_pool_max=1, db_pool_timeout_s=0.2, admission_retry_after_s=2)
async def test_no_database_connection_within_the_pool_timeout_is_a_503_with_retry_after(
    app: Starlette, client: httpx.AsyncClient, make_user: MakeUser, db_sql: Sql
) -> None:
    """While the pool's only connection is taken, a request that needs the database waits DB_POOL_TIMEOUT_S and
    is refused with 503 `overloaded` and Retry-After (not a 500), counted as pool_timeout, writing nothing;
    once the connection is back it is served."""
    owner = await make_user()
    async with app.state.services.db.pool.connection():
        refused = await client.post("/api/restaurants", headers=owner.headers, json=restaurant("Refused Bistro"))
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "overloaded"
    assert refused.headers["retry-after"] == "2"

    samples = await metric_samples(client)
    assert samples[("http_requests_refused_total", (("reason", "pool_timeout"),))] == 1
    expect(await client.post("/api/restaurants", headers=owner.headers, json=restaurant("Admitted Bistro")), 201)
    assert [row["name"] for row in db_sql("SELECT name FROM restaurants")] == ["Admitted Bistro"]
