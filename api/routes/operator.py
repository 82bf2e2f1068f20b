"""The operator API and the owners' views of the same state (docs/operator.md).

Operators' machines call /admin/... with an X-API-Key (api/apikeys.py); platform
administrators call the same error queue under /api/admin/sync/... with their user token: one
handler each, bound to who may call it, so both ways go through the same db functions and
record the same history. Owners and managers read their own restaurant's integrations and
errors under /api/restaurants/{rid}/..., with summaries instead of raw errors
(api/integration_state.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import OWNER_MANAGER, require_user, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.apikeys import authenticate_key
from api.bodies import json_body, query_params
from api.errors import ApiError
from api.integration_state import error_summary, restaurant_integrations, target_labels
from api.models import MULTI_LINE_NONBLANK, Input
from api.responses import JSON
from api.state import services
from db import outbox, platforms, restaurants, users

TargetName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Who = Callable[[Request], Awaitable[str]]


class ErrorsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    before_id: RowId | None = None
    restaurant_id: UUID | None = None
    target: TargetName | None = None
    status: outbox.ErrorState = Field("open", description="open (failed, or dead and not resolved), failed, dead "
                                                          "(not resolved) or resolved")


class RestaurantErrorsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    before_id: RowId | None = None
    target: TargetName | None = None
    status: outbox.ErrorState = "open"


class Resolve(Input):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
                      MULTI_LINE_NONBLANK]


class FullRefresh(Input):
    platforms: list[TargetName] = Field(min_length=1, max_length=16)
    force: bool = False


# ------------------------------------------------------------------------------ who


async def api_key(request: Request) -> str:
    """An operator's machine: its key's id."""
    return f"api_key:{authenticate_key(request)}"


async def platform_admin(request: Request) -> str:
    """A platform administrator with a user token."""
    principal = require_user(request)
    assert principal.user_id is not None
    async with services(request).db.unscoped() as conn:
        user = await users.by_id(conn, principal.user_id)
    if user is None or not user["is_platform_admin"]:
        raise ApiError(403, "forbidden", "only platform administrators can do this")
    return f"user:{principal.user_id}"


def _row_id(request: Request) -> int:
    """The {id} of an error route: Starlette's int convertor takes any length, Postgres' bigint does not."""
    row_id: int = request.path_params["id"]
    if not 1 <= row_id <= 2**63 - 1:
        raise ApiError(404, "not_found", "no failed or dead sync row has this id")
    return row_id


# ------------------------------------------------------------------- the error queue


async def list_errors(request: Request, who: Who) -> Response:
    await who(request)
    query = query_params(request, ErrorsQuery)
    async with services(request).db.system() as conn:
        rows = await outbox.errors(conn, before_id=query.before_id, limit=query.limit,
                                   restaurant_id=query.restaurant_id, target=query.target, state=query.status)
    next_before = rows[-1]["id"] if len(rows) == query.limit else None
    return JSON({"items": rows, "next_before_id": next_before})


async def retry_error(request: Request, who: Who) -> Response:
    actor = await who(request)
    async with services(request).db.system() as conn:
        row = await outbox.retry(conn, _row_id(request), actor=actor)
        if row is None:
            raise ApiError(404, "not_found", "no failed or dead sync row has this id")
        await outbox.wake_workers(conn, row["target"])
    recorded = {key: row[key] for key in ("action", "actor", "reason", "at")}
    return JSON({"id": row["id"], "status": "failed", "attempts": 0, "due": "now", "recorded": recorded},
                status_code=202)


async def resolve_error(request: Request, who: Who) -> Response:
    actor = await who(request)
    body = await json_body(request, Resolve)
    async with services(request).db.system() as conn:
        row = await outbox.resolve(conn, _row_id(request), actor=actor, reason=body.reason)
    if row is None:
        raise ApiError(404, "not_found", "no failed or dead sync row has this id")
    return JSON({"id": row["id"], "status": "resolved",
                 "resolution": {"actor": row["actor"], "reason": row["reason"], "at": row["at"]}})


# ------------------------------------------------------------------ operators' machines


async def operator_sync_status(request: Request) -> Response:
    await api_key(request)
    async with services(request).db.system() as conn:
        await restaurants.get(conn, _rid(request))  # 404 for an unknown restaurant
        state = await restaurant_integrations(conn, _rid(request), target_labels(request), raw=True)
    return JSON(state)


def _refusals(names: list[str], known: set[str]) -> list[dict[str, Any]]:
    """What full-refresh cannot do, per name: unknown targets, and targets with no menu to publish."""
    errors = []
    for n, name in enumerate(names):
        if name not in known:
            errors.append({"loc": ["body", "platforms", n], "msg": f"no target is named {name}",
                           "type": "unknown_target"})
        elif name == "convex":
            errors.append({"loc": ["body", "platforms", n], "type": "refresh_not_supported",
                           "msg": "convex: run python -m scripts.fullSync --restaurant <id> (it rebuilds the "
                                  "restaurant's documents and prunes the stale ones)"})
        elif name not in platforms.PLATFORMS:
            errors.append({"loc": ["body", "platforms", n], "type": "refresh_not_supported",
                           "msg": f"{name} sends orders as they change: there is no menu to refresh"})
    return errors


async def full_refresh(request: Request) -> Response:
    await api_key(request)
    body = await json_body(request, FullRefresh)
    names = list(dict.fromkeys(body.platforms))
    async with services(request).db.system() as conn:
        refused = _refusals(names, set(await outbox.target_names(conn)))
        if refused:
            raise ApiError(422, "refresh_not_supported", "; ".join(e["msg"] for e in refused), errors=refused)
        await restaurants.get(conn, _rid(request))
        results = {platform: await platforms.refresh(conn, _rid(request), platform, force=body.force)
                   for platform in platforms.PLATFORMS if platform in names}
    return JSON({"restaurant_id": _rid(request), "platforms": results}, status_code=202)


# ------------------------------------------------------------------------ owners


async def restaurant_integration_states(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        state = await restaurant_integrations(scope.conn, _rid(request), target_labels(request), raw=False)
    return JSON(state)


async def restaurant_errors(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        query = query_params(request, RestaurantErrorsQuery)
        rows = await outbox.errors(scope.conn, before_id=query.before_id, limit=query.limit,
                                   restaurant_id=_rid(request), target=query.target, state=query.status)
    labels = target_labels(request)
    next_before = rows[-1]["id"] if len(rows) == query.limit else None
    return JSON({"items": [error_summary(row, labels) for row in rows], "next_before_id": next_before})


def _bound(path: str, handler: Callable[..., Awaitable[Response]], who: Who, method: str, name: str) -> Route:
    return Route(path, partial(handler, who=who), methods=[method], name=name)


routes = [
    Route("/admin/sync-status/{rid:uuid}", operator_sync_status, methods=["GET"]),
    Route("/admin/sync/{rid:uuid}/full-refresh", full_refresh, methods=["POST"]),
    _bound("/admin/errors", list_errors, api_key, "GET", "list_errors"),
    _bound("/admin/errors/{id:int}/retry", retry_error, api_key, "POST", "retry_error"),
    _bound("/admin/errors/{id:int}/resolve", resolve_error, api_key, "POST", "resolve_error"),
    _bound("/api/admin/sync/errors", list_errors, platform_admin, "GET", "sync_errors"),
    _bound("/api/admin/sync/errors/{id:int}/retry", retry_error, platform_admin, "POST", "retry_sync_error"),
    _bound("/api/admin/sync/errors/{id:int}/resolve", resolve_error, platform_admin, "POST", "resolve_sync_error"),
    Route("/api/restaurants/{rid:uuid}/integrations", restaurant_integration_states, methods=["GET"]),
    Route("/api/restaurants/{rid:uuid}/sync/errors", restaurant_errors, methods=["GET"]),
]
