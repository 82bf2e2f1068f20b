"""What every provider module reads its configuration with: which ENV_MODE this is, whether it
talks to the real providers, and the credentials a real provider requires (providers/factory.py
builds the providers with them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from db.envmode import production_like


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
