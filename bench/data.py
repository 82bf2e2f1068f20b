"""Benchmark data: restaurants made through the API (as a real owner would), and the bulk
history (100k-order restaurants, a 500-item menu) written straight into Postgres by the
superuser with triggers off, because only reads and fullSync use it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

ITEMS = (("Paneer Tikka", 25000), ("Dal Makhani", 18050), ("Garlic Naan", 25000))
PASSWORD = "bench-password-1"  # noqa: S105  # the bench owner on a throwaway database


@dataclass
class Shop:
    id: str
    items: list[str]
    tables: list[dict[str, Any]]
    guests: list[str] = field(default_factory=list)


@dataclass
class Owner:
    email: str
    headers: dict[str, str]


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    result: dict[str, Any] = response.json()
    return result


def owner(api: httpx.Client) -> Owner:
    email = f"owner-{uuid.uuid4().hex[:8]}@bench.tabletop"
    _ok(api.post("/api/auth/register", json={"email": email, "password": PASSWORD, "full_name": "Bench Owner"}))
    token = _ok(api.post("/api/auth/login", json={"email": email, "password": PASSWORD}))["access_token"]
    return Owner(email, {"Authorization": f"Bearer {token}"})


def owner_token(api: httpx.Client, boss: Owner) -> dict[str, str]:
    """Fresh headers (access tokens live 15 minutes; a full run is longer)."""
    token = _ok(api.post("/api/auth/login", json={"email": boss.email, "password": PASSWORD}))["access_token"]
    return {"Authorization": f"Bearer {token}"}


def shop(api: httpx.Client, boss: Owner, name: str, *, tables: int = 4, guests: int = 8) -> Shop:
    rid = _ok(api.post("/api/restaurants", headers=boss.headers, json={
        "name": name, "currency": "INR", "timezone": "Asia/Kolkata", "tax_rate_bps": 500}))["id"]
    url = f"/api/restaurants/{rid}"
    category = _ok(api.post(f"{url}/menu/categories", headers=boss.headers, json={"name": "Mains", "rank": 1}))["id"]
    items = [_ok(api.post(f"{url}/menu/items", headers=boss.headers, json={
        "category_id": category, "name": item, "price": price}))["id"] for item, price in ITEMS]
    made = [_ok(api.post(f"{url}/tables", headers=boss.headers, json={"label": f"T{n + 1}", "seats": 4}))
            for n in range(tables)]
    result = Shop(rid, items, made)
    for n in range(guests):
        qr = made[n % tables]["qr_token"]
        result.guests.append(_ok(api.post(f"/api/qr/{qr}/session"))["session_token"])
    return result


def targets_file_lines(shops: list[Shop]) -> str:
    """The load generators' input: one line per guest session, round-robin over shops."""
    lines = []
    for n in range(max(len(s.guests) for s in shops)):
        for s in shops:
            if n < len(s.guests):
                lines.append(" ".join([s.id, s.guests[n], *s.items]))
    return "\n".join(lines) + "\n"


def history(admin_url: str, s: Shop, orders: int) -> None:
    """``orders`` past orders with three lines each; about 3% are still live (pending,
    confirmed, preparing), like a busy restaurant's kitchen over months."""
    with psycopg.connect(admin_url, autocommit=False) as conn:
        conn.execute("SET session_replication_role = replica")  # bulk history: no triggers, no outbox
        conn.execute("""
            INSERT INTO orders (restaurant_id, number, table_id, status, order_type, currency,
                                subtotal, tax, tip, discount, total, created_at, updated_at)
            SELECT %(rid)s, g, %(table)s,
                   CASE g %% 100 WHEN 0 THEN 'pending' WHEN 1 THEN 'confirmed' WHEN 2 THEN 'preparing'
                        WHEN 3 THEN 'cancelled' ELSE 'completed' END,
                   'dine_in', 'INR', 68050, 3403, 0, 0, 71453,
                   now() - (%(n)s - g) * interval '1 minute', now() - (%(n)s - g) * interval '1 minute'
              FROM generate_series(1, %(n)s) g""", {"rid": s.id, "table": s.tables[0]["id"], "n": orders})
        conn.execute("""
            INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price,
                                     quantity, line_total)
            SELECT o.restaurant_id, o.id, l.position, l.item, l.name, l.price, 1, l.price
              FROM orders o
             CROSS JOIN unnest(ARRAY[1, 2, 3], %(items)s::uuid[], %(names)s::text[], %(prices)s::bigint[])
                   AS l(position, item, name, price)
             WHERE o.restaurant_id = %(rid)s""",
                     {"rid": s.id, "items": s.items, "names": [n for n, _ in ITEMS], "prices": [p for _, p in ITEMS]})
        conn.execute("UPDATE order_counters SET last_order_number = %s WHERE restaurant_id = %s", (orders, s.id))
        conn.commit()


def big_menu(admin_url: str, s: Shop, items: int) -> None:
    """Grows a shop's menu to ``items`` live items over 10 categories."""
    with psycopg.connect(admin_url, autocommit=False) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("""
            INSERT INTO menu_categories (restaurant_id, name, rank)
            SELECT %(rid)s, 'Section ' || c, c FROM generate_series(2, 10) c""", {"rid": s.id})
        conn.execute("""
            INSERT INTO menu_items (restaurant_id, category_id, name, description, price, rank)
            SELECT %(rid)s, (SELECT id FROM menu_categories WHERE restaurant_id = %(rid)s
                              ORDER BY rank OFFSET (g %% 10) LIMIT 1),
                   'Dish ' || g, 'A house speciality, number ' || g, 10000 + g * 10, g
              FROM generate_series(1, %(n)s) g""", {"rid": s.id, "n": items - len(s.items)})
        # The triggers were off: raise the menu's version by hand, as any bulk load must (docs/menu.md).
        conn.execute("""
            INSERT INTO menu_versions (restaurant_id) VALUES (%(rid)s)
            ON CONFLICT (restaurant_id) DO UPDATE SET version = menu_versions.version + 1""", {"rid": s.id})
        conn.commit()


def forget_orders(admin_url: str, restaurant_ids: list[str]) -> int:
    """Drops the baseline's orders and their outbox rows (pgbench wrote them; nothing should push them)."""
    with psycopg.connect(admin_url, autocommit=False) as conn:
        conn.execute("SET session_replication_role = replica")
        deleted = conn.execute("DELETE FROM orders WHERE restaurant_id = ANY(%s::uuid[])", (restaurant_ids,)).rowcount
        for table in ("order_items", "order_events", "idempotency_keys", "sync_log"):
            conn.execute(f"DELETE FROM {table} WHERE restaurant_id = ANY(%s::uuid[])", (restaurant_ids,))  # noqa: S608
        conn.commit()
        return deleted


def analyze(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
