"""The order status lifecycle: the one place that says which moves are allowed.

pending -> confirmed -> preparing -> ready, then by order type:
dine_in ready -> served -> completed; delivery ready -> dispatched -> delivered;
takeaway ready -> completed. cancelled from pending or confirmed; rejected from pending.
A guest may only cancel its own order while it is pending.
"""

from __future__ import annotations

from typing import Literal

from db.errors import Conflict

Status = Literal[
    "pending", "confirmed", "preparing", "ready", "served", "completed",
    "dispatched", "delivered", "cancelled", "rejected",
]
OrderType = Literal["dine_in", "takeaway", "delivery"]
Actor = Literal["staff", "guest"]

STATUSES: tuple[Status, ...] = (
    "pending", "confirmed", "preparing", "ready", "served", "completed",
    "dispatched", "delivered", "cancelled", "rejected",
)
FINAL_STATUSES = frozenset({"completed", "delivered", "cancelled", "rejected"})

_COMMON: dict[str, frozenset[str]] = {
    "pending": frozenset({"confirmed", "cancelled", "rejected"}),
    "confirmed": frozenset({"preparing", "cancelled"}),
    "preparing": frozenset({"ready"}),
}
_BY_TYPE: dict[str, dict[str, frozenset[str]]] = {
    "dine_in": {"ready": frozenset({"served"}), "served": frozenset({"completed"})},
    "delivery": {"ready": frozenset({"dispatched"}), "dispatched": frozenset({"delivered"})},
    "takeaway": {"ready": frozenset({"completed"})},
}
_GUEST: dict[str, frozenset[str]] = {"pending": frozenset({"cancelled"})}


def allowed_moves(order_type: str, status: str, actor: Actor = "staff") -> list[str]:
    if actor == "guest":
        return sorted(_GUEST.get(status, frozenset()))
    moves = _COMMON.get(status, frozenset()) | _BY_TYPE[order_type].get(status, frozenset())
    return sorted(moves)


def check_move(order_type: str, current: str, target: str, actor: Actor = "staff") -> None:
    """Raises Conflict(invalid_transition) naming the allowed moves unless current -> target is one."""
    allowed = allowed_moves(order_type, current, actor)
    if target not in allowed:
        who = "a guest" if actor == "guest" else "staff"
        raise Conflict(
            f"{who} cannot move a {order_type} order from {current} to {target}",
            code="invalid_transition",
            extra={"current_status": current, "allowed": allowed},
        )
