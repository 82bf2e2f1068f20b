"""Menus a delivery platform downloads from us: Grubhub's ingestion names a ``menu_url`` and
Grubhub fetches the merchant's menu from it (docs/grubhub.md).

``GET /api/platform-menus/grubhub/{merchant_id}/{token}`` answers the merchant's current menu
in Grubhub's normalized format, built from Postgres when asked with the formatter the publish
uses (the Grubhub adapter's ``format_menu``): Grubhub downloads when it processes the job,
possibly minutes later, and a menu edited since then is the one it should get (that edit's
own ingestion follows).

Public: the token (sync/grubhub/menu_url.py) is the authentication, recomputed from the
store's sealed credentials and compared in constant time. An unknown merchant and a wrong
token get the same 404; credentials that do not open with this key a 503. The request log
shows the path without its token (api/middleware.py).
"""

from __future__ import annotations

import re

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.errors import ApiError
from api.responses import JSON
from api.state import services
from db import menu, platforms
from db.credentials import CredentialsUnreadable
from sync.grubhub.menu_url import MENU_PATH, token_matches

log = structlog.get_logger("api")

# What a merchant id (platform_connections_store_id_valid) and a token can be: anything else
# is answered without a query.
_MERCHANT = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_TOKEN = re.compile(r"[0-9a-f]{64}")


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no menu here")


async def grubhub_menu(request: Request) -> Response:
    merchant_id, token = request.path_params["merchant_id"], request.path_params["token"]
    if not (_MERCHANT.fullmatch(merchant_id) and _TOKEN.fullmatch(token)):
        raise _not_found()
    svc = services(request)
    structlog.contextvars.bind_contextvars(platform="grubhub")
    try:
        async with svc.db.system() as conn:
            store = await platforms.store_by_id(conn, svc.credentials, "grubhub", merchant_id)
    except CredentialsUnreadable:
        log.error("platform_menu_unavailable", reason="the store's credentials do not open with this key")
        raise ApiError(503, "unavailable", "the menu cannot be served right now; retry",
                       headers={"Retry-After": "60"}) from None
    if store is None or not token_matches(store[1], merchant_id, token):
        log.warning("platform_menu_refused", reason="unknown merchant" if store is None else "wrong token")
        raise _not_found()
    restaurant_id = store[0]
    structlog.contextvars.bind_contextvars(restaurant_id=str(restaurant_id))
    # In the restaurant's scope (row-level security): a public route reads no other restaurant's rows.
    async with svc.db.tenant(restaurant_id) as conn:
        categories = await menu.full_menu(conn, restaurant_id)
    return JSON(svc.platforms["grubhub"].format_menu(categories))


routes = [Route(f"{MENU_PATH}/{{merchant_id}}/{{token}}", grubhub_menu, methods=["GET"])]
