"""Orders: creation (priced from the menu, idempotent), reads, and status moves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from uuid import UUID

import orjson

from db import lifecycle
from db import queries as q
from db.errors import Conflict, NotFound, Unprocessable
from db.pool import trace_context
from db.pricing import (
    MAX_AMOUNT,
    Addon,
    AddonGroup,
    InvalidChoices,
    ItemTax,
    LineRequest,
    MenuPrice,
    PricedLine,
    Totals,
    Variation,
    price_order,
)
from db.queries import Conn, Row

ALL_NIL_UUID = UUID(int=(1 << 128) - 1)
# Members of the public: the store switch and opening hours apply to them (staff may still take an order).
PUBLIC_ACTORS = frozenset({"guest", "voice"})


@dataclass(frozen=True)
class Actor:
    # A platform: its cancellation. "voice": a caller on the phone (api/routes/voice.py), id their call's.
    kind: Literal["user", "guest", "system", "ubereats", "doordash", "grubhub", "voice"]
    id: UUID | None

    @property
    def principal(self) -> str:
        """The identity an Idempotency-Key is bound to."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Moved:
    order: Row
    from_status: str


@dataclass(frozen=True)
class NewOrder:
    lines: list[LineRequest]
    order_type: str
    table_id: UUID | None = None
    session_id: UUID | None = None
    customer_name: str | None = None
    customer_phone: str | None = None
    notes: str | None = None
    tip: int = 0
    pickup_at: datetime | None = None  # a takeaway order's pickup time
    reservation_id: UUID | None = None  # a reservation's pre-order ...
    fire_at: datetime | None = None  # ... held from every outbox target until then
    payment_method: str = "counter"  # online (Stripe), cash or counter (docs/payments.md)
    delivery: DeliveryTo | None = None  # a delivery order's address, judged against the zone


@dataclass(frozen=True)
class DeliveryTo:
    """Where a delivery order goes: the address as given (line1, line2, city, postcode,
    instructions), where the geocoder put it, its distance from the restaurant and the fee of
    its band (added to the total). Stored as the order's ``delivery`` document."""

    address: Mapping[str, str | None]
    formatted_address: str
    lat: float
    lng: float
    distance_m: int
    fee: int
    place_id: str = ""
    location_type: str = ""
    partial_match: bool = False

    def document(self) -> str:
        return orjson.dumps({
            "address": dict(self.address), "formatted_address": self.formatted_address, "lat": self.lat,
            "lng": self.lng, "distance_m": self.distance_m, "place_id": self.place_id,
            "location_type": self.location_type, "partial_match": self.partial_match,
        }).decode()


@dataclass(frozen=True)
class Idempotency:
    key: str
    request_hash: bytes


@dataclass(frozen=True)
class Created:
    order: Row
    replayed: bool = False


async def context(
    conn: Conn, *, restaurant_id: UUID, session_id: UUID | None, user_id: UUID | None,
    key: str | None, item_ids: Sequence[UUID], pickup_at: datetime | None = None, delivery: bool = False,
) -> list[Row]:
    """Everything needed to judge and price an order, in one statement that writes nothing
    (order_context in schema.sql): the caller's entry (as enter_restaurant answers it), the
    earlier use of its Idempotency-Key ``key``, whether opening hours have the restaurant open
    at ``pickup_at``, for a ``delivery`` order the restaurant's zone (``delivery_zone``, None when
    none is set), and the named items' pricing rows."""
    return await q.all(
        conn, "order_context", restaurant_id=restaurant_id, trace_context=trace_context(), session_id=session_id,
        user_id=user_id, key=key, item_ids=list(set(item_ids)), pickup_at=pickup_at, delivery=delivery,
    )


