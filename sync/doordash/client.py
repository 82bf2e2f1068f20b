"""DoorDash's Marketplace API (docs/doordash.md). DoorDash has no token endpoint: every call
carries a JWT we sign ourselves (HS256, header ``dd-ver: DD-JWT-V1``, claims aud "doordash",
iss = developer id, kid = key id, iat, exp at most 30 minutes later) with the store's access
key, plus ``auth-version: v2`` and ``User-Agent: <provider type>/1.0``.

The signing secret is base64url text: the key is its decoded bytes, as DoorDash's own Python
sample does (``jwt.utils.base64url_decode(signing_secret)``). A secret that does not decode is
refused as a wrong credential.

Answers come back as ``PartnerAnswer`` whatever their status; only a network failure or a
timeout raises (``PartnerUnreachable``). Credentials never appear in errors or logs.
"""

from __future__ import annotations

import binascii
import re
import time
from typing import Any

import httpx
import jwt
import orjson

from db.platforms import Credentials
from sync.platform.http import PartnerAnswer, PartnerAuthRefused, PartnerUnreachable, answer_of, http_client

API = "/marketplace/api/v1"
BASE64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
MIN_KEY_BYTES = 32
# A token lives this long: well under DoorDash's 30-minute ceiling, long enough for a slow call.
TOKEN_LIFETIME_S = 300


def signing_key(secret: str) -> bytes:
    """The HMAC key of a signing secret (its base64url-decoded bytes). The decoder skips what is
    not base64url, so the text is checked first; DoorDash's secrets are 32 bytes (43 characters)."""
    if not BASE64URL.match(secret):
        raise PartnerAuthRefused("the DoorDash signing secret is not base64url text")
    try:
        key = jwt.utils.base64url_decode(secret)
    except (binascii.Error, ValueError):
        raise PartnerAuthRefused("the DoorDash signing secret is not base64url text") from None
    if len(key) < MIN_KEY_BYTES:
        raise PartnerAuthRefused(f"the DoorDash signing secret is shorter than {MIN_KEY_BYTES} bytes")
    return key


def token(credentials: Credentials, now: float | None = None) -> str:
    """A fresh JWT for these credentials (signing one costs microseconds: none is cached)."""
    issued = int(time.time() if now is None else now)
    claims = {"aud": "doordash", "iss": credentials["developer_id"], "kid": credentials["key_id"],
              "iat": issued, "exp": issued + TOKEN_LIFETIME_S}
    return jwt.encode(claims, signing_key(credentials["signing_secret"]), algorithm="HS256",
                      headers={"dd-ver": "DD-JWT-V1"})


class DoorDashClient:
    def __init__(self, api_url: str, provider_type: str, *, timeout_s: float = 10.0):
        self._api_url, self.provider_type = api_url.rstrip("/"), provider_type
        self._http = http_client(timeout_s)

    async def close(self) -> None:
        await self._http.aclose()

    async def create_menu(self, credentials: Credentials, menu: dict[str, Any]) -> PartnerAnswer:
        """A new menu: a second create of the same menu duplicates it, so it is called once per store."""
        return await self._call(credentials, "POST", "/menus", menu)

    async def update_menu(self, credentials: Credentials, menu_id: str, menu: dict[str, Any]) -> PartnerAnswer:
        return await self._call(credentials, "PATCH", f"/menus/{menu_id}", menu)

    async def item_status(self, credentials: Credentials, store_id: str,
                          items: list[dict[str, Any]]) -> PartnerAnswer:
        """Items (and options) activated or deactivated: ``[{merchant_supplied_id, is_active}]``."""
        return await self._call(credentials, "PATCH", f"/stores/{store_id}/item_status", items)

    async def confirm_order(self, credentials: Credentials, order_id: str, body: dict[str, Any]) -> PartnerAnswer:
        """``{merchant_supplied_id, order_status: success|fail, failure_reason?}``."""
        return await self._call(credentials, "PATCH", f"/orders/{order_id}", body)

    async def cancel_order(self, credentials: Credentials, order_id: str, body: dict[str, Any]) -> PartnerAnswer:
        """An order the merchant confirmed, cancelled: ``{cancel_reason (enum), cancel_details}``."""
        return await self._call(credentials, "PATCH", f"/orders/{order_id}/cancellation", body)

    async def store_details(self, credentials: Credentials, store_id: str) -> PartnerAnswer:
        return await self._call(credentials, "GET", f"/stores/{store_id}/store_details", None)

    async def _call(self, credentials: Credentials, method: str, path: str, body: Any) -> PartnerAnswer:
        headers = {"Authorization": f"Bearer {token(credentials)}", "auth-version": "v2",
                   "User-Agent": f"{self.provider_type}/1.0", "Content-Type": "application/json"}
        content = orjson.dumps(body) if body is not None else None
        try:
            response = await self._http.request(method, f"{self._api_url}{API}{path}", content=content,
                                                headers=headers)
        except httpx.HTTPError as exc:
            raise PartnerUnreachable(f"{method} {path}: {type(exc).__name__}") from None
        return answer_of(response)
