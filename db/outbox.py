"""The sync_log outbox: claiming rows to push, recording results, reading entity state
to send, and the health views operators read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from db import queries as q
from db.queries import Conn, Row

ENTITY_TYPES = ("order", "menu_item", "table")


@dataclass(frozen=True)
class EntityKey:
    entity_type: str
    entity_id: UUID


async def claim_entities(
    conn: Conn, keys: Iterable[EntityKey], *, target: str, owner: str, lease_s: float
) -> list[Row]:
    keys = list(keys)
    return await q.all(
        conn, "claim_entities", target=target, owner=owner, lease_s=lease_s,
        entity_types=[k.entity_type for k in keys], entity_ids=[k.entity_id for k in keys],
    )


async def claim_due(
    conn: Conn, *, target: str, owner: str, lease_s: float, grace_s: float, limit: int
) -> list[Row]:
    return await q.all(conn, "claim_due", target=target, owner=owner, lease_s=lease_s, grace_s=grace_s, limit=limit)


async def mark_synced(conn: Conn, ids: Sequence[int], *, owner: str) -> int:
    return await q.run(conn, "mark_synced", ids=list(ids), owner=owner)


@dataclass(frozen=True)
class Backoff:
    base_s: float
    max_s: float
    max_attempts: int


async def mark_failed(
    conn: Conn, ids: Sequence[int], *, owner: str, error: str, backoff: Backoff, can_die: bool
) -> list[Row]:
    return await q.all(
        conn, "mark_failed", ids=list(ids), owner=owner, error=error, can_die=can_die,
        max_attempts=backoff.max_attempts, backoff_base_s=backoff.base_s, backoff_max_s=backoff.max_s,
    )


async def release(conn: Conn, ids: Sequence[int], *, owner: str) -> int:
    return await q.run(conn, "release_claims", ids=list(ids), owner=owner)


async def wake_workers(conn: Conn, target: str) -> None:
    await q.run(conn, "wake_worker", target=target)


async def listen_for_wakeups(conn: Conn) -> None:
    await q.run(conn, "listen_sync_wake")


async def entity_rows(conn: Conn, entity_type: str, ids: Sequence[UUID]) -> dict[UUID, Row]:
    """Current state of entities by id (absent: the row was deleted). System scope."""
    name = {"order": "order_documents_by_ids", "menu_item": "menu_item_documents_by_ids",
            "table": "table_documents_by_ids"}[entity_type]
    return {row["id"]: row for row in await q.all(conn, name, ids=list(ids))}


async def status_for_restaurant(conn: Conn, restaurant_id: UUID) -> list[Row]:
    return await q.all(conn, "sync_status_for_restaurant", restaurant_id=restaurant_id)


async def queue_depth(conn: Conn) -> list[Row]:
    return await q.all(conn, "sync_queue_depth")


async def errors(conn: Conn, *, before_id: int | None, limit: int) -> list[Row]:
    return await q.all(conn, "sync_errors", before_id=before_id or 2**63 - 1, limit=limit)


async def retry(conn: Conn, row_id: int) -> Row | None:
    return await q.maybe_one(conn, "retry_sync_row", id=row_id)


async def prune_synced(conn: Conn, *, retention_s: float, limit: int = 5000) -> int:
    return await q.run(conn, "prune_synced", retention_s=retention_s, limit=limit)
