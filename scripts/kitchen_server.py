"""Builds and serves the reference kitchen display (kitchen/, docs/kitchen-display.md).

    python -m scripts.kitchen_server --api http://127.0.0.1:8000 --convex http://127.0.0.1:3210 [--port 8001]

Serves kitchen/dist as static files and ``/config.json`` (``{"apiUrl", "convexUrl"}``, what
the display reads at start) from its arguments, with a Content-Security-Policy that lets the
page reach only those two. Prints ``kitchen-server ready <url>`` once it accepts connections
(the dev runner reads it); if ``--port`` is taken it takes a free port and says so in that
line. SIGTERM or SIGINT stops it. A real deployment needs none of this: any static host
serving kitchen/dist with a config.json beside index.html will do.

``build()`` runs ``vite build`` unless kitchen/dist is newer than every source file.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ROOT = Path(__file__).resolve().parent.parent
KITCHEN = ROOT / "kitchen"
DIST = KITCHEN / "dist"
# What the build reads: its sources and its configuration (the npm packages are pinned by
# package-lock.json, so a dependency change shows there).
SOURCES = ("index.html", "track.html", "vite.config.ts", "tsconfig.json", "src")
LOCK = ROOT / ".data" / "kitchen-build.lock"


def _newest_source() -> float:
    files = [KITCHEN / name for name in SOURCES if (KITCHEN / name).is_file()]
    files += [p for p in (KITCHEN / "src").rglob("*") if p.is_file()]
    files.append(ROOT / "package-lock.json")
    return max(p.stat().st_mtime for p in files)


def is_built() -> bool:
    index = DIST / "index.html"
    return index.is_file() and index.stat().st_mtime >= _newest_source()


def build(*, force: bool = False) -> bool:
    """``vite build`` into kitchen/dist unless it is up to date; answers whether it built.

    Under a file lock: the test suite's workers (the dev runner's test, the browser test) may
    build at the same time, and vite empties dist first."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and is_built():
            return False
        vite = ROOT / "node_modules" / ".bin" / "vite"
        done = subprocess.run(  # noqa: S603  # our own build, fixed arguments
            [str(vite), "build", "--logLevel", "warn", str(KITCHEN)], cwd=ROOT, capture_output=True, text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"vite build kitchen failed:\n{done.stdout}{done.stderr}")
        return True


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(api_url: str, convex_url: str) -> str:
    """Scripts and styles from here; fetches to the API and Convex; Convex's WebSocket."""
    convex = _origin(convex_url)
    socket_origin = convex.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {_origin(api_url)} {convex} {socket_origin}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


class _Headers:
    """Adds the page's security headers to every answer."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app, self.headers = app, [
            (b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-cache"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(api_url: str, convex_url: str, dist: Path = DIST) -> ASGIApp:
    config = {"apiUrl": api_url.rstrip("/"), "convexUrl": convex_url.rstrip("/")}

    async def config_json(_: Request) -> Response:
        return JSONResponse(config)

    app = Starlette(routes=[
        Route("/config.json", config_json),
        Mount("/", StaticFiles(directory=dist, html=True)),
    ])
    return _Headers(app, content_security_policy(api_url, convex_url))


def _listen(host: str, port: int) -> socket.socket:
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE or port == 0:
            raise
        return socket.create_server((host, 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", required=True, help="the Tabletop API's base URL, as the browser reaches it")
    parser.add_argument("--convex", required=True, help="the Convex deployment's URL, as the browser reaches it")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0: any free port (default 8001)")
    parser.add_argument("--build", action="store_true", help="vite build first unless kitchen/dist is up to date")
    args = parser.parse_args()
    if args.build:
        build()
    if not (DIST / "index.html").is_file():
        raise SystemExit("kitchen/dist is not built: run with --build, or `npx vite build kitchen`")
    listener = _listen(args.host, args.port)
    host, port = listener.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(create_app(args.api, args.convex), log_level="warning", access_log=False))
    print(f"kitchen-server ready http://{host}:{port}/", flush=True)
    server.run(sockets=[listener])


if __name__ == "__main__":
    main()
