"""The operator API (issue 13): machine keys (X-API-Key from API_KEYS: rotatable, compared in
constant time, fail closed), every target of a restaurant in one place, full refresh, the
error queue with its snapshot, the platform's answer, retry history and manual resolution;
owners' views with summaries instead of raw errors; and per order, what became of it at each
target (PetPooja's order id after a real push to the stand-in, a platform's order id)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api import apikeys
from api.app import create_app
from api.config import ConfigError, Settings, load_settings
from api.credentials import credential_box
from db.outbox import Backoff
from db.pool import Database
from sync.config import PetpoojaSettings
from sync.petpooja.client import PetpoojaClient
from sync.petpooja.target import PetpoojaTarget
from sync.platform.target import PlatformTarget
from sync.target import Policy
from sync.ubereats.adapter import UberEatsAdapter
from sync.ubereats.client import UberEatsClient
from tests.conftest import (
    OPERATOR_KEY,
    UBER_CLIENT,
    UBER_STORE_ID,
    MakeRestaurant,
    PetpoojaStandin,
    Served,
    UberStandin,
    User,
    expect,
    order_body,
    overrides,
)

DbSql = Callable[..., list[dict[str, Any]]]
KEY = {"X-API-Key": OPERATOR_KEY}
NEW_KEY = "rotated-operator-key-fedcba9876543210-not-secret"
NIL = "00000000-0000-4000-8000-000000000000"
BIG = "9" * 30


def admin_requests(rid: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [("GET", f"/admin/sync-status/{rid}", None),
            ("POST", f"/admin/sync/{rid}/full-refresh", {"platforms": ["ubereats"]}),
            ("GET", "/admin/errors", None),
            ("POST", "/admin/errors/1/retry", None),
            ("POST", "/admin/errors/1/resolve", {"reason": "done"})]


def dead_row(db_sql: DbSql, rid: str, target: str = "convex", error: str = "ConnectError: 10.1.2.3:443 refused"
             ) -> int:
    """One of the restaurant's outbox rows made dead, as a target giving up would leave it."""
    [row] = db_sql("UPDATE sync_log SET status = 'dead', attempts = 5, last_error = %s"
                   " WHERE id = (SELECT min(id) FROM sync_log WHERE restaurant_id = %s AND target = %s)"
                   " RETURNING id", (error, rid, target))
    return int(row["id"])


@pytest.fixture
async def app(settings: Settings, ubereats_standin: UberStandin) -> AsyncIterator[Starlette]:
    """The API with Uber Eats pointed at its stand-in (the platform refusal test publishes there)."""
    application = create_app(settings, platform_env=ubereats_standin.env)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def admin(make_user: Callable[..., Any], db_sql: DbSql) -> User:
    user: User = await make_user()
    db_sql("UPDATE users SET is_platform_admin = true WHERE id = %s", (user.id,))
    return user


# ---------------------------------------------------------------------------- keys


def test_keys_are_read_comma_separated_and_a_short_key_refuses_to_start_without_showing_it() -> None:
    assert load_settings({"API_KEYS": f" {OPERATOR_KEY} ,{NEW_KEY},"}).api_keys == [OPERATOR_KEY, NEW_KEY]
    assert load_settings({}).api_keys == []
    with pytest.raises(ConfigError, match="key 2 has 12 characters, at least 32") as refused:
        load_settings({"API_KEYS": f"{OPERATOR_KEY},short-secret"})
    assert "short-secret" not in str(refused.value)
    assert OPERATOR_KEY not in repr(load_settings({"API_KEYS": OPERATOR_KEY}))


def test_every_configured_key_is_compared_in_constant_time_even_after_a_match(monkeypatch: pytest.MonkeyPatch
                                                                              ) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", counting)
    keys = [OPERATOR_KEY, NEW_KEY, "a-third-key-that-is-long-enough-0000"]
    assert apikeys.matching_key(OPERATOR_KEY, keys) == OPERATOR_KEY
    assert apikeys.matching_key("x", keys) is None
    assert len(compared) == 6  # three per call: no early exit on the first key
    assert {len(a) for pair in compared for a in pair} == {32}  # digests: equal lengths, whatever was sent


