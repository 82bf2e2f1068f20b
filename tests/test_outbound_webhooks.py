"""A restaurant's own backend hears about its orders: a registered webhook URL receives every new
order and status change through the outbox (target ``webhook``), signed with HMAC-SHA256 over
the raw body, retried with backoff, and visible in sync health.

The receiver is a real HTTP server on 127.0.0.1 (http.server in a thread) that records what
arrives and answers as each test scripts it. Signatures are checked here with hmac directly,
the way docs/webhooks.md tells a receiver to, never with the code under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from api.errors import ApiError
from api.routes.integrations import check_webhook_url
from db.outbox import Backoff
from db.pool import Database
from sync.config import SyncSettings
from sync.registry import build_targets
from sync.target import Policy
from sync.webhook.target import WebhookTarget, webhook_target
from tests.conftest import (
    Guest,
    MakeRestaurant,
    Received,
    Receiver,
    Restaurant,
    Served,
    User,
    close_worker,
    expect,
    new_worker,
    order_body,
)

DbSql = Callable[..., list[dict[str, Any]]]
MakeMember = Callable[[Restaurant, str], Awaitable[User]]
OpenGuest = Callable[..., Awaitable[Guest]]
PATH = "/integrations/webhook"
BACKOFF = Backoff(base_s=0.05, max_s=0.2, max_attempts=3)
PAST_BACKOFF_S = 0.25  # past the capped backoff above: failed rows are due again


def verify(secret: str, received: Received) -> bool:
    """What docs/webhooks.md tells a receiver to do: HMAC-SHA256 of the raw body, constant-time compare."""
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers.get("x-tabletop-signature", ""))


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Every line is logged, so the log check sees everything the API and the target could say.
    return {"log_level": "DEBUG"}




MakeTarget = Callable[..., Served]


@pytest.fixture
async def make_target(app: Starlette, system_db: Database) -> AsyncIterator[MakeTarget]:
    made: list[Served] = []

    def make(*, backoff: Backoff = BACKOFF, timeout_s: float = 2.0, lease_s: float = 30.0) -> Served:
        policy = Policy(batch_size=16, lease_s=lease_s, backoff=backoff, ordered=True, supersede=True)
        made.append(Served(system_db, WebhookTarget(app.state.services.credentials, policy=policy,
                                                    timeout_s=timeout_s)))
        return made[-1]

    yield make
    for served in made:
        await served.close()


@pytest.fixture
async def admin(make_user: Callable[..., Any], db_sql: DbSql) -> User:
    user: User = await make_user()
    db_sql("UPDATE users SET is_platform_admin = true WHERE id = %s", (user.id,))
    return user


async def register(client: httpx.AsyncClient, r: Restaurant, url: str, *, status: int = 201,
                   rotate: bool = False) -> dict[str, Any]:
    return expect(await client.put(r.url(PATH) + ("?rotate=true" if rotate else ""), headers=r.owner.headers,
                                   json={"url": url}), status)


async def place(client: httpx.AsyncClient, r: Restaurant, guest: Guest) -> dict[str, Any]:
    return expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)


async def move(client: httpx.AsyncClient, r: Restaurant, order: dict[str, Any], status: str) -> dict[str, Any]:
    return expect(await client.post(r.url(f"/orders/{order['id']}/status"), headers=r.owner.headers,
                                    json={"status": status}), 200)


def webhook_rows(db_sql: DbSql, order_id: str | None = None) -> list[dict[str, Any]]:
    if order_id is None:
        return db_sql("SELECT * FROM sync_log WHERE target = 'webhook' ORDER BY id")
    return db_sql("SELECT * FROM sync_log WHERE target = 'webhook' AND entity_id = %s ORDER BY id", (order_id,))


def api_view(document: dict[str, Any]) -> dict[str, Any]:
    """An order as the API answers it, normalised like a receiver would parse it."""
    return json.loads(json.dumps(document))


# ------------------------------------------------------------------- delivery, signature


async def test_a_receiver_gets_each_order_change_signed_with_the_secret_issued_at_registration_in_version_order(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_target: MakeTarget, db_sql: DbSql,
) -> None:
    """Registration answers the secret once; a new order and each status move reach the receiver as
    compact JSON bodies whose X-Tabletop-Signature is HMAC-SHA256 over the raw body under that secret,
    carrying the order as the API shows it, in increasing version order."""
    r = await make_restaurant()
    registered = await register(client, r, receiver.url)
    secret = registered["secret"]
    assert secret.startswith("whsec_") and len(secret) >= 40
    assert set(registered) == {"registered", "url", "created_at", "updated_at", "secret"}
    assert registered["url"] == receiver.url
    target = make_target()

    guest = await open_guest(r)
    order = await place(client, r, guest)
    assert [(w["entity_version"], w["status"]) for w in webhook_rows(db_sql, order["id"])] == [(1, "pending")]
    assert (await target.round(owner="t")).synced == 1
    for status in ("confirmed", "preparing"):
        await move(client, r, order, status)
        assert (await target.round(owner="t")).synced == 1
    final = await move(client, r, order, "ready")
    assert (await target.round(owner="t")).synced == 1
    assert (await target.round(owner="t")).claimed == 0

    assert len(receiver.requests) == 4
    assert all(verify(secret, received) for received in receiver.requests)
    assert not verify(secret + "x", receiver.requests[0])
    bodies = receiver.bodies()
    assert [b["version"] for b in bodies] == [1, 2, 3, 4]
    assert [(b["event"], b["previous_status"], b["status"]) for b in bodies] == [
        ("order.created", None, "pending"), ("order.status_changed", "pending", "confirmed"),
        ("order.status_changed", "confirmed", "preparing"), ("order.status_changed", "preparing", "ready")]
    last, received = bodies[-1], receiver.requests[-1]
    assert received.body == json.dumps(last, separators=(",", ":"), ensure_ascii=False).encode()  # compact
    assert received.path == "/hooks/tabletop?tenant=abc"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["x-tabletop-delivery"] == last["delivery_id"]
    assert received.headers["x-tabletop-event"] == "order.status_changed"
    assert abs(int(received.headers["x-tabletop-timestamp"]) - time.time()) < 60
    assert datetime.fromisoformat(last["sent_at"]).timestamp() == pytest.approx(
        int(received.headers["x-tabletop-timestamp"]), abs=1)
    assert last["restaurant_id"] == r.id
    assert last["order"] == api_view(final)  # the same fields and values the API answered
    assert "session_id" not in last["order"]
    [event] = db_sql("SELECT created_at FROM order_events WHERE order_id = %s AND to_status = 'ready'",
                     (order["id"],))
    assert datetime.fromisoformat(last["changed_at"]) == event["created_at"]
    assert {w["status"] for w in webhook_rows(db_sql)} == {"synced"}


async def test_the_worker_delivers_webhooks_after_its_convex_batches(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_target: MakeTarget, app_conninfo: str, db_sql: DbSql,
) -> None:
    """sync.worker.Worker with the webhook target delivers a new order and its status change in one
    pass each, signed; only the restaurant with a webhook gets rows."""
    r = await make_restaurant()
    other = await make_restaurant()
    secret = (await register(client, r, receiver.url))["secret"]
    # Convex is not what this test checks: a grace period longer than the test keeps the worker
    # from claiming the Convex rows the API (without a pusher here) leaves pending.
    settings = SyncSettings.model_validate({"convex_url": "http://127.0.0.1:9", "convex_deploy_key": "k",
                                            "sync_grace_s": 3600, "convex_timeout_s": 1})
    worker = new_worker(app_conninfo, settings, make_target().target)
    await worker.db.open(wait=True)
    try:
        order = await place(client, r, await open_guest(r))
        await place(client, other, await open_guest(other))
        first = await worker.run_pass()
        await move(client, r, order, "confirmed")
        second = await worker.run_pass()
    finally:
        await close_worker(worker)
    assert (first.synced, second.synced) == (1, 1)
    assert [(b["event"], b["version"]) for b in receiver.bodies()] == [("order.created", 1), ("order.status_changed", 2)]
    assert all(verify(secret, received) for received in receiver.requests)
    assert {w["restaurant_id"] for w in webhook_rows(db_sql)} == {UUID(r.id)}


async def test_the_workers_own_targets_include_the_webhook_and_open_the_secrets_the_api_sealed(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    system_db: Database,
) -> None:
    """build_targets (what ``python -m sync.worker`` runs) always has the webhook target; with the key the
    worker loads itself it delivers what the API registered, signed with the API's secret. In production
    without a credentials key it is off (nothing could have been sealed)."""
    r = await make_restaurant()
    secret = (await register(client, r, receiver.url))["secret"]
    await place(client, r, await open_guest(r))
    targets = build_targets(system_db, SyncSettings())
    try:
        assert (await Served(system_db, targets["webhook"]).round(owner="worker")).synced == 1
    finally:
        for target in targets.values():
            await target.close()
    [received] = receiver.requests
    assert verify(secret, received)
    assert webhook_target(system_db, SyncSettings(), {"ENV_MODE": "production"}) is None


# ------------------------------------------------------------------------- failures


async def test_a_receiver_answering_500_is_retried_with_backoff_until_it_recovers(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_target: MakeTarget, db_sql: DbSql,
) -> None:
    """500 twice: the row is failed with the answer in last_error and not due before its backoff; then
    delivered with the same delivery_id and a fresh valid signature."""
    r = await make_restaurant()
    secret = (await register(client, r, receiver.url))["secret"]
    # Backoff of 0.5-1 s (jittered): long enough that the next round surely comes before it ends.
    target = make_target(backoff=Backoff(base_s=1.0, max_s=1.0, max_attempts=3))
    receiver.answers = [500, 500]
    order = await place(client, r, await open_guest(r))

    report = await target.round(owner="t")
    assert (report.claimed, report.failed, report.synced) == (1, 1, 0)
    [row] = webhook_rows(db_sql, order["id"])
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 1, "HTTP 500: boom")
    assert (await target.round(owner="t")).claimed == 0  # backing off
    for _ in range(2):
        await asyncio.sleep(1.05)
        assert (await target.round(owner="t")).claimed == 1
    [row] = webhook_rows(db_sql, order["id"])
    assert (row["status"], row["attempts"], row["last_error"]) == ("synced", 2, None)
    assert len(receiver.requests) == 3
    assert len({r.headers["x-tabletop-delivery"] for r in receiver.requests}) == 1
    assert all(verify(secret, received) for received in receiver.requests)


async def test_a_receiver_that_is_down_for_long_is_retried_past_the_maximum_attempts(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_target: MakeTarget, db_sql: DbSql,
) -> None:
    """5xx, 429 and a timeout count as the receiver being unavailable: the row stays failed (never dead)
    past max_attempts, then is delivered."""
    r = await make_restaurant()
    await register(client, r, receiver.url)
    target = make_target(timeout_s=0.3)
    receiver.answers = [503, 429, 200, 200]
    receiver.delay_s = 0.0
    order = await place(client, r, await open_guest(r))
    errors = []
    for _ in range(2):
        await target.round(owner="t")
        errors.append(webhook_rows(db_sql, order["id"])[0]["last_error"])
        await asyncio.sleep(PAST_BACKOFF_S)
    receiver.delay_s = 1.0  # now slower than the 0.3 s timeout
    await target.round(owner="t")
    [row] = webhook_rows(db_sql, order["id"])
    assert (row["status"], row["attempts"]) == ("failed", 3)  # 3 = max_attempts, still not dead
    assert row["last_error"].startswith("timeout: ")
    assert errors == ["HTTP 503: no", "HTTP 429: no"]
    receiver.delay_s = 0.0
    await asyncio.sleep(PAST_BACKOFF_S)
    assert (await target.round(owner="t")).synced == 1


async def test_a_receiver_trickling_its_answer_is_cut_off_at_the_timeout_and_retried(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_target: MakeTarget, db_sql: DbSql,
) -> None:
    """Each byte arrives within httpx's read timeout, but the whole answer would take 1.5 s: the 0.5 s
    timeout bounds the exchange, so a round always ends before its lease does."""
    r = await make_restaurant()
    await register(client, r, receiver.url)
    target = make_target(timeout_s=0.5)
    receiver.trickle_s = 0.15
    order = await place(client, r, await open_guest(r))
    started = time.monotonic()
    assert (await target.round(owner="t")).failed == 1
    assert time.monotonic() - started < 1.2
    [row] = webhook_rows(db_sql, order["id"])
    assert (row["status"], row["last_error"]) == ("failed", "timeout: no complete answer within 0.5 s")


async def test_a_receiver_answering_410_goes_dead_after_the_maximum_attempts_and_shows_in_sync_health(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_target: MakeTarget, db_sql: DbSql, admin: User,
) -> None:
    """A 4xx other than 408/429 is retried with backoff and dead at max_attempts, with "HTTP 410: <body>";
    the admin errors list, the restaurant's sync status and /metrics show it under target "webhook"; an
    operator's retry makes it due again."""
    r = await make_restaurant()
    await register(client, r, receiver.url)
    target = make_target()
    receiver.answers = [410, 410, 410]
    order = await place(client, r, await open_guest(r))
    statuses = []
    for _ in range(3):
        await target.round(owner="t")
        statuses.append(webhook_rows(db_sql, order["id"])[0]["status"])
        await asyncio.sleep(PAST_BACKOFF_S)
    assert statuses == ["failed", "failed", "dead"]
    assert (await target.round(owner="t")).claimed == 0
    [row] = webhook_rows(db_sql, order["id"])
    assert row["last_error"] == "HTTP 410: gone: this endpoint was retired"

    errors = expect(await client.get("/api/admin/sync/errors", headers=admin.headers), 200)
    [item] = [e for e in errors["items"] if e["target"] == "webhook"]
    assert (item["entity_id"], item["status"], item["attempts"], item["last_error"]) == (
        order["id"], "dead", 3, "HTTP 410: gone: this endpoint was retired")
    status = expect(await client.get(r.url("/sync/status"), headers=r.owner.headers), 200)
    assert status["targets"]["webhook"]["dead"] == 1
    metrics = await client.get("/metrics")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(metrics.text) for s in family.samples}
    assert samples[("sync_dead_rows", (("target", "webhook"),))] == 1
    assert samples[("sync_queue_depth", (("status", "dead"), ("target", "webhook")))] == 1

    expect(await client.post(f"/api/admin/sync/errors/{item['id']}/retry", headers=admin.headers), 202)
    assert (await target.round(owner="t")).synced == 1
    assert len(receiver.requests) == 4


