"""Schema migrations (db/migrate.py): schema.sql and the migrations build the same catalog,
an upgrade keeps every row and the system works on the result, runs are serialised, a
database the files do not describe is refused untouched, and the CLI does what it says.

Each test makes its own databases on the embedded server (not the template clone the other
suites use: these start empty or at the schema of the days before migrations) and drops them.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import argon2
import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from pytest_postgresql.executors.noop import NoopExecutor

from api.app import create_app
from api.config import Settings
from db import migrate, queries
from db.migrate import MIGRATIONS_DIR, MigrationError
from db.schema import SCHEMA_PATH
from tests.conftest import ROOT, expect

PREFIX = "tabletop_migrations_"
LABELS = [m.label for m in migrate.discover()]
# The schema today's deployments were made from: schema.sql applied whole, schema_info at version 4.
V4_SCHEMA = (MIGRATIONS_DIR / "0001_initial.sql").read_text()


# -------------------------------------------------------------------------- databases


@dataclass
class Database:
    name: str
    admin: str  # the superuser, which migrates
    app: str  # tabletop_app, as the API connects

    def sql(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Runs SQL as the superuser (outside RLS), in its own transaction."""
        with psycopg.connect(self.admin, autocommit=True, row_factory=dict_row) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


MakeDatabase = Callable[[], Database]
_seq = count(1)


@pytest.fixture(scope="session")
def server(postgresql_noproc: NoopExecutor) -> Callable[[str, str], str]:
    """conninfo(dbname, user) on the embedded server. Databases of test runs no longer alive are dropped first."""

    def conninfo(dbname: str, user: str) -> str:
        return make_conninfo(host=postgresql_noproc.host, port=postgresql_noproc.port, user=user, dbname=dbname)

    with psycopg.connect(conninfo("postgres", postgresql_noproc.user), autocommit=True) as conn:
        for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)).fetchall():
            pid = name.removeprefix(PREFIX).split("_")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                with contextlib.suppress(psycopg.Error):  # best effort, as in conftest
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return conninfo


