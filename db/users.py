"""Accounts, memberships as seen by their user, and refresh-token rotation."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from uuid import UUID, uuid4

from db import queries as q
from db.queries import Conn, Row


def hash_refresh_token(token: str) -> bytes:
    # Refresh tokens are 256 random bits, so a fast unsalted hash is enough to keep a
    # database leak from handing out live tokens.
    return hashlib.sha256(token.encode()).digest()


async def create(conn: Conn, *, email: str, password_hash: str, full_name: str) -> Row:
    return await q.one(conn, "insert_user", email=email, password_hash=password_hash, full_name=full_name)


async def by_email(conn: Conn, email: str) -> Row | None:
    return await q.maybe_one(conn, "user_by_email", email=email)


async def by_id(conn: Conn, user_id: UUID) -> Row | None:
    return await q.maybe_one(conn, "user_by_id", user_id=user_id)


async def set_platform_admin(conn: Conn, user_id: UUID, is_admin: bool) -> None:
    await q.run(conn, "set_platform_admin", user_id=user_id, is_admin=is_admin)


async def memberships(conn: Conn, user_id: UUID) -> list[Row]:
    """Needs a system-scope transaction: a user's memberships span restaurants."""
    return await q.all(conn, "user_memberships", user_id=user_id)


async def issue_refresh_token(
    conn: Conn, *, user_id: UUID, token: str, ttl_s: int, family_id: UUID | None = None
) -> None:
    await q.run(
        conn,
        "insert_refresh_token",
        user_id=user_id,
        family_id=family_id or uuid4(),
        token_hash=hash_refresh_token(token),
        ttl_s=ttl_s,
    )


class RefreshOutcome(enum.Enum):
    ROTATED = "rotated"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REUSED = "reused"


@dataclass(frozen=True)
class Rotation:
    outcome: RefreshOutcome
    user_id: UUID | None = None


async def rotate_refresh_token(conn: Conn, *, presented: str, replacement: str, ttl_s: int) -> Rotation:
    """Spends ``presented`` and stores ``replacement`` in its family.

    A token that was already spent (or belongs to a revoked family) revokes the whole
    family: the outcome is REUSED and the caller must COMMIT, not roll back, so the
    revocation sticks.
    """
    row = await q.maybe_one(conn, "refresh_token_for_update", token_hash=hash_refresh_token(presented))
    if row is None:
        return Rotation(RefreshOutcome.UNKNOWN)
    if row["used_at"] is not None or row["revoked_at"] is not None:
        await q.run(conn, "revoke_refresh_family", family_id=row["family_id"])
        return Rotation(RefreshOutcome.REUSED)
    if row["expired"]:
        return Rotation(RefreshOutcome.EXPIRED)
    await q.run(conn, "mark_refresh_token_used", id=row["id"])
    await issue_refresh_token(
        conn, user_id=row["user_id"], token=replacement, ttl_s=ttl_s, family_id=row["family_id"]
    )
    return Rotation(RefreshOutcome.ROTATED, row["user_id"])
