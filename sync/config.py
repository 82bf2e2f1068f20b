"""Settings of the sync side (pusher in the API process, worker, fullSync), read once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from db.outbox import Backoff

ROOT = Path(__file__).resolve().parent.parent


class SyncConfigError(RuntimeError):
    pass


class SyncSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    convex_url: str | None = None
    convex_deploy_key: str | None = None
    convex_timeout_s: float = Field(10.0, gt=0)
    sync_batch_window_ms: float = Field(5.0, ge=0)
    sync_batch_size: int = Field(200, ge=1, le=500)
    sync_max_in_flight: int = Field(4, ge=1, le=12)
    # The pusher starts a round beside one in flight only for a big batch, or once the round in
    # flight has taken this long (sync/pusher.py).
    sync_overlap_after_ms: float = Field(50.0, ge=0)
    sync_retry_interval_s: float = Field(30.0, gt=0)
    sync_max_attempts: int = Field(10, ge=1)
    sync_backoff_base_s: float = Field(1.0, gt=0)
    # Capped at the retry interval, so that once an outage ends everything is due again
    # within one interval.
    sync_backoff_max_s: float = Field(30.0, gt=0)
    # Short, because the engine renews a live delivery's lease every third of it: a holder
    # that died (SIGKILL, lost machine) gives its rows up within this long.
    sync_lease_s: float = Field(5.0, gt=0)
    # How long a pending row is left to the API's post-commit pusher before a worker takes it.
    sync_grace_s: float = Field(2.0, ge=0)
    sync_retention_s: float = Field(7 * 24 * 3600.0, gt=0)
    # The longest a worker sleeps on a target that an API's post-commit pusher feeds (Convex):
    # such rows wake nobody at commit, so an API that died right after committing leaves
    # rows only a sweep finds, this long (plus SYNC_GRACE_S) after the commit at most.
    sync_sweep_interval_s: float = Field(5.0, gt=0)
    # A target that stopped answering is probed this often; its rows resume when it answers.
    sync_probe_interval_s: float = Field(1.0, gt=0)
    # How often the worker compares Convex's epoch with Postgres's and rebuilds a Convex that
    # lost data; 0 turns the check off.
    sync_epoch_check_s: float = Field(15.0, ge=0)
    # The worker's own /metrics (Prometheus) on this port; 0 turns it off.
    worker_metrics_port: int = Field(9108, ge=0, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    # Housekeeping: how often, and how long each kind of row is kept.
    housekeeping_interval_s: float = Field(600.0, gt=0)
    idempotency_retention_s: float = Field(24 * 3600.0, gt=0)
    expired_retention_s: float = Field(24 * 3600.0, ge=0)
    callback_retention_s: float = Field(30 * 24 * 3600.0, gt=0)
    # Vapi's end-of-call reports (transcripts of what callers said): 90 days.
    voice_call_retention_s: float = Field(90 * 24 * 3600.0, gt=0)
    # Order exports (docs/exports.md): where the files are (the API serves them from there too,
    # so both processes need the same directory), how long a file is kept, how long a build's
    # claim lasts without renewal (a worker that died gives it up this long after), how many
    # times a build is tried, how often the worker looks for queued ones, rows per page read.
    export_dir: Path = ROOT / ".data" / "exports"
    export_ttl_s: float = Field(24 * 3600.0, gt=0)
    export_lease_s: float = Field(120.0, gt=0)
    export_max_attempts: int = Field(3, ge=1, le=10)
    export_poll_s: float = Field(5.0, gt=0)
    export_page_size: int = Field(2000, ge=1, le=50_000)

    @property
    def enabled(self) -> bool:
        return bool(self.convex_url)


def load_sync_settings(environ: Mapping[str, str], *, production: bool) -> SyncSettings:
    raw = {name: environ[name.upper()] for name in SyncSettings.model_fields if environ.get(name.upper())}
    try:
        settings = SyncSettings.model_validate(raw)
    except ValidationError as exc:
        raise SyncConfigError(f"invalid sync configuration: {exc}") from exc
    if production and not (settings.convex_url and settings.convex_deploy_key):
        raise SyncConfigError("ENV_MODE=production or staging needs CONVEX_URL and CONVEX_DEPLOY_KEY")
    if settings.convex_url and not settings.convex_deploy_key:
        raise SyncConfigError("CONVEX_URL is set but CONVEX_DEPLOY_KEY is not")
    return settings


# PetPooja's hosts, from its Online Ordering API v2.1.0 guide and public integrations. The
# sandbox sits behind AWS API Gateway (ap-southeast-1); some copies of the guide list save_order
# on a second gateway host (47pfzh5sf2...), which is why the hosts are configuration. Neither
# could be confirmed against PetPooja itself from here: set PETPOOJA_SANDBOX_URL /
# PETPOOJA_PRODUCTION_URL to what PetPooja hands over with the credentials.
PETPOOJA_SANDBOX_URL = "https://qle1yy2ydc.execute-api.ap-southeast-1.amazonaws.com/V1"
PETPOOJA_PRODUCTION_URL = "https://pponlineordercb.petpooja.com"


class PetpoojaSettings(BaseModel):
    """Where PetPooja is and how we call it; the per-outlet keys live sealed in the database."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    petpooja_sandbox_url: str = PETPOOJA_SANDBOX_URL
    petpooja_production_url: str = PETPOOJA_PRODUCTION_URL
    petpooja_timeout_s: float = Field(10.0, gt=0)
    # AWS SigV4 signing (service "execute-api") for a sandbox behind an IAM-authorised API
    # Gateway; off unless all three are set.
    petpooja_sigv4_region: str | None = None
    petpooja_sigv4_access_key_id: str | None = None
    petpooja_sigv4_secret_access_key: str | None = Field(None, repr=False)
    # Where PetPooja calls us back (the order callback_url in each save_order): the API's
    # PUBLIC_BASE_URL, else its JWT_ISSUER, as api.config.Settings.base_url.
    callback_base_url: str = "http://localhost:8000"
    # ENV_MODE=staging: every outlet is served by PetPooja's sandbox, whatever its environment
    # says, so a staging deployment never sends a real order to a real POS.
    sandbox_only: bool = False

    @field_validator("petpooja_sandbox_url", "petpooja_production_url", "callback_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def sigv4(self) -> bool:
        return bool(self.petpooja_sigv4_region and self.petpooja_sigv4_access_key_id
                    and self.petpooja_sigv4_secret_access_key)

    def base_url(self, environment: str) -> str:
        if environment == "production" and not self.sandbox_only:
            return self.petpooja_production_url
        return self.petpooja_sandbox_url


def load_petpooja_settings(environ: Mapping[str, str]) -> PetpoojaSettings:
    """PETPOOJA_SANDBOX_URL, PETPOOJA_PRODUCTION_URL, PETPOOJA_TIMEOUT_S, PETPOOJA_SIGV4_*,
    PUBLIC_BASE_URL (else JWT_ISSUER) for the callback URL, and ENV_MODE (staging: sandbox only)."""
    raw: dict[str, str | bool] = {name: environ[name.upper()] for name in PetpoojaSettings.model_fields
                                  if name.startswith("petpooja_") and environ.get(name.upper())}
    base = environ.get("PUBLIC_BASE_URL") or environ.get("JWT_ISSUER")
    if base:
        raw["callback_base_url"] = base
    raw["sandbox_only"] = environ.get("ENV_MODE") == "staging"
    try:
        settings = PetpoojaSettings.model_validate(raw)
    except ValidationError as exc:
        # Field names only: a secret must not end up in a startup error.
        fields = ", ".join(".".join(map(str, err["loc"])) for err in exc.errors())
        raise SyncConfigError(f"invalid PetPooja configuration: {fields}") from None
    sigv4 = [settings.petpooja_sigv4_region, settings.petpooja_sigv4_access_key_id,
             settings.petpooja_sigv4_secret_access_key]
    if any(sigv4) and not all(sigv4):
        raise SyncConfigError("PETPOOJA_SIGV4_REGION, _ACCESS_KEY_ID and _SECRET_ACCESS_KEY go together")
    return settings


def backoff_of(settings: SyncSettings) -> Backoff:
    return Backoff(settings.sync_backoff_base_s, settings.sync_backoff_max_s, settings.sync_max_attempts)


class UberEatsSettings(BaseModel):
    """Where Uber Eats is (docs/ubereats.md); the per-store client credentials live sealed in
    the database. The URLs are configuration so that tests and the dev runner point them at
    the stand-in (scripts/ubereats_standin.py)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    ubereats_api_url: str = "https://api.uber.com"
    ubereats_auth_url: str = "https://auth.uber.com"
    ubereats_timeout_s: float = Field(10.0, gt=0)
    # Menu edits wait this long in the outbox before a publish, so a burst of them goes as one.
    ubereats_debounce_s: float = Field(10.0, ge=0)

    @field_validator("ubereats_api_url", "ubereats_auth_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


def load_ubereats_settings(environ: Mapping[str, str]) -> UberEatsSettings:
    """UBEREATS_API_URL, UBEREATS_AUTH_URL, UBEREATS_TIMEOUT_S, UBEREATS_DEBOUNCE_S."""
    raw = {name: environ[name.upper()] for name in UberEatsSettings.model_fields if environ.get(name.upper())}
    try:
        return UberEatsSettings.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, err["loc"])) for err in exc.errors())
        raise SyncConfigError(f"invalid Uber Eats configuration: {fields}") from None


class DoorDashSettings(BaseModel):
    """Where DoorDash's Marketplace API is (docs/doordash.md) and who we are to it: the
    provider type DoorDash assigned our integration (sent as every menu's ``store.provider_type``
    and in the User-Agent). Each store's access key and webhook token live sealed in the
    database. The URL is configuration so tests and the dev runner point it at the stand-in
    (scripts/doordash_standin.py)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    doordash_api_url: str = "https://openapi.doordash.com"
    doordash_provider_type: str = Field("tabletop", pattern=r"^[a-z0-9_]{1,64}$")
    # DoorDash's orders name no currency: their cents are the store's, this one (a DoorDash
    # integration serves one country).
    doordash_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    doordash_timeout_s: float = Field(10.0, gt=0)
    # Menu edits wait this long in the outbox before a publish, so a burst of them goes as one.
    doordash_debounce_s: float = Field(10.0, ge=0)

    @field_validator("doordash_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


def load_doordash_settings(environ: Mapping[str, str]) -> DoorDashSettings:
    """DOORDASH_API_URL, DOORDASH_PROVIDER_TYPE, DOORDASH_CURRENCY, DOORDASH_TIMEOUT_S, DOORDASH_DEBOUNCE_S."""
    raw = {name: environ[name.upper()] for name in DoorDashSettings.model_fields if environ.get(name.upper())}
    try:
        return DoorDashSettings.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, err["loc"])) for err in exc.errors())
        raise SyncConfigError(f"invalid DoorDash configuration: {fields}") from None


