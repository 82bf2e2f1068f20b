"""Convex's HTTP API, with hard timeouts.

Not the `convex` package's clients: its WebSocket client retries forever and blocks the
interpreter, and its HTTP client has no timeout. Only its value encoding rules are used.

A function error arrives as HTTP 200 with ``status: "error"`` (ConvexFunctionError, a
problem with what we sent); anything non-2xx, a timeout or a broken connection is
ConvexUnavailable (a problem with Convex; retry later).

The API process pushes every order through here from the event loop that serves requests,
so a call costs as little CPU as it can: HTTP/1.1 over a few kept-alive asyncio streams
(``_Http11``), the request written in one piece, the body encoded with orjson. httpx
(and its connection pool) cost about ten times as much per call for the same bytes. httpx
still carries the calls when a proxy applies to the deployment's URL (``HTTPS_PROXY``
and friends, which httpx honours) and while this process traces (so each call is a span
of the httpx instrumentation, with the ``traceparent`` header, as for every other partner).
"""

from __future__ import annotations

import asyncio
import math
import ssl
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from convex.values import convex_to_json, float_to_json, int_to_float

from sync import tracing


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
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Convex {deploy_key}"} if deploy_key else {}
        self._timeout_s, self._max_connections = timeout_s, max_connections
        self._httpx: httpx.AsyncClient | None = None
        parts = urlsplit(self._url)
        self._fast = (_Http11(parts.scheme, parts.hostname or "", parts.port, parts.path, self._headers,
                              timeout_s=timeout_s, connect_timeout_s=min(timeout_s, 3.0),
                              max_connections=max_connections)
                      if parts.scheme in ("http", "https") and parts.hostname and not parts.username
                      and not _proxied(parts.scheme, parts.hostname) else None)

    async def close(self) -> None:
        if self._fast is not None:
            self._fast.close()
        if self._httpx is not None:
            await self._httpx.aclose()

    async def mutation(self, path: str, args: dict[str, Any], *, encoded: bool = False) -> Any:
        """``encoded``: ``args`` are already in Convex's JSON encoding (no int, no NaN or
        infinite or negative-zero float, no bytes, only valid field names), as
        documents.change builds them: sent as they are, without the encoder's walk."""
        return await self._call("/api/mutation", path, args if encoded else to_json(args))

    async def query(self, path: str, args: dict[str, Any]) -> Any:
        return await self._call("/api/query", path, to_json(args))

    async def _call(self, endpoint: str, path: str, args: Any) -> Any:
        body = orjson.dumps({"path": path, "args": args, "format": "json"})
        if self._fast is not None and not tracing.enabled():
            status, content = await self._fast.post(endpoint, body)
        else:
            status, content = await self._post_httpx(endpoint, body)
        if status != 200:
            raise ConvexUnavailable(f"HTTP {status}: {_text(content)[:500]}")
        try:
            payload = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise ConvexUnavailable(f"non-JSON answer: {_text(content)[:200]}") from exc
        status_field = payload.get("status") if isinstance(payload, dict) else None
        if status_field == "success":
            return payload.get("value")
        if status_field == "error":
            raise ConvexFunctionError(str(payload.get("errorMessage", "")), payload.get("errorData"))
        raise ConvexUnavailable(f"unexpected answer: {_text(content)[:200]}")

    async def _post_httpx(self, endpoint: str, body: bytes) -> tuple[int, bytes]:
        if self._httpx is None:
            self._httpx = httpx.AsyncClient(
                base_url=self._url,
                timeout=httpx.Timeout(self._timeout_s, connect=min(self._timeout_s, 3.0)),
                limits=httpx.Limits(max_connections=self._max_connections,
                                    max_keepalive_connections=self._max_connections),
                headers={**self._headers, "Content-Type": "application/json"},
            )
        try:
            response = await self._httpx.post(endpoint, content=body)
        except httpx.HTTPError as exc:
            raise ConvexUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return response.status_code, response.content


def _text(content: bytes) -> str:
    return content.decode("utf-8", "replace")


def _proxied(scheme: str, host: str) -> bool:
    """Whether httpx would send a call to this host through a proxy from the environment."""
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(host)


# -- Convex's JSON value encoding ---------------------------------------------------------

# Field names already found valid (they are our documents' own few dozen): checked once.
_VALID_FIELDS: set[str] = set()


