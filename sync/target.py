"""The protocol an outbox target implements, and what the engine hands it.

A target knows only its own system: ``prepare`` reads what to send for claimed rows,
inside the claiming transaction (so it sees the state the claim saw), and ``deliver``
sends it and says what became of each job as an ``Outcome``. Claiming, leases and their
renewal, backoff, ``dead``, metrics, logs and traces are the engine's (sync/engine.py).

A target that must hold a lock of its own while it sends (PetPooja locks the order's
``petpooja_orders`` row so that no two workers send one order at once) opens its own
transaction inside ``deliver``; the engine records the outcome after it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar
from uuid import UUID

from db.outbox import Backoff
from db.queries import Conn, Row
from sync.outcome import Outcome

P = TypeVar("P")


@dataclass(frozen=True)
class Policy:
    """How the engine treats one target's rows."""

    batch_size: int  # rows claimed per round
    lease_s: float  # a claim's lease; renewed while its delivery is alive
    backoff: Backoff  # the one backoff formula's parameters (db/sql/sync.sql mark_failed)
    grace_s: float = 0.0  # pending rows are left this long to an in-process pusher (Convex)
    ordered: bool = False  # never claim an entity while another row of it is in flight
    supersede: bool = False  # a delivered version settles the entity's older undelivered rows
    # The pusher's claim (round_entities) also returns each row's entity state (row["state"],
    # see db/outbox.py claim_entities) in its one statement, and prepare builds from that
    # outside any transaction: for a target whose prepare only reads the entities (Convex).
    state_in_claim: bool = False


@dataclass
class Job(Generic[P]):
    """One delivery: the claimed rows it settles and the target's payload for them."""

    rows: list[Row]
    payload: P
    version: int | None = None  # the entity version delivered (for Policy.supersede)
    settled: Outcome | None = None  # decided while preparing; never handed to deliver

    @property
    def row_ids(self) -> list[int]:
        return [row["id"] for row in self.rows]

    @property
    def entity_id(self) -> UUID:
        entity_id: UUID = self.rows[0]["entity_id"]
        return entity_id


def by_entity(rows: list[Row]) -> dict[tuple[str, UUID], list[Row]]:
    """Claimed rows grouped by entity, in claim order: several rows of one entity are one
    delivery of its current state."""
    groups: dict[tuple[str, UUID], list[Row]] = {}
    for row in rows:
        groups.setdefault((row["entity_type"], row["entity_id"]), []).append(row)
    return groups


class Target(Protocol[P]):
    name: str
    policy: Policy

    async def prepare(self, conn: Conn, rows: list[Row]) -> list[Job[P]]:
        """Jobs covering every claimed row, read in the claiming transaction."""
        ...

    async def deliver(self, jobs: list[Job[P]]) -> list[Outcome]:
        """Sends the jobs; one outcome per job, in order. Raising is a bug: the engine
        logs it and retries every job."""
        ...

    async def probe(self) -> bool | None:
        """Whether the target answers now, cheaply (None: it cannot be probed, and its rows
        are simply retried with backoff)."""
        return None

    async def close(self) -> None:
        ...
