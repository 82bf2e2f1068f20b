"""Where Grubhub downloads a merchant's menu: an ingestion names a ``menu_url`` and Grubhub
fetches the PosNormalizedMenu from it (docs/grubhub.md), so the URL is public. Its last
segment is a token nobody can guess and nothing needs to store: the hex HMAC-SHA256, keyed
with the merchant's Grubhub secret key (sealed with the store's credentials), of a fixed
label and the merchant id. The worker builds the URL for each ingestion; the API's route
(api/routes/platform_menus.py) recomputes the token from the same credentials to check it.

Reconnecting with another secret key changes the URL: a download Grubhub still retries for
an older ingestion then finds nothing, and the reconnection queued a new one anyway.
"""

from __future__ import annotations

import hashlib
import hmac

from db.platforms import Credentials

MENU_PATH = "/api/platform-menus/grubhub"
# Binds the token to this one use of the key (the key also signs our calls to Grubhub).
_LABEL = b"tabletop:grubhub:menu-url:v1:"


def menu_token(credentials: Credentials, merchant_id: str) -> str:
    key = credentials["secret_key"].encode()
    return hmac.new(key, _LABEL + merchant_id.encode(), hashlib.sha256).hexdigest()


def menu_url(base_url: str, merchant_id: str, credentials: Credentials) -> str:
    """The URL Grubhub downloads the merchant's current menu from (merchant ids are URL-safe:
    platform_connections_store_id_valid)."""
    return f"{base_url.rstrip('/')}{MENU_PATH}/{merchant_id}/{menu_token(credentials, merchant_id)}"


def token_matches(credentials: Credentials, merchant_id: str, token: str) -> bool:
    """In constant time, so a wrong token teaches nothing about the right one."""
    return hmac.compare_digest(menu_token(credentials, merchant_id).encode(), token.encode())
