"""What a webhook may connect to: the public-address rule, the resolution check, and the
transport that applies both at connect time.

A restaurant chooses its webhook URL, so in production and staging (``ENV_MODE``) the worker
must never be made to reach an address of ours or of the network it runs in (the cloud
metadata service at 169.254.169.254, a database on 10.x, the worker's own loopback). The API
checks the URL when it is registered (sync/webhook/urls.py), but a name can resolve to
anything later (DNS rebinding), so the check that counts is here, at connect time:
``GuardedTransport`` resolves the host itself, refuses the connection unless every address
it got is public (``refusal``), and connects to the address it checked. The request keeps
the original name: the Host header and TLS (SNI and certificate verification) are httpcore's
own, from the URL. Redirects are never followed (sync/webhook/target.py), so a receiver
cannot send the worker elsewhere.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

import httpcore
import httpx

# (host, port) -> the addresses it resolves to, as strings. Tests inject their own, to make a
# name resolve to loopback (or change its answer between registration and delivery).
Resolver = Callable[[str, int], Awaitable[list[str]]]

RESOLVE_TIMEOUT_S = 5.0


class AddressRefused(httpx.ConnectError):
    """The host is, or resolves to, an address a webhook must not reach."""


class Unresolvable(Exception):
    """The host does not resolve (or not in time)."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver (getaddrinfo, as a socket connect would) gives for host."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# IPv6 forms that carry an IPv4 address: judged by the address they carry.
_IPV4_MAPPED = ip_network("::ffff:0:0/96")
_NAT64 = ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ip_network("2002::/16")
# IPv6 forms that are refused whatever they carry: deprecated (IPv4-compatible), translated
# or tunnelled (Teredo), or local by definition (local-use NAT64).
_ALWAYS_REFUSED = (
    (ip_network("::/96"), "an IPv4-compatible IPv6 address"),
    (ip_network("::ffff:0:0:0/96"), "an IPv4-translated IPv6 address"),
    (ip_network("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (ip_network("2001::/32"), "a Teredo address"),
)
_GLOBAL_UNICAST = ip_network("2000::/3")
_SHARED = ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)


def refusal(address: IPv4Address | IPv6Address) -> str | None:
    """Why a webhook may not connect to ``address`` (e.g. "a loopback address"), or None when it
    is a public unicast address. IPv6 must be global unicast (2000::/3) and not special-purpose;
    IPv4 addresses embedded in IPv6 (mapped, NAT64, 6to4) are judged as themselves."""
    if isinstance(address, IPv6Address):
        if address.scope_id is not None:
            return "a scoped (zone) address"
        embedded: IPv4Address | None = None
        if address in _IPV4_MAPPED:
            embedded = address.ipv4_mapped
        elif address in _NAT64:
            embedded = IPv4Address(int(address) & 0xFFFFFFFF)
        elif address in _SIX_TO_FOUR:
            embedded = address.sixtofour
        if embedded is not None:
            reason = refusal(embedded)
            return None if reason is None else f"{reason} ({embedded}) in IPv6 form"
        if not (address.is_loopback or address.is_unspecified):  # ::1 and :: are in ::/96 too
            for network, name in _ALWAYS_REFUSED:
                if address in network:
                    return name
    reason = _kind(address)
    if reason is not None:
        return reason
    if isinstance(address, IPv6Address) and address not in _GLOBAL_UNICAST:
        return "not a global unicast address"
    if not address.is_global:
        return "a special-purpose address"
    return None


def _kind(address: IPv4Address | IPv6Address) -> str | None:
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "a site-local address"
    if isinstance(address, IPv4Address) and address in _SHARED:
        return "a carrier-grade NAT address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    return None


async def resolve_public(host: str, port: int, resolver: Resolver, *,
                         timeout_s: float = RESOLVE_TIMEOUT_S) -> list[str]:
    """The addresses of ``host`` (an IP literal or a name), all public; AddressRefused when any is
    not (a name with one internal address among public ones is refused too: that is how
    rebinding tricks look), Unresolvable when the name does not resolve in time."""
    try:
        literal = ip_address(host)
    except ValueError:
        pass
    else:
        reason = refusal(literal)
        if reason is not None:
            raise AddressRefused(f"refused: {host} is a non-public address ({reason})")
        return [host]
    try:
        async with asyncio.timeout(timeout_s):
            addresses = await resolver(host, port)
    except TimeoutError:
        raise Unresolvable(f"{host} did not resolve within {timeout_s:g} s") from None
    except OSError as exc:  # socket.gaierror: no such name, no answer
        raise Unresolvable(f"{host} does not resolve: {exc.strerror or exc}") from None
    if not addresses:
        raise Unresolvable(f"{host} does not resolve to any address")
    for found in addresses:
        try:
            reason = refusal(ip_address(found))
        except ValueError:
            reason = "not an IP address"
        if reason is not None:
            raise AddressRefused(f"refused: {host} resolves to a non-public address ({found}: {reason})")
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the public-address rule: every TCP connection is made to an
    address ``resolve_public`` approved, never to a name (so nothing resolves it again)."""

    def __init__(self, resolver: Resolver = system_resolver, inner: httpcore.AsyncNetworkBackend | None = None):
        self._resolver = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface: its connect timeout
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve_public(host, port, self._resolver, timeout_s=timeout or RESOLVE_TIMEOUT_S)
        except Unresolvable as exc:
            raise httpcore.ConnectError(str(exc)) from None
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # resolve_public returns at least one address
        raise failure

    async def connect_unix_socket(
        self, path: str,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("refused: a webhook is never delivered over a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (HTTP/1.1, TLS verified against the URL's host name, its error
    mapping) over a connection pool whose every connection goes through ``GuardedBackend``."""

    def __init__(self, *, resolver: Resolver = system_resolver, limits: httpx.Limits | None = None,
                 inner: httpcore.AsyncNetworkBackend | None = None):
        limits = limits or httpx.Limits()
        super().__init__(limits=limits)
        # httpx builds its pool without a way to pass a network backend: the same pool, with one.
        # tests/test_webhook_ssrf.py fails if a new httpx stops sending requests through _pool.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(resolver, inner),
        )

