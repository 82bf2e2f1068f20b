"""HTTP calls to PetPooja's Online Ordering API v2.1.0: save_order, update_order_status and
mapped_restaurant_menus, against the outlet's environment (sandbox or production host).

Bodies are JSON with the outlet's keys in them (save_order, update_order_status) or in
headers (mapped_restaurant_menus). Callers pass bodies without credentials; the client adds
them at send time, so what we store (petpooja_orders.payload) never holds a secret. A body
is serialised canonically (sorted keys, no spaces), so the same body is the same bytes on
every resend.

Optional AWS SigV4 signing (service ``execute-api``) for a sandbox behind an IAM-authorised
API Gateway, with botocore's signer; off unless PETPOOJA_SIGV4_* are configured.

A network failure or timeout raises ``PetpoojaUnreachable``; an HTTP answer of any status is
returned as a ``PetpoojaAnswer`` for sync.petpooja.payload.classify_response to judge.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as AwsCredentials

from db.petpooja import Outlet
from sync.config import PetpoojaSettings
from sync.petpooja.text import shown

SIGV4_SERVICE = "execute-api"
# Headers httpx sets on its own after signing; SigV4 must not cover them.
_UNSIGNED = {"user-agent", "accept", "accept-encoding", "connection", "content-length"}


class PetpoojaError(Exception):
    """A call to PetPooja that did not give us what we asked for."""


class PetpoojaUnreachable(PetpoojaError):
    """No answer at all: network failure, connection dropped, or timeout."""


@dataclass(frozen=True)
class PetpoojaAnswer:
    status_code: int
    body: bytes


def canonical_json(body: Mapping[str, Any]) -> bytes:
    """The bytes we send for ``body``: sorted keys, no spaces, UTF-8."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class _SigV4(httpx.Auth):
    requires_request_body = True

    def __init__(self, region: str, access_key_id: str, secret_access_key: str):
        self._signer = SigV4Auth(AwsCredentials(access_key_id, secret_access_key), SIGV4_SERVICE, region)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        signed_headers = {k: v for k, v in request.headers.items() if k.lower() not in _UNSIGNED}
        aws = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=signed_headers)
        self._signer.add_auth(aws)
        for name, value in aws.headers.items():
            request.headers[name] = value
        yield request


class PetpoojaClient:
    def __init__(self, settings: PetpoojaSettings, *, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        auth: httpx.Auth | None = None
        region, key_id, secret = (settings.petpooja_sigv4_region, settings.petpooja_sigv4_access_key_id,
                                  settings.petpooja_sigv4_secret_access_key)
        if region and key_id and secret:
            auth = _SigV4(region, key_id, secret)
        self._http = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(settings.petpooja_timeout_s), auth=auth,
            follow_redirects=False,
        )

    def url(self, outlet: Outlet, path: str) -> str:
        return f"{self.settings.base_url(outlet.environment)}/{path}"

    async def _post(self, url: str, content: bytes, headers: Mapping[str, str] | None = None) -> PetpoojaAnswer:
        try:
            # httpx's timeout bounds each network operation; the deadline bounds the whole
            # exchange, so an answer trickling in cannot hold a send (and its row lock) longer.
            async with asyncio.timeout(self.settings.petpooja_timeout_s):
                response = await self._http.post(
                    url, content=content, headers={"Content-Type": "application/json", **(headers or {})})
        except TimeoutError:
            raise PetpoojaUnreachable(f"PetPooja did not answer within {self.settings.petpooja_timeout_s}s "
                                      f"(deadline) at {url}") from None
        except httpx.TimeoutException as exc:
            raise PetpoojaUnreachable(f"PetPooja did not answer within {self.settings.petpooja_timeout_s}s "
                                      f"({type(exc).__name__}) at {url}") from None
        except httpx.HTTPError as exc:  # connection refused or reset, answer dropped or unreadable
            raise PetpoojaUnreachable(f"PetPooja unreachable at {url}: {type(exc).__name__}: {exc}") from None
        return PetpoojaAnswer(response.status_code, response.content)

    @staticmethod
    def _with_keys(outlet: Outlet, body: Mapping[str, Any]) -> dict[str, Any]:
        return {**body, "app_key": outlet.credentials.app_key, "app_secret": outlet.credentials.app_secret,
                "access_token": outlet.credentials.access_token}

    def save_order_bytes(self, outlet: Outlet, body: Mapping[str, Any]) -> bytes:
        """Exactly what save_order sends for ``body`` (credentials included)."""
        return canonical_json(self._with_keys(outlet, body))

    async def save_order(self, outlet: Outlet, body: Mapping[str, Any]) -> PetpoojaAnswer:
        """POSTs ``body`` (without credentials; they are added here) to ``{base}/save_order``."""
        return await self._post(self.url(outlet, "save_order"), self.save_order_bytes(outlet, body))

    async def update_order_status(self, outlet: Outlet, body: Mapping[str, Any]) -> PetpoojaAnswer:
        """POSTs ``body`` (without credentials) to ``{base}/update_order_status``."""
        return await self._post(self.url(outlet, "update_order_status"),
                                canonical_json(self._with_keys(outlet, body)))

    async def fetch_menu(self, outlet: Outlet) -> Any:
        """The outlet's menu as PetPooja sends it (parsed JSON); PetpoojaError when there is none."""
        url = self.url(outlet, "mapped_restaurant_menus")
        answer = await self._post(url, canonical_json({"restID": outlet.rest_id}), {
            "app-key": outlet.credentials.app_key, "app-secret": outlet.credentials.app_secret,
            "access-token": outlet.credentials.access_token,
        })
        try:
            data = json.loads(answer.body)
        except ValueError:
            data = None
        if not 200 <= answer.status_code < 300:
            detail = data.get("message") if isinstance(data, dict) else None
            raise PetpoojaError(f"PetPooja's menu fetch answered HTTP {answer.status_code}"
                                + (f": {shown(detail)[:300]}" if detail else ""))
        if not isinstance(data, dict):
            raise PetpoojaError("PetPooja's menu fetch answered with a body that is not a JSON object")
        if str(data.get("success", "")).strip() == "0":
            # Its message is stored (menu_syncs.errors is jsonb) and logged: escaped, it may hold anything.
            raise PetpoojaError(f"PetPooja refused the menu fetch: {shown(data.get('message') or 'no message')[:300]}")
        return data

    async def close(self) -> None:
        await self._http.aclose()
