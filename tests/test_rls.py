"""Row-level security, the second wall, proven directly in Postgres.

The API's own filters are the first wall (tests/test_tenancy.py). These tests connect as
the app's role, tabletop_app, and show what the database itself allows: nothing without a
tenant, only the tenant's rows with one, no writes into another tenant, children that
cannot point across tenants, and an append-only audit log. The list of tenant tables is
read from the catalog, so a new table with a restaurant_id is checked without editing this
file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from starlette.applications import Starlette

from db.pool import Database
from tests.conftest import Restaurant, deliver_from, expect, order_body

DbSql = Callable[..., list[dict[str, Any]]]
APP_ROLE = "tabletop_app"


def tenant_tables(db_sql: DbSql) -> list[str]:
    """Every base table in public with a restaurant_id column, and restaurants itself."""
    rows = db_sql(
        "SELECT c.table_name FROM information_schema.columns c"
        "  JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE c.table_schema = 'public' AND c.column_name = 'restaurant_id' AND t.table_type = 'BASE TABLE'"
        " UNION SELECT 'restaurants' ORDER BY 1")
    tables = [r["table_name"] for r in rows]
    # A guard against the query itself going blind: these are known tenant tables today.
    assert {"restaurants", "orders", "order_items", "sync_log", "idempotency_keys"} <= set(tables)
    return tables


def tenant_views(db_sql: DbSql) -> list[str]:
    """Views in public that expose a restaurant_id (order_documents today)."""
    rows = db_sql(
        "SELECT c.table_name FROM information_schema.columns c"
        "  JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE c.table_schema = 'public' AND c.column_name = 'restaurant_id' AND t.table_type = 'VIEW'"
        " ORDER BY 1")
    views = [r["table_name"] for r in rows]
    assert "order_documents" in views
    return views


def key(table: str) -> sql.Identifier:
    """The column naming a row's restaurant."""
    return sql.Identifier("id" if table == "restaurants" else "restaurant_id")


APPEND_ONLY = ("order_events", "webhook_deliveries", "sync_log_actions", "reservation_events")


@dataclass
class Tenants:
    a: Restaurant
    b: Restaurant
    a_order: dict[str, Any]
    b_order: dict[str, Any]


@pytest.fixture
async def tenants(client: Any, make_restaurant: Any, make_member: Any, open_guest: Any, db_sql: DbSql) -> Tenants:
    """Two restaurants with a row in every tenant table, written through the API where it
    writes them, else (menu options, integrations' logs) directly."""
    orders = []
    restaurants = []
    for _ in range(2):
        r = await make_restaurant()
        await make_member(r, "kitchen")
        guest = await open_guest(r)
        order = expect(await client.post(r.url("/orders"), headers={**guest.headers, "Idempotency-Key": "k-1"},
                                         json=order_body(r)), 201)
        expect(await client.post(r.url(f"/orders/{order['id']}/status"), headers=r.owner.headers,
                                 json={"status": "confirmed"}), 200)
        expect(await client.put(r.url("/integrations/petpooja"), headers=r.owner.headers, json={
            "rest_id": f"pp-{r.id[:8]}", "app_key": "k", "app_secret": "s", "access_token": "t",
            "environment": "sandbox"}), 200)
        # Hours covering the whole week: the restaurant stays open for the orders above and below.
        expect(await client.put(r.url("/opening-hours"), headers=r.owner.headers, json={
            "hours": [{"weekday": d, "opens": "00:00", "closes": "00:00"} for d in range(7)]}), 200)
        # A delivery zone (docs/delivery-zones.md).
        await deliver_from(client, r)
        # Slot rules, a reservation (its event and its slot's capacity row).
        expect(await client.put(r.url("/slot-rules"), headers=r.owner.headers, json={"rules": [
            {"weekday": d, "start_time": "12:00", "end_time": "14:00", "interval_minutes": 60, "max_covers": 20}
            for d in range(7)]}), 200)
        day = datetime.now(ZoneInfo("Asia/Kolkata")).date() + timedelta(days=7)
        slot = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo("Asia/Kolkata")).astimezone(UTC)
        expect(await client.post(r.url("/reservations"), headers=r.owner.headers,
                                 json={"slot_start": slot.isoformat(), "party_size": 2, "name": "Ann"}), 201)
        expect(await client.post(r.url("/exports"), headers=r.owner.headers,
                                 json={"from": day.isoformat(), "to": day.isoformat()}), 202)
        _options_and_logs(db_sql, r.id, order["id"])
        restaurants.append(r)
        orders.append(order)
    return Tenants(restaurants[0], restaurants[1], orders[0], orders[1])


