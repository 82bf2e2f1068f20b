"""/health, /ready and /metrics."""

from __future__ import annotations

import anyio
from psycopg import Error as PsycopgError
from psycopg_pool import PoolTimeout
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.metrics import CONTENT_TYPE
from api.responses import JSON
from api.state import services
from db import schema


async def health(request: Request) -> Response:
    return JSON({"status": "ok"})


async def ready(request: Request) -> Response:
    db = services(request).db
    reason = "schema_outdated"
    try:
        with anyio.fail_after(2):
            async with db.unscoped() as conn:
                current = await schema.is_current(conn)
    except (PsycopgError, PoolTimeout, TimeoutError) as exc:
        current, reason = False, f"database_unavailable: {type(exc).__name__}"
    if not current:
        return JSON({"status": "unavailable", "reason": reason}, status_code=503)
    return JSON({"status": "ready"})


async def metrics(request: Request) -> Response:
    return Response(services(request).metrics.render(), media_type=CONTENT_TYPE)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
