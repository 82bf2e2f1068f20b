"""What became of one delivery: the one outcome type every target returns, and the one
report of what a round (or a pass of rounds) did.

The engine (sync/engine.py) turns an outcome into the outbox row's next state:

* ``Delivered``: the target holds the change; the rows are synced.
* ``Retry``: not this time. The engine backs off (``after`` when the target knows better,
  e.g. a 429's Retry-After) and tries again. ``limited``: the target refused the content
  itself, so the retry counts towards the target's maximum attempts and the row goes dead
  when they run out; otherwise (the target is down, slow, 5xx) it is retried for as long
  as it takes. ``target_down``: the target as a whole did not answer; the engine stops
  this round and the worker probes the target until it answers again.
* ``GiveUp``: the same change can never succeed (PetPooja refused its content, the
  outlet is gone): dead at once, with the error for operators to read and retry by hand.
* ``Skip``: nothing to deliver (the restaurant has no webhook any more, the order never
  reached PetPooja so there is nothing to cancel): done, the reason kept on the row.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Delivered:
    # What the target made of it, for callers that report it (Convex: applied / stale / deleted).
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Retry:
    error: str
    after_s: float | None = None
    limited: bool = False
    target_down: bool = False


@dataclass(frozen=True, slots=True)
class GiveUp:
    error: str


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


Outcome = Delivered | Retry | GiveUp | Skip


def label(outcome: Outcome) -> str:
    """The outcome's name in metrics and logs: delivered, retry, give_up or skip."""
    match outcome:
        case Delivered():
            return "delivered"
        case Retry():
            return "retry"
        case GiveUp():
            return "give_up"
        case Skip():
            return "skip"


@dataclass
class Report:
    """Outbox rows a round (or a pass of rounds) claimed, and what became of them."""

    claimed: int = 0
    synced: int = 0  # delivered
    skipped: int = 0
    failed: int = 0  # to be retried
    dead: int = 0
    rounds: int = 0
    target_down: bool = False

    def add(self, other: Report) -> None:
        for f in fields(self):
            if f.name == "target_down":
                self.target_down = self.target_down or other.target_down
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "target_down"}