async def test_a_newer_status_supersedes_an_undelivered_older_one_and_the_receiver_gets_the_latest_state(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_target: MakeTarget, db_sql: DbSql,
) -> None:
    """Version 1 fails; two status moves follow before the next round: one delivery of version 3 settles
    all three rows, and nothing older is sent afterwards."""
    r = await make_restaurant()
    await register(client, r, receiver.url)
    target = make_target()
    receiver.answers = [500]
    order = await place(client, r, await open_guest(r))
    await target.round(owner="t")
    await move(client, r, order, "confirmed")
    await move(client, r, order, "preparing")
    await asyncio.sleep(PAST_BACKOFF_S)
    while (await target.round(owner="t")).claimed:
        pass
    assert [b["version"] for b in receiver.bodies()] == [1, 3]
    assert (receiver.bodies()[-1]["status"], receiver.bodies()[-1]["previous_status"]) == ("preparing", "confirmed")
    assert {w["status"] for w in webhook_rows(db_sql, order["id"])} == {"synced"}


async def test_an_order_in_flight_is_not_claimed_again_until_its_delivery_ends(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_target: MakeTarget, db_sql: DbSql,
) -> None:
    """While one worker's delivery of an order hangs, another worker claims nothing of that order, so
    the newer version cannot overtake the older one; it is delivered after."""
    r = await make_restaurant()
    await register(client, r, receiver.url)
    slow, other = make_target(timeout_s=5.0), make_target()
    order = await place(client, r, await open_guest(r))
    receiver.delay_s = 2.0  # ample time for the move and the other worker's round below
    first = asyncio.create_task(slow.round(owner="slow"))
    for _ in range(500):
        if receiver.requests:
            break
        await asyncio.sleep(0.01)
    assert len(receiver.requests) == 1  # the slow delivery is being answered
    receiver.delay_s = 0.0
    await move(client, r, order, "confirmed")
    assert (await other.round(owner="other")).claimed == 0
    await first
    assert (await other.round(owner="other")).synced == 1
    assert [b["version"] for b in receiver.bodies()] == [1, 2]


