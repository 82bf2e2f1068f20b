"""The API's one error type and the handlers that render every failure as problem+json.

Handlers never build error responses themselves: they raise ApiError (or a db DomainError,
mapped here), and exactly one place turns it into RFC 9457 JSON with a stable ``code``.
"""

from __future__ import annotations

from typing import Any

import structlog
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.responses import JSON
from db.errors import Conflict, DomainError, NotFound, Unauthorized, Unprocessable

log = structlog.get_logger("api")

_TITLES = {
    304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type",
    422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error",
    503: "Service Unavailable",
}
_DOMAIN_STATUS: dict[type[DomainError], int] = {NotFound: 404, Conflict: 409, Unprocessable: 422, Unauthorized: 401}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors, self.headers, self.extra = errors, headers or {}, extra or {}


class BodyTooLarge(Exception):
    pass


def problem(err: ApiError) -> Response:
    body: dict[str, Any] = {
        "type": f"/problems/{err.code}",
        "title": _TITLES.get(err.status, "Error"),
        "status": err.status,
        "detail": err.detail,
        "code": err.code,
        **err.extra,
    }
    if err.errors is not None:
        body["errors"] = err.errors
    return JSON(body, status_code=err.status, headers=err.headers, media_type="application/problem+json")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem(exc)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    status = next((s for cls, s in _DOMAIN_STATUS.items() if isinstance(exc, cls)), 400)
    extra = dict(exc.extra)
    errors = extra.pop("errors", None)
    return problem(ApiError(status, exc.code, exc.detail, errors=errors, extra=extra))


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of the one route it matched; a path served by several
        # routes (GET and PATCH of a restaurant) allows the methods of all of them.
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem(ApiError(exc.status_code, code, str(exc.detail), headers=headers))


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.path_regex.match(request.scope["path"]):
            methods |= route.methods or set()
    return sorted(methods)


async def _too_large(request: Request, exc: Exception) -> Response:
    return problem(ApiError(413, "payload_too_large", "the request body is larger than this API accepts"))


def overloaded(retry_after_s: int, detail: str) -> ApiError:
    """503 ``overloaded``: admission control's refusal (api/admission.py), or no database connection
    in time. Retry-After tells when to try again."""
    return ApiError(503, "overloaded", detail, headers={"Retry-After": str(retry_after_s)})


async def _pool_timeout(request: Request, exc: Exception) -> Response:
    """No database connection within DB_POOL_TIMEOUT_S: the database is the bottleneck. Nothing
    was written by the transaction that never began; the client is told when to retry."""
    services = request.app.state.services
    services.metrics.refused_pool_timeout.inc()
    return problem(overloaded(services.settings.admission_retry_after_s, "the database is at capacity; retry shortly"))


async def _unhandled(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", exc_info=exc)
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    err = ApiError(500, "internal_error", "something went wrong on our side; it has been logged",
                   headers={"X-Request-ID": request_id})
    return problem(err)


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    DomainError: _domain_error,
    HTTPException: _http_exception,
    BodyTooLarge: _too_large,
    PoolTimeout: _pool_timeout,
    Exception: _unhandled,
}
