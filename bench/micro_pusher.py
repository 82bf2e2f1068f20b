"""Microbenchmark of the API's post-commit pusher: this process's CPU per order pushed.

    .venv/bin/python -m bench.micro_pusher [--rounds 300] [--batches 1,4,16] [--profile out.prof]

Starts its own embedded Postgres (a scratch directory, removed afterwards) and the Convex
stand-in, writes orders directly in SQL (the triggers queue their outbox rows exactly as
for the API), then, per batch size B, repeats: touch B orders (a pending outbox row each,
outside the measurement) and run one engine round of them with the Convex target, as the
pusher does (``Engine.round_entities``). The figure is ``time.process_time()`` of this
process around the round, divided by the orders pushed: the CPU the pusher takes from the
API's event loop per order. The stand-in's and Postgres's CPU are not in it (the stand-in
answers as a sink unless --store, so that its work competes less for the CPU).

Logging, metrics and tracing are as in the API: JSON logs at info (the pusher's clean
rounds log at debug), the sync metrics registered, tracing off.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import uvloop
from prometheus_client import CollectorRegistry
from psycopg import sql

from bench.system import ROOT
from db import embedded, logs, migrate
from db.outbox import EntityKey
from db.pool import Database
from sync.config import SyncSettings
from sync.engine import Engine
from sync.metrics import SyncMetrics
from sync.registry import convex_target

STANDIN_KEY = "micro-admin-key"

SEED = """
WITH r AS (
    INSERT INTO restaurants (name, currency, timezone, tax_rate_bps) VALUES ('Micro', 'INR', 'Asia/Kolkata', 500)
    RETURNING id
), counter AS (
    INSERT INTO order_counters (restaurant_id) SELECT id FROM r
), c AS (
    INSERT INTO menu_categories (restaurant_id, name) SELECT id, 'Mains' FROM r RETURNING restaurant_id, id
)
INSERT INTO menu_items (restaurant_id, category_id, name, price)
SELECT c.restaurant_id, c.id, n.name, n.price FROM c,
       (VALUES ('Paneer Tikka', 25000), ('Dal Makhani', 18050), ('Garlic Naan', 25000)) AS n(name, price)
RETURNING restaurant_id, id, name, price
"""

ORDER = """
WITH o AS (
    INSERT INTO orders (restaurant_id, number, order_type, currency, subtotal, tax, tip, discount, total,
                        customer_name, notes)
    VALUES (%(rid)s, %(number)s, 'takeaway', 'INR', 68050, 3403, 0, 0, 71453, 'Asha', 'no onions')
    RETURNING restaurant_id, id
)
INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price, quantity, line_total)
SELECT o.restaurant_id, o.id, l.position, l.menu_item_id, l.name, l.price, 1, l.price
  FROM o, unnest(ARRAY[1, 2, 3], %(items)s::uuid[], %(names)s::text[], %(prices)s::bigint[])
          AS l(position, menu_item_id, name, price)
