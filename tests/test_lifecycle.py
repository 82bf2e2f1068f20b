"""The order status lifecycle (db/lifecycle.py) against the table in API.md, pair by pair."""

from __future__ import annotations

import itertools
import re
import typing

import pytest

from db import lifecycle
from db.errors import Conflict
from db.schema import SCHEMA_PATH

ORDER_TYPES = ("dine_in", "takeaway", "delivery")
ALL_STATUSES = (
    "pending", "confirmed", "preparing", "ready", "served", "completed",
    "dispatched", "delivered", "cancelled", "rejected",
)

# API.md, "Status lifecycle", written out as the complete set of allowed (from, to) moves.
_COMMON = {
    ("pending", "confirmed"), ("confirmed", "preparing"), ("preparing", "ready"),
    ("pending", "cancelled"), ("confirmed", "cancelled"), ("pending", "rejected"),
}
STAFF_SPEC: dict[str, set[tuple[str, str]]] = {
    "dine_in": _COMMON | {("ready", "served"), ("served", "completed")},
    "delivery": _COMMON | {("ready", "dispatched"), ("dispatched", "delivered")},
    "takeaway": _COMMON | {("ready", "completed")},
}
GUEST_SPEC: set[tuple[str, str]] = {("pending", "cancelled")}


def _allowed_pairs(order_type: str, actor: typing.Literal["staff", "guest"]) -> set[tuple[str, str]]:
    allowed = set()
    for current, target in itertools.product(ALL_STATUSES, repeat=2):
        try:
            lifecycle.check_move(order_type, current, target, actor)
        except Conflict:
            continue
        allowed.add((current, target))
    return allowed


def test_the_module_knows_exactly_the_statuses_of_the_spec_and_of_the_schema():
    schema = SCHEMA_PATH.read_text()
    constraint = re.search(r"orders_status_valid CHECK \(status IN \((.*?)\)\)", schema, re.S)
    assert constraint is not None
    in_schema = set(re.findall(r"'([a-z_]+)'", constraint.group(1)))
    assert set(lifecycle.STATUSES) == set(typing.get_args(lifecycle.Status)) == set(ALL_STATUSES) == in_schema


@pytest.mark.parametrize("order_type", ORDER_TYPES)
def test_staff_may_make_exactly_the_moves_the_spec_lists_for_the_order_type(order_type):
    assert _allowed_pairs(order_type, "staff") == STAFF_SPEC[order_type]


@pytest.mark.parametrize("order_type", ORDER_TYPES)
def test_a_guest_may_only_cancel_a_pending_order(order_type):
    assert _allowed_pairs(order_type, "guest") == GUEST_SPEC


@pytest.mark.parametrize("order_type", ORDER_TYPES)
@pytest.mark.parametrize("status", ALL_STATUSES)
def test_allowed_moves_lists_the_spec_targets_sorted(order_type, status):
    assert lifecycle.allowed_moves(order_type, status) == sorted(
        t for f, t in STAFF_SPEC[order_type] if f == status
    )
    assert lifecycle.allowed_moves(order_type, status, "guest") == sorted(
        t for f, t in GUEST_SPEC if f == status
    )


@pytest.mark.parametrize("order_type", ORDER_TYPES)
def test_no_status_may_move_to_itself(order_type):
    for status in ALL_STATUSES:
        with pytest.raises(Conflict):
            lifecycle.check_move(order_type, status, status)


@pytest.mark.parametrize("order_type", ORDER_TYPES)
@pytest.mark.parametrize("final", ["completed", "delivered", "cancelled", "rejected"])
def test_a_final_status_allows_no_move_at_all(order_type, final):
    assert lifecycle.allowed_moves(order_type, final) == []
    assert final in lifecycle.FINAL_STATUSES


def test_the_happy_paths_of_each_order_type_walk_from_pending_to_their_end():
    paths = {
        "dine_in": ["pending", "confirmed", "preparing", "ready", "served", "completed"],
        "delivery": ["pending", "confirmed", "preparing", "ready", "dispatched", "delivered"],
        "takeaway": ["pending", "confirmed", "preparing", "ready", "completed"],
    }
    for order_type, path in paths.items():
        for current, target in itertools.pairwise(path):
            lifecycle.check_move(order_type, current, target)  # raises if refused


def test_a_refused_move_is_a_conflict_coded_invalid_transition_naming_the_allowed_moves():
    with pytest.raises(Conflict) as caught:
        lifecycle.check_move("dine_in", "pending", "ready")
    err = caught.value
    assert err.code == "invalid_transition"
    assert err.extra["allowed"] == ["cancelled", "confirmed", "rejected"]
    assert err.extra["current_status"] == "pending"
    assert "pending" in err.detail and "ready" in err.detail


def test_a_guests_refused_cancel_names_no_allowed_moves():
    with pytest.raises(Conflict) as caught:
        lifecycle.check_move("dine_in", "confirmed", "cancelled", "guest")
    assert caught.value.code == "invalid_transition"
    assert caught.value.extra["allowed"] == []
    assert caught.value.extra["current_status"] == "confirmed"


def test_a_takeaway_order_cannot_be_served_and_a_dine_in_order_cannot_be_dispatched():
    with pytest.raises(Conflict) as takeaway:
        lifecycle.check_move("takeaway", "ready", "served")
    assert takeaway.value.extra["allowed"] == ["completed"]
    with pytest.raises(Conflict) as dine_in:
        lifecycle.check_move("dine_in", "ready", "dispatched")
    assert dine_in.value.extra["allowed"] == ["served"]