async def test_rows_of_a_deleted_webhook_are_skipped_not_sent(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_target: MakeTarget, db_sql: DbSql,
) -> None:
    """Deleting the webhook stops deliveries: its undelivered rows end synced with the reason kept, and
    new orders write no webhook row."""
    r = await make_restaurant()
    await register(client, r, receiver.url)
    guest = await open_guest(r)
    order = await place(client, r, guest)
    expect(await client.delete(r.url(PATH), headers=r.owner.headers), 204)
    assert (await client.delete(r.url(PATH), headers=r.owner.headers)).status_code == 204  # idempotent
    assert (await make_target().round(owner="t")).skipped == 1
    assert receiver.requests == []
    [row] = webhook_rows(db_sql, order["id"])
    assert (row["status"], row["last_error"]) == ("synced", "skipped: the restaurant has no webhook any more")
    await place(client, r, guest)
    assert len(webhook_rows(db_sql)) == 1
    assert expect(await client.get(r.url(PATH), headers=r.owner.headers), 200) == {"registered": False}


# ------------------------------------------------------------------------ registration


async def test_the_secret_is_answered_once_kept_on_url_change_and_replaced_on_rotation(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_target: MakeTarget, db_sql: DbSql, app: Starlette,
) -> None:
    """GET shows url and times only; a PUT that changes the URL answers 200 without a secret and keeps
    signing with the old one; ?rotate=true issues a new one that signs from then on. At rest the secret
    is sealed (not in the row's bytes)."""
    r = await make_restaurant()
    first = await register(client, r, "https://example.com/old")
    got = expect(await client.get(r.url(PATH), headers=r.owner.headers), 200)
    assert got == {"registered": True, "url": "https://example.com/old", "created_at": first["created_at"],
                   "updated_at": first["updated_at"]}
    moved = await register(client, r, receiver.url, status=200)
    assert "secret" not in moved and moved["url"] == receiver.url and moved["created_at"] == first["created_at"]
    again = await register(client, r, receiver.url, status=200)  # the same URL again: nothing changes
    assert again == moved
    [stored] = db_sql("SELECT * FROM restaurant_webhooks WHERE restaurant_id = %s", (r.id,))
    assert first["secret"].encode() not in bytes(stored["secret"])
    assert stored["key_id"] == app.state.services.credentials.key_id

    target = make_target()
    guest = await open_guest(r)
    await place(client, r, guest)
    await target.round(owner="t")
    rotated = await register(client, r, receiver.url, status=200, rotate=True)
    assert rotated["secret"] != first["secret"]
    await place(client, r, guest)
    await target.round(owner="t")
    old_signed, new_signed = receiver.requests
    assert verify(first["secret"], old_signed) and not verify(rotated["secret"], old_signed)
    assert verify(rotated["secret"], new_signed) and not verify(first["secret"], new_signed)


