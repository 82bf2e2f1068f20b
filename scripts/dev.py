"""The dev runner: the whole system on one machine with demo data.

    bash scripts/dev            # installs, then runs this
    bash scripts/dev --reset    # wipes the embedded database first
    bash scripts/dev --check    # starts everything, places a demo order, stops (a smoke test)

With DATABASE_URL unset it starts an embedded PostgreSQL (data under .data/pg, git-ignored)
and connects the app as the unprivileged role tabletop_app; with DATABASE_URL set it uses
that database (DATABASE_ADMIN_URL, if given, migrates it). Then it applies the pending
migrations (db/migrate.py: an existing database, even one made from schema.sql before
migrations, is upgraded in place), seeds the demo restaurant, starts the Procfile's
processes with honcho, and prints how to try it.

In development mode (PETPOOJA_SANDBOX_URL unset) it also starts the local PetPooja stand-in
(scripts/petpooja_standin.py), registers the demo outlet there, connects the demo restaurant
to it and points the API and the worker at it, so QR orders flow to the "POS" and the
stand-in's callbacks flow back. Likewise the delivery platforms' stand-ins, each unless its
API URL is set (UBEREATS_API_URL, DOORDASH_API_URL, GRUBHUB_API_URL): Uber Eats, DoorDash and
Grubhub (scripts/*_standin.py). The demo restaurant's store on each gets its menu, menu edits
follow (debounce 2 s here, so a demo edit shows quickly), and orders placed there reach the
kitchen. Unless SMTP_HOST is set, it starts the local SMTP stand-in (scripts/smtp_standin.py)
and points the worker's email target at it: password reset mails land there, readable at
its /_standin/messages. Unless STRIPE_API_BASE is set, it starts the Stripe stand-in
(scripts/stripe_standin.py), points the API and the worker's refund target at it, and has it
post its signed events to this API's /api/webhooks/stripe.

It builds the reference kitchen display (kitchen/, `vite build` unless kitchen/dist is up to
date) and serves it with scripts/kitchen_server.py at http://127.0.0.1:8001/ (KITCHEN_PORT;
a free port if that one is taken), pointed at this API and at the Convex URL (the stand-in's,
or CONVEX_URL), and adds its origin to the API's CORS_ORIGINS (docs/kitchen-display.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from db import embedded, migrate
from db.credentials import load_box
from scripts import kitchen_server
from scripts import platform_standins as standins
from scripts.seed import (
    DEMO_PASSWORD,
    DEMO_PETPOOJA_KEYS,
    DEMO_PETPOOJA_REST_ID,
    DEMO_PLATFORM_STORES,
    DEMO_UBEREATS_STORE_ID,
    connect_demo_petpooja,
    connect_demo_platform,
    seed,
)

ROOT = Path(__file__).resolve().parent.parent
# TABLETOP_PG_DIR: another embedded server's data (tests run the runner on one of their own).
PG_DIR = Path(os.environ.get("TABLETOP_PG_DIR") or ROOT / ".data" / "pg")
DEV_DB = "tabletop"
DEV_CONVEX_KEY = "dev-admin-key"  # the local stand-in's admin key; a real deployment has its own


def _start_standin(base: str) -> tuple[subprocess.Popen[str], str]:
    """The local Convex stand-in (a test and dev substitute for a deployment)."""
    env = {**os.environ, "CONVEX_DEPLOY_KEY": DEV_CONVEX_KEY,
           "CONVEX_STANDIN_PORT": os.environ.get("CONVEX_STANDIN_PORT", "0"),
           "TABLETOP_JWKS_URL": f"{base}/.well-known/jwks.json", "TABLETOP_JWT_ISSUER": base}
    proc = subprocess.Popen(  # noqa: S603  # our own stand-in, fixed arguments
        [str(ROOT / "node_modules" / ".bin" / "tsx"), "scripts/convex_standin.ts"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,  # tsx runs node as a child
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("convex-standin listening on "):
        proc.kill()
        raise SystemExit(f"the Convex stand-in did not start: {line!r}")
    return proc, line.split()[-1]


def _start_partner_standin(module: str, name: str, args: list[str]) -> tuple[subprocess.Popen[str], str]:
    """``python -m scripts.<module> <args>``, once it prints its ready line; answers it and its URL."""
    proc = subprocess.Popen(  # noqa: S603  # our own stand-in, fixed arguments
        [sys.executable, "-m", f"scripts.{module}", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(f"{module.replace('_', '-')} ready "):
        proc.kill()
        raise SystemExit(f"the {name} stand-in did not start: {line!r}")
    return proc, line.split()[-1]


def _start_petpooja_standin() -> tuple[subprocess.Popen[str], str]:
    """The local PetPooja stand-in, with the demo outlet registered (its menu named like the seed's)."""
    proc, url = _start_partner_standin("petpooja_standin", "PetPooja", [
        "--port", os.environ.get("PETPOOJA_STANDIN_PORT", "0"),
        "--menu", str(ROOT / "scripts" / "petpooja_standin_menu.json")])
    httpx.put(f"{url}/_standin/outlets/{DEMO_PETPOOJA_REST_ID}", json=DEMO_PETPOOJA_KEYS).raise_for_status()
    return proc, url


def _start_platform_standin(platform: str, base: str) -> tuple[subprocess.Popen[str], str, dict[str, str]]:
    """A delivery platform's local stand-in with the demo store registered on it; answers the
    process, its URL and the variables that point the API and the worker at it."""
    port = os.environ.get(f"{platform.upper()}_STANDIN_PORT", "0")
    proc, url = _start_partner_standin(f"{platform}_standin", standins.LABELS[platform], ["--port", port])
    store_id, credentials = DEMO_PLATFORM_STORES[platform]  # type: ignore[index]
    standins.register(platform, url, store_id, credentials, base)
    debounce = os.environ.get(f"{platform.upper()}_DEBOUNCE_S", "2")
    return proc, url, {**standins.env(platform, url, currency="INR"), f"{platform.upper()}_DEBOUNCE_S": debounce}


def _start_kitchen(base: str, convex_url: str) -> tuple[subprocess.Popen[str], str]:
    """Builds the kitchen display if its sources changed, and serves it pointed at this API and Convex."""
    _say("kitchen display: building (vite build kitchen)" if not kitchen_server.is_built()
         else "kitchen display: kitchen/dist is up to date")
    try:
        kitchen_server.build()
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from exc
    return _start_partner_standin("kitchen_server", "kitchen display", [
        "--api", base, "--convex", convex_url, "--port", os.environ.get("KITCHEN_PORT", "8001")])


def _with_origins(configured: str, kitchen_url: str) -> str:
    """CORS_ORIGINS plus the kitchen display's origin, by address and as localhost."""
    origin = kitchen_url.rstrip("/")
    ours = [origin, origin.replace("://127.0.0.1:", "://localhost:", 1)]
    return ",".join([o for o in configured.split(",") if o.strip()] + ours)


def _kitchen_check(kitchen_url: str, base: str) -> None:
    """The display's page and its config.json are served, and the API lets its origin call it."""
    page = httpx.get(kitchen_url)
    config = httpx.get(f"{kitchen_url}config.json").json()
    origin = kitchen_url.rstrip("/")
    preflight = httpx.options(f"{base}/api/auth/login", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    if page.status_code != 200 or "<title>Tabletop kitchen</title>" not in page.text or config["apiUrl"] != base \
            or preflight.headers.get("access-control-allow-origin") != origin:
        raise SystemExit(f"the kitchen display is not served right: page {page.status_code}, config {config}, "
                         f"CORS preflight {preflight.status_code} {dict(preflight.headers)}")
    _say(f"check: kitchen display served at {kitchen_url} (API {config['apiUrl']}, Convex {config['convexUrl']})")


def _embedded_urls(reset: bool) -> tuple[str, str]:
    if reset and PG_DIR.exists():
        shutil.rmtree(PG_DIR)
    socket_dir = embedded.start(PG_DIR, keep_running=False)
    admin_postgres = embedded.conninfo(socket_dir, "postgres", user="postgres")
    with psycopg.connect(admin_postgres, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DEV_DB,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DEV_DB)))
    return embedded.conninfo(socket_dir, DEV_DB, user="postgres"), embedded.conninfo(socket_dir, DEV_DB)


