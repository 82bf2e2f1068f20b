"""The one place that knows every outbox target package: builds the targets this
configuration enables. A new partner adds its package, a line here, and its rows in
``sync_targets`` (a migration); the engine, the worker and the triggers stay as they are."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from db.credentials import worker_box
from db.pool import Database
from providers.factory import Providers, build_providers
from sync.config import SyncSettings, backoff_of, load_smtp_settings
from sync.convex.client import ConvexHttp
from sync.convex.target import ConvexTarget
from sync.doordash.adapter import doordash_adapter
from sync.email.target import email_target
from sync.grubhub.adapter import grubhub_adapter
from sync.petpooja.target import petpooja_target
from sync.platform.adapter import PlatformAdapter
from sync.platform.target import PlatformTarget, platform_targets
from sync.stripe_refund.target import stripe_refund_target
from sync.target import Policy, Target
from sync.ubereats.adapter import ubereats_adapter
from sync.webhook.target import webhook_target

log = structlog.get_logger("sync")

# Every delivery platform: its adapter as configured, and its menus' debounce window.
PLATFORM_ADAPTERS: tuple[Callable[[Mapping[str, str]], tuple[PlatformAdapter, float]], ...] = (
    ubereats_adapter,
    doordash_adapter,
    grubhub_adapter,
)


def convex_policy(settings: SyncSettings, *, batch_size: int | None = None) -> Policy:
    return Policy(batch_size=batch_size or settings.sync_batch_size, lease_s=settings.sync_lease_s,
                  backoff=backoff_of(settings), grace_s=settings.sync_grace_s, state_in_claim=True)


def convex_target(settings: SyncSettings, *, batch_size: int | None = None,
                  max_connections: int | None = None) -> ConvexTarget | None:
    """The Convex target of this configuration, or None when no deployment is configured."""
    if not settings.convex_url:
        return None
    client = ConvexHttp(settings.convex_url, settings.convex_deploy_key, timeout_s=settings.convex_timeout_s,
                        max_connections=max_connections or settings.sync_max_in_flight)
    return ConvexTarget(client, convex_policy(settings, batch_size=batch_size))


def build_targets(db: Database, settings: SyncSettings, environ: Mapping[str, str] | None = None, *,
                  providers: Providers | None = None) -> dict[str, Target[Any]]:
    """Every target this configuration enables, by name (a target that cannot run here, say
    PetPooja in production without its credentials key, is left out with a warning).
    ``providers``: payments, geo and voice (providers/factory.py), built from ``environ`` unless given."""
    env = os.environ if environ is None else environ
    providers = providers or build_providers(env)
    targets: dict[str, Target[Any]] = {}
    convex = convex_target(settings)
    if convex is not None:
        targets[convex.name] = convex
    for target in (petpooja_target(db, settings, env), webhook_target(db, settings, env),
                   email_target(db, settings, load_smtp_settings(env), env),
                   stripe_refund_target(db, settings, providers),
                   *delivery_platform_targets(db, settings, env)):
        if target is not None:
            targets[target.name] = target
    return targets


def platform_adapters(environ: Mapping[str, str]) -> list[PlatformAdapter]:
    """Every delivery platform's adapter as configured (the API checks credentials with them)."""
    return [make(environ)[0] for make in PLATFORM_ADAPTERS]


def delivery_platform_targets(db: Database, settings: SyncSettings, environ: Mapping[str, str],
                              ) -> list[PlatformTarget]:
    """Each platform's menu and order targets, or none when stores' credentials cannot be
    opened here (production without the credentials key)."""
    box = worker_box(environ)
    if box is None:
        log.warning("platform_targets_disabled", reason="PETPOOJA_CREDENTIALS_KEY is not set")
        return []
    found: list[PlatformTarget] = []
    for make in PLATFORM_ADAPTERS:
        adapter, debounce_s = make(environ)
        found += platform_targets(db, adapter, box, lease_s=settings.sync_lease_s, backoff=backoff_of(settings),
                                  debounce_s=debounce_s)
    return found
