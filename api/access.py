"""Who is calling, and what they may touch.

Authentication reads the bearer token (no database). Authorisation for a restaurant's
endpoints happens in ``restaurant_scope``: it opens the tenant transaction and, in the
statement that binds it to the restaurant, checks a guest's session or reads a person's
role there (enter_restaurant in schema.sql). A caller with no business in the
restaurant gets 404 (ids do not leak); one whose role is not enough gets 403.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import structlog
from starlette.requests import Request

from api.errors import ApiError
from api.state import services
from api.tokens import InvalidToken
from db.orders import Actor
from db.queries import Conn, Row

OWNER_MANAGER = frozenset({"owner", "manager"})
FLOOR = frozenset({"owner", "manager", "staff", "kitchen"})
MEMBERS = FLOOR
# Which roles each role may hand out (invite, or revoke an invitation for): managers run the
# floor, only owners make owners.
GRANTABLE = {
    "admin": frozenset({"owner", "manager", "staff", "kitchen"}),
    "owner": frozenset({"owner", "manager", "staff", "kitchen"}),
    "manager": frozenset({"manager", "staff", "kitchen"}),
}


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "guest"]
    user_id: UUID | None = None
    restaurant_id: UUID | None = None
    table_id: UUID | None = None
    session_id: UUID | None = None
    qr_tag: str | None = None  # the QR code that opened a guest's session (api/tokens.py qr_tag)

    @property
    def actor(self) -> Actor:
        return Actor("guest", self.session_id) if self.kind == "guest" else Actor("user", self.user_id)


@dataclass(frozen=True)
class Scope:
    conn: Conn
    principal: Principal
    role: str  # owner | manager | staff | kitchen | admin | guest

    @property
    def is_guest(self) -> bool:
        return self.principal.kind == "guest"


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "not_authenticated", "send Authorization: Bearer <token>",
                       headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def authenticate(request: Request) -> Principal:
    token = _bearer(request)
    tokens = services(request).tokens
    try:
        # Guests and people share the API audience and are told apart by the signed "typ".
        claims = tokens.verify(token, "access", "guest")
        if claims["typ"] == "guest":
            principal = Principal(
                "guest", restaurant_id=UUID(claims["restaurant_id"]),
                table_id=UUID(claims["table_id"]) if "table_id" in claims else None,  # None: takeaway session
                session_id=UUID(claims["session_id"]), qr_tag=claims.get("qr"),
            )
        else:
            principal = Principal("user", user_id=UUID(claims["sub"]))
    except (InvalidToken, KeyError, ValueError) as exc:
        raise ApiError(401, "invalid_token", "the token is invalid or expired",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from exc
    structlog.contextvars.bind_contextvars(principal=principal.kind)
    return principal


def require_user(request: Request) -> Principal:
    principal = authenticate(request)
    if principal.kind != "user":
        raise ApiError(403, "forbidden", "guest sessions cannot use this endpoint")
    return principal


def knock(request: Request, restaurant_id: UUID, *, guest: bool = False) -> Principal:
    """The caller of a restaurant's endpoint, refused before any database work when it is a
    guest of another restaurant (404) or a guest where guests may not go (403)."""
    principal = authenticate(request)
    structlog.contextvars.bind_contextvars(restaurant_id=str(restaurant_id))
    if principal.kind == "guest":
        if principal.restaurant_id != restaurant_id:
            raise ApiError(404, "not_found", "restaurant not found")
        if not guest:
            raise ApiError(403, "forbidden", "guest sessions cannot use this endpoint")
    return principal


def entry_of(principal: Principal) -> dict[str, UUID | None]:
    """What enter_restaurant (schema.sql) checks for this caller: its guest session or its account."""
    if principal.kind == "guest":
        return {"session_id": principal.session_id, "user_id": None}
    return {"session_id": None, "user_id": principal.user_id}


_SESSION_ENDED = {
    "table_closed": "this table was closed, which ended its sessions; scan its QR code when it reopens",
    "qr_rotated": "this table's QR code was replaced, which ended its sessions; scan the new code",
    "expired": "this session has expired; scan the table's QR code again",
    "gone": "this session no longer exists; scan the table's QR code again",
}


def admit(principal: Principal, entry: Row, roles: frozenset[str]) -> str:
    """The caller's role in the restaurant once enter_restaurant's answer lets it in.

    A guest token is only as good as its session: closing the table or replacing its QR code
    ends the session (end_table_sessions in schema.sql) before the token expires. The check
    is a primary-key probe in the request's own statement, so there is no staleness: the
    first request after the change is refused.
    """
    if principal.kind == "guest":
        ended = entry["session_end"]
        if ended is not None:
            raise ApiError(401, "session_ended", _SESSION_ENDED[ended], extra={"reason": ended},
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return "guest"
    if not entry["user_found"]:
        raise ApiError(401, "invalid_token", "the token's account no longer exists")
    role: str | None = "admin" if entry["is_platform_admin"] else entry["role"]
    if role is None:
        raise ApiError(404, "not_found", "restaurant not found")
    if role != "admin" and role not in roles:
        raise ApiError(403, "forbidden", f"the {role} role cannot do this")
    return role


@asynccontextmanager
async def restaurant_scope(
    request: Request, restaurant_id: UUID, roles: frozenset[str], *, guest: bool = False
) -> AsyncIterator[Scope]:
    """A tenant transaction for ``restaurant_id`` once the caller may act in it.

    ``roles`` are the member roles allowed; a platform admin may act everywhere;
    ``guest`` lets a guest session of this very restaurant in.
    """
    principal = knock(request, restaurant_id, guest=guest)
    async with services(request).db.restaurant(restaurant_id, **entry_of(principal)) as (conn, entry):
        yield Scope(conn, principal, admit(principal, entry, roles))


@asynccontextmanager
async def visitor_scope(request: Request, restaurant_id: UUID, *, guest: bool = False) -> AsyncIterator[Scope]:
    """A tenant transaction for anyone signed in (and, with ``guest``, this restaurant's guest
    sessions): a member gets their role, a platform admin "admin", anybody else "customer".
    A restaurant that does not exist answers 404 (checked by the caller's first read)."""
    principal = knock(request, restaurant_id, guest=guest)
    async with services(request).db.restaurant(restaurant_id, **entry_of(principal)) as (conn, entry):
        if principal.kind == "guest":
            role = admit(principal, entry, frozenset())
        elif not entry["user_found"]:
            raise ApiError(401, "invalid_token", "the token's account no longer exists")
        else:
            role = "admin" if entry["is_platform_admin"] else (entry["role"] or "customer")
        yield Scope(conn, principal, role)


def path_restaurant_id(request: Request) -> UUID:
    """The {rid} of a restaurant route (Starlette's uuid convertor already parsed it)."""
    rid: UUID = request.path_params["rid"]
    return rid


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAX_ADDRESS = 64  # what an unparsable X-Forwarded-For entry is cut to


def client_ip(request: Request) -> str:
    """The client's address: the peer's, or behind trusted proxies the one they appended."""
    settings = services(request).settings
    peer = request.client.host if request.client else "unknown"
    return client_address(peer, request.headers.getlist("x-forwarded-for"),
                          proxies=_networks(tuple(settings.forwarded_allow_ips)), hops=settings.trusted_proxy_hops)


def client_address(peer: str, forwarded_for: list[str], *, proxies: tuple[Network, ...] = (), hops: int = 0) -> str:
    """The address a request came from, given the X-Forwarded-For headers it carried.

    Every proxy appends the address it received the request from, so only the right end of
    the list is trustworthy: whatever the client wrote is on the left. With ``proxies`` (the
    trusted ones' networks) the client is the rightmost address, starting from the peer, that
    is not one of them; with ``hops``, the hops-th entry from the right (what the outermost of
    that many proxies appended). With neither, the header is ignored.
    """
    entries = [e.strip() for header in forwarded_for for e in header.split(",") if e.strip()]
    if hops:
        return _normalised(entries[-min(hops, len(entries))] if entries else peer)
    if proxies:
        chain = [*entries, peer]
        for candidate in reversed(chain):
            ip = _ip(candidate)
            if ip is None or not any(ip in net for net in proxies):
                return _normalised(candidate)
        return _normalised(chain[0])  # every hop is a trusted proxy: the first one is the client
    return _normalised(peer)


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _ip(entry: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An X-Forwarded-For entry's address: "1.2.3.4", "1.2.3.4:5678", "2001:db8::1", "[2001:db8::1]:443"."""
    host = entry
    if entry.startswith("["):
        host = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:
        host = entry.partition(":")[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _normalised(entry: str) -> str:
    ip = _ip(entry)
    return str(ip) if ip is not None else entry[:_MAX_ADDRESS]