def _say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m" if sys.stdout.isatty() else f"==> {message}", flush=True)


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the processes exited before the API became ready (see their output above)")
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the API was not ready within {timeout_s:.0f}s")


def _try_it(base: str, rid: str, qr: str, item: str, convex_url: str | None, petpooja_url: str | None,
            platform_urls: dict[str, str], kitchen_url: str | None) -> str:
    uber_url = platform_urls.get("ubereats")
    uber = "" if uber_url is None else f"""
The menu is on Uber Eats too (the local stand-in at {uber_url}, store {DEMO_UBEREATS_STORE_ID}).
Mark an item sold out as the owner, and a couple of seconds later Uber shows it suspended:

  OWNER=$(curl -s -X POST {base}/api/auth/login -H 'Content-Type: application/json' \\
       -d '{{"email": "owner@demo.tabletop", "password": "{DEMO_PASSWORD}"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -X PUT {base}/api/restaurants/{rid}/menu/items/{item}/availability -H "Authorization: Bearer $OWNER" \\
       -H 'Content-Type: application/json' -d '{{"is_available": false}}'
  curl -s {base}/api/restaurants/{rid}/integrations/ubereats -H "Authorization: Bearer $OWNER"
  curl -s {uber_url}/_standin/stores/{DEMO_UBEREATS_STORE_ID}/menu

and order on Uber Eats: the stand-in places the order and sends Uber's signed webhook to the API,
which takes the order (the kitchen sees it) and accepts it back. While the item is sold out the
order is denied back, naming it; put it back on first to see it accepted:

  curl -s -X PUT {base}/api/restaurants/{rid}/menu/items/{item}/availability -H "Authorization: Bearer $OWNER" \\
       -H 'Content-Type: application/json' -d '{{"is_available": true}}'

  UBER_ORDER=$(curl -s -X POST {uber_url}/_standin/orders -H 'Content-Type: application/json' \\
       -d '{{"store_id": "{DEMO_UBEREATS_STORE_ID}", "currency": "INR", "cart_items": [{{"id": "{item}", "quantity": 1, "price": 24900}}]}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -s -X POST {uber_url}/_standin/webhook -H 'Content-Type: application/json' \\
       -d '{{"url": "{base}/api/webhooks/ubereats", "event_type": "orders.notification", "store_id": "{DEMO_UBEREATS_STORE_ID}", "resource_id": "'$UBER_ORDER'"}}'
  curl -s {uber_url}/_standin/orders
"""
    others = _try_other_platforms(base, rid, item, platform_urls)
    pos = "" if petpooja_url is None else f"""
see it reach the PetPooja POS (the local stand-in at {petpooja_url}) and walk it through the
kitchen as PetPooja would (1 accepted, 5 food ready, 10 delivered = served at the table):

  curl -s {petpooja_url}/_standin/orders
  ORDER=$(curl -s {petpooja_url}/_standin/orders | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["clientOrderID"])')
  curl -s -X POST {petpooja_url}/_standin/orders/$ORDER/callback -H 'Content-Type: application/json' -d '{{"status": "1"}}'
  curl -s -X POST {petpooja_url}/_standin/orders/$ORDER/callback -H 'Content-Type: application/json' -d '{{"status": "5"}}'
"""
    convex = "" if convex_url is None else f"""
and see it on the kitchen screen through Convex ({convex_url}):

  CONVEX_TOKEN=$(curl -s -X POST {base}/api/restaurants/{rid}/convex-token -H "Authorization: Bearer $STAFF" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  curl -s -X POST {convex_url}/api/query -H "Authorization: Bearer $CONVEX_TOKEN" -H 'Content-Type: application/json' \\
       -d '{{"path": "orders:liveByStatus", "args": {{}}, "format": "json"}}'
"""
    kitchen = "" if kitchen_url is None else f"""
The kitchen display is at {kitchen_url}  (log in as kitchen@demo.tabletop, password
{DEMO_PASSWORD}): orders placed below appear there live through Convex, and its buttons move them.
"""
    return f"""
The API is up at {base}  (demo logins: owner@demo.tabletop, kitchen@demo.tabletop,
staff@demo.tabletop, admin@demo.tabletop; password {DEMO_PASSWORD})
{kitchen}
Try it: scan table T1's QR code, then order from the "phone":

  TOKEN=$(curl -s -X POST {base}/api/qr/{qr}/session | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_token"])')
  curl -s -X POST {base}/api/restaurants/{rid}/orders \\
       -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -H "Idempotency-Key: $(python3 -c 'import uuid; print(uuid.uuid4())')" \\
       -d '{{"items": [{{"menu_item_id": "{item}", "quantity": 2}}]}}'

and watch it as the kitchen:

  STAFF=$(curl -s -X POST {base}/api/auth/login -H 'Content-Type: application/json' \\
       -d '{{"email": "kitchen@demo.tabletop", "password": "{DEMO_PASSWORD}"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s "{base}/api/restaurants/{rid}/orders?status=pending" -H "Authorization: Bearer $STAFF"
{pos}{convex}{uber}{others}
Metrics: {base}/metrics (the API) and http://127.0.0.1:{os.environ.get("WORKER_METRICS_PORT", "9108")}/metrics (the worker).
Ctrl-C stops everything.
"""


