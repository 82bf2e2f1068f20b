"""/health, /ready and /metrics."""

from __future__ import annotations

import hmac
import time

import anyio
import structlog
from psycopg import Error as PsycopgError
from psycopg_pool import PoolTimeout
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.errors import ApiError
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
    _check_scraper(request)
    now = time.monotonic()
    if now - svc.metrics.queue_read_at >= svc.settings.metrics_cache_s:
        svc.metrics.queue_read_at = now  # before the read: concurrent scrapes do not all query
        try:
            with anyio.fail_after(2):
                async with svc.db.system() as conn:
                    svc.sync_metrics.set_queue(await outbox.queue_depth(conn), await outbox.target_names(conn))
        except (PsycopgError, PoolTimeout, TimeoutError) as exc:
            # Request metrics are still worth serving when the database is not.
            log.warning("metrics_queue_unavailable", error=str(exc))
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE)


def _check_scraper(request: Request) -> None:
    """A configured METRICS_TOKEN is required as a bearer token; without one /metrics is open in
    development and not served in production and staging (it would tell anyone the load)."""
    settings = services(request).settings
    if settings.metrics_token is None:
        if settings.production:
            raise ApiError(404, "not_found", "not found")
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), settings.metrics_token.encode()):
        raise ApiError(401, "not_authenticated", "/metrics needs the metrics token as a bearer token",
                       headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
