"""The one place that builds the external services (payments, geo, voice) from configuration.

``ENV_MODE`` chooses (db/envmode.py):

- ``development`` and ``test``: local implementations that behave like the provider (same
  states, same failure modes). Where the provider is an HTTP API, the local implementation is
  the *real client* pointed at a local stand-in process speaking that API (scripts/*_standin.py),
  so the code that runs in production is the code that is tested.
- ``staging`` and ``production``: the real providers. A provider whose credentials are missing
  is a startup error naming the variables (never their values), in the API and the worker alike.

Each provider module exposes ``load(environ) -> <its service>`` (reading its configuration with
providers/config.py) and registers a field here; nothing else constructs a provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from providers import geo, payments, voice
from providers.config import ProviderConfigError
from providers.geo import GazetteerGeocoder, Geocoder
from providers.payments import Payments
from providers.voice import VoiceSettings

T = TypeVar("T")


@dataclass(frozen=True)
class Providers:
    """Every external service this process may call, as configured."""

    payments: Payments | None = None  # Stripe (providers/payments.py); None: not built here
    # Delivery addresses -> points (providers/geo.py); the in-process gazetteer by default.
    geo: Geocoder = field(default_factory=GazetteerGeocoder)
    # Vapi's server URL: its secret and budgets (providers/voice.py); development's by default.
    voice: VoiceSettings = field(default_factory=lambda: voice.load({}))

    async def close(self) -> None:
        """Closes the providers' HTTP clients (the API's lifespan and the worker, at shutdown)."""
        if self.payments is not None:
            await self.payments.close()


def build_providers(environ: Mapping[str, str]) -> Providers:
    """The providers of this configuration. ProviderConfigError when real ones lack credentials,
    naming every missing variable of every provider at once: one failed start tells the operator
    all that is missing, not only the first of it. (A provider built before another is refused
    is not closed: the process is about to exit.)"""
    problems: list[str] = []

    def attempt(load: Callable[[Mapping[str, str]], T]) -> T | None:
        try:
            return load(environ)
        except ProviderConfigError as exc:
            problems.append(str(exc))
            return None

    geocoder = attempt(geo.load)
    vapi = attempt(voice.load)
    stripe = attempt(payments.load)
    if problems or geocoder is None or vapi is None or stripe is None:
        raise ProviderConfigError("; ".join(problems))
    return Providers(payments=stripe, geo=geocoder, voice=vapi)

