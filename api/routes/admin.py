"""Sync health for restaurants, and the dashboard's Convex token (operators: api/routes/operator.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import MEMBERS, OWNER_MANAGER, restaurant_scope
from api.integration_state import queue_counts
from api.responses import JSON
from api.state import services
from db import outbox


async def sync_status(request: Request) -> Response:
    rid = request.path_params["rid"]
    async with restaurant_scope(request, rid, OWNER_MANAGER) as scope:
        rows = await outbox.status_for_restaurant(scope.conn, rid)
    return JSON({"targets": queue_counts(rows)})


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
]