def _options_and_logs(db_sql: DbSql, rid: str, order_id: str) -> None:
    """A row in each table that the API does not write on its own yet: menu options and taxes,
    a menu import's record, a callback delivery, an outbound webhook, a platform store and order,
    an operator's retry; a payment, its refund and a Stripe event (those need Stripe); a voice call and
    the order it placed."""
    db_sql("""
        WITH item AS (SELECT id FROM menu_items WHERE restaurant_id = %(r)s LIMIT 1),
        tax AS (INSERT INTO menu_taxes (restaurant_id, external_id, name, rate_bps)
                VALUES (%(r)s, 't1', 'CGST', 250) RETURNING id),
        item_tax AS (INSERT INTO menu_item_taxes (restaurant_id, item_id, tax_id)
                     SELECT %(r)s, item.id, tax.id FROM item, tax),
        variation AS (INSERT INTO menu_variations (restaurant_id, item_id, name, price)
                      SELECT %(r)s, item.id, 'Large', 900 FROM item),
        grp AS (INSERT INTO menu_addon_groups (restaurant_id, name) VALUES (%(r)s, 'Extras') RETURNING id),
        addon AS (INSERT INTO menu_addons (restaurant_id, group_id, name, price) SELECT %(r)s, grp.id, 'Cheese', 50 FROM grp),
        link AS (INSERT INTO menu_item_addon_groups (restaurant_id, item_id, group_id, max_select)
                 SELECT %(r)s, item.id, grp.id, 2 FROM item, grp),
        sync AS (INSERT INTO menu_syncs (restaurant_id, source, status, duration_ms) VALUES (%(r)s, 'pull', 'ok', 5)),
        delivery AS (INSERT INTO webhook_deliveries (restaurant_id, source, kind, body, body_sha256, result)
                     VALUES (%(r)s, 'petpooja', 'stock', '{}', sha256('{}'), 'applied')),
        hook AS (INSERT INTO restaurant_webhooks (restaurant_id, url, secret, key_id)
                 VALUES (%(r)s, 'https://example.test/hook', '\\x00', 'k')),
        store AS (INSERT INTO platform_connections (restaurant_id, platform, store_id, credentials, key_id)
                  VALUES (%(r)s, 'ubereats', 'uber-' || %(r)s, decode(repeat('00', 29), 'hex'), 'k')),
        platform_order AS (INSERT INTO platform_orders (restaurant_id, platform, external_id)
                           VALUES (%(r)s, 'ubereats', 'uo-' || %(r)s)),
        action AS (INSERT INTO sync_log_actions (restaurant_id, sync_log_id, target, action, actor)
                   SELECT %(r)s, id, target, 'retry', 'api_key:0123abcd' FROM sync_log
                    WHERE restaurant_id = %(r)s LIMIT 1),
        payment AS (INSERT INTO payments (restaurant_id, order_id, intent_id, amount, currency, intent_status)
                    VALUES (%(r)s, %(o)s, 'pi_' || replace(%(r)s::text, '-', ''), 100, 'INR', 'succeeded')),
        refund AS (INSERT INTO refunds (restaurant_id, order_id, intent_id, amount, currency)
                   VALUES (%(r)s, %(o)s, 'pi_' || replace(%(r)s::text, '-', ''), 100, 'INR')),
        stripe_event AS (INSERT INTO stripe_events (id, type, restaurant_id, order_id, outcome)
                         VALUES ('evt_' || replace(%(r)s::text, '-', ''), 'payment_intent.succeeded', %(r)s, %(o)s,
                                 'applied')),
        voice_order AS (INSERT INTO voice_orders (restaurant_id, order_id, call_id, caller_phone)
                        VALUES (%(r)s, %(o)s, 'call-' || %(r)s, '+919800000001')),
        voice_call AS (INSERT INTO voice_calls (restaurant_id, call_id, ended_reason)
                       VALUES (%(r)s, 'call-' || %(r)s, 'customer-ended-call'))
        INSERT INTO petpooja_orders (restaurant_id, order_id) VALUES (%(r)s, %(o)s) ON CONFLICT DO NOTHING
    """, {"r": rid, "o": order_id})


