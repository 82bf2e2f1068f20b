"""A platform's HTTP answers, whatever the platform: the status, the body (JSON when it is
JSON) and Retry-After. Only a network failure or a timeout raises (``PartnerUnreachable``);
credentials never appear in errors or logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson


class PartnerUnreachable(Exception):
    """The platform could not be reached (network, timeout): always worth a retry."""


class PartnerAuthRefused(Exception):
    """The platform refused the store's credentials (a wrong id or secret)."""


@dataclass(frozen=True)
class PartnerAnswer:
    status: int
    body: Any
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def excerpt(self) -> str:
        """The body, short enough for an error column and a log line."""
        return str(self.body)[:300] if self.body is not None else ""


def answer_of(response: httpx.Response) -> PartnerAnswer:
    return PartnerAnswer(response.status_code, _body(response), _retry_after(response))


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


def http_client(timeout_s: float) -> httpx.AsyncClient:
    """The client a platform's calls go through: connecting gives up sooner than answering."""
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)))