async def test_no_secret_appears_in_a_read_or_a_log_line(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, open_guest: OpenGuest, receiver: Receiver,
    make_target: MakeTarget, capfd: pytest.CaptureFixture[str],
) -> None:
    """Across registration, rotation, reads, deliveries (one failing) and deletion with every log level
    on, the secrets are only in the two answers that issued them."""
    r = await make_restaurant()
    capfd.readouterr()
    secrets = [(await register(client, r, receiver.url))["secret"]]
    receiver.answers = [500]
    await place(client, r, await open_guest(r))
    target = make_target()
    await target.round(owner="t")
    await asyncio.sleep(PAST_BACKOFF_S)
    await target.round(owner="t")
    secrets.append((await register(client, r, receiver.url, status=200, rotate=True))["secret"])
    reads = [await client.get(r.url(PATH), headers=r.owner.headers) for _ in range(2)]
    expect(await client.delete(r.url(PATH), headers=r.owner.headers), 204)
    logs = capfd.readouterr().err
    assert "webhook_registered" in logs and "webhook_delivery_failed" in logs  # the logs were captured at all
    assert len(receiver.requests) == 2
    for secret in secrets:
        assert secret not in logs
        assert secret[len("whsec_"):] not in logs
        for read in reads:
            assert secret not in read.text and secret not in str(read.headers)
    assert receiver.url not in logs  # the URL may carry the receiver's own token: its host only


