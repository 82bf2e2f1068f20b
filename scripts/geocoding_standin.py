"""A Google Geocoding API stand-in: ``GET /maps/api/geocode/json?address=...&key=...`` answered in
Google's JSON wire format from a fixed gazetteer (providers/gazetteer.json, the one the in-process
development geocoder reads), with fault injection. For tests and local runs; not Google. See
scripts/geocoding_standin.md.

    python -m scripts.geocoding_standin --port 0 [--gazetteer PATH]
    # stdout, exactly one line once it accepts requests:
    geocoding-standin ready http://127.0.0.1:41234

Control: ``GET /_standin/calls`` (every geocoding call: address, key present, status answered;
never the key itself), ``POST /_standin/reset``, ``POST /_standin/fault {"mode", "count"?}``
with mode ``ok`` | ``down`` (the connection is closed without an answer) | ``http500`` |
``hang`` (no answer until reset or shutdown) | ``OVER_QUERY_LIMIT`` | ``REQUEST_DENIED`` |
``UNKNOWN_ERROR`` (Google's status with HTTP 200).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from providers.geo import GAZETTEER_PATH, load_gazetteer, normalised
from scripts import standin_server
from scripts.standin_server import Fault

PATH = "/maps/api/geocode/json"
STATUS_FAULTS = {"OVER_QUERY_LIMIT", "REQUEST_DENIED", "UNKNOWN_ERROR"}
FAULTS = {"ok", "down", "http500", "hang", *STATUS_FAULTS}
# Google's own error_message texts are longer; these say the same thing.
_MESSAGES = {
    "OVER_QUERY_LIMIT": "You have exceeded your rate-limit for this API.",
    "REQUEST_DENIED": "The provided API key is invalid.",
    "UNKNOWN_ERROR": "The request could not be processed due to a server error.",
}


@dataclass
class State(standin_server.Outbound):
    gazetteer: dict[str, dict[str, Any]]
    calls: list[dict[str, Any]] = field(default_factory=list)
    fault: Fault = field(default_factory=lambda: Fault("ok", None, frozenset({PATH})))
    released: asyncio.Event = field(default_factory=asyncio.Event)
    http: httpx.AsyncClient | None = None

    def reset(self) -> None:
        self.calls.clear()
        self.fault = Fault("ok", None, frozenset({PATH}))
        self.released.set()  # answer every hanging call, then hang again for new ones
        self.released = asyncio.Event()


def _google(status: str, results: list[dict[str, Any]] | None = None, message: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"results": results or [], "status": status}
    if message:
        body["error_message"] = message
    return JSONResponse(body)


async def geocode(request: Request) -> Response:
    state: State = request.app.state.standin
    address = request.query_params.get("address")
    key = request.query_params.get("key", "")
    call: dict[str, Any] = {"address": address, "key_present": bool(key.strip()), "status": None}
    state.calls.append(call)
    mode = state.fault.take(PATH)
    call["fault"] = mode
    if mode == "down":
        await standin_server.abort(request)  # no answer at all: the client sees the connection dropped
        return Response(status_code=500)
    if mode == "http500":
        call["status"] = "HTTP 500"
        return Response("Internal Server Error", status_code=500, media_type="text/plain")
    if mode == "hang":
        await state.released.wait()
        call["status"] = "released"
        return Response(status_code=503)
    if mode in STATUS_FAULTS:
        call["status"] = mode
        return _google(mode, message=_MESSAGES[mode])
    # Google: a missing key is REQUEST_DENIED; a missing address INVALID_REQUEST (both HTTP 200).
    if not key.strip():
        call["status"] = "REQUEST_DENIED"
        return _google("REQUEST_DENIED", message="You must use an API key to authenticate each request.")
    if not address or not address.strip():
        call["status"] = "INVALID_REQUEST"
        return _google("INVALID_REQUEST", message="Invalid request. Missing the 'address' parameter.")
    found = state.gazetteer.get(normalised(address))
    call["status"] = "OK" if found else "ZERO_RESULTS"
    return _google("OK", [found]) if found else _google("ZERO_RESULTS")


async def calls(request: Request) -> JSONResponse:
    state: State = request.app.state.standin
    return JSONResponse(state.calls)


async def reset(request: Request) -> JSONResponse:
    state: State = request.app.state.standin
    state.reset()
    return JSONResponse({"ok": True})


async def fault(request: Request) -> JSONResponse:
    state: State = request.app.state.standin
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("mode", "ok") not in FAULTS:
        return JSONResponse({"error": f"mode must be one of {sorted(FAULTS)}"}, status_code=400)
    count = body.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        return JSONResponse({"error": "count must be a whole number above 0"}, status_code=400)
    state.fault = Fault(body.get("mode", "ok"), count, frozenset({PATH}))
    return JSONResponse({"ok": True, "mode": state.fault.mode})


def build_app(gazetteer: Path = GAZETTEER_PATH) -> Starlette:
    state = State(load_gazetteer(gazetteer))
    app = Starlette(routes=[
        Route(PATH, geocode, methods=["GET"]),
        Route("/_standin/calls", calls, methods=["GET"]),
        Route("/_standin/reset", reset, methods=["POST"]),
        Route("/_standin/fault", fault, methods=["POST"]),
    ], lifespan=standin_server.lifespan)
    app.state.standin = state
    return app


async def serve_on(port: int, gazetteer: Path = GAZETTEER_PATH) -> None:
    app = build_app(gazetteer)
    await standin_server.serve(standin_server.with_transport(app), app.state.standin.released, port,
                               "geocoding-standin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8095, help="0 picks a free one (read it from the ready line)")
    parser.add_argument("--gazetteer", type=Path, default=GAZETTEER_PATH, help="the addresses it knows")
    args = parser.parse_args()
    try:
        asyncio.run(serve_on(args.port, args.gazetteer))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
