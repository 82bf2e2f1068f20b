"""Order exports: an owner asks, the worker's code builds the file, the signed URL downloads it.

The files are opened as a spreadsheet program would (openpyxl reads the workbook, csv the zip's
files) and compared with the orders placed; times are the restaurant's local time, money its
currency's major units. Concurrent builds each get a whole file of their own; a build whose
worker died is taken over once its lease runs out; expired files are deleted.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import pytest
from openpyxl import load_workbook
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from bench.exports import seed
from db import exports
from db.pool import Database
from sync.config import SyncSettings
from sync.exports import Builder
from sync.worker import Worker
from tests.conftest import MakeRestaurant, Restaurant, expect, order_body, overrides

DbSql = Callable[..., list[dict[str, Any]]]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def sync_settings(tmp_path: Path) -> SyncSettings:
    return SyncSettings(export_dir=tmp_path / "exports", export_lease_s=30, export_page_size=7)


@pytest.fixture
async def app(settings: Settings, sync_settings: SyncSettings) -> AsyncIterator[Starlette]:
    application = create_app(settings, sync_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def builder(app_conninfo: str, sync_settings: SyncSettings) -> AsyncIterator[Builder]:
    db = Database(app_conninfo, min_size=1, max_size=8)
    await db.open(wait=True)
    yield Builder(db, sync_settings, "test-worker")
    await db.close()


async def _place(client: httpx.AsyncClient, r: Restaurant, at: str, db_sql: DbSql, **extra: Any) -> dict[str, Any]:
    """An order placed by the owner through the API, then dated ``at`` (UTC)."""
    body = {**order_body(r), **extra}
    order = expect(await client.post(r.url("/orders"), headers=r.owner.headers, json=body), 201)
    db_sql("UPDATE orders SET created_at = %s WHERE id = %s", (at, order["id"]))
    return order


async def _ready(client: httpx.AsyncClient, r: Restaurant, export_id: str) -> dict[str, Any]:
    answer = expect(await client.get(r.url(f"/exports/{export_id}"), headers=r.owner.headers), 200)
    assert answer["status"] == "ready", answer
    return answer


async def _download(client: httpx.AsyncClient, url: str) -> httpx.Response:
    parts = urlsplit(url)
    return await client.get(f"{parts.path}?{parts.query}")


async def test_an_xlsx_export_has_an_orders_and_a_lines_sheet_in_local_time_and_the_restaurants_currency(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql, builder: Builder) -> None:
    r = await make_restaurant()  # INR, Asia/Kolkata (UTC+05:30)
    # 2026-03-01 23:30 local (outside the range), 2026-03-02 00:30 and 23:59 local (inside), 03-03 00:00 (outside).
    await _place(client, r, "2026-03-01T18:00:00Z", db_sql)
    first = await _place(client, r, "2026-03-01T19:00:00Z", db_sql, customer_name="=HYPERLINK(\"x\")", tip=1000,
                         table_id=r.tables[0]["id"])
    second = await _place(client, r, "2026-03-02T18:29:00Z", db_sql)
    await _place(client, r, "2026-03-02T18:30:00Z", db_sql)
    queued = expect(await client.post(r.url("/exports"), headers=r.owner.headers,
                                      json={"from": "2026-03-02", "to": "2026-03-02", "format": "xlsx"}), 202)
    assert queued["status"] == "queued" and queued["download_url"] is None
    built = await builder.build_next()
    assert built is not None and (built.orders, built.lines) == (2, 4)
    answer = await _ready(client, r, queued["id"])
    assert (answer["orders_count"], answer["lines_count"]) == (2, 4)
    response = await _download(client, answer["download_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"] == 'attachment; filename="orders-2026-03-02-to-2026-03-02.xlsx"'
    assert int(response.headers["content-length"]) == len(response.content) == answer["size_bytes"]

    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Orders", "Lines"]
    orders = [[c.value for c in row] for row in book["Orders"].iter_rows()]
    assert orders[0][:2] == ["Order number", "Created (Asia/Kolkata)"]
    assert [row[0] for row in orders[1:]] == [first["number"], second["number"]]
    assert orders[1][1] == datetime(2026, 3, 2, 0, 30) and orders[2][1] == datetime(2026, 3, 2, 23, 59)
    assert orders[1][5] == '=HYPERLINK("x")'  # a customer's name stays text, never a formula
    assert book["Orders"]["F2"].data_type == "s"
    columns = orders[0]
    for row, order, kind in ((orders[1], first, ("dine_in", "T1")), (orders[2], second, ("takeaway", None))):
        for field in ("subtotal", "tax", "tip", "discount", "total"):
            assert Decimal(str(row[columns.index(field.capitalize())])) == Decimal(order[field]) / 100, field
        assert row[columns.index("Currency")] == "INR"
        assert (row[2], row[3], row[4]) == (*kind, "pending")
    assert book["Orders"]["L2"].number_format == '#,##0.00 "INR"'
    lines = [[c.value for c in row] for row in book["Lines"].iter_rows()]
    assert lines[0] == ["Order number", "Item", "Variation", "Addons", "Quantity", "Unit price", "Line total",
                        "Currency", "Notes"]
    assert [(x[0], x[1], x[4], x[5], x[6]) for x in lines[1:]] == [
        (first["number"], "Paneer Tikka", 2, 250, 500), (first["number"], "Dal Makhani", 1, 180.5, 180.5),
        (second["number"], "Paneer Tikka", 2, 250, 500), (second["number"], "Dal Makhani", 1, 180.5, 180.5)]


async def test_a_csv_export_is_a_zip_of_orders_and_lines_with_local_offsets_and_the_currencys_digits(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, db_sql: DbSql, builder: Builder) -> None:
    r = await make_restaurant(currency="JPY")
    db_sql("UPDATE restaurants SET timezone = 'America/New_York' WHERE id = %s", (r.id,))
    order = await _place(client, r, "2026-07-04T03:30:00Z", db_sql, notes="-1 spicy")  # 07-03 23:30 EDT
    # An order from before the restaurant moved from KWD (3 digits) keeps its own currency.
    older = await _place(client, r, "2026-07-01T12:00:00Z", db_sql)
    db_sql("UPDATE orders SET currency = 'KWD' WHERE id = %s", (older["id"],))
    queued = expect(await client.post(r.url("/exports"), headers=r.owner.headers,
                                      json={"from": "2026-07-01", "to": "2026-07-03", "format": "csv"}), 202)
    assert await builder.build_next() is not None
    response = await _download(client, (await _ready(client, r, queued["id"]))["download_url"])
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].endswith('filename="orders-2026-07-01-to-2026-07-03.zip"')
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["orders.csv", "lines.csv"]
    orders = list(csv.DictReader(io.StringIO(archive.read("orders.csv").decode("utf-8-sig"))))
    lines = list(csv.DictReader(io.StringIO(archive.read("lines.csv").decode("utf-8-sig"))))
    assert len(orders) == 2 and len(lines) == 4
    kwd, row = orders
    assert (kwd["Order number"], kwd["Total"], kwd["Currency"]) == (str(older["number"]), f"{older['total'] / 1000:.3f}", "KWD")
    assert (lines[0]["Unit price"], lines[0]["Currency"]) == ("25.000", "KWD")
    lines = lines[2:]
    assert row["Order number"] == str(order["number"])
    assert row["Created (America/New_York)"] == "2026-07-03T23:30:00-04:00"
    assert (row["Subtotal"], row["Total"], row["Currency"]) == (str(order["subtotal"]), str(order["total"]), "JPY")
    assert row["Notes"] == "'-1 spicy"  # a leading '-' would be a formula to a spreadsheet
    assert [(x["Item"], x["Quantity"], x["Unit price"], x["Line total"]) for x in lines] == [
        ("Paneer Tikka", "2", "25000", "50000"), ("Dal Makhani", "1", "18050", "18050")]


@overrides(export_max_pending=2)
async def test_bad_requests_are_refused_with_their_own_codes_and_write_nothing(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, make_member: Any, db_sql: DbSql) -> None:
    r = await make_restaurant()
    staff = await make_member(r, "staff")
    cases: list[tuple[dict[str, Any], dict[str, str], int, str]] = [
        ({"from": "2026-03-02", "to": "2026-03-01"}, r.owner.headers, 422, "invalid_range"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, r.owner.headers, 422, "range_too_long"),
        ({"from": "2026-03-01", "to": "2026-03-01", "format": "pdf"}, r.owner.headers, 422, "validation_error"),
        ({"from": "03/01/2026", "to": "2026-03-01"}, r.owner.headers, 422, "validation_error"),
        ({"from": "2026-03-01", "to": "2026-03-01"}, staff.headers, 403, "forbidden"),
    ]
    for body, headers, status, code in cases:
        answer = expect(await client.post(r.url("/exports"), headers=headers, json=body), status)
        assert answer["code"] == code, (body, answer)
    assert db_sql("SELECT count(*) AS n FROM exports")[0]["n"] == 0
    ok = {"from": "2025-01-01", "to": "2026-01-01"}  # 366 days: the longest range
    for _ in range(2):
        expect(await client.post(r.url("/exports"), headers=r.owner.headers, json=ok), 202)
    busy = await client.post(r.url("/exports"), headers=r.owner.headers, json=ok)
    assert busy.status_code == 429 and busy.json()["code"] == "too_many_exports" and busy.headers["retry-after"]
    assert db_sql("SELECT count(*) AS n FROM exports")[0]["n"] == 2
    listed = expect(await client.get(r.url("/exports"), headers=r.owner.headers), 200)
    assert [x["status"] for x in listed["items"]] == ["queued", "queued"]


async def test_five_concurrent_exports_of_one_restaurant_each_build_a_whole_file_of_their_own(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, admin_conninfo: str, app_conninfo: str,
        sync_settings: SyncSettings, db_sql: DbSql) -> None:
    r = await make_restaurant()
    ends = datetime(2026, 5, 31, 12, tzinfo=UTC)
    seeded = seed(admin_conninfo, 1000, days=30, ends=ends)
    rid = str(seeded["restaurant_id"])
    db_sql("INSERT INTO memberships (restaurant_id, user_id, role) VALUES (%s, %s, 'owner')", (rid, r.owner.id))
    url = f"/api/restaurants/{rid}/exports"
    body = {"from": "2026-04-01", "to": "2026-06-01", "format": "xlsx"}
    ids = [expect(await client.post(url, headers=r.owner.headers, json=body), 202)["id"] for _ in range(5)]
    # Five workers, each on its own pool, all at once.
    pools = [Database(app_conninfo, min_size=1, max_size=3) for _ in range(5)]
    for pool in pools:
        await pool.open(wait=True)
    try:
        built = await asyncio.gather(*(Builder(pool, sync_settings.model_copy(update={"export_page_size": 500}),
                                               f"worker-{n}").build_due() for n, pool in enumerate(pools)))
    finally:
        for pool in pools:
            await pool.close()
    assert sum(built) == 5
    rows = db_sql("SELECT id::text, status, attempts, file_name, orders_count, lines_count FROM exports"
                  " WHERE restaurant_id = %s", (rid,))
    assert {x["id"] for x in rows} == set(ids)
    assert {(x["status"], x["attempts"], x["orders_count"], x["lines_count"]) for x in rows} == {("ready", 1, 1000, 2000)}
    assert len({x["file_name"] for x in rows}) == 5
    contents = set()
    for export_id in ids:
        answer = expect(await client.get(f"{url}/{export_id}", headers=r.owner.headers), 200)
        response = await _download(client, answer["download_url"])
        book = load_workbook(io.BytesIO(response.content), read_only=True)
        orders = list(book["Orders"].iter_rows(values_only=True))
        assert len(orders) == 1001 and sum(1 for _ in book["Lines"].iter_rows(values_only=True)) == 2001
        contents.add(tuple(orders))
    assert len(contents) == 1  # the same orders in each
    assert sorted(p.name for p in sync_settings.export_dir.iterdir()) == sorted(x["file_name"] for x in rows)


async def test_the_download_url_is_refused_alike_when_forged_expired_or_naming_another_export(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, builder: Builder, app: Starlette,
        db_sql: DbSql) -> None:
    from api.routes.exports import signature

    svc = app.state.services
    a, b = await make_restaurant(), await make_restaurant()
    body = {"from": "2026-01-01", "to": "2026-01-31"}
    mine = expect(await client.post(a.url("/exports"), headers=a.owner.headers, json=body), 202)
    other = expect(await client.post(b.url("/exports"), headers=b.owner.headers, json=body), 202)
    assert await builder.build_due() == 2
    answer = await _ready(client, a, mine["id"])
    url = answer["download_url"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    expires = int(query["expires"])
    assert expires <= int(datetime.now(UTC).timestamp()) + svc.settings.export_url_ttl_s
    theirs = (await _ready(client, b, other["id"]))["download_url"]
    theirs_query = urlsplit(theirs).query
    past = int(datetime.now(UTC).timestamp()) - 1
    far = int(datetime.now(UTC).timestamp()) + svc.settings.export_url_ttl_s + 3600
    unknown = "00000000-0000-4000-8000-000000000000"
    refused = [
        f"/api/exports/{mine['id']}/download?expires={expires}&sig={'0' * 64}",
        f"/api/exports/{mine['id']}/download?expires={expires + 1}&sig={query['sig']}",
        f"/api/exports/{mine['id']}/download?{theirs_query}",
        f"/api/exports/{mine['id']}/download?expires={past}&sig={signature(svc, UUID(mine['id']), past)}",
        f"/api/exports/{mine['id']}/download?expires={far}&sig={signature(svc, UUID(mine['id']), far)}",
        f"/api/exports/{unknown}/download?expires={expires}&sig={signature(svc, UUID(unknown), expires)}",
    ]
    for bad in refused:
        response = await client.get(bad)
        assert response.status_code == 404 and response.json()["code"] == "not_found", bad
        assert mine["id"] not in response.text or mine["id"] in bad
    assert (await client.get(f"/api/exports/{mine['id']}/download")).status_code == 422
    assert (await _download(client, url)).status_code == 200
    # Another restaurant's owner cannot read the export's status (and so its URL).
    refused_status = await client.get(a.url(f"/exports/{mine['id']}"), headers=b.owner.headers)
    assert refused_status.status_code == 404
    assert (await client.get(b.url(f"/exports/{mine['id']}"), headers=b.owner.headers)).status_code == 404
    # A file past its expiry is not served even before housekeeping deletes it.
    db_sql("UPDATE exports SET expires_at = now() - interval '1 second' WHERE id = %s", (mine["id"],))
    assert (await _download(client, url)).status_code == 404


async def test_housekeeping_deletes_expired_files_and_marks_their_exports_expired(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, app_conninfo: str, sync_settings: SyncSettings,
        db_sql: DbSql) -> None:
    r = await make_restaurant()
    body = {"from": "2026-01-01", "to": "2026-01-31", "format": "csv"}
    old = expect(await client.post(r.url("/exports"), headers=r.owner.headers, json=body), 202)
    fresh = expect(await client.post(r.url("/exports"), headers=r.owner.headers, json=body), 202)
    worker = Worker(Database(app_conninfo, min_size=1, max_size=4), [], sync_settings)
    await worker.db.open(wait=True)
    try:
        assert await worker.build_exports() == 2
        url = (await _ready(client, r, old["id"]))["download_url"]
        db_sql("UPDATE exports SET expires_at = now() - interval '1 minute' WHERE id = %s", (old["id"],))
        await worker.housekeeping()
    finally:
        await worker.db.close()
    rows = {x["id"]: x for x in db_sql("SELECT id::text, status, file_name FROM exports")}
    assert rows[old["id"]]["status"] == "expired" and rows[old["id"]]["file_name"] is None
    assert rows[fresh["id"]]["status"] == "ready"
    assert [p.name for p in sync_settings.export_dir.iterdir()] == [rows[fresh["id"]]["file_name"]]
    answer = expect(await client.get(r.url(f"/exports/{old['id']}"), headers=r.owner.headers), 200)
    assert answer["status"] == "expired" and answer["download_url"] is None
    assert (await _download(client, url)).status_code == 404


async def test_a_build_whose_worker_died_is_taken_over_once_its_lease_runs_out_and_fails_after_its_attempts(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, builder: Builder, db_sql: DbSql,
        sync_settings: SyncSettings) -> None:
    r = await make_restaurant()
    await _place(client, r, "2026-02-10T10:00:00Z", db_sql)
    body = {"from": "2026-02-01", "to": "2026-02-28"}
    crashed = expect(await client.post(r.url("/exports"), headers=r.owner.headers, json=body), 202)
    # A worker claims it and dies: its row stays running with a lease, and a leftover part file.
    async with builder.db.system() as conn:
        claimed = await exports.claim(conn, owner="dead-worker", lease_s=30, max_attempts=3)
    assert claimed is not None and claimed["attempts"] == 1
    sync_settings.export_dir.mkdir(parents=True, exist_ok=True)
    leftover = sync_settings.export_dir / f".{crashed['id']}.k1llEd.part"
    leftover.write_bytes(b"PK half a workbook")
    os.utime(leftover, (time.time() - 600, time.time() - 600))
    assert await builder.build_next() is None  # still leased: nobody takes it
    assert await builder.sweep_parts() == 0 and leftover.exists()  # its export is running: maybe live
    db_sql("UPDATE exports SET lease_until = now() - interval '1 second' WHERE id = %s", (crashed["id"],))
    built = await builder.build_next()
    assert built is not None and built.orders == 1
    answer = await _ready(client, r, crashed["id"])
    assert answer["attempts"] == 2
    assert await builder.sweep_parts() == 1 and not leftover.exists()  # the dead worker's half file
    # The dead worker's late answer changes nothing: the build is no longer its.
    async with builder.db.system() as conn:
        assert not await exports.finish(conn, UUID(crashed["id"]), owner="dead-worker", file_name="x", orders=0,
                                        lines=0, size_bytes=0, ttl_s=60)
    # One that died on every attempt fails for good, saying so.
    doomed = expect(await client.post(r.url("/exports"), headers=r.owner.headers, json=body), 202)
    db_sql("UPDATE exports SET status = 'running', attempts = 3, owner = 'dead', lease_until = now() - interval '1 s'"
           " WHERE id = %s", (doomed["id"],))
    assert await builder.build_next() is None
    failed = expect(await client.get(r.url(f"/exports/{doomed['id']}"), headers=r.owner.headers), 200)
    assert failed["status"] == "failed" and "3 attempts" in failed["error"]


async def test_an_export_of_a_range_without_orders_is_a_valid_empty_workbook(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, builder: Builder) -> None:
    r = await make_restaurant()
    day = date.today() + timedelta(days=400)
    queued = expect(await client.post(r.url("/exports"), headers=r.owner.headers,
                                      json={"from": day.isoformat(), "to": day.isoformat()}), 202)
    await builder.build_due()
    response = await _download(client, (await _ready(client, r, queued["id"]))["download_url"])
    book = load_workbook(io.BytesIO(response.content))
    assert [book[s].max_row for s in book.sheetnames] == [1, 1]


async def test_a_claim_takes_exactly_one_export(
        client: httpx.AsyncClient, make_restaurant: MakeRestaurant, builder: Builder, db_sql: DbSql) -> None:
    r = await make_restaurant()
    for _ in range(3):
        expect(await client.post(r.url("/exports"), headers=r.owner.headers,
                                 json={"from": "2026-01-01", "to": "2026-01-02"}), 202)
    async with builder.db.system() as conn:
        assert await exports.claim(conn, owner="w", lease_s=30, max_attempts=3) is not None
    statuses = [x["status"] for x in db_sql("SELECT status FROM exports ORDER BY created_at")]
    assert statuses == ["running", "queued", "queued"]
