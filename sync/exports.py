"""Building order exports (docs/exports.md): the worker claims a queued export, streams its
orders and lines from a server-side cursor one page at a time into a file, and records the
result. Memory stays flat whatever the range: a page of rows, and openpyxl's write-only
workbook, which writes each sheet's rows to a temporary file as they come.

* xlsx: one workbook, sheet ``Orders`` (one row per order) and sheet ``Lines`` (one row per
  order line), money as numbers in major units with the currency in the cell's number format,
  times in the restaurant's time zone.
* csv: a zip holding ``orders.csv`` and ``lines.csv`` (the same columns), UTF-8 with a byte
  order mark (Excel reads it as UTF-8 then), money as decimal text, times ISO 8601 with the
  restaurant's offset.

Each build writes a temporary file of its own in EXPORT_DIR and renames it into place
(os.replace, atomic within one directory) under a name no other build uses (the export's id
and attempt), so concurrent builds never share a file and a reader never sees half a file.
The result is recorded only if the export is still this worker's build (its lease); a build
that lost its claim deletes its file.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import tempfile
import time
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import structlog
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from db import exports
from db.pool import Database
from db.queries import Row
from sync.config import SyncSettings
from sync.petpooja.payload import MINOR_DIGITS

log = structlog.get_logger("exports")

ORDER_COLUMNS = ("Order number", "Created", "Type", "Table", "Status", "Customer", "Phone", "Subtotal", "Tax",
                 "Tip", "Discount", "Total", "Currency", "Notes")
LINE_COLUMNS = ("Order number", "Item", "Variation", "Addons", "Quantity", "Unit price", "Line total", "Currency",
                "Notes")
MEDIA_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "csv": "application/zip"}
SUFFIXES = {"xlsx": "xlsx", "csv": "zip"}
# A text cell starting with one of these is a formula to a spreadsheet (CSV injection, OWASP):
# CSV cells get a leading apostrophe, xlsx cells are written as strings whatever they start with.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def file_name(export: Row) -> str:
    """Unique per build: the export's id and the attempt that built it."""
    return f"{export['id']}-{export['attempts']}.{SUFFIXES[export['format']]}"


def download_name(export: Row) -> str:
    """What the browser saves the file as."""
    return f"orders-{export['from_date']}-to-{export['to_date']}.{SUFFIXES[export['format']]}"


def money(minor: int, currency: str) -> Decimal:
    """Integer minor units as an exact Decimal in major units (the currency's digits)."""
    return Decimal(minor).scaleb(-MINOR_DIGITS.get(currency.upper(), 2))


def money_format(currency: str) -> str:
    """An Excel number format: thousands, the currency's digits, its code after the number."""
    digits = MINOR_DIGITS.get(currency.upper(), 2)
    return "#,##0" + ("." + "0" * digits if digits else "") + f' "{currency.upper()}"'


class Sink(Protocol):
    def order(self, row: Row) -> None: ...
    def line(self, row: Row) -> None: ...
    def close(self) -> None: ...


class XlsxSink:
    """A write-only workbook: rows go to each sheet's temporary file as they are appended."""

    def __init__(self, path: Path, zone: ZoneInfo, currency: str):
        self.path, self.zone, self.currency = path, zone, currency
        self.book = Workbook(write_only=True)
        self.orders: WriteOnlyWorksheet = self.book.create_sheet("Orders")
        self.lines: WriteOnlyWorksheet = self.book.create_sheet("Lines")
        self.money_format = money_format(currency)
        bold = Font(bold=True)
        for sheet, columns in ((self.orders, ORDER_COLUMNS), (self.lines, LINE_COLUMNS)):
            header = []
            for title in columns:
                cell = WriteOnlyCell(sheet, f"Created ({zone.key})" if title == "Created" else title)
                cell.font = bold
                header.append(cell)
            sheet.append(header)

    def _money(self, sheet: WriteOnlyWorksheet, minor: int, currency: str) -> Cell:
        # The exact decimal text goes into the file (openpyxl writes a Decimal as str()); the
        # stubs know only float. Each order's own currency: a restaurant that changed its
        # currency keeps its older orders in the one they were paid in.
        amount: Any = money(minor, currency)
        cell = WriteOnlyCell(sheet, amount)
        cell.number_format = self.money_format if currency == self.currency else money_format(currency)
        return cell

    def _text(self, sheet: WriteOnlyWorksheet, value: str | None) -> Any:
        if value is None or not value.startswith("="):
            return value
        cell = WriteOnlyCell(sheet, value)
        cell.data_type = "s"  # openpyxl would write "=..." as a formula
        return cell

    def order(self, row: Row) -> None:
        sheet = self.orders
        created = WriteOnlyCell(sheet, row["created_at"].astimezone(self.zone).replace(tzinfo=None))
        created.number_format = "yyyy-mm-dd hh:mm:ss"
        sheet.append([
            row["number"], created, row["order_type"], self._text(sheet, row["table_label"]), row["status"],
            self._text(sheet, row["customer_name"]), self._text(sheet, row["customer_phone"]),
            *(self._money(sheet, row[k], row["currency"]) for k in ("subtotal", "tax", "tip", "discount", "total")),
            row["currency"], self._text(sheet, row["notes"]),
        ])

    def line(self, row: Row) -> None:
        sheet = self.lines
        sheet.append([
            row["number"], self._text(sheet, row["item_name"]), self._text(sheet, row["variation_name"]),
            self._text(sheet, row["addons"]), row["quantity"], self._money(sheet, row["unit_price"], row["currency"]),
            self._money(sheet, row["line_total"], row["currency"]), row["currency"],
            self._text(sheet, row["line_notes"]),
        ])

    def close(self) -> None:
        self.book.save(self.path)


