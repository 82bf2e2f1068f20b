"""Register, login, refresh-token rotation, /me (with pending invitations) and the JWKS."""

from __future__ import annotations

import secrets

import anyio.to_thread
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import client_ip, require_user
from api.bodies import json_body
from api.errors import ApiError
from api.models import Login, Refresh, Register
from api.ratelimit import address_key
from api.responses import JSON
from api.state import Services, services
from db import invitations, users
from db.users import RefreshOutcome


async def hash_password(svc: Services, password: str) -> str:
    return await anyio.to_thread.run_sync(svc.passwords.hash, password)


async def verify_password(svc: Services, stored: str, password: str) -> bool:
    try:
        return await anyio.to_thread.run_sync(svc.passwords.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def token_pair(svc: Services, user_id: object, refresh_token: str) -> dict[str, object]:
    access = svc.tokens.access_token(user_id)  # type: ignore[arg-type]  # a UUID from the database
    return {
        "access_token": access.token,
        "refresh_token": refresh_token,
        "token_type": "bearer",
        "expires_in": access.expires_in,
    }


async def register(request: Request) -> Response:
    svc = services(request)
    await svc.limits.hit(svc.limits.login, "register", address_key(client_ip(request)))
    body = await json_body(request, Register)
    password_hash = await hash_password(svc, body.password)
    async with svc.db.unscoped() as conn:
        row = await users.create(conn, email=body.email, password_hash=password_hash, full_name=body.full_name)
    return JSON({"id": row["id"], "email": row["email"], "full_name": row["full_name"]}, status_code=201)


async def login(request: Request) -> Response:
    """Logs in, within limits that bound guessing without letting anyone lock an owner out.

    Per client address: attempts (``login``) and failures for one email (``login_failures``).
    Per email, only attempts from addresses the account has not logged in from within
    ``login_known_address_days`` count (``login_account``): a guesser with many addresses is
    bounded by it, while the owner, on an address they logged in from before, is not refused
    however many guesses others make. Unknown emails count the same, so limits tell nothing.
    """
    svc = services(request)
    limits = svc.limits
    address = address_key(client_ip(request))
    await limits.hit(limits.login, "login-ip", address)
    body = await json_body(request, Login)
    email = body.email.strip().lower()
    await limits.check(limits.login_failures, "login-failures", email, address)
    if not await limits.marked(limits.known_address, "login-known", email, address):
        await limits.hit(limits.login_account, "login-account", email)
    async with svc.db.unscoped() as conn:
        user = await users.by_email(conn, email)
    stored = user["password_hash"] if user else svc.dummy_password_hash
    if not await verify_password(svc, stored, body.password) or user is None:
        await limits.count(limits.login_failures, "login-failures", email, address)
        raise ApiError(401, "invalid_credentials", "email or password is wrong")
    await limits.mark(limits.known_address, "login-known", email, address)
    refresh_token = secrets.token_urlsafe(32)
    async with svc.db.unscoped() as conn:
        await users.issue_refresh_token(
            conn, user_id=user["id"], token=refresh_token, ttl_s=svc.settings.refresh_token_ttl_s
        )
    return JSON(await token_pair(svc, user["id"], refresh_token))


async def refresh(request: Request) -> Response:
    svc = services(request)
    body = await json_body(request, Refresh)
    replacement = secrets.token_urlsafe(32)
    async with svc.db.unscoped() as conn:
        # Committed whatever the outcome: a reuse must leave its family revoked.
        rotation = await users.rotate_refresh_token(
            conn, presented=body.refresh_token, replacement=replacement, ttl_s=svc.settings.refresh_token_ttl_s
        )
    if rotation.outcome is RefreshOutcome.REUSED:
        raise ApiError(401, "refresh_token_reused",
                       "this refresh token was already used; every token of its session is now revoked")
    if rotation.outcome is not RefreshOutcome.ROTATED:
        raise ApiError(401, "invalid_refresh_token", "the refresh token is unknown or expired")
    return JSON(await token_pair(svc, rotation.user_id, replacement))


async def me(request: Request) -> Response:
    principal = require_user(request)
    assert principal.user_id is not None
    async with services(request).db.system() as conn:
        user = await users.by_id(conn, principal.user_id)
        if user is None:
            raise ApiError(401, "invalid_token", "the token's account no longer exists")
        memberships = await users.memberships(conn, principal.user_id)
        # Found by email, so an invitation sent before the account existed is here too.
        invited = await invitations.for_email(conn, user["email"])
    return JSON({
        "id": user["id"], "email": user["email"], "full_name": user["full_name"], "phone": user["phone"],
        "is_platform_admin": user["is_platform_admin"],
        "memberships": [{"restaurant_id": m["restaurant_id"], "role": m["role"]} for m in memberships],
        "invitations": invited,
    })


async def jwks(request: Request) -> Response:
    return JSON(services(request).tokens.jwks(), headers={"Cache-Control": "public, max-age=300"})


routes = [
    Route("/api/auth/register", register, methods=["POST"]),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/refresh", refresh, methods=["POST"]),
    Route("/api/auth/me", me, methods=["GET"]),
    Route("/.well-known/jwks.json", jwks, methods=["GET"]),
]
