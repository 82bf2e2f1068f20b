"""Postgres rows -> Convex changes for ``sync:applyBatch``.

Numbers are sent as floats because Convex's ``v.number()`` is a float64 (the value encoder
turns Python ints into int64, which those fields refuse); money stays exact well past any
bill. Times are epoch milliseconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from db.queries import Row

CONVEX_TABLE = {"order": "orders", "menu_item": "menuItems", "table": "tables", "reservation": "reservations",
                "notification": "notifications"}


def _ms(value: datetime | str) -> float:
    # A row's timestamps are datetimes; an entity's state claimed as JSON (the pusher's claim)
    # has them as Postgres writes them in JSON (ISO 8601 with offset, microseconds): the same instant.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.timestamp() * 1000.0


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def order_doc(row: Row) -> dict[str, Any]:
    return {
        "number": float(row["number"]), "tableId": _str(row["table_id"]), "tableLabel": row["table_label"],
        "status": row["status"], "orderType": row["order_type"],
        "items": [
            {"pgId": str(i["id"]), "menuItemId": str(i["menu_item_id"]), "name": i["name"],
             "unitPrice": float(i["unit_price"]), "quantity": float(i["quantity"]),
             "lineTotal": float(i["line_total"]), "notes": i["notes"],
             # Kitchen screens show "Large + Extra cheese": the choices as they were ordered.
             "variationName": i["variation_name"],
             "addons": [{"pgId": str(a["id"]), "name": a["name"], "groupName": a["group_name"],
                         "price": float(a["price"])} for a in i["addons"]]}
            for i in row["items"]
        ],
        "subtotal": float(row["subtotal"]), "tax": float(row["tax"]), "tip": float(row["tip"]),
        "discount": float(row["discount"]), "total": float(row["total"]), "currency": row["currency"],
        "customerName": row["customer_name"], "notes": row["notes"],
        "createdAt": _ms(row["created_at"]), "updatedAt": _ms(row["updated_at"]),
        # The guest session that placed it: a guest's Convex token reads its own session's orders
        # (orders:forGuestSession); staff screens never show it.
        "sessionId": _str(row.get("session_id")),
        # Why it moved to its status, as the latest order_events row says (NULL: no reason given).
        "statusReason": row.get("status_reason"),
        "pickupAt": None if row.get("pickup_at") is None else _ms(row["pickup_at"]),
        "paymentStatus": row.get("payment_status", "unpaid"),
        # A delivery order's address as the geocoder understood it, and its fee: what the pass and
        # the rider need. None and 0 for every other order.
        "deliveryAddress": (row.get("delivery") or {}).get("formatted_address"),
        "deliveryFee": float(row.get("delivery_fee") or 0),
    }


def menu_item_doc(row: Row) -> dict[str, Any]:
    return {
        "categoryId": str(row["category_id"]), "categoryName": row["category_name"], "name": row["name"],
        "description": row["description"], "price": float(row["price"]), "isAvailable": row["is_available"],
        "rank": float(row["rank"]),
    }


def table_doc(row: Row) -> dict[str, Any]:
    return {"label": row["label"], "seats": None if row["seats"] is None else float(row["seats"]),
            "isActive": row["is_active"]}


def reservation_doc(row: Row) -> dict[str, Any]:
    return {
        "slotStart": _ms(row["slot_start"]), "localDate": str(row["local_date"]), "timezone": row["timezone"],
        "partySize": float(row["party_size"]), "status": row["status"], "userId": _str(row["user_id"]),
        "guestName": row["guest_name"], "guestPhone": row["guest_phone"],
        "tablePreference": row["table_preference"], "note": row["note"],
        "createdAt": _ms(row["created_at"]), "updatedAt": _ms(row["updated_at"]),
    }


def notification_doc(row: Row) -> dict[str, Any]:
    return {
        "userId": _str(row["user_id"]), "sessionId": _str(row["session_id"]), "type": row["type"],
        "title": row["title"], "message": row["message"], "referenceType": row["reference_type"],
        "referenceId": str(row["reference_id"]), "status": row["status"],
        "readAt": None if row["read_at"] is None else _ms(row["read_at"]), "createdAt": _ms(row["created_at"]),
    }


_DOC = {"order": order_doc, "menu_item": menu_item_doc, "table": table_doc, "reservation": reservation_doc,
        "notification": notification_doc}


def change(entity_type: str, outbox_row: Row, current: Row | None) -> dict[str, Any]:
    """The change that brings Convex to the entity's current state.

    A row gone from Postgres (or a soft-deleted menu item) becomes a delete, versioned one
    above the last state so that it outranks every earlier upsert.
    """
    base = {"entity": CONVEX_TABLE[entity_type], "pgId": str(outbox_row["entity_id"]),
            "restaurantId": str(outbox_row["restaurant_id"])}
    if current is None:
        return {**base, "op": "delete", "version": float(outbox_row["entity_version"])}
    if current.get("deleted_at") is not None:
        return {**base, "op": "delete", "version": float(current["version"])}
    return {**base, "op": "upsert", "version": float(current["version"]), "doc": _DOC[entity_type](current)}
