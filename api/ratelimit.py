"""Rate limits for the endpoints an attacker would hammer (login, QR sessions, order
creation), with the ``limits`` library's sliding window counter. Storage is in-memory per
process by default; ``RATE_LIMIT_STORAGE`` (e.g. redis://) shares counts between processes.

Not the moving window: its async in-memory storage keeps every hit and, on each expiry
pass, hops to a thread once per key, which cost 14% of the API's CPU under order load
(bench/README.md). Two counters per key approximate the moving window closely."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from api.config import Settings
from api.errors import ApiError


def _async_uri(uri: str) -> str:
    return uri if uri.startswith("async+") else f"async+{uri}"


class RateLimits:
    def __init__(self, settings: Settings):
        self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(_async_uri(settings.rate_limit_storage)))
        self.login = parse(settings.rate_limit_login)
        self.qr_session = parse(settings.rate_limit_qr_session)
        self.order_create = parse(settings.rate_limit_order_create)

    async def hit(self, limit: RateLimitItem, *identifiers: str) -> None:
        """Counts one request; raises 429 with Retry-After once ``limit`` is spent."""
        if await self._limiter.hit(limit, *identifiers):
            return
        stats = await self._limiter.get_window_stats(limit, *identifiers)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise ApiError(
            429, "rate_limited", f"too many requests; limit is {limit}", headers={"Retry-After": str(retry_after)}
        )