def _try_other_platforms(base: str, rid: str, item: str, urls: dict[str, str]) -> str:
    dd, gh = urls.get("doordash"), urls.get("grubhub")
    if dd is None and gh is None:
        return ""
    text = f"""
DoorDash and Grubhub have the menu too (owner session above): change a price and see it there,
then order on each; the order is taken here (the kitchen sees it) and confirmed back:

  curl -s -X PATCH {base}/api/restaurants/{rid}/menu/items/{item} -H "Authorization: Bearer $OWNER" \\
       -H 'Content-Type: application/json' -d '{{"price": 25900}}'
  curl -s {base}/api/restaurants/{rid}/integrations -H "Authorization: Bearer $OWNER"
"""
    if dd is not None:
        store = DEMO_PLATFORM_STORES["doordash"][0]
        text += f"""
  curl -s {dd}/_standin/menus
  DD_ORDER=$(curl -s -X POST {dd}/_standin/orders -H 'Content-Type: application/json' \\
       -d '{{"store_id": "{store}", "items": [{{"merchant_supplied_id": "{item}", "quantity": 1, "price": 25900}}]}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -s -X POST {dd}/_standin/webhook -H 'Content-Type: application/json' \\
       -d '{{"url": "{base}/api/webhooks/doordash", "kind": "order", "order_id": "'$DD_ORDER'"}}'
  curl -s {dd}/_standin/orders
"""
    if gh is not None:
        merchant = DEMO_PLATFORM_STORES["grubhub"][0]
        text += f"""
  curl -s {gh}/_standin/merchants/{merchant}/menu
  GH_ORDER=$(curl -s -X POST {gh}/_standin/orders -H 'Content-Type: application/json' \\
       -d '{{"merchant_id": "{merchant}", "currency": "INR", "items": [{{"item_id": "{item}", "quantity": 1, "price": 259.0}}]}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["order_uuid"])')
  curl -s -X POST {gh}/_standin/webhook -H 'Content-Type: application/json' \\
       -d '{{"url": "{base}/api/webhooks/grubhub", "event_type": "NEW_ORDER", "merchant_id": "{merchant}", "order_uuid": "'$GH_ORDER'"}}'
  curl -s {gh}/_standin/orders
"""
    return text


