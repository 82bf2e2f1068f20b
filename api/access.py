"""Who is calling, and what they may touch.

Authentication reads the bearer token (no database). Authorisation for a restaurant's
endpoints happens in ``restaurant_scope``: it opens the tenant transaction and, for a
person, reads their role in that restaurant inside it. A caller with no business in the
restaurant gets 404 (ids do not leak); one whose role is not enough gets 403.
"""

from __future__ import annotations

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
from db import tables, users
from db.orders import Actor
from db.queries import Conn

OWNER_MANAGER = frozenset({"owner", "manager"})
FLOOR = frozenset({"owner", "manager", "staff", "kitchen"})
MEMBERS = FLOOR


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "guest"]
    user_id: UUID | None = None
    restaurant_id: UUID | None = None
    table_id: UUID | None = None
    session_id: UUID | None = None

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
                "guest", restaurant_id=UUID(claims["restaurant_id"]), table_id=UUID(claims["table_id"]),
                session_id=UUID(claims["session_id"]),
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


@asynccontextmanager
async def restaurant_scope(
    request: Request, restaurant_id: UUID, roles: frozenset[str], *, guest: bool = False
) -> AsyncIterator[Scope]:
    """A tenant transaction for ``restaurant_id`` once the caller may act in it.

    ``roles`` are the member roles allowed; a platform admin may act everywhere;
    ``guest`` lets a guest session of this very restaurant in.
    """
    principal = authenticate(request)
    structlog.contextvars.bind_contextvars(restaurant_id=str(restaurant_id))
    if principal.kind == "guest":
        if principal.restaurant_id != restaurant_id:
            raise ApiError(404, "not_found", "restaurant not found")
        if not guest:
            raise ApiError(403, "forbidden", "guest sessions cannot use this endpoint")
    async with services(request).db.tenant(restaurant_id) as conn:
        if principal.kind == "guest":
            await _check_guest_session(conn, principal)
            yield Scope(conn, principal, "guest")
            return
        assert principal.user_id is not None
        row = await users.caller_role(conn, user_id=principal.user_id, restaurant_id=restaurant_id)
        if row is None:
            raise ApiError(401, "invalid_token", "the token's account no longer exists")
        role = "admin" if row["is_platform_admin"] else row["role"]
        if role is None:
            raise ApiError(404, "not_found", "restaurant not found")
        if role != "admin" and role not in roles:
            raise ApiError(403, "forbidden", f"the {role} role cannot do this")
        yield Scope(conn, principal, role)


_SESSION_ENDED = {
    "table_closed": "this table was closed, which ended its sessions; scan its QR code when it reopens",
    "qr_rotated": "this table's QR code was replaced, which ended its sessions; scan the new code",
    "expired": "this session has expired; scan the table's QR code again",
    "gone": "this session no longer exists; scan the table's QR code again",
}


async def _check_guest_session(conn: Conn, principal: Principal) -> None:
    """A guest token is only as good as its session: closing the table or replacing its QR
    code ends the session (end_table_sessions in schema.sql) before the token expires.

    One primary-key probe in the request's own transaction, so there is no staleness: the
    first request after the change is refused.
    """
    assert principal.restaurant_id is not None
    assert principal.session_id is not None
    ended = await tables.guest_session_end(
        conn, restaurant_id=principal.restaurant_id, session_id=principal.session_id
    )
    if ended is not None:
        raise ApiError(401, "session_ended", _SESSION_ENDED[ended], extra={"reason": ended},
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def path_restaurant_id(request: Request) -> UUID:
    """The {rid} of a restaurant route (Starlette's uuid convertor already parsed it)."""
    rid: UUID = request.path_params["rid"]
    return rid


def client_ip(request: Request) -> str:
    if services(request).settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"