@asynccontextmanager
async def as_app(app_conninfo: str, tenant: str | None = None) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """One transaction as the app's role, bound to ``tenant`` like db/pool.py binds it; rolled back."""
    async with await psycopg.AsyncConnection.connect(app_conninfo, row_factory=dict_row) as conn:
        if tenant is not None:
            await conn.execute("SELECT set_config('app.restaurant_id', %s, true)", (tenant,))
        try:
            yield conn
        finally:
            await conn.rollback()


def superuser_counts(db_sql: DbSql, relation: str, tenants: Tenants) -> dict[str, int]:
    col = key(relation)
    row = db_sql(sql.SQL(
        "SELECT count(*) FILTER (WHERE {col} = %(a)s) AS a, count(*) FILTER (WHERE {col} = %(b)s) AS b FROM {t}"
    ).format(col=col, t=sql.Identifier(relation)), {"a": tenants.a.id, "b": tenants.b.id})[0]
    return {"a": row["a"], "b": row["b"]}


# ------------------------------------------------------------------------------ the role


def test_the_app_role_is_neither_superuser_nor_exempt_from_row_level_security(db_sql: DbSql) -> None:
    rows = db_sql("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
                  (APP_ROLE,))
    assert rows == [{"rolsuper": False, "rolbypassrls": False, "rolcreaterole": False, "rolcreatedb": False}]


def test_the_app_role_owns_no_table_and_so_cannot_switch_row_level_security_off(
    db_sql: DbSql, app_conninfo: str
) -> None:
    assert db_sql("SELECT tablename FROM pg_tables WHERE tableowner = %s", (APP_ROLE,)) == []
    with psycopg.connect(app_conninfo) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("ALTER TABLE orders NO FORCE ROW LEVEL SECURITY")


async def test_the_test_conninfo_and_the_running_apps_pool_both_connect_as_the_app_role(
    app: Starlette, app_conninfo: str, db_sql: DbSql
) -> None:
    async with as_app(app_conninfo) as conn:
        row = await (await conn.execute("SELECT current_user AS u, current_setting('is_superuser') AS su")).fetchone()
        assert row == {"u": APP_ROLE, "su": "off"}
    async with app.state.services.db.unscoped() as conn:
        cur = await conn.execute("SELECT current_user, session_user, current_setting('is_superuser')")
        assert await cur.fetchone() == (APP_ROLE, APP_ROLE, "off")
        # While this pooled connection is open, the server sees who every app connection is.
        users = db_sql("SELECT DISTINCT usename FROM pg_stat_activity"
                       " WHERE datname = current_database() AND application_name = 'tabletop'")
        assert users == [{"usename": APP_ROLE}]


# ------------------------------------------------------------------------ the catalog