@functools.cache
def _kitchen_token(base: str, rid: str) -> str:
    """The kitchen's Convex token from the API, as a dashboard gets it: once (logging in at every
    look would run into the login rate limit; the token outlives a check run)."""
    login = httpx.post(f"{base}/api/auth/login", json={"email": "kitchen@demo.tabletop", "password": DEMO_PASSWORD})
    staff = {"Authorization": f"Bearer {login.json()['access_token']}"}
    token: str = httpx.post(f"{base}/api/restaurants/{rid}/convex-token", headers=staff).json()["token"]
    return token


def _kitchen_screen(base: str, rid: str, convex_url: str) -> list[dict[str, object]]:
    """What a kitchen dashboard sees: live orders through Convex, with a Convex token from the API."""
    token = _kitchen_token(base, rid)
    answer = httpx.post(f"{convex_url}/api/query", headers={"Authorization": f"Bearer {token}"},
                        json={"path": "orders:liveByStatus", "args": {}, "format": "json"}).json()
    if answer.get("status") != "success":
        raise SystemExit(f"the Convex query failed: {answer}")
    orders: list[dict[str, object]] = answer["value"]
    return orders


def _pos_walk(base: str, rid: str, order: dict[str, object], petpooja_url: str) -> None:
    """Waits for the worker to push the order to the PetPooja stand-in, then walks it through
    PetPooja's accepted and food-ready callbacks and sees our order move."""
    started = time.monotonic()
    deadline = started + 15
    while time.monotonic() < deadline:
        stored = [o for o in httpx.get(f"{petpooja_url}/_standin/orders").json()
                  if o["kind"] == "save_order" and o["clientOrderID"] == order["id"]]
        if stored:
            break
        time.sleep(0.1)
    else:
        raise SystemExit("the order did not reach the PetPooja stand-in within 15 s")
    _say(f"check: order #{order['number']} reached the PetPooja POS stand-in as its order {stored[0]['orderID']} "
         f"in {time.monotonic() - started:.2f} s")
    login = httpx.post(f"{base}/api/auth/login", json={"email": "kitchen@demo.tabletop", "password": DEMO_PASSWORD})
    staff = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for code, status in (("1", "confirmed"), ("5", "ready")):
        answer = httpx.post(f"{petpooja_url}/_standin/orders/{order['id']}/callback", json={"status": code}).json()
        if answer.get("status_code") != 200:
            raise SystemExit(f"the PetPooja callback {code} was not taken: {answer}")
        now = httpx.get(f"{base}/api/restaurants/{rid}/orders/{order['id']}", headers=staff).json()
        if now.get("status") != status:
            raise SystemExit(f"after PetPooja's callback {code} the order is {now.get('status')}, not {status}")
        _say(f"check: PetPooja callback {code} moved order #{order['number']} to {status}")