RETURNING order_id
"""


def start_standin(log: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "CONVEX_DEPLOY_KEY": STANDIN_KEY, "CONVEX_STANDIN_PORT": "0",
           "CONVEX_STANDIN_CONTROL": "1"}
    process = subprocess.Popen(  # noqa: S603  # our own stand-in, fixed arguments
        [str(ROOT / "node_modules/.bin/tsx"), "scripts/convex_standin.ts"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=log.open("w"), start_new_session=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("convex-standin listening on "):
        process.kill()
        raise RuntimeError(f"the Convex stand-in did not start: {line!r}; see {log}")
    return process, line.split()[-1]


def seed(admin: str, orders: int) -> tuple[UUID, list[UUID]]:
    with psycopg.connect(admin, autocommit=True) as conn:
        items = conn.execute(SEED).fetchall()
        rid = items[0][0]
        ids = []
        for n in range(1, orders + 1):
            row = conn.execute(ORDER, {"rid": rid, "number": n, "items": [i[1] for i in items],
                                       "names": [i[2] for i in items], "prices": [i[3] for i in items]}).fetchone()
            assert row is not None
            ids.append(row[0])
        # Everything seeded is in Convex's outbox as pending: settle it, measure only the rounds.
        conn.execute("UPDATE sync_log SET status = 'synced', synced_at = now()")
    return rid, ids


async def measure(app_url: str, admin: str, convex_url: str, order_ids: list[UUID], batches: list[int],
                  rounds: int, profile: cProfile.Profile | None) -> dict[int, dict[str, float]]:
    settings = SyncSettings.model_validate({"convex_url": convex_url, "convex_deploy_key": STANDIN_KEY})
    target = convex_target(settings)
    assert target is not None
    db = Database(app_url, min_size=4, max_size=10)
    await db.open(wait=True)
    engine = Engine(db, owner="micro-api", metrics=SyncMetrics(CollectorRegistry()), quiet=True)
    touch = await psycopg.AsyncConnection.connect(admin, autocommit=True)
    results: dict[int, dict[str, float]] = {}
    cursor = 0
    try:
        for size in batches:
            cpu: list[float] = []
            wall: list[float] = []
            for r in range(rounds + 5):  # the first five warm up
                keys = []
                for _ in range(size):
                    keys.append(EntityKey("order", order_ids[cursor % len(order_ids)]))
                    cursor += 1
                await touch.execute("UPDATE orders SET notes = %(note)s WHERE id = ANY(%(ids)s)",
                                    {"note": f"touch {cursor}", "ids": [k.entity_id for k in keys]})
                if profile is not None and r >= 5:
                    profile.enable()
                c0, w0 = time.process_time(), time.perf_counter()
                report = await engine.round_entities(target, keys)
                c1, w1 = time.process_time(), time.perf_counter()
                if profile is not None:
                    profile.disable()
                if report.synced != size:
                    raise RuntimeError(f"round of {size} synced {report.synced}: {report}")
                if r >= 5:
                    cpu.append((c1 - c0) / size)
                    wall.append(w1 - w0)
            # Python function calls per round: a figure the machine's load does not move.
            calls = 0

            def count(frame: Any, event: str, arg: Any) -> None:
                nonlocal calls
                if event in ("call", "c_call"):
                    calls += 1

            for _ in range(20):
                keys = [EntityKey("order", order_ids[(cursor + i) % len(order_ids)]) for i in range(size)]
                cursor += size
                await touch.execute("UPDATE orders SET notes = %(note)s WHERE id = ANY(%(ids)s)",
                                    {"note": f"touch {cursor}", "ids": [k.entity_id for k in keys]})
                sys.setprofile(count)
                await engine.round_entities(target, keys)
                sys.setprofile(None)
            results[size] = {"cpu_us_per_order": statistics.mean(cpu) * 1e6,
                             "cpu_us_per_order_median": statistics.median(cpu) * 1e6,
                             # Other processes only ever add to a round's CPU time (caches, the
                             # scheduler): the lower quartile moves least with the machine's load.
                             "cpu_us_per_order_p25": statistics.quantiles(cpu, n=4)[0] * 1e6,
                             "wall_ms_per_round_median": statistics.median(wall) * 1e3,
                             "python_calls_per_round": calls / 20}
    finally:
        await touch.close()
        await target.close()
        await db.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300, help="measured rounds per batch size")
    parser.add_argument("--batches", default="1,4,16")
    parser.add_argument("--orders", type=int, default=200, help="orders seeded (the rounds cycle through them)")
    parser.add_argument("--repeat", type=int, default=1, help="measure every batch size this many times")
    parser.add_argument("--profile", type=Path, help="write a cProfile (CPU time) of the measured rounds here")
    parser.add_argument("--store", action="store_true",
                        help="the stand-in applies every change (default: it answers as if it did and stores "
                             "nothing, its 'discard' fault: less of its CPU competing with this process's)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="the event loop (uvicorn runs the API on uvloop when it is installed, as here)")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    logs.configure("json", "info", cache=True)

    scratch = Path(tempfile.mkdtemp(prefix="micro-pusher-"))
    pg_dir = scratch / "pg"
    standin = None
    try:
        socket_dir = embedded.start(pg_dir, keep_running=False)
        with psycopg.connect(embedded.conninfo(socket_dir, "postgres", user="postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("micro")))
        admin = embedded.conninfo(socket_dir, "micro", user="postgres")
        migrate.upgrade(admin)
        _, order_ids = seed(admin, args.orders)
        standin, convex_url = start_standin(scratch / "standin.log")
        if not args.store:
            httpx.post(f"{convex_url}/_standin/fault", json={"mode": "discard"},
                       headers={"Authorization": f"Convex {STANDIN_KEY}"}, timeout=10).raise_for_status()
        profile = cProfile.Profile(time.process_time) if args.profile else None
        for _ in range(args.repeat):
            with asyncio.Runner(loop_factory=uvloop.new_event_loop if args.loop == "uvloop" else None) as runner:
                results = runner.run(measure(embedded.conninfo(socket_dir, "micro"), admin, convex_url, order_ids,
                                             batches, args.rounds, profile))
            for size, figures in results.items():
                print(f"batch {size:>3}: {figures['cpu_us_per_order']:7.0f} us CPU/order (mean), "
                      f"{figures['cpu_us_per_order_median']:7.0f} (median), "
                      f"{figures['cpu_us_per_order_p25']:7.0f} (p25), "
                      f"{figures['wall_ms_per_round_median']:6.2f} ms/round wall (median), "
                      f"{figures['python_calls_per_round']:6.0f} Python calls/round", flush=True)
        if profile is not None:
            profile.dump_stats(str(args.profile))
    finally:
        if standin is not None:
            standin.terminate()
            try:
                standin.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(standin.pid, 9)
        embedded.stop(pg_dir)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
