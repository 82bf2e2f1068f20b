"""End to end, every part a real process speaking real HTTP: a QR guest orders through the
API (uvicorn), the worker (python -m sync.worker, woken by NOTIFY) pushes the order to the
PetPooja stand-in, the stand-in walks it through PetPooja's callbacks to our webhook URL,
our order status moves, and the Convex stand-in shows each move. The timings of each step
are printed (run with -s to see them)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import STANDIN_KEY, PetpoojaStandin, Standin, expect, spawn, stop

DbSql = Callable[..., list[dict[str, Any]]]
ISSUER = "http://tabletop.test"  # the Convex stand-in verifies tokens of this issuer
REST_ID = "e2e-outlet"
KEYS = {"app_key": "e2e-app-key", "app_secret": "e2e-app-secret", "access_token": "e2e-access-token"}
POLL_S = 0.01


async def until(check: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    """Polls until ``check`` returns something truthy (a liveness bound, not a performance claim)."""
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s:.0f} s: {what}")
        await asyncio.sleep(POLL_S)
    return value


class Clock:
    """Step timings from the start of the order, printed at the end for the resolution note."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.steps: list[tuple[str, float]] = []  # (step, seconds since start)

    def at(self, step: str, unix_time: float) -> None:
        """A step that happened at ``unix_time`` (another process's clock, on this machine)."""
        self.steps.append((step, time.perf_counter() - (time.time() - unix_time) - self.start))

    def mark(self, step: str) -> None:
        self.steps.append((step, time.perf_counter() - self.start))

    async def first_seen(self, checks: dict[str, Callable[[], bool]], timeout_s: float = 20.0) -> None:
        """Polls every check together; each is marked when it first holds (to a poll's resolution)."""
        pending = dict(checks)
        deadline = time.monotonic() + timeout_s
        while pending:
            for step, check in list(pending.items()):
                if check():
                    self.mark(step)
                    del pending[step]
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached within {timeout_s:.0f} s: {', '.join(pending)}")
            await asyncio.sleep(POLL_S)

    def report(self) -> str:
        lines, previous = [], 0.0
        for step, at in sorted(self.steps, key=lambda s: s[1]):
            lines.append(f"  {step:<64} +{(at - previous) * 1000:7.1f} ms   (t = {at * 1000:7.1f} ms)")
            previous = at
        return "PetPooja end-to-end timings (t from the guest's POST /orders):\n" + "\n".join(lines)


