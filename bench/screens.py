"""Latency to the screen (``python -m bench.run --only-screens``; see bench/README.md).

N kitchen screens (bench/screens.mjs: the official ``ConvexClient``, one Convex token each,
subscribed to ``orders:liveByStatus`` of ONE restaurant) while orders arrive open-loop
through the API. Per order: the API's 201 -> the order in every screen's result, next to
the commit -> Convex acknowledgement figure of the same window (``propagation``), and split
by the stand-in's trace (GET /_standin/trace) into 201 -> the first sync:applyBatch carrying
it committed -> that commit sent on the last socket -> on every screen.

The board stays a kitchen's size: a janitor here cancels, through the API as a kitchen's
buttons do (POST .../orders/{id}/status, the API's own pusher delivers the move), the oldest
orders already on every screen once more than ``board`` are live. Those moves are API writes
beside the orders and Convex commits the screens receive, as a real kitchen's moves would be.
(Cancelling in SQL instead leaves the moves to the worker, which waits SYNC_GRACE_S = 2 s for
the API's pusher first: the board then grows by 2 s of orders.)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from bench import data
from bench.system import ROOT, cpu_used

if TYPE_CHECKING:
    from bench.run import Run

TARGET_P99_MS = {100: 250, 300: 500}  # issue 16: p99 201 -> every screen, per arrival rate


@dataclass(frozen=True)
class ScreensPlan:
    screens: tuple[int, ...] = (1, 20)
    rates: tuple[int, ...] = (100, 300)
    seconds: float = 10
    board: int = 50  # live orders kept on the board (the janitor cancels older ones)
    settle_s: float = 15  # after the last 201, how long orders may take to reach every screen


FULL = ScreensPlan()
SMOKE = ScreensPlan(screens=(3,), rates=(50,), seconds=2, settle_s=10)


# An order's commit -> Convex acknowledgement, read before its cancel reuses its outbox row
# (one row per entity: the cancel's push would overwrite synced_at).
PROPAGATION = """
SELECT extract(epoch FROM synced_at - created_at) * 1000 FROM sync_log
 WHERE entity_type = 'order' AND entity_id = ANY(%(ids)s::uuid[]) AND status = 'synced'"""


def _summary(values: list[float]) -> dict[str, Any]:
    v = sorted(values)
    if not v:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}

    def at(p: float) -> float:
        return round(v[min(len(v) - 1, int(p / 100 * len(v)))], 1)
    return {"count": len(v), "p50_ms": at(50), "p99_ms": at(99), "max_ms": round(v[-1], 1)}


class Janitor:
    """Reads the screens' "SEEN" lines and keeps at most ``board`` of the seen orders live."""

    def __init__(self, run: Run, board: int, rid: str, owner_token: str):
        self.run, self.board, self.rid, self.token = run, board, rid, owner_token
        self.live: deque[str] = deque()
        self.cancelled = 0
        self.cancel_failures: dict[str, int] = {}  # status -> count; a refused cancel is retried
        self.propagation: list[float] = []  # of the cancelled orders, read before their cancel
        self.cancelled_ids: set[str] = set()
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.done = threading.Event()

    def read(self, stream: Any) -> None:
        for line in stream:
            if line.startswith("SEEN "):
                with self.lock:
                    self.live.extend(line.split()[1:])
            else:
                self.lines.append(line)
        self.done.set()

    def sweep(self) -> None:
        asyncio.run(self._sweep())

    async def _sweep(self) -> None:
        gate = asyncio.Semaphore(16)
        async with httpx.AsyncClient(base_url=self.run.base, timeout=30,
                                     headers={"Authorization": f"Bearer {self.token}"}) as client:
            async def cancel(oid: str) -> None:
                async with gate:
                    response = await client.post(f"/api/restaurants/{self.rid}/orders/{oid}/status",
                                                 json={"status": "cancelled"})
                    if response.status_code != 200:
                        code = str(response.status_code)
                        self.cancel_failures[code] = self.cancel_failures.get(code, 0) + 1
                        if response.status_code in (429, 503):  # refused, not moved: again next sweep
                            with self.lock:
                                self.live.appendleft(oid)
                        return
                    self.cancelled += 1
            while not self.done.is_set():
                await asyncio.sleep(0.1)
                with self.lock:
                    excess = [self.live.popleft() for _ in range(max(0, len(self.live) - self.board))]
                if not excess:
                    continue
                fresh = [oid for oid in excess if oid not in self.cancelled_ids]
                rows = await asyncio.to_thread(self.run.pg, PROPAGATION, {"ids": fresh})
                self.propagation += [float(ms) for (ms,) in rows]
                self.cancelled_ids.update(fresh)
                await asyncio.gather(*(cancel(oid) for oid in excess))