def test_row_level_security_is_enabled_and_forced_with_a_tenant_policy_on_every_tenant_table(
    db_sql: DbSql,
) -> None:
    tables = tenant_tables(db_sql)
    flags = {r["relname"]: (r["relrowsecurity"], r["relforcerowsecurity"]) for r in db_sql(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE relnamespace = 'public'::regnamespace AND relname = ANY(%s)", (tables,))}
    assert {t: flags[t] for t in tables} == {t: (True, True) for t in tables}
    policies: dict[str, list[dict[str, Any]]] = {t: [] for t in tables}
    for p in db_sql("SELECT tablename, cmd, roles, qual, with_check FROM pg_policies"
                    " WHERE schemaname = 'public' AND tablename = ANY(%s)", (tables,)):
        policies[p["tablename"]].append(p)
    for table, found in policies.items():
        assert len(found) == 1, f"{table}: one policy expected, found {found}"
        policy = found[0]
        assert policy["cmd"] == "ALL", table
        assert policy["roles"] == ["public"], table
        assert "app_tenant_visible" in policy["qual"], table
        assert "app_tenant_visible" in policy["with_check"], table


def test_every_view_runs_with_the_callers_row_level_security(db_sql: DbSql) -> None:
    # A view without security_invoker reads as its owner (the superuser) and would bypass RLS.
    views = db_sql("SELECT c.relname, c.reloptions FROM pg_class c"
                   " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')")
    assert "order_documents" in {v["relname"] for v in views}
    assert {v["relname"]: "security_invoker=true" in (v["reloptions"] or []) for v in views} == {
        v["relname"]: True for v in views}


def test_every_foreign_key_between_tenant_tables_includes_the_restaurant(db_sql: DbSql) -> None:
    tables = tenant_tables(db_sql)
    fks = db_sql(
        "SELECT con.conname, src.relname AS child, dst.relname AS parent,"
        "       ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = con.conrelid AND attnum = ANY(con.conkey)"
        "             ORDER BY array_position(con.conkey, attnum)) AS child_cols,"
        "       ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = con.confrelid AND attnum = ANY(con.confkey)"
        "             ORDER BY array_position(con.confkey, attnum)) AS parent_cols"
        "  FROM pg_constraint con"
        "  JOIN pg_class src ON src.oid = con.conrelid JOIN pg_class dst ON dst.oid = con.confrelid"
        " WHERE con.contype = 'f' AND src.relname = ANY(%(t)s) AND dst.relname = ANY(%(t)s)", {"t": tables})
    assert any(fk["conname"] == "order_items_order_fkey" for fk in fks)
    for fk in fks:
        pairs = list(zip(fk["child_cols"], fk["parent_cols"], strict=True))
        expected = ("restaurant_id", "id" if fk["parent"] == "restaurants" else "restaurant_id")
        assert expected in pairs, f"{fk['conname']} lets {fk['child']} point into another restaurant: {pairs}"


# ---------------------------------------------------------------- what the app role can see


async def test_without_a_tenant_the_app_role_sees_no_row_of_any_tenant_table_or_view(
    tenants: Tenants, db_sql: DbSql, app_conninfo: str
) -> None:
    relations = tenant_tables(db_sql) + tenant_views(db_sql)
    visible = {}
    async with as_app(app_conninfo) as conn:
        for relation in relations:
            counts = superuser_counts(db_sql, relation, tenants)
            assert counts["a"] > 0, f"{relation} holds no row of A: the test data does not cover it"
            assert counts["b"] > 0, f"{relation} holds no row of B: the test data does not cover it"
            cur = await conn.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(relation)))
            visible[relation] = (await cur.fetchone() or {})["n"]
    assert visible == dict.fromkeys(relations, 0)


async def test_with_tenant_a_the_app_role_sees_exactly_as_rows_in_every_tenant_table_and_view(
    tenants: Tenants, db_sql: DbSql, app_conninfo: str
) -> None:
    relations = tenant_tables(db_sql) + tenant_views(db_sql)
    seen, expected = {}, {}
    async with as_app(app_conninfo, tenants.a.id) as conn:
        for relation in relations:
            expected[relation] = (superuser_counts(db_sql, relation, tenants)["a"], {tenants.a.id})
            cur = await conn.execute(sql.SQL("SELECT {k}::text AS rid FROM {t}").format(
                k=key(relation), t=sql.Identifier(relation)))
            rows = await cur.fetchall()
            seen[relation] = (len(rows), {r["rid"] for r in rows})
    assert seen == expected


async def test_only_the_system_scope_shows_every_restaurant_and_an_unknown_tenant_shows_nothing(
    tenants: Tenants, db_sql: DbSql, app_conninfo: str
) -> None:
    async with as_app(app_conninfo) as conn:
        await conn.execute("SELECT set_config('app.scope', 'system', true)")
        cur = await conn.execute("SELECT id::text FROM restaurants ORDER BY 1")
        assert {r["id"] for r in await cur.fetchall()} == {tenants.a.id, tenants.b.id}
    async with as_app(app_conninfo, "00000000-0000-4000-8000-000000000000") as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM orders")
        assert await cur.fetchone() == {"n": 0}


# -------------------------------------------------------------- what the app role can write


async def test_with_tenant_a_updates_and_deletes_of_bs_rows_affect_no_row(
    tenants: Tenants, db_sql: DbSql, app_conninfo: str
) -> None:
    touched: dict[str, tuple[int, int]] = {}
    tables = [t for t in tenant_tables(db_sql) if t not in APPEND_ONLY]  # their own test
    async with as_app(app_conninfo, tenants.a.id) as conn:
        for table in tables:
            params = {"a": tenants.a.id, "b": tenants.b.id}
            # A real change (B's rows handed to A), so no "nothing changed" trigger can hide a hit.
            update = await conn.execute(sql.SQL("UPDATE {t} SET {k} = %(a)s WHERE {k} = %(b)s").format(
                t=sql.Identifier(table), k=key(table)), params)
            delete = await conn.execute(sql.SQL("DELETE FROM {t} WHERE {k} = %(b)s").format(
                t=sql.Identifier(table), k=key(table)), params)
            touched[table] = (update.rowcount, delete.rowcount)
        await conn.commit()
    assert touched == {t: (0, 0) for t in tables}
    for table in tables:
        assert superuser_counts(db_sql, table, tenants)["b"] > 0, table


