"""What each integration of a restaurant is doing, as operators, owners and staff read it: the
outbox queue per target, the connection state of its stores on delivery platforms, what became
of one order at each target, and the short summaries that stand in for raw errors.

Raw errors (a target's exception text, a partner's HTTP answer) are for operators and platform
administrators only: they may carry hosts, ids and partners' messages. Owners and staff get a
summary built from the row's status and attempts, and the platform's own refusal of a menu
only when it is our menu check naming the items (``not sent, ...``), which is theirs to fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from starlette.requests import Request

from api.state import services
from db import outbox, platforms
from db.queries import Conn, Row

STATUSES = ("pending", "in_flight", "failed", "dead", "synced")
_BASE_LABELS = {"convex": "the kitchen screens (Convex)", "petpooja": "PetPooja", "webhook": "the restaurant's webhook"}
_OWN_MENU_CHECK = "not sent, "  # sync/platform/target.py: our check refused the menu, naming the items


def target_labels(request: Request) -> dict[str, str]:
    """People's names for targets: the base ones and each platform adapter's label (its
    ``_orders`` target too)."""
    labels = dict(_BASE_LABELS)
    for platform, adapter in services(request).platforms.items():
        labels[platform], labels[f"{platform}_orders"] = f"{adapter.label} (menu)", f"{adapter.label} (orders)"
    return labels


def queue_counts(rows: Iterable[Row]) -> dict[str, dict[str, float | int | None]]:
    """outbox.status_for_restaurant's rows as counts by status per target (Convex always listed)."""
    targets: dict[str, dict[str, float | int | None]] = {"convex": {}}
    for row in rows:
        targets.setdefault(row["target"], {})[row["status"]] = row["n"]
        if row["oldest_s"] is not None:
            current = targets[row["target"]].get("oldest_pending_seconds") or 0
            targets[row["target"]]["oldest_pending_seconds"] = max(float(current), round(float(row["oldest_s"]), 3))
    return {target: {**_idle(), **counts} for target, counts in targets.items()}


def _idle() -> dict[str, float | int | None]:
    return {**dict.fromkeys(STATUSES, 0), "oldest_pending_seconds": None}


def summary(label: str, status: str, attempts: int, *, resolved: bool = False,
            platform_error: str | None = None) -> str | None:
    """A short account of a row for people without access to raw errors; None when nothing is wrong."""
    if platform_error is not None and platform_error.startswith(_OWN_MENU_CHECK) and status in ("failed", "dead"):
        return f"{label}: {platform_error}"[:300]
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if resolved:
        return f"not delivered to {label}: resolved by hand by an operator"
    if status == "failed":
        return f"not delivered to {label} yet: retrying after {tries}"
    if status == "dead":
        return f"not delivered to {label}: gave up after {tries}; operators have it in their error queue"
    return None


def _menu(row: Row, label: str, *, raw: bool) -> dict[str, Any]:
    """A platform store's menu state (the seed service's SYNCED | FAILED | PENDING)."""
    status = str(row["sync_status"]).upper()
    error = row["last_error"] if raw else (
        summary(label, "failed", int(row["retry_count"]), platform_error=row["last_error"])
        if status == "FAILED" else None)
    return {"state": status, "store_id": row["store_id"], "last_sync": row["last_sync_at"],
            "item_count": row["item_count"], "external_menu_id": row["external_menu_id"], "error": error,
            "retry_count": row["retry_count"]}


async def restaurant_integrations(conn: Conn, restaurant_id: UUID, labels: Mapping[str, str], *,
                                  raw: bool) -> dict[str, Any]:
    """Every target of the restaurant in one place: connected or not, its queue, and for a
    delivery platform's menu target the store's menu state. ``raw``: errors as recorded
    (operators), else summaries (owners)."""
    queues = queue_counts(await outbox.status_for_restaurant(conn, restaurant_id))
    stores = {row["platform"]: row for row in await platforms.connections(conn, restaurant_id)}
    targets: dict[str, Any] = {}
    for target in await outbox.targets_of(conn, restaurant_id):
        name = target["name"]
        state: dict[str, Any] = {"connected": target["connected"], "queue": queues.get(name) or _idle(), "menu": None}
        if name in stores:
            state["menu"] = _menu(stores[name], labels.get(name, name), raw=raw)
        targets[name] = state
    return {"restaurant_id": restaurant_id, "targets": targets}


def order_integrations(rows: Iterable[Mapping[str, Any]], labels: Mapping[str, str]) -> dict[str, Any]:
    """get_order_with_integrations' ``integrations`` by target: delivered or not, the row's
    status (skipped: settled without sending; resolved: settled by hand), the order's id there
    and a summary of what went wrong."""
    shaped = {}
    for row in rows:
        status = "skipped" if row["skipped"] else "resolved" if row["resolved"] else row["status"]
        shaped[row["target"]] = {
            "delivered": status == "synced", "status": status, "external_id": row["external_id"],
            "error": summary(labels.get(row["target"], row["target"]), row["status"], row["attempts"],
                             resolved=row["resolved"]),
        }
    return shaped


def error_summary(row: Row, labels: Mapping[str, str]) -> dict[str, Any]:
    """An error-list row as an owner sees it: no raw error, no partner's answer, no menu snapshot."""
    resolved = row["resolution"] is not None
    return {
        "id": row["id"], "target": row["target"], "entity_type": row["entity_type"], "entity_id": row["entity_id"],
        "status": "resolved" if resolved else row["status"], "attempts": row["attempts"],
        "summary": summary(labels.get(row["target"], row["target"]), row["status"], row["attempts"],
                           resolved=resolved, platform_error=row["platform_error"]),
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }
