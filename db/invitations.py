"""Member invitations: a restaurant invites an email, and whoever holds the account with that
email accepts (becoming a member with the invited role) or declines.

Inviting never reads users, so it answers the same for an email with an account and one
without; an invitation to an email that registers later is found by that email.
"""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from db import queries as q
from db import restaurants
from db.errors import Conflict, NotFound
from db.queries import Conn, Row

LIST_LIMIT = 500


async def invite(
    conn: Conn, *, restaurant_id: UUID, email: str, role: str, invited_by: UUID, ttl_s: int,
    replaceable: Collection[str],
) -> Row | None:
    """The new (or renewed) pending invitation; None when the email's pending invitation holds
    a role outside ``replaceable`` (a manager may not downgrade an owner's invitation)."""
    return await q.maybe_one(
        conn, "upsert_invitation", restaurant_id=restaurant_id, email=email, role=role, invited_by=invited_by,
        ttl_s=ttl_s, replaceable=list(replaceable),
    )


async def pending(conn: Conn, restaurant_id: UUID) -> list[Row]:
    return await q.all(conn, "pending_invitations", restaurant_id=restaurant_id, limit=LIST_LIMIT)


async def locked(conn: Conn, *, restaurant_id: UUID, invitation_id: UUID) -> Row:
    """One of the restaurant's invitations, locked for the rest of the transaction."""
    row = await q.maybe_one(conn, "invitation_in_restaurant", restaurant_id=restaurant_id, id=invitation_id)
    if row is None:
        raise NotFound("invitation not found")
    return row


async def revoke(conn: Conn, invitation: Row, *, user_id: UUID) -> Row:
    return await _answer(conn, invitation, "revoked", user_id)


async def accept(conn: Conn, *, invitation_id: UUID, user_id: UUID, email: str) -> Row:
    """Makes the invitee a member. Needs a system-scope transaction: they are not one yet."""
    invitation = await _addressed_to(conn, invitation_id, email)
    _still_open(invitation)
    await restaurants.add_member(
        conn, restaurant_id=invitation["restaurant_id"], user_id=user_id, role=invitation["role"]
    )
    return await _answer(conn, invitation, "accepted", user_id)


async def decline(conn: Conn, *, invitation_id: UUID, user_id: UUID, email: str) -> Row:
    """Needs a system-scope transaction, as accept does."""
    invitation = await _addressed_to(conn, invitation_id, email)
    return await _answer(conn, invitation, "declined", user_id)


async def for_email(conn: Conn, email: str) -> list[Row]:
    """An invitee's open invitations. Needs a system-scope transaction: they span restaurants."""
    return await q.all(conn, "invitations_for_email", email=email)


async def _addressed_to(conn: Conn, invitation_id: UUID, email: str) -> Row:
    row = await q.maybe_one(conn, "invitation_by_id", id=invitation_id)
    # Somebody else's invitation answers exactly like one that does not exist.
    if row is None or row["email"] != email:
        raise NotFound("invitation not found")
    return row


def _still_open(invitation: Row, *, or_expired: bool = False) -> None:
    """Refuses an answered invitation, and an expired one unless ``or_expired`` (declining or
    revoking an expired invitation tidies it away; accepting one is too late)."""
    if invitation["status"] != "pending" or (invitation["expired"] and not or_expired):
        state = "expired" if invitation["status"] == "pending" else invitation["status"]
        raise Conflict(f"this invitation is {state}", code="invitation_not_pending", extra={"state": state})


async def _answer(conn: Conn, invitation: Row, status: str, user_id: UUID) -> Row:
    _still_open(invitation, or_expired=True)
    return await q.one(
        conn, "answer_invitation", restaurant_id=invitation["restaurant_id"], id=invitation["id"],
        status=status, user_id=user_id,
    )