async def create(
    conn: Conn, *, restaurant_id: UUID, new: NewOrder, actor: Actor, idempotency: Idempotency | None,
    context: list[Row],
) -> Created:
    """Creates an order from its ``context()``, or returns the one its key created.

    Prices, tax and totals come from the menu in the database. An unknown, deleted,
    unavailable or other-restaurant item, or a variation or addons the item does not
    allow, is Unprocessable; a guest's order while the store is switched off, or outside its
    opening hours, is a Conflict.
    Nothing is written then (not even the key). The order is written by one statement, its
    own transaction (place_order in schema.sql), so ``conn`` is in autocommit: under
    read-committed isolation, reading the menu in the statement before is what reading it
    earlier in the same transaction was (no lock was taken on it).
    """
    head = context[0]
    if idempotency is not None and head["key_principal"] is not None:
        return await _replay(conn, restaurant_id, actor, idempotency)
    if head["currency"] is None:
        raise NotFound("restaurant not found")
    if actor.kind in PUBLIC_ACTORS and head["store_closed"]:
        raise Conflict(
            "the restaurant is not taking orders right now" + (f": {head['closed_reason']}"
                                                                 if head["closed_reason"] else ""),
            code="store_closed", extra={"reason": head["closed_reason"], "reopens_at": head["reopens_at"]},
        )
    if actor.kind in PUBLIC_ACTORS and head["outside_hours"]:
        # Staff may still take an order outside opening hours (a call before opening); the public may not.
        opens_at = head["opens_at"]
        raise Conflict(
            "the restaurant is closed now" + (f"; it opens at {opens_at.isoformat()}" if opens_at else ""),
            code="closed", extra={"opens_at": opens_at},
        )
    if new.pickup_at is not None and head["pickup_closed"]:
        # Staff included: a pickup time is a promise to the customer, whoever typed it.
        opens_at = head["pickup_opens_at"]
        raise Conflict(
            "the restaurant is closed at that pickup time"
            + (f"; it next opens at {opens_at.isoformat()}" if opens_at else ""),
            code="pickup_closed", extra={"opens_at": opens_at},
        )
    found = {row["id"]: row for row in context if row["id"] is not None}
    problems = [
        {"loc": ["body", "items", i, "menu_item_id"], "msg": "unknown menu item", "code": "unknown_menu_item"}
        for i, line in enumerate(new.lines) if line.menu_item_id not in found
    ]
    if problems:
        raise Unprocessable("some items are not on this restaurant's menu", code="unknown_menu_item",
                            extra={"errors": problems})
    unavailable = [
        {"loc": ["body", "items", i, "menu_item_id"], "msg": f"{found[line.menu_item_id]['name']} is unavailable",
         "code": "menu_item_unavailable"}
        for i, line in enumerate(new.lines) if not found[line.menu_item_id]["is_available"]
    ]
    if unavailable:
        raise Unprocessable("some items are unavailable right now", code="menu_item_unavailable",
                            extra={"errors": unavailable})
    # PetPooja says which order types an item is sold for (a delivery-only item at a table, say).
    not_offered = [
        {"loc": ["body", "items", i, "menu_item_id"], "code": "order_type_not_offered",
         "msg": f"{found[line.menu_item_id]['name']} is not offered for {new.order_type.replace('_', ' ')}"}
        for i, line in enumerate(new.lines) if new.order_type not in found[line.menu_item_id]["order_types"]
    ]
    if not_offered:
        raise Unprocessable(f"some items are not offered for {new.order_type.replace('_', ' ')}",
                            code="order_type_not_offered", extra={"errors": not_offered})

    menu = {i: _menu_price(row) for i, row in found.items()}
    try:
        lines, totals = price_order(new.lines, menu, tax_rate_bps=head["tax_rate_bps"], tip=new.tip,
                                    delivery_fee=new.delivery.fee if new.delivery is not None else 0)
    except InvalidChoices as exc:
        first = exc.problems[0]
        raise Unprocessable(
            f"item {first.line + 1}: {first.msg}" + (f" (and {len(exc.problems) - 1} more problems)"
                                                     if len(exc.problems) > 1 else ""),
            code=first.code,
            extra={"errors": [{"loc": p.loc, "msg": p.msg, "code": p.code} for p in exc.problems]},
        ) from exc
    if max(totals.subtotal, totals.total) > MAX_AMOUNT:
        # Only an imported menu gets here (prices, addons and taxes each within bounds, many of them at
        # once): refuse before a JavaScript client or Convex loses units, and long before bigint overflows.
        raise Unprocessable(f"the order comes to more than {MAX_AMOUNT} minor units; split it",
                            code="order_too_large")
    order = await q.maybe_one(
        conn, "place_order",
        restaurant_id=restaurant_id, trace_context=trace_context(),
        key=idempotency.key if idempotency is not None else None,
        principal=actor.principal, request_hash=idempotency.request_hash if idempotency is not None else None,
        table_id=new.table_id, session_id=new.session_id, placed_by_user=actor.id if actor.kind == "user" else None,
        order_type=new.order_type, customer_name=new.customer_name, customer_phone=new.customer_phone,
        notes=new.notes, currency=head["currency"], subtotal=totals.subtotal, tax=totals.tax,
        tip=totals.tip, discount=totals.discount, total=totals.total,
        lines=_lines_json(lines),
        actor_type=actor.kind, actor_id=actor.id, pickup_at=new.pickup_at, reservation_id=new.reservation_id,
        fire_at=new.fire_at, payment_method=new.payment_method,
        delivery=new.delivery.document() if new.delivery is not None else None, delivery_fee=totals.delivery_fee,
    )
    if order is None:
        # A concurrent request with the same key committed first (place_order waited for it).
        assert idempotency is not None
        return await _replay(conn, restaurant_id, actor, idempotency)
    return Created(order)


