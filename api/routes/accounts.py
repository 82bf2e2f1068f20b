"""A customer's own account: profile, password change, password reset by email, and their
orders (across restaurants for an account, the current session's for a guest). See
docs/accounts.md."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from uuid import UUID

import structlog
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import authenticate, client_ip, require_user, restaurant_scope
from api.bodies import json_body, query_params
from api.errors import ApiError
from api.models import PageQuery, PasswordChange, PasswordReset, PasswordResetConfirm, ProfilePatch
from api.ratelimit import address_key
from api.responses import JSON
from api.routes.auth import hash_password, token_pair, verify_password
from api.state import Services, services
from db import accounts, users
from db.accounts import ResetOutcome
from db.queries import Row

log = structlog.get_logger("api")

RESET_SUBJECT = "Reset your Tabletop password"
# Every well-formed request gets this, whether the email has an account or not.
RESET_ACCEPTED = {"status": "accepted",
                  "detail": "if an account has this email, a reset code is on its way; it works once, for a while"}
# Order fields a customer does not see (the guest session an order came from).
HIDDEN_ORDER_FIELDS = frozenset({"session_id"})


def _profile(row: Row) -> dict[str, object]:
    return {"id": row["id"], "email": row["email"], "full_name": row["full_name"], "phone": row["phone"],
            "is_platform_admin": row["is_platform_admin"]}


def _user_id(request: Request) -> UUID:
    principal = require_user(request)
    assert principal.user_id is not None
    return principal.user_id


async def _wrong_password(svc: Services, user_id: UUID, address: str) -> ApiError:
    """Counts a wrong current password like a failed login (per account and address)."""
    await svc.limits.count(svc.limits.login_failures, "password-failures", str(user_id), address)
    return ApiError(403, "wrong_password", "current_password is not this account's password")


async def update_me(request: Request) -> Response:
    """Name and phone freely; the email only with the current password (a stolen access token
    alone must not be able to move the account, and with it its password resets)."""
    user_id = _user_id(request)
    svc = services(request)
    body = await json_body(request, ProfilePatch)
    address = address_key(client_ip(request))
    async with svc.db.unscoped() as conn:
        current = await accounts.profile(conn, user_id)
        if current is None:
            raise ApiError(401, "invalid_token", "the token's account no longer exists")
        email = body.email if body.email is not None and body.email != current["email"] else None
        if email is not None:
            if body.current_password is None:
                raise ApiError(422, "current_password_required", "changing the email needs current_password",
                               errors=[{"loc": ["body", "current_password"], "msg": "required to change the email",
                                        "type": "current_password_required"}])
            await svc.limits.check(svc.limits.login_failures, "password-failures", str(user_id), address)
            if not await verify_password(svc, current["password_hash"], body.current_password):
                raise await _wrong_password(svc, user_id, address)
        row = await accounts.update_profile(
            conn, user_id, full_name=body.full_name, phone=body.phone,
            clear_phone="phone" in body.model_fields_set and body.phone is None, email=email)
    return JSON(_profile(row))


async def change_password(request: Request) -> Response:
    """Sets a new password, revokes every refresh-token family of the account, and answers a
    fresh pair for the caller: every other session must sign in again."""
    user_id = _user_id(request)
    svc = services(request)
    body = await json_body(request, PasswordChange)
    address = address_key(client_ip(request))
    await svc.limits.check(svc.limits.login_failures, "password-failures", str(user_id), address)
    async with svc.db.unscoped() as conn:
        current = await accounts.profile(conn, user_id)
    if current is None:
        raise ApiError(401, "invalid_token", "the token's account no longer exists")
    if not await verify_password(svc, current["password_hash"], body.current_password):
        raise await _wrong_password(svc, user_id, address)
    password_hash = await hash_password(svc, body.new_password)
    refresh_token = secrets.token_urlsafe(32)
    async with svc.db.unscoped() as conn:
        await accounts.set_password(conn, user_id, password_hash)
        revoked = await accounts.revoke_sessions(conn, user_id)
        await users.issue_refresh_token(conn, user_id=user_id, token=refresh_token,
                                        ttl_s=svc.settings.refresh_token_ttl_s)
    log.info("password_changed", user_id=str(user_id), revoked_refresh_tokens=revoked)
    return JSON(await token_pair(svc, user_id, refresh_token))


async def request_reset(request: Request) -> Response:
    """Always 202 with the same body. The account is looked up, and the token and its email
    written, after the answer has gone (a background task), so the answer's timing says
    nothing about whether the email has an account."""
    svc = services(request)
    address = address_key(client_ip(request))
    await svc.limits.hit(svc.limits.password_reset_ip, "reset-ip", address)
    body = await json_body(request, PasswordReset)
    await svc.limits.hit(svc.limits.password_reset_email, "reset-email", body.email)
    return JSON(RESET_ACCEPTED, status_code=202, background=BackgroundTask(_send_reset, svc, body.email))


def reset_body(email: str, token: str, ttl_s: int) -> str:
    minutes = max(1, ttl_s // 60)
    return (
        f"Someone, hopefully you, asked to reset the password of the Tabletop account for {email}.\n\n"
        f"Your reset code:\n\n    {token}\n\n"
        f"It works once, within {minutes} minutes: enter it with your new password in the app "
        "(POST /api/auth/password-reset/confirm {\"token\": ..., \"new_password\": ...}).\n\n"
        "If you did not ask for this, ignore this email: your password stays as it is.\n"
    )


async def _send_reset(svc: Services, email: str) -> None:
    """The token and its email in one system transaction (the email's outbox row belongs to
    no restaurant). Runs after the 202 went out: a failure is logged (never the token) and the
    user asks again."""
    try:
        async with svc.db.system() as conn:
            user = await users.by_email(conn, email)
            if user is None:
                return
            token = secrets.token_urlsafe(32)
            await accounts.issue_reset_token(conn, user["id"], token, svc.settings.password_reset_ttl_s)
            await accounts.queue_email(conn, svc.credentials, user_id=user["id"], kind="password_reset",
                                       recipient=user["email"], subject=RESET_SUBJECT,
                                       body=reset_body(user["email"], token, svc.settings.password_reset_ttl_s))
    except Exception as exc:  # after the answer: logged (type only, never the token), not raised
        log.error("password_reset_failed", error=type(exc).__name__)
        return
    log.info("password_reset_requested", user_id=str(user["id"]))


async def confirm_reset(request: Request) -> Response:
    """Sets the new password if the token is known, unused and unexpired; spends it and
    revokes every refresh-token family of the account. Answers 204."""
    svc = services(request)
    await svc.limits.hit(svc.limits.password_reset_ip, "reset-ip", address_key(client_ip(request)))
    body = await json_body(request, PasswordResetConfirm)
    password_hash = await hash_password(svc, body.new_password)
    async with svc.db.unscoped() as conn:
        reset = await accounts.spend_reset_token(conn, body.token)
        if reset.outcome is ResetOutcome.SPENT:
            assert reset.user_id is not None
            await accounts.set_password(conn, reset.user_id, password_hash)
            revoked = await accounts.revoke_sessions(conn, reset.user_id)
    if reset.outcome is not ResetOutcome.SPENT:
        raise ApiError(400, "invalid_reset_token", "the reset code is unknown, used or expired; ask for a new one")
    log.info("password_reset", user_id=str(reset.user_id), revoked_refresh_tokens=revoked)
    return Response(status_code=204)


def page_cursor(raw: str | None) -> tuple[datetime, UUID] | None:
    if raw is None:
        return None
    try:
        created_at, _, order_id = base64.urlsafe_b64decode(raw.encode() + b"==").decode().partition("|")
        return datetime.fromisoformat(created_at), UUID(order_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_cursor", "cursor is not one this API issued") from exc


def next_page_cursor(rows: list[Row], limit: int) -> str | None:
    if len(rows) < limit:
        return None
    last = rows[-1]
    return base64.urlsafe_b64encode(f"{last['created_at'].isoformat()}|{last['id']}".encode()).decode().rstrip("=")


def _order(row: Row) -> dict[str, object]:
    return {k: v for k, v in row.items() if k not in HIDDEN_ORDER_FIELDS}


async def my_orders(request: Request) -> Response:
    """The orders the caller's account placed, in every restaurant, newest first."""
    user_id = _user_id(request)
    query = query_params(request, PageQuery)
    async with services(request).db.system() as conn:
        rows = await accounts.customer_orders(conn, user_id, cursor=page_cursor(query.cursor), limit=query.limit)
    return JSON({"items": [_order(r) for r in rows], "next_cursor": next_page_cursor(rows, query.limit)})


SESSION_ORDERS_LIMIT = 100


async def session_orders(request: Request) -> Response:
    """The orders the caller's guest session placed, newest first (its table's other sessions'
    are not its own). The session is checked as on every guest request (an ended one is 401)."""
    principal = authenticate(request)
    if principal.kind != "guest":
        raise ApiError(403, "forbidden", "only a guest session has session orders; an account reads GET /api/me/orders")
    assert principal.restaurant_id is not None
    assert principal.session_id is not None
    async with restaurant_scope(request, principal.restaurant_id, frozenset(), guest=True) as scope:
        rows = await accounts.session_orders(scope.conn, principal.restaurant_id, principal.session_id,
                                             limit=SESSION_ORDERS_LIMIT)
    return JSON({"items": [_order(r) for r in rows]})


routes = [
    Route("/api/auth/me", update_me, methods=["PATCH"]),
    Route("/api/auth/password", change_password, methods=["POST"]),
    Route("/api/auth/password-reset", request_reset, methods=["POST"]),
    Route("/api/auth/password-reset/confirm", confirm_reset, methods=["POST"]),
    Route("/api/me/orders", my_orders, methods=["GET"]),
    Route("/api/qr/session/orders", session_orders, methods=["GET"]),
]
