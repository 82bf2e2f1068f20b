"""The one outbox engine and the routing beneath it, with a target of the test's own (a plug-in
that implements the Target protocol and does what each test scripts) against the real
outbox in Postgres: every outcome becomes its row state, leases live while a delivery does
and die with their holder, a target that is down is probed and resumes at once, a new
target is rows in sync_targets, and every target has the same metrics and log line."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from db import outbox, queries
from db.outbox import Backoff, EntityKey
from db.pool import Database
from db.queries import Conn, Row
from sync.config import SyncSettings
from sync.convex.target import ConvexTarget
from sync.engine import Engine
from sync.metrics import SyncMetrics
from sync.outcome import Delivered, GiveUp, Outcome, Retry, Skip
from sync.registry import build_targets, convex_target
from sync.target import Job, Policy, by_entity
from sync.worker import Worker
from tests.conftest import Restaurant, close_worker, expect, new_worker, order_body
from tests.test_sync import sync_settings_for

DbSql = Callable[..., list[dict[str, Any]]]
TARGET = "audit"  # a target only these tests route to


@dataclass
class Scripted:
    """A Target whose deliveries answer what the test says, per entity id (Delivered by default)."""

    name: str = TARGET
    policy: Policy = field(default_factory=lambda: Policy(batch_size=50, lease_s=30, backoff=Backoff(0.2, 0.2, 3)))
    answers: dict[str, Outcome] = field(default_factory=dict)
    delay_s: float = 0.0
    crash: bool = False
    up: bool | None = None
    delivered: list[list[str]] = field(default_factory=list)
    probes: int = 0

    async def prepare(self, conn: Conn, rows: list[Row]) -> list[Job[str]]:
        return [Job(group, str(entity_id), version=max(r["entity_version"] for r in group))
                for (_, entity_id), group in by_entity(rows).items()]

    async def deliver(self, jobs: list[Job[str]]) -> list[Outcome]:
        self.delivered.append([job.payload for job in jobs])
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.crash:
            raise RuntimeError("a bug in the target")
        return [self.answers.get(job.payload, Delivered()) for job in jobs]

    async def probe(self) -> bool | None:
        self.probes += 1
        return self.up

    async def close(self) -> None:
        return None


@pytest.fixture
def routed(db_sql: DbSql) -> Callable[[Restaurant], None]:
    """Adds the test's target as rows (no code, no trigger edit) and enables it for a restaurant."""
    db_sql("INSERT INTO sync_targets (name, entity_types, events, all_restaurants, wake)"
           " VALUES (%s, '{order}', '{created,status_changed}', false, true)", (TARGET,))

    def enable(r: Restaurant) -> None:
        db_sql("INSERT INTO restaurant_targets (restaurant_id, target) VALUES (%s, %s)", (r.id, TARGET))

    return enable




Place = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def place(client: Any, open_guest: Any) -> Place:
    async def make(r: Restaurant) -> dict[str, Any]:
        guest = await open_guest(r)
        order: dict[str, Any] = expect(await client.post(r.url("/orders"), headers=guest.headers,
                                                         json=order_body(r)), 201)
        return order

    return make


def audit_rows(db_sql: DbSql) -> list[dict[str, Any]]:
    return db_sql("SELECT id, entity_id::text AS entity_id, entity_version, status, attempts, last_error, lease_owner,"
                  " extract(epoch FROM next_attempt_at - now()) AS due_in_s"
                  " FROM sync_log WHERE target = %s ORDER BY id", (TARGET,))


# ------------------------------------------------------------------------------ routing


async def test_a_target_added_as_rows_receives_its_restaurants_changes_and_wakes_workers_at_commit(
        client, make_restaurant, place, routed, db_sql, app_conninfo):
    r, other = await make_restaurant(), await make_restaurant()
    routed(r)
    listener = await psycopg.AsyncConnection.connect(app_conninfo, autocommit=True)
    await listener.execute("LISTEN sync_wake")
    order = await place(r)
    await place(other)  # not enabled there: no row
    expect(await client.post(r.url(f"/orders/{order['id']}/status"), headers=r.owner.headers,
                             json={"status": "confirmed"}), 200)
    heard = []
    async for notify in listener.notifies(timeout=1):
        heard.append(notify.payload)
    await listener.close()
    rows = audit_rows(db_sql)
    assert [(row["entity_id"], row["entity_version"]) for row in rows] == [(order["id"], 2)]  # coalesced
    assert TARGET in heard
    # Events it did not ask for (a change that is not a status move) route nothing to it.
    db_sql("UPDATE sync_log SET status = 'synced' WHERE target = %s", (TARGET,))
    db_sql("UPDATE orders SET notes = 'window seat' WHERE id = %s", (order["id"],))
    assert [row["status"] for row in audit_rows(db_sql)] == ["synced"]


