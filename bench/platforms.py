"""The delivery-platform phase of the benchmark (bench/README.md, "Delivery platforms"):

* publish latency: a menu edit through the API until the platform's stand-in receives the
  call that carries it (a price edit: the whole menu; an availability edit: the platform's
  item call), edits one at a time, with the menus' debounce window set to 0 for the run so
  the figure is the pipeline's own (a deployment adds its debounce window on top);
* ingestion: N signed order webhooks posted to the API by one load generator at a fixed
  concurrency (webhooks answered per s), then until every platform order is taken (our
  order created and accepted back to the stand-in); beside it, N of the API's own orders
  posted by the same generator at the same concurrency, so the ratio compares like with like.

The stand-in is a real process started with the system (``start_standins``), so the API and
the worker reach it over loopback exactly as tests and the dev runner do.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from bench import data
from bench.system import Processes
from scripts.ubereats_standin import sign

if TYPE_CHECKING:
    from bench.run import Run

UBER_CLIENT = {"client_id": "bench-uber-client", "client_secret": "bench-uber-secret"}
UBER_STORE = "bench-uber-store"
WEBHOOK = "/api/webhooks/ubereats"
CONCURRENCY = 8


def start_standins(procs: Processes, timeout_s: float = 30) -> tuple[str, dict[str, str]]:
    """Starts the Uber Eats stand-in; returns its URL and the variables that point the system at it."""
    service = procs.start("ubereats", [sys.executable, "-m", "scripts.ubereats_standin", "--port", "0"],
                          dict(os.environ))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        match = re.search(r"ubereats-standin ready (\S+)", service.log.read_text())
        if match:
            url = match.group(1)
            return url, {"UBEREATS_API_URL": url, "UBEREATS_AUTH_URL": url, "UBEREATS_DEBOUNCE_S": "0"}
        time.sleep(0.1)
    raise RuntimeError(f"the Uber Eats stand-in did not start; see {service.log}")


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"n": len(values), "p50_ms": round(statistics.median(ordered), 1), "p99_ms": round(p99, 1),
            "max_ms": round(ordered[-1], 1)}


class PlatformPhase:
    def __init__(self, run: Run, standin_url: str, *, edits: int, orders: int):
        self.run, self.edits, self.orders = run, edits, orders
        self.standin = httpx.Client(base_url=f"{standin_url}/_standin", timeout=30)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.standin.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def measure(self) -> dict[str, Any]:
        run = self.run
        self.shop = data.shop(run.api, run.boss, "Platforms", guests=CONCURRENCY)
        self.url = f"/api/restaurants/{self.shop.id}"
        self.owner = data.owner_token(run.api, run.boss)
        self.control("POST", "clients", {**UBER_CLIENT, "store_ids": [UBER_STORE]})
        connected = run.api.put(f"{self.url}/integrations/ubereats", headers=self.owner,
                                json={"store_id": UBER_STORE, **UBER_CLIENT})
        connected.raise_for_status()
        self._wait(lambda: self._calls("menus"), 30, "the first menu upload")
        return {"platform": "ubereats", "publish": self.publish_latency(), "ingestion": self.ingestion()}

    # ------------------------------------------------------------------ publish latency

    def _calls(self, name: str) -> list[dict[str, Any]]:
        return [c for c in self.control("GET", "calls") if c["name"] == name and c["status"] in (200, 204)]

    def _wait(self, found: Any, timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = found()
            if result:
                return result
            time.sleep(0.005)
        raise RuntimeError(f"{what} did not reach the stand-in within {timeout_s:.0f}s")

    def _edit(self, body: dict[str, Any], call: str) -> float:
        """One edit of the first item; milliseconds until the stand-in received ``call``."""
        before = len(self._calls(call))
        started = time.time()
        response = self.run.api.patch(f"{self.url}/menu/items/{self.shop.items[0]}", headers=self.owner, json=body)
        response.raise_for_status()
        calls = self._wait(lambda: (lambda c: c if len(c) > before else None)(self._calls(call)), 30, f"a {call} call")
        return (float(calls[-1]["at"]) - started) * 1000

    def publish_latency(self) -> dict[str, Any]:
        full, suspend = [], []
        for n in range(self.edits):
            full.append(self._edit({"price": 25000 + n + 1}, "menus"))
            suspend.append(self._edit({"is_available": n % 2 == 1}, "items"))
        self.run.api.patch(f"{self.url}/menu/items/{self.shop.items[0]}", headers=self.owner,
                           json={"is_available": True}).raise_for_status()
        return {"price_edit_to_full_upload": _percentiles(full),
                "availability_edit_to_item_call": _percentiles(suspend)}

    # ------------------------------------------------------------------ ingestion

    def _webhooks(self) -> list[tuple[bytes, dict[str, str]]]:
        """N orders placed on the stand-in, and Uber's signed webhook for each."""
        menu = self.run.api.get(f"{self.url}/menu", headers=self.owner).json()
        items = [i for c in menu["categories"] for i in c["items"]][:3]
        cart = [{"id": i["id"], "title": i["name"], "quantity": 1, "price": i["price"]} for i in items]
        signed = []
        for _ in range(self.orders):
            order = self.control("POST", "orders", {"store_id": UBER_STORE, "currency": "INR", "cart_items": cart})
            event = {"event_id": str(uuid.uuid4()), "event_time": int(time.time()), "event_type": "orders.notification",
                     "meta": {"user_id": UBER_STORE, "resource_id": order["id"], "status": "pos"}}
            raw = orjson.dumps(event)
            signed.append((raw, {"Content-Type": "application/json",
                                 "X-Uber-Signature": sign(UBER_CLIENT["client_secret"], raw)}))
        return signed

    def _own_orders(self) -> list[tuple[bytes, dict[str, str]]]:
        body = orjson.dumps({"items": [{"menu_item_id": i, "quantity": 1} for i in self.shop.items]})
        return [(body, {"Content-Type": "application/json", "Authorization": f"Bearer {guest}",
                        "Idempotency-Key": f"bench-platform-{uuid.uuid4().hex}"})
                for guest in (self.shop.guests * (self.orders // len(self.shop.guests) + 1))[:self.orders]]

    def ingestion(self) -> dict[str, Any]:
        webhooks = self._webhooks()
        since = time.time()
        posted = asyncio.run(_post_all(self.run.base, WEBHOOK, webhooks))
        taken_s = self._wait_taken(since)
        own = asyncio.run(_post_all(self.run.base, f"{self.url}/orders", self._own_orders()))
        return {
            "orders": self.orders, "concurrency": CONCURRENCY, "webhooks": posted,
            "taken": {"seconds": round(taken_s, 2), "orders_per_s": round(self.orders / taken_s, 1)},
            "api_own_orders": own,
            "webhooks_per_s_of_own_orders_per_s": round(posted["per_s"] / own["per_s"], 2) if own["per_s"] else None,
        }

    def _wait_taken(self, since: float) -> float:
        """Seconds from the first webhook until every platform order is accepted back."""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            [(accepted, other)] = self.run.pg(
                "SELECT count(*) FILTER (WHERE state = 'accepted'), count(*) FILTER (WHERE state <> 'accepted')"
                "  FROM platform_orders WHERE restaurant_id = %s", (self.shop.id,))
            if accepted + other >= self.orders and not other:
                [(last,)] = self.run.pg("SELECT extract(epoch FROM max(updated_at)) FROM platform_orders"
                                        " WHERE restaurant_id = %s", (self.shop.id,))
                return float(last) - since
            time.sleep(0.05)
        raise RuntimeError("the platform orders were not all taken within 300s")


async def _post_all(base: str, path: str, requests: Sequence[tuple[bytes, Mapping[str, str]]]) -> dict[str, Any]:
    """Posts every request, CONCURRENCY at a time; statuses, rate and latency percentiles."""
    queue: asyncio.Queue[tuple[bytes, Mapping[str, str]]] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        async def worker() -> None:
            while not queue.empty():
                body, headers = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(path, content=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        seconds = time.perf_counter() - started
    return {"requests": len(requests), "statuses": statuses, "seconds": round(seconds, 2),
            "per_s": round(len(requests) / seconds, 1), **_percentiles(latencies)}