def _csv_text(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


class CsvSink:
    """orders.csv and lines.csv written beside the target, then zipped into it."""

    def __init__(self, path: Path, zone: ZoneInfo, currency: str):
        self.path, self.zone, self.currency = path, zone, currency
        self._files: list[tuple[str, io.TextIOWrapper]] = []
        self._writers = []
        for name, columns in (("orders.csv", ORDER_COLUMNS), ("lines.csv", LINE_COLUMNS)):
            handle = open(path.with_name(f"{path.name}.{name}"), "w", encoding="utf-8-sig", newline="")  # noqa: SIM115  # closed in close()
            self._files.append((name, handle))
            writer = csv.writer(handle)
            writer.writerow([f"Created ({zone.key})" if c == "Created" else c for c in columns])
            self._writers.append(writer)

    def _money(self, minor: int, currency: str) -> str:
        digits = MINOR_DIGITS.get(currency.upper(), 2)
        return f"{money(minor, currency):.{digits}f}"

    def order(self, row: Row) -> None:
        created: datetime = row["created_at"].astimezone(self.zone)
        self._writers[0].writerow([
            row["number"], created.isoformat(timespec="seconds"), row["order_type"], _csv_text(row["table_label"]),
            row["status"], _csv_text(row["customer_name"]), _csv_text(row["customer_phone"]),
            *(self._money(row[k], row["currency"]) for k in ("subtotal", "tax", "tip", "discount", "total")),
            row["currency"], _csv_text(row["notes"]),
        ])

    def line(self, row: Row) -> None:
        self._writers[1].writerow([
            row["number"], _csv_text(row["item_name"]), _csv_text(row["variation_name"]), _csv_text(row["addons"]),
            row["quantity"], self._money(row["unit_price"], row["currency"]),
            self._money(row["line_total"], row["currency"]), row["currency"],
            _csv_text(row["line_notes"]),
        ])

    def close(self) -> None:
        try:
            for _, handle in self._files:
                handle.close()
            with zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, handle in self._files:
                    archive.write(handle.name, arcname=name)
        finally:
            self.discard()

    def discard(self) -> None:
        for _, handle in self._files:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(handle.name)


@dataclass
class Counts:
    orders: int = 0
    lines: int = 0
    _last: Any = None

    def feed(self, sink: Sink, page: list[Row]) -> None:
        """One page of (order, line) rows into the sink; an order's row once, at its first line."""
        for row in page:
            if row["id"] != self._last:
                self._last = row["id"]
                self.orders += 1
                sink.order(row)
            if row["position"] is not None:
                self.lines += 1
                sink.line(row)


@dataclass(frozen=True)
class Built:
    export_id: Any
    file_name: str
    orders: int
    lines: int
    size_bytes: int
    seconds: float


def _sink(fmt: str, path: Path, zone: ZoneInfo, currency: str) -> XlsxSink | CsvSink:
    return XlsxSink(path, zone, currency) if fmt == "xlsx" else CsvSink(path, zone, currency)


def _new_part(directory: Path, export: Row) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{export['id']}.", suffix=".part")
    os.close(fd)
    return Path(temp)


def _complete(sink: XlsxSink | CsvSink, part: Path, final: Path) -> int:
    sink.close()
    os.replace(part, final)
    return final.stat().st_size


def _abandon(sink: XlsxSink | CsvSink, part: Path) -> None:
    if isinstance(sink, CsvSink):
        sink.discard()
    part.unlink(missing_ok=True)


def _parts(directory: Path, older_than_s: float) -> dict[Path, UUID]:
    """Part files (``.{export id}.*.part``) not touched for ``older_than_s``, by export id."""
    found: dict[Path, UUID] = {}
    if not directory.is_dir():
        return found
    cutoff = time.time() - older_than_s
    for path in directory.glob(".*.part"):
        with contextlib.suppress(ValueError, OSError):
            if path.stat().st_mtime < cutoff:
                found[path] = UUID(path.name.split(".")[1])
    return found


def _delete(directory: Path, names: list[str]) -> None:
    for name in names:
        (directory / Path(name).name).unlink(missing_ok=True)


async def write_file(db: Database, export: Row, directory: Path, *, page_size: int,
                     renew: Callable[[], Awaitable[None]] | None = None) -> tuple[Path, Counts, int]:
    """Streams the export into a new file in ``directory``: written under a temporary name of
    its own and renamed into place once complete. ``renew``: awaited between pages (keeps the
    claim). Returns the file, its counts and its size."""
    part = await asyncio.to_thread(_new_part, directory, export)
    sink = _sink(export["format"], part, ZoneInfo(export["timezone"]), export["currency"].strip())
    counts = Counts()
    final = directory / file_name(export)
    try:
        async with db.system() as conn:
            async for page in exports.stream_rows(conn, export, page_size=page_size):
                # The workbook is CPU work: off the event loop, so the worker's other loops go on.
                await asyncio.to_thread(counts.feed, sink, page)
                if renew is not None:
                    await renew()
        size = await asyncio.to_thread(_complete, sink, part, final)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(_abandon, sink, part))
        raise
    return final, counts, size