async def test_the_registry_builds_a_target_for_every_target_the_schema_routes_to(system_db, db_sql):
    settings = SyncSettings(convex_url="http://127.0.0.1:9", convex_deploy_key="k")
    # The email target runs only with an SMTP server configured (never connected to here).
    targets = build_targets(system_db, settings, {**os.environ, "SMTP_HOST": "127.0.0.1"})
    try:
        assert sorted(targets) == [row["name"] for row in db_sql("SELECT name FROM sync_targets ORDER BY name")]
        assert all(targets[name].name == name for name in targets)
    finally:
        for target in targets.values():
            await target.close()


# ----------------------------------------------------------------------------- outcomes


async def test_each_outcome_becomes_its_row_state_with_one_round_line_and_the_targets_metrics(
        make_restaurant, place, routed, db_sql, system_db, capsys):
    r = await make_restaurant()
    routed(r)
    orders = [await place(r) for _ in range(6)]
    ids = [o["id"] for o in orders]
    target = Scripted(answers={
        ids[1]: Retry("receiver down"), ids[2]: Retry("slow down", after_s=30), ids[3]: GiveUp("never"),
        ids[4]: Skip("nothing to send"), ids[5]: Retry("refused", limited=True),
    })
    db_sql("UPDATE sync_log SET attempts = 2 WHERE target = %s AND entity_id = %s", (TARGET, ids[5]))
    metrics = SyncMetrics(CollectorRegistry())

    report = await Engine(system_db, owner="w", metrics=metrics).round_due(target)

    assert (report.claimed, report.synced, report.failed, report.dead, report.skipped) == (6, 1, 2, 2, 1)
    state = {row["entity_id"]: row for row in audit_rows(db_sql)}
    assert (state[ids[0]]["status"], state[ids[0]]["last_error"]) == ("synced", None)
    assert (state[ids[1]]["status"], state[ids[1]]["attempts"], state[ids[1]]["last_error"]) == \
        ("failed", 1, "receiver down")
    assert 0.05 <= state[ids[1]]["due_in_s"] <= 0.25  # the one backoff formula: 0.2 s with jitter
    assert 29 <= state[ids[2]]["due_in_s"] <= 30  # the target's own delay
    assert (state[ids[3]]["status"], state[ids[3]]["last_error"]) == ("dead", "never")
    assert (state[ids[4]]["status"], state[ids[4]]["last_error"]) == ("synced", "nothing to send")
    assert (state[ids[5]]["status"], state[ids[5]]["attempts"]) == ("dead", 3)  # a limited retry ran out
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in metrics.results.collect() for s in family.samples if s.name.endswith("_total")}
    assert samples == {
        ("sync_push_results_total", (("outcome", "delivered"), ("target", TARGET))): 1.0,
        ("sync_push_results_total", (("outcome", "retry"), ("target", TARGET))): 3.0,
        ("sync_push_results_total", (("outcome", "give_up"), ("target", TARGET))): 1.0,
        ("sync_push_results_total", (("outcome", "skip"), ("target", TARGET))): 1.0,
    }
    [duration] = [s for f in metrics.push_duration.collect() for s in f.samples if s.name.endswith("_count")]
    assert (duration.labels, duration.value) == ({"target": TARGET}, 1.0)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"sync_round"' in line]
    assert [(line["target"], line["claimed"], line["synced"], line["failed"], line["dead"], line["skipped"])
            for line in lines] == [(TARGET, 6, 1, 2, 2, 1)]


