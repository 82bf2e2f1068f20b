"""Integrations with a restaurant's other systems: connecting its PetPooja POS outlet.

Credentials go in and never come out: responses, logs and errors name the outlet
(rest_id, environment) and the callback URLs to register in PetPooja's dashboard, never
the app key, secret or token.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import OWNER_MANAGER, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.bodies import json_body
from api.models import PetpoojaConnect
from api.responses import JSON
from api.state import services
from db import petpooja
from db.queries import Row

log = structlog.get_logger("api")

# Response key -> the path segment PetPooja calls back on.
CALLBACK_KINDS = {
    "order_status": "order-status",
    "stock": "stock",
    "store_status": "store-status",
    "menu_push": "pushmenu",
}


def callback_urls(base_url: str, callback_secret: str) -> dict[str, str]:
    """The URLs to register in PetPooja's dashboard; the secret in each names the restaurant."""
    return {key: f"{base_url}/api/webhooks/petpooja/{kind}/{callback_secret}" for key, kind in CALLBACK_KINDS.items()}


def _connection(request: Request, row: Row) -> dict[str, Any]:
    return {
        "connected": True, "rest_id": row["rest_id"], "environment": row["environment"],
        "callback_urls": callback_urls(services(request).settings.base_url, row["callback_secret"]),
    }


async def connect_petpooja(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, PetpoojaConnect)
        row = await petpooja.connect(
            scope.conn, services(request).credentials, restaurant_id=_rid(request), rest_id=body.rest_id,
            environment=body.environment,
            credentials=petpooja.Credentials(body.app_key, body.app_secret, body.access_token),
        )
    log.info("petpooja_connected", rest_id=row["rest_id"], environment=row["environment"])
    return JSON(_connection(request, row))


async def get_petpooja(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        row = await petpooja.get(scope.conn, _rid(request))
    return JSON({"connected": False} if row is None else _connection(request, row))


async def disconnect_petpooja(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        if await petpooja.disconnect(scope.conn, _rid(request)):
            log.info("petpooja_disconnected")
    return Response(status_code=204)


_PATH = "/api/restaurants/{rid:uuid}/integrations/petpooja"
routes = [
    Route(_PATH, connect_petpooja, methods=["PUT"]),
    Route(_PATH, get_petpooja, methods=["GET"]),
    Route(_PATH, disconnect_petpooja, methods=["DELETE"]),
]
