"""The outbox target of every delivery platform: a restaurant's menu published to its store
there, and the platform's orders made ours and accepted (or denied) back. What differs per
platform is its adapter (sync/platform/adapter.py); this loop is written once.

Each platform has two targets (db.platforms.targets): its menus, whose grace period is the
debounce window so a burst of edits is claimed together and a round publishes each
restaurant once, whatever number of its rows it claimed; and its orders, taken at once.

``deliver`` publishes one restaurant at a time in a transaction that holds its
``platform_connections`` row (FOR UPDATE), reading the menu under that lock: two workers
never publish one store at once, and the later publish always carries the later menu.

An order (a ``platform_order`` row, written when the platform's webhook named it) is handled
in a transaction holding its ``platform_orders`` row: fetched (or read as the webhook
carried it), mapped to our menu (sync/platform/orders.py), created as our order (the same
statement as our own orders), then accepted back; an order we cannot make is denied back
with the reason, naming the items. Each step is recorded before the next, so a retry after
a failed accept only accepts (the order is never created twice).

Menu outcomes:
* accepted: the menu recorded as published (status synced, item count, the platform's
  menu id): delivered;
* a menu the platform would refuse (check_menu) or refused (4xx): retried up to the attempt
  limit, then dead, the problem recorded on the connection and the row for the operator;
* 429: retried after the platform's Retry-After; 5xx, network, timeout: retried with backoff;
* credentials the platform refuses: retried (the owner can reconnect), recorded;
* the restaurant no longer connected: skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from uuid import UUID

import structlog

from db import menu, orders, platforms
from db.credentials import CredentialBox, CredentialsUnreadable
from db.pool import Database
from db.queries import Conn, Row
from sync.outcome import Delivered, GiveUp, Outcome, Retry, Skip
from sync.platform.adapter import PlatformAdapter
from sync.platform.http import PartnerAnswer, PartnerAuthRefused, PartnerUnreachable
from sync.platform.orders import Refused, item_ids, map_cart
from sync.target import Job, Policy

log = structlog.get_logger("sync")

# Jobs of one round delivered at once, each holding a database connection while it waits on the
# platform (the worker's pool holds 8, shared by every target).
PARALLEL = 4
# One step of taking an order, on its locked row and its store: an outcome, or None to go on.
OrderStep = Callable[[Conn, UUID, Row, platforms.Store], Awaitable[Outcome | None]]
# What a job does: ("menu", restaurant, restaurant) publishes the menu, ("order", restaurant,
# platform order) takes an order.
Work = tuple[str, UUID, UUID]


def _failed(error: str, answer: PartnerAnswer) -> Outcome:
    if answer.status == 429:
        return Retry(error, after_s=answer.retry_after_s)
    return Retry(error, limited=400 <= answer.status < 500)


class PlatformTarget:
    """Serves either of a platform's targets: its menus (debounced) and its orders (at once);
    ``prepare`` tells the rows apart."""

    def __init__(self, db: Database, adapter: PlatformAdapter, box: CredentialBox, *, policy: Policy, name: str):
        self.db, self.adapter, self.box, self.policy, self.name = db, adapter, box, policy, name
        self.platform = adapter.platform

    async def prepare(self, conn: Conn, rows: list[Row]) -> list[Job[Work]]:
        """A job per platform order, and one per restaurant for its menu rows: every claimed
        menu row of a restaurant settles with one publish."""
        menus: dict[UUID, list[Row]] = {}
        jobs: list[Job[Work]] = []
        for row in rows:
            if row["entity_type"] == "platform_order":
                jobs.append(Job([row], ("order", row["restaurant_id"], row["entity_id"])))
            else:
                menus.setdefault(row["restaurant_id"], []).append(row)
        return [*jobs, *(Job(group, ("menu", rid, rid)) for rid, group in menus.items())]

    async def deliver(self, jobs: list[Job[Work]]) -> list[Outcome]:
        """The round's jobs, PARALLEL at a time, each in its own transaction: they are
        different entities (an order, a restaurant's menu), and each waits on the platform."""
        gate = asyncio.Semaphore(PARALLEL)

        async def one(job: Job[Work]) -> Outcome:
            kind, restaurant_id, entity_id = job.payload
            async with gate:
                structlog.contextvars.bind_contextvars(platform=self.platform)
                if kind == "order":
                    return await self._take_order(restaurant_id, entity_id)
                async with self.db.system() as conn:
                    return await self._publish(conn, restaurant_id)

        return list(await asyncio.gather(*(one(job) for job in jobs)))

    async def _store(self, conn: Conn, restaurant_id: UUID, *, lock: bool = True) -> platforms.Store | Outcome:
        try:
            store = await platforms.locked(conn, self.box, restaurant_id, self.platform, lock=lock)
        except CredentialsUnreadable as exc:
            return Retry(f"the store's {self.adapter.label} credentials do not open with this process's key: {exc}")
        return Skip(f"the restaurant is no longer connected to {self.adapter.label}") if store is None else store

    # -- orders in ----------------------------------------------------------------------

    async def _take_order(self, restaurant_id: UUID, platform_order_id: UUID) -> Outcome:
        """Takes the order if not yet taken (ours created, then accepted back), then tells the
        platform our order's status if it moved since the platform was last told. Ours is
        committed before the platform is answered: creating it holds the restaurant's order
        number until commit, and that must not wait on the platform."""
        try:
            async with self.db.system() as conn:
                made = await self._locked_order(conn, restaurant_id, platform_order_id, self._make)
            if made is not None:
                return made
            async with self.db.system() as conn:
                answered = await self._locked_order(conn, restaurant_id, platform_order_id, self._answer)
        except (PartnerUnreachable, PartnerAuthRefused) as exc:
            return Retry(str(exc))
        assert answered is not None
        return answered

    async def _locked_order(self, conn: Conn, restaurant_id: UUID, platform_order_id: UUID,
                            step: OrderStep) -> Outcome | None:
        """``step`` on the platform order, locked, with its store; an outcome when the order is
        settled without it (gone, denied, cancelled, the store disconnected)."""
        row = await platforms.lock_order(conn, restaurant_id, platform_order_id)
        if row is None:
            return Skip("the platform order no longer exists")
        if row["state"] in ("denied", "cancelled"):
            return Delivered(row["state"])
        store = await self._store(conn, restaurant_id, lock=False)
        if isinstance(store, Skip):
            return GiveUp(f"{store.reason}: the order cannot be taken")
        if not isinstance(store, platforms.Store):
            return store
        return await step(conn, restaurant_id, row, store)

    async def _make(self, conn: Conn, restaurant_id: UUID, row: Row, store: platforms.Store) -> Outcome | None:
        """Our order for the platform's (None: made, or made before), or the order denied back."""
        if row["state"] != "received" or row["order_id"] is not None:
            return None
        fetched = await self.adapter.fetch_order(store, row["external_id"], row["platform_order"])
        if not fetched.ok:
            return _failed(f"the order could not be read: HTTP {fetched.status}: {fetched.excerpt}", fetched)
        created = await self._create(conn, restaurant_id, row["id"], fetched.body)
        if isinstance(created, Refused):
            return await self._deny(conn, restaurant_id, row["id"], store, row["external_id"], created, fetched.body)
        return None

    async def _answer(self, conn: Conn, restaurant_id: UUID, row: Row, store: platforms.Store) -> Outcome:
        """Accepts our order back if not yet accepted, then sends its status if it moved."""
        if row["state"] == "received":
            answer = await self.adapter.accept(store, row["external_id"], row["order_id"], row["platform_order"])
            if not answer.ok and answer.status != 409:  # 409: the platform has it decided already
                error = f"accept: HTTP {answer.status}: {answer.excerpt}"
                await platforms.record_order(conn, restaurant_id, row["id"], state="received", error=error)
                return _failed(error, answer)
            await platforms.record_order(conn, restaurant_id, row["id"], state="accepted", error=None)
            log.info("platform_order_accepted", restaurant_id=str(restaurant_id), order_id=str(row["order_id"]))
        return await self._send_status(conn, restaurant_id, row, store)

    async def _send_status(self, conn: Conn, restaurant_id: UUID, row: Row, store: platforms.Store) -> Outcome:
        status = row["order_status"]
        if status is None or status == row["status_sent"]:
            return Delivered("accepted")
        answer = await self.adapter.send_status(store, row["external_id"], status, row["platform_order"])
        if answer is not None and not answer.ok and answer.status != 409:
            error = f"status {status}: HTTP {answer.status}: {answer.excerpt}"
            await platforms.record_order(conn, restaurant_id, row["id"], state="accepted", error=error)
            return _failed(error, answer)
        await platforms.record_status_sent(conn, restaurant_id, row["id"], status)
        log.info("platform_order_status_sent", restaurant_id=str(restaurant_id), status=status,
                 sent=answer is not None)
        return Delivered(f"status {status}" if answer is not None else f"status {status}: nothing to send")

    async def _create(self, conn: Conn, restaurant_id: UUID, platform_order_id: UUID, order: Any) -> UUID | Refused:
        """Our order for the platform's, recorded on the platform order; Refused when we cannot make it."""
        cart = self.adapter.cart(order)
        menu_prices = await orders.menu_prices(conn, restaurant_id, item_ids(cart))
        mapped = map_cart(cart, menu_prices.items, currency=menu_prices.currency,
                          tax_rate_bps=menu_prices.tax_rate_bps)
        if isinstance(mapped, Refused):
            return mapped
        created = await orders.create_from_platform(
            conn, restaurant_id=restaurant_id, lines=mapped.lines, totals=mapped.totals,
            currency=menu_prices.currency, order_type=mapped.order_type, customer_name=mapped.customer_name,
            customer_phone=mapped.customer_phone, notes=mapped.notes, actor_type=self.platform)
        order_id: UUID = created["id"]
        await platforms.record_order(conn, restaurant_id, platform_order_id, state="received", order_id=order_id,
                                     platform_order=order, platform_total=mapped.platform_total,
                                     totals_differ=mapped.totals_differ)
        return order_id

    async def _deny(self, conn: Conn, restaurant_id: UUID, platform_order_id: UUID, store: platforms.Store,
                    external_id: str, refused: Refused, order: Any) -> Outcome:
        answer = await self.adapter.deny(store, external_id, refused, order)
        if not answer.ok and answer.status != 409:
            await platforms.record_order(conn, restaurant_id, platform_order_id, state="received",
                                         error=refused.summary)
            return _failed(f"deny: HTTP {answer.status}: {answer.excerpt}", answer)
        await platforms.record_order(conn, restaurant_id, platform_order_id, state="denied", error=refused.summary)
        log.warning("platform_order_denied", restaurant_id=str(restaurant_id), reason=refused.explanation,
                    items=refused.invalid_items + refused.out_of_stock_items)
        return Delivered("denied")

    # -- menus out ----------------------------------------------------------------------

    async def _publish(self, conn: Conn, restaurant_id: UUID) -> Outcome:
        store = await self._store(conn, restaurant_id)
        if not isinstance(store, platforms.Store):
            return store
        label = self.adapter.label
        categories = await menu.full_menu(conn, restaurant_id)
        problems = self.adapter.check_menu(categories)
        if problems:
            error = "; ".join(f"{p.item_name}: {p.field}: {p.message}" for p in problems[:5])
            await platforms.record_publish(conn, restaurant_id, self.platform, ok=False, response=None,
                                           menu={"not_sent": [asdict(p) for p in problems]},
                                           error=f"not sent, {label} would refuse it: {error}")
            return Retry(f"menu not sent, {label} would refuse it: {error}", limited=True)
        payload = self.adapter.format_menu(categories)
        try:
            published = await self.adapter.publish(store, payload)
        except PartnerUnreachable as exc:
            log.warning("platform_publish_unreachable", restaurant_id=str(restaurant_id), error=str(exc))
            return Retry(str(exc))
        except PartnerAuthRefused as exc:
            await platforms.record_publish(conn, restaurant_id, self.platform, ok=False, response=None,
                                           menu=payload, error=str(exc))
            return Retry(str(exc), limited=True)
        answer = published.answer
        if answer.ok:
            count = self.adapter.item_count(payload)
            await platforms.record_publish(conn, restaurant_id, self.platform, ok=True, response=answer.body,
                                           menu=payload, item_count=count,
                                           external_menu_id=published.external_menu_id)
            log.info("platform_menu_published", restaurant_id=str(restaurant_id), items=count)
            return Delivered()
        error = f"{label} answered HTTP {answer.status}: {answer.excerpt}"
        await platforms.record_publish(conn, restaurant_id, self.platform, ok=False, response=answer.body,
                                       menu=payload, error=error, external_menu_id=published.external_menu_id)
        log.warning("platform_publish_failed", restaurant_id=str(restaurant_id), status=answer.status)
        if answer.status >= 500:
            return Retry(error)
        return _failed(error, answer)

    async def probe(self) -> bool | None:
        return None  # no side-effect-free call: rows back off one by one

    async def close(self) -> None:
        await self.adapter.close()


def platform_targets(db: Database, adapter: PlatformAdapter, box: CredentialBox, *, lease_s: float,
                     backoff: Any, debounce_s: float) -> list[PlatformTarget]:
    """A platform's menu and order targets, sharing one adapter (one HTTP pool, one token cache)."""
    menus, orders_ = platforms.targets(adapter.platform)
    # A round of menus publishes each restaurant once for all its rows; orders go one by one,
    # each holding a database connection while it waits on the platform: small rounds.
    return [
        PlatformTarget(db, adapter, box, name=menus,
                       policy=Policy(batch_size=500, lease_s=lease_s, backoff=backoff, grace_s=debounce_s)),
        PlatformTarget(db, adapter, box, name=orders_, policy=Policy(batch_size=10, lease_s=lease_s, backoff=backoff)),
    ]
