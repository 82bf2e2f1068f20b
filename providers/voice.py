"""Vapi, the voice-ordering provider: what our server URL (api/routes/voice.py) needs to
know to trust Vapi's messages and to answer within Vapi's deadline (docs/voice.md).

Vapi calls us; we never call Vapi. So there is no client here, only the shared secret Vapi
sends with every server message (``X-Vapi-Secret``, or ``Authorization: Bearer``, as the
credential configured on the assistant says) and the limits of that exchange.

- ``production``/``staging``: ``VAPI_SERVER_SECRET`` is required (ProviderConfigError names
  it, never its value).
- ``development``/``test``: ``VAPI_SERVER_SECRET`` if given, else ``DEV_SERVER_SECRET`` below,
  a published value that is only good on a laptop (the dev runner's curl examples use it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.config import ProviderConfigError, real, require

DEV_SERVER_SECRET = "dev-vapi-server-secret"  # noqa: S105  # published development default, refused in production
# Vapi waits 20 s for a server URL's answer unless the tool's server.timeoutSeconds says otherwise
# (docs/voice.md): we give ourselves well under that, so a slow database answers "try again" in time.
DEFAULT_TOOL_BUDGET_S = 8.0
# A tool-calls message carries the call, the assistant and the conversation so far; an
# end-of-call report the whole transcript: larger than the API's 64 KiB, still bounded.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_MIN_SECRET_CHARS = 16


@dataclass(frozen=True)
class VoiceSettings:
    """Vapi's server-URL settings, as ENV_MODE chose them."""

    server_secret: str = field(default=DEV_SERVER_SECRET, repr=False)
    tool_budget_s: float = DEFAULT_TOOL_BUDGET_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


def _number(environ: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ProviderConfigError(f"{name} must be a number") from None
    if not low <= value <= high:
        raise ProviderConfigError(f"{name} must be between {low:g} and {high:g}")
    return value


def load(environ: Mapping[str, str]) -> VoiceSettings:
    """The voice settings of this configuration; ProviderConfigError for a missing or malformed value."""
    if real(environ):
        secret = require(environ, "Vapi", ["VAPI_SERVER_SECRET"])["VAPI_SERVER_SECRET"]
        if len(secret) < _MIN_SECRET_CHARS:
            raise ProviderConfigError(f"VAPI_SERVER_SECRET must be at least {_MIN_SECRET_CHARS} characters")
    else:
        secret = environ.get("VAPI_SERVER_SECRET", "").strip() or DEV_SERVER_SECRET
    return VoiceSettings(
        server_secret=secret,
        tool_budget_s=_number(environ, "VAPI_TOOL_BUDGET_S", DEFAULT_TOOL_BUDGET_S, 0.5, 19.0),
        max_body_bytes=int(_number(environ, "VAPI_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 64 * 1024,
                                   16 * 1024 * 1024)),
    )
