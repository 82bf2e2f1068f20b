"""Running it for real: staging is production-like with sandbox partners, /metrics is not
public in production and reads the database at most once per cache window, and a crash is
logged without the local variables or the data its exception carries."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import psycopg
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette

from api.app import create_app
from api.config import ConfigError, Settings, load_settings
from db import logs
from db.credentials import worker_box
from sync.config import SyncSettings, load_petpooja_settings

DbSql = Callable[..., list[dict[str, Any]]]
REQUIRED = ("DATABASE_URL", "JWT_PRIVATE_KEY", "JWT_KEY_ID", "JWT_ISSUER", "PETPOOJA_CREDENTIALS_KEY")
TOKEN = "metrics-token-0123456789abcdef"


def complete_env(signing_key_pem: str, mode: str) -> dict[str, str]:
    return {"ENV_MODE": mode, "DATABASE_URL": "postgresql://tabletop_app@db.internal/tabletop",
            "JWT_PRIVATE_KEY": signing_key_pem, "JWT_KEY_ID": "2026-01", "JWT_ISSUER": "https://api.example",
            "PETPOOJA_CREDENTIALS_KEY": base64.b64encode(bytes(range(32))).decode()}


# ------------------------------------------------------------------------------ staging


@pytest.mark.parametrize("missing", REQUIRED)
def test_staging_starts_only_with_every_setting_production_needs(signing_key_pem: str, missing: str) -> None:
    env = complete_env(signing_key_pem, "staging")
    assert load_settings(env).production  # production-like
    del env[missing]
    with pytest.raises(ConfigError, match=f"ENV_MODE=staging needs {missing}"):
        load_settings(env)


def test_staging_sends_every_outlet_to_petpoojas_sandbox_and_opens_no_secret_without_a_key() -> None:
    staging = load_petpooja_settings({"ENV_MODE": "staging", "PETPOOJA_SANDBOX_URL": "https://sandbox.example",
                                      "PETPOOJA_PRODUCTION_URL": "https://pos.example"})
    assert staging.base_url("production") == staging.base_url("sandbox") == "https://sandbox.example"
    production = load_petpooja_settings({"ENV_MODE": "production", "PETPOOJA_SANDBOX_URL": "https://sandbox.example",
                                         "PETPOOJA_PRODUCTION_URL": "https://pos.example"})
    assert production.base_url("production") == "https://pos.example"
    assert worker_box({"ENV_MODE": "staging"}) is None  # no generated key outside development
    assert worker_box({"ENV_MODE": "development"}) is not None


# ------------------------------------------------------------------------------ /metrics


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    """The app without Convex (production requires its settings; these tests need none)."""
    application = create_app(settings, SyncSettings.model_validate({}))
    async with application.router.lifespan_context(application):
        yield application


@pytest.mark.parametrize("settings_overrides", [{"metrics_token": TOKEN}], indirect=False)
async def test_a_configured_metrics_token_is_required_as_a_bearer_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer " + "x" * len(TOKEN)})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "not_authenticated")
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"env_mode": "production"}, {"env_mode": "staging"}])
async def test_without_a_token_production_and_staging_do_not_serve_metrics(
        client: httpx.AsyncClient, settings_overrides: dict[str, Any]) -> None:
    response = await client.get("/metrics")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def test_development_serves_metrics_without_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 200


def failed_gauge(text: str) -> float:
    return next(s.value for f in text_string_to_metric_families(text) for s in f.samples
                if s.name == "sync_queue_depth" and s.labels == {"target": "convex", "status": "failed"})


@pytest.mark.parametrize("settings_overrides", [{"metrics_cache_s": 60}])
async def test_the_queue_gauges_are_read_from_the_database_at_most_once_per_cache_window(
        app: Starlette, client: httpx.AsyncClient, make_restaurant: Any, db_sql: DbSql,
        settings_overrides: dict[str, Any]) -> None:
    await make_restaurant()
    assert failed_gauge((await client.get("/metrics")).text) == 0
    db_sql("UPDATE sync_log SET status = 'failed'")
    assert failed_gauge((await client.get("/metrics")).text) == 0  # cached: no second query
    app.state.services.metrics.queue_read_at = float("-inf")  # the window has passed
    assert failed_gauge((await client.get("/metrics")).text) > 0


# ------------------------------------------------------------------------ crash logging


class Login(BaseModel):
    password: int


def test_a_crash_is_logged_as_types_messages_and_frames_without_locals_or_the_data_it_carried(
        admin_conninfo: str, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json", "INFO")
    log = structlog.get_logger("test")
    secret = "whsec_do-not-log-me-0123456789"  # a local of every frame below, and in the failing row
    with psycopg.connect(admin_conninfo) as conn:
        try:
            conn.execute("INSERT INTO restaurant_webhooks (restaurant_id, url, secret, key_id)"
                         " VALUES (gen_random_uuid(), %s, %s, 'k')", (f"HTTPS://x.example/?token={secret}",
                                                                     secret.encode()))
        except psycopg.Error:
            log.exception("unhandled_error")
    try:
        Login.model_validate({"password": secret})
    except ValidationError:
        log.exception("unhandled_error")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 2
    text = json.dumps(lines)
    assert secret not in text and "do-not-log-me" not in text
    database, validation = (line["exception"][0] for line in lines)
    assert database["type"].startswith("psycopg.errors.")
    assert "restaurant_webhooks" in database["message"] and "sqlstate" in database["message"]
    assert any("test_operations.py" in frame for frame in database["frames"])
    assert validation["message"] == "1 validation errors at password"
    assert "exc_info" not in lines[0]
