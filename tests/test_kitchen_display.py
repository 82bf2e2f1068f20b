"""The reference kitchen display (kitchen/) in a real browser: headless Chromium (Debian's
package, driven by Playwright) opens it against the API, the worker, the Convex stand-in and
the display's own server, all as processes; staff log in; a guest's order placed through the
API appears as a card in `pending` through Convex; moves through the API and a click on the
card's button change its column; with Convex down the screen says it is offline and a move
made meanwhile reaches the screen only once Convex has it. Screenshots are saved in
.data/artifacts/ (the test prints their paths)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from db.lifecycle import allowed_moves
from scripts import kitchen_server
from scripts.seed import DEMO_PASSWORD, seed
from tests.conftest import STANDIN_KEY, Standin, free_port, process_env, spawn, start_api, stop

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".data" / "artifacts"
# Generous for a shared 2-core machine; every wait ends as soon as its condition holds.
WAIT_MS = 20_000


def _chromium() -> str:
    """Debian's chromium (scripts/install installs it); missing is a failure, never a skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: run `bash scripts/install` (it installs Debian's chromium "
                    "package), or `apt-get install chromium`; this test needs a real browser")
    return found


def _start_kitchen_server(api_url: str, convex_url: str, port: int, log: Path) -> tuple[subprocess.Popen[str], str]:
    with log.open("ab") as errors:  # the child keeps its own descriptor
        process = subprocess.Popen(  # our own server, fixed arguments
            [sys.executable, "-m", "scripts.kitchen_server", "--api", api_url, "--convex", convex_url,
             "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True,
            start_new_session=True,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    process.stdout.close()  # one line is all it prints
    if not line.startswith("kitchen-server ready "):
        process.kill()
        process.wait()
        raise AssertionError(f"the kitchen server did not start: {line!r}; see {log}")
    return process, line.split()[-1]


def _add_options(db_sql: Any, rid: str, item: str) -> tuple[str, str]:
    """A Large variation and an Extra cheese addon on the demo item (what the PetPooja import
    makes; there is no API to create them)."""
    [variation] = db_sql(
        "INSERT INTO menu_variations (restaurant_id, item_id, name, price, is_available, rank, external_id)"
        " VALUES (%(rid)s, %(item)s, 'Large', 32900, true, 1, 'v-large') RETURNING id", {"rid": rid, "item": item})
    [group] = db_sql("INSERT INTO menu_addon_groups (restaurant_id, name, rank, external_id)"
                     " VALUES (%(rid)s, 'Extras', 1, 'g-extras') RETURNING id", {"rid": rid})
    [addon] = db_sql(
        "INSERT INTO menu_addons (restaurant_id, group_id, name, price, is_available, is_veg, rank, external_id)"
        " VALUES (%(rid)s, %(group)s, 'Extra cheese', 3000, true, true, 1, 'a-cheese') RETURNING id",
        {"rid": rid, "group": group["id"]})
    db_sql("INSERT INTO menu_item_addon_groups (restaurant_id, item_id, group_id, min_select, max_select, rank)"
           " VALUES (%(rid)s, %(item)s, %(group)s, 0, 2, 1)", {"rid": rid, "item": item, "group": group["id"]})
    return str(variation["id"]), str(addon["id"])


@contextlib.contextmanager
def _running(app_conninfo: str, signing_key_pem: str, standin: Standin, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The API, the worker and the display's server as processes, on the Convex stand-in:
    yields the API's URL and the display's."""
    kitchen_port = free_port()
    env = process_env(app_conninfo, signing_key_pem, CONVEX_URL=standin.url, CONVEX_DEPLOY_KEY=STANDIN_KEY,
                      CORS_ORIGINS=f"http://127.0.0.1:{kitchen_port}", SYNC_EPOCH_CHECK_S="0",
                      SYNC_BACKOFF_BASE_S="0.2", SYNC_BACKOFF_MAX_S="1")
    api, api_url = start_api(env, tmp_path / "api.log")
    worker = spawn([sys.executable, "-m", "sync.worker"], env, tmp_path / "worker.log")
    server, kitchen_url = _start_kitchen_server(api_url, standin.url, kitchen_port, tmp_path / "kitchen.log")
    try:
        assert kitchen_url == f"http://127.0.0.1:{kitchen_port}/", "the kitchen port was taken meanwhile"
        yield api_url, kitchen_url
    finally:
        standin.fault("ok")
        for process in (server, worker, api):
            stop(process)  # type: ignore[arg-type]  # a Popen of either mode stops the same way


def _card(page: Page, status: str, order_id: str) -> Any:
    return page.locator(f'[data-status="{status}"] [data-order-id="{order_id}"]')


def _shot(page: Page, name: str, capsys: pytest.CaptureFixture[str]) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    with capsys.disabled():  # on the terminal even when output is captured (not from xdist workers)
        print(f"\nkitchen display screenshot: {path}")
    return path


def test_kitchen_display_shows_a_guest_order_and_moves_it_only_when_convex_says_so(
        app_conninfo: str, signing_key_pem: str, standin: Standin, db_sql: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    chromium = _chromium()
    kitchen_server.build()
    demo = asyncio.run(seed(app_conninfo))
    rid, item = str(demo.restaurant_id), str(demo.item_ids["Paneer Tikka"])
    variation, addon = _add_options(db_sql, rid, item)

    with _running(app_conninfo, signing_key_pem, standin, tmp_path) as (api_url, kitchen_url), \
            sync_playwright() as playwright, httpx.Client(base_url=api_url, timeout=10) as http:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(kitchen_url)
        page.fill('input[name="email"]', "kitchen@demo.tabletop")
        page.fill('input[name="password"]', DEMO_PASSWORD)
        page.click('button[type="submit"]')
        # One membership: the board opens at once, subscribed and authenticated.
        expect(page.locator("#restaurant-name")).to_have_text("Demo Bistro", timeout=WAIT_MS)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=WAIT_MS)

        session = http.post(f"/api/qr/{demo.qr_tokens['T1']}/session").json()
        placed = http.post(
            f"/api/restaurants/{rid}/orders",
            headers={"Authorization": f"Bearer {session['session_token']}", "Idempotency-Key": str(uuid.uuid4())},
            json={"items": [{"menu_item_id": item, "quantity": 2, "variation_id": variation,
                             "addon_ids": [addon], "notes": "no onions"}]})
        assert placed.status_code == 201, placed.text
        at_201 = time.monotonic()
        order = placed.json()
        card = _card(page, "pending", order["id"])
        expect(card).to_be_visible(timeout=WAIT_MS)
        with capsys.disabled():
            print(f"\norder #{order['number']} on the screen {time.monotonic() - at_201:.2f} s after the API's 201")
        for text in (f"#{order['number']}", "T1", "2×", "Paneer Tikka", "Large", "+ Extra cheese", "no onions"):
            expect(card).to_contain_text(text)
        age = card.locator(".age")
        expect(age).not_to_have_text(age.text_content() or "", timeout=WAIT_MS)  # the badge ticks

        # A takeaway for a set time: its card says when it is collected.
        pickup = (datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=1)).replace(
            hour=13, minute=0, second=0, microsecond=0)
        owner_login = http.post("/api/auth/login", json={"email": "owner@demo.tabletop", "password": DEMO_PASSWORD})
        takeaway = http.post(
            f"/api/restaurants/{rid}/orders", json={"items": [{"menu_item_id": item, "quantity": 1,
                                                              "variation_id": variation}],
                                                    "order_type": "takeaway", "pickup_at": pickup.isoformat()},
            headers={"Authorization": f"Bearer {owner_login.json()['access_token']}",
                     "Idempotency-Key": str(uuid.uuid4())})
        assert takeaway.status_code == 201, takeaway.text
        shown = page.evaluate("(ms) => new Date(ms).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'})",
                              pickup.timestamp() * 1000)
        expect(_card(page, "pending", takeaway.json()["id"]).locator(".pickup")).to_have_text(
            f"Pickup {shown}", timeout=WAIT_MS)

        login = http.post("/api/auth/login", json={"email": "kitchen@demo.tabletop", "password": DEMO_PASSWORD})
        staff = {"Authorization": f"Bearer {login.json()['access_token']}"}

        def move(to: str) -> None:
            moved = http.post(f"/api/restaurants/{rid}/orders/{order['id']}/status", headers=staff,
                              json={"status": to})
            assert moved.status_code == 200, moved.text

        move("confirmed")
        expect(_card(page, "confirmed", order["id"])).to_be_visible(timeout=WAIT_MS)
        expect(card).to_have_count(0)
        # The screen's own button: the API moves it, Convex brings it to the next column.
        _card(page, "confirmed", order["id"]).locator('[data-move="preparing"]').click()
        expect(_card(page, "preparing", order["id"])).to_be_visible(timeout=WAIT_MS)
        assert db_sql("SELECT status FROM orders WHERE id = %(id)s", {"id": order["id"]}) == [
            {"status": "preparing"}]
        _shot(page, "kitchen.png", capsys)

        # Convex goes down: the screen says so, keeps the last result, and a move made
        # meanwhile (Postgres has it) shows only once Convex has it again.
        standin.fault("down")
        expect(page.locator("#connection")).to_have_attribute("data-state", "offline", timeout=WAIT_MS)
        expect(page.locator("#connection")).to_contain_text("OFFLINE")
        move("ready")
        page.wait_for_timeout(1000)
        stale = _card(page, "preparing", order["id"])
        expect(stale).to_be_visible()
        # As if another screen had moved it: the screen's own Ready is refused by the API,
        # which says why, and the card stays where Convex last put it.
        stale.locator('[data-move="ready"]').click()
        expect(page.locator(".toast")).to_contain_text(f"#{order['number']}: staff cannot move", timeout=WAIT_MS)
        expect(stale.locator('[data-move="ready"]')).to_be_enabled()
        _shot(page, "kitchen-offline.png", capsys)
        standin.fault("ok")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
        expect(_card(page, "ready", order["id"])).to_be_visible(timeout=WAIT_MS)
        expect(_card(page, "ready", order["id"]).locator('[data-move="served"]')).to_have_text("Served")
        # A reload goes straight back to the board: the refresh token outlives it.
        page.reload()
        expect(_card(page, "ready", order["id"])).to_be_visible(timeout=WAIT_MS)
        expect(page.locator('[data-view="login"]')).to_be_hidden()
        assert errors == []
        browser.close()


def test_a_guest_s_tracker_follows_its_own_order_live_and_shows_no_other_session_s(
        app_conninfo: str, signing_key_pem: str, standin: Standin, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The table-side tracker (kitchen/track.html) on a guest's phone: its session's order
    appears, each staff move through the API reaches it through Convex (with the reason of a
    cancellation), the neighbour's order never shows, and an ended session says so."""
    chromium = _chromium()
    kitchen_server.build()
    demo = asyncio.run(seed(app_conninfo))
    rid, item = str(demo.restaurant_id), str(demo.item_ids["Paneer Tikka"])
    with _running(app_conninfo, signing_key_pem, standin, tmp_path) as (api_url, kitchen_url), \
            sync_playwright() as playwright, httpx.Client(base_url=api_url, timeout=10) as http:
        def order_at(table: str, session: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
            session = session or http.post(f"/api/qr/{demo.qr_tokens[table]}/session").json()
            placed = http.post(f"/api/restaurants/{rid}/orders", json={"items": [{"menu_item_id": item, "quantity": 1}]},
                               headers={"Authorization": f"Bearer {session['session_token']}",
                                        "Idempotency-Key": str(uuid.uuid4())})
            assert placed.status_code == 201, placed.text
            return session, placed.json()

        session, order = order_at("T1")
        _, neighbours = order_at("T2")
        login = http.post("/api/auth/login", json={"email": "kitchen@demo.tabletop", "password": DEMO_PASSWORD})
        staff = {"Authorization": f"Bearer {login.json()['access_token']}"}

        def move(to: str, placed: dict[str, Any] = order, **extra: str) -> None:
            moved = http.post(f"/api/restaurants/{rid}/orders/{placed['id']}/status", headers=staff,
                              json={"status": to, **extra})
            assert moved.status_code == 200, moved.text

        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 420, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{kitchen_url}track.html#session={session['session_token']}")
        tracked = page.locator(f'[data-order="{order["id"]}"]')
        expect(tracked).to_have_attribute("data-status", "pending", timeout=WAIT_MS)
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
        assert "session=" not in page.url  # the token left the address bar
        expect(tracked).to_contain_text(f"#{order['number']}")
        expect(tracked.locator(".steps .current")).to_have_text("Sent to the restaurant")
        move("confirmed")
        expect(tracked).to_have_attribute("data-status", "confirmed", timeout=WAIT_MS)
        move("preparing")
        expect(tracked.locator(".steps .current")).to_have_text("Being prepared", timeout=WAIT_MS)
        expect(page.locator("#unread")).to_have_text("2", timeout=WAIT_MS)
        expect(page.locator("#notifications .notice")).to_have_count(2)
        _shot(page, "tracker.png", capsys)
        move("ready")
        expect(tracked.locator(".steps .current")).to_have_text("Ready", timeout=WAIT_MS)
        # A second order of the session, cancelled with a reason: the guest reads why.
        _, second = order_at("T1", session)
        move("cancelled", second, reason="out of paneer")
        cancelled = page.locator(f'[data-order="{second["id"]}"]')
        expect(cancelled).to_have_attribute("data-status", "cancelled", timeout=WAIT_MS)
        expect(cancelled).to_contain_text("out of paneer")
        expect(page.locator("[data-order]")).to_have_count(2)
        assert page.locator(f'[data-order="{neighbours["id"]}"]').count() == 0
        # A reload keeps following (the token stays in this tab's storage).
        page.reload()
        expect(tracked).to_have_attribute("data-status", "ready", timeout=WAIT_MS)
        # Without a session the page says where to start.
        other = browser.new_page()
        other.goto(f"{kitchen_url}track.html")
        expect(other.locator("#fatal-message")).to_contain_text("Open this page from your order", timeout=WAIT_MS)
        assert errors == []
        browser.close()


def test_every_button_on_a_card_is_a_move_the_lifecycle_allows_staff() -> None:
    # kitchen/src/board.ts's movesFor, run by Node, against db/lifecycle.py: a button the API
    # would refuse (409 invalid_transition) is a bug of the display.
    script = ("import('./kitchen/src/board.ts').then((m) => { const out = {};"
              " for (const t of ['dine_in', 'takeaway', 'delivery'])"
              " for (const s of ['pending', 'confirmed', 'preparing', 'ready', 'served', 'dispatched'])"
              " out[t + ':' + s] = m.movesFor({ status: s, orderType: t }).map((x) => x.to);"
              " console.log(JSON.stringify(out)); })")
    done = subprocess.run([str(ROOT / "node_modules" / ".bin" / "tsx"), "-e", script],  # our own code
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    buttons: dict[str, list[str]] = orjson.loads(done.stdout)
    for key, moves in buttons.items():
        order_type, status = key.split(":")
        assert set(moves) <= set(allowed_moves(order_type, status)), key
        # Each of the board's columns offers a way forward.
        assert moves or status not in ("pending", "confirmed", "preparing", "ready"), key
