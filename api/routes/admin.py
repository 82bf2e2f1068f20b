"""Sync health for restaurants and operators, and the dashboard's Convex token."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import MEMBERS, OWNER_MANAGER, require_user, restaurant_scope
from api.bodies import query_params
from api.errors import ApiError
from api.responses import JSON
from api.state import services
from db import outbox, users

STATUSES = ("pending", "in_flight", "failed", "dead", "synced")


class ErrorsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    before_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None
    restaurant_id: UUID | None = None
    target: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")] | None = None


async def _require_admin(request: Request) -> None:
    principal = require_user(request)
    assert principal.user_id is not None
    async with services(request).db.unscoped() as conn:
        user = await users.by_id(conn, principal.user_id)
    if user is None or not user["is_platform_admin"]:
        raise ApiError(403, "forbidden", "only platform administrators can do this")


async def sync_status(request: Request) -> Response:
    rid = request.path_params["rid"]
    async with restaurant_scope(request, rid, OWNER_MANAGER) as scope:
        rows = await outbox.status_for_restaurant(scope.conn, rid)
    targets: dict[str, dict[str, float | int | None]] = {"convex": {}}
    for row in rows:
        targets.setdefault(row["target"], {})[row["status"]] = row["n"]
        if row["oldest_s"] is not None:
            current = targets[row["target"]].get("oldest_pending_seconds") or 0
            targets[row["target"]]["oldest_pending_seconds"] = max(float(current), round(float(row["oldest_s"]), 3))
    for counts in targets.values():
        for status in STATUSES:
            counts.setdefault(status, 0)
        counts.setdefault("oldest_pending_seconds", None)
    return JSON({"targets": targets})


async def sync_errors(request: Request) -> Response:
    await _require_admin(request)
    query = query_params(request, ErrorsQuery)
    async with services(request).db.system() as conn:
        rows = await outbox.errors(conn, before_id=query.before_id, limit=query.limit,
                                   restaurant_id=query.restaurant_id, target=query.target)
    next_before = rows[-1]["id"] if len(rows) == query.limit else None
    return JSON({"items": rows, "next_before_id": next_before})


async def retry_sync_error(request: Request) -> Response:
    await _require_admin(request)
    async with services(request).db.system() as conn:
        row = await outbox.retry(conn, request.path_params["id"])
        if row is None:
            raise ApiError(404, "not_found", "no failed or dead sync row has this id")
        await outbox.wake_workers(conn, row["target"])
    return JSON({"id": row["id"], "status": "failed", "attempts": 0, "due": "now"}, status_code=202)


async def convex_token(request: Request) -> Response:
    rid = request.path_params["rid"]
    async with restaurant_scope(request, rid, MEMBERS) as scope:
        role = scope.role
    assert scope.principal.user_id is not None
    issued = services(request).tokens.convex_token(
        subject=str(scope.principal.user_id), restaurant_id=rid, role=role
    )
    return JSON({"token": issued.token, "expires_in": issued.expires_in})


routes = [
    Route("/api/restaurants/{rid:uuid}/sync/status", sync_status, methods=["GET"]),
    Route("/api/restaurants/{rid:uuid}/convex-token", convex_token, methods=["POST"]),
    Route("/api/admin/sync/errors", sync_errors, methods=["GET"]),
    Route("/api/admin/sync/errors/{id:int}/retry", retry_sync_error, methods=["POST"]),
]