def _wait_for(what: str, check: Any, timeout_s: float = 30) -> float:
    """Seconds until ``check()`` holds; stops the check run when it does not within the timeout."""
    started = time.monotonic()
    while time.monotonic() < started + timeout_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise SystemExit(f"{what} did not happen within {timeout_s:.0f} s")


def _uber_walk(base: str, rid: str, item: str, uber_url: str, convex_url: str | None) -> None:
    """Waits for the demo menu on the Uber Eats stand-in, marks an item sold out as the owner,
    and sees Uber suspend it (its item call, not a whole upload), then puts it back."""
    def uber_item() -> dict[str, Any] | None:
        answer = httpx.get(f"{uber_url}/_standin/stores/{DEMO_UBEREATS_STORE_ID}/menu")
        found = [i for i in answer.json()["items"] if i["id"] == item] if answer.status_code == 200 else []
        return found[0] if found else None

    _wait_for("the demo menu on Uber Eats", lambda: uber_item() is not None)
    _say(f"check: the demo menu is on the Uber Eats stand-in (store {DEMO_UBEREATS_STORE_ID})")
    login = httpx.post(f"{base}/api/auth/login", json={"email": "owner@demo.tabletop", "password": DEMO_PASSWORD})
    owner = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for available in (False, True):
        httpx.put(f"{base}/api/restaurants/{rid}/menu/items/{item}/availability", headers=owner,
                  json={"is_available": available}).raise_for_status()

        def suspended_as_wanted(available: bool = available) -> bool:
            found = uber_item()
            until = ((found or {}).get("suspension_info") or {}).get("suspension", {}).get("suspend_until")
            return found is not None and bool(until) != available

        took = _wait_for("the availability change on Uber Eats", suspended_as_wanted)
        _say(f"check: {'back on' if available else 'sold out'} here -> "
             f"{'unsuspended' if available else 'suspended'} on Uber Eats in {took:.1f} s")