@pytest.fixture
def new_database(server: Callable[[str, str], str], postgresql_noproc: NoopExecutor) -> Iterator[MakeDatabase]:
    """Makes empty databases; drops them after the test."""
    made: list[str] = []
    superuser = postgresql_noproc.user

    def make() -> Database:
        name = f"{PREFIX}{os.getpid()}_{next(_seq)}"
        with psycopg.connect(server("postgres", superuser), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        return Database(name, server(name, superuser), server(name, "tabletop_app"))

    yield make
    with psycopg.connect(server("postgres", superuser), autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def from_schema_sql(db: Database) -> Database:
    with psycopg.connect(db.admin, autocommit=True) as conn:
        conn.execute(SCHEMA_PATH.read_text())
    return db


def at_v4(db: Database) -> Database:
    """A database as today's deployments were made: that schema.sql applied whole."""
    with psycopg.connect(db.admin, autocommit=True) as conn:
        conn.execute(V4_SCHEMA)
    assert db.sql("SELECT schema_version FROM schema_info") == [{"schema_version": 4}]
    return db


def migrations_copy(tmp_path: Path, upto: int, extra: dict[str, str] | None = None) -> Path:
    """A migrations directory holding the real files up to ``upto`` (byte for byte) and ``extra`` ones."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    for migration in migrate.discover()[:upto]:
        shutil.copyfile(migration.path, directory / migration.path.name)
    for name, text in (extra or {}).items():
        (directory / name).write_text(text)
    return directory


# ---------------------------------------------------------------------------- catalog

# Each kind of object: a query answering (key, value) rows for the public schema. Columns are
# compared by table and name, not by ordinal position: a migration's ADD COLUMN appends, while
# schema.sql may list the column where it reads best.
CATALOG: dict[str, str] = {
    "extensions": "SELECT extname, extversion FROM pg_extension",
    "relations": """
        SELECT c.relname,
               CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                              WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END
               || coalesce(' WITH (' || array_to_string(c.reloptions, ', ') || ')', '')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')""",
    "columns": """
        SELECT c.relname || '.' || a.attname,
               format_type(a.atttypid, a.atttypmod)
               || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE ' NULL' END
               || CASE WHEN a.attgenerated <> '' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid)
                                                      || CASE a.attgenerated WHEN 's' THEN ') STORED' ELSE ') VIRTUAL' END
                       ELSE coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') END
               || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY'
                                     WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END
               || CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE ' || a.attcollation::regcollation::text
                       ELSE '' END
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraints": """
        SELECT coalesce(c.relname, t.typname) || '.' || co.conname,
               CASE co.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique' WHEN 'f' THEN 'foreign key'
                               WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion' WHEN 'n' THEN 'not null'
                               WHEN 't' THEN 'trigger' ELSE co.contype::text END
               || ': ' || pg_get_constraintdef(co.oid)
          FROM pg_constraint co
          JOIN pg_namespace n ON n.oid = co.connamespace
          LEFT JOIN pg_class c ON c.oid = co.conrelid
          LEFT JOIN pg_type t ON t.oid = co.contypid
         WHERE n.nspname = 'public'""",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "triggers": """
        SELECT c.relname || '.' || t.tgname,
               pg_get_triggerdef(t.oid)
               || CASE t.tgenabled WHEN 'O' THEN '' WHEN 'D' THEN ' (disabled)' ELSE ' (enabled ' || t.tgenabled::text || ')' END
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND NOT t.tgisinternal""",
    "functions": """
        SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
               CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE 'kind ' || p.prokind::text END
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public'""",
    "views": """
        SELECT c.relname, pg_get_viewdef(c.oid)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')""",
    "sequences": """
        SELECT s.sequencename,
               format('%s start %s increment %s min %s max %s cache %s%s%s', s.data_type, s.start_value,
                      s.increment_by, s.min_value, s.max_value, s.cache_size,
                      CASE WHEN s.cycle THEN ' cycle' ELSE '' END, coalesce(' owned by ' || o.owner, ''))
          FROM pg_sequences s
          JOIN pg_class c ON c.relname = s.sequencename
          JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
          LEFT JOIN LATERAL (
                SELECT dc.relname || '.' || da.attname AS owner
                  FROM pg_depend d
                  JOIN pg_class dc ON dc.oid = d.refobjid
                  JOIN pg_attribute da ON da.attrelid = d.refobjid AND da.attnum = d.refobjsubid
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')) o ON true
         WHERE s.schemaname = 'public'""",
    "row level security": """
        SELECT c.relname,
               CASE WHEN c.relrowsecurity THEN 'enabled' ELSE 'disabled' END
               || CASE WHEN c.relforcerowsecurity THEN ', forced' ELSE ', not forced' END
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')""",
    "policies": """
        SELECT tablename || '.' || policyname,
               permissive || ' FOR ' || cmd || ' TO ' || array_to_string(roles, ', ')
               || ' USING (' || coalesce(qual, '') || ') WITH CHECK (' || coalesce(with_check, '') || ')'
          FROM pg_policies WHERE schemaname = 'public'""",
    # What tabletop_app (and everybody, PUBLIC) may do; a NULL ACL is read as the default it means.
    "grants": """
        WITH acl AS (
            SELECT 'schema public' AS object, coalesce(nspacl, acldefault('n', nspowner)) AS acl
              FROM pg_namespace WHERE nspname = 'public'
            UNION ALL
            SELECT CASE c.relkind WHEN 'S' THEN 'sequence ' WHEN 'v' THEN 'view ' ELSE 'table ' END || c.relname,
                   coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
            UNION ALL
            SELECT 'column ' || c.relname || '.' || a.attname, a.attacl
              FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped
            UNION ALL
            SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                   coalesce(p.proacl, acldefault('f', p.proowner))
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
        )
        SELECT acl.object || ' to ' || CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END,
               string_agg(e.privilege_type || CASE WHEN e.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END, ', '
                          ORDER BY e.privilege_type)
          FROM acl, LATERAL aclexplode(acl.acl) e
         WHERE e.grantee = 0 OR e.grantee = 'tabletop_app'::regrole
         GROUP BY 1""",
}


def catalog(conninfo: str) -> dict[str, dict[str, str]]:
    """The public schema's objects by kind, then by name, with a readable definition."""
    found: dict[str, dict[str, str]] = {}
    with psycopg.connect(conninfo) as conn:
        for kind, query in CATALOG.items():
            rows = conn.execute(query).fetchall()
            found[kind] = {str(key): str(value) for key, value in rows}
        history: dict[str, str] = {}
        if conn.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL").fetchone() == (True,):
            history = {f"{version:04d}": name for version, name in
                       conn.execute("SELECT version, name FROM schema_migrations").fetchall()}
        found["schema_migrations rows (version: name)"] = history
    return found


def catalog_differences(left_name: str, left: dict[str, dict[str, str]],
                        right_name: str, right: dict[str, dict[str, str]]) -> list[str]:
    """Every object present on one side only, or defined differently, grouped by kind."""
    width = max(len(left_name), len(right_name))
    lines: list[str] = []
    for kind in dict.fromkeys([*left, *right]):  # in CATALOG's order
        a, b = left.get(kind, {}), right.get(kind, {})
        section: list[str] = []
        for key in sorted(a.keys() | b.keys()):
            if key not in b:
                section.append(f"    only in {left_name}: {key}: {a[key]}")
            elif key not in a:
                section.append(f"    only in {right_name}: {key}: {b[key]}")
            elif a[key] != b[key]:
                if "\n" in a[key] or "\n" in b[key]:
                    diff = difflib.unified_diff(a[key].splitlines(), b[key].splitlines(), left_name, right_name,
                                                lineterm="", n=1)
                    section += [f"    different: {key}", *(f"        {line}" for line in diff)]
                else:
                    section += [f"    different: {key}",
                                f"        {left_name:<{width}}  {a[key]}",
                                f"        {right_name:<{width}}  {b[key]}"]
        if section:
            lines += [f"  {kind}:", *section]
    return lines


def catalog_report(schema_db: Database, migrated_db: Database) -> str | None:
    differences = catalog_differences("schema.sql", catalog(schema_db.admin), "migrations", catalog(migrated_db.admin))
    if not differences:
        return None
    objects = sum(line.startswith(("    only in ", "    different: ")) for line in differences)
    return ("schema.sql and db/migrations build different catalogs (schema public; columns compared by table and "
            f"name, not position).\n{objects} object(s) present on one side only, or defined differently:\n"
            + "\n".join(differences)
            + "\nA schema change goes into a new migration AND into schema.sql (docs/migrations.md).")


def test_schema_sql_and_the_migrations_build_the_same_catalog(new_database: MakeDatabase) -> None:
    schema_db = from_schema_sql(new_database())
    migrated_db = new_database()
    assert migrate.upgrade(migrated_db.admin) == LABELS
    report = catalog_report(schema_db, migrated_db)
    if report is not None:
        pytest.fail(report, pytrace=False)


def test_the_catalog_comparison_names_each_drifted_object(new_database: MakeDatabase) -> None:
    """A migration that goes further than schema.sql (a column, a default, an index, a grant) is reported by name."""
    schema_db = from_schema_sql(new_database())
    migrated_db = new_database()
    migrate.upgrade(migrated_db.admin)
    migrated_db.sql("ALTER TABLE orders ADD COLUMN oops int; ALTER TABLE menu_items ALTER rank SET DEFAULT 1;"
                    " DROP INDEX orders_table_idx; REVOKE DELETE ON orders FROM tabletop_app;")
    report = catalog_report(schema_db, migrated_db)
    assert report is not None
    assert "    only in migrations: orders.oops: integer NULL" in report
    assert ("    different: menu_items.rank\n"
            "        schema.sql  integer NOT NULL DEFAULT 0\n"
            "        migrations  integer NOT NULL DEFAULT 1") in report
    assert "    only in schema.sql: orders_table_idx: CREATE INDEX orders_table_idx ON public.orders" in report
    assert ("    different: table orders to tabletop_app\n"
            "        schema.sql  DELETE, INSERT, SELECT, UPDATE\n"
            "        migrations  INSERT, SELECT, UPDATE") in report
    assert report.count("only in") + report.count("different:") == 4, report


def test_schema_sql_records_exactly_the_migration_files_on_disk() -> None:
    text = SCHEMA_PATH.read_text()
    statement = re.search(r"^INSERT INTO schema_migrations \(version, name\) VALUES\s*(.*?);", text, re.M | re.S)
    assert statement is not None, "schema.sql must end by recording the migrations in schema_migrations"
    assert text.rstrip().endswith(statement.group(0)), "recording the migrations is schema.sql's last statement"
    recorded = [(int(v), n) for v, n in re.findall(r"\((\d+), '([a-z0-9_]+)'\)", statement.group(1))]
    assert recorded == [(m.version, m.name) for m in migrate.discover()]


def test_the_runner_creates_its_history_table_with_the_ddl_of_schema_sql() -> None:
    runner_ddl = queries.sql("migrate_create_history")
    assert runner_ddl.startswith("CREATE TABLE IF NOT EXISTS schema_migrations (")
    assert runner_ddl.replace("IF NOT EXISTS ", "", 1) + "\n" in SCHEMA_PATH.read_text()


def test_the_initial_migration_is_the_last_schema_sql_applied_whole() -> None:
    """0001 is schema.sql as it stood before migrations (schema_info at version 4), so old and new databases
    start from the same text; it ends by recording that version."""
    assert V4_SCHEMA.rstrip().endswith("INSERT INTO schema_info (id, schema_version) VALUES (1, 4);")
    assert hashlib.sha256(V4_SCHEMA.encode()).hexdigest() == migrate.discover()[0].checksum()


# ------------------------------------------------------------------------------ upgrade

PASSWORD = "legacy password 1"
R = "0b000000-0000-4000-8000-000000000001"
OWNER = "0b000000-0000-4000-8000-000000000011"
KITCHEN = "0b000000-0000-4000-8000-000000000012"
T1, T2 = "0b000000-0000-4000-8000-000000000021", "0b000000-0000-4000-8000-000000000022"
SESSION = "0b000000-0000-4000-8000-000000000031"
CATEGORY = "0b000000-0000-4000-8000-000000000041"
PANEER, DAL = "0b000000-0000-4000-8000-000000000051", "0b000000-0000-4000-8000-000000000052"
ORDER = "0b000000-0000-4000-8000-000000000061"
LEGACY_IDS = {"r": R, "owner": OWNER, "kitchen": KITCHEN, "t1": T1, "t2": T2, "session": SESSION,
              "category": CATEGORY, "paneer": PANEER, "dal": DAL, "order": ORDER}

# A restaurant in full use, written as the v4 schema's writers would have: its triggers make
# the orders' versions, the Convex/PetPooja/webhook outbox rows and the petpooja_orders row.
LEGACY_DATA = """
INSERT INTO users (id, email, password_hash, full_name) VALUES
    (%(owner)s, 'owner@legacy.test', %(hash)s, 'Legacy Owner'),
    (%(kitchen)s, 'kitchen@legacy.test', %(hash)s, 'Legacy Kitchen');
INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES
    (%(owner)s, gen_random_uuid(), sha256('legacy refresh'::bytea), now() + interval '30 days');
INSERT INTO restaurants (id, name, currency, timezone, tax_rate_bps, address, phone) VALUES
    (%(r)s, 'Legacy Bistro', 'INR', 'Asia/Kolkata', 500, '1 Old Street', '+911234567890');
INSERT INTO order_counters (restaurant_id, last_order_number) VALUES (%(r)s, 1);
INSERT INTO memberships (restaurant_id, user_id, role) VALUES (%(r)s, %(owner)s, 'owner'), (%(r)s, %(kitchen)s, 'kitchen');
INSERT INTO dining_tables (restaurant_id, id, label, seats, qr_token) VALUES
    (%(r)s, %(t1)s, 'T1', 4, 'legacy-qr-t1'), (%(r)s, %(t2)s, 'T2', 2, 'legacy-qr-t2');
INSERT INTO guest_sessions (restaurant_id, id, table_id, expires_at) VALUES (%(r)s, %(session)s, %(t1)s, now() + interval '4 hours');
INSERT INTO menu_categories (restaurant_id, id, name, rank) VALUES (%(r)s, %(category)s, 'Mains', 1);
INSERT INTO menu_items (restaurant_id, id, category_id, name, price) VALUES
    (%(r)s, %(paneer)s, %(category)s, 'Paneer Tikka', 25000), (%(r)s, %(dal)s, %(category)s, 'Dal Makhani', 18050);
INSERT INTO menu_syncs (restaurant_id, source, status, counts, duration_ms) VALUES (%(r)s, 'pull', 'ok', '{"items": 2}', 12);
INSERT INTO petpooja_outlets (restaurant_id, rest_id, environment, credentials, key_id, callback_secret) VALUES
    (%(r)s, 'legacy-outlet', 'sandbox', decode(repeat('ab', 40), 'hex'), 'legacy-key', repeat('s', 43));
INSERT INTO restaurant_webhooks (restaurant_id, url, secret, key_id) VALUES
    (%(r)s, 'https://legacy.example/hooks', decode(repeat('cd', 40), 'hex'), 'legacy-key');
INSERT INTO orders (restaurant_id, id, number, table_id, session_id, order_type, currency, subtotal, tax, total) VALUES
    (%(r)s, %(order)s, 1, %(t1)s, %(session)s, 'dine_in', 'INR', 68050, 3403, 71453);
INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price, quantity, line_total) VALUES
    (%(r)s, %(order)s, 1, %(paneer)s, 'Paneer Tikka', 25000, 2, 50000),
    (%(r)s, %(order)s, 2, %(dal)s, 'Dal Makhani', 18050, 1, 18050);
INSERT INTO order_events (restaurant_id, order_id, from_status, to_status, actor_type, actor_id) VALUES
    (%(r)s, %(order)s, NULL, 'pending', 'guest', %(session)s);
UPDATE orders SET status = 'confirmed' WHERE id = %(order)s;
INSERT INTO order_events (restaurant_id, order_id, from_status, to_status, actor_type, actor_id) VALUES
    (%(r)s, %(order)s, 'pending', 'confirmed', 'user', %(kitchen)s);
UPDATE petpooja_orders SET payload = '{"orderinfo": {}}', response = '{"success": "1"}',
       petpooja_order_id = '7001', pushed_at = now() WHERE order_id = %(order)s;
INSERT INTO idempotency_keys (restaurant_id, key, principal, request_hash, order_id) VALUES
    (%(r)s, 'legacy-key-1', 'guest:' || %(session)s, sha256('legacy body'::bytea), %(order)s);
INSERT INTO webhook_deliveries (restaurant_id, source, kind, body, body_sha256, result, detail) VALUES
    (%(r)s, 'petpooja', 'order-status', convert_to('{"status": "1"}', 'UTF8'),
     sha256(convert_to('{"status": "1"}', 'UTF8')), 'applied', '{"to": "confirmed"}');
INSERT INTO sync_log (restaurant_id, target, entity_type, entity_id, entity_version, status, attempts,
                      next_attempt_at, lease_owner, last_error, synced_at) VALUES
    (%(r)s, 'convex', 'table', %(t2)s, 1, 'synced', 1, now(), NULL, NULL, now()),
    (%(r)s, 'convex', 'menu_item', %(dal)s, 1, 'failed', 3, now() + interval '30 seconds', NULL, 'HTTP 503', NULL),
    (%(r)s, 'webhook', 'order', %(order)s, 1, 'dead', 10, now(), NULL, 'HTTP 410 Gone', NULL),
    (%(r)s, 'convex', 'order', %(order)s, 1, 'in_flight', 1, now() + interval '60 seconds', 'worker-legacy', NULL, NULL);
"""


def columns_by_table(db: Database) -> dict[str, list[str]]:
    """The columns of every table but the schema's own bookkeeping."""
    with psycopg.connect(db.admin) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name NOT IN ('schema_info', 'schema_migrations') ORDER BY table_name, ordinal_position")
        found: dict[str, list[str]] = {}
        for table, column in rows.fetchall():
            found.setdefault(table, []).append(column)
    return found


def rows_by_table(db: Database, columns: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Every row of every table (of ``columns``' tables and columns only, when given: what
    existed before an upgrade added more) as sorted JSON text."""
    columns = columns or columns_by_table(db)
    found: dict[str, list[str]] = {}
    with psycopg.connect(db.admin) as conn:
        for table, names in columns.items():
            query = sql.SQL("SELECT to_jsonb(t)::text FROM (SELECT {} FROM {}) t").format(
                sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(table))
            found[table] = sorted(row for (row,) in conn.execute(query).fetchall())
    return found


def app_settings(db: Database, signing_key_pem: str) -> Settings:
    """conftest's test settings, on ``db``."""
    return Settings.model_validate({
        "env_mode": "test", "database_url": db.app, "jwt_private_key": signing_key_pem,
        "jwt_issuer": "http://tabletop.test", "password_time_cost": 1, "password_memory_kib": 64,
        "log_format": "json", "log_level": "WARNING", "db_pool_min": 1, "db_pool_max": 4,
    })


async def test_upgrading_a_v4_database_keeps_every_row_and_the_system_works_on_it(
    new_database: MakeDatabase, signing_key_pem: str,
) -> None:
    db = at_v4(new_database())
    password_hash = argon2.PasswordHasher(time_cost=1, memory_cost=64).hash(PASSWORD)
    # Client-side binding: the server refuses parameters in a multi-statement string.
    with psycopg.connect(db.admin, cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute(LEGACY_DATA, {"hash": password_hash, **LEGACY_IDS})
    legacy_columns = columns_by_table(db)
    before = rows_by_table(db, legacy_columns)
    for table in ("users", "refresh_tokens", "restaurants", "order_counters", "memberships", "dining_tables",
                  "guest_sessions", "menu_categories", "menu_items", "menu_syncs", "orders", "order_items",
                  "order_events", "idempotency_keys", "sync_log", "petpooja_outlets", "petpooja_orders",
                  "restaurant_webhooks", "webhook_deliveries"):
        assert before[table], f"the legacy data fills {table}"
    assert {(r["target"], r["status"]) for r in db.sql("SELECT target, status FROM sync_log")} >= {
        ("convex", "pending"), ("petpooja", "pending"), ("webhook", "pending"), ("convex", "synced"),
        ("convex", "failed"), ("webhook", "dead"), ("convex", "in_flight")}

    app = create_app(app_settings(db, signing_key_pem))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabletop.test") as client:
            # New code on the old database: not ready until the migrations ran.
            assert (await client.get("/ready")).json() == {"status": "unavailable", "reason": "schema_outdated"}

            assert migrate.upgrade(db.admin) == LABELS[1:]  # 0001 recorded as the baseline, the rest applied
            assert rows_by_table(db, legacy_columns) == before
            # The integrations the restaurant had became its enabled outbox targets (0003).
            assert db.sql("SELECT target FROM restaurant_targets WHERE restaurant_id = %s ORDER BY 1", (R,)) == [
                {"target": "petpooja"}, {"target": "webhook"}]
            history = db.sql("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
            assert history == [{"version": m.version, "name": m.name, "checksum": None if m.version == 1
                                else m.checksum()} for m in migrate.discover()]
            assert db.sql("SELECT to_regclass('public.schema_info') AS t") == [{"t": None}]
            assert expect(await client.get("/ready"), 200) == {"status": "ready"}

            tokens = expect(await client.post("/api/auth/login", json={"email": "owner@legacy.test",
                                                                       "password": PASSWORD}), 200)
            owner = {"Authorization": f"Bearer {tokens['access_token']}"}
            old = expect(await client.get(f"/api/restaurants/{R}/orders/{ORDER}", headers=owner), 200)
            assert (old["number"], old["status"], old["total"], old["table_label"]) == (1, "confirmed", 71453, "T1")
            assert [(i["name"], i["quantity"]) for i in old["items"]] == [("Paneer Tikka", 2), ("Dal Makhani", 1)]

            guest = expect(await client.post("/api/qr/legacy-qr-t1/session"), 201)
            new = expect(await client.post(
                f"/api/restaurants/{R}/orders", headers={"Authorization": f"Bearer {guest['session_token']}"},
                json={"items": [{"menu_item_id": DAL, "quantity": 1}]}), 201)
            assert (new["number"], new["status"], new["total"]) == (2, "pending", 18050 + 903)
            # Routed by the upgraded trigger to every target the restaurant had before.
            assert db.sql("SELECT target FROM sync_log WHERE entity_id = %s ORDER BY 1", (new["id"],)) == [
                {"target": "convex"}, {"target": "petpooja"}, {"target": "webhook"}]


def test_an_empty_database_gets_every_migration_from_0001_and_a_second_run_applies_nothing(
    new_database: MakeDatabase,
) -> None:
    db = new_database()
    heard: list[str] = []
    assert migrate.upgrade(db.admin, progress=heard.append) == LABELS
    assert heard == [f"{label}: applied" for label in LABELS]
    assert db.sql("SELECT version, name, checksum FROM schema_migrations ORDER BY version") == [
        {"version": m.version, "name": m.name, "checksum": m.checksum()} for m in migrate.discover()]
    assert migrate.upgrade(db.admin) == []
    assert migrate.status(db.admin).pending == []


def test_a_database_at_an_older_migration_gets_only_the_newer_ones(new_database: MakeDatabase, tmp_path: Path) -> None:
    db = new_database()
    assert migrate.upgrade(db.admin, directory=migrations_copy(tmp_path, upto=1)) == LABELS[:1]
    assert db.sql("SELECT schema_version FROM schema_info") == [{"schema_version": 4}]
    assert migrate.upgrade(db.admin) == LABELS[1:]
    assert [r["version"] for r in db.sql("SELECT version FROM schema_migrations ORDER BY 1")] == list(
        range(1, len(LABELS) + 1))


def test_two_upgrades_racing_on_one_empty_database_apply_each_migration_exactly_once(
    new_database: MakeDatabase,
) -> None:
    db = new_database()
    start = threading.Barrier(2)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            results.append(migrate.upgrade(db.admin))
        except BaseException as exc:  # reported below, with the other thread's outcome
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == 2, (errors, results)
    assert sorted(results, key=len) == [[], LABELS], "one run applied everything, the other waited and found nothing"
    assert db.sql("SELECT version, count(*) AS n FROM schema_migrations GROUP BY 1 ORDER BY 1") == [
        {"version": v, "n": 1} for v in range(1, len(LABELS) + 1)]


def test_a_migration_that_fails_is_rolled_back_with_its_history_row_and_named(
    new_database: MakeDatabase, tmp_path: Path,
) -> None:
    db = new_database()
    directory = migrations_copy(tmp_path, upto=len(LABELS), extra={
        f"{len(LABELS) + 1:04d}_broken.sql": "CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n"})
    with pytest.raises(MigrationError, match=rf"{len(LABELS) + 1:04d}_broken\.sql failed and was rolled back: "
                                             r"DivisionByZero"):
        migrate.upgrade(db.admin, directory=directory)
    assert db.sql("SELECT max(version) AS v FROM schema_migrations") == [{"v": len(LABELS)}]
    assert db.sql("SELECT to_regclass('public.half_done') AS t") == [{"t": None}]


# ----------------------------------------------------------------------------- refusals


def everything(db: Database) -> tuple[dict[str, dict[str, str]], list[dict[str, Any]], dict[str, list[str]]]:
    """The catalog, the full history (checksums and times too) and every row: to show nothing changed."""
    history = db.sql("SELECT * FROM schema_migrations ORDER BY version") if db.sql(
        "SELECT to_regclass('public.schema_migrations') IS NOT NULL AS present")[0]["present"] else []
    return catalog(db.admin), history, rows_by_table(db)


def test_an_edited_applied_migration_is_refused_by_name_and_nothing_changes(
    new_database: MakeDatabase, tmp_path: Path,
) -> None:
    db = new_database()
    migrate.upgrade(db.admin, directory=migrations_copy(tmp_path, upto=1))  # 0002 onwards still pending
    db.sql("UPDATE schema_migrations SET checksum = encode(sha256('the file as it was released'::bytea), 'hex')"
           " WHERE version = 1")
    unchanged = everything(db)
    with pytest.raises(MigrationError, match=r"^0001_initial\.sql differs from the file that was applied .*"
                                             r"never edit a released migration"):
        migrate.upgrade(db.admin)
    assert everything(db) == unchanged
    assert migrate.status(db.admin).problem is not None


def test_a_database_newer_than_the_code_is_refused_and_nothing_changes(new_database: MakeDatabase) -> None:
    db = new_database()
    migrate.upgrade(db.admin)
    newer = len(LABELS) + 1
    db.sql("INSERT INTO schema_migrations (version, name, checksum) VALUES (%(v)s, 'from_newer_code', NULL)",
           {"v": newer})
    unchanged = everything(db)
    with pytest.raises(MigrationError, match=rf"database is at migration {newer}, newer than this code's newest "
                                             rf"\({LABELS[-1]}\.sql\): the code is older than the database"):
        migrate.upgrade(db.admin)
    assert everything(db) == unchanged


def test_a_schema_info_version_other_than_4_is_refused_and_nothing_changes(new_database: MakeDatabase) -> None:
    db = at_v4(new_database())
    db.sql("UPDATE schema_info SET schema_version = 3")
    unchanged = everything(db)
    with pytest.raises(MigrationError, match=r"records schema_info\.schema_version 3; only a database at version 4"):
        migrate.upgrade(db.admin)
    assert everything(db) == unchanged
    assert db.sql("SELECT to_regclass('public.schema_migrations') AS t") == [{"t": None}]


def test_a_database_this_project_did_not_make_is_refused_and_nothing_changes(new_database: MakeDatabase) -> None:
    db = new_database()
    db.sql("CREATE TABLE someone_elses (id int)")
    unchanged = everything(db)
    with pytest.raises(MigrationError, match=r"not empty \(someone_elses, \.\.\.\) but has neither"):
        migrate.upgrade(db.admin)
    assert everything(db) == unchanged


@pytest.mark.parametrize(("files", "complaint"), [
    (["0001_initial.sql", "0003_later.sql"], r"0003_later\.sql: .* without gaps or duplicates; expected 0002"),
    (["0001_initial.sql", "0001_again.sql"], r"0001_initial\.sql: .* expected 0002"),
    (["0001_initial.sql", "V2__camel.sql"], r"V2__camel\.sql: a migration is named NNNN_snake_case_name\.sql"),
    (["0001_Initial.sql"], r"0001_Initial\.sql: a migration is named"),
    ([], r"no migrations in"),
])
def test_a_misnumbered_or_misnamed_migration_file_is_refused(tmp_path: Path, files: list[str], complaint: str) -> None:
    for name in files:
        (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match=complaint):
        migrate.discover(tmp_path)


# ---------------------------------------------------------------------------------- CLI


def cli(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DATABASE_ADMIN_URL"}}
    if database_url is not None:
        env["DATABASE_ADMIN_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "db.migrate", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_cli_lists_pending_migrations_then_applies_and_prints_each(new_database: MakeDatabase) -> None:
    db = new_database()
    before = cli("status", database_url=db.admin)
    assert before.returncode == 0, before.stderr
    assert [line.split() for line in before.stdout.splitlines()[:-1]] == [[label, "pending"] for label in LABELS]
    assert before.stdout.splitlines()[-1] == f"database at version 0, code at {len(LABELS)}; {len(LABELS)} pending"

    up = cli("up", "--database-url", db.admin)
    assert up.returncode == 0, up.stderr
    assert up.stdout.splitlines() == [*(f"{label}: applied" for label in LABELS),
                                      f"{len(LABELS)} applied; database at version {len(LABELS)}"]

    after = cli("status", database_url=db.admin)
    assert after.returncode == 0, after.stderr
    for label, line in zip(LABELS, after.stdout.splitlines(), strict=False):
        assert re.fullmatch(rf"{label} +applied \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d \S+", line), line
    assert after.stdout.splitlines()[-1] == f"database at version {len(LABELS)}, code at {len(LABELS)}; 0 pending"
    again = cli("up", database_url=db.admin)
    assert (again.returncode, again.stdout) == (0, f"0 applied; database at version {len(LABELS)}\n")


def test_the_cli_adopts_a_v4_database_as_a_baseline(new_database: MakeDatabase) -> None:
    db = at_v4(new_database())
    before = cli("status", database_url=db.admin)
    assert before.returncode == 0, before.stderr
    assert "0001_initial" in before.stdout and "recorded as a baseline" in before.stdout
    up = cli("up", database_url=db.admin)
    assert up.returncode == 0, up.stderr
    assert up.stdout.splitlines()[0] == (
        "0001_initial: recorded as applied (baseline: the database was made from schema.sql version 4)")
    assert "(baseline)" in cli("status", database_url=db.admin).stdout.splitlines()[0]


def test_the_cli_exits_non_zero_with_the_reason_when_it_refuses_or_has_no_database(new_database: MakeDatabase) -> None:
    db = new_database()
    migrate.upgrade(db.admin)
    db.sql("UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 2")
    for command in ("up", "status"):
        done = cli(command, database_url=db.admin)
        assert done.returncode == 1, done
        assert "0002_migration_history.sql differs from the file that was applied" in done.stderr
        assert "never edit a released migration" in done.stderr
    nowhere = cli("up")
    assert nowhere.returncode == 2
    assert "no database: pass --database-url or set DATABASE_ADMIN_URL or DATABASE_URL" in nowhere.stderr