@dataclass(frozen=True)
class MenuPrices:
    """The restaurant's currency and tax rate, and the live items an order names as pricing's
    input (unavailable ones included, with ``MenuPrice.available`` false), by id."""

    currency: str
    tax_rate_bps: int
    items: dict[UUID, MenuPrice]


async def menu_prices(conn: Conn, restaurant_id: UUID, item_ids: Sequence[UUID]) -> MenuPrices:
    """What an order from elsewhere (a delivery platform) is checked against: order_menu, the
    read our own orders are priced from."""
    rows = await q.all(conn, "order_menu", restaurant_id=restaurant_id, item_ids=list(set(item_ids)))
    return MenuPrices(rows[0]["currency"], rows[0]["tax_rate_bps"], {
        row["id"]: replace(_menu_price(row), available=row["is_available"]) for row in rows if row["id"] is not None})


async def create_from_platform(
    conn: Conn, *, restaurant_id: UUID, lines: list[PricedLine], totals: Totals, currency: str, order_type: str,
    customer_name: str | None, customer_phone: str | None, notes: str | None, actor_type: str,
) -> Row:
    """Writes an order a platform placed and charged (its lines and totals as the platform priced
    them) through the same statement as our own orders (place_order), without an
    Idempotency-Key: the platform order's row, locked by the caller, says whether it exists."""
    row = await q.maybe_one(
        conn, "place_order", restaurant_id=restaurant_id, trace_context=trace_context(), key=None,
        principal=f"{actor_type}:", request_hash=None, table_id=None, session_id=None, placed_by_user=None,
        order_type=order_type, customer_name=customer_name, customer_phone=customer_phone, notes=notes,
        currency=currency, subtotal=totals.subtotal, tax=totals.tax, tip=totals.tip, discount=totals.discount,
        total=totals.total, lines=_lines_json(lines), actor_type=actor_type, actor_id=None, pickup_at=None,
        reservation_id=None, fire_at=None, payment_method="counter", delivery=None, delivery_fee=0,
    )
    assert row is not None  # without a key place_order always writes
    return row


