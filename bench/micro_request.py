"""In-process microbenchmark of the API's per-request overhead (issue 12, item 1).

Drives the real ASGI app (create_app, as uvicorn loads it, wrapped in uvicorn's
ProxyHeadersMiddleware as the Procfile's uvicorn does) with a fake receive/send: no socket,
no database. Reports process CPU per request (time.process_time) for cheap requests whose
cost is almost all per-request machinery: middleware, routing, exception handling, metrics,
the request log line (JSON, INFO, rendered and written to /dev/null).

    .venv/bin/python -m bench.micro_request [N] [REPEATS]
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.getcwd())

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import api
from api.app import create_app
from api.config import Settings
from sync.config import SyncSettings

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
CACHE = os.environ.get("BENCH_CACHE_LOGGERS") == "1"


def settings() -> Settings:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return Settings.model_validate({
        "env_mode": "development", "database_url": "postgresql://tabletop_app@/tabletop?host=/nonexistent",
        "jwt_private_key": key, "password_time_cost": 1, "password_memory_kib": 64,
        "log_format": "json", "log_level": "INFO", "db_pool_min": 1, "db_pool_max": 1,
    })


def scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http", "method": method,
        "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*"), *headers],
    }


async def main() -> None:
    app: Any = create_app(settings(), SyncSettings.model_validate({}), long_lived=True)  # as uvicorn builds it
    wrapped: Any = ProxyHeadersMiddleware(app, trusted_hosts="")  # as the Procfile's uvicorn wraps it
    body = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return body

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    print(f"# app from {os.path.dirname(api.__file__)}", file=sys.__stdout__)
    cases = {
        "GET /health (200)": scope("GET", "/health", []),
        "GET /api/auth/me, no token (401)": scope("GET", "/api/auth/me", []),
        "GET /nope (404)": scope("GET", "/nope", []),
        "POST .../orders, no token (401)": scope(
            "POST", "/api/restaurants/0f1e2d3c-4b5a-4697-8887-a6b5c4d3e2f1/orders",
            [(b"content-type", b"application/json"), (b"content-length", b"0")]),
    }
    async with app.router.lifespan_context(app):
        for name, sc in cases.items():
            for _ in range(500):  # warm up
                await wrapped(dict(sc), receive, send)
            calls = 0

            def count(frame: Any, event: str, arg: Any) -> None:
                nonlocal calls
                if event in ("call", "c_call"):
                    calls += 1

            sys.setprofile(count)
            for _ in range(200):
                await wrapped(dict(sc), receive, send)
            sys.setprofile(None)
            best = float("inf")
            for _ in range(REPEATS):
                statuses.clear()
                started = time.process_time()
                for _ in range(N):
                    await wrapped(dict(sc), receive, send)
                best = min(best, (time.process_time() - started) / N)
            print(f"{name:36s} {best * 1e6:7.1f} us CPU/request (best of {REPEATS} x {N}; status {statuses[-1]}); "
                  f"{calls / 200:.0f} calls/request",
                  file=sys.__stdout__)


if __name__ == "__main__":
    with open(os.devnull, "w") as nowhere:  # the request log line is rendered and written, to nowhere
        sys.stderr = nowhere
        asyncio.run(main())
