"""Integrations with a restaurant's other systems: connecting its PetPooja POS outlet, its
stores on delivery platforms, and registering its own backend's webhook.

Credentials go in and never come out: responses, logs and errors name the outlet
(rest_id, environment) and the callback URLs to register in PetPooja's dashboard, never
the app key, secret or token. A webhook's signing secret is answered once, when it is
issued (creation or ``?rotate=true``), and never again; logs name the webhook's host only.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import OWNER_MANAGER, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.bodies import json_body, query_params
from api.errors import ApiError
from api.models import DoorDashConnect, GrubhubConnect, Input, PetpoojaConnect, PlatformConnect, UberEatsConnect
from api.responses import JSON
from api.state import services
from db import outbound_webhooks, petpooja, platforms
from db.queries import Row
from sync.platform.http import PartnerAuthRefused, PartnerUnreachable
from sync.webhook.guard import AddressRefused, Resolver, Unresolvable, resolve_public, system_resolver
from sync.webhook.urls import UnsafeUrl, canonical_url

log = structlog.get_logger("api")

# Response key -> the path segment PetPooja calls back on.
CALLBACK_KINDS = {
    "order_status": "order-status",
    "stock": "stock",
    "store_status": "store-status",
    "menu_push": "pushmenu",
}


def callback_urls(base_url: str, callback_secret: str) -> dict[str, str]:
    """The URLs to register in PetPooja's dashboard; the secret in each names the restaurant."""
    return {key: f"{base_url}/api/webhooks/petpooja/{kind}/{callback_secret}" for key, kind in CALLBACK_KINDS.items()}


def _connection(request: Request, row: Row) -> dict[str, Any]:
    return {
        "connected": True, "rest_id": row["rest_id"], "environment": row["environment"],
        "callback_urls": callback_urls(services(request).settings.base_url, row["callback_secret"]),
    }


async def connect_petpooja(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, PetpoojaConnect)
        row = await petpooja.connect(
            scope.conn, services(request).credentials, restaurant_id=_rid(request), rest_id=body.rest_id,
            environment=body.environment,
            credentials=petpooja.Credentials(body.app_key, body.app_secret, body.access_token),
        )
    log.info("petpooja_connected", rest_id=row["rest_id"], environment=row["environment"])
    return JSON(_connection(request, row))


