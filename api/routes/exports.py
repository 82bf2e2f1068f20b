"""Order exports (docs/exports.md): an owner or manager asks for a restaurant's orders between
two local dates as xlsx or csv; the worker builds the file (sync/exports.py); the export's
answer carries a short-lived signed download URL once it is ready.

The download URL is its own authority (a browser follows it without a token): the hex
HMAC-SHA256 of the export id and the URL's expiry, keyed with a key derived from the
credentials key (db/credentials.py ``subkey``). A wrong or expired signature, an unknown id
and an expired file are the same 404, so the URL teaches nothing about which exports exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from api.access import OWNER_MANAGER, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.bodies import json_body, query_params
from api.errors import ApiError
from api.models import ExportDownload, NewExport
from api.responses import JSON
from api.state import Services, services
from db import exports
from db.queries import Row
from sync.exports import MEDIA_TYPES, download_name

log = structlog.get_logger("api")

LIST_LIMIT = 50
CHUNK = 64 * 1024
_PURPOSE = "export-download-url:v1"


def signature(svc: Services, export_id: UUID, expires: int) -> str:
    return hmac.new(svc.credentials.subkey(_PURPOSE), f"{export_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def _download(svc: Services, row: Row, now: datetime) -> tuple[str | None, datetime | None]:
    if row["status"] != "ready" or row["expires_at"] is None or row["expires_at"] <= now:
        return None, None
    expires = min(int(now.timestamp()) + svc.settings.export_url_ttl_s, int(row["expires_at"].timestamp()))
    url = (f"{svc.settings.base_url}/api/exports/{row['id']}/download"
           f"?expires={expires}&sig={signature(svc, row['id'], expires)}")
    return url, datetime.fromtimestamp(expires, UTC)


def _export(svc: Services, row: Row, now: datetime) -> dict[str, Any]:
    url, url_expires = _download(svc, row, now)
    return {
        "id": row["id"], "restaurant_id": row["restaurant_id"], "format": row["format"],
        "from": row["from_date"].isoformat(), "to": row["to_date"].isoformat(), "status": row["status"],
        "attempts": row["attempts"], "orders_count": row["orders_count"], "lines_count": row["lines_count"],
        "size_bytes": row["size_bytes"], "error": row["error"], "created_at": row["created_at"],
        "started_at": row["started_at"], "finished_at": row["finished_at"], "expires_at": row["expires_at"],
        "file_name": download_name(row), "download_url": url, "download_url_expires_at": url_expires,
    }


def _check_range(body: NewExport, max_days: int) -> None:
    # Answered here, not by the model: a schema-valid body gets its own codes (docs/api.md).
    if body.from_date > body.to_date:
        detail = "'from' is after 'to'"
        raise ApiError(422, "invalid_range", detail,
                       errors=[{"loc": ["body", "to"], "msg": detail, "type": "invalid_range"}])
    days = (body.to_date - body.from_date).days + 1
    if days > max_days:
        detail = f"at most {max_days} days per export, not {days}"
        raise ApiError(422, "range_too_long", detail,
                       errors=[{"loc": ["body", "to"], "msg": detail, "type": "range_too_long"}])


async def create_export(request: Request) -> Response:
    rid = _rid(request)
    svc = services(request)
    async with restaurant_scope(request, rid, OWNER_MANAGER) as scope:
        body = await json_body(request, NewExport)
        _check_range(body, svc.settings.export_max_days)
        await svc.limits.hit(svc.limits.export, "export", str(rid))
        row = await exports.queue(scope.conn, rid, requested_by=scope.principal.user_id, fmt=body.format,
                                  from_date=body.from_date, to_date=body.to_date,
                                  max_pending=svc.settings.export_max_pending)
        if row is None:
            raise ApiError(429, "too_many_exports",
                           f"{svc.settings.export_max_pending} exports are already queued or building; "
                           "ask again when one is ready", headers={"Retry-After": "10"})
    return JSON(_export(svc, row, datetime.now(UTC)), status_code=202)


async def list_exports(request: Request) -> Response:
    rid = _rid(request)
    svc = services(request)
    async with restaurant_scope(request, rid, OWNER_MANAGER) as scope:
        rows = await exports.recent(scope.conn, rid, limit=LIST_LIMIT)
    now = datetime.now(UTC)
    return JSON({"items": [_export(svc, row, now) for row in rows]})


async def get_export(request: Request) -> Response:
    rid = _rid(request)
    svc = services(request)
    async with restaurant_scope(request, rid, OWNER_MANAGER) as scope:
        row = await exports.get(scope.conn, rid, request.path_params["xid"])
    if row is None:
        raise ApiError(404, "not_found", "export not found")
    return JSON(_export(svc, row, datetime.now(UTC)))


def _open(path: Path) -> tuple[IO[bytes], int] | None:
    try:
        handle = open(path, "rb")  # noqa: SIM115  # closed by the response's stream
    except FileNotFoundError:
        return None
    return handle, os.fstat(handle.fileno()).st_size


async def _chunks(handle: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        handle.close()


async def download_export(request: Request) -> Response:
    svc = services(request)
    export_id: UUID = request.path_params["xid"]
    query = query_params(request, ExportDownload)
    now = int(time.time())
    fresh = now <= query.expires <= now + svc.settings.export_url_ttl_s
    # Compared in constant time whatever the expiry, so timing tells nothing about the signature.
    signed = hmac.compare_digest(signature(svc, export_id, query.expires).encode(), query.sig.encode())
    if not (signed and fresh):
        log.info("export_download_refused", export_id=str(export_id), reason="expired" if signed else "signature")
        raise ApiError(404, "not_found", "not found")
    async with svc.db.system() as conn:
        row = await exports.ready(conn, export_id)
    # The file is opened before answering: once open, housekeeping deleting it cannot cut the download short.
    opened = None if row is None else await asyncio.to_thread(_open, svc.sync.export_dir / Path(row["file_name"]).name)
    if row is None or opened is None:
        raise ApiError(404, "not_found", "not found")
    handle, size = opened
    return StreamingResponse(_chunks(handle), media_type=MEDIA_TYPES[row["format"]], headers={
        "Content-Disposition": f'attachment; filename="{download_name(row)}"', "Content-Length": str(size)})


_BASE = "/api/restaurants/{rid:uuid}/exports"
routes = [
    Route(_BASE, create_export, methods=["POST"]),
    Route(_BASE, list_exports, methods=["GET"]),
    Route(f"{_BASE}/{{xid:uuid}}", get_export, methods=["GET"]),
    Route("/api/exports/{xid:uuid}/download", download_export, methods=["GET"]),
]