async def test_with_tenant_a_moving_as_rows_into_b_is_refused_by_the_policy(
    tenants: Tenants, db_sql: DbSql, app_conninfo: str
) -> None:
    refused: dict[str, str] = {}
    tables = [t for t in tenant_tables(db_sql) if t not in APPEND_ONLY]
    async with as_app(app_conninfo, tenants.a.id) as conn:
        for table in tables:
            query = sql.SQL("UPDATE {t} SET {k} = %(b)s WHERE {k} = %(a)s").format(t=sql.Identifier(table), k=key(table))
            try:
                async with conn.transaction():
                    await conn.execute(query, {"a": tenants.a.id, "b": tenants.b.id})
                refused[table] = "accepted"
            except psycopg.errors.InsufficientPrivilege as exc:
                refused[table] = "rls" if "row-level security" in str(exc) else str(exc)
    assert refused == dict.fromkeys(tables, "rls")


async def test_with_tenant_a_inserting_a_row_of_b_is_refused_by_the_policy(
    tenants: Tenants, db_sql: DbSql, app_conninfo: str
) -> None:
    refused: dict[str, str] = {}
    tables = tenant_tables(db_sql)
    async with as_app(app_conninfo, tenants.a.id) as conn:
        for table in tables:
            # A copy of one of B's real rows: valid in every way but its tenant. Without the
            # policy it would fail differently (a duplicate key), never with an RLS error.
            columns = [r["column_name"] for r in db_sql(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
                " AND table_name = %s AND is_identity = 'NO' AND is_generated = 'NEVER' ORDER BY ordinal_position",
                (table,))]
            row = db_sql(sql.SQL("SELECT row_to_json(x)::text AS j FROM {t} x WHERE {k} = %s LIMIT 1").format(
                t=sql.Identifier(table), k=key(table)), (tenants.b.id,))[0]["j"]
            cols = sql.SQL(", ").join(map(sql.Identifier, columns))
            query = sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM json_populate_record(NULL::{t}, %s::json)").format(
                t=sql.Identifier(table), c=cols)
            try:
                async with conn.transaction():
                    await conn.execute(query, (row,))
                refused[table] = "accepted"
            except psycopg.errors.InsufficientPrivilege as exc:
                refused[table] = "rls" if "row-level security" in str(exc) else str(exc)
        # The tenant's own rows are accepted: the refusals above are about the tenant alone.
        await conn.execute("INSERT INTO menu_categories (restaurant_id, name) VALUES (%s, 'Specials')", (tenants.a.id,))
    assert refused == dict.fromkeys(tables, "rls")


