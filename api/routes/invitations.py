"""Membership by invitation: owners and managers invite an email, list and revoke pending
invitations; the invitee (whoever holds the account with that email) sees them in
GET /api/auth/me and accepts or declines.

Inviting answers 202 with the invitation whether or not the email has an account, and never
makes anybody a member by itself: nobody learns who is registered, and nobody is made a
member without their consent (docs/auth.md).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import GRANTABLE, OWNER_MANAGER, Principal, require_user, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.bodies import json_body
from api.errors import ApiError
from api.models import NewMember
from api.responses import JSON
from api.state import services
from db import invitations, users
from db.queries import Conn, Row

_FIELDS = ("id", "restaurant_id", "email", "role", "status", "invited_by", "created_at", "expires_at")


def _invitation(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in _FIELDS}


def _iid(request: Request) -> UUID:
    iid: UUID = request.path_params["iid"]
    return iid


async def invite(request: Request) -> Response:
    svc = services(request)
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        assert scope.principal.user_id is not None
        await svc.limits.hit(svc.limits.invite, "invite", str(scope.principal.user_id))
        body = await json_body(request, NewMember)
        grantable = GRANTABLE[scope.role]
        if body.role not in grantable:
            raise ApiError(403, "forbidden", f"the {scope.role} role cannot grant {body.role}")
        row = await invitations.invite(
            scope.conn, restaurant_id=_rid(request), email=body.email, role=body.role,
            invited_by=scope.principal.user_id, ttl_s=svc.settings.invitation_ttl_s, replaceable=grantable,
        )
        if row is None:
            raise ApiError(403, "forbidden",
                           f"this email's pending invitation grants a role the {scope.role} role cannot grant")
    return JSON(_invitation(row), status_code=202)


async def list_pending(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        rows = await invitations.pending(scope.conn, _rid(request))
    return JSON({"items": [_invitation(r) for r in rows]})


async def revoke(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        assert scope.principal.user_id is not None
        found = await invitations.locked(scope.conn, restaurant_id=_rid(request), invitation_id=_iid(request))
        if found["role"] not in GRANTABLE[scope.role]:
            raise ApiError(403, "forbidden", f"the {scope.role} role cannot revoke a {found['role']} invitation")
        await invitations.revoke(scope.conn, found, user_id=scope.principal.user_id)
    return Response(status_code=204)


async def _invitee(conn: Conn, principal: Principal) -> Row:
    assert principal.user_id is not None
    user = await users.by_id(conn, principal.user_id)
    if user is None:
        raise ApiError(401, "invalid_token", "the token's account no longer exists")
    return user


async def accept(request: Request) -> Response:
    principal = require_user(request)
    async with services(request).db.system() as conn:
        user = await _invitee(conn, principal)
        row = await invitations.accept(conn, invitation_id=_iid(request), user_id=user["id"], email=user["email"])
    return JSON({**_invitation(row), "membership": {"restaurant_id": row["restaurant_id"], "role": row["role"]}})


async def decline(request: Request) -> Response:
    principal = require_user(request)
    async with services(request).db.system() as conn:
        user = await _invitee(conn, principal)
        row = await invitations.decline(conn, invitation_id=_iid(request), user_id=user["id"], email=user["email"])
    return JSON(_invitation(row))


routes = [
    Route("/api/restaurants/{rid:uuid}/members", invite, methods=["POST"]),
    Route("/api/restaurants/{rid:uuid}/invitations", list_pending, methods=["GET"]),
    Route("/api/restaurants/{rid:uuid}/invitations/{iid:uuid}", revoke, methods=["DELETE"]),
    Route("/api/invitations/{iid:uuid}/accept", accept, methods=["POST"]),
    Route("/api/invitations/{iid:uuid}/decline", decline, methods=["POST"]),
]
