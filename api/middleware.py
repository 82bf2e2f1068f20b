"""Pure ASGI middleware around every request: admission control (api/admission.py), request
id, body cap, security headers, metrics, and one canonical log line per request.

The last segment of a webhook path is a secret (it names and authenticates the caller,
api/routes/webhooks.py): the request log shows it as ``[redacted]``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from secrets import token_hex

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.admission import Admission
from api.errors import ApiError, BodyTooLarge, problem
from api.metrics import Metrics

log = structlog.get_logger("api")
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
# A path segment with a control character names nothing (a NUL reached Postgres as a QR token: a 500).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Paths whose last segment is a secret: partners' callbacks, and the menus platforms download.
SECRET_PATH_PREFIXES = ("/api/webhooks/", "/api/platform-menus/")
REDACTED = "[redacted]"


def loggable_path(path: str) -> str:
    """The path as the request log shows it: a webhook or platform menu path without its secret."""
    if path.startswith(SECRET_PATH_PREFIXES):
        head, _, _ = path.rstrip("/").rpartition("/")
        return f"{head}/{REDACTED}"
    return path


def security_headers(production: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
        (b"cross-origin-resource-policy", b"same-site"),
        (b"cache-control", b"no-store"),
    ]
    if production:
        headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    return headers


class RequestContext:
    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, production: bool,
        body_limits: Mapping[str, int] | None = None, admission: Admission | None = None,
    ):
        """``body_limits`` maps path prefixes to their own cap (a pushed menu is megabytes)."""
        self.app = app
        self.metrics = metrics
        self.admission = admission or Admission(0, 1)
        self.max_body_bytes = max_body_bytes
        self.body_limits = dict(body_limits or {})
        self.headers = security_headers(production)

    def _cap(self, path: str) -> int:
        for prefix, cap in self.body_limits.items():
            if path.startswith(prefix):
                return cap
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The two headers read here, in one pass (ASGI names are lower-case; the last one wins).
        incoming, declared = b"", None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
            elif name == b"content-length":
                declared = value
        if _REQUEST_ID.match(incoming):
            request_id = incoming.decode("ascii")
        else:
            request_id = token_hex(16)  # 32 hex digits, as uuid4().hex, without building a UUID
            incoming = request_id.encode("ascii")
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        extra_headers = [*self.headers, (b"x-request-id", incoming)]

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
                present = {k.lower() for k, _ in headers}
                message["headers"] = [*headers, *((k, v) for k, v in extra_headers if k not in present)]
            await send(message)

        received = 0
        cap = self._cap(scope["path"])

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge()
            return message

        admitted = self.admission.enter(scope["path"])
        try:
            if admitted is False:
                # Before routing: a refused request reaches no handler, reads and writes nothing.
                self.metrics.refused_in_flight.inc()
                await self.admission.refusal()(scope, receive, send_with_headers)
            elif _CONTROL.search(scope["path"]):
                await problem(ApiError(404, "not_found", "no such path"))(scope, receive, send_with_headers)
            elif declared is not None and declared.isdigit() and int(declared) > cap:
                # Refused before reading a byte of it.
                too_large = ApiError(413, "payload_too_large", "the request body is larger than this API accepts")
                response = problem(too_large)
                await response(scope, receive, send_with_headers)
            else:
                await self.app(scope, capped_receive, send_with_headers)
        finally:
            if admitted:
                self.admission.leave()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status, elapsed)
            log.info(
                "http_request", method=scope["method"], path=loggable_path(scope["path"]), route=template,
                status=status, duration_ms=round(elapsed * 1000, 2),
            )
