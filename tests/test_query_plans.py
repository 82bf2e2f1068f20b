"""The hot queries keep their indexes: the live-orders listing and the order lookup never
fall back to a sequential scan, whatever the planner thinks of a small table."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from db.queries import sql


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


def _seq_scans(conninfo: str, query: str, params: dict[str, Any]) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        # With enable_seqscan off, a plan that still scans sequentially has no usable index.
        conn.execute("SET enable_seqscan = off")
        conn.execute("SELECT set_config('app.restaurant_id', %s, true)", (params["restaurant_id"],))
        row = conn.execute(f"EXPLAIN (FORMAT JSON) {query}", params).fetchone()  # type: ignore[arg-type]  # our named SQL
        assert row is not None
        plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
        return [n.get("Relation Name", "?") for n in _nodes(plan[0]["Plan"]) if n["Node Type"] == "Seq Scan"]


RID = "00000000-0000-0000-0000-0000000000a1"
SESSION = "00000000-0000-0000-0000-0000000000d2"
USER = "00000000-0000-0000-0000-0000000000e1"
PAGE = {"restaurant_id": RID, "since": "-infinity", "cursor_created_at": "infinity",
        "cursor_id": "ffffffff-ffff-ffff-ffff-ffffffffffff", "limit": 50}


@pytest.mark.parametrize(("name", "params"), [
    ("list_orders_by_status", {**PAGE, "statuses": ["pending", "confirmed"]}),
    ("list_orders", PAGE),
    ("get_order", {"restaurant_id": RID, "order_id": "00000000-0000-0000-0000-0000000000b1"}),
    # The restaurant's people read an order with its state at each target (api/integration_state.py).
    ("get_order_with_integrations", {"restaurant_id": RID, "order_id": "00000000-0000-0000-0000-0000000000b1"}),
    ("order_menu", {"restaurant_id": RID, "item_ids": ["00000000-0000-0000-0000-0000000000c1"]}),
    ("order_for_update", {"restaurant_id": RID, "order_id": "00000000-0000-0000-0000-0000000000b1"}),
    # Every guest request checks its session (api/access.py).
    ("guest_session_state", {"restaurant_id": RID, "session_id": "00000000-0000-0000-0000-0000000000d1"}),
    # A guest's phone and a customer's app poll their notifications and unread count.
    ("session_notifications", {**PAGE, "session_id": SESSION}),
    ("user_notifications", {**PAGE, "user_id": USER}),
    ("unread_notifications", {"restaurant_id": RID, "session_id": SESSION, "user_id": None}),
    ("unread_notifications", {"restaurant_id": None, "session_id": None, "user_id": USER}),
    ("mark_all_notifications_read", {"restaurant_id": RID, "session_id": SESSION, "user_id": None}),
    ("mark_all_notifications_read", {"restaurant_id": None, "session_id": None, "user_id": USER}),
])
def test_hot_query_uses_an_index(app_conninfo, name, params):
    assert _seq_scans(app_conninfo, sql(name), params) == []


def test_the_plan_check_sees_a_sequential_scan(app_conninfo):
    assert _seq_scans(app_conninfo, "SELECT * FROM orders WHERE notes = %(restaurant_id)s",
                      {"restaurant_id": RID}) == ["orders"]
