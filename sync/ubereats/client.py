"""Uber Eats' HTTP API (docs/ubereats.md): an OAuth2 client-credentials token per client,
cached until shortly before it expires (Uber allows 100 token requests an hour and advises
reuse), and the menu calls made with it. A 401 from the API drops the cached token and the
call is made once more with a fresh one.

Answers come back as ``PartnerAnswer`` whatever their status; only a network failure or a
timeout raises (``PartnerUnreachable``). Credentials never appear in errors or logs.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from db.platforms import Credentials
from sync.platform.http import PartnerAnswer, PartnerAuthRefused, PartnerUnreachable, answer_of, http_client

# One token carries both: the menu calls need eats.store, the order calls eats.order.
MENU_SCOPES = "eats.store eats.order"
# A token is renewed this long before Uber says it expires.
EXPIRY_MARGIN_S = 60.0


class UberEatsClient:
    def __init__(self, api_url: str, auth_url: str, *, timeout_s: float = 10.0):
        self._api_url, self._auth_url = api_url.rstrip("/"), auth_url.rstrip("/")
        self._http = http_client(timeout_s)
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    async def close(self) -> None:
        await self._http.aclose()

    async def token(self, credentials: Credentials, *, fresh: bool = False) -> str:
        """A bearer token for these credentials, from the cache unless ``fresh``; raises
        PartnerAuthRefused when Uber refuses them (400/401), PartnerUnreachable otherwise."""
        key = (credentials["client_id"], MENU_SCOPES)
        cached = self._tokens.get(key)
        if cached is not None and not fresh and cached[1] > time.monotonic():
            return cached[0]
        try:
            response = await self._http.post(f"{self._auth_url}/oauth/v2/token", data={
                "grant_type": "client_credentials", "client_id": credentials["client_id"],
                "client_secret": credentials["client_secret"], "scope": MENU_SCOPES})
        except httpx.HTTPError as exc:
            raise PartnerUnreachable(f"token: {type(exc).__name__}") from None
        body = answer_of(response).body
        if response.status_code in (400, 401, 403):
            self._tokens.pop(key, None)
            error = body.get("error") if isinstance(body, dict) else None
            raise PartnerAuthRefused(f"Uber refused the client credentials ({error or response.status_code})")
        if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise PartnerUnreachable(f"token: HTTP {response.status_code}")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self._tokens[key] = (body["access_token"], time.monotonic() + max(0.0, lifetime - EXPIRY_MARGIN_S))
        return str(body["access_token"])

    async def upload_menu(self, credentials: Credentials, store_id: str, menu: dict[str, Any]) -> PartnerAnswer:
        """The full menu upload: everything not in ``menu`` is removed from the store."""
        return await self._call(credentials, "PUT", f"/v2/eats/stores/{store_id}/menus", menu)

    async def update_item(self, credentials: Credentials, store_id: str, item_id: str,
                          body: dict[str, Any]) -> PartnerAnswer:
        """A sparse update of one item (its suspension, say)."""
        return await self._call(credentials, "POST", f"/v2/eats/stores/{store_id}/menus/items/{item_id}", body)

    async def get_order(self, credentials: Credentials, order_id: str) -> PartnerAnswer:
        return await self._call(credentials, "GET", f"/v2/eats/order/{order_id}", None)

    async def accept_order(self, credentials: Credentials, order_id: str, body: dict[str, Any]) -> PartnerAnswer:
        return await self._call(credentials, "POST", f"/v1/eats/orders/{order_id}/accept_pos_order", body)

    async def deny_order(self, credentials: Credentials, order_id: str, reason: dict[str, Any]) -> PartnerAnswer:
        return await self._call(credentials, "POST", f"/v1/eats/orders/{order_id}/deny_pos_order",
                                {"reason": reason})

    async def cancel_order(self, credentials: Credentials, order_id: str, body: dict[str, Any]) -> PartnerAnswer:
        """An order the restaurant accepted, cancelled: ``{reason (enum), details}``."""
        return await self._call(credentials, "POST", f"/v1/eats/orders/{order_id}/cancel", body)

    async def _call(self, credentials: Credentials, method: str, path: str, body: Any) -> PartnerAnswer:
        content = orjson.dumps(body) if body is not None else None
        for attempt in (0, 1):
            token = await self.token(credentials, fresh=attempt == 1)
            try:
                response = await self._http.request(method, f"{self._api_url}{path}", content=content, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            except httpx.HTTPError as exc:
                raise PartnerUnreachable(f"{method} {path}: {type(exc).__name__}") from None
            if response.status_code == 401 and attempt == 0:
                continue  # the token was revoked or expired early: once more with a fresh one
            return answer_of(response)
        raise AssertionError("unreachable")
