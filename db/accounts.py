"""A customer's account as its owner changes it: profile, password, password reset tokens, the
emails they cause (outbound_emails, the ``email`` outbox target's entity), and their orders
across restaurants. See docs/accounts.md."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from db import queries as q
from db.credentials import CredentialBox
from db.orders import ALL_NIL_UUID
from db.queries import Conn, Row
from db.users import hash_refresh_token

# Sealed email bodies are bound to their row's id under this purpose (db/credentials.py).
EMAIL_PURPOSE = "email"


def hash_reset_token(token: str) -> bytes:
    # 256 random bits: a fast unsalted hash keeps a database leak from handing out live tokens.
    return hashlib.sha256(token.encode()).digest()


async def profile(conn: Conn, user_id: UUID) -> Row | None:
    """The account with its phone and password hash (the caller drops the hash)."""
    return await q.maybe_one(conn, "user_profile", user_id=user_id)


async def update_profile(conn: Conn, user_id: UUID, *, full_name: str | None, phone: str | None,
                         clear_phone: bool, email: str | None) -> Row:
    """A taken email raises Conflict ``email_taken`` (users_email_key, db/errors.py)."""
    return await q.one(conn, "update_user_profile", user_id=user_id, full_name=full_name, phone=phone,
                       clear_phone=clear_phone, email=email)


async def set_password(conn: Conn, user_id: UUID, password_hash: str) -> None:
    await q.run(conn, "set_password_hash", user_id=user_id, password_hash=password_hash)


async def revoke_sessions(conn: Conn, user_id: UUID, *, keep_refresh_token: str | None = None) -> int:
    """Revokes every refresh-token family of the user but the one ``keep_refresh_token``
    (still live, the user's own) belongs to; how many tokens were revoked."""
    keep: UUID | None = None
    if keep_refresh_token:
        row = await q.maybe_one(conn, "refresh_token_family", user_id=user_id,
                                token_hash=hash_refresh_token(keep_refresh_token))
        keep = row["family_id"] if row else None
    return await q.run(conn, "revoke_user_refresh_families", user_id=user_id, keep_family_id=keep)


async def issue_reset_token(conn: Conn, user_id: UUID, token: str, ttl_s: int) -> None:
    await q.run(conn, "insert_password_reset_token", user_id=user_id, token_hash=hash_reset_token(token),
                ttl_s=ttl_s)


class ResetOutcome(enum.Enum):
    SPENT = "spent"  # valid: spent now
    INVALID = "invalid"  # unknown, used or expired


@dataclass(frozen=True)
class Reset:
    outcome: ResetOutcome
    user_id: UUID | None = None


async def spend_reset_token(conn: Conn, token: str) -> Reset:
    """Spends a presented reset token (and every other open one of its account) when it is
    known, unused and unexpired; the caller sets the password in the same transaction."""
    row = await q.maybe_one(conn, "password_reset_token_for_update", token_hash=hash_reset_token(token))
    if row is None or row["used_at"] is not None or row["expired"]:
        return Reset(ResetOutcome.INVALID)
    await q.run(conn, "spend_password_reset_tokens", user_id=row["user_id"])
    return Reset(ResetOutcome.SPENT, row["user_id"])


async def queue_email(conn: Conn, box: CredentialBox, *, user_id: UUID | None, kind: str, recipient: str,
                      subject: str, body: str) -> UUID:
    """Writes an email for the ``email`` target, its body sealed; needs a system-scope
    transaction (its outbox row belongs to no restaurant)."""
    email_id = uuid4()
    sealed = box.seal(EMAIL_PURPOSE, email_id, {"body": body})
    await q.run(conn, "insert_outbound_email", id=email_id, user_id=user_id, kind=kind, recipient=recipient,
                subject=subject, body=sealed, key_id=box.key_id)
    return email_id


def open_body(box: CredentialBox, email: Row) -> str:
    """An email's body text (raises CredentialsUnreadable under another key)."""
    return box.open(EMAIL_PURPOSE, email["id"], email["body"], email["key_id"])["body"]


async def emails(conn: Conn, ids: list[UUID]) -> dict[UUID, Row]:
    return {row["id"]: row for row in await q.all(conn, "outbound_emails_by_id", ids=ids)}


async def customer_orders(conn: Conn, user_id: UUID, *, cursor: tuple[datetime, UUID] | None,
                          limit: int) -> list[Row]:
    """Needs a system-scope transaction: a customer's orders span restaurants."""
    return await q.all(conn, "customer_orders", user_id=user_id,
                       cursor_created_at=cursor[0] if cursor else "infinity",
                       cursor_id=cursor[1] if cursor else ALL_NIL_UUID, limit=limit)


async def session_orders(conn: Conn, restaurant_id: UUID, session_id: UUID, *, limit: int) -> list[Row]:
    return await q.all(conn, "session_orders", restaurant_id=restaurant_id, session_id=session_id, limit=limit)
