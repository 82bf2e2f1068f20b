"""API settings, read once from the environment.

Development runs on generated defaults (a dev signing key and a dev credentials key under
.data/). Production and staging (``ENV_MODE=production|staging``, db/envmode.py) refuse to
start without a database URL, a real signing key, an issuer and a credentials key: a
missing setting is a startup error, never a silent fallback.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from pathlib import Path

import limits
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from db.envmode import EnvMode, production_like
from db.logs import LogFormat

ROOT = Path(__file__).resolve().parent.parent


MIN_API_KEY_LENGTH = 32


class ConfigError(RuntimeError):
    pass


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    env_mode: EnvMode = "development"
    database_url: str | None = None
    db_pool_min: int = Field(2, ge=1)
    db_pool_max: int = Field(10, ge=1)
    # The longest a request waits for a pool connection before it is refused with 503
    # `overloaded` (a healthy wait is milliseconds; seconds mean the database is the bottleneck).
    db_pool_timeout_s: float = Field(2.0, gt=0, le=60)
    # Admission control (api/admission.py): HTTP requests in flight in this process above which a
    # new one is refused at once with 503 `overloaded` and Retry-After (0: no limit); /health,
    # /ready and /metrics are never refused. 64 for one process with a 10-connection pool: about
    # 1-2 ms of CPU per order, so at most ~64-130 ms of work queued ahead of an admitted request,
    # while six times the pool keeps every connection busy.
    admission_max_in_flight: int = Field(32, ge=0)
    # The menu cache (api/menu_cache.py): how many restaurants' menus one process keeps, least
    # recently read out first (a 500-item menu is about 250 kB); 0 turns it off.
    menu_cache_size: int = Field(256, ge=0, le=100_000)
    admission_retry_after_s: int = Field(1, ge=1, le=3600)

    jwt_private_key: str | None = None  # PEM; or jwt_private_key_file
    jwt_private_key_file: Path | None = None
    jwt_key_id: str | None = None
    # Public keys still accepted (and published) after a rotation: PEM blocks, concatenated.
    jwt_previous_public_keys: str | None = None
    jwt_issuer: str = "http://localhost:8000"
    jwt_audience: str = "tabletop-api"
    convex_audience: str = "tabletop-convex"
    dev_key_path: Path = ROOT / ".data" / "dev-jwt-key.pem"
    # Where callers reach this API from outside (the callback URLs given to PetPooja);
    # the issuer when unset.
    public_base_url: str | None = None
    # Where guests' phones open the ordering front end: a table's QR code carries
    # {ordering_base_url}/t/{qr_token}, a share link {ordering_base_url}/s/{share_token}
    # (docs/venues.md). The API's base URL when unset.
    ordering_base_url: str | None = None

    # AES-256-GCM key (base64 of 32 bytes) that seals integration credentials at rest, and
    # its id (recorded with every sealed value; derived from the key when unset).
    petpooja_credentials_key: str | None = None
    petpooja_credentials_key_id: str | None = None
    dev_credentials_key_path: Path = ROOT / ".data" / "dev-credentials-key"
    # PetPooja's callbacks (api/routes/webhooks.py). When a key is set, every callback must
    # carry X-Signature: hex HMAC-SHA256 of its raw body under it; the URL secret alone
    # authenticates otherwise (PetPooja documents no signature).
    petpooja_callback_hmac_key: str | None = None
    # A pushed menu is the whole fetch-menu document (about 2 MB for a large menu); every
    # other request keeps max_body_bytes.
    petpooja_menu_push_max_bytes: int = Field(4 * 1024 * 1024, ge=1024)

    access_token_ttl_s: int = Field(900, ge=60)
    refresh_token_ttl_s: int = Field(30 * 24 * 3600, ge=300)
    guest_session_ttl_s: int = Field(4 * 3600, ge=300)
    convex_token_ttl_s: int = Field(3600, ge=60)
    # A guest's or a customer's Convex token (their own orders and notifications): short, so a
    # session that ended (table closed, QR replaced) stops reading soon; the client asks again.
    recipient_convex_token_ttl_s: int = Field(900, ge=60)

    # argon2id cost; the defaults are argon2-cffi's RFC 9106 "low memory" profile.
    password_time_cost: int = Field(3, ge=1)
    password_memory_kib: int = Field(65536, ge=64)

    max_body_bytes: int = Field(64 * 1024, ge=1024)
    cors_origins: list[str] = []
    rate_limit_storage: str = "memory://"
    # Each limit is keyed to what it protects (docs/auth.md). A client address is the peer's
    # IP (an IPv6 client's /64), or what a trusted proxy says it is (below).
    rate_limit_login: str = "30/minute"  # login and register attempts per client address
    rate_limit_login_failures: str = "10/hour"  # failed logins per email and client address
    # Logins per email from addresses it has not logged in from lately: what bounds a guesser
    # with many addresses, while its owner logs in from a known one whatever they do.
    rate_limit_login_account: str = "100/hour"
    login_known_address_days: int = Field(30, ge=1, le=365)
    rate_limit_qr_lookup_failures: str = "30/minute"  # unknown QR codes per client address
    rate_limit_qr_session: str = "60/10 minutes"  # guest sessions per table (per QR code)
    # Takeaway sessions from share links per client address: one link is public and shared by
    # everybody, so a per-link budget would let one client spend everybody's.
    rate_limit_share_session: str = "20/10 minutes"
    rate_limit_order_create: str = "60/minute"  # orders per caller: a staff account or a guest session
    rate_limit_order_table: str = "60/10 minutes"  # guest orders per table (per QR code)
    rate_limit_invite: str = "60/hour"  # member invitations per inviting account
    invitation_ttl_s: int = Field(7 * 24 * 3600, ge=3600)
    # Order exports (docs/exports.md): requests per restaurant, how many may wait or build at
    # once per restaurant, the longest range in days, and how long a signed download URL works.
    rate_limit_export: str = "30/hour"
    export_max_pending: int = Field(10, ge=1, le=100)
    export_max_days: int = Field(366, ge=1, le=3660)
    export_url_ttl_s: int = Field(600, ge=30, le=24 * 3600)
    # Password reset (docs/accounts.md): requests per email and per client address (the answer
    # is the same 202 either way), and how long an emailed token works.
    rate_limit_password_reset_email: str = "5/hour"  # noqa: S105  # a rate limit, not a password
    rate_limit_password_reset_ip: str = "30/hour"  # noqa: S105  # a rate limit, not a password
    password_reset_ttl_s: int = Field(1800, ge=300, le=24 * 3600)
    # Behind a reverse proxy: its addresses or networks (X-Forwarded-For is read from the right,
    # skipping them; uvicorn gets the same list from the Procfile), or, when they cannot be
    # known (a platform's router), how many proxies append to X-Forwarded-For. Neither: the
    # header is ignored.
    forwarded_allow_ips: list[str] = []
    trusted_proxy_hops: int = Field(0, ge=0, le=10)

    log_format: LogFormat = "auto"
    log_level: str = "INFO"

    # /metrics: with a token, scrapers send `Authorization: Bearer <token>`; without one it is
    # open in development and not served at all in production and staging. Its database gauges
    # are read at most once per metrics_cache_s, however often it is scraped.
    metrics_token: str | None = Field(None, repr=False, min_length=16)
    metrics_cache_s: float = Field(5.0, ge=0)

    # Machine credentials for the operator API (/admin/..., X-API-Key): comma-separated, several
    # at once so a key rotates (add the new one, deploy, move callers, remove the old). None: every
    # /admin request is refused. Each at least 32 characters (api/apikeys.py).
    api_keys: list[str] = Field([], repr=False)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _long_keys(cls, value: list[str]) -> list[str]:
        for n, key in enumerate(value, 1):
            if len(key) < MIN_API_KEY_LENGTH:
                # Which key and how long, never the key: the message reaches startup output.
                raise ValueError(f"API_KEYS: key {n} has {len(key)} characters, at least {MIN_API_KEY_LENGTH} needed "
                                 "(python -c 'import secrets; print(secrets.token_urlsafe(32))' makes one)")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry == "*":
                raise ValueError("'*' would trust the client-written end of X-Forwarded-For: list the proxies")
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network") from exc
        return value

    @field_validator(
        "rate_limit_login", "rate_limit_login_failures", "rate_limit_login_account", "rate_limit_qr_lookup_failures",
        "rate_limit_qr_session", "rate_limit_share_session", "rate_limit_order_create", "rate_limit_order_table",
        "rate_limit_invite",
        "rate_limit_password_reset_email", "rate_limit_password_reset_ip", "rate_limit_export",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate limit such as '10/minute' or '60/10 minutes'") from exc
        return value

    @model_validator(mode="after")
    def _one_way_to_trust_proxies(self) -> Settings:
        if self.forwarded_allow_ips and self.trusted_proxy_hops:
            raise ValueError("set FORWARDED_ALLOW_IPS or TRUSTED_PROXY_HOPS, not both")
        return self

    @field_validator("petpooja_credentials_key")
    @classmethod
    def _aes_256_key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                raw = base64.b64decode(value, validate=True)
            except binascii.Error as exc:
                raise ValueError("PETPOOJA_CREDENTIALS_KEY must be base64") from exc
            if len(raw) != 32:
                raise ValueError(f"PETPOOJA_CREDENTIALS_KEY must hold 32 bytes, not {len(raw)}")
        return value

    @field_validator("public_base_url", "ordering_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value is not None else None

    @property
    def base_url(self) -> str:
        return self.public_base_url or self.jwt_issuer.rstrip("/")

    @property
    def ordering_base(self) -> str:
        return self.ordering_base_url or self.base_url

    @property
    def production(self) -> bool:
        """Production-like: production or staging."""
        return production_like(self.env_mode)


_ENV = {name.upper(): name for name in Settings.model_fields}


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from ``environ`` (field names upper-cased: DATABASE_URL, JWT_ISSUER, ...)."""
    if environ.get("TRUST_FORWARDED_FOR", "").strip().lower() in ("1", "true", "yes", "on"):
        # Refused rather than mapped: it trusted the leftmost, client-written entry.
        raise ConfigError(
            "TRUST_FORWARDED_FOR is no longer read: set FORWARDED_ALLOW_IPS to your proxies' addresses, "
            "or TRUSTED_PROXY_HOPS to how many proxies append to X-Forwarded-For (docs/auth.md)"
        )
    raw = {field: environ[env] for env, field in _ENV.items() if environ.get(env, "") != ""}
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        # Without the values: a malformed key must not end up in a startup error's output.
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'settings'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc
    if settings.production:
        missing = [
            env for env, ok in {
                "DATABASE_URL": settings.database_url,
                "JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE": settings.jwt_private_key or settings.jwt_private_key_file,
                "JWT_KEY_ID": settings.jwt_key_id,
                "JWT_ISSUER": "jwt_issuer" in raw,
                "PETPOOJA_CREDENTIALS_KEY": settings.petpooja_credentials_key,
            }.items() if not ok
        ]
        if missing:
            raise ConfigError(f"ENV_MODE={settings.env_mode} needs " + ", ".join(missing))
    return settings