@pytest.fixture
def processes(app_conninfo: str, signing_key_pem: str, standin: Standin, petpooja_standin: PetpoojaStandin,
              tmp_path: Path) -> Iterator[str]:
    """The API (uvicorn on a real port) and the worker, both pointed at the two stand-ins; yields the API's URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = {
        "DATABASE_URL": app_conninfo, "ENV_MODE": "test", "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING",
        "JWT_PRIVATE_KEY": signing_key_pem, "JWT_ISSUER": ISSUER, "PUBLIC_BASE_URL": url,
        "PASSWORD_TIME_COST": "1", "PASSWORD_MEMORY_KIB": "64", "RATE_LIMIT_LOGIN": "1000/minute",
        "RATE_LIMIT_QR_SESSION": "1000/minute", "RATE_LIMIT_ORDER_CREATE": "1000/minute",
        "CONVEX_URL": standin.url, "CONVEX_DEPLOY_KEY": STANDIN_KEY, "CONVEX_TIMEOUT_S": "5",
        "SYNC_GRACE_S": "0", "SYNC_BACKOFF_BASE_S": "0.05", "SYNC_BACKOFF_MAX_S": "0.2",
        "SYNC_RETRY_INTERVAL_S": "0.5", "WORKER_METRICS_PORT": "0",
        "PETPOOJA_SANDBOX_URL": petpooja_standin.url, "PETPOOJA_TIMEOUT_S": "5",
        "PETPOOJA_CREDENTIALS_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    api = spawn([sys.executable, "-m", "uvicorn", "api.app:app", "--fd", str(listener.fileno()), "--no-access-log"],
                env, tmp_path / "api.log", pass_fds=[listener.fileno()])
    listener.close()
    worker = spawn([sys.executable, "-m", "sync.worker"], env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or api.poll() is not None:
                raise AssertionError(f"the API did not start: {(tmp_path / 'api.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        stop(worker)
        stop(api)
    for name in ("api.log", "worker.log"):  # a failure in either process fails the test
        text = (tmp_path / name).read_text()
        assert "Traceback" not in text and not [line for line in text.splitlines() if _error(line)], (
            f"{name}:\n{text[-4000:]}")


def _error(line: str) -> bool:
    try:
        event = json.loads(line)
    except ValueError:
        return False
    return isinstance(event, dict) and event.get("level") in {"error", "critical"}


@pytest.fixture
def convex() -> Iterator[httpx.Client]:
    """A persistent client for the Convex stand-in: building one per poll costs more than the steps being timed."""
    with httpx.Client(timeout=10, headers={"Authorization": f"Convex {STANDIN_KEY}"}) as client:
        yield client


async def test_a_qr_order_goes_to_petpooja_and_its_callbacks_come_back_to_the_order_and_convex(
        processes: str, petpooja_standin: PetpoojaStandin, standin: Standin, convex: httpx.Client,
        db_sql: DbSql) -> None:
    url = processes
    petpooja_standin.register(REST_ID, **KEYS)
    async with httpx.AsyncClient(base_url=url, timeout=10) as web:
        # The restaurant, its menu and a table, and the PetPooja connection, all through the API.
        owner = {"email": "owner-e2e@example.com", "password": "correct horse battery", "full_name": "Owner"}
        expect(await web.post("/api/auth/register", json=owner), 201)
        token = expect(await web.post("/api/auth/login", json={k: owner[k] for k in ("email", "password")}),
                       200)["access_token"]
        staff = {"Authorization": f"Bearer {token}"}
        r = expect(await web.post("/api/restaurants", headers=staff, json={
            "name": "E2E Bistro", "currency": "INR", "timezone": "Asia/Kolkata", "tax_rate_bps": 500}), 201)
        base = f"/api/restaurants/{r['id']}"
        category = expect(await web.post(f"{base}/menu/categories", headers=staff, json={"name": "Mains"}), 201)
        items = [expect(await web.post(f"{base}/menu/items", headers=staff, json={
            "category_id": category["id"], "name": name, "price": price}), 201)
            for name, price in (("Paneer Tikka", 24900), ("Masala Chai", 7900))]
        table = expect(await web.post(f"{base}/tables", headers=staff, json={"label": "T7", "seats": 4}), 201)
        connected = expect(await web.put(f"{base}/integrations/petpooja", headers=staff, json={
            "rest_id": REST_ID, "environment": "sandbox", **KEYS}), 200)
        assert connected["callback_urls"]["order_status"].startswith(f"{url}/api/webhooks/petpooja/order-status/")
        guest = expect(await web.post(f"/api/qr/{table['qr_token']}/session"), 201)
        guest_headers = {"Authorization": f"Bearer {guest['session_token']}"}
        await until(lambda: any(t["pgId"] == table["id"] for t in standin.dump()["tables"]), "the table in Convex")

        clock = Clock()
        order = expect(await web.post(f"{base}/orders", headers=guest_headers, json={"items": [
            {"menu_item_id": items[0]["id"], "quantity": 2}, {"menu_item_id": items[1]["id"], "quantity": 1}]}), 201)
        clock.mark("guest order placed (POST /orders answered 201)")

        def convex_status() -> str | None:
            dump = convex.get(f"{standin.url}/_standin/dump").json()
            return next((o["status"] for o in dump["orders"] if o["pgId"] == order["id"]), None)

        def at_pos() -> list[dict[str, Any]]:
            return [o for o in petpooja_standin.saved() if o["clientOrderID"] == order["id"]]

        def answered() -> bool:
            return bool(db_sql("SELECT 1 FROM petpooja_orders WHERE order_id = %s AND pushed_at IS NOT NULL",
                               (order["id"],)))

        # The push to Convex (the API, after commit) and to PetPooja (the worker, on NOTIFY)
        # race: each is timed from the order's 201 to when it is first seen (to a poll's
        # resolution), the stand-in's arrival by its own clock.
        await clock.first_seen({
            "order on the Convex kitchen screen (pending)": lambda: convex_status() == "pending",
            "PetPooja's answer recorded on our order": answered,
        })
        [pos] = at_pos()
        clock.at("worker pushed it: save_order arrived at the PetPooja stand-in", pos["received_at"])
        sent = pos["body"]["orderinfo"]["OrderInfo"]
        assert sent["Order"]["details"]["order_type"] == "D" and sent["Order"]["details"]["table_no"] == "T7"
        assert sent["Order"]["details"]["total"] == f"{order['total'] / 100:.2f}"
        assert [(i["name"], i["quantity"]) for i in sent["OrderItem"]["details"]] == [
            ("Paneer Tikka", "2"), ("Masala Chai", "1")]
        assert pos["callback_url"] == connected["callback_urls"]["order_status"]

        # PetPooja walks it: accepted, food ready, dispatched (no meaning for dine-in), delivered.
        for code, status in (("1", "confirmed"), ("5", "ready"), ("4", None), ("10", "served")):
            answer = petpooja_standin.callback(order["id"], code)
            assert answer["status_code"] == 200, answer
            clock.mark(f"callback {code:>2} sent by PetPooja, answered 200 by our webhook")
            if status is None:
                continue
            now = expect(await web.get(f"{base}/orders/{order['id']}", headers=staff), 200)
            assert now["status"] == status  # moved in the webhook's own transaction
            await clock.first_seen({f"  order {status} on the Convex kitchen screen": (
                lambda status=status: convex_status() == status)})

    print("\n" + clock.report())
    [row] = db_sql("SELECT petpooja_order_id FROM petpooja_orders WHERE order_id = %s", (order["id"],))
    assert row["petpooja_order_id"] == pos["orderID"]
    events = db_sql("SELECT from_status, to_status FROM order_events WHERE order_id = %s AND actor_type = 'petpooja'"
                    " ORDER BY id", (order["id"],))
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        ("pending", "confirmed"), ("confirmed", "ready"), ("ready", "served")]
    deliveries = db_sql("SELECT kind, result FROM webhook_deliveries WHERE restaurant_id = %s ORDER BY id",
                        (r["id"],))
    assert [d["kind"] for d in deliveries] == ["order-status"] * 4
    # The order went out once, and nothing was sent to PetPooja twice.
    assert len(at_pos()) == 1 and at_pos()[0]["resends"] == 0
    assert petpooja_standin.stats()["calls"]["save_order"] == 1