async def test_a_delivered_version_settles_the_entitys_older_undelivered_rows_when_the_target_supersedes(
        make_restaurant, place, routed, db_sql, system_db):
    r = await make_restaurant()
    routed(r)
    order = await place(r)
    db_sql("UPDATE sync_log SET status = 'failed', next_attempt_at = now() + interval '1 hour'"
           " WHERE target = %s", (TARGET,))  # version 1, backing off
    db_sql("UPDATE orders SET status = 'confirmed' WHERE id = %s", (order["id"],))  # version 2, pending
    target = Scripted()
    target.policy = Policy(batch_size=50, lease_s=30, backoff=Backoff(1, 1, 3), supersede=True)
    assert (await Engine(system_db, owner="w").round_due(target)).synced == 1
    assert [(row["entity_version"], row["status"]) for row in audit_rows(db_sql)] == [(1, "synced"), (2, "synced")]


async def test_a_target_that_raises_has_every_job_retried_and_loses_nothing(
        make_restaurant, place, routed, db_sql, system_db):
    r = await make_restaurant()
    routed(r)
    await place(r)
    await place(r)
    report = await Engine(system_db, owner="w").round_due(Scripted(crash=True))
    assert (report.claimed, report.failed) == (2, 2)
    assert {(row["status"], row["last_error"]) for row in audit_rows(db_sql)} == {
        ("failed", "the audit target crashed: RuntimeError: a bug in the target")}


async def test_a_pushed_round_claims_in_one_statement_and_records_its_deliveries_in_one_autocommit_statement(
        make_restaurant, place, routed, db_sql, system_db, monkeypatch):
    r = await make_restaurant()
    routed(r)
    orders = [await place(r) for _ in range(2)]
    sent: list[tuple[str, bool]] = []
    execute = queries._execute

    async def spy(conn: Conn, name: str, params: dict[str, Any]) -> Any:
        sent.append((name, conn.autocommit))
        return await execute(conn, name, params)

    monkeypatch.setattr(queries, "_execute", spy)
    report = await Engine(system_db, owner="pusher").round_entities(
        Scripted(), [EntityKey("order", UUID(o["id"])) for o in orders])
    monkeypatch.undo()

    assert (report.claimed, report.synced) == (2, 2)
    # The API's pusher runs a round per few milliseconds: the claim binds its transaction to the
    # system scope itself (no set_system_scope first), and a round whose every row was
    # delivered is recorded by one statement that is its own transaction (no BEGIN, no COMMIT).
    assert sent == [("claim_entities", False), ("mark_synced_alone", True)]
    assert {(row["status"], row["lease_owner"]) for row in audit_rows(db_sql)} == {("synced", "pusher")}


