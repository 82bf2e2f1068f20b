"""Pulling a restaurant's menu from its PetPooja outlet, and the record of menu syncs.

``POST /menu/sync`` reads the outlet, fetches the menu from PetPooja (outside any database
transaction: PetPooja may take seconds), parses it and imports it in one transaction, then
hands the changed menu items to the Convex pusher. When PetPooja is unreachable, refuses,
or answers with a menu we cannot read, nothing is imported and the failure is recorded as
a failed menu sync (502). PetPooja's own menu push arrives through the pushmenu webhook,
which uses the same parser and import.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import OWNER_MANAGER, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.errors import ApiError
from api.handoff import hand_off, queued_in
from api.responses import JSON
from api.state import services
from db import menu_import, petpooja, restaurants
from db.errors import DomainError
from db.pool import Database
from db.queries import Row
from sync.petpooja.client import PetpoojaError
from sync.petpooja.menu import MenuFormatError, parse_menu

log = structlog.get_logger("api")

SYNC_FIELDS = ("id", "source", "status", "counts", "errors", "duration_ms", "created_at")


def _sync(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in SYNC_FIELDS}


async def _record_failure(db: Database, rid: UUID, errors: list[str], started: float) -> Row:
    async with db.tenant(rid) as conn:
        return await menu_import.record_failed_sync(conn, rid, source="pull", errors=errors, started=started)


async def sync_menu(request: Request) -> Response:
    rid = _rid(request)
    started = time.monotonic()
    svc = services(request)
    async with restaurant_scope(request, rid, OWNER_MANAGER) as scope:
        outlet = await petpooja.outlet(scope.conn, svc.credentials, rid)
        currency = str((await restaurants.get(scope.conn, rid))["currency"])
    if outlet is None:
        raise ApiError(409, "petpooja_not_connected",
                       "this restaurant has no PetPooja outlet; connect one at /integrations/petpooja first")
    if svc.petpooja is None:
        raise ApiError(503, "petpooja_unavailable", "PetPooja is not configured on this server")
    try:
        raw = await svc.petpooja.fetch_menu(outlet)
    except PetpoojaError as exc:
        failed = await _record_failure(svc.db, rid, [str(exc)], started)
        log.warning("petpooja_menu_fetch_failed", error=str(exc), sync_id=failed["id"])
        raise ApiError(502, "petpooja_unavailable", f"PetPooja did not give us the menu: {exc}",
                       extra={"sync_id": failed["id"]}) from exc
    try:
        menu = parse_menu(raw, currency=currency)
    except MenuFormatError as exc:
        failed = await _record_failure(svc.db, rid, exc.errors, started)
        log.warning("petpooja_menu_invalid", problems=len(exc.errors), sync_id=failed["id"])
        raise ApiError(502, "petpooja_menu_invalid", "PetPooja's menu could not be read; nothing was imported",
                       errors=[{"detail": e} for e in exc.errors[:100]], extra={"sync_id": failed["id"]}) from exc
    try:
        async with svc.db.tenant(rid) as conn:
            result = await menu_import.import_menu(conn, rid, menu, source="pull", started=started)
            queued = await queued_in(conn, rid)
    except DomainError as exc:
        # The import rolled back as a whole; the record says why (a category name clash, say).
        failed = await _record_failure(svc.db, rid, [exc.detail], started)
        exc.extra = {**exc.extra, "sync_id": failed["id"]}
        raise
    changed: list[UUID] = result["changed_item_ids"]
    hand_off(request, queued)
    log.info("petpooja_menu_synced", sync_id=result["id"], items=result["counts"].get("items"),
             duration_ms=result["duration_ms"], changed_items=len(changed))
    return JSON(_sync(result))


async def list_syncs(request: Request) -> Response:
    rid = _rid(request)
    async with restaurant_scope(request, rid, OWNER_MANAGER) as scope:
        rows = await menu_import.recent_syncs(scope.conn, rid)
    return JSON({"syncs": [_sync(r) for r in rows]})


_BASE = "/api/restaurants/{rid:uuid}/menu"
routes = [
    Route(f"{_BASE}/sync", sync_menu, methods=["POST"]),
    Route(f"{_BASE}/syncs", list_syncs, methods=["GET"]),
]
