"""Grubhub's POS API (docs/grubhub.md): every call carries ``X-GH-PARTNER-KEY`` and an
``Authorization: MAC ...`` header computed for that one request (no token, nothing cached).

The header's parts follow Grubhub's Authentication article: ``id="sv:v1:<client id>"``, a
one-time nonce, ``bodyhash`` (standard padded base64 of the body's hash, empty without a
body) and ``mac``. Which string is signed is not in the public excerpt: ``normalized_request``
is the IETF MAC draft's string (ASSUMED, docs/grubhub.md), signed with HMAC-SHA256 keyed with
the base64-decoded secret key (ASSUMED).

Answers come back as ``PartnerAnswer`` whatever their status; only a network failure or a
timeout raises (``PartnerUnreachable``). Credentials never appear in errors or logs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from typing import Any

import httpx
import orjson

from db.platforms import Credentials
from sync.platform.http import PartnerAnswer, PartnerAuthRefused, PartnerUnreachable, answer_of, http_client

MAC_ID_PREFIX = "sv:v1:"


def mac_id(client_id: str) -> str:
    """Grubhub's id is ``sv:v1:<client id>``; its sample credentials already carry the prefix."""
    return client_id if client_id.startswith(MAC_ID_PREFIX) else f"{MAC_ID_PREFIX}{client_id}"


def body_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode() if body else ""


def normalized_request(nonce: str, method: str, url: httpx.URL, bodyhash: str) -> str:
    """nonce, METHOD, request-uri, host, port, bodyhash, ext: each followed by a newline."""
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{nonce}\n{method.upper()}\n{url.raw_path.decode()}\n{url.host.lower()}\n{port}\n{bodyhash}\n\n"


def secret_key_bytes(secret_key: str) -> bytes:
    """The secret key as Grubhub issues it (base64); PartnerAuthRefused when it is not base64,
    so a mistyped key is the owner's 422, not a signature Grubhub refuses later."""
    try:
        return base64.b64decode(secret_key, validate=True)
    except (binascii.Error, ValueError):
        raise PartnerAuthRefused("the Grubhub secret key is not base64") from None


def authorization(credentials: Credentials, method: str, url: httpx.URL, body: bytes, nonce: str) -> str:
    bodyhash = body_hash(body)
    key = secret_key_bytes(credentials["secret_key"])
    mac = hmac.new(key, normalized_request(nonce, method, url, bodyhash).encode(), hashlib.sha256).digest()
    return (f'MAC id="{mac_id(credentials["client_id"])}",nonce="{nonce}",bodyhash="{bodyhash}",'
            f'mac="{base64.b64encode(mac).decode()}"')


def new_nonce() -> str:
    # Grubhub: any value never used before; its library sends "<seconds>:<random>".
    return f"{int(time.time())}:{secrets.token_hex(8)}"


class GrubhubClient:
    def __init__(self, api_url: str, *, timeout_s: float = 10.0):
        self._api_url = api_url.rstrip("/")
        self._http = http_client(timeout_s)

    async def close(self) -> None:
        await self._http.aclose()

    async def ingest_menu(self, credentials: Credentials, merchant_id: str, menu_url: str) -> PartnerAnswer:
        """The full menu ingestion (PosNormalizedMenuUpdateRequest): answers ``{job_id}``, then
        Grubhub downloads the menu from ``menu_url`` and removes entities whose external ids it
        leaves out. No schedule overrides of Grubhub's are applied: availability is the menu's."""
        return await self._call(credentials, "POST", "/pos/v1/menu/ingestion", {
            "merchant_ids": [merchant_id], "menu_url": menu_url, "normalized_menu": True,
            "apply_existing_schedule_overrides": False})

    async def ingestion_job(self, credentials: Credentials, job_id: str) -> PartnerAnswer:
        return await self._call(credentials, "GET", f"/pos/v1/menu/ingestion/jobs/{job_id}", None)

    async def merchant_menu(self, credentials: Credentials, merchant_id: str) -> PartnerAnswer:
        """The merchant's current normalized menu (404 before the first ingestion)."""
        return await self._call(credentials, "GET", f"/pos/v1/merchant/{merchant_id}/menu/normalized", None)

    async def order_status(self, credentials: Credentials, merchant_id: str, order_uuid: str,
                           body: dict[str, Any]) -> PartnerAnswer:
        return await self._call(credentials, "PUT", f"/pos/v1/merchant/{merchant_id}/orders/{order_uuid}/status",
                                body)

    async def _call(self, credentials: Credentials, method: str, path: str, body: Any) -> PartnerAnswer:
        content = orjson.dumps(body) if body is not None else b""
        url = httpx.URL(f"{self._api_url}{path}")
        headers = {"X-GH-PARTNER-KEY": credentials["partner_key"], "Content-Type": "application/json",
                   "Authorization": authorization(credentials, method, url, content, new_nonce())}
        try:
            response = await self._http.request(method, url, content=content or None, headers=headers)
        except httpx.HTTPError as exc:
            raise PartnerUnreachable(f"{method} {path}: {type(exc).__name__}") from None
        return answer_of(response)
