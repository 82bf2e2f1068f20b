"""The ``convex`` target: each claimed entity's CURRENT state from Postgres, versioned, in
one ``sync:applyBatch`` per chunk.

Convex applies a change only when its version is newer than what it holds, so at-least-once
delivery has an exactly-once effect and a late retry never overwrites newer state. A chunk
Convex rejects is split in halves until the rejected change is alone: one poisoned
document fails (a limited retry: it goes dead after the maximum attempts) without holding
back the others. An unreachable Convex is a target-wide outage: the rest of the round is
not attempted, and the worker probes (``sync:epoch``, a read) until Convex answers.
"""

from __future__ import annotations

from typing import Any

import structlog

from db import outbox
from db.queries import Conn, Row
from sync.convex import documents
from sync.convex.client import ConvexFunctionError, ConvexHttp, ConvexUnavailable
from sync.outcome import Delivered, Outcome, Retry
from sync.target import Job, Policy, by_entity

log = structlog.get_logger("sync")

TARGET = "convex"
MAX_BATCH = 500  # sync:applyBatch refuses more
Change = dict[str, Any]


class ConvexTarget:
    name = TARGET

    def __init__(self, client: ConvexHttp, policy: Policy):
        self.client, self.policy = client, policy
        self.chunk = min(policy.batch_size, MAX_BATCH)

    async def prepare(self, conn: Conn, rows: list[Row]) -> list[Job[Change]]:
        """One change per entity (several claimed rows of one entity collapse into one), from
        its current state: claimed with it (the pusher's claim, Policy.state_in_claim), or read
        here (the worker's)."""
        groups = by_entity(rows)
        current: dict[str, dict[Any, Row]] = {}
        if "state" in rows[0]:
            for row in rows:
                current.setdefault(row["entity_type"], {})[row["entity_id"]] = row["state"]
        else:
            for entity_type in {t for t, _ in groups}:
                ids = [i for t, i in groups if t == entity_type]
                current[entity_type] = await outbox.convex_rows(conn, entity_type, ids)
        jobs = []
        for (entity_type, entity_id), group in groups.items():
            newest = max(group, key=lambda r: r["entity_version"])
            change = documents.change(entity_type, newest, current[entity_type].get(entity_id))
            jobs.append(Job(group, change, version=int(change["version"])))
        return jobs

    async def deliver(self, jobs: list[Job[Change]]) -> list[Outcome]:
        return await self.apply([job.payload for job in jobs])

    async def apply(self, changes: list[Change]) -> list[Outcome]:
        """One outcome per change, in order (fullSync pushes through this too); changes as
        documents.change builds them, in Convex's JSON encoding already."""
        outcomes: list[Outcome] = []
        for start in range(0, len(changes), self.chunk):
            chunk = changes[start:start + self.chunk]
            if outcomes and isinstance(outcomes[-1], Retry) and outcomes[-1].target_down:
                # Convex is down: the rest would fail the same way, each after a timeout.
                outcomes += [Retry("not attempted: convex unavailable earlier in this round", target_down=True)] \
                    * len(chunk)
                continue
            outcomes += await self._apply(chunk)
        return outcomes

    async def _apply(self, chunk: list[Change]) -> list[Outcome]:
        try:
            # documents.change builds changes in Convex's JSON encoding already.
            value = await self.client.mutation("sync:applyBatch", {"changes": chunk}, encoded=True)
        except ConvexUnavailable as exc:
            log.warning("sync_push_unavailable", target=TARGET, error=str(exc), changes=len(chunk))
            return [Retry(str(exc), target_down=True)] * len(chunk)
        except ConvexFunctionError as exc:
            if len(chunk) == 1:
                log.error("sync_push_rejected", target=TARGET, error=str(exc), change=_describe(chunk[0]))
                return [Retry(f"rejected by convex: {exc} {exc.data or ''}".strip(), limited=True)]
            middle = len(chunk) // 2
            return await self._apply(chunk[:middle]) + await self._apply(chunk[middle:])
        results = value.get("results", []) if isinstance(value, dict) else []
        if len(results) != len(chunk):
            return [Retry(f"applyBatch answered {len(results)} results for {len(chunk)} changes")] * len(chunk)
        return [Delivered(str(result.get("result", ""))) for result in results]

    async def probe(self) -> bool | None:
        try:
            await self.epoch()
        except ConvexUnavailable:
            return False
        except ConvexFunctionError:
            pass  # it answered: up, whatever it thinks of the call
        return True

    async def epoch(self) -> str | None:
        """The epoch of Convex's last full rebuild (None: never rebuilt, or its data is gone)."""
        value = await self.client.query("sync:epoch", {})
        return value if isinstance(value, str) else None

    async def set_epoch(self, epoch: str) -> None:
        await self.client.mutation("sync:setEpoch", {"epoch": epoch})

    async def close(self) -> None:
        await self.client.close()


def _describe(change: Change) -> dict[str, Any]:
    return {k: change[k] for k in ("entity", "op", "pgId", "restaurantId", "version")}