def to_json(value: Any) -> Any:
    """``convex.values.convex_to_json``, the same output for every input, faster on the
    values documents are made of (dicts with known field names, lists, str, float, bool,
    None); anything else is left to the library."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is float:
        # NaN, infinities and -0.0 have no JSON form: the library encodes them as $float.
        return value if math.isfinite(value) and (value or math.copysign(1.0, value) > 0) else float_to_json(value)
    if kind is dict:
        out = {}
        for key, item in value.items():
            if key not in _VALID_FIELDS:
                convex_to_json({key: None})  # raises as the library does on a bad field name
                if len(_VALID_FIELDS) < 4096:
                    _VALID_FIELDS.add(key)
            out[key] = to_json(item)
        return out
    if kind is list:
        return [to_json(item) for item in value]
    if kind is int:
        return int_to_float(value)
    return convex_to_json(value)


# -- HTTP/1.1 over kept-alive asyncio streams -----------------------------------------------


class _Closed(Exception):
    """The server closed a kept-alive connection before answering: safe to send again."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class _Http11:
    """POSTs to one origin over at most ``max_connections`` kept-alive connections.

    Every Convex call it makes is safe to send twice (mutations are versioned upserts, or
    set the same epoch), so a kept-alive connection the server closed while idle (Node
    closes them after 5 s) is replaced and the request sent again, once. Anything else
    that goes wrong closes the connection and raises ConvexUnavailable."""

    def __init__(self, scheme: str, host: str, port: int | None, base_path: str, headers: dict[str, str], *,
                 timeout_s: float, connect_timeout_s: float, max_connections: int):
        default_port = 443 if scheme == "https" else 80
        self._host, self._port = host, port or default_port
        self._ssl: ssl.SSLContext | None = httpx.create_ssl_context() if scheme == "https" else None
        self._timeout_s, self._connect_timeout_s = timeout_s, connect_timeout_s
        authority = host if ":" not in host else f"[{host}]"
        if port is not None and port != default_port:
            authority += f":{port}"
        lines = [f"Host: {authority}", "Accept: */*", "User-Agent: tabletop-sync",
                 *(f"{name}: {value}" for name, value in headers.items()),
                 "Content-Type: application/json", "Content-Length: "]
        self._head = "\r\n".join(lines)
        self._base_path = base_path.rstrip("/")
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def post(self, endpoint: str, body: bytes) -> tuple[int, bytes]:
        request = (f"POST {self._base_path}{endpoint} HTTP/1.1\r\n{self._head}{len(body)}\r\n\r\n".encode("latin-1")
                   + body)
        try:
            async with asyncio.timeout(self._timeout_s), self._slots:
                while self._idle:
                    conn = self._idle.pop()
                    if not conn.usable():
                        conn.close()
                        continue
                    try:
                        return await self._exchange(conn, request, reused=True)
                    except _Closed:
                        continue
                return await self._exchange(await self._connect(), request, reused=False)
        except TimeoutError as exc:
            raise ConvexUnavailable(f"ReadTimeout: no answer within {self._timeout_s:g} s") from exc

    async def _connect(self) -> _Connection:
        if self._closed:
            raise ConvexUnavailable("the client is closed")
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                reader, writer = await asyncio.open_connection(
                    self._host, self._port, ssl=self._ssl, server_hostname=self._host if self._ssl else None)
        except TimeoutError as exc:
            raise ConvexUnavailable(f"ConnectTimeout: no connection within {self._connect_timeout_s:g} s") from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConvexUnavailable(f"ConnectError: {exc}") from exc
        return _Connection(reader, writer)

    async def _exchange(self, conn: _Connection, request: bytes, *, reused: bool) -> tuple[int, bytes]:
        """One request on ``conn``; the connection is kept only after a complete answer
        that allows it. ``_Closed``: a reused connection was closed before any answer."""
        reusable = False
        try:
            try:
                conn.writer.write(request)
                head = await conn.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                if reused and not getattr(exc, "partial", b""):
                    raise _Closed from exc
                raise
            status, headers = _head(head)
            while 100 <= status < 200:  # interim answers (100 Continue) precede the real one
                status, headers = _head(await conn.reader.readuntil(b"\r\n\r\n"))
            content, reusable = await _body(conn.reader, headers)
            if headers.get("connection", "").lower() == "close":
                reusable = False
            return status, content
        except _Closed:
            raise
        except (OSError, EOFError, asyncio.LimitOverrunError, ValueError) as exc:
            raise ConvexUnavailable(f"{_kind(exc)}: {exc}") from exc
        finally:
            if reusable and not self._closed:
                self._idle.append(conn)
            else:
                conn.close()


def _kind(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError | EOFError | ConnectionError):
        return "RemoteProtocolError" if isinstance(exc, asyncio.IncompleteReadError) else "ReadError"
    if isinstance(exc, ValueError | asyncio.LimitOverrunError):
        return "RemoteProtocolError"
    return "NetworkError"


def _head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
    status = int(rest[:3])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"malformed header line {line[:80]!r}")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers["connection"] = "close"
    return status, headers


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> tuple[bytes, bool]:
    """The answer's body, and whether the connection may carry another request."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(parts), True
            parts.append((await reader.readexactly(size + 2))[:-2])
    if "content-length" in headers:
        length = int(headers["content-length"])
        if length < 0:
            raise ValueError(f"negative Content-Length {length}")
        return await reader.readexactly(length), True
    return await reader.read(), False  # delimited by the end of the connection

