"""The export benchmark (``bash bench/run --only-export``): seeds a restaurant with N orders
straight in SQL (generate_series, triggers off: the order path is not what is measured), builds
its xlsx export with the worker's own code (sync/exports.py) and reports the build's time and
the process's peak memory, for 10k and then 100k orders. Memory that stays flat while the
orders grow tenfold is what write-only openpyxl and the server-side cursor promise.

Each size runs in a fresh child process so that its peak RSS (getrusage ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from db.pool import Database
from sync.exports import write_file

# A restaurant of its own, its two dishes and a table (every id fresh), then N orders of two
# lines each spread over the days before ``ends``. Run as the superuser with triggers off
# (session_replication_role = replica): no outbox rows, no version bumps, no FK checks.
SEED_RESTAURANT = """
WITH r AS (INSERT INTO restaurants (name, currency, timezone) VALUES (%(name)s, %(currency)s, %(timezone)s)
           RETURNING id),
     c AS (INSERT INTO menu_categories (restaurant_id, name) SELECT id, 'Mains' FROM r RETURNING restaurant_id, id),
     i AS (INSERT INTO menu_items (restaurant_id, category_id, name, price)
           SELECT c.restaurant_id, c.id, d.name, d.price FROM c,
                  (VALUES ('Paneer Tikka', 25000), ('Dal Makhani', 18050)) AS d (name, price)
           RETURNING id),
     t AS (INSERT INTO dining_tables (restaurant_id, label, qr_token)
           SELECT id, 'T1', 'bench-' || gen_random_uuid() FROM r RETURNING id)
SELECT (SELECT id FROM r) AS restaurant_id, (SELECT id FROM t) AS table_id,
       (SELECT array_agg(id) FROM i) AS items
"""

SEED_ORDERS = """
WITH o AS (
    INSERT INTO orders (restaurant_id, number, table_id, status, order_type, customer_name, currency,
                        subtotal, tax, tip, discount, total, created_at)
    SELECT %(restaurant_id)s, %(first)s + g, CASE WHEN g %% 3 = 0 THEN NULL ELSE %(table_id)s::uuid END,
           'completed', CASE WHEN g %% 3 = 0 THEN 'takeaway' ELSE 'dine_in' END, 'Guest ' || g, %(currency)s,
           43050, 2153, 500, 1000, 44703, %(ends)s::timestamptz - make_interval(secs => g * %(step_s)s)
      FROM generate_series(1, %(n)s) AS g
    RETURNING id)
INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price, quantity, line_total)
SELECT %(restaurant_id)s, o.id, p, (%(items)s::uuid[])[p], (ARRAY['Paneer Tikka', 'Dal Makhani'])[p],
       (ARRAY[25000, 18050])[p], 1, (ARRAY[25000, 18050])[p]
  FROM o CROSS JOIN generate_series(1, 2) AS p
"""


def seed(conninfo: str, n: int, *, days: int = 30, currency: str = "INR", timezone: str = "Asia/Kolkata",
         ends: datetime | None = None) -> dict[str, Any]:
    """A new restaurant with ``n`` orders of two lines over the ``days`` before ``ends`` (now)."""
    ends = ends or datetime.now(UTC)
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        conn.execute("SET session_replication_role = replica")
        made = conn.execute(SEED_RESTAURANT, {"name": f"Bench {n}", "currency": currency,
                                              "timezone": timezone}).fetchone()
        assert made is not None
        conn.execute(SEED_ORDERS, {
            "restaurant_id": made["restaurant_id"], "table_id": made["table_id"], "items": made["items"],
            "first": 0, "n": n, "currency": currency, "ends": ends, "step_s": days * 86400 / max(n, 1)})
    return {"restaurant_id": made["restaurant_id"], "ends": ends, "days": days}


async def build(conninfo: str, restaurant_id: UUID, from_date: Any, to_date: Any, directory: Path,
                fmt: str = "xlsx") -> dict[str, Any]:
    """One export built by the worker's code, with its time."""
    db = Database(conninfo, min_size=1, max_size=2)
    await db.open(wait=True)
    try:
        async with db.system() as conn:
            cur = await conn.execute("SELECT timezone, currency FROM restaurants WHERE id = %s", (restaurant_id,))
            zone, currency = await cur.fetchone() or ("UTC", "INR")
        export = {"id": UUID(int=restaurant_id.int ^ 1), "restaurant_id": restaurant_id, "format": fmt,
                  "from_date": from_date, "to_date": to_date, "attempts": 1, "timezone": zone, "currency": currency}
        started = time.perf_counter()
        path, counts, size = await write_file(db, export, directory, page_size=2000)
        seconds = time.perf_counter() - started
    finally:
        await db.close()
    return {"orders": counts.orders, "lines": counts.lines, "size_bytes": size, "seconds": round(seconds, 2),
            "file": str(path)}