class Builder:
    """Claims and builds exports, one at a time, for one worker."""

    def __init__(self, db: Database, settings: SyncSettings, owner: str):
        self.db, self.settings, self.owner = db, settings, owner

    async def build_next(self) -> Built | None:
        """Builds the next due export; None when nothing is due."""
        s = self.settings
        async with self.db.system() as conn:
            export = await exports.claim(conn, owner=self.owner, lease_s=s.export_lease_s,
                                         max_attempts=s.export_max_attempts)
        if export is None:
            return None
        started = time.perf_counter()
        renewed = time.monotonic()

        async def renew() -> None:
            nonlocal renewed
            if time.monotonic() - renewed > s.export_lease_s / 3:
                async with self.db.system() as conn:
                    await exports.renew(conn, export["id"], owner=self.owner, lease_s=s.export_lease_s)
                renewed = time.monotonic()

        try:
            path, counts, size = await write_file(self.db, export, s.export_dir, page_size=s.export_page_size,
                                                  renew=renew)
        except (OSError, psycopg.Error) as exc:
            # Left running: its lease runs out and it is tried again, up to EXPORT_MAX_ATTEMPTS.
            log.warning("export_build_failed", export_id=str(export["id"]), attempt=export["attempts"],
                        error=str(exc))
            return None
        async with self.db.system() as conn:
            mine = await exports.finish(conn, export["id"], owner=self.owner, file_name=path.name,
                                        orders=counts.orders, lines=counts.lines, size_bytes=size, ttl_s=s.export_ttl_s)
        if not mine:
            # Our lease ran out and another worker took the build over: its file is the one.
            await asyncio.to_thread(_delete, s.export_dir, [path.name])
            log.warning("export_claim_lost", export_id=str(export["id"]), attempt=export["attempts"])
            return None
        built = Built(export["id"], path.name, counts.orders, counts.lines, size, time.perf_counter() - started)
        log.info("export_built", export_id=str(export["id"]), restaurant_id=str(export["restaurant_id"]),
                 format=export["format"], orders=counts.orders, lines=counts.lines, size_bytes=size,
                 seconds=round(built.seconds, 2))
        return built

    async def build_due(self, *, stopping: Any = None) -> int:
        """Builds due exports until none is left; how many were built."""
        built = 0
        while not (stopping and stopping()):
            done = await self.build_next()
            if done is None:
                break
            built += 1
        return built

    async def sweep_parts(self, *, older_than_s: float = 60.0) -> int:
        """Deletes part files that no build is writing: left by a worker that died mid-build
        (its export is no longer running: rebuilt, failed or expired since)."""
        parts = await asyncio.to_thread(_parts, self.settings.export_dir, older_than_s)
        if not parts:
            return 0
        async with self.db.system() as conn:
            live = await exports.running(conn, list(set(parts.values())))
        dead = [path.name for path, export_id in parts.items() if export_id not in live]
        await asyncio.to_thread(_delete, self.settings.export_dir, dead)
        return len(dead)

    async def expire(self, *, batch: int) -> int:
        """Deletes the files of ready exports past their expiry and marks them expired."""
        total = 0
        while True:
            async with self.db.system() as conn:
                names = await exports.expire(conn, limit=batch)
                # Deleted before the commit: a crash in between leaves a row still ready whose
                # file is gone (its download is a 404), expired by the next pass.
                await asyncio.to_thread(_delete, self.settings.export_dir, names)
            total += len(names)
            if len(names) < batch:
                return total
