"""Chaos: nothing committed is lost, and every committed change reaches Convex eventually,
in order per entity, whatever dies.

Everything here is real: the API (in process, and as a uvicorn process), Postgres, the
Convex stand-in (a Node process), the worker (in process, and as `python -m sync.worker`)
and fullSync (as a process). Faults are the stand-in's own; deaths are SIGKILLs. At the
end Convex is compared with Postgres document by document, through an oracle computed
from the Postgres tables themselves, not from sync/convex/documents.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from db.lifecycle import FINAL_STATUSES, allowed_moves
from sync.worker import Worker
from tests.conftest import (
    ROOT,
    STANDIN_KEY,
    Guest,
    Restaurant,
    Standin,
    close_worker,
    expect,
    new_worker,
    order_body,
    spawn,
    start_standin,
    stop,
)
from tests.test_sync import outbox_statuses, pg_versions, sync_settings_for, until

DbSql = Callable[..., list[dict[str, Any]]]
ISSUER = "http://tabletop.test"  # the `settings` fixture's issuer: the stand-ins verify its tokens

# Timeouts short enough that a hang costs a second, leases short enough that a row held by
# something that died is taken over within one. Rejections (error_status) count towards
# `dead`; the faults here are transient, so the budget is set out of their reach.
CHAOS_SYNC = {"convex_timeout_s": 1.0, "sync_lease_s": 1.0, "sync_max_attempts": 1000, "sync_batch_size": 25}
FAULTS = ("down", "hang", "hang_after_apply", "error500", "error_status")


@pytest.fixture
def pusher_sync() -> dict[str, Any]:
    return CHAOS_SYNC


@pytest.fixture
async def app(settings: Settings, standin: Standin, pusher_sync: dict[str, Any]) -> AsyncIterator[Starlette]:
    """The API with its post-commit pusher pointed at the stand-in, on chaos settings."""
    application = create_app(settings, sync_settings_for(standin, **pusher_sync))
    async with application.router.lifespan_context(application):
        yield application


MakeWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def make_worker(app_conninfo: str) -> AsyncIterator[MakeWorker]:
    """In-process workers (the worker process's own class) pushing to a given stand-in."""
    opened: list[Worker] = []

    async def make(standin: Standin, **overrides: Any) -> Worker:
        worker = new_worker(app_conninfo, sync_settings_for(standin, **{**CHAOS_SYNC, **overrides}))
        opened.append(worker)
        await worker.db.open(wait=True)
        return worker

    yield make
    for worker in opened:
        await close_worker(worker)


# ------------------------------------------------------------------------------ the oracle


def postgres_documents(db_sql: DbSql) -> dict[str, dict[str, dict[str, Any]]]:
    """What Convex must hold, read from the Postgres tables (not the sync code's queries)."""
    items: dict[str, list[tuple[str, int]]] = {}
    for line in db_sql("SELECT order_id::text AS order_id, name, quantity FROM order_items ORDER BY position"):
        items.setdefault(line["order_id"], []).append((line["name"], line["quantity"]))
    orders = {o["id"]: {"restaurantId": o["rid"], "status": o["status"], "total": o["total"],
                        "version": o["version"], "items": items.get(o["id"], []), "tableLabel": o["label"]}
              for o in db_sql("SELECT o.id::text AS id, o.restaurant_id::text AS rid, o.status, o.total, o.version,"
                              " t.label FROM orders o LEFT JOIN dining_tables t"
                              " ON t.restaurant_id = o.restaurant_id AND t.id = o.table_id")}
    menu = {i["id"]: {"restaurantId": i["rid"], "name": i["name"], "price": i["price"],
                      "isAvailable": i["is_available"], "version": i["version"], "categoryName": i["category"]}
            for i in db_sql("SELECT i.id::text AS id, i.restaurant_id::text AS rid, i.name, i.price, i.is_available,"
                            " i.version, c.name AS category FROM menu_items i JOIN menu_categories c"
                            " ON c.restaurant_id = i.restaurant_id AND c.id = i.category_id"
                            " WHERE i.deleted_at IS NULL")}
    tables = {t["id"]: {"restaurantId": t["rid"], "label": t["label"], "seats": t["seats"],
                        "isActive": t["is_active"], "version": t["version"]}
              for t in db_sql("SELECT id::text AS id, restaurant_id::text AS rid, label, seats, is_active, version"
                              " FROM dining_tables")}
    deleted = {i["id"]: i["version"] for i in db_sql(
        "SELECT id::text AS id, version FROM menu_items WHERE deleted_at IS NOT NULL")}
    return {"orders": orders, "menuItems": menu, "tables": tables, "deletedMenuItems": deleted}


def convex_documents(dump: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The same fields, read from the stand-in's dump (numbers there are floats; 2.0 == 2)."""
    orders = {d["pgId"]: {"restaurantId": d["restaurantId"], "status": d["status"], "total": d["total"],
                          "version": d["version"], "items": [(i["name"], i["quantity"]) for i in d["items"]],
                          "tableLabel": d["tableLabel"]}
              for d in dump["orders"]}
    menu = {d["pgId"]: {"restaurantId": d["restaurantId"], "name": d["name"], "price": d["price"],
                        "isAvailable": d["isAvailable"], "version": d["version"], "categoryName": d["categoryName"]}
            for d in dump["menuItems"]}
    tables = {d["pgId"]: {"restaurantId": d["restaurantId"], "label": d["label"], "seats": d["seats"],
                          "isActive": d["isActive"], "version": d["version"]}
              for d in dump["tables"]}
    deleted = {t["pgId"]: t["version"] for t in dump["tombstones"] if t["entity"] == "menuItems"}
    return {"orders": orders, "menuItems": menu, "tables": tables, "deletedMenuItems": deleted}


def assert_convex_is_postgres(standin: Standin, db_sql: DbSql, context: str = "") -> None:
    """Every document, field by field; a deleted menu item is absent and leaves its last version."""
    convex, postgres = convex_documents(standin.dump()), postgres_documents(db_sql)
    for entity in postgres:
        assert convex[entity] == postgres[entity], f"{context} Convex {entity} differ from Postgres"


def assert_outbox_all_synced(db_sql: DbSql, context: str = "") -> None:
    statuses = outbox_statuses(db_sql)
    assert set(statuses) == {"synced"}, f"{context} outbox not fully synced (none may be dead): {statuses}"


@dataclass
class VersionWatch:
    """Convex's version of every pgId over time: never behind what it showed before (no
    older change applied over a newer one), never ahead of Postgres (nothing invented)."""

    seen: dict[str, float] = field(default_factory=dict)
    checks: int = 0

    def check(self, standin: Standin, db_sql: DbSql, context: str) -> None:
        dump = standin.dump()  # before Postgres: Postgres versions only grow meanwhile
        postgres = {**pg_versions(db_sql, "orders"), **pg_versions(db_sql, "menu_items"),
                    **pg_versions(db_sql, "dining_tables")}
        shown = {d["pgId"]: d["version"] for name in ("orders", "menuItems", "tables", "tombstones")
                 for d in dump[name]}
        for pg_id, version in shown.items():
            assert version >= self.seen.get(pg_id, 0), f"{context} {pg_id} went back to v{version}"
            assert version <= postgres.get(pg_id, -1), f"{context} {pg_id} v{version} ahead of Postgres"
        self.seen.update(shown)
        self.checks += 1


async def converge(worker: Worker, db_sql: DbSql, timeout_s: float = 30.0) -> None:
    """Worker passes until nothing is pending, failed or in flight (expired leases included)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not set(outbox_statuses(db_sql)) <= {"synced", "dead"}:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"outbox did not drain: {outbox_statuses(db_sql)}")
        await worker.run_pass()
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------------------- processes


def full_sync_process(app_conninfo: str, standin: Standin) -> Awaitable[asyncio.subprocess.Process]:
    env = {**os.environ, "DATABASE_URL": app_conninfo, "CONVEX_URL": standin.url,
           "CONVEX_DEPLOY_KEY": STANDIN_KEY, "CONVEX_TIMEOUT_S": "2"}
    return asyncio.create_subprocess_exec(
        sys.executable, "-m", "scripts.fullSync", "--json", "--batch-size", "20", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def finish_full_sync(process: asyncio.subprocess.Process) -> tuple[int, dict[str, Any], str]:
    out, err = await asyncio.wait_for(process.communicate(), 60)  # a hang guard
    assert process.returncode is not None
    return process.returncode, json.loads(out) if out.strip() else {}, err.decode()


def kill_standin(standin: Standin) -> None:
    """SIGKILL the Node process that serves. `tsx` runs it as a child and cannot pass SIGKILL
    on: killing tsx alone would leave the server answering."""
    pid = standin.process.pid
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        os.kill(int(child), signal.SIGKILL)
    assert standin.process.wait(timeout=10) != 0
    standin.stop()


def sync_env(app_conninfo: str, standin: Standin) -> dict[str, str]:
    """A process's sync settings: pushes that hang for as long as the test needs, leases of 2 s."""
    return {"DATABASE_URL": app_conninfo, "CONVEX_URL": standin.url, "CONVEX_DEPLOY_KEY": STANDIN_KEY,
            "CONVEX_TIMEOUT_S": "60", "SYNC_LEASE_S": "2", "SYNC_GRACE_S": "0", "SYNC_BACKOFF_BASE_S": "0.05",
            "SYNC_BACKOFF_MAX_S": "0.2", "SYNC_RETRY_INTERVAL_S": "0.5", "LOG_FORMAT": "json",
            "WORKER_METRICS_PORT": "0"}


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def refuses(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.ConnectError:
        return True
    return False


def order_rows(db_sql: DbSql) -> list[dict[str, Any]]:
    return db_sql("SELECT entity_id::text AS id, status, lease_owner FROM sync_log WHERE entity_type = 'order'")


# ------------------------------------------------------------------ 1. the property test


@dataclass
class Place:
    """One restaurant as the random client knows it (only to choose valid requests)."""

    r: Restaurant
    guests: list[Guest]
    items: dict[str, bool]  # live menu item id -> available
    orders: dict[str, tuple[str, str, Guest]] = field(default_factory=dict)  # id -> (status, type, guest)


@dataclass
class Chaos:
    """Random requests through the real API, random faults, random worker passes."""

    rng: random.Random
    client: httpx.AsyncClient
    standin: Standin
    places: list[Place]
    workers: list[Worker]
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    done: dict[str, int] = field(default_factory=dict)
    serial: int = 0

    async def step(self) -> None:
        actions: dict[Callable[[], Awaitable[bool]], int] = {
            self.place_order: 30, self.move_order: 20, self.guest_cancels: 6, self.edit_item: 6,
            self.toggle_item: 6, self.delete_item: 3, self.add_item: 3, self.edit_table: 5,
            self.inject_fault: 9, self.worker_pass: 8,
        }
        action = self.rng.choices(list(actions), weights=list(actions.values()))[0]
        if await action():
            self.done[action.__name__] = self.done.get(action.__name__, 0) + 1

    def _name(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix} {self.serial}"

    async def place_order(self) -> bool:
        place = self.rng.choice(self.places)
        available = [i for i, ok in place.items.items() if ok]
        if not available:
            return False
        guest = self.rng.choice(place.guests)
        lines = [{"menu_item_id": i, "quantity": self.rng.randint(1, 4)}
                 for i in self.rng.sample(available, self.rng.randint(1, min(3, len(available))))]
        order = expect(await self.client.post(place.r.url("/orders"), headers=guest.headers,
                                              json={"items": lines}), 201)
        place.orders[order["id"]] = (order["status"], order["order_type"], guest)
        return True

    async def move_order(self) -> bool:
        place = self.rng.choice(self.places)
        open_orders = [o for o, (status, _, _) in place.orders.items() if status not in FINAL_STATUSES]
        if not open_orders:
            return False
        order_id = self.rng.choice(open_orders)
        status, order_type, guest = place.orders[order_id]
        target = self.rng.choice(allowed_moves(order_type, status))
        expect(await self.client.post(place.r.url(f"/orders/{order_id}/status"), headers=place.r.owner.headers,
                                      json={"status": target}), 200)
        place.orders[order_id] = (target, order_type, guest)
        return True

    async def guest_cancels(self) -> bool:
        place = self.rng.choice(self.places)
        pending = [o for o, (status, _, _) in place.orders.items() if status == "pending"]
        if not pending:
            return False
        order_id = self.rng.choice(pending)
        _, order_type, guest = place.orders[order_id]
        expect(await self.client.post(place.r.url(f"/orders/{order_id}/cancel"), headers=guest.headers,
                                      json={}), 200)
        place.orders[order_id] = ("cancelled", order_type, guest)
        return True

    async def edit_item(self) -> bool:
        place = self.rng.choice(self.places)
        item = self.rng.choice(list(place.items))
        change = self.rng.choice([{"price": self.rng.randrange(100, 90000)}, {"name": self._name("Dish")}])
        expect(await self.client.patch(place.r.url(f"/menu/items/{item}"), headers=place.r.owner.headers,
                                       json=change), 200)
        return True

    async def toggle_item(self) -> bool:
        place = self.rng.choice(self.places)
        item = self.rng.choice(list(place.items))
        place.items[item] = not place.items[item]
        expect(await self.client.put(place.r.url(f"/menu/items/{item}/availability"), headers=place.r.owner.headers,
                                     json={"is_available": place.items[item]}), 200)
        return True

    async def delete_item(self) -> bool:
        place = self.rng.choice(self.places)
        if len(place.items) <= 2:
            return False
        item = self.rng.choice(list(place.items))
        expect(await self.client.delete(place.r.url(f"/menu/items/{item}"), headers=place.r.owner.headers), 204)
        del place.items[item]
        return True

    async def add_item(self) -> bool:
        place = self.rng.choice(self.places)
        item = expect(await self.client.post(place.r.url("/menu/items"), headers=place.r.owner.headers, json={
            "category_id": place.r.category_id, "name": self._name("New dish"),
            "price": self.rng.randrange(100, 90000), "is_available": True}), 201)
        place.items[item["id"]] = True
        return True

    async def edit_table(self) -> bool:
        place = self.rng.choice(self.places)
        table = self.rng.choice(place.r.tables)
        change = self.rng.choice([{"label": self._name("T")}, {"seats": self.rng.randint(1, 12)}])
        expect(await self.client.patch(place.r.url(f"/tables/{table['id']}"), headers=place.r.owner.headers,
                                       json=change), 200)
        return True

    async def inject_fault(self) -> bool:
        self.standin.fault(self.rng.choice(FAULTS), count=self.rng.randint(1, 3))
        return True

    async def worker_pass(self) -> bool:
        # One worker, or two at once racing for the same due rows; in the background, so
        # writes go on while they push.
        for worker in self.rng.sample(self.workers, self.rng.randint(1, len(self.workers))):
            self.background.append(asyncio.create_task(worker.run_pass(max_rounds=3)))
        return True

    async def writes_while(self, running: asyncio.Task[Any], limit: int = 150) -> int:
        """Keeps writing (faults and passes included) until ``running`` is done."""
        steps = 0
        while not running.done() and steps < limit:
            await self.step()
            steps += 1
        return steps


@pytest.mark.parametrize("seed", [20240611, 7, 314159])
async def test_random_writes_faults_and_worker_races_end_with_convex_equal_to_postgres_document_by_document(
        seed, client, make_restaurant, open_guest, standin, db_sql, make_worker, app_conninfo):
    rng = random.Random(seed)
    context = f"seed {seed}:"
    places = []
    for _ in range(3):
        r = await make_restaurant()
        items = {i["id"]: i["is_available"] for i in r.items.values()}
        places.append(Place(r, [await open_guest(r, 0), await open_guest(r, 1)], items))
    chaos = Chaos(rng, client, standin, places, [await make_worker(standin), await make_worker(standin)])
    watch = VersionWatch()

    for step in range(200):
        await chaos.step()
        if step % 3 == 0:  # often: a regression shows only until the next, newer push
            watch.check(standin, db_sql, f"{context} step {step}")
        if step == 100:
            sync = asyncio.create_task(finish_full_sync(await full_sync_process(app_conninfo, standin)))
            during = await chaos.writes_while(sync)
            code, summary, stderr = await sync
            assert code in (0, 1), f"{context} fullSync crashed: {stderr}"  # 1: a fault hit one of its calls
            assert summary["pushed"] > 0, context
            assert during > 0, f"{context} no write ran while fullSync did"

    standin.fault("ok")
    await asyncio.gather(*chaos.background)
    await converge(chaos.workers[0], db_sql)

    assert_outbox_all_synced(db_sql, context)
    assert_convex_is_postgres(standin, db_sql, context)
    watch.check(standin, db_sql, f"{context} end")
    # The run was chaotic, not a calm one: pushes failed and were retried, faults and worker races ran.
    assert db_sql("SELECT count(*) AS n FROM sync_log WHERE attempts > 0")[0]["n"] > 0, context
    assert standin.stats()["stale"] > 0, context  # retries and snapshots arrived after newer pushes
    assert {"place_order", "move_order", "inject_fault", "worker_pass"} <= set(chaos.done), f"{context} {chaos.done}"


# ------------------------------------------------------ 2. the Convex process is killed


class TestConvexKilledMidBatch:
    @pytest.fixture
    def standin(self, standin_public_key: Path, tmp_path: Path) -> Iterator[Standin]:
        """A stand-in of this test's own (the API pushes to it), so that killing it harms no other test."""
        own = start_standin(standin_public_key, ISSUER, tmp_path / "standin.log")
        yield own
        own.stop()

    @pytest.fixture
    def pusher_sync(self) -> dict[str, Any]:
        """Pushes wait for an answer until the kill, so a batch is surely in flight when it comes."""
        return {**CHAOS_SYNC, "convex_timeout_s": 60.0}

    async def test_orders_survive_convex_dying_mid_batch_and_come_back_empty(
            self, client, make_restaurant, open_guest, standin, db_sql, make_worker, app_conninfo,
            standin_public_key, tmp_path):
        r = await make_restaurant()
        guest = await open_guest(r)
        await until(lambda: standin.versions("tables") == pg_versions(db_sql, "dining_tables"))
        standin.fault("hang_after_apply")  # Convex writes, then never answers: pushes stay in flight
        before = [expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
                  for _ in range(12)]
        await until(lambda: standin.stats()["applied"] > 0 and outbox_statuses(db_sql).get("in_flight", 0) > 0)

        kill_standin(standin)
        assert refuses(standin.url)

        during = [expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
                  for _ in range(5)]
        await until(lambda: not {"pending", "in_flight"} & set(outbox_statuses(db_sql)))
        # No push was ever answered, so every order is still owed to Convex: failed, never synced.
        assert {row["id"]: row["status"] for row in order_rows(db_sql)} == {
            o["id"]: "failed" for o in before + during}

        revived = start_standin(standin_public_key, ISSUER, tmp_path / "standin.log",
                                port=urlsplit(standin.url).port or 0)
        try:
            assert revived.url == standin.url
            assert revived.dump()["orders"] == []  # Convex lost everything it had applied
            # The live path finds the revived Convex by itself.
            after = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
            await until(lambda: after["id"] in revived.versions("orders"))
            # Recovery: fullSync brings back what Convex lost, the worker pushes what is owed.
            code, summary, stderr = await finish_full_sync(await full_sync_process(app_conninfo, revived))
            assert code == 0, stderr
            assert summary["applied"] > 0  # the tables and menu items synced long before the crash
            await converge(await make_worker(revived), db_sql)

            assert_outbox_all_synced(db_sql)
            assert_convex_is_postgres(revived, db_sql)
            assert len(revived.dump()["orders"]) == len(before + during) + 1
        finally:
            revived.stop()


# --------------------------------------------------------- 3. the API process is killed


def api_env(app_conninfo: str, signing_key_pem: str, standin: Standin) -> dict[str, str]:
    """The `settings` fixture's values as environment, so its tokens are valid here too."""
    return {**sync_env(app_conninfo, standin), "ENV_MODE": "test", "JWT_PRIVATE_KEY": signing_key_pem,
            "JWT_ISSUER": ISSUER, "PASSWORD_TIME_COST": "1", "PASSWORD_MEMORY_KIB": "64",
            "RATE_LIMIT_LOGIN": "1000/minute", "RATE_LIMIT_QR_SESSION": "1000/minute",
            "RATE_LIMIT_ORDER_CREATE": "1000/minute", "RATE_LIMIT_ORDER_TABLE": "1000/minute", "LOG_LEVEL": "WARNING",
            # Every order's push gets a slot: none is left pending behind the hanging ones.
            "SYNC_MAX_IN_FLIGHT": "12"}


async def test_orders_whose_push_was_in_flight_when_the_api_process_was_killed_reach_convex_once_each(
        make_restaurant, open_guest, standin, db_sql, make_worker, app_conninfo, signing_key_pem, tmp_path):
    r = await make_restaurant()
    guest = await open_guest(r)
    await until(lambda: standin.versions("tables") == pg_versions(db_sql, "dining_tables"))
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    api = spawn([sys.executable, "-m", "uvicorn", "api.app:app", "--fd", str(listener.fileno()), "--no-access-log"],
                api_env(app_conninfo, signing_key_pem, standin), tmp_path / "api.log", pass_fds=[listener.fileno()])
    listener.close()
    try:
        await until(lambda: answers(f"{url}/ready"), timeout_s=30)
        standin.fault("hang")  # Convex takes every push and never answers
        calls = standin.stats()["mutationCalls"]
        async with httpx.AsyncClient(base_url=url, timeout=10) as web:
            orders = [expect(await web.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
                      for _ in range(8)]
        await until(lambda: [row["status"] for row in order_rows(db_sql)] == ["in_flight"] * len(orders)
                    and standin.stats()["mutationCalls"] > calls)

        api.kill()
        assert api.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop(api)
    # Nobody is left to record these pushes: the rows keep their lease until it runs out.
    assert {row["status"] for row in order_rows(db_sql)} == {"in_flight"}
    [dead_api] = {row["lease_owner"] for row in order_rows(db_sql)}

    standin.fault("ok")
    applied = standin.stats()["applied"]
    await converge(await make_worker(standin), db_sql)

    assert_outbox_all_synced(db_sql)
    assert_convex_is_postgres(standin, db_sql)
    assert set(standin.versions("orders")) == {o["id"] for o in orders}
    # `hang` ran nothing, so each order was applied exactly once, by the worker.
    assert standin.stats()["applied"] - applied == len(orders)
    assert dead_api not in {row["lease_owner"] for row in order_rows(db_sql)}


# ------------------------------------------------------ 4. the worker process is killed


async def test_a_worker_process_killed_mid_batch_is_taken_over_by_another_after_its_lease(
        client, make_restaurant, open_guest, standin, db_sql, app_conninfo, tmp_path):
    r = await make_restaurant()
    guest = await open_guest(r)
    await until(lambda: standin.versions("tables") == pg_versions(db_sql, "dining_tables"))
    standin.fault("down")
    orders = [expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
              for _ in range(12)]
    await until(lambda: {row["status"] for row in order_rows(db_sql)} == {"failed"})
    standin.fault("hang")
    calls = standin.stats()["mutationCalls"]
    env = sync_env(app_conninfo, standin)
    first = spawn([sys.executable, "-m", "sync.worker"], env, tmp_path / "worker-1.log")
    try:
        # It claimed the failed rows and its push is out, hanging.
        await until(lambda: {row["status"] for row in order_rows(db_sql)} == {"in_flight"}
                    and standin.stats()["mutationCalls"] > calls, timeout_s=20)
        [killed] = {row["lease_owner"] for row in order_rows(db_sql)}
        first.kill()
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop(first)
    assert killed.startswith("worker-")

    standin.fault("ok")
    applied = standin.stats()["applied"]
    second = spawn([sys.executable, "-m", "sync.worker"], env, tmp_path / "worker-2.log")
    try:
        await until(lambda: {row["status"] for row in order_rows(db_sql)} == {"synced"}, timeout_s=20)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    finally:
        stop(second)

    [successor] = {row["lease_owner"] for row in order_rows(db_sql)}
    assert successor != killed
    assert_outbox_all_synced(db_sql)
    assert_convex_is_postgres(standin, db_sql)
    assert set(standin.versions("orders")) == {o["id"] for o in orders}
    assert standin.stats()["applied"] - applied == len(orders)


# ------------------------------------------------------------------- copied parent names


async def test_relabelling_a_table_re_pushes_its_orders_with_the_new_label_without_waiting_for_a_worker(
        client, make_restaurant, open_guest, standin, db_sql):
    r = await make_restaurant()
    guest = await open_guest(r)
    order = expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    await until(lambda: standin.versions("orders").get(order["id"]) == 1)
    expect(await client.patch(r.url(f"/tables/{guest.table_id}"), headers=r.owner.headers,
                              json={"label": "Patio"}), 200)
    # The trigger raised the order's version in the request's transaction; the request handed
    # it to the post-commit pusher with the table: no worker runs here.
    await until(lambda: [(d["tableLabel"], d["version"]) for d in standin.dump()["orders"]] == [("Patio", 2)])
    assert_convex_is_postgres(standin, db_sql)


async def test_renaming_a_category_re_pushes_its_live_items_with_the_new_name_without_waiting_for_a_worker(
        client, make_restaurant, standin, db_sql):
    r = await make_restaurant()
    await until(lambda: standin.versions("menuItems") == {i["id"]: 1 for i in r.items.values()})
    expect(await client.patch(r.url(f"/menu/categories/{r.category_id}"), headers=r.owner.headers,
                              json={"name": "Curries"}), 200)
    # Handed to the post-commit pusher by the request itself: no worker runs here.
    await until(lambda: {(d["categoryName"], d["version"]) for d in standin.dump()["menuItems"]} == {("Curries", 2)})
    assert_convex_is_postgres(standin, db_sql)
