"""What the app opens in its lifespan, kept in one typed object on app.state."""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher
from starlette.requests import Request

from api.config import Settings
from api.menu_cache import MenuCache
from api.metrics import Metrics
from api.ratelimit import RateLimits
from api.tokens import TokenService
from db.credentials import CredentialBox
from db.pool import Database
from providers.factory import Providers
from sync.config import SyncSettings
from sync.metrics import SyncMetrics
from sync.petpooja.client import PetpoojaClient
from sync.platform.adapter import PlatformAdapter
from sync.pusher import Pusher
from sync.webhook.guard import Resolver, system_resolver


@dataclass
class Services:
    settings: Settings
    db: Database
    tokens: TokenService
    passwords: PasswordHasher
    limits: RateLimits
    metrics: Metrics
    dummy_password_hash: str
    sync: SyncSettings
    sync_metrics: SyncMetrics
    credentials: CredentialBox
    menu_cache: MenuCache
    pusher: Pusher | None = None
    petpooja: PetpoojaClient | None = None
    # Each delivery platform's adapter, by platform: connecting a store checks its credentials.
    platforms: dict[str, PlatformAdapter] = field(default_factory=dict)
    # How a webhook URL's host is resolved when it is registered (tests make names resolve as they need).
    webhook_resolver: Resolver = system_resolver
    # Payments, geo and voice as ENV_MODE chose them (providers/factory.py).
    providers: Providers = field(default_factory=Providers)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found
