"""The sync_log outbox and its routing: claiming rows, renewing and recording them for the
engine, which restaurants' changes go to which targets, the state each target is sent, and
the health views operators read. Every statement is in db/sql/sync.sql."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import orjson

from db import queries as q
from db.queries import Conn, Row

ENTITY_TYPES = ("order", "menu_item", "table", "reservation", "notification")


@dataclass(frozen=True)
class EntityKey:
    entity_type: str
    entity_id: UUID


@dataclass(frozen=True)
class Backoff:
    """Parameters of the one backoff formula (sync.sql mark_failed): base * 2^attempts with
    jitter, capped at max_s; a limited retry goes dead after max_attempts."""

    base_s: float
    max_s: float
    max_attempts: int


# -- claiming and recording (the engine) ------------------------------------------------


def array_literal(values: Iterable[int | str | UUID]) -> str:
    """A Postgres array literal of values that need no quoting (ids, UUIDs, entity types):
    the pusher's statements pass their arrays so (cast in SQL), since psycopg's list adaptation
    costs several times the rest of a statement's parameters."""
    return "{" + ",".join(map(str, values)) + "}"


async def claim_entities(
    conn: Conn, keys: Iterable[EntityKey], *, target: str, owner: str, lease_s: float, trace_context: str,
    with_state: bool = False,
) -> list[Row]:
    """Claims the entities' pending rows and binds the transaction to the system scope (with
    ``trace_context`` as set_system_scope records it), so it needs no scope of its own.
    ``with_state``: each row's ``state`` is its entity's current state as entity_rows reads
    it, decoded from JSON (None: gone), read after the claim in the same statement."""
    keys = list(keys)
    rows = await q.all(
        conn, "claim_entities", target=target, owner=owner, lease_s=lease_s, trace_context=trace_context,
        entity_types=array_literal(k.entity_type for k in keys), entity_ids=array_literal(k.entity_id for k in keys),
        with_state=with_state,
    )
    for row in rows:
        if with_state:
            # As text, decoded here: orjson is several times faster than psycopg's json.loads.
            row["state"] = None if row["state"] is None else orjson.loads(row["state"])
        else:
            del row["state"]  # not read: no row may pass for a gone entity
    return rows


async def claim_due(
    conn: Conn, *, target: str, owner: str, lease_s: float, grace_s: float, limit: int, ordered: bool = False
) -> list[Row]:
    return await q.all(conn, "claim_due_ordered" if ordered else "claim_due", target=target, owner=owner,
                       lease_s=lease_s, grace_s=grace_s, limit=limit)


async def renew(conn: Conn, ids: Sequence[int], *, owner: str, lease_s: float) -> int:
    return await q.run(conn, "renew_leases", ids=list(ids), owner=owner, lease_s=lease_s)


async def mark_synced_alone(conn: Conn, ids: Sequence[int], *, owner: str) -> int:
    """Marks rows synced in one self-scoping statement: alone on an autocommit connection
    (Database.statements), or inside a system transaction."""
    return int((await q.one(conn, "mark_synced_alone", ids=array_literal(ids), owner=owner))["marked"])


async def mark_failed(
    conn: Conn, ids: Sequence[int], *, owner: str, error: str, backoff: Backoff, limited: bool,
    after_s: float | None = None, target_down: bool = False,
) -> list[Row]:
    return await q.all(
        conn, "mark_failed", ids=list(ids), owner=owner, error=error, limited=limited, after_s=after_s,
        target_down=target_down, max_attempts=backoff.max_attempts, backoff_base_s=backoff.base_s,
        backoff_max_s=backoff.max_s,
    )


async def mark_dead(conn: Conn, ids: Sequence[int], *, owner: str, error: str) -> int:
    return await q.run(conn, "mark_dead", ids=list(ids), owner=owner, error=error)


async def mark_skipped(conn: Conn, ids: Sequence[int], *, owner: str, reason: str) -> int:
    return await q.run(conn, "mark_skipped", ids=list(ids), owner=owner, reason=reason)


async def supersede(conn: Conn, target: str, delivered: Sequence[tuple[UUID, str, UUID, int]]) -> int:
    """Settles older undelivered rows of (restaurant_id, entity_type, entity_id, version) just delivered."""
    return await q.run(conn, "supersede", target=target, restaurant_ids=[d[0] for d in delivered],
                       entity_types=[d[1] for d in delivered], entity_ids=[d[2] for d in delivered],
                       versions=[d[3] for d in delivered])


async def release(conn: Conn, ids: Sequence[int], *, owner: str) -> int:
    return await q.run(conn, "release_claims", ids=list(ids), owner=owner)


async def resume(conn: Conn, target: str) -> int:
    """Makes the rows that waited for a down target due now; returns how many."""
    return await q.run(conn, "resume_target", target=target)


async def next_due(conn: Conn, *, target: str, grace_s: float) -> float | None:
    """Seconds until the target's next row is due (may be negative), None when none waits."""
    row = await q.one(conn, "next_due", target=target, grace_s=grace_s)
    return None if row["seconds"] is None else float(row["seconds"])


