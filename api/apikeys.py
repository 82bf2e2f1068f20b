"""Machine credentials: the X-API-Key that server-to-server callers of the operator API
(/admin/...) send, checked against API_KEYS (api/config.py).

A key is never logged or stored: what names it is its id, the first 8 hex digits of its
sha256 (``api_key_id`` in logs, ``api_key:<id>`` in an error's history). Every configured key
is compared, in constant time and without stopping at a match, so neither the time taken nor
the work done says which key matched or how close a guess came. No key configured: every
request is refused (fail closed).
"""

from __future__ import annotations

import hashlib
import hmac

import structlog
from starlette.requests import Request

from api.errors import ApiError
from api.state import services

HEADER = "X-API-Key"


def key_id(key: str) -> str:
    """What names a key where the key must not appear: logs, histories."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def matching_key(presented: str, keys: list[str]) -> str | None:
    """The configured key equal to ``presented``, or None. Digests are compared, so every
    comparison takes the same time whatever the lengths; every key is compared."""
    digest = hashlib.sha256(presented.encode()).digest()
    found: str | None = None
    for key in keys:
        if hmac.compare_digest(digest, hashlib.sha256(key.encode()).digest()):
            found = key
    return found


def authenticate_key(request: Request) -> str:
    """The id of the API key the request carries; 401 when it carries none, a wrong one, or
    when this server has none configured."""
    presented = request.headers.get(HEADER)
    if not presented:
        raise ApiError(401, "not_authenticated", f"send {HEADER}: <key>")
    key = matching_key(presented, services(request).settings.api_keys)
    if key is None:
        raise ApiError(401, "invalid_api_key", f"the {HEADER} is not a key this server accepts")
    identity = key_id(key)
    structlog.contextvars.bind_contextvars(api_key_id=identity)
    return identity
