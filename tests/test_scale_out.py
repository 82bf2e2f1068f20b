"""Scale-out: two API processes and two worker processes on one database, their rate limits
in a real Redis (Debian's redis-server, started here). Orders go in through both APIs, one
worker is SIGKILLed while it holds PetPooja rows in flight, and every change still reaches
every target the restaurant enabled, once in effect: Convex equals Postgres document by
document, PetPooja holds each order exactly once, the restaurant's webhook has each order's
latest version. A rate limit spent through one API is spent for the other."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import (
    STANDIN_KEY,
    PetpoojaStandin,
    Receiver,
    Restaurant,
    Standin,
    expect,
    free_port,
    order_body,
    process_env,
    spawn,
    start_api,
    stop,
)
from tests.test_chaos import assert_convex_is_postgres
from tests.test_outbound_webhooks import register

DbSql = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: scripts/install apt-gets Debian's redis-server and could not here")
    port = free_port()
    process = spawn([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {},
                    tmp_path / "redis.log")
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline and process.poll() is None, "redis-server did not start"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    stop(process)


def unsynced(db_sql: DbSql) -> dict[str, int]:
    return {f"{r['target']}:{r['status']}": r["n"] for r in db_sql(
        "SELECT target, status, count(*) AS n FROM sync_log WHERE status <> 'synced' GROUP BY 1, 2")}


def owners(logs: list[Path]) -> dict[str, int]:
    """worker owner name -> index of the worker whose log announced it."""
    found = {}
    for i, log in enumerate(logs):
        for line in log.read_text().splitlines():
            if '"worker_started"' in line:
                found[json.loads(line)["owner"]] = i
    return found


async def test_two_apis_and_two_workers_deliver_every_change_once_in_effect_through_a_worker_kill(
        client, make_restaurant, open_guest, standin: Standin, petpooja_standin: PetpoojaStandin,
        receiver: Receiver, redis_url, db_sql, app_conninfo, signing_key_pem, tmp_path):
    # Two restaurants: one on PetPooja with a webhook, one with a webhook only.
    pos, plain = await make_restaurant(), await make_restaurant()
    keys = petpooja_standin.register("scale-outlet")
    expect(await client.put(pos.url("/integrations/petpooja"), headers=pos.owner.headers,
                            json={"rest_id": "scale-outlet", "environment": "sandbox", **keys}), 200)
    for r in (pos, plain):
        await register(client, r, receiver.url)
    guests = {r.id: [await open_guest(r, i % 2) for i in range(4)] for r in (pos, plain)}

    env = process_env(
        app_conninfo, signing_key_pem, CONVEX_URL=standin.url, CONVEX_DEPLOY_KEY=STANDIN_KEY,
        PETPOOJA_SANDBOX_URL=petpooja_standin.url, PETPOOJA_TIMEOUT_S="8", RATE_LIMIT_STORAGE=redis_url,
        RATE_LIMIT_LOGIN="4/minute", SYNC_LEASE_S="2", SYNC_GRACE_S="1", SYNC_BACKOFF_BASE_S="0.2",
        SYNC_BACKOFF_MAX_S="1", SYNC_RETRY_INTERVAL_S="5")
    apis = [start_api(env, tmp_path / f"api-{i}.log") for i in range(2)]
    worker_logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    workers = [spawn([sys.executable, "-m", "sync.worker"], env, log) for log in worker_logs]
    try:
        # PetPooja hangs on the first two orders it is sent: the worker sending them holds
        # their rows (its heartbeat renewing the lease) until its 8 s timeout.
        petpooja_standin.fault("hang", count=2)
        async with httpx.AsyncClient(timeout=30) as http:
            async def order(i: int, r: Restaurant) -> dict[str, Any]:
                guest = guests[r.id][i % 4]
                response = await http.post(apis[i % 2][1] + r.url("/orders"), headers=guest.headers,
                                            json=order_body(r))
                return expect(response, 201)

            placed = await asyncio.gather(*(order(i, (pos, plain)[i % 2]) for i in range(24)))
            for i, o in enumerate(placed[:8]):  # status moves through either API too
                r = pos if o["restaurant_id"] == pos.id else plain
                expect(await http.post(apis[(i + 1) % 2][1] + r.url(f"/orders/{o['id']}/status"),
                                       headers=r.owner.headers, json={"status": "confirmed"}), 200)

            # Kill the worker holding PetPooja rows, mid-round.
            deadline = time.monotonic() + 30
            while not (held := db_sql("SELECT DISTINCT lease_owner FROM sync_log WHERE target = 'petpooja'"
                                      " AND status = 'in_flight' AND next_attempt_at > now()")):
                assert time.monotonic() < deadline, f"no worker took PetPooja rows: {unsynced(db_sql)}"
                await asyncio.sleep(0.05)
            victim = owners(worker_logs)[held[0]["lease_owner"]]
            os.killpg(workers[victim].pid, signal.SIGKILL)
            workers[victim].wait()
            killed_holding = db_sql("SELECT count(*) AS n FROM sync_log WHERE lease_owner = %s AND status = "
                                    "'in_flight'", (held[0]["lease_owner"],))[0]["n"]
            petpooja_standin.fault("none")  # the hung calls are released, unanswered

            deadline = time.monotonic() + 60
            while unsynced(db_sql):
                assert time.monotonic() < deadline, f"not everything was delivered: {unsynced(db_sql)}"
                await asyncio.sleep(0.1)

            # A rate limit spent through one API is spent for the other (Redis holds the counts).
            wrong = {"email": pos.owner.email, "password": "not the password"}
            codes = [(await http.post(apis[i % 2][1] + "/api/auth/login", json=wrong)).status_code for i in range(5)]
    finally:
        for process in workers:
            stop(process)
        for process, _ in apis:
            stop(process)

    assert killed_holding > 0
    assert codes == [401, 401, 401, 401, 429]
    assert any(key.startswith(b"LIMITS") for key in redis.Redis.from_url(redis_url).scan_iter())
    assert_convex_is_postgres(standin, db_sql, "scale-out:")
    pos_orders = {o["id"] for o in placed if o["restaurant_id"] == pos.id}
    saved = petpooja_standin.saved()
    missing = pos_orders - {s["clientOrderID"] for s in saved}
    assert not missing, "\n".join(str(row) for row in db_sql("SELECT s.target, s.entity_id, s.status, s.attempts, s.last_error, s.lease_owner,"
                               " p.payload IS NOT NULL AS frozen, p.pushed_at FROM sync_log s LEFT JOIN"
                               " petpooja_orders p ON p.order_id = s.entity_id WHERE s.target = 'petpooja'"
                               " AND s.entity_id = ANY(%s::uuid[])", (list(missing),)))
    assert sorted(s["clientOrderID"] for s in saved) == sorted(pos_orders)  # each once
    latest: dict[str, int] = {}
    for body in receiver.bodies():
        latest[body["order"]["id"]] = max(latest.get(body["order"]["id"], 0), body["version"])
    versions = {r["id"]: r["version"] for r in db_sql("SELECT id::text AS id, version FROM orders")}
    assert latest == versions
    assert db_sql("SELECT count(*) AS n FROM sync_log WHERE status = 'dead'") == [{"n": 0}]
    for log in [*worker_logs, *(tmp_path / f"api-{i}.log" for i in range(2))]:
        errors = [line for line in log.read_text().splitlines() if '"level": "error"' in line]
        assert errors == [], f"{log.name}: {errors[:3]}"
