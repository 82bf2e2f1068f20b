"""The README's first command: the dev runner starts the Procfile's processes on a
database, seeds the demo restaurant, and a guest can order through the real HTTP server;
in development the order reaches the local PetPooja stand-in and PetPooja's callbacks move
it, all the way to the kitchen screen. The database starts as today's deployments were made
(schema.sql version 4, before migrations), so the runner also upgrades it in place."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
V4_SCHEMA = ROOT / "db" / "migrations" / "0001_initial.sql"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dev_runner_upgrades_an_old_database_in_place_seeds_demo_data_and_serves_a_guest_order(
        admin_conninfo, app_conninfo, db_sql):
    # Back to the schema before migrations: an empty public schema as Postgres makes it, then v4 applied whole.
    db_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION pg_database_owner;"
           " GRANT USAGE ON SCHEMA public TO PUBLIC;")
    db_sql(V4_SCHEMA.read_text())
    # Without the platforms' variables (conftest points them nowhere): the runner starts their stand-ins.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("UBEREATS_", "DOORDASH_", "GRUBHUB_"))},
           "DATABASE_URL": app_conninfo, "DATABASE_ADMIN_URL": admin_conninfo,
           "PORT": str(_free_port()), "LOG_FORMAT": "json"}
    done = subprocess.run(  # our own runner with fixed arguments
        [sys.executable, "-m", "scripts.dev", "--check"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "==> schema: 0001_initial: recorded as applied (baseline" in done.stdout
    assert "==> schema: 0002_migration_history: applied" in done.stdout
    assert db_sql("SELECT to_regclass('public.schema_info') AS t") == [{"t": None}]
    assert "check: placed order #1" in done.stdout
    assert "check: kitchen display served at http://127.0.0.1:" in done.stdout
    assert "local PetPooja stand-in at http://127.0.0.1:" in done.stdout
    assert "check: order #1 reached the PetPooja POS stand-in" in done.stdout
    assert "check: PetPooja callback 1 moved order #1 to confirmed" in done.stdout
    assert "check: PetPooja callback 5 moved order #1 to ready" in done.stdout
    assert "is on the kitchen screen (Convex, ready" in done.stdout
    assert "check: the demo menu is on the Uber Eats stand-in (store demo-bistro-uber)" in done.stdout
    assert "check: sold out here -> suspended on Uber Eats in" in done.stdout
    assert "check: back on here -> unsuspended on Uber Eats in" in done.stdout
    assert "check: a price edit here reached ubereats, doordash, grubhub in" in done.stdout
    for platform in ("ubereats", "doordash", "grubhub"):
        assert f"check: {platform} order " in done.stdout
        assert f"check: the {platform} order is on the kitchen screen (Convex)" in done.stdout
    assert db_sql("SELECT platform, state, totals_differ FROM platform_orders ORDER BY created_at") == [
        {"platform": p, "state": "accepted", "totals_differ": False} for p in ("ubereats", "doordash", "grubhub")]
    assert db_sql("SELECT store_id, sync_status FROM platform_connections ORDER BY platform") == [
        {"store_id": "demo-bistro-dd", "sync_status": "synced"}, {"store_id": "503736", "sync_status": "synced"},
        {"store_id": "demo-bistro-uber", "sync_status": "synced"}]
    [restaurant] = db_sql("SELECT name, tax_rate_bps FROM restaurants")
    assert restaurant == {"name": "Demo Bistro", "tax_rate_bps": 500}
    [order] = db_sql("SELECT status, order_type, session_id IS NOT NULL AS by_guest FROM orders"
                     " WHERE session_id IS NOT NULL")
    assert order == {"status": "ready", "order_type": "dine_in", "by_guest": True}
    [outlet] = db_sql("SELECT rest_id, environment FROM petpooja_outlets")
    assert outlet == {"rest_id": "demo-bistro", "environment": "sandbox"}
    # The guest's order (the Uber Eats order goes to the POS too, with no table).
    [pushed] = db_sql("SELECT p.petpooja_order_id, p.pushed_at IS NOT NULL AS pushed, p.payload->'orderinfo'"
                      "->'OrderInfo'->'Order'->'details'->>'table_no' AS table_no FROM petpooja_orders p"
                      " JOIN orders o ON o.id = p.order_id WHERE o.session_id IS NOT NULL")
    assert pushed == {"petpooja_order_id": pushed["petpooja_order_id"], "pushed": True, "table_no": "T1"}
    assert pushed["petpooja_order_id"].isdigit()
    events = db_sql("SELECT to_status FROM order_events WHERE actor_type = 'petpooja' ORDER BY id")
    assert [e["to_status"] for e in events] == ["confirmed", "ready"]
    assert db_sql("SELECT count(*) AS n FROM users WHERE email LIKE '%%@demo.tabletop'") == [{"n": 4}]