async def test_a_missing_or_wrong_key_or_a_user_token_is_401_on_every_admin_route(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, admin: User) -> None:
    r = await make_restaurant()
    for method, url, body in admin_requests(r.id):
        for headers, code in (({}, "not_authenticated"), ({"X-API-Key": OPERATOR_KEY[:-1]}, "invalid_api_key"),
                              ({"X-API-Key": OPERATOR_KEY + "x"}, "invalid_api_key"),
                              (admin.headers, "not_authenticated")):
            answer = await client.request(method, url, headers=headers, json=body)
            assert answer.status_code == 401, (method, url, headers)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["code"] == code


@overrides(api_keys=[])
async def test_with_no_key_configured_every_admin_request_is_refused(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant) -> None:
    r = await make_restaurant()
    for method, url, body in admin_requests(r.id):
        answer = await client.request(method, url, headers=KEY, json=body)
        assert (answer.status_code, answer.json()["code"]) == (401, "invalid_api_key")


@overrides(api_keys=[OPERATOR_KEY, NEW_KEY])
async def test_during_a_rotation_both_keys_work_and_the_history_names_the_key_by_its_id_only(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql) -> None:
    r = await make_restaurant()
    row_id = dead_row(db_sql, r.id)
    expect(await client.get(f"/admin/sync-status/{r.id}", headers=KEY), 200)
    retried = expect(await client.post(f"/admin/errors/{row_id}/retry", headers={"X-API-Key": NEW_KEY}), 202)
    assert retried["recorded"]["actor"] == f"api_key:{apikeys.key_id(NEW_KEY)}"
    [stored] = db_sql("SELECT actor FROM sync_log_actions")
    assert NEW_KEY not in stored["actor"] and stored["actor"] != f"api_key:{apikeys.key_id(OPERATOR_KEY)}"


@overrides(log_level="DEBUG")
async def test_the_key_never_reaches_a_log_line_but_its_id_does(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql,
        capfd: pytest.CaptureFixture[str]) -> None:
    r = await make_restaurant()
    row_id = dead_row(db_sql, r.id)
    capfd.readouterr()
    expect(await client.post(f"/admin/errors/{row_id}/retry", headers=KEY), 202)
    await client.get("/admin/errors", headers={"X-API-Key": OPERATOR_KEY + "wrong"})
    logs = capfd.readouterr().err
    assert "http_request" in logs  # the logs were captured at all
    assert OPERATOR_KEY not in logs
    assert f'"api_key_id":"{apikeys.key_id(OPERATOR_KEY)}"' in logs


# --------------------------------------------------------------------- bad input


