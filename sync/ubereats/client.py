"""Uber Eats' HTTP API (docs/ubereats.md): an OAuth2 client-credentials token per client,
cached until shortly before it expires (Uber allows 100 token requests an hour and advises
reuse), and the menu calls made with it. A 401 from the API drops the cached token and the
call is made once more with a fresh one.

Answers come back as ``UberAnswer`` whatever their status; only a network failure or a
timeout raises (``UberUnreachable``). Credentials never appear in errors or logs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from db.platforms import Credentials

# One token carries both: the menu calls need eats.store, the order calls eats.order.
MENU_SCOPES = "eats.store eats.order"
# A token is renewed this long before Uber says it expires.
EXPIRY_MARGIN_S = 60.0


class UberUnreachable(Exception):
    pass


class UberAuthRefused(Exception):
    """The token endpoint refused the client credentials (a wrong client id or secret)."""


@dataclass(frozen=True)
class UberAnswer:
    status: int
    body: Any
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:500]


class UberEatsClient:
    def __init__(self, api_url: str, auth_url: str, *, timeout_s: float = 10.0):
        self._api_url, self._auth_url = api_url.rstrip("/"), auth_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)))
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    async def close(self) -> None:
        await self._http.aclose()

    async def token(self, credentials: Credentials, *, fresh: bool = False) -> str:
        """A bearer token for these credentials, from the cache unless ``fresh``; raises
        UberAuthRefused when Uber refuses them (400/401), UberUnreachable otherwise."""
        key = (credentials.client_id, MENU_SCOPES)
        cached = self._tokens.get(key)
        if cached is not None and not fresh and cached[1] > time.monotonic():
            return cached[0]
        try:
            response = await self._http.post(f"{self._auth_url}/oauth/v2/token", data={
                "grant_type": "client_credentials", "client_id": credentials.client_id,
                "client_secret": credentials.client_secret, "scope": MENU_SCOPES})
        except httpx.HTTPError as exc:
            raise UberUnreachable(f"token: {type(exc).__name__}") from None
        body = _body(response)
        if response.status_code in (400, 401, 403):
            self._tokens.pop(key, None)
            error = body.get("error") if isinstance(body, dict) else None
            raise UberAuthRefused(f"Uber refused the client credentials ({error or response.status_code})")
        if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise UberUnreachable(f"token: HTTP {response.status_code}")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self._tokens[key] = (body["access_token"], time.monotonic() + max(0.0, lifetime - EXPIRY_MARGIN_S))
        return str(body["access_token"])

    async def upload_menu(self, credentials: Credentials, store_id: str, menu: dict[str, Any]) -> UberAnswer:
        """The full menu upload: everything not in ``menu`` is removed from the store."""
        return await self._call(credentials, "PUT", f"/v2/eats/stores/{store_id}/menus", menu)

    async def update_item(self, credentials: Credentials, store_id: str, item_id: str,
                          body: dict[str, Any]) -> UberAnswer:
        """A sparse update of one item (its suspension, say)."""
        return await self._call(credentials, "POST", f"/v2/eats/stores/{store_id}/menus/items/{item_id}", body)

    async def get_order(self, credentials: Credentials, order_id: str) -> UberAnswer:
        return await self._call(credentials, "GET", f"/v2/eats/order/{order_id}", None)

    async def accept_order(self, credentials: Credentials, order_id: str, body: dict[str, Any]) -> UberAnswer:
        return await self._call(credentials, "POST", f"/v1/eats/orders/{order_id}/accept_pos_order", body)

    async def deny_order(self, credentials: Credentials, order_id: str, reason: dict[str, Any]) -> UberAnswer:
        return await self._call(credentials, "POST", f"/v1/eats/orders/{order_id}/deny_pos_order",
                                {"reason": reason})

    async def _call(self, credentials: Credentials, method: str, path: str, body: Any) -> UberAnswer:
        content = orjson.dumps(body) if body is not None else None
        for attempt in (0, 1):
            token = await self.token(credentials, fresh=attempt == 1)
            try:
                response = await self._http.request(method, f"{self._api_url}{path}", content=content, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            except httpx.HTTPError as exc:
                raise UberUnreachable(f"{method} {path}: {type(exc).__name__}") from None
            if response.status_code == 401 and attempt == 0:
                continue  # the token was revoked or expired early: once more with a fresh one
            return UberAnswer(response.status_code, _body(response), _retry_after(response))
        raise AssertionError("unreachable")
