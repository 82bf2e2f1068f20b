"""Settings of the sync side (pusher in the API process, worker, fullSync), read once."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from db.outbox import Backoff


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
    sync_retry_interval_s: float = Field(30.0, gt=0)
    sync_max_attempts: int = Field(10, ge=1)
    sync_backoff_base_s: float = Field(1.0, gt=0)
    # Capped at the retry interval, so that once an outage ends everything is due again
    # within one interval.
    sync_backoff_max_s: float = Field(30.0, gt=0)
    sync_lease_s: float = Field(60.0, gt=0)
    sync_grace_s: float = Field(10.0, ge=0)
    sync_retention_s: float = Field(7 * 24 * 3600.0, gt=0)

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
        raise SyncConfigError("ENV_MODE=production needs CONVEX_URL and CONVEX_DEPLOY_KEY")
    if settings.convex_url and not settings.convex_deploy_key:
        raise SyncConfigError("CONVEX_URL is set but CONVEX_DEPLOY_KEY is not")
    return settings


def backoff_of(settings: SyncSettings) -> Backoff:
    return Backoff(settings.sync_backoff_base_s, settings.sync_backoff_max_s, settings.sync_max_attempts)