def _vm_hwm_kib() -> int | None:
    """The peak RSS since the last reset (Linux /proc), None elsewhere."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def _child(conninfo: str, n: int, trace: bool) -> None:
    """One size, in its own process: seed, build, measure, print JSON."""
    started = time.perf_counter()
    seeded = seed(conninfo, n)
    seed_s = time.perf_counter() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux: resets the process's peak RSS (VmHWM), so the peak read after is the build's own.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    if trace:
        tracemalloc.start()
    ends: datetime = seeded["ends"]
    with tempfile.TemporaryDirectory(prefix="export-bench-") as directory:
        first = (ends - timedelta(days=seeded["days"] + 1)).date()
        result = asyncio.run(build(conninfo, seeded["restaurant_id"], first, (ends + timedelta(days=1)).date(),
                                   Path(directory)))
        with zipfile.ZipFile(result["file"]) as archive:  # an xlsx is a zip: check it is whole
            assert archive.testzip() is None
    peak_traced = tracemalloc.get_traced_memory()[1] if trace else None
    print(json.dumps({"orders_seeded": n, "seed_s": round(seed_s, 1), **result, "file": None,
                      "build_peak_rss_kib": _vm_hwm_kib(),
                      "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "rss_before_build_kib": rss_before,
                      "peak_python_heap_kib": None if peak_traced is None else peak_traced // 1024}))


def run(out: Path, *, smoke: bool, tracemalloc_too: bool = False) -> dict[str, Any]:
    """``bash bench/run --only-export``: a fresh embedded Postgres of its own (the schema by the
    migrations), then each size in a child process; the figures, also written to ``out``."""
    from psycopg import sql

    from db import embedded, migrate

    pg_dir = Path(__file__).resolve().parent.parent / ".data" / "bench-export-pg"
    if (pg_dir / "postmaster.pid").exists():
        embedded.stop(pg_dir)
    shutil.rmtree(pg_dir, ignore_errors=True)
    socket_dir = embedded.start(pg_dir, keep_running=False)
    with psycopg.connect(embedded.conninfo(socket_dir, "postgres", user="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("bench_export")))
    admin_url = embedded.conninfo(socket_dir, "bench_export", user="postgres")
    migrate.upgrade(admin_url)
    sizes = (1000, 10000) if smoke else (10000, 100000)
    results = []
    for n in sizes:
        command = [sys.executable, "-m", "bench.exports", "--database-url", admin_url, "--child", str(n),
                   *(["--tracemalloc"] if tracemalloc_too else [])]
        done = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603  # our own module
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    report = {"export": results}
    (out / "export.json").write_text(json.dumps(report, indent=2) + "\n")
    print("xlsx export, built by sync/exports.py (times are noisy on a shared machine; memory is not)")
    print(f"{'orders':>7}  {'lines':>7}  {'seed_s':>6}  {'build_s':>7}  {'file_MiB':>8}  {'build_peak_RSS_MiB':>18}  "
          f"{'RSS_before_build_MiB':>20}" + ("  peak_heap_MiB" if tracemalloc_too else ""))
    for r in results:
        heap = f"  {r['peak_python_heap_kib'] / 1024:>13.1f}" if tracemalloc_too else ""
        print(f"{r['orders']:>7}  {r['lines']:>7}  {r['seed_s']:>6}  {r['seconds']:>7}  "
              f"{r['size_bytes'] / 2**20:>8.1f}  {(r['build_peak_rss_kib'] or r['peak_rss_kib']) / 1024:>18.1f}  "
              f"{r['rss_before_build_kib'] / 1024:>20.1f}{heap}")
    print(f"results: {out / 'export.json'}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help="also the Python heap's peak (slower)")
    args = parser.parse_args()
    if args.child:
        _child(args.database_url, args.child, args.tracemalloc)
        return
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        command = [sys.executable, "-m", "bench.exports", "--database-url", args.database_url, "--child", str(n)]
        if args.tracemalloc:
            command.append("--tracemalloc")
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603  # our own module
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print("orders   lines    build_s  file_MiB  peak_RSS_MiB  (rss before build)")
    for r in results:
        print(f"{r['orders']:>7}  {r['lines']:>7}  {r['seconds']:>7}  {r['size_bytes'] / 2**20:>8.1f}  "
              f"{r['peak_rss_kib'] / 1024:>12.1f}  ({r['rss_before_build_kib'] / 1024:.1f})")


if __name__ == "__main__":
    main()