def window(run: Run, shop: data.Shop, owner_token: str, screens: int, rate: int, plan: ScreensPlan) -> dict[str, Any]:
    run.fresh_convex()
    run.convex("trace/reset", {})
    config = {"base": run.base, "convexUrl": run.convex_url, "rid": shop.id, "ownerToken": owner_token,
              "guests": shop.guests, "items": shop.items, "screens": screens, "rate": rate,
              "seconds": plan.seconds, "run": f"{run.run_id}-s{screens}-r{rate}-{time.time_ns()}",
              "settleS": plan.settle_s}
    path = run.out / f"screens-{screens}-{rate}.json"
    path.write_text(json.dumps(config))
    janitor = Janitor(run, plan.board, shop.id, owner_token)
    load_before = os.getloadavg()
    before = run.procs.cpu()
    started = time.monotonic()
    proc = subprocess.Popen(["node", str(ROOT / "bench" / "screens.mjs"), str(path)],  # noqa: S603,S607
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    reader = threading.Thread(target=janitor.read, args=(proc.stdout,), daemon=True)
    reader.start()
    janitor.sweep()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    seconds = time.monotonic() - started
    after = run.procs.cpu()
    load_after = os.getloadavg()
    out = next((line for line in janitor.lines if line.startswith("SCREENSJSON ")), None)
    if proc.returncode != 0 or out is None:
        raise RuntimeError(f"bench/screens.mjs failed ({proc.returncode}): {''.join(janitor.lines)[-2000:]}")
    result: dict[str, Any] = json.loads(out.split(" ", 1)[1])
    per_order: dict[str, list[float | None]] = result.pop("per_order")
    run.wait_synced(120)
    rest = [i for i in per_order if i not in janitor.cancelled_ids]
    lags = janitor.propagation + [float(ms) for (ms,) in run.pg(PROPAGATION, {"ids": rest})]
    result["propagation"] = {**_summary(lags), "orders": len(lags)}
    trace = run.convex("trace")
    result["stand_in"] = trace["sync"]
    result["split"] = split(per_order, trace["orders"])
    result["janitor_cancelled"] = janitor.cancelled
    result["janitor_failures"] = janitor.cancel_failures
    result["board_limit"] = plan.board
    result["cpu_cores"] = {**cpu_used(before, after, seconds),
                           "screens.mjs": round((usage.ru_utime + usage.ru_stime) / seconds, 2)}
    result["load_average"] = {"before": [round(x, 2) for x in load_before],
                              "after": [round(x, 2) for x in load_after]}
    result["target_p99_ms"] = TARGET_P99_MS.get(rate)
    return result


def split(per_order: dict[str, list[float | None]], traced: dict[str, list[float | None]]) -> dict[str, Any]:
    """Per order, wall-clock ms: 201 -> committed in the stand-in (outbox, pusher, HTTP, the
    batch's queue wait and run) -> sent on the last socket (the subscribed queries' re-runs,
    queued behind other commits) -> in every screen's result (the socket, the client's
    parsing and its callbacks in the one bench process)."""
    to_commit, to_sent, to_screen = [], [], []
    for pg_id, (t201, on_all) in per_order.items():
        t = traced.get(pg_id)
        if t is None or t201 is None:
            continue
        committed, sent = t[0], t[1]
        assert committed is not None
        to_commit.append(committed - t201)
        if sent is not None:
            to_sent.append(sent - committed)
            if on_all is not None:
                to_screen.append(on_all - sent)
    return {"api_201_to_commit": _summary(to_commit), "commit_to_sent_last_socket": _summary(to_sent),
            "sent_to_every_screen": _summary(to_screen), "traced_orders": len(to_commit)}


def measure(run: Run, plan: ScreensPlan) -> dict[str, Any]:
    """Every (screens, rate) window on one fresh restaurant."""
    from bench.run import say

    boss = data.owner(run.api)
    shop = data.shop(run.api, boss, "Screens", guests=16)
    run.wait_synced(60)
    token = boss.headers["Authorization"].split()[1]
    windows = []
    for screens in plan.screens:
        for rate in plan.rates:
            say(f"screens: {screens} subscribed, orders open loop at {rate}/s for {plan.seconds:.0f} s")
            windows.append(window(run, shop, token, screens, rate, plan))
    return {"plan": plan.__dict__, "windows": windows}


def verdicts(s: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for w in s["windows"]:
        target, p99 = w["target_p99_ms"], w["to_every_screen"]["p99_ms"]
        label = f"{w['screens']} screen{'s' if w['screens'] > 1 else ''} at {w['rate']}/s"
        missing = w["never_on_every_screen"]
        out.append({"target": f"no order missing from a screen ({label})", "figure": f"{missing} missing",
                    "met": missing == 0})
        if target is not None:
            out.append({"target": f"p99 201 -> every screen < {target} ms ({label})",
                        "figure": "no order reached every screen" if p99 is None else f"{p99:.0f} ms",
                        "met": p99 is not None and p99 < target})
    return out


def _ms(v: float | None) -> str:
    return f"{v:7.0f}" if v is not None else "      -"


def table(s: dict[str, Any]) -> list[str]:
    lines = ["latency to the screen (orders:liveByStatus, one restaurant)",
             "  screens rate/s  orders missing  201->screen p50/p99  first screen p99  propagation p50/p99  "
             "board max  load avg",
             ]
    for w in s["windows"]:
        e, f, p = w["to_every_screen"], w["to_first_screen"], w["propagation"]
        lines.append(f"  {w['screens']:>7} {w['rate']:>6} {w['answered']:>7} {w['never_on_every_screen']:>7}  "
                     f"{_ms(e['p50_ms'])} /{_ms(e['p99_ms'])}  {_ms(f['p99_ms']):>16}  "
                     f"{_ms(p['p50_ms'])} /{_ms(p['p99_ms'])}   {w['board']['max_ms'] or 0:>8.0f}  "
                     f"{w['load_average']['before'][0]:.1f}")
    lines += ["  where the time goes (p50/p99 ms): 201->commit | commit->sent to last socket | sent->every screen;"
              " stand-in query runs, ms each"]
    for w in s["windows"]:
        sp, st = w["split"], w["stand_in"] or {}
        runs = st.get("queryRuns") or 0
        each = st.get("queryRunMs", 0) / runs if runs else 0.0
        lines.append(f"  {w['screens']:>7} {w['rate']:>6}  "
                     f"{_ms(sp['api_201_to_commit']['p50_ms'])}/{_ms(sp['api_201_to_commit']['p99_ms'])} | "
                     f"{_ms(sp['commit_to_sent_last_socket']['p50_ms'])}/"
                     f"{_ms(sp['commit_to_sent_last_socket']['p99_ms'])} | "
                     f"{_ms(sp['sent_to_every_screen']['p50_ms'])}/{_ms(sp['sent_to_every_screen']['p99_ms'])}; "
                     f"{runs} runs x {each:.1f} ms, {st.get('cachedResults', 0)} cached, "
                     f"{st.get('transitions', 0)} transitions")
    return lines
