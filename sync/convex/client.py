"""Convex's HTTP API over httpx, with hard timeouts.

Not the `convex` package's clients: its WebSocket client retries forever and blocks the
interpreter, and its HTTP client has no timeout. Only its value encoding is used.

A function error arrives as HTTP 200 with ``status: "error"`` (ConvexFunctionError, a
problem with what we sent); anything non-2xx, a timeout or a broken connection is
ConvexUnavailable (a problem with Convex; retry later).

The API process pushes every order through here from the event loop that serves requests, so
a call costs what it must and no more: one client with kept-alive connections, the body
encoded once with orjson, and the pusher's changes sent as ``documents.change`` built them
(already Convex JSON: ``encoded=True``) without the encoder's walk. httpx's pool asks which
async library runs it on every call; without ``sniffio`` installed that is a failing import
each time (about 0.4 ms of CPU per call here), hence ``sniffio`` in pyproject.toml.

Calls go to httpx's transport (its connection pool), not through ``httpx.AsyncClient``: the
client's layer (URL merging, auth, redirects, cookie extraction, event hooks) does nothing
for one fixed JSON endpoint and was about 45% of a call's CPU (py-spy and cProfile of
``python -m bench.micro_pusher``, bench/README.md). The transport raises the same httpx
errors and is what OpenTelemetry's httpx instrumentation wraps, so traces are unchanged.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from convex.values import convex_to_json


class ConvexError(Exception):
    pass


class ConvexUnavailable(ConvexError):
    pass


class ConvexFunctionError(ConvexError):
    def __init__(self, message: str, data: Any = None):
        super().__init__(message)
        self.data = data


class ConvexHttp:
    def __init__(self, url: str, deploy_key: str | None, *, timeout_s: float = 10.0, max_connections: int = 8):
        base = url.rstrip("/")
        self._urls = {endpoint: httpx.URL(f"{base}{endpoint}") for endpoint in ("/api/mutation", "/api/query")}
        self._extensions = {"timeout": httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)).as_dict()}
        self._headers = {"Content-Type": "application/json",
                         **({"Authorization": f"Convex {deploy_key}"} if deploy_key else {})}
        self._transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections))

    async def close(self) -> None:
        await self._transport.aclose()

    async def mutation(self, path: str, args: dict[str, Any], *, encoded: bool = False) -> Any:
        """``encoded``: ``args`` are Convex JSON already (no int, bytes or special float in them)."""
        return await self._call("/api/mutation", path, args if encoded else convex_to_json(args))

    async def query(self, path: str, args: dict[str, Any]) -> Any:
        return await self._call("/api/query", path, convex_to_json(args))

    async def _call(self, endpoint: str, path: str, args: Any) -> Any:
        request = httpx.Request("POST", self._urls[endpoint], headers=self._headers,
                                content=orjson.dumps({"path": path, "args": args, "format": "json"}),
                                extensions=self._extensions)
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise ConvexUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise ConvexUnavailable(f"HTTP {response.status_code}: {response.text[:500]}")
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ConvexUnavailable(f"non-JSON answer: {response.text[:200]}") from exc
        status = payload.get("status") if isinstance(payload, dict) else None
        if status == "success":
            return payload.get("value")
        if status == "error":
            raise ConvexFunctionError(str(payload.get("errorMessage", "")), payload.get("errorData"))
        raise ConvexUnavailable(f"unexpected answer: {response.text[:200]}")