def _platforms_walk(base: str, rid: str, item: str, urls: dict[str, str], convex_url: str | None) -> None:
    """A price edit here reaches every platform's stand-in; an order on each is taken here,
    accepted back and reaches the kitchen screen."""
    def price_on(platform: str) -> int | None:
        return standins.price_on(platform, urls[platform], DEMO_PLATFORM_STORES[platform][0], item)  # type: ignore[index]

    for platform in urls:
        _wait_for(f"the demo menu on {platform}", partial(price_on, platform))
    login = httpx.post(f"{base}/api/auth/login", json={"email": "owner@demo.tabletop", "password": DEMO_PASSWORD})
    owner = {"Authorization": f"Bearer {login.json()['access_token']}"}
    price = (price_on(next(iter(urls))) or 0) + 1000
    httpx.patch(f"{base}/api/restaurants/{rid}/menu/items/{item}", headers=owner,
                json={"price": price}).raise_for_status()
    took = _wait_for("the price edit on every platform", lambda: all(price_on(p) == price for p in urls))
    _say(f"check: a price edit here reached {', '.join(urls)} in {took:.1f} s")
    # Each platform's order at the new price adds a card to the kitchen screen: ``taken`` so far.
    for taken, platform in enumerate(urls, start=1):
        store_id = DEMO_PLATFORM_STORES[platform][0]  # type: ignore[index]
        external = standins.place_order(platform, urls[platform], store_id, item, price, currency="INR")
        sent = standins.order_webhook(platform, urls[platform], store_id, external, base, send=True)
        if sent.get("status_code") != 200:
            raise SystemExit(f"the API did not take {platform}'s webhook: {sent}")
        took = _wait_for(f"the {platform} order accepted", partial(standins.accepted, platform, urls[platform],
                                                                   external))
        _say(f"check: {platform} order {external} taken here and accepted back in {took:.1f} s")
        if convex_url is not None:
            def on_screen(cards: int = taken, convex: str = convex_url) -> bool:
                return cards == sum(1 for o in _kitchen_screen(base, rid, convex)
                                    if o.get("orderType") == "delivery" and o.get("total") == price)

            took = _wait_for(f"the {platform} order on the kitchen screen", on_screen)
            _say(f"check: the {platform} order is on the kitchen screen (Convex) {took:.1f} s later")


def _check(base: str, rid: str, qr: str, item: str, convex_url: str | None, petpooja_url: str | None) -> None:
    """Places the demo order the instructions describe; with the PetPooja stand-in, sees it reach
    the POS and come back through callbacks; with Convex, sees it on the kitchen screen."""
    session = httpx.post(f"{base}/api/qr/{qr}/session").json()
    headers = {"Authorization": f"Bearer {session['session_token']}"}
    response = httpx.post(f"{base}/api/restaurants/{rid}/orders", headers=headers,
                          json={"items": [{"menu_item_id": item, "quantity": 2}]})
    response.raise_for_status()
    order = response.json()
    _say(f"check: placed order #{order['number']} total {order['total']} {order['currency']} minor units")
    if petpooja_url is not None:
        _pos_walk(base, rid, order, petpooja_url)
    if convex_url is None:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen = [o for o in _kitchen_screen(base, rid, convex_url) if o["pgId"] == order["id"]]
        if seen and (petpooja_url is None or seen[0]["status"] == "ready"):
            _say(f"check: order #{order['number']} is on the kitchen screen (Convex, {seen[0]['status']}, "
                 f"version {seen[0]['version']})")
            return
        time.sleep(0.1)
    raise SystemExit("the order did not reach Convex within 10 s")


class _Stop(Exception):
    """SIGTERM or SIGHUP: stop everything as Ctrl-C would."""