# ------------------------------------------------------------------------------ who may


@pytest.mark.parametrize("role", ["owner", "manager"])
async def test_owners_and_managers_register_read_and_delete(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: MakeMember, role: str,
) -> None:
    """Both roles may register (201 then 200 on replace), read and delete the webhook."""
    r = await make_restaurant()
    caller = r.owner if role == "owner" else await make_member(r, role)
    url = r.url(PATH)
    assert "secret" in expect(await client.put(url, headers=caller.headers, json={"url": "https://e.example/h"}), 201)
    expect(await client.put(url, headers=caller.headers, json={"url": "https://e.example/h2"}), 200)
    assert expect(await client.get(url, headers=caller.headers), 200)["url"] == "https://e.example/h2"
    expect(await client.delete(url, headers=caller.headers), 204)


async def test_other_tenants_staff_forged_and_anonymous_callers_are_refused(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: MakeMember, db_sql: DbSql,
    signing_key_pem: str,
) -> None:
    """Another restaurant's owner gets 404 on every verb (ids do not leak), staff and kitchen 403, a token
    signed with another key or none at all 401; nothing changes."""
    r = await make_restaurant()
    other = await make_restaurant()
    await register(client, r, "https://e.example/hook")
    url = r.url(PATH)
    body = {"url": "https://attacker.example/steal"}
    for method in ("PUT", "GET", "DELETE"):
        answer = await client.request(method, url, headers=other.owner.headers, json=body if method == "PUT" else None)
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
    for role in ("staff", "kitchen"):
        member = await make_member(r, role)
        assert (await client.put(url, headers=member.headers, json=body)).status_code == 403
        assert (await client.get(url, headers=member.headers)).status_code == 403
    claims = jwt.decode(r.owner.access_token, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-our-key-but-long-enough-for-hs256-0123456789", algorithm="HS256")
    assert (await client.put(url, headers={"Authorization": f"Bearer {forged}"}, json=body)).status_code == 401
    assert (await client.put(url, json=body)).status_code == 401
    [stored] = db_sql("SELECT url FROM restaurant_webhooks WHERE restaurant_id = %s", (r.id,))
    assert stored["url"] == "https://e.example/hook"
    assert db_sql("SELECT count(*) AS n FROM restaurant_webhooks") == [{"n": 1}]


# ------------------------------------------------------------------------------ URLs


@pytest.mark.parametrize("url", [
    "ftp://example.com/hook", "javascript:alert(1)", "example.com/hook", "https://", "https:///path",
    "https://user:pass@example.com/hook", "https://token@example.com/hook", "https://example.com/hook#frag",
    "https://exa mple.com/hook", "https://example.com/ho\nok", "https://example.com:99999/hook",
    "https://example.com/" + "a" * 2000,
])
async def test_a_bad_url_is_422_and_stores_nothing(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql, url: str,
) -> None:
    r = await make_restaurant()
    answer = expect(await client.put(r.url(PATH), headers=r.owner.headers, json={"url": url}), 422)
    assert answer["code"] in ("invalid_webhook_url", "validation_error")
    assert db_sql("SELECT count(*) AS n FROM restaurant_webhooks") == [{"n": 0}]


async def test_a_body_without_a_url_or_with_more_fields_is_422(
    client: httpx.AsyncClient, make_restaurant: MakeRestaurant,
) -> None:
    r = await make_restaurant()
    for body in ({}, {"url": 5}, {"url": "https://e.example/h", "secret": "mine"}):
        assert (await client.put(r.url(PATH), headers=r.owner.headers, json=body)).status_code == 422
    assert (await client.put(r.url(PATH) + "?rotate=maybe", headers=r.owner.headers,
                             json={"url": "https://e.example/h"})).status_code == 422


@pytest.mark.parametrize(("url", "production", "ok"), [
    ("https://hooks.example.com/tabletop", True, True),
    ("https://hooks.example.com:8443/t?x=1", True, True),
    ("http://hooks.example.com/tabletop", True, False),
    ("https://127.0.0.1/hook", True, False),
    ("https://localhost/hook", True, False),
    ("https://10.1.2.3/hook", True, False),
    ("https://169.254.169.254/latest", True, False),
    ("https://[::1]/hook", True, False),
    ("https://2130706433/hook", True, False),  # 127.0.0.1 as one number
    ("https://0x7f.1/hook", True, False),
    ("https://0177.0.0.1/hook", True, False),
    ("https://8.8.8.8/hook", True, True),
    ("https://cafe.be/hook", True, True),
    ("http://127.0.0.1:8080/hook", False, True),
    ("http://localhost:8080/hook", False, True),
    ("http://hooks.example.com/tabletop", False, True),
])
async def test_production_takes_https_to_public_hosts_only_development_also_http_and_loopback(
    url: str, production: bool, ok: bool,
) -> None:
    """(Names resolve to a public address here; tests/test_webhook_ssrf.py covers the rest of the class.)"""
    async def public(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]

    if ok:
        assert await check_webhook_url(url, guarded=production, resolver=public) == url
    else:
        with pytest.raises(ApiError) as raised:
            await check_webhook_url(url, guarded=production, resolver=public)
        assert (raised.value.status, raised.value.code) == (422, "invalid_webhook_url")
