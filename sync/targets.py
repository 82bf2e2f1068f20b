"""Outbox targets other than Convex (PetPooja, a restaurant's own webhook): what the worker
needs from each, and how the worker builds them from configuration.

Convex has its own batched path (sync/push.py) shared with the API's post-commit pusher.
These targets have no in-process pusher: a trigger writes their outbox row with the
change and notifies ``sync_wake`` at commit, and the worker pushes the row at once (no
grace period) and retries it with backoff like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from db.pool import Database
from sync.config import SyncSettings


@dataclass
class TargetReport:
    """What one claim-and-push round of a target did."""

    claimed: int = 0
    synced: int = 0
    failed: int = 0
    dead: int = 0


class OutboxTarget(Protocol):
    name: str

    async def run_once(self, *, owner: str) -> TargetReport:
        """Claims due rows of this target (FOR UPDATE SKIP LOCKED, leased to ``owner``),
        pushes them, and records each row's outcome; claimed == 0 means nothing was due."""
        ...

    async def close(self) -> None:
        ...


def build_targets(db: Database, settings: SyncSettings) -> list[OutboxTarget]:
    """The targets this configuration enables, in the order the worker serves them."""
    targets: list[OutboxTarget] = []
    from sync.petpooja import petpooja_target  # sync.petpooja imports this module

    petpooja = petpooja_target(db, settings)  # None in production without a credentials key
    if petpooja is not None:
        targets.append(petpooja)
    from sync.webhooks import webhook_target  # sync.webhooks imports this module

    webhook = webhook_target(db, settings)  # None in production without a credentials key
    if webhook is not None:
        targets.append(webhook)
    return targets
