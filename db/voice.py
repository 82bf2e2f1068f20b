"""Voice ordering's own rows (db/migrations/0021_voice.sql): which orders a Vapi call placed,
and each call's end-of-call report. The orders themselves are placed by db/orders.py like
every other order; this module only links and reports, always in one restaurant's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from db import queries as q
from db.queries import Conn, Row

# Greater than any call id (they are at most 100 characters of printable ASCII).
_LAST_CALL_ID = "\x7f"


async def link_order(conn: Conn, restaurant_id: UUID, order_id: UUID, *, call_id: str,
                     caller_phone: str | None) -> None:
    await q.run(conn, "voice_link_order", restaurant_id=restaurant_id, order_id=order_id, call_id=call_id,
                caller_phone=caller_phone)


async def caller_orders(conn: Conn, restaurant_id: UUID, *, call_id: str, caller_phone: str | None,
                        limit: int = 5) -> list[Row]:
    """The orders this call placed, and this number's from the last day here, newest first."""
    return await q.all(conn, "voice_caller_orders", restaurant_id=restaurant_id, call_id=call_id,
                       caller_phone=caller_phone, limit=limit)


@dataclass(frozen=True)
class CallReport:
    call_id: str
    ended_reason: str
    summary: str | None
    transcript: str | None
    transcript_truncated: bool
    cost_usd: Decimal | None
    started_at: datetime | None
    ended_at: datetime | None


async def record_call(conn: Conn, restaurant_id: UUID, report: CallReport) -> bool:
    """Keeps the report; False when this call's report was kept already (nothing changes)."""
    row = await q.maybe_one(conn, "voice_record_call", restaurant_id=restaurant_id, call_id=report.call_id,
                            ended_reason=report.ended_reason, summary=report.summary, transcript=report.transcript,
                            transcript_truncated=report.transcript_truncated, cost_usd=report.cost_usd,
                            started_at=report.started_at, ended_at=report.ended_at)
    return row is not None


async def calls_page(conn: Conn, restaurant_id: UUID, *, cursor: tuple[datetime, str] | None,
                     limit: int) -> list[Row]:
    return await q.all(conn, "voice_calls_page", restaurant_id=restaurant_id,
                       cursor_received_at=cursor[0] if cursor else "infinity",
                       cursor_call_id=cursor[1] if cursor else _LAST_CALL_ID, limit=limit)
