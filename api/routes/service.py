"""/health, /ready and /metrics."""

from __future__ import annotations

import anyio
import structlog
from psycopg import Error as PsycopgError
from psycopg_pool import PoolTimeout
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.metrics import CONTENT_TYPE
from api.responses import JSON
from api.state import services
from db import migrate, outbox

log = structlog.get_logger("api")


async def health(request: Request) -> Response:
    return JSON({"status": "ok"})


async def ready(request: Request) -> Response:
    db = services(request).db
    reason = "schema_outdated"
    try:
        with anyio.fail_after(2):
            async with db.unscoped() as conn:
                current = await migrate.is_current(conn)
    except (PsycopgError, PoolTimeout, TimeoutError) as exc:
        current, reason = False, f"database_unavailable: {type(exc).__name__}"
    if not current:
        return JSON({"status": "unavailable", "reason": reason}, status_code=503)
    return JSON({"status": "ready"})


async def metrics(request: Request) -> Response:
    svc = services(request)
    try:
        with anyio.fail_after(2):
            async with svc.db.system() as conn:
                svc.sync_metrics.set_queue(await outbox.queue_depth(conn), await outbox.target_names(conn))
    except (PsycopgError, PoolTimeout, TimeoutError) as exc:
        # Request metrics are still worth serving when the database is not.
        log.warning("metrics_queue_unavailable", error=str(exc))
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