async def test_the_pushers_convex_round_claims_with_each_entitys_state_in_one_statement_and_sends_what_a_read_would(
        make_restaurant, place, db_sql, system_db, standin, monkeypatch):
    r = await make_restaurant()
    order = await place(r)
    gone_item = r.items["Dal Makhani"]["id"]
    db_sql("UPDATE menu_items SET deleted_at = now() WHERE id = %s", (gone_item,))
    db_sql("UPDATE dining_tables SET label = 'Terrace 1' WHERE id = %s", (r.tables[0]["id"],))
    db_sql("INSERT INTO sync_log (restaurant_id, target, entity_type, entity_id, entity_version)"
           " VALUES (%s, 'convex', 'table', gen_random_uuid(), 3)", (r.id,))  # a table gone from Postgres
    keys = [EntityKey(row["entity_type"], row["entity_id"]) for row in db_sql(
        "SELECT entity_type, entity_id FROM sync_log WHERE target = 'convex' AND restaurant_id = %s"
        " AND status = 'pending'", (r.id,))]
    assert sorted(k.entity_type for k in keys) == ["menu_item"] * 3 + ["order"] + ["table"] * 3
    target = convex_target(sync_settings_for(standin))
    assert target is not None and target.policy.state_in_claim
    try:
        async with system_db.statements() as conn:
            claimed = await outbox.claim_entities(conn, keys, target="convex", owner="p", lease_s=30,
                                                  trace_context="", with_state=True)
            from_state = [job.payload for job in await target.prepare(conn, claimed)]
        async with system_db.system() as conn:  # the worker's way: read in the claiming transaction
            read = [job.payload for job in await target.prepare(
                conn, [{k: v for k, v in row.items() if k != "state"} for row in claimed])]
        assert len(claimed) == 7
        assert from_state == read
        assert sorted(c["op"] for c in from_state) == ["delete"] * 2 + ["upsert"] * 5
        [pushed] = [c for c in from_state if c["entity"] == "orders"]
        assert (pushed["pgId"], pushed["doc"]["number"], len(pushed["doc"]["items"])) == (order["id"], 1.0, 2)

        # Pending again and due now (the pusher claims only due rows: a held pre-order is not).
        db_sql("UPDATE sync_log SET status = 'pending', lease_owner = NULL, next_attempt_at = now()"
               " WHERE target = 'convex' AND restaurant_id = %s", (r.id,))
        sent: list[tuple[str, bool]] = []
        execute = queries._execute

        async def spy(conn: Conn, name: str, params: dict[str, Any]) -> Any:
            sent.append((name, conn.autocommit))
            return await execute(conn, name, params)

        monkeypatch.setattr(queries, "_execute", spy)
        report = await Engine(system_db, owner="pusher").round_entities(target, keys)
        monkeypatch.undo()
    finally:
        await target.close()
    assert (report.claimed, report.synced) == (7, 7)
    # Two statements, each its own transaction: claim with the entities' state, then record.
    assert sent == [("claim_entities", True), ("mark_synced_alone", True)]
    # Version 2: relabelling its table touched the order (a change the claim's state includes).
    assert standin.versions("orders") == {order["id"]: 2}
    assert standin.dump()["orders"][0]["tableLabel"] == "Terrace 1"
    assert gone_item not in standin.versions("menuItems")


# ------------------------------------------------------------------------------- leases


async def test_a_delivery_slower_than_its_lease_keeps_its_rows_by_heartbeat(
        make_restaurant, place, routed, db_sql, system_db):
    r = await make_restaurant()
    routed(r)
    await place(r)
    slow = Scripted(delay_s=2.0)
    slow.policy = Policy(batch_size=50, lease_s=0.6, backoff=Backoff(1, 1, 3))
    other = Scripted()
    other.policy = slow.policy
    round_ = asyncio.create_task(Engine(system_db, owner="slow").round_due(slow))
    for _ in range(8):  # across three leases' worth of time, nobody else may take the row
        await asyncio.sleep(0.2)
        assert (await Engine(system_db, owner="other").round_due(other)).claimed == 0
        assert [row["lease_owner"] for row in audit_rows(db_sql)] == ["slow"]
    assert (await round_).synced == 1
    assert other.delivered == []


async def test_the_rows_of_a_holder_that_died_are_taken_over_once_its_lease_runs_out(
        make_restaurant, place, routed, db_sql, system_db):
    r = await make_restaurant()
    routed(r)
    await place(r)
    # What a SIGKILLed worker leaves: a row in flight under its lease, never renewed again.
    db_sql("UPDATE sync_log SET status = 'in_flight', lease_owner = 'gone', next_attempt_at = now() + interval"
           " '0.5 seconds' WHERE target = %s", (TARGET,))
    heir = Scripted()
    assert (await Engine(system_db, owner="heir").round_due(heir)).claimed == 0
    await asyncio.sleep(0.6)
    assert (await Engine(system_db, owner="heir").round_due(heir)).synced == 1


# ------------------------------------------------------------------------ a target down


async def test_a_target_that_went_down_is_probed_not_claimed_and_resumes_its_rows_at_once_when_it_answers(
        make_restaurant, place, routed, db_sql, app_conninfo):
    r = await make_restaurant()
    routed(r)
    orders = [await place(r) for _ in range(3)]
    target = Scripted(answers={o["id"]: Retry("connection refused", target_down=True) for o in orders}, up=False)
    target.policy = Policy(batch_size=50, lease_s=30, backoff=Backoff(60, 60, 3))  # a long backoff
    worker = Worker(Database(app_conninfo, min_size=1, max_size=4), [target], SyncSettings())
    await worker.db.open(wait=True)
    try:
        first = await worker.serve(target)
        assert (first.claimed, first.failed, first.target_down) == (3, 3, True)
        assert worker.down == {TARGET}
        assert await worker.next_wake(target) == SyncSettings().sync_probe_interval_s
        assert (await worker.serve(target)).claimed == 0  # probed, still down: nothing claimed
        assert target.probes == 1
        target.answers, target.up = {}, True
        recovered = await worker.serve(target)  # answers now: the rows are due at once, not in 60 s
        assert (recovered.claimed, recovered.synced) == (3, 3)
        assert worker.down == set()
    finally:
        await worker.db.close()
    assert {row["status"] for row in audit_rows(db_sql)} == {"synced"}


