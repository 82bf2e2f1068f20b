"""Pruning the tables that only grow: one bounded batch per call, each in the caller's
short transaction (db/sql/housekeeping.sql; synced outbox rows are db.outbox.prune_synced)."""

from __future__ import annotations

from db import queries as q
from db.queries import Conn

# Table -> its statement. Each deletes at most `limit` rows past `retention_s`.
STATEMENTS = {
    "guest_sessions": "prune_guest_sessions",
    "refresh_tokens": "prune_refresh_tokens",
    "idempotency_keys": "prune_idempotency_keys",
    "webhook_deliveries": "prune_webhook_deliveries",
    "member_invitations": "prune_member_invitations",
    "platform_webhook_events": "prune_platform_webhook_events",
    "stripe_events": "prune_stripe_events",
    "password_reset_tokens": "prune_password_reset_tokens",
    "outbound_emails": "prune_outbound_emails",
    "voice_calls": "prune_voice_calls",
}


async def prune(conn: Conn, table: str, *, retention_s: float, limit: int) -> int:
    """Rows of ``table`` deleted by one bounded batch."""
    name = STATEMENTS[table]
    if name == "prune_webhook_deliveries":
        row = await q.one(conn, name, retention_s=retention_s, limit=limit)
        return int(row["deleted"])
    return await q.run(conn, name, retention_s=retention_s, limit=limit)
