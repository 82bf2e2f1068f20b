"""The Starlette application: ``uvicorn api.app:app`` (the Procfile's web process).

``create_app(settings)`` builds one; tests pass their own settings. Resources (the pool,
the token keys) are opened in the lifespan and kept in one typed ``Services`` object.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from api.admission import Admission
from api.config import ConfigError, Settings, load_settings
from api.credentials import credential_box
from api.errors import EXCEPTION_HANDLERS
from api.menu_cache import MenuCache
from api.metrics import Metrics
from api.middleware import RequestContext, loggable_path
from api.ratelimit import RateLimits
from api.routes import (
    accounts,
    admin,
    auth,
    delivery,
    docs,
    doordash_webhooks,
    exports,
    grubhub_webhooks,
    integrations,
    invitations,
    menu,
    menu_sync,
    notifications,
    operator,
    orders,
    payments,
    platform_menus,
    platform_webhooks,
    reservations,
    restaurants,
    service,
    venues,
    voice,
    webhooks,
)
from api.state import Services
from api.tokens import TokenService
from db import logs
from db.pool import Database
from providers.factory import Providers, build_providers
from sync import tracing
from sync.config import (
    PetpoojaSettings,
    SyncSettings,
    load_petpooja_settings,
    load_sync_settings,
)
from sync.engine import Engine
from sync.metrics import PoolCollector, SyncMetrics
from sync.petpooja.client import PetpoojaClient
from sync.pusher import Pusher, new_owner
from sync.registry import convex_target, platform_adapters

log = structlog.get_logger("api")


def create_app(
    settings: Settings | None = None, sync_settings: SyncSettings | None = None,
    petpooja_settings: PetpoojaSettings | None = None, *, long_lived: bool = False,
    platform_env: Mapping[str, str] | None = None, providers: Providers | None = None,
) -> Starlette:
    """``platform_env``: the variables the delivery platforms' adapters are configured from
    (the process's environment unless given). ``long_lived``: the process serves this one
    app until it exits (uvicorn's, in every ENV_MODE), so its loggers are frozen on first use
    (db/logs.py); an app a test builds keeps them unfrozen, whatever its mode, so the next
    test's configure() reaches them. ``providers``: payments, geo and voice
    (providers/factory.py), built from the environment unless given."""
    settings = settings or load_settings(os.environ)
    sync_settings = sync_settings or load_sync_settings(os.environ, production=settings.production)
    petpooja_settings = petpooja_settings or load_petpooja_settings(os.environ)
    # Where the delivery platforms are (UBEREATS_API_URL, ...): the environment unless given.
    platform_env = os.environ if platform_env is None else platform_env
    # A production API without a real provider's credentials refuses to start (ProviderConfigError).
    providers = providers or build_providers(os.environ)
    if settings.database_url is None:
        raise ConfigError("DATABASE_URL is not set; start the whole system with `bash scripts/dev` (see README)")
    logs.configure(settings.log_format, settings.log_level, cache=long_lived)
    metrics = Metrics()
    admission = Admission(settings.admission_max_in_flight, settings.admission_retry_after_s)
    metrics.in_flight.set_function(lambda: admission.in_flight)
    sync_metrics = SyncMetrics(metrics.registry)
    traced = tracing.setup("tabletop-api", os.environ)
    if traced:
        tracing.instrument_clients()
    tokens = TokenService(settings)
    credentials = credential_box(settings)
    passwords = PasswordHasher(time_cost=settings.password_time_cost, memory_cost=settings.password_memory_kib)
    database_url = settings.database_url
    # Checked against when a login names an unknown email, so both take as long.
    dummy_password_hash = passwords.hash("no account has this password")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                      timeout_s=settings.db_pool_timeout_s)
        svc = Services(
            settings=settings, db=db, tokens=tokens, passwords=passwords, limits=RateLimits(settings),
            metrics=metrics, dummy_password_hash=dummy_password_hash, sync=sync_settings, sync_metrics=sync_metrics,
            credentials=credentials, menu_cache=MenuCache(settings.menu_cache_size, metrics.menu_cache_reads),
            petpooja=PetpoojaClient(petpooja_settings),
            platforms={adapter.platform: adapter for adapter in platform_adapters(platform_env)},
            providers=providers,
        )
        app.state.services = svc
        pool_gauges = PoolCollector(db)
        metrics.registry.register(pool_gauges)
        await db.open()
        convex = convex_target(sync_settings)
        if convex is not None:
            engine = Engine(db, owner=new_owner("api"), metrics=sync_metrics, quiet=True)
            svc.pusher = Pusher(engine, convex, window_s=sync_settings.sync_batch_window_ms / 1000,
                                max_in_flight=sync_settings.sync_max_in_flight,
                                overlap_after_s=sync_settings.sync_overlap_after_ms / 1000)
            svc.pusher.start()
        try:
            log.info("api_started", env_mode=settings.env_mode, jwt_kid=tokens.kid, convex=sync_settings.enabled,
                     tracing=traced)
            yield
        finally:
            metrics.registry.unregister(pool_gauges)
            if svc.pusher:
                await svc.pusher.close()
                await svc.pusher.target.close()
            if svc.petpooja:
                await svc.petpooja.close()
            for adapter in svc.platforms.values():
                await adapter.close()
            await providers.close()
            await db.close()

    middleware = [
        Middleware(RequestContext, metrics=metrics, max_body_bytes=settings.max_body_bytes,
                   production=settings.production, admission=admission,
                   body_limits={"/api/webhooks/petpooja/pushmenu/": settings.petpooja_menu_push_max_bytes,
                                # Vapi's messages carry the call and the conversation (providers/voice.py).
                                "/api/voice/vapi/": providers.voice.max_body_bytes}),
    ]
    if settings.cors_origins:
        # Only with an origin to allow: without one it allowed nothing and cost every request a
        # layer (a preflight is then a 405 problem like any other unserved method).
        middleware.append(
            Middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                       allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
                       allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
                       expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"], max_age=600))
    # Starlette tries routes in order, a regex each: the order routes, the busiest, come first (order
    # creation was the 29th of 52). No two routes match the same path, so the order changes nothing else.
    routes = [*orders.routes, *payments.routes, *service.routes, *auth.routes, *accounts.routes, *restaurants.routes,
              *invitations.routes, *menu.routes,
              *admin.routes, *operator.routes, *integrations.routes, *webhooks.routes, *platform_webhooks.routes,
              *menu_sync.routes,
              *grubhub_webhooks.routes, *platform_menus.routes, *doordash_webhooks.routes, *venues.routes,
              *reservations.routes, *exports.routes, *notifications.routes, *delivery.routes, *voice.routes,
              *docs.routes]
    app = Starlette(
        routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan,
    )
    if traced:
        # One server span per request, the parent of everything it does (SQL, the outbox rows
        # it writes, and through them their deliveries).
        from opentelemetry.instrumentation.starlette import StarletteInstrumentor

        StarletteInstrumentor.instrument_app(app, server_request_hook=_redacted_paths)
    return app


def _redacted_paths(span: Any, scope: dict[str, Any]) -> None:
    """A partner callback's path ends in its secret: its span shows it as the request log does."""
    path = str(scope.get("path", ""))
    if span is not None and span.is_recording() and loggable_path(path) != path:
        for name in ("http.target", "url.path", "http.url", "url.full"):
            span.set_attribute(name, loggable_path(path))


def __getattr__(name: str) -> Any:
    # `uvicorn api.app:app` builds the app from the environment on first access, so that
    # importing this module (tests, tools) has no side effects.
    if name == "app":
        built = create_app(long_lived=True)
        globals()["app"] = built
        return built
    raise AttributeError(name)