def _menu_price(row: Row) -> MenuPrice:
    """An order_menu row (its options arrive as JSON, so ids as strings) as pricing's input."""
    return MenuPrice(
        name=row["name"], price=row["price"],
        variations=tuple(Variation(UUID(v["id"]), v["name"], v["price"], v["is_available"])
                         for v in row["variations"]),
        addon_groups=tuple(
            AddonGroup(UUID(g["id"]), g["name"], g["min_select"], g["max_select"], tuple(
                Addon(UUID(a["id"]), a["name"], a["price"], a["is_available"], a["external_id"])
                for a in g["addons"]), g["external_id"])
            for g in row["addon_groups"]
        ),
        taxes=tuple(ItemTax(UUID(t["id"]), t["name"], t["rate_bps"], t["external_id"]) for t in row["taxes"]),
        imported=row["imported"],
    )


def _lines_json(lines: list[PricedLine]) -> str:
    """The priced lines as place_order's ``p_lines`` (one JSON array, read by jsonb_to_recordset)."""
    return orjson.dumps([
        {"position": n, "menu_item_id": line.menu_item_id, "name": line.name, "unit_price": line.unit_price,
         "quantity": line.quantity, "line_total": line.line_total, "notes": line.notes,
         "variation_id": line.variation_id, "variation_name": line.variation_name,
         "addons": [{"id": a.id, "external_id": a.external_id, "group_id": a.group_id,
                     "group_external_id": a.group_external_id, "group_name": a.group_name, "name": a.name,
                     "price": a.price} for a in line.addons],
         "taxes": [{"id": t.id, "external_id": t.external_id, "name": t.name, "rate_bps": t.rate_bps,
                    "amount": t.amount} for t in line.taxes]}
        for n, line in enumerate(lines, start=1)
    ]).decode()


async def _replay(conn: Conn, restaurant_id: UUID, actor: Actor, idempotency: Idempotency) -> Created:
    """The order an earlier request with this key created, if it was this caller's same request."""
    async with conn.transaction():
        await q.run(conn, "set_tenant", restaurant_id=restaurant_id, trace_context=trace_context())
        earlier = await q.one(conn, "get_idempotency_key", restaurant_id=restaurant_id, key=idempotency.key)
        if earlier["principal"] != actor.principal or earlier["request_hash"] != idempotency.request_hash:
            raise Conflict(
                "this Idempotency-Key was already used for a different request", code="idempotency_key_reused"
            )
        return Created(await get(conn, restaurant_id, earlier["order_id"]), replayed=True)


async def get(conn: Conn, restaurant_id: UUID, order_id: UUID) -> Row:
    row = await q.maybe_one(conn, "get_order", restaurant_id=restaurant_id, order_id=order_id)
    if row is None:
        raise NotFound("order not found")
    return row


async def get_with_integrations(conn: Conn, restaurant_id: UUID, order_id: UUID) -> Row:
    """The order with ``integrations``: per target it went to, its newest outbox row's target,
    status, attempts, skipped, resolved and the order's id there (one statement: the order
    read is on the measured path)."""
    row = await q.maybe_one(conn, "get_order_with_integrations", restaurant_id=restaurant_id, order_id=order_id)
    if row is None:
        raise NotFound("order not found")
    return row


async def get_for_guest(conn: Conn, restaurant_id: UUID, order_id: UUID, session_id: UUID) -> Row:
    """A guest sees only the orders its own session placed; others are simply not found."""
    row = await get(conn, restaurant_id, order_id)
    if row["session_id"] != session_id:
        raise NotFound("order not found")
    return row


async def list_page(
    conn: Conn,
    restaurant_id: UUID,
    *,
    statuses: Sequence[str] | None,
    since: datetime | None,
    cursor: tuple[datetime, UUID] | None,
    limit: int,
) -> list[Row]:
    params = {
        "restaurant_id": restaurant_id,
        "since": since or "-infinity",
        "cursor_created_at": cursor[0] if cursor else "infinity",
        "cursor_id": cursor[1] if cursor else ALL_NIL_UUID,
        "limit": limit,
    }
    if statuses:
        return await q.all(conn, "list_orders_by_status", statuses=list(statuses), **params)
    return await q.all(conn, "list_orders", **params)