def _on_signal(signum: int, _frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def _stop_group(process: subprocess.Popen[Any] | None, grace_s: float) -> None:
    """SIGTERM to the process's group (it was started in a session of its own), SIGKILL after the grace."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reset", action="store_true", help="wipe the embedded database first")
    parser.add_argument("--check", action="store_true", help="start, place a demo order, stop")
    args = parser.parse_args()
    # Ctrl-C, SIGTERM (process managers, containers, CI) and SIGHUP stop everything. SIGINT gets
    # a handler of its own too: a runner started in the background by a shell inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt (found by hand: Ctrl-C sent to
    # such a run's group stopped nothing).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    started: list[subprocess.Popen[Any]] = []
    try:
        _run(args, started)
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        for process in reversed(started):  # honcho (API, worker) first, then the stand-ins
            _stop_group(process, grace_s=10)
        if not os.environ.get("DATABASE_URL"):
            embedded.stop(PG_DIR)  # ours: started (or reused) by this run


def _run(args: argparse.Namespace, started: list[subprocess.Popen[Any]]) -> None:
    """Starts everything, recording each process in ``started`` as soon as it runs."""
    port = os.environ.get("PORT", "8000")
    base = f"http://127.0.0.1:{port}"
    if os.environ.get("DATABASE_URL"):
        app_url = os.environ["DATABASE_URL"]
        admin_url = os.environ.get("DATABASE_ADMIN_URL", app_url)
        _say("using DATABASE_URL")
    else:
        _say(f"starting embedded PostgreSQL in {PG_DIR}")
        admin_url, app_url = _embedded_urls(args.reset)
    try:
        applied = migrate.upgrade(admin_url, progress=lambda line: _say(f"schema: {line}"))
    except migrate.MigrationError as exc:
        raise SystemExit(f"schema: {exc}") from exc
    _say(f"schema: at version {migrate.expected_version()} ({len(applied)} migration(s) applied now)")
    demo = asyncio.run(seed(app_url))
    _say(f"demo restaurant {demo.restaurant_id} seeded")
    convex_env = {}
    if not os.environ.get("CONVEX_URL"):
        standin, convex_url = _start_standin(base)
        started.append(standin)
        convex_env = {"CONVEX_URL": convex_url, "CONVEX_DEPLOY_KEY": DEV_CONVEX_KEY}
        _say(f"local Convex stand-in at {convex_url} (test and dev substitute, in memory)")
        # It starts empty every time: rebuild it from Postgres, as an operator would.
        subprocess.run(  # our own fullSync, fixed arguments
            [sys.executable, "-m", "scripts.fullSync"], cwd=ROOT, check=True,
            env={**os.environ, "DATABASE_URL": app_url, **convex_env},
        )

    petpooja_url, petpooja_env = None, {}
    if not os.environ.get("PETPOOJA_SANDBOX_URL"):
        petpooja_standin, petpooja_url = _start_petpooja_standin()
        started.append(petpooja_standin)
        petpooja_env = {"PETPOOJA_SANDBOX_URL": petpooja_url}
        box = load_box(os.environ.get("PETPOOJA_CREDENTIALS_KEY"), os.environ.get("PETPOOJA_CREDENTIALS_KEY_ID"))
        connected = asyncio.run(connect_demo_petpooja(app_url, box))
        _say(f"local PetPooja stand-in at {petpooja_url} (test and dev substitute, in memory); demo restaurant "
             f"{'connected to' if connected else 'already connected to'} its outlet {DEMO_PETPOOJA_REST_ID}")

    platform_urls: dict[str, str] = {}
    platform_env: dict[str, str] = {}
    for platform in DEMO_PLATFORM_STORES:
        if os.environ.get(f"{platform.upper()}_API_URL"):
            continue
        platform_standin, platform_urls[platform], variables = _start_platform_standin(platform, base)
        started.append(platform_standin)
        platform_env.update(variables)
        box = load_box(os.environ.get("PETPOOJA_CREDENTIALS_KEY"), os.environ.get("PETPOOJA_CREDENTIALS_KEY_ID"))
        asyncio.run(connect_demo_platform(app_url, box, platform))
        _say(f"local {platform} stand-in at {platform_urls[platform]} (test and dev substitute, in memory); "
             f"demo restaurant connected to its store {DEMO_PLATFORM_STORES[platform][0]}")

    smtp_env: dict[str, str] = {}
    if not os.environ.get("SMTP_HOST"):
        smtp_standin, mail_url = _start_partner_standin("smtp_standin", "SMTP", ["--port", "0", "--http-port", "0"])
        started.append(smtp_standin)
        smtp_port = httpx.get(f"{mail_url}/_standin/info").json()["smtp_port"]
        smtp_env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port)}
        _say(f"local SMTP stand-in at smtp://127.0.0.1:{smtp_port} (keeps every email in memory); "
             f"read the mail with: curl -s {mail_url}/_standin/messages")

    stripe_env: dict[str, str] = {}
    if not os.environ.get("STRIPE_API_BASE"):
        # Stripe's API on loopback for the official client, posting its signed events to this API.
        stripe_standin, stripe_url = _start_partner_standin("stripe_standin", "Stripe", [
            "--port", os.environ.get("STRIPE_STANDIN_PORT", "0"), "--webhook-url", f"{base}/api/webhooks/stripe"])
        started.append(stripe_standin)
        stripe_env = {"STRIPE_API_BASE": stripe_url}
        _say(f"local Stripe stand-in at {stripe_url} (test and dev substitute, in memory); pay an order with: "
             f"curl -s -u sk_test_tabletop_standin_0000000000000000: "
             f"{stripe_url}/v1/payment_intents/<payment_intent_id>/confirm -d payment_method=pm_card_visa")

    kitchen_url, kitchen_env = None, {}
    if convex_env.get("CONVEX_URL") or os.environ.get("CONVEX_URL"):
        kitchen_proc, kitchen_url = _start_kitchen(base, convex_env.get("CONVEX_URL") or os.environ["CONVEX_URL"])
        started.append(kitchen_proc)
        kitchen_env = {"CORS_ORIGINS": _with_origins(os.environ.get("CORS_ORIGINS", ""), kitchen_url)}
        _say(f"kitchen display at {kitchen_url} (kitchen/, served by scripts/kitchen_server.py)")

    env = {
        **os.environ,
        "DATABASE_URL": app_url,
        "ENV_MODE": os.environ.get("ENV_MODE", "development"),
        "JWT_ISSUER": os.environ.get("JWT_ISSUER", base),
        "PORT": port,
        "PYTHONUNBUFFERED": "1",
        # The Procfile names uvicorn and python: this venv's, even when it is not activated.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # honcho pipes the processes' output, so they cannot see the terminal themselves.
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "console" if sys.stdout.isatty() else "json"),
        **convex_env,
        **petpooja_env,
        **platform_env,
        **smtp_env,
        **stripe_env,
        **kitchen_env,
    }
    procs = subprocess.Popen(  # noqa: S603  # our own venv's honcho, fixed arguments
        [str(Path(sys.executable).with_name("honcho")), "start", "-f", str(ROOT / "Procfile")],
        cwd=ROOT, env=env, start_new_session=True,
    )
    started.append(procs)
    _wait_ready(base, procs)
    rid, qr, item = str(demo.restaurant_id), demo.qr_tokens["T1"], str(demo.item_ids["Paneer Tikka"])
    if args.check:
        if kitchen_url is not None:
            _kitchen_check(kitchen_url, base)
        _check(base, rid, qr, item, env.get("CONVEX_URL"), petpooja_url)
        if "ubereats" in platform_urls:
            _uber_walk(base, rid, item, platform_urls["ubereats"], env.get("CONVEX_URL"))
        if platform_urls:
            _platforms_walk(base, rid, item, platform_urls, env.get("CONVEX_URL"))
        return
    print(_try_it(base, rid, qr, item, env.get("CONVEX_URL"), petpooja_url, platform_urls, kitchen_url), flush=True)
    procs.wait()


if __name__ == "__main__":
    main()
