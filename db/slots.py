"""A restaurant's time slots on one local date, from its slot rules and its time zone.

Slots are wall-clock times: a rule's start, then every ``interval_minutes`` of local time
while before its end. On a spring-forward date a local time that does not exist (02:30 in
America/New_York on the second Sunday of March) is no slot. On a fall-back date a local time
that happens twice (01:30 on the first Sunday of November) is one slot, at its first
occurrence (``fold=0``, still daylight time); the second instant is no slot, so its places are
never counted twice. Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from db.queries import Row


@dataclass(frozen=True)
class Slot:
    start: datetime  # UTC
    local: datetime  # naive local wall-clock time
    max_reservations: int | None
    max_covers: int | None


def _exists(local: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a local time's first occurrence; None when the time is in a gap."""
    instant = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        return None
    return instant


def slots_of(day: date, zone: ZoneInfo, rules: list[Row]) -> list[Slot]:
    """Every slot of ``day`` (local) under the rules of its weekday, in time order."""
    found: list[Slot] = []
    for rule in rules:
        if rule["weekday"] != day.weekday():
            continue
        local = datetime.combine(day, rule["start_time"])
        end = datetime.combine(day, rule["end_time"])
        step = timedelta(minutes=rule["interval_minutes"])
        while local < end:
            instant = _exists(local, zone)
            if instant is not None:
                found.append(Slot(instant, local, rule["max_reservations"], rule["max_covers"]))
            local += step
    return sorted(found, key=lambda s: s.start)


def slot_at(start: datetime, zone: ZoneInfo, rules: list[Row]) -> Slot | None:
    """The slot that starts at the instant ``start``, if the rules make one there."""
    day = start.astimezone(zone).date()
    return next((s for s in slots_of(day, zone, rules) if s.start == start), None)


def overlapping(rules: list[tuple[int, time, time]]) -> tuple[int, int] | None:
    """Indexes of two rules of one weekday whose windows overlap, if any ((weekday, start, end) each)."""
    order = sorted(range(len(rules)), key=lambda i: (rules[i][0], rules[i][1]))
    for a, b in pairwise(order):
        if rules[a][0] == rules[b][0] and rules[b][1] < rules[a][2]:
            return a, b
    return None