async def move(
    conn: Conn,
    *,
    restaurant_id: UUID,
    order_id: UUID,
    target: str,
    actor: Actor,
    reason: str | None,
    guest_session: UUID | None = None,
) -> Moved:
    """Moves an order to ``target`` if the lifecycle allows it for this actor; returns the
    order as it is now and the status it left.

    The order row is locked first, so of two concurrent moves the second sees the first's
    result and is judged against it.
    """
    row = await q.maybe_one(conn, "order_for_update", restaurant_id=restaurant_id, order_id=order_id)
    if row is None or (guest_session is not None and row["session_id"] != guest_session):
        raise NotFound("order not found")
    lifecycle.check_move(row["order_type"], row["status"], target, "guest" if guest_session else "staff")
    await q.run(conn, "set_order_status", restaurant_id=restaurant_id, order_id=order_id, status=target)
    await _record_event(conn, restaurant_id, order_id, row["status"], target, actor, reason)
    if row["payment_hold"] and target in ("cancelled", "rejected"):
        # Never paid, so never shown to the kitchen or the POS: nothing to tell them now either.
        await q.run(conn, "skip_payment_held_outbox", restaurant_id=restaurant_id, order_id=order_id)
    return Moved(await get(conn, restaurant_id, order_id), row["status"])


async def events(conn: Conn, restaurant_id: UUID, order_id: UUID) -> list[Row]:
    return await q.all(conn, "order_events", restaurant_id=restaurant_id, order_id=order_id)


async def timeline(
    conn: Conn, restaurant_id: UUID, order_id: UUID, *, guest_session: UUID | None = None,
) -> tuple[str, list[Row]]:
    """The order's status and its history with who moved it; a guest session reads only its
    own orders' (another's, like a missing one, is not found)."""
    order = await q.maybe_one(conn, "order_status_and_session", restaurant_id=restaurant_id, order_id=order_id)
    if order is None or (guest_session is not None and order["session_id"] != guest_session):
        raise NotFound("order not found")
    status: str = order["status"]
    return status, await q.all(conn, "order_timeline", restaurant_id=restaurant_id, order_id=order_id)


async def _record_event(
    conn: Conn, restaurant_id: UUID, order_id: UUID, from_status: str | None, to_status: str,
    actor: Actor, reason: str | None,
) -> None:
    await q.run(
        conn, "insert_order_event", restaurant_id=restaurant_id, order_id=order_id,
        from_status=from_status, to_status=to_status, actor_type=actor.kind, actor_id=actor.id, reason=reason,
    )


async def fire_pre_order(conn: Conn, restaurant_id: UUID, reservation_id: UUID, *,
                         table_id: UUID | None = None) -> list[UUID]:
    """Fires a reservation's held pre-order now (its outbox rows come due in the caller's
    transaction), served at ``table_id`` if given (another restaurant's: Unprocessable
    unknown_table); the ids of what changed."""
    rows = await q.all(conn, "fire_pre_order", restaurant_id=restaurant_id, reservation_id=reservation_id,
                       table_id=table_id)
    return [row["id"] for row in rows]


async def cancel_pre_order(conn: Conn, restaurant_id: UUID, reservation_id: UUID, *, actor: Actor,
                           reason: str | None) -> list[UUID]:
    """Cancels a reservation's pre-order while it is pending or confirmed; if it had not fired,
    no target ever hears of it (its held outbox rows are recorded as skipped)."""
    rows = await q.all(conn, "cancel_pre_order", restaurant_id=restaurant_id, reservation_id=reservation_id,
                       actor_type=actor.kind, actor_id=actor.id, reason=reason)
    ids = [row["id"] for row in rows]
    if ids:
        await q.run(conn, "skip_held_outbox", restaurant_id=restaurant_id, order_ids=ids)
    return ids


async def pre_order_of(conn: Conn, restaurant_id: UUID, reservation_id: UUID) -> Row | None:
    return await q.maybe_one(conn, "pre_order_of_reservation", restaurant_id=restaurant_id,
                             reservation_id=reservation_id)