async def test_bad_input_is_a_clear_4xx_never_a_5xx_and_writes_nothing(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql) -> None:
    r = await make_restaurant()
    before = db_sql("SELECT count(*) AS n FROM sync_log")
    cases: list[tuple[str, str, Any, int]] = [
        ("GET", f"/admin/sync-status/{NIL}", None, 404),
        ("GET", "/admin/sync-status/not-a-uuid", None, 404),
        ("POST", f"/admin/sync/{NIL}/full-refresh", {"platforms": ["ubereats"]}, 404),
        ("POST", f"/admin/errors/{BIG}/retry", None, 404),
        ("POST", f"/admin/errors/{BIG}/resolve", {"reason": "x"}, 404),
        ("POST", "/admin/errors/0/retry", None, 404),
        ("GET", "/admin/errors?limit=abc", None, 422),
        ("GET", "/admin/errors?limit=100000", None, 422),
        ("GET", f"/admin/errors?before_id={BIG}", None, 422),
        ("GET", "/admin/errors?restaurant_id=xyz", None, 422),
        ("GET", "/admin/errors?status=bogus", None, 422),
        ("GET", "/admin/errors?target=DROP%20TABLE", None, 422),
        ("GET", "/admin/errors?nope=1", None, 422),
        ("POST", f"/admin/sync/{r.id}/full-refresh", {"platforms": "ubereats"}, 422),
        ("POST", f"/admin/sync/{r.id}/full-refresh", {"platforms": []}, 422),
        ("POST", f"/admin/sync/{r.id}/full-refresh", {"platforms": ["ubereats"], "force": "yes"}, 422),
        ("POST", f"/admin/sync/{r.id}/full-refresh", {"platforms": ["nowhere"]}, 422),
        ("POST", f"/admin/sync/{r.id}/full-refresh", {"platforms": ["x" * 5000]}, 422),
        ("POST", f"/admin/sync/{r.id}/full-refresh", [1, 2], 422),
        ("POST", "/admin/errors/1/resolve", {}, 422),
        ("POST", "/admin/errors/1/resolve", {"reason": "   "}, 422),
        ("POST", "/admin/errors/1/resolve", {"reason": "x" * 501}, 422),
        ("POST", "/admin/errors/1/resolve", {"reason": 5}, 422),
    ]
    for method, url, body, status in cases:
        answer = await client.request(method, url, headers=KEY, json=body)
        assert answer.status_code == status, (method, url, body, answer.text)
    not_json = await client.post("/admin/errors/1/resolve", headers={**KEY, "content-type": "text/plain"},
                                 content=b"reason")
    assert not_json.status_code == 415
    assert db_sql("SELECT count(*) AS n FROM sync_log") == before
    assert db_sql("SELECT count(*) AS n FROM sync_log_actions") == [{"n": 0}]


# ---------------------------------------------------------------- one place for all


def connect_uber_directly(db_sql: DbSql, rid: str) -> None:
    """A connected Uber Eats store, as connecting leaves it (credentials never opened here)."""
    db_sql("INSERT INTO platform_connections (restaurant_id, platform, store_id, credentials, key_id)"
           " VALUES (%s, 'ubereats', %s, decode(repeat('00', 29), 'hex'), 'k')", (rid, f"store-{rid}"))
    db_sql("INSERT INTO restaurant_targets (restaurant_id, target) VALUES (%s, 'ubereats'), (%s, 'ubereats_orders')",
           (rid, rid))


async def test_sync_status_shows_every_target_with_queues_connections_and_the_stores_menu_state(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql) -> None:
    r = await make_restaurant()
    expect(await client.put(r.url("/integrations/petpooja"), headers=r.owner.headers, json={
        "rest_id": "op-outlet", "app_key": "k", "app_secret": "s", "access_token": "t", "environment": "sandbox"}), 200)
    connect_uber_directly(db_sql, r.id)
    db_sql("UPDATE platform_connections SET sync_status = 'failed', retry_count = 2, item_count = 3,"
           " external_menu_id = 'm-1', last_error = 'HTTP 500 from uber-internal-7.example: upstream reset'")
    status = expect(await client.get(f"/admin/sync-status/{r.id}", headers=KEY), 200)
    targets = status["targets"]
    assert {"convex", "petpooja", "webhook", "ubereats", "ubereats_orders", "doordash", "doordash_orders",
            "grubhub", "grubhub_orders"} <= set(targets)
    assert (targets["convex"]["connected"], targets["petpooja"]["connected"], targets["webhook"]["connected"],
            targets["doordash"]["connected"], targets["ubereats_orders"]["connected"]) == (
        True, True, False, False, True)
    assert targets["convex"]["queue"]["pending"] == 5  # 3 items and 2 tables, not yet pushed
    assert targets["convex"]["queue"]["oldest_pending_seconds"] is not None
    assert targets["ubereats"]["menu"] == {
        "state": "FAILED", "store_id": f"store-{r.id}", "last_sync": None, "item_count": 3,
        "external_menu_id": "m-1", "error": "HTTP 500 from uber-internal-7.example: upstream reset", "retry_count": 2}
    assert targets["doordash"]["menu"] is None and targets["petpooja"]["menu"] is None
    # The owner sees the same state, a summary in place of the raw error.
    owner = expect(await client.get(r.url("/integrations"), headers=r.owner.headers), 200)
    assert set(owner["targets"]) == set(targets)
    menu = owner["targets"]["ubereats"]["menu"]
    assert menu["state"] == "FAILED" and "uber-internal" not in str(owner)
    assert menu["error"] == "not delivered to Uber Eats (menu) yet: retrying after 2 attempts"


