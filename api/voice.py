"""The tools a Vapi assistant calls while a customer orders by phone (docs/voice.md):
``search_menu``, ``quote_order``, ``place_order`` and ``order_status``.

Each tool answers one short sentence the assistant can say (``Answer.say``), or a problem it
can ask the caller about (``Answer.error``): an item no name matches, a name several items
match, an unavailable item, an argument out of bounds. Such an answer writes nothing.

Orders go through the API's own order path (db/orders.py ``context`` then ``create``), priced
by the server from the menu, as takeaway orders of the actor ``voice``. ``place_order`` needs
the ``quote_id`` that ``quote_order`` gave for the very same order, so the caller has heard
the total (the server's) before anything is placed. The order's Idempotency key is made of the
call and the order itself: Vapi retrying a tool call, or the assistant asking to place the
same order twice in one call, returns the first order and places nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from rapidfuzz import fuzz, process, utils

from api.models import Name, Phone, ShortText, SingleLine, Whole
from api.routes.menu import menu_answer
from api.routes.orders import PICKUP_HORIZON, PICKUP_STEP, pickup_time
from api.state import Services
from db import orders, restaurants, voice
from db.errors import Conflict, DomainError, Unprocessable
from db.pricing import InvalidChoices, LineRequest, price_order
from db.queries import Row
from sync.petpooja.payload import money

# Scores (rapidfuzz token_set_ratio, 0-100) of a spoken name against the menu's: at least
# CANDIDATE to be offered back at all, at least SURE (and CLEAR ahead of the next) to be taken.
CANDIDATE, SURE, CLEAR = 60.0, 85.0, 10.0
MAX_CHOICES = 3
MAX_PICKUP_MINUTES = int((PICKUP_HORIZON - PICKUP_STEP).total_seconds() // 60)
# Why the call's orders are keyed by call: uuid5 of the call id in this namespace is the actor id.
_CALL_NAMESPACE = UUID("3b0f6a52-7c55-4b8e-9a57-1f4c2f0d9e61")
_CURRENCY_WORDS = {"INR": "rupees", "USD": "dollars", "EUR": "euros", "GBP": "pounds", "AUD": "Australian dollars",
                   "CAD": "Canadian dollars", "AED": "dirhams", "SGD": "Singapore dollars"}


# ---------------------------------------------------------------- the tools' arguments


class ToolArgs(BaseModel):
    # strict: a quantity is a number, not "2". Arguments a model adds beyond the schema are ignored.
    model_config = ConfigDict(extra="ignore", strict=True)


SpokenText = Annotated[SingleLine, Field(min_length=1, max_length=100)]


class SearchMenu(ToolArgs):
    query: SpokenText


class Line(ToolArgs):
    name: SpokenText | None = None
    item_id: UUID | None = None
    quantity: Annotated[int, Field(ge=1, le=99), Whole]
    notes: ShortText | None = None

    @model_validator(mode="after")
    def _named(self) -> Line:
        if self.name is None and self.item_id is None:
            raise ValueError("each item needs its name (or item_id)")
        return self


class OrderRequest(ToolArgs):
    items: Annotated[list[Line], Field(min_length=1, max_length=20)]
    customer_name: Name
    customer_phone: Phone | None = None
    # Minutes from now (0: as soon as possible, no pickup time); rounded up to the kitchen's 5-minute
    # steps (api/routes/orders.py), which must stay within its horizon.
    pickup_in_minutes: Annotated[int, Field(ge=0, le=MAX_PICKUP_MINUTES), Whole] | None = None


class PlaceOrder(OrderRequest):
    quote_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class OrderStatus(ToolArgs):
    order_id: UUID | None = None
    order_number: Annotated[int, Field(ge=1, le=2**31 - 1), Whole] | None = None


# ---------------------------------------------------------------- answers


@dataclass(frozen=True)
class Answer:
    """What a tool answers: ``say`` (the result) or ``error`` (the caller is asked again), and
    data for the client (Vapi's ``metadata``)."""

    say: str | None = None
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Refused(Exception):
    """A tool's spoken refusal (the caller is asked again; nothing was written), not a failure of ours."""

    def __init__(self, error: str, **data: Any):
        super().__init__(error)
        self.error = error
        self.data = data


@dataclass(frozen=True)
class Call:
    """The Vapi call a tool runs in: its id, and the caller's number when Vapi knows it."""

    id: str
    caller_phone: str | None

    @property
    def actor(self) -> orders.Actor:
        return orders.Actor("voice", uuid5(_CALL_NAMESPACE, self.id))


def spoken_money(minor: int, currency: str) -> str:
    words = _CURRENCY_WORDS.get(currency.upper())
    amount = money(minor, currency)
    return f"{amount} {words}" if words else f"{amount} {currency.upper()}"


def args_error(exc: ValidationError) -> str:
    """A tool's invalid arguments, said so the assistant can ask for what is missing."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        problems.append(f"{where}: {err['msg']}")
    return "Invalid arguments (" + "; ".join(problems) + ")."


# ---------------------------------------------------------------- matching spoken names


@dataclass(frozen=True)
class MenuItem:
    id: UUID
    name: str
    price: int
    available: bool
    needs_choice: bool  # variations or a required addon group: voice ordering cannot choose them


def menu_items(document: dict[str, Any]) -> list[MenuItem]:
    return [
        MenuItem(i["id"] if isinstance(i["id"], UUID) else UUID(str(i["id"])), i["name"], i["price"],
                 i["is_available"] and "takeaway" in i["order_types"],
                 bool(i["variations"]) or any(g["min_select"] > 0 for g in i["addon_groups"]))
        for c in document["categories"] for i in c["items"]
    ]


def _key(text: str) -> str:
    return utils.default_process(unicodedata.normalize("NFKC", text))


@dataclass(frozen=True)
class Match:
    item: MenuItem | None  # the one item meant
    choices: tuple[MenuItem, ...] = ()  # several (or one uncertain) candidates to ask about


def match(query: str, items: Sequence[MenuItem]) -> Match:
    """The item a spoken name means: an exact name, or one clearly best fuzzy match; otherwise
    the candidates to ask about (none: nothing on the menu sounds like it)."""
    wanted = _key(query)
    exact = [i for i in items if _key(i.name) == wanted]
    if len(exact) == 1:
        return Match(exact[0])
    scored = process.extract(wanted, {n: _key(i.name) for n, i in enumerate(items)}, scorer=fuzz.token_set_ratio,
                             processor=None, limit=MAX_CHOICES + 1, score_cutoff=CANDIDATE)
    ranked = [(items[n], score) for _, score, n in scored]
    if not ranked:
        return Match(None)
    best, top = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if top >= SURE and top - runner_up >= CLEAR:
        return Match(best)
    return Match(None, tuple(item for item, _ in ranked[:MAX_CHOICES]))


def _names(items: Sequence[MenuItem], currency: str | None = None) -> str:
    said = [f"{i.name} ({spoken_money(i.price, currency)})" if currency else i.name for i in items]
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " or " + said[-1]


# ---------------------------------------------------------------- the tools


class Tools:
    """The tools of one restaurant for one call."""

    def __init__(self, svc: Services, restaurant: Row, call: Call, secret: str):
        self.svc = svc
        self.restaurant = restaurant
        self.rid: UUID = restaurant["id"]
        self.currency: str = restaurant["currency"]
        self.call = call
        self._secret = secret.encode()

    async def _menu(self) -> list[MenuItem]:
        async with self.svc.db.tenant(self.rid) as conn:
            current = await self.svc.menu_cache.menu(conn, self.rid, menu_answer)
        return menu_items(current.document)

    async def search_menu(self, args: SearchMenu) -> Answer:
        found = match(args.query, await self._menu())
        if found.item is not None:
            item = found.item
            if not item.available:
                return Answer(error=f"{item.name} is not available right now.",
                              data={"item_id": str(item.id), "available": False})
            say = f"{item.name}, {spoken_money(item.price, self.currency)}."
            if item.needs_choice:
                say += " It comes with choices I cannot take by phone yet."
            return Answer(say=say, data={"item_id": str(item.id), "name": item.name, "price": item.price,
                                         "currency": self.currency})
        if found.choices:
            available = [i for i in found.choices if i.available]
            if not available:
                return Answer(error=f"{_names(found.choices)} is not available right now.")
            return Answer(error=f"Which one: {_names(available, self.currency)}?",
                          data={"choices": [{"item_id": str(i.id), "name": i.name} for i in available]})
        return Answer(error=f"Nothing on the menu sounds like \"{args.query}\".")

    async def _resolve(self, request: OrderRequest) -> list[LineRequest]:
        """The order's lines by item id; Refused (nothing placed) for a name that is not one item."""
        items = await self._menu()
        by_id = {i.id: i for i in items}
        lines = []
        for line in request.items:
            if line.item_id is not None:
                item = by_id.get(line.item_id)
                if item is None:  # another restaurant's, deleted, or made up: all the same to the caller
                    raise Refused("One of the items is not on this restaurant's menu; search for it by name.")
            else:
                assert line.name is not None
                found = match(line.name, items)
                if found.item is None:
                    if found.choices:
                        raise Refused(f"For \"{line.name}\", which one: {_names(found.choices)}?",
                                      choices=[{"item_id": str(i.id), "name": i.name} for i in found.choices])
                    raise Refused(f"Nothing on the menu sounds like \"{line.name}\".")
                item = found.item
            if not item.available:
                raise Refused(f"{item.name} is not available right now.")
            lines.append(LineRequest(item.id, line.quantity, line.notes, None, ()))
        return lines

    def _canonical(self, lines: Sequence[LineRequest], request: OrderRequest) -> bytes:
        """The order as resolved, in one canonical form: what the quote id and the Idempotency key cover."""
        return orjson.dumps({
            "lines": [[str(line.menu_item_id), line.quantity, line.notes] for line in lines],
            "customer_name": request.customer_name, "customer_phone": self._phone(request),
            "pickup_in_minutes": request.pickup_in_minutes,
        }, option=orjson.OPT_SORT_KEYS)

    def _quote_id(self, canonical: bytes) -> str:
        return hmac.new(self._secret, b"quote\0" + self.call.id.encode() + b"\0" + canonical,
                        hashlib.sha256).hexdigest()[:16]

    def _phone(self, request: OrderRequest) -> str | None:
        return request.customer_phone or self.call.caller_phone

    def _pickup(self, request: OrderRequest) -> datetime | None:
        if not request.pickup_in_minutes:
            return None
        return pickup_time(datetime.now(UTC) + timedelta(minutes=request.pickup_in_minutes))

    def _summary(self, lines: Sequence[LineRequest], names: dict[UUID, str]) -> str:
        said = [f"{line.quantity} {names[line.menu_item_id]}" for line in lines]
        return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]

    async def quote_order(self, request: OrderRequest) -> Answer:
        """The order priced by the server (the order path's pricing, nothing written) and the
        quote id place_order needs."""
        lines = await self._resolve(request)
        async with self.svc.db.tenant(self.rid) as conn:
            prices = await orders.menu_prices(conn, self.rid, [line.menu_item_id for line in lines])
        gone = [line for line in lines if line.menu_item_id not in prices.items
                or not prices.items[line.menu_item_id].available]
        if gone:  # taken off the menu since it was read (the menu document is a moment older)
            raise Refused("One of the items has just become unavailable; search the menu again.")
        try:
            priced, totals = price_order(lines, prices.items, tax_rate_bps=prices.tax_rate_bps, tip=0)
        except InvalidChoices as exc:
            raise Refused(f"{prices.items[lines[exc.problems[0].line].menu_item_id].name} comes with choices "
                          "I cannot take by phone yet.") from exc
        quote_id = self._quote_id(self._canonical(lines, request))
        summary = self._summary(lines, {i: p.name for i, p in prices.items.items()})
        pickup = self._pickup(request)
        verb = "come" if len(lines) > 1 or lines[0].quantity > 1 else "comes"
        say = (f"{summary} {verb} to {spoken_money(totals.total, prices.currency)} including tax"
               + (f", for pickup at {self._local_time(pickup)}" if pickup else "")
               + f". Shall I place the order? (quote_id {quote_id}: for place_order, not to be read out)")
        return Answer(say=say, data={"quote_id": quote_id, "subtotal": totals.subtotal, "tax": totals.tax,
                                     "total": totals.total, "currency": prices.currency,
                                     "lines": [{"name": p.name, "quantity": p.quantity, "line_total": p.line_total}
                                               for p in priced]})

    async def place_order(self, request: PlaceOrder) -> tuple[Answer, orders.Created]:
        """Places the quoted order through the order path (or returns the one already placed)."""
        lines = await self._resolve(request)
        canonical = self._canonical(lines, request)
        if not hmac.compare_digest(self._quote_id(canonical), request.quote_id):
            raise Refused("That is not the order I quoted: quote the order first (quote_order), read the total "
                          "to the caller, then place it with the quote_id.")
        key = "vapi:" + hashlib.sha256(self.call.id.encode() + b"\0" + canonical).hexdigest()
        idempotency = orders.Idempotency(key, hashlib.sha256(canonical).digest())
        pickup_at = self._pickup(request)
        new = orders.NewOrder(lines=lines, order_type="takeaway", customer_name=request.customer_name,
                              customer_phone=self._phone(request), pickup_at=pickup_at)
        try:
            async with self.svc.db.statements() as conn:
                context = await orders.context(conn, restaurant_id=self.rid, session_id=None, user_id=None, key=key,
                                               item_ids=[line.menu_item_id for line in lines], pickup_at=pickup_at)
                created = await orders.create(conn, restaurant_id=self.rid, new=new, actor=self.call.actor,
                                              idempotency=idempotency, context=context)
        except (Unprocessable, Conflict) as exc:
            raise Refused(_order_refusal(exc), code=exc.code) from exc
        order = created.order
        async with self.svc.db.tenant(self.rid) as conn:
            await voice.link_order(conn, self.rid, order["id"], call_id=self.call.id,
                                   caller_phone=self.call.caller_phone)
        say = (f"Order number {order['number']} is placed: {spoken_money(order['total'], order['currency'])} "
               "to pay at pickup"
               + (f", ready at {self._local_time(order['pickup_at'])}" if order["pickup_at"] else "") + ".")
        return Answer(say=say, data={"order_id": str(order["id"]), "number": order["number"],
                                     "total": order["total"], "currency": order["currency"],
                                     "replayed": created.replayed}), created

    async def order_status(self, args: OrderStatus) -> Answer:
        """The status of this caller's orders at this restaurant: this call's, or this number's
        from the last day. Any other order is unknown here, whatever its id."""
        async with self.svc.db.tenant(self.rid) as conn:
            rows = await voice.caller_orders(conn, self.rid, call_id=self.call.id,
                                             caller_phone=self.call.caller_phone)
        if args.order_id is not None:
            rows = [r for r in rows if r["id"] == args.order_id]
        elif args.order_number is not None:
            rows = [r for r in rows if r["number"] == args.order_number]
        if not rows:
            return Answer(error="I cannot find an order placed from this call or this phone number.")
        said = []
        for row in rows[:2]:
            line = f"Order number {row['number']} {row['phrase']}"
            if row["pickup_at"] and row["status"] not in ("completed", "cancelled", "rejected"):
                line += f", pickup at {self._local_time(row['pickup_at'])}"
            said.append(line + ".")
        return Answer(say=" ".join(said), data={"orders": [
            {"order_id": str(r["id"]), "number": r["number"], "status": r["status"]} for r in rows]})

    def _local_time(self, at: datetime | None) -> str:
        if at is None:
            return ""
        local = at.astimezone(ZoneInfo(self.restaurant["timezone"]))
        today = local.date() == datetime.now(local.tzinfo).date()
        return local.strftime("%H:%M") if today else local.strftime("%A %H:%M")


def _order_refusal(exc: DomainError) -> str:
    """What the order path refused, said to a caller."""
    spoken = {
        "store_closed": "The restaurant is not taking orders right now.",
        "closed": "The restaurant is closed right now.",
        "pickup_closed": "The restaurant is closed at that pickup time.",
        "pickup_in_past": "That pickup time has passed.",
        "order_too_large": "That order is too large to take by phone.",
    }
    return spoken.get(exc.code, re.sub(r"\s+", " ", exc.detail).strip().capitalize().rstrip(".") + ".")


async def restaurant_of(svc: Services, restaurant_id: UUID) -> Row:
    """The restaurant a server URL names: NotFound (404) when there is none."""
    async with svc.db.tenant(restaurant_id) as conn:
        return await restaurants.get(conn, restaurant_id)

