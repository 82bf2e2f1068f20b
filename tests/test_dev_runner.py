"""The README's first command: the dev runner starts the Procfile's processes on a
database, seeds the demo restaurant, and a guest can order through the real HTTP server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dev_runner_seeds_demo_data_and_serves_a_guest_order(admin_conninfo, app_conninfo, db_sql):
    env = {**os.environ, "DATABASE_URL": app_conninfo, "DATABASE_ADMIN_URL": admin_conninfo,
           "PORT": str(_free_port()), "LOG_FORMAT": "json"}
    done = subprocess.run(  # our own runner with fixed arguments
        [sys.executable, "-m", "scripts.dev", "--check"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "check: placed order #1" in done.stdout
    [restaurant] = db_sql("SELECT name, tax_rate_bps FROM restaurants")
    assert restaurant == {"name": "Demo Bistro", "tax_rate_bps": 500}
    [order] = db_sql("SELECT status, order_type, session_id IS NOT NULL AS by_guest FROM orders")
    assert order == {"status": "pending", "order_type": "dine_in", "by_guest": True}
    assert db_sql("SELECT count(*) AS n FROM users WHERE email LIKE '%%@demo.tabletop'") == [{"n": 4}]