async def test_full_refresh_queues_a_publish_once_reports_unconnected_platforms_and_refuses_order_targets(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql) -> None:
    r = await make_restaurant()
    connect_uber_directly(db_sql, r.id)
    url = f"/admin/sync/{r.id}/full-refresh"
    done = expect(await client.post(url, headers=KEY, json={"platforms": ["ubereats", "doordash", "ubereats"]}), 202)
    assert done == {"restaurant_id": r.id, "platforms": {"ubereats": "queued", "doordash": "not_connected"}}
    menu_rows = "SELECT status FROM sync_log WHERE target = 'ubereats' AND entity_type = 'menu' AND entity_id = %s"
    assert db_sql(menu_rows, (r.id,)) == [{"status": "pending"}]
    again = expect(await client.post(url, headers=KEY, json={"platforms": ["ubereats"]}), 202)
    assert again["platforms"] == {"ubereats": "already_queued"}
    forced = expect(await client.post(url, headers=KEY, json={"platforms": ["ubereats"], "force": True}), 202)
    assert forced["platforms"] == {"ubereats": "queued"}
    assert db_sql(menu_rows, (r.id,)) == [{"status": "pending"}]  # coalesced into the waiting publish
    refused = expect(await client.post(url, headers=KEY, json={"platforms": ["ubereats", "convex", "petpooja"]}),
                     422)
    assert refused["code"] == "refresh_not_supported"
    assert [(e["loc"], e["type"]) for e in refused["errors"]] == [
        (["body", "platforms", 1], "refresh_not_supported"), (["body", "platforms", 2], "refresh_not_supported")]
    assert "scripts.fullSync" in refused["errors"][0]["msg"]


# ---------------------------------------------------------------------- the error queue


async def test_retry_and_resolve_are_recorded_with_who_why_and_when_and_a_resolved_row_leaves_the_list(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql, admin: User) -> None:
    r = await make_restaurant()
    row_id = dead_row(db_sql, r.id)
    listed = expect(await client.get("/admin/errors", headers=KEY, params={"restaurant_id": r.id}), 200)["items"]
    assert [(e["id"], e["status"], e["last_error"], e["history"], e["resolution"]) for e in listed] == [
        (row_id, "dead", "ConnectError: 10.1.2.3:443 refused", [], None)]

    expect(await client.post(f"/admin/errors/{row_id}/retry", headers=KEY), 202)
    [row] = db_sql("SELECT status, attempts, next_attempt_at <= now() AS due FROM sync_log WHERE id = %s", (row_id,))
    assert row == {"status": "failed", "attempts": 0, "due": True}
    db_sql("UPDATE sync_log SET status = 'dead', attempts = 5 WHERE id = %s", (row_id,))  # it failed again
    resolved = expect(await client.post(f"/api/admin/sync/errors/{row_id}/resolve", headers=admin.headers,
                                        json={"reason": "  re-keyed into the POS by hand "}), 200)
    assert resolved["resolution"]["actor"] == f"user:{admin.id}"
    assert resolved["resolution"]["reason"] == "re-keyed into the POS by hand"

    assert expect(await client.get("/admin/errors", headers=KEY, params={"restaurant_id": r.id}), 200)["items"] == []
    [shown] = expect(await client.get("/api/admin/sync/errors", headers=admin.headers,
                                      params={"restaurant_id": r.id, "status": "resolved"}), 200)["items"]
    assert [(h["action"], h["actor"]) for h in shown["history"]] == [
        ("retry", f"api_key:{apikeys.key_id(OPERATOR_KEY)}"), ("resolve", f"user:{admin.id}")]
    assert shown["resolution"]["reason"] == "re-keyed into the POS by hand" and shown["resolution"]["at"]
    assert db_sql("SELECT status FROM sync_log WHERE id = %s", (row_id,)) == [{"status": "dead"}]  # never claimed
    # Retrying a resolved row opens it again; a row that is not failed or dead cannot be touched.
    expect(await client.post(f"/admin/errors/{row_id}/retry", headers=KEY), 202)
    [reopened] = expect(await client.get("/admin/errors", headers=KEY, params={"restaurant_id": r.id}), 200)["items"]
    assert reopened["resolution"] is None and len(reopened["history"]) == 3
    [synced] = db_sql("UPDATE sync_log SET status = 'synced' WHERE id = %s RETURNING id", (row_id,))
    assert (await client.post(f"/admin/errors/{synced['id']}/resolve", headers=KEY, json={"reason": "x"})
            ).status_code == 404


