"""The one place that builds the external services (payments, geo, voice) from configuration.

``ENV_MODE`` chooses (db/envmode.py):

- ``development`` and ``test``: local implementations that behave like the provider (same
  states, same failure modes). Where the provider is an HTTP API, the local implementation is
  the *real client* pointed at a local stand-in process speaking that API (scripts/*_standin.py),
  so the code that runs in production is the code that is tested.
- ``staging`` and ``production``: the real providers. A provider whose credentials are missing
  is a startup error naming the variables (never their values), in the API and the worker alike.

Each provider module exposes ``load(environ, mode) -> <its service>`` and registers a field
here; nothing else constructs a provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from db.envmode import production_like
from providers.geo import GazetteerGeocoder, Geocoder
from providers.geo import load as load_geo

if TYPE_CHECKING:  # the provider modules import this one (require, real)
    from providers.payments import Payments
    from providers.voice import VoiceSettings

T = TypeVar("T")


class ProviderConfigError(RuntimeError):
    """A provider cannot be built from this configuration (the message names variables only)."""


def env_mode(environ: Mapping[str, str]) -> str:
    return environ.get("ENV_MODE") or "development"


def require(environ: Mapping[str, str], provider: str, names: Sequence[str]) -> dict[str, str]:
    """The named variables, or ProviderConfigError listing every missing one (production-like
    modes call this: a real provider never runs on a default)."""
    missing = [name for name in names if not environ.get(name, "").strip()]
    if missing:
        raise ProviderConfigError(f"ENV_MODE={env_mode(environ)} needs {', '.join(missing)} for {provider}")
    return {name: environ[name].strip() for name in names}


def real(environ: Mapping[str, str]) -> bool:
    """Whether this configuration talks to the real providers."""
    return production_like(env_mode(environ))


@dataclass(frozen=True)
class Providers:
    """Every external service this process may call, as configured."""

    payments: Payments | None = None  # Stripe (providers/payments.py); None: not built here
    # Delivery addresses -> points (providers/geo.py); the in-process gazetteer by default.
    geo: Geocoder = field(default_factory=GazetteerGeocoder)
    # Vapi's server URL: its secret and budgets (providers/voice.py); development's by default.
    voice: VoiceSettings = field(default_factory=lambda: _load_voice({}))

    async def close(self) -> None:
        """Closes the providers' HTTP clients (the API's lifespan and the worker, at shutdown)."""
        if self.payments is not None:
            await self.payments.close()


def build_providers(environ: Mapping[str, str]) -> Providers:
    """The providers of this configuration. ProviderConfigError when real ones lack credentials,
    naming every missing variable of every provider at once: one failed start tells the operator
    all that is missing, not only the first of it. (A provider built before another is refused
    is not closed: the process is about to exit.)"""
    from providers import payments

    problems: list[str] = []

    def attempt(load: Callable[[Mapping[str, str]], T]) -> T | None:
        try:
            return load(environ)
        except ProviderConfigError as exc:
            problems.append(str(exc))
            return None

    geo = attempt(load_geo)
    voice = attempt(_load_voice)
    stripe = attempt(payments.load)
    if problems or geo is None or voice is None or stripe is None:
        raise ProviderConfigError("; ".join(problems))
    return Providers(payments=stripe, geo=geo, voice=voice)


def _load_voice(environ: Mapping[str, str]) -> VoiceSettings:
    # Provider modules import require() and ProviderConfigError from here: imported when used.
    from providers import voice

    return voice.load(environ, env_mode(environ))
