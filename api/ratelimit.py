"""Rate limits, each keyed to what it protects (docs/auth.md), with the ``limits`` library's
sliding window counter. Storage is in-memory per process by default; ``RATE_LIMIT_STORAGE``
(e.g. redis://) shares counts between processes.

* login: attempts per client address; failures per (email, address); and per email, attempts
  from addresses that account has not logged in from lately, so that a guesser with many
  addresses is bounded while the account's owner, on a known address, is never locked out;
* QR sessions: unknown QR codes per client address (guessing), sessions per table;
* orders: per caller (a staff account or a guest session), and guest orders per table;
* member invitations: per inviting account;
* password resets: per email and per client address;
* order exports: per restaurant.

Never keyed on one shared client address alone where a crowd shares it: a restaurant's guest
Wi-Fi or a carrier's NAT puts hundreds of guests behind one IP. An IPv6 client counts by its
/64, which it usually holds whole.

Not the moving window: its async in-memory storage keeps every hit and, on each expiry
pass, hops to a thread once per key, which cost 14% of the API's CPU under order load
(bench/README.md). Two counters per key approximate the moving window closely."""

from __future__ import annotations

import ipaddress
import math
import time

from limits import RateLimitItem, RateLimitItemPerDay, parse
from limits.aio.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from api.config import Settings
from api.errors import ApiError


def _async_uri(uri: str) -> str:
    return uri if uri.startswith("async+") else f"async+{uri}"


def address_key(address: str) -> str:
    """What a client address counts as: itself, or for IPv6 its /64 (one subscriber's)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class RateLimits:
    def __init__(self, settings: Settings):
        storage = storage_from_string(_async_uri(settings.rate_limit_storage))
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        # Marks (a successful login's address) live in the same storage as fixed windows.
        self._marks = FixedWindowRateLimiter(storage)
        self.login = parse(settings.rate_limit_login)
        self.login_failures = parse(settings.rate_limit_login_failures)
        self.login_account = parse(settings.rate_limit_login_account)
        self.known_address = RateLimitItemPerDay(1, settings.login_known_address_days)
        self.qr_lookup_failures = parse(settings.rate_limit_qr_lookup_failures)
        self.qr_session = parse(settings.rate_limit_qr_session)
        self.share_session = parse(settings.rate_limit_share_session)
        self.order_create = parse(settings.rate_limit_order_create)
        self.order_table = parse(settings.rate_limit_order_table)
        self.invite = parse(settings.rate_limit_invite)
        self.password_reset_email = parse(settings.rate_limit_password_reset_email)
        self.password_reset_ip = parse(settings.rate_limit_password_reset_ip)
        self.export = parse(settings.rate_limit_export)

    async def hit(self, limit: RateLimitItem, *identifiers: str) -> None:
        """Counts one request; raises 429 with Retry-After once ``limit`` is spent (and then
        counts nothing)."""
        if not await self._limiter.hit(limit, *identifiers):
            await self._refuse(limit, identifiers)

    async def check(self, limit: RateLimitItem, *identifiers: str) -> None:
        """Raises 429 with Retry-After if ``limit`` is spent; counts nothing (``count`` does,
        once the outcome is known)."""
        if not await self._limiter.test(limit, *identifiers):
            await self._refuse(limit, identifiers)

    async def count(self, limit: RateLimitItem, *identifiers: str) -> None:
        """Counts one event that already happened (a failed login), refusing nothing."""
        await self._limiter.hit(limit, *identifiers)

    async def mark(self, mark: RateLimitItem, *identifiers: str) -> None:
        """Remembers ``identifiers`` for ``mark``'s period from now."""
        await self._marks.clear(mark, *identifiers)
        await self._marks.hit(mark, *identifiers)

    async def marked(self, mark: RateLimitItem, *identifiers: str) -> bool:
        # A mark is a spent one-hit window: a test that would fail means it is there.
        return not await self._marks.test(mark, *identifiers)

    async def _refuse(self, limit: RateLimitItem, identifiers: tuple[str, ...]) -> None:
        stats = await self._limiter.get_window_stats(limit, *identifiers)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise ApiError(
            429, "rate_limited", f"too many requests; limit is {limit}", headers={"Retry-After": str(retry_after)}
        )