@pytest.fixture
async def uber(app_conninfo: str, settings: Settings, ubereats_standin: UberStandin) -> AsyncIterator[Served]:
    """The ubereats target as the worker runs it, one attempt before a refusal is dead."""
    db = Database(app_conninfo, min_size=1, max_size=2)
    await db.open(wait=True)
    client = UberEatsClient(ubereats_standin.url, ubereats_standin.url, timeout_s=3)
    served = Served(db, PlatformTarget(db, UberEatsAdapter(client), credential_box(settings), name="ubereats",
                                       policy=Policy(batch_size=50, lease_s=5, backoff=Backoff(0.05, 0.2, 1))))
    yield served
    await served.close()
    await db.close()


async def test_a_platform_refusal_lists_the_menu_that_failed_and_the_platforms_answer_and_a_retry_lands(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, ubereats_standin: UberStandin,
        uber: Served) -> None:
    ubereats_standin.register()
    r = await make_restaurant()
    expect(await client.put(r.url("/integrations/ubereats"), headers=r.owner.headers,
                            json={"store_id": UBER_STORE_ID, **UBER_CLIENT}), 200)
    ubereats_standin.fault("reject", count=1, paths=["menus"])
    assert (await uber.round()).dead == 1  # one attempt in this policy: then the error queue
    [error] = expect(await client.get("/admin/errors", headers=KEY,
                                      params={"restaurant_id": r.id, "target": "ubereats"}), 200)["items"]
    assert error["entity_type"] == "menu" and "400" in error["last_error"]
    assert {i["title"]["translations"]["en_us"] for i in error["failed_menu"]["items"]} >= {"Paneer Tikka"}
    assert error["platform_response"] is not None and "400" in error["platform_error"]
    [summary] = expect(await client.get(r.url("/sync/errors"), headers=r.owner.headers), 200)["items"]
    assert "failed_menu" not in summary and "last_error" not in summary and "400" not in str(summary)
    assert summary["summary"].startswith("not delivered to Uber Eats (menu)")
    expect(await client.post(f"/admin/errors/{error['id']}/retry", headers=KEY), 202)
    assert (await uber.round()).synced == 1
    status = expect(await client.get(f"/admin/sync-status/{r.id}", headers=KEY), 200)
    assert status["targets"]["ubereats"]["menu"]["state"] == "SYNCED"
    assert status["targets"]["ubereats"]["menu"]["item_count"] == 3
    assert status["targets"]["ubereats"]["menu"]["error"] is None


# ------------------------------------------------------------------------------ tenancy


async def test_owners_see_their_own_restaurant_only_and_staff_not_at_all(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: Callable[..., Any],
        db_sql: DbSql) -> None:
    a, b = await make_restaurant(), await make_restaurant()
    a_row, b_row = dead_row(db_sql, a.id), dead_row(db_sql, b.id)
    for path in ("/integrations", "/sync/errors"):
        assert (await client.get(b.url(path), headers=a.owner.headers)).status_code == 404
    mine = expect(await client.get(a.url("/sync/errors"), headers=a.owner.headers), 200)["items"]
    assert [e["id"] for e in mine] == [a_row] and b_row not in [e["id"] for e in mine]
    assert mine[0]["summary"] == ("not delivered to the kitchen screens (Convex): gave up after 5 attempts; "
                                  "operators have it in their error queue")
    assert "10.1.2.3" not in str(mine)
    staff = await make_member(a, "staff")
    assert (await client.get(a.url("/integrations"), headers=staff.headers)).status_code == 403
    # An owner cannot reach the operators' routes with a user token.
    assert (await client.get("/api/admin/sync/errors", headers=a.owner.headers)).status_code == 403