async def test_order_events_are_append_only_for_the_app_role(
    tenants: Tenants, db_sql: DbSql, app_conninfo: str
) -> None:
    a = tenants.a.id
    async with as_app(app_conninfo, a) as conn:
        for statement in ("UPDATE order_events SET reason = 'rewritten' WHERE restaurant_id = %(a)s",
                          "DELETE FROM order_events WHERE restaurant_id = %(a)s"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                async with conn.transaction():
                    await conn.execute(statement, {"a": a})
        cur = await conn.execute(
            "INSERT INTO order_events (restaurant_id, order_id, from_status, to_status, actor_type)"
            " VALUES (%s, %s, 'confirmed', 'preparing', 'system')", (a, tenants.a_order["id"]))
        assert cur.rowcount == 1
    assert db_sql("SELECT count(*) AS n FROM order_events WHERE restaurant_id = %s AND reason = 'rewritten'",
                  (a,)) == [{"n": 0}]


async def test_the_callback_log_is_append_only_for_the_app_role(tenants: Tenants, app_conninfo: str) -> None:
    async with as_app(app_conninfo, tenants.a.id) as conn:
        for statement in ("UPDATE webhook_deliveries SET result = 'rewritten' WHERE restaurant_id = %(a)s",
                          "DELETE FROM webhook_deliveries WHERE restaurant_id = %(a)s"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                async with conn.transaction():
                    await conn.execute(statement, {"a": tenants.a.id})


# ------------------------------------------------------------ children cannot cross tenants


# Each child row names its own restaurant A and a parent of restaurant B.
FOREIGN_CHILDREN = [
    ("order_items_order_fkey",
     "INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price, quantity,"
     " line_total) VALUES (%(a)s, %(b_order)s, 99, %(a_item)s, 'x', 1, 1, 1)"),
    ("order_items_menu_item_fkey",
     "INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price, quantity,"
     " line_total) VALUES (%(a)s, %(a_order)s, 99, %(b_item)s, 'x', 1, 1, 1)"),
    ("menu_items_category_fkey",
     "INSERT INTO menu_items (restaurant_id, category_id, name, price) VALUES (%(a)s, %(b_category)s, 'x', 1)"),
    ("guest_sessions_table_fkey",
     "INSERT INTO guest_sessions (restaurant_id, table_id, expires_at) VALUES (%(a)s, %(b_table)s, now())"),
    ("order_events_order_fkey",
     "INSERT INTO order_events (restaurant_id, order_id, to_status, actor_type)"
     " VALUES (%(a)s, %(b_order)s, 'pending', 'system')"),
    ("orders_table_fkey",
     "INSERT INTO orders (restaurant_id, number, table_id, order_type, currency, subtotal, tax, total)"
     " VALUES (%(a)s, 999, %(b_table)s, 'dine_in', 'INR', 0, 0, 0)"),
    ("idempotency_keys_order_fkey",
     "INSERT INTO idempotency_keys (restaurant_id, key, principal, request_hash, order_id)"
     " VALUES (%(a)s, 'cross', 'x', '\\x00', %(b_order)s)"),
]


async def test_a_child_row_cannot_point_into_another_restaurant_even_for_the_superuser(
    tenants: Tenants, db_sql: DbSql
) -> None:
    t = tenants
    ids = {
        "a": t.a.id, "a_order": t.a_order["id"], "a_item": t.a.items["Paneer Tikka"]["id"],
        "b_order": t.b_order["id"], "b_item": t.b.items["Paneer Tikka"]["id"],
        "b_category": t.b.category_id, "b_table": t.b.tables[0]["id"],
    }
    violated = {}
    for constraint, statement in FOREIGN_CHILDREN:
        try:
            db_sql(statement, ids)
            violated[constraint] = "accepted"
        except psycopg.errors.ForeignKeyViolation as exc:
            violated[constraint] = exc.diag.constraint_name or "?"
    assert violated == {c: c for c, _ in FOREIGN_CHILDREN}
    # The same child pointing at its own restaurant's parent is fine.
    db_sql("INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price, quantity,"
           " line_total) VALUES (%(a)s, %(a_order)s, 99, %(a_item)s, 'x', 1, 1, 1)", ids)


# ------------------------------------------------------------------- db/pool.py transactions


async def _fail_inside_tenant(db: Database, restaurant_id: str) -> None:
    async with db.tenant(UUID(restaurant_id)) as conn:
        await conn.execute("SELECT 1")
        raise RuntimeError("boom")


async def test_a_pooled_connection_forgets_its_tenant_when_the_transaction_ends(
    tenants: Tenants, app_conninfo: str
) -> None:
    # One connection, so every block below runs on the same server session.
    db = Database(app_conninfo, min_size=1, max_size=1)
    await db.open(wait=True)
    try:
        async with db.tenant(UUID(tenants.a.id)) as conn:
            cur = await conn.execute("SELECT count(*), min(restaurant_id::text) FROM orders")
            assert await cur.fetchone() == (1, tenants.a.id)
        async with db.unscoped() as conn:
            cur = await conn.execute("SELECT count(*), current_setting('app.restaurant_id', true) FROM orders")
            count, setting = await cur.fetchone() or (None, None)
            assert count == 0
            assert setting in ("", None)
        with pytest.raises(RuntimeError, match="boom"):
            await _fail_inside_tenant(db, tenants.b.id)
        async with db.unscoped() as conn:
            cur = await conn.execute("SELECT count(*) FROM orders")
            assert await cur.fetchone() == (0,)
        async with db.system() as conn:
            cur = await conn.execute("SELECT count(DISTINCT restaurant_id) FROM orders")
            assert await cur.fetchone() == (2,)
        async with db.unscoped() as conn:
            cur = await conn.execute("SELECT count(*), current_setting('app.scope', true) FROM orders")
            count, scope = await cur.fetchone() or (None, None)
            assert count == 0
            assert scope in ("", None)
    finally:
        await db.close()
