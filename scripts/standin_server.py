"""What the Python partner stand-ins (PetPooja, Uber Eats, DoorDash, Grubhub) share: their
fault injection, one HTTP client for what they send (webhooks, callbacks, downloads), sending
a webhook or only building it, serving their app on loopback, printing the one ready line
once it listens (``<name> ready http://127.0.0.1:<port>``, what tests and the dev runner wait
for), answering hanging calls before a graceful shutdown so that SIGTERM stops them at once,
and their command line."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse


@dataclass
class Fault:
    """A fault for the next ``remaining`` calls (every call while None) of ``paths``; ``off`` is
    the stand-in's name for "no fault" (its control API's)."""

    mode: str
    remaining: int | None
    paths: frozenset[str]
    retry_after: int = 1  # a 429's Retry-After, where the stand-in answers one
    off: str = "ok"

    def take(self, path: str) -> str:
        """The fault for this call of ``path`` (``off`` when none applies), counting it down."""
        if self.mode == self.off or path not in self.paths:
            return self.off
        mode = self.mode
        if self.remaining is not None:
            self.remaining -= 1
            if self.remaining <= 0:
                self.mode, self.remaining = self.off, None
        return mode


class Outbound:
    """Mixed into a stand-in's state (which holds ``http: httpx.AsyncClient | None = None``):
    one client for every call it makes, since building one costs ~20-100 ms (its TLS context)."""

    http: httpx.AsyncClient | None

    def client(self) -> httpx.AsyncClient:
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=10)
        return self.http


class _State(Protocol):
    released: asyncio.Event
    http: httpx.AsyncClient | None


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """A stand-in app's lifespan: at shutdown its hanging calls are answered and its client closed."""
    yield
    state: _State = app.state.standin
    state.released.set()
    if state.http is not None:
        await state.http.aclose()


async def send_webhook(state: Outbound, url: str, raw: bytes, headers: Mapping[str, str], *,
                       dry_run: bool) -> JSONResponse:
    """Posts a partner's webhook to ``url`` and answers ``{status_code, body, sent}`` (502 when it
    cannot be delivered); ``dry_run`` only answers ``{sent}``, what would be posted."""
    sent: dict[str, Any] = {"url": url, "body": raw.decode(), "headers": dict(headers)}
    if dry_run:
        return JSONResponse({"sent": sent})
    try:
        answer = await state.client().post(url, content=raw, headers=dict(headers))
    except httpx.HTTPError as exc:
        return JSONResponse({"error": f"could not deliver to {url}: {exc!r}", "sent": sent}, status_code=502)
    return JSONResponse({"status_code": answer.status_code, "body": answer.text, "sent": sent})


def main(doc: str | None, default_port: int, serve_on: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """The command line of a stand-in: ``--port`` (0 picks a free one), served until stopped."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=default_port,
                        help="0 picks a free one (read it from the ready line)")
    args = parser.parse_args()
    try:
        asyncio.run(serve_on(args.port))
    except KeyboardInterrupt:
        sys.exit(0)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, released: asyncio.Event):
        super().__init__(config)
        self.released = released

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Hanging calls would hold the graceful shutdown until it times out: answer them first.
        self.released.set()
        await super().shutdown(sockets)


async def serve(app: Starlette | Callable[..., Awaitable[None]], released: asyncio.Event, port: int,
                name: str, *, also: tuple[str, ...] = ()) -> None:
    """Serves ``app`` on 127.0.0.1:``port`` (0: a free one) until stopped; ``released`` is the
    event the app's hanging calls wait on; ``also``: other URLs the stand-in serves, named in
    its ready line before its HTTP URL (the SMTP stand-in's smtp://)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1)
    server = _Server(config, released)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    # uvicorn.Server offers a flag, not an event, for "listening".
    while not server.started and not task.done():  # noqa: ASYNC110  # no event to wait on
        await asyncio.sleep(0.01)
    if server.started:
        print(" ".join([f"{name} ready", *also, f"http://127.0.0.1:{sock.getsockname()[1]}"]), flush=True)
    await task


def with_transport(app: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """The app with the connection's transport in its scope, so that a fault can drop the
    connection (``abort``): the down and drop faults answer nothing at all."""

    async def wrapped(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        # uvicorn's receive is a method of the request cycle that owns the connection's transport.
        scope["standin.transport"] = getattr(getattr(receive, "__self__", None), "transport", None)
        await app(scope, receive, send)

    return wrapped


async def abort(request: Request) -> None:
    """Drops the request's connection without an answer (an app wrapped by ``with_transport``).
    abort(), not close(): no FIN-with-response race; later writes of an unsent answer are discarded."""
    transport = request.scope.get("standin.transport")
    if transport is not None:
        transport.abort()
        await asyncio.sleep(0.05)
