"""ENV_MODE, the one switch between running on generated defaults and running for real.

``development`` and ``test`` run on generated keys and local stand-ins. ``production`` and
``staging`` are production-like: every setting must be given (a missing one is a startup
error), nothing is generated, internal addresses are refused for webhooks. ``staging``
talks to partners' sandboxes only (PetPooja's sandbox host, whatever an outlet says).
It lives in db/ because every process (API, worker, scripts) reads it.
"""

from __future__ import annotations

from typing import Literal

EnvMode = Literal["development", "test", "staging", "production"]
PRODUCTION_LIKE = frozenset({"production", "staging"})


def production_like(mode: str | None) -> bool:
    return mode in PRODUCTION_LIKE
