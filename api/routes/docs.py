"""The published contract: ``/openapi.json`` (generated from the app itself, api/openapi.py)
and ``/docs``, Swagger UI with its assets served from the swagger-ui-py package (no CDN).

The security headers forbid everything by default (api/middleware.py); the page gets the
one Content-Security-Policy it needs: its scripts and styles from here, the document
fetched from here, Swagger UI's inline styles and data: icons.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from api import openapi
from api.errors import ApiError
from api.responses import JSON

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# The files the page loads, and nothing else of the package.
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Tabletop API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""
# External, not inline: the page's CSP allows no inline script.
_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""


@cache
def static_dir() -> Path:
    """swagger-ui-py's static folder, found without importing the package (it imports its web adapters)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is missing: it is a dependency (pyproject.toml)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def document(request: Request) -> dict[str, Any]:
    """The app's document, built on first use (the routes do not change while it runs)."""
    built: dict[str, Any] | None = getattr(request.app.state, "openapi", None)
    if built is None:
        built = openapi.build(request.app.routes)
        request.app.state.openapi = built
    return built


async def openapi_json(request: Request) -> Response:
    return JSON(document(request))


async def docs(request: Request) -> Response:
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": DOCS_CSP})


async def asset(request: Request) -> Response:
    name = request.path_params["asset"]
    if name == "init.js":
        return Response(_INIT, media_type="text/javascript", headers={"Cache-Control": "public, max-age=300"})
    if name not in ASSETS:
        raise ApiError(404, "not_found", "not found")
    return FileResponse(static_dir() / name, media_type=ASSETS[name],
                        headers={"Cache-Control": "public, max-age=86400"})


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
    # Swagger UI's files: not API operations.
    Route("/docs/{asset}", asset, methods=["GET"], include_in_schema=False),
]