async def test_the_worker_sleeps_until_the_next_row_is_due_never_longer_than_its_interval(
        make_restaurant, place, routed, db_sql, app_conninfo):
    r = await make_restaurant()
    routed(r)
    await place(r)
    target = Scripted()
    settings = SyncSettings(sync_retry_interval_s=30)
    worker = Worker(Database(app_conninfo, min_size=1, max_size=2), [target], settings)
    await worker.db.open(wait=True)
    try:
        db_sql("UPDATE sync_log SET status = 'failed', next_attempt_at = now() + interval '4 seconds'"
               " WHERE target = %s", (TARGET,))
        assert 3 <= await worker.next_wake(target) <= 4
        db_sql("UPDATE sync_log SET next_attempt_at = now() + interval '1 hour' WHERE target = %s", (TARGET,))
        assert await worker.next_wake(target) == 30
        db_sql("UPDATE sync_log SET status = 'synced' WHERE target = %s", (TARGET,))
        assert await worker.next_wake(target) == 30  # nothing waits
    finally:
        await worker.db.close()


# --------------------------------------------------------------- a Convex that lost data


async def test_a_convex_without_our_epoch_is_rebuilt_once_by_one_of_two_racing_workers_and_checked_again_later(
        make_restaurant, place, standin, db_sql, app_conninfo):
    r = await make_restaurant()
    await place(r)
    settings = sync_settings_for(standin, sync_epoch_check_s=15)
    workers = [new_worker(app_conninfo, settings) for _ in range(2)]
    for worker in workers:
        await worker.db.open(wait=True)
    try:
        assert standin.versions("orders") == {}  # nothing pushed these (no pusher in this app)
        rebuilt = await asyncio.gather(*(w.check_convex() for w in workers))
        assert sorted(rebuilt) == [False, True]  # the loser found the lock taken, or the epoch set
        [epoch] = db_sql("SELECT epoch FROM sync_target_state WHERE target = 'convex'")
        orders = {row["id"]: row["version"] for row in db_sql("SELECT id::text AS id, version FROM orders")}
        assert standin.versions("orders") == orders
        assert not await workers[0].check_convex()  # the same epoch on both sides: nothing to do
        # Both pools still hand out connections in transaction mode (row-level security scopes hold).
        for worker in workers:
            async with worker.db.system() as conn:
                assert (await (await conn.execute("SELECT count(*) FROM orders")).fetchone()) == (len(orders),)

        standin.reset()  # wiped
        assert await workers[1].check_convex()
        assert standin.versions("orders") == orders
        standin_epoch = db_sql("SELECT epoch FROM sync_target_state WHERE target = 'convex'")[0]["epoch"]
        assert standin_epoch != epoch["epoch"]

        convex = workers[0].targets["convex"]
        assert isinstance(convex, ConvexTarget)
        await convex.set_epoch("an-older-backup")  # restored from a backup of another epoch
        assert await workers[0].check_convex()
    finally:
        for worker in workers:
            await close_worker(worker)


async def test_a_connection_used_for_statements_goes_back_in_transaction_mode_even_when_its_user_fails(
        app_conninfo):
    db = Database(app_conninfo, min_size=1, max_size=1)
    await db.open(wait=True)
    try:
        async def fail_between_statements() -> None:
            async with db.statements() as conn:
                assert conn.autocommit
                raise RuntimeError("the caller failed between its statements")

        with pytest.raises(RuntimeError):
            await fail_between_statements()
        async with db.system() as conn:
            assert not conn.autocommit
            row = await (await conn.execute("SELECT current_setting('app.scope', true)")).fetchone()
            assert row == ("system",)
    finally:
        await db.close()
