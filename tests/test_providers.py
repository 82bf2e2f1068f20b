"""The service factory (providers/factory.py): which implementation ENV_MODE builds, and that a
production-like mode refuses to start without a real provider's credentials."""

from __future__ import annotations

import pytest

from providers.config import ProviderConfigError, env_mode, real, require
from providers.factory import build_providers
from providers.geo import GoogleGeocoder
from tests.conftest import REAL_PROVIDERS


def test_development_is_the_default_mode_and_only_staging_and_production_are_real() -> None:
    assert env_mode({}) == "development"
    assert not real({}) and not real({"ENV_MODE": "test"}) and not real({"ENV_MODE": "development"})
    assert real({"ENV_MODE": "staging"}) and real({"ENV_MODE": "production"})


def test_a_real_provider_without_its_credentials_names_every_missing_variable_and_no_value() -> None:
    environ = {"ENV_MODE": "production", "A_KEY": "sk_live_secret", "B_KEY": "  "}
    with pytest.raises(ProviderConfigError) as refused:
        require(environ, "Stripe", ["A_KEY", "B_KEY", "C_KEY"])
    assert str(refused.value) == "ENV_MODE=production needs B_KEY, C_KEY for Stripe"
    assert require(environ, "Stripe", ["A_KEY"]) == {"A_KEY": "sk_live_secret"}


def test_a_production_start_names_every_provider_s_missing_variables_at_once() -> None:
    with pytest.raises(ProviderConfigError) as refused:
        build_providers({"ENV_MODE": "production"})
    assert str(refused.value) == (
        "ENV_MODE=production needs GOOGLE_MAPS_API_KEY for Google Maps; "
        "ENV_MODE=production needs VAPI_SERVER_SECRET for Vapi; "
        "ENV_MODE=production needs STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET for Stripe")


async def test_with_every_credential_production_builds_the_real_providers() -> None:
    built = build_providers({**REAL_PROVIDERS, "ENV_MODE": "production"})
    try:
        assert built.payments is not None and built.payments.live
        assert isinstance(built.geo, GoogleGeocoder)
        assert built.voice.server_secret == REAL_PROVIDERS["VAPI_SERVER_SECRET"]
    finally:
        await built.close()