async def pending_keys_of_transaction(conn: Conn, restaurant_id: UUID, target: str) -> list[EntityKey]:
    rows = await q.all(conn, "pending_keys_of_transaction", restaurant_id=restaurant_id, target=target)
    return [EntityKey(r["entity_type"], r["entity_id"]) for r in rows]


async def wake_workers(conn: Conn, target: str) -> None:
    await q.run(conn, "wake_worker", target=target)


async def listen_for_wakeups(conn: Conn) -> None:
    await q.run(conn, "listen_sync_wake")


# -- routing ----------------------------------------------------------------------------


async def enable_target(conn: Conn, restaurant_id: UUID, target: str) -> None:
    await q.run(conn, "enable_target", restaurant_id=restaurant_id, target=target)


async def disable_target(conn: Conn, restaurant_id: UUID, target: str) -> None:
    await q.run(conn, "disable_target", restaurant_id=restaurant_id, target=target)


async def target_names(conn: Conn) -> list[str]:
    return [row["name"] for row in await q.all(conn, "sync_target_names")]


async def epoch(conn: Conn, target: str) -> str | None:
    row = await q.maybe_one(conn, "target_epoch", target=target)
    return None if row is None else str(row["epoch"])


async def set_epoch(conn: Conn, target: str, value: str) -> None:
    await q.run(conn, "set_target_epoch", target=target, epoch=value)


# -- what targets send ------------------------------------------------------------------


_DOCUMENTS = {"order": "order_documents_by_ids", "menu_item": "menu_item_documents_by_ids",
              "table": "table_documents_by_ids", "reservation": "reservation_documents_by_ids",
              "notification": "notification_documents_by_ids"}


async def entity_rows(conn: Conn, entity_type: str, ids: Sequence[UUID]) -> dict[UUID, Row]:
    """Current state of entities by id (absent: the row was deleted). System scope."""
    return {row["id"]: row for row in await q.all(conn, _DOCUMENTS[entity_type], ids=list(ids))}


async def convex_rows(conn: Conn, entity_type: str, ids: Sequence[UUID]) -> dict[UUID, Row]:
    """entity_rows as the Convex target sends them: an order also carries its latest status
    reason (``status_reason``), which the API's order and the webhooks' do not."""
    name = "order_convex_documents_by_ids" if entity_type == "order" else _DOCUMENTS[entity_type]
    return {row["id"]: row for row in await q.all(conn, name, ids=list(ids))}


# -- operators --------------------------------------------------------------------------


async def status_for_restaurant(conn: Conn, restaurant_id: UUID) -> list[Row]:
    return await q.all(conn, "sync_status_for_restaurant", restaurant_id=restaurant_id)


async def queue_depth(conn: Conn) -> list[Row]:
    return await q.all(conn, "sync_queue_depth")


ErrorState = Literal["open", "failed", "dead", "resolved"]


async def errors(conn: Conn, *, before_id: int | None, limit: int, restaurant_id: UUID | None = None,
                 target: str | None = None, state: ErrorState = "open") -> list[Row]:
    """Failed and dead rows, newest first, with their history of retries and resolutions
    (sync.sql sync_errors says what each ``state`` lists)."""
    return await q.all(conn, "sync_errors", before_id=before_id or 2**63 - 1, limit=limit,
                       restaurant_id=restaurant_id, target=target, state=state)


async def retry(conn: Conn, row_id: int, *, actor: str) -> Row | None:
    """Makes a failed or dead row due now with a fresh attempt budget, recorded in its history
    as ``actor``'s ('user:<id>', 'api_key:<key id>'); None when no such row is failed or dead."""
    return await q.maybe_one(conn, "retry_sync_row", id=row_id, actor=actor)


async def resolve(conn: Conn, row_id: int, *, actor: str, reason: str) -> Row | None:
    """Settles a failed or dead row by hand: dead, so nothing retries it, and out of the open
    error list; recorded with who and why. None when no such row is failed or dead."""
    return await q.maybe_one(conn, "resolve_sync_row", id=row_id, actor=actor, reason=reason)


async def targets_of(conn: Conn, restaurant_id: UUID) -> list[Row]:
    """Every target (name) and whether it takes the restaurant's changes (connected)."""
    return await q.all(conn, "targets_of_restaurant", restaurant_id=restaurant_id)


async def prune_synced(conn: Conn, *, retention_s: float, limit: int = 5000) -> int:
    return await q.run(conn, "prune_synced", retention_s=retention_s, limit=limit)


async def try_rebuild_lock(conn: Conn, target: str) -> bool:
    """Takes the target's rebuild lock on this connection's session; False when another holds it."""
    return bool((await q.one(conn, "try_rebuild_lock", target=target))["locked"])


async def release_rebuild_lock(conn: Conn, target: str) -> None:
    await q.run(conn, "release_rebuild_lock", target=target)