# (DoorDash settings: above this line)


class GrubhubSettings(BaseModel):
    """Where Grubhub's POS API is (docs/grubhub.md) and what every store there shares: the
    currency its menus are priced in (Grubhub serves the US) and the wait time sent when an
    order is confirmed. Each store's partner key, client id, secret key and webhook secret live
    sealed in the database. The URL is configuration so tests and the dev runner point it at
    the stand-in (scripts/grubhub_standin.py)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    grubhub_api_url: str = "https://api-third-party-gtm.grubhub.com"
    grubhub_timeout_s: float = Field(10.0, gt=0)
    # Menu edits wait this long in the outbox before an ingestion, so a burst of them goes as one.
    grubhub_debounce_s: float = Field(10.0, ge=0)
    grubhub_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    grubhub_wait_time_min: int = Field(20, ge=1, le=240)
    # Where Grubhub downloads our menus from (each ingestion's menu_url): the API's
    # PUBLIC_BASE_URL, else its JWT_ISSUER, as api.config.Settings.base_url.
    menu_base_url: str = "http://localhost:8000"

    @field_validator("grubhub_api_url", "menu_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


def load_grubhub_settings(environ: Mapping[str, str]) -> GrubhubSettings:
    """GRUBHUB_API_URL, GRUBHUB_TIMEOUT_S, GRUBHUB_DEBOUNCE_S, GRUBHUB_CURRENCY, GRUBHUB_WAIT_TIME_MIN,
    and PUBLIC_BASE_URL (else JWT_ISSUER) for the menu URL."""
    raw = {name: environ[name.upper()] for name in GrubhubSettings.model_fields
           if name.startswith("grubhub_") and environ.get(name.upper())}
    base = environ.get("PUBLIC_BASE_URL") or environ.get("JWT_ISSUER")
    if base:
        raw["menu_base_url"] = base
    try:
        return GrubhubSettings.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, err["loc"])) for err in exc.errors())
        raise SyncConfigError(f"invalid Grubhub configuration: {fields}") from None


# (Grubhub settings: above this line)


class SmtpSettings(BaseModel):
    """Where the ``email`` target sends (sync/email/): an SMTP server (a provider's relay in
    production, scripts/smtp_standin.py in development and tests). Without SMTP_HOST the
    target is off and emails wait in the outbox."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = Field("Tabletop <no-reply@tabletop.invalid>", min_length=3, max_length=254)
    smtp_timeout_s: float = Field(10.0, gt=0)
    smtp_username: str | None = None
    smtp_password: str | None = Field(None, repr=False)
    # STARTTLS after connecting (a provider's relay on 587); off for a local server.
    smtp_starttls: bool = False


def load_smtp_settings(environ: Mapping[str, str]) -> SmtpSettings:
    """SMTP_HOST, SMTP_PORT, SMTP_FROM, SMTP_TIMEOUT_S, SMTP_USERNAME, SMTP_PASSWORD, SMTP_STARTTLS."""
    raw = {name: environ[name.upper()] for name in SmtpSettings.model_fields if environ.get(name.upper())}
    try:
        settings = SmtpSettings.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, err["loc"])) for err in exc.errors())
        raise SyncConfigError(f"invalid SMTP configuration: {fields}") from None
    if bool(settings.smtp_username) != bool(settings.smtp_password):
        raise SyncConfigError("SMTP_USERNAME and SMTP_PASSWORD go together")
    return settings