async def get_petpooja(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        row = await petpooja.get(scope.conn, _rid(request))
    return JSON({"connected": False} if row is None else _connection(request, row))


async def disconnect_petpooja(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        if await petpooja.disconnect(scope.conn, _rid(request)):
            log.info("petpooja_disconnected")
    return Response(status_code=204)


# ---------------------------------------------------------------- delivery platforms

# Each platform's connect body (its credential fields); a platform is reachable here once it
# has one.
CONNECT_BODIES: dict[platforms.Platform, type[PlatformConnect]] = {
    "ubereats": UberEatsConnect,
    "doordash": DoorDashConnect,
    "grubhub": GrubhubConnect,
}


def _store(request: Request, row: Row) -> dict[str, Any]:
    """A platform connection as the owner sees it: the store, the webhook URL to register with
    the platform, and its menu's state there."""
    return {
        "connected": True, "platform": row["platform"], "store_id": row["store_id"],
        "webhook_url": f"{services(request).settings.base_url}/api/webhooks/{row['platform']}",
        "menu": {"status": row["sync_status"], "last_sync_at": row["last_sync_at"], "item_count": row["item_count"],
                 "external_menu_id": row["external_menu_id"], "error": row["last_error"],
                 "retry_count": row["retry_count"]},
    }


async def connect_platform(request: Request, platform: platforms.Platform) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER):  # who may, before any call out
        body = await json_body(request, CONNECT_BODIES[platform])
    credentials = platforms.Credentials(body.credentials())
    adapter = services(request).platforms[platform]
    # Asking the platform may take seconds: not while holding a database connection.
    try:
        await adapter.check_credentials(body.store_id, credentials)
    except PartnerAuthRefused:
        detail = f"{adapter.label} refused these credentials"
        raise ApiError(422, "invalid_credentials", detail, errors=[
            {"loc": ["body", name], "msg": detail, "type": "invalid_credentials"}
            for name in credentials.values]) from None
    except PartnerUnreachable:
        raise ApiError(503, "platform_unreachable", f"{adapter.label} could not be reached to check the credentials",
                       headers={"Retry-After": "30"}) from None
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        row = await platforms.connect(scope.conn, services(request).credentials, restaurant_id=_rid(request),
                                      platform=platform, store_id=body.store_id, credentials=credentials)
    log.info("platform_connected", platform=platform, store_id=body.store_id)
    return JSON(_store(request, row))


async def get_platform(request: Request, platform: platforms.Platform) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        row = await platforms.get(scope.conn, _rid(request), platform)
    return JSON({"connected": False, "platform": platform} if row is None else _store(request, row))


async def disconnect_platform(request: Request, platform: platforms.Platform) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        if await platforms.disconnect(scope.conn, _rid(request), platform):
            log.info("platform_disconnected", platform=platform)
    return Response(status_code=204)


async def refresh_platform(request: Request, platform: platforms.Platform) -> Response:
    """Publishes the whole menu again (after a fix on the platform's side, say): the operators'
    full refresh (POST /admin/sync/{rid}/full-refresh), forced."""
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        if await platforms.refresh(scope.conn, _rid(request), platform, force=True) == "not_connected":
            label = services(request).platforms[platform].label
            raise ApiError(404, "not_connected", f"the restaurant has no {label} store connected")
    return JSON({"queued": True}, status_code=202)


# ---------------------------------------------------------------- outbound webhook

class WebhookRegister(Input):
    url: str


class WebhookQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rotate: bool = False


def _bad_url(detail: str) -> ApiError:
    return ApiError(422, "invalid_webhook_url", detail,
                    errors=[{"loc": ["body", "url"], "msg": detail, "type": "invalid_webhook_url"}])


async def check_webhook_url(url: str, *, guarded: bool, resolver: Resolver = system_resolver) -> str:
    """The URL in canonical form (sync/webhook/urls.py) when acceptable here: in production and
    staging (``guarded``) https to a public host whose name resolves to public addresses only.
    Raises a 422 ApiError naming what is wrong. The worker checks the addresses again at every
    connection (sync/webhook/guard.py): what a name resolves to now is not what it will later."""
    try:
        checked = canonical_url(url, guarded=guarded)
    except UnsafeUrl as exc:
        raise _bad_url(exc.detail) from None
    if guarded:
        try:
            await resolve_public(checked.host, checked.port, resolver)
        except AddressRefused:
            # Without the address: registration must not tell anyone what internal names resolve to.
            raise _bad_url(f"the URL must point to a public host: {checked.host} resolves to a non-public address",
                           ) from None
        except Unresolvable as exc:
            raise _bad_url(f"the URL's host cannot be resolved: {exc}") from None
    return checked.url


def _webhook(row: Row | outbound_webhooks.Registration) -> dict[str, Any]:
    if isinstance(row, outbound_webhooks.Registration):
        return {"registered": True, "url": row.url, "created_at": row.created_at, "updated_at": row.updated_at}
    return {"registered": True, "url": row["url"], "created_at": row["created_at"], "updated_at": row["updated_at"]}


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


async def put_webhook(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER):  # who may, before any lookup
        query = query_params(request, WebhookQuery)
        body = await json_body(request, WebhookRegister)
    # Resolving the host may take seconds: not while holding a database connection.
    url = await check_webhook_url(body.url, guarded=services(request).settings.production,
                                  resolver=services(request).webhook_resolver)
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        registration = await outbound_webhooks.register(
            scope.conn, services(request).credentials, restaurant_id=_rid(request), url=url, rotate=query.rotate)
    log.info("webhook_registered", host=_host(url), created=registration.created,
             secret_issued=registration.secret is not None)
    answer = _webhook(registration)
    if registration.secret is not None:
        answer["secret"] = registration.secret
    return JSON(answer, status_code=201 if registration.created else 200)


async def get_webhook(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        row = await outbound_webhooks.get(scope.conn, _rid(request))
    return JSON({"registered": False} if row is None else _webhook(row))


async def delete_webhook(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        if await outbound_webhooks.delete(scope.conn, _rid(request)):
            log.info("webhook_deleted")
    return Response(status_code=204)


_PATH = "/api/restaurants/{rid:uuid}/integrations/petpooja"
_WEBHOOK_PATH = "/api/restaurants/{rid:uuid}/integrations/webhook"
routes = [
    # Per platform: connect_ubereats, get_ubereats, disconnect_ubereats, refresh_ubereats, ...
    *(Route(f"/api/restaurants/{{rid:uuid}}/integrations/{platform}{suffix}", partial(handler, platform=platform),
            methods=[method], name=f"{handler.__name__.removesuffix('_platform')}_{platform}")
      for platform in CONNECT_BODIES
      for suffix, handler, method in (("", connect_platform, "PUT"), ("", get_platform, "GET"),
                                      ("", disconnect_platform, "DELETE"), ("/refresh", refresh_platform, "POST"))),
    Route(_PATH, connect_petpooja, methods=["PUT"]),
    Route(_PATH, get_petpooja, methods=["GET"]),
    Route(_PATH, disconnect_petpooja, methods=["DELETE"]),
    Route(_WEBHOOK_PATH, put_webhook, methods=["PUT"]),
    Route(_WEBHOOK_PATH, get_webhook, methods=["GET"]),
    Route(_WEBHOOK_PATH, delete_webhook, methods=["DELETE"]),
]