# ------------------------------------------------------------------------ per order


async def test_staff_see_petpoojas_order_id_after_the_push_and_guests_see_no_integrations(
        client: httpx.AsyncClient, app: Starlette, make_restaurant: MakeRestaurant, open_guest: Callable[..., Any],
        make_member: Callable[..., Any], petpooja_standin: PetpoojaStandin, system_db: Database) -> None:
    r = await make_restaurant()
    registered = petpooja_standin.register(f"op{r.id[:8]}")
    expect(await client.put(r.url("/integrations/petpooja"), headers=r.owner.headers, json={
        "rest_id": f"op{r.id[:8]}", "environment": "sandbox", **registered}), 200)
    guest = await open_guest(r)
    order = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    staff = await make_member(r, "staff")
    before = expect(await client.get(r.url(f"/orders/{order['id']}"), headers=staff.headers), 200)["integrations"]
    assert before["petpooja"] == {"delivered": False, "status": "pending", "external_id": None, "error": None}

    target = PetpoojaTarget(system_db, PetpoojaClient(PetpoojaSettings.model_validate({
        "petpooja_sandbox_url": petpooja_standin.url, "petpooja_production_url": "http://127.0.0.1:9"})),
        app.state.services.credentials, callback_base_url="http://tabletop.test",
        policy=Policy(batch_size=10, lease_s=30, backoff=Backoff(0.05, 0.05, 3)))
    served = Served(system_db, target)
    try:
        assert (await served.round()).synced == 1
    finally:
        await served.close()
    (saved,) = petpooja_standin.saved()
    after = expect(await client.get(r.url(f"/orders/{order['id']}"), headers=staff.headers), 200)["integrations"]
    assert after["petpooja"] == {"delivered": True, "status": "synced", "external_id": saved["orderID"],
                                 "error": None}
    assert "convex" in after and after["convex"]["external_id"] is None
    assert "integrations" not in expect(await client.get(r.url(f"/orders/{order['id']}"), headers=guest.headers),
                                        200)


async def test_a_platform_order_shows_the_platforms_order_id_and_a_failure_as_a_summary(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql) -> None:
    r = await make_restaurant()
    connect_uber_directly(db_sql, r.id)
    order = expect(await client.post(r.url("/orders"), headers=r.owner.headers,
                                     json={**order_body(r), "order_type": "takeaway"}), 201)
    # The platform order that made ours, as the ubereats_orders target leaves it (its insert routes it).
    db_sql("INSERT INTO platform_orders (restaurant_id, platform, external_id, state, order_id)"
           " VALUES (%s, 'ubereats', 'uber-order-42', 'received', %s)", (r.id, order["id"]))
    db_sql("UPDATE sync_log SET status = 'failed', attempts = 2, last_error = 'accept: HTTP 500: stack trace...'"
           " WHERE target = 'ubereats_orders'")
    seen = expect(await client.get(r.url(f"/orders/{order['id']}"), headers=r.owner.headers), 200)["integrations"]
    assert seen["ubereats_orders"] == {
        "delivered": False, "status": "failed", "external_id": "uber-order-42",
        "error": "not delivered to Uber Eats (orders) yet: retrying after 2 attempts"}
    db_sql("UPDATE sync_log SET status = 'synced', last_error = NULL WHERE target = 'ubereats_orders'")
    seen = expect(await client.get(r.url(f"/orders/{order['id']}"), headers=r.owner.headers), 200)["integrations"]
    assert seen["ubereats_orders"]["delivered"] is True and seen["ubereats_orders"]["error"] is None
