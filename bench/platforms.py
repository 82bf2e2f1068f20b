"""The delivery-platform phase of the benchmark (bench/README.md, "Delivery platforms"), for
Uber Eats, DoorDash and Grubhub at once:

* publish latency: a menu edit through the API until each platform's stand-in receives the
  call that carries it (a price edit: the whole menu; an availability edit: the platform's
  item call, or Grubhub's whole-menu ingestion), edits one at a time, with the menus'
  debounce windows set to 0 for the run so the figure is the pipeline's own (a deployment
  adds its debounce window on top). The stand-in's call log records when each call arrived.
* ingestion: N order webhooks per platform, built by its stand-in as the platform would send
  them, posted to the API by one load generator at a fixed concurrency (webhooks answered per
  s), then until every platform order is taken (our order created and accepted back); beside
  it, N of the API's own orders posted by the same generator at the same concurrency, so the
  ratios compare like with like.

The stand-ins are real processes started with the system (``start_standins``), so the API and
the worker reach them over loopback as tests and the dev runner do.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from bench import data
from bench.system import Processes
from scripts import platform_standins as standins
from scripts.seed import DEMO_PLATFORM_STORES

if TYPE_CHECKING:
    from bench.run import Run

CONCURRENCY = 8
CURRENCY = "INR"  # the bench's restaurants'


def start_standins(procs: Processes, timeout_s: float = 30) -> tuple[dict[str, str], dict[str, str]]:
    """Starts every platform's stand-in; returns their URLs and the variables that point the
    system at them (debounce 0)."""
    urls: dict[str, str] = {}
    env: dict[str, str] = {}
    for platform in standins.PLATFORMS:
        service = procs.start(platform, [sys.executable, "-m", f"scripts.{platform}_standin", "--port", "0"],
                              dict(os.environ))
        deadline = time.monotonic() + timeout_s
        while platform not in urls:
            match = re.search(rf"{platform}-standin ready (\S+)", service.log.read_text())
            if match:
                urls[platform] = match.group(1)
            elif time.monotonic() > deadline:
                raise RuntimeError(f"the {platform} stand-in did not start; see {service.log}")
            else:
                time.sleep(0.1)
        env |= {**standins.env(platform, urls[platform], currency=CURRENCY), f"{platform.upper()}_DEBOUNCE_S": "0"}
    return urls, env


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"n": len(values), "p50_ms": round(statistics.median(ordered), 1), "p99_ms": round(p99, 1),
            "max_ms": round(ordered[-1], 1)}


def _wait(found: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result
        time.sleep(0.005)
    raise RuntimeError(f"{what} did not happen within {timeout_s:.0f}s")


class PlatformPhase:
    def __init__(self, run: Run, urls: dict[str, str], *, edits: int, orders: int):
        self.run, self.urls, self.edits, self.orders = run, urls, edits, orders
        self.http = httpx.Client(timeout=30)

    def measure(self) -> dict[str, Any]:
        run = self.run
        self.shop = data.shop(run.api, run.boss, "Platforms", guests=CONCURRENCY)
        self.url = f"/api/restaurants/{self.shop.id}"
        self.owner = data.owner_token(run.api, run.boss)
        item = self.shop.items[0]
        for platform, url in self.urls.items():
            store_id, credentials = DEMO_PLATFORM_STORES[platform]  # type: ignore[index]
            standins.register(platform, url, store_id, credentials, run.base)
            run.api.put(f"{self.url}/integrations/{platform}", headers=self.owner,
                        json={"store_id": store_id, **credentials}).raise_for_status()
            _wait(partial(standins.price_on, platform, url, store_id, item), 60, f"the first menu on {platform}")
        return {"platforms": list(self.urls), "publish": self.publish_latency(), "ingestion": self.ingestion()}

    # ------------------------------------------------------------------ publish latency

    def _calls(self, platform: str, names: Sequence[str]) -> list[dict[str, Any]]:
        calls = self.http.get(f"{self.urls[platform]}/_standin/calls").json()
        return [c for c in calls if c["name"] in names and c["status"] in (200, 202, 204)]

    def _edit(self, body: dict[str, Any], names: Mapping[str, Sequence[str]]) -> dict[str, float]:
        """One edit of the first item; per platform, milliseconds until its stand-in received
        one of ``names[platform]``."""
        before = {p: len(self._calls(p, names[p])) for p in self.urls}
        started = time.time()
        self.run.api.patch(f"{self.url}/menu/items/{self.shop.items[0]}", headers=self.owner,
                           json=body).raise_for_status()
        took = {}
        for platform in self.urls:
            def arrived(p: str = platform) -> list[dict[str, Any]] | None:
                calls = self._calls(p, names[p])
                return calls if len(calls) > before[p] else None

            calls = _wait(arrived, 30, f"the edit on {platform}")
            took[platform] = (float(calls[before[platform]]["at"]) - started) * 1000
        return took

    def publish_latency(self) -> dict[str, Any]:
        full: dict[str, list[float]] = {p: [] for p in self.urls}
        availability: dict[str, list[float]] = {p: [] for p in self.urls}
        for n in range(self.edits):
            for platform, ms in self._edit({"price": 25000 + n + 1}, standins.MENU_CALLS).items():
                full[platform].append(ms)
            for platform, ms in self._edit({"is_available": n % 2 == 1}, standins.AVAILABILITY_CALLS).items():
                availability[platform].append(ms)
        self.run.api.patch(f"{self.url}/menu/items/{self.shop.items[0]}", headers=self.owner,
                           json={"is_available": True}).raise_for_status()
        return {p: {"price_edit_to_menu_call": _percentiles(full[p]),
                    "availability_edit_to_its_call": _percentiles(availability[p])} for p in self.urls}

    # ------------------------------------------------------------------ ingestion

    def _webhooks(self, platform: str) -> list[tuple[str, bytes, dict[str, str]]]:
        """N orders placed on the platform's stand-in, and the platform's webhook for each."""
        store_id = DEMO_PLATFORM_STORES[platform][0]  # type: ignore[index]
        item = self.shop.items[1]
        price = next(i["price"] for c in self.run.api.get(f"{self.url}/menu", headers=self.owner).json()["categories"]
                     for i in c["items"] if i["id"] == item)
        built = []
        for _ in range(self.orders):
            order_id = standins.place_order(platform, self.urls[platform], store_id, item, price, currency=CURRENCY,
                                            http=self.http)
            sent = standins.order_webhook(platform, self.urls[platform], store_id, order_id, self.run.base,
                                          send=False, http=self.http)
            built.append((f"/api/webhooks/{platform}", sent["body"].encode(), dict(sent["headers"])))
        return built

    def _own_orders(self) -> list[tuple[str, bytes, dict[str, str]]]:
        body = orjson.dumps({"items": [{"menu_item_id": i, "quantity": 1} for i in self.shop.items]})
        guests = (self.shop.guests * (self.orders // len(self.shop.guests) + 1))[:self.orders]
        return [(f"{self.url}/orders", body, {"Content-Type": "application/json", "Authorization": f"Bearer {guest}",
                                              "Idempotency-Key": f"bench-platform-{uuid.uuid4().hex}"})
                for guest in guests]

    def ingestion(self) -> dict[str, Any]:
        own = asyncio.run(_post_all(self.run.base, self._own_orders()))
        result: dict[str, Any] = {"orders": self.orders, "concurrency": CONCURRENCY, "api_own_orders": own}
        for platform in self.urls:
            webhooks = self._webhooks(platform)
            since = time.time()
            posted = asyncio.run(_post_all(self.run.base, webhooks))
            taken_s = self._wait_taken(platform, since)
            result[platform] = {
                "webhooks": posted,
                "taken": {"seconds": round(taken_s, 2), "orders_per_s": round(self.orders / taken_s, 1)},
                "webhooks_per_s_of_own_orders_per_s": round(posted["per_s"] / own["per_s"], 2),
            }
        return result

    def _wait_taken(self, platform: str, since: float) -> float:
        """Seconds from the first webhook until every platform order is accepted back."""
        def done() -> float | None:
            [(accepted, other, last)] = self.run.pg(
                "SELECT count(*) FILTER (WHERE state = 'accepted'), count(*) FILTER (WHERE state <> 'accepted'),"
                "       extract(epoch FROM max(updated_at))"
                "  FROM platform_orders WHERE restaurant_id = %s AND platform = %s", (self.shop.id, platform))
            return float(last) - since if accepted >= self.orders and not other else None
        taken: float = _wait(done, 300, f"every {platform} order taken")
        return taken


async def _post_all(base: str, requests: Sequence[tuple[str, bytes, Mapping[str, str]]]) -> dict[str, Any]:
    """Posts every request, CONCURRENCY at a time; statuses, rate and latency percentiles."""
    queue: asyncio.Queue[tuple[str, bytes, Mapping[str, str]]] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        async def worker() -> None:
            while not queue.empty():
                path, body, headers = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(path, content=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        seconds = time.perf_counter() - started
    return {"requests": len(requests), "statuses": statuses, "seconds": round(seconds, 2),
            "per_s": round(len(requests) / seconds, 1), **_percentiles(latencies)}
