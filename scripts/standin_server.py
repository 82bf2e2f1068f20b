"""What the Python partner stand-ins (PetPooja, Uber Eats) share: their fault injection,
serving their app on loopback, printing the one ready line once it listens
(``<name> ready http://127.0.0.1:<port>``, what tests and the dev runner wait for), and
answering hanging calls before a graceful shutdown so that SIGTERM stops them at once."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette


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


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, released: asyncio.Event):
        super().__init__(config)
        self.released = released

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Hanging calls would hold the graceful shutdown until it times out: answer them first.
        self.released.set()
        await super().shutdown(sockets)


async def serve(app: Starlette, released: asyncio.Event, port: int, name: str, *, also: tuple[str, ...] = ()) -> None:
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
