"""Notifications of a customer's account and of a guest session: the list (newest first, with
the unread count), marking one or all read, deleting one; and the short Convex token with which
a guest's phone (or a customer's) follows its own orders and notifications live. Triggers in
Postgres create notifications (docs/notifications.md); these routes only read and settle the
caller's own. Another recipient's notification answers 404 and nothing is written."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import authenticate, require_user, restaurant_scope
from api.bodies import query_params
from api.errors import ApiError
from api.handoff import hand_off
from api.models import PageQuery
from api.responses import JSON
from api.routes.accounts import next_page_cursor, page_cursor
from api.state import services
from db import notifications
from db.notifications import Recipient
from db.outbox import EntityKey
from db.queries import Conn, Row

_FIELDS = ("id", "restaurant_id", "restaurant_name", "type", "title", "message", "reference_type", "reference_id",
           "status", "read_at", "created_at")


def _notification(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in _FIELDS}


def _nid(request: Request) -> UUID:
    nid: UUID = request.path_params["nid"]
    return nid


Opened = AbstractAsyncContextManager[tuple[Conn, Recipient]]


@asynccontextmanager
async def _account(request: Request) -> AsyncIterator[tuple[Conn, Recipient]]:
    """The caller's account, in a user-scope transaction (its notifications span restaurants)."""
    principal = require_user(request)
    assert principal.user_id is not None
    async with services(request).db.user(principal.user_id) as conn:
        yield conn, Recipient.user(principal.user_id)


@asynccontextmanager
async def _session(request: Request) -> AsyncIterator[tuple[Conn, Recipient]]:
    """The caller's guest session, in its restaurant's tenant transaction, checked as on every
    guest request (an ended session is 401)."""
    principal = authenticate(request)
    if principal.kind != "guest":
        raise ApiError(403, "forbidden", "only a guest session has session notifications; an account reads "
                                         "/api/me/notifications")
    assert principal.restaurant_id is not None
    assert principal.session_id is not None
    async with restaurant_scope(request, principal.restaurant_id, frozenset(), guest=True) as scope:
        yield scope.conn, Recipient.session(principal.restaurant_id, principal.session_id)


def _pushed(request: Request, ids: Iterable[UUID]) -> None:
    hand_off(request, [EntityKey("notification", i) for i in ids])


async def _list(recipient: Opened, read_query: Callable[[], PageQuery]) -> Response:
    async with recipient as (conn, who):
        query = read_query()  # after the caller is known: a stranger gets 401, not a 422
        rows = await notifications.page(conn, who, cursor=page_cursor(query.cursor), limit=query.limit)
        unread = await notifications.unread(conn, who)
    return JSON({"items": [_notification(r) for r in rows], "next_cursor": next_page_cursor(rows, query.limit),
                 "unread_count": unread})


async def _mark_read(request: Request, recipient: Opened) -> Response:
    async with recipient as (conn, who):
        row = await notifications.mark_read(conn, who, _nid(request))
    _pushed(request, [row["id"]])
    return JSON(_notification(row))


async def _mark_all_read(request: Request, recipient: Opened) -> Response:
    async with recipient as (conn, who):
        marked = await notifications.mark_all_read(conn, who)
    _pushed(request, marked)
    return JSON({"marked": len(marked), "unread_count": 0})


async def _delete(request: Request, recipient: Opened) -> Response:
    async with recipient as (conn, who):
        await notifications.delete(conn, who, _nid(request))
    _pushed(request, [_nid(request)])
    return Response(status_code=204)


# One handler per operation (its name is the operation id), each a recipient and a verb.
async def my_notifications(request: Request) -> Response:
    return await _list(_account(request), lambda: query_params(request, PageQuery))


async def read_my_notification(request: Request) -> Response:
    return await _mark_read(request, _account(request))


async def read_all_my_notifications(request: Request) -> Response:
    return await _mark_all_read(request, _account(request))


async def delete_my_notification(request: Request) -> Response:
    return await _delete(request, _account(request))


async def session_notifications(request: Request) -> Response:
    return await _list(_session(request), lambda: query_params(request, PageQuery))


async def read_session_notification(request: Request) -> Response:
    return await _mark_read(request, _session(request))


async def read_all_session_notifications(request: Request) -> Response:
    return await _mark_all_read(request, _session(request))


async def delete_session_notification(request: Request) -> Response:
    return await _delete(request, _session(request))


async def guest_convex_token(request: Request) -> Response:
    """A Convex token naming the caller's restaurant and guest session, for the table-side
    tracker (orders:forGuestSession, notifications:mine). The session is checked first: an
    ended or expired one gets no token."""
    principal = authenticate(request)
    if principal.kind != "guest":
        raise ApiError(403, "forbidden", "only a guest session gets a guest Convex token; staff use "
                                         "/api/restaurants/{rid}/convex-token, customers /api/me/convex-token")
    assert principal.restaurant_id is not None
    assert principal.session_id is not None
    async with restaurant_scope(request, principal.restaurant_id, frozenset(), guest=True):
        pass
    issued = services(request).tokens.guest_convex_token(restaurant_id=principal.restaurant_id,
                                                         session_id=principal.session_id)
    return JSON({"token": issued.token, "expires_in": issued.expires_in})


async def customer_convex_token(request: Request) -> Response:
    """A Convex token for a customer's own notifications (notifications:mine)."""
    principal = require_user(request)
    assert principal.user_id is not None
    issued = services(request).tokens.customer_convex_token(user_id=principal.user_id)
    return JSON({"token": issued.token, "expires_in": issued.expires_in})


_ME = "/api/me/notifications"
_SESSION = "/api/qr/session/notifications"
routes = [
    Route(_ME, my_notifications, methods=["GET"]),
    Route(f"{_ME}/read-all", read_all_my_notifications, methods=["POST"]),
    Route(f"{_ME}/{{nid:uuid}}/read", read_my_notification, methods=["POST"]),
    Route(f"{_ME}/{{nid:uuid}}", delete_my_notification, methods=["DELETE"]),
    Route(_SESSION, session_notifications, methods=["GET"]),
    Route(f"{_SESSION}/read-all", read_all_session_notifications, methods=["POST"]),
    Route(f"{_SESSION}/{{nid:uuid}}/read", read_session_notification, methods=["POST"]),
    Route(f"{_SESSION}/{{nid:uuid}}", delete_session_notification, methods=["DELETE"]),
    Route("/api/qr/session/convex-token", guest_convex_token, methods=["POST"]),
    Route("/api/me/convex-token", customer_convex_token, methods=["POST"]),
]
