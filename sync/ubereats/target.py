"""The ``ubereats`` outbox target: a restaurant's menu published to its Uber Eats store, and
Uber Eats orders made ours and accepted (or denied) back.

Rows are menu items (routed as to Convex) and 'menu' rows (anything else the menu shows, a
connect, a full refresh: migration 0008). The target's grace period is the debounce window
(UBEREATS_DEBOUNCE_S), so a burst of edits is claimed together, and a round publishes each
restaurant once, whatever number of its rows it claimed.

``deliver`` publishes one restaurant at a time in a transaction that holds its
``platform_connections`` row (FOR UPDATE), reading the menu under that lock: two workers
never publish one store at once, and the later publish always carries the later menu. When
the menu differs from the one Uber last accepted only in which items are suspended, the
items are suspended or unsuspended one by one (Uber's sparse item update) instead of
uploading the whole menu.

An order (a ``platform_order`` row, written when Uber's webhook named it) is handled in a
transaction holding its ``platform_orders`` row: fetched from Uber, mapped to our menu
(sync/ubereats/orders.py), created as our order (the same statement as our own orders),
then accepted back; an order we cannot make is denied back with the reason, naming the
items. Each step is recorded before the next, so a retry after a failed accept only
accepts (the order is never created twice).

Menu outcomes (docs/ubereats.md):
* accepted: the menu recorded as published (status synced, item count): delivered;
* a menu Uber would refuse (check_menu) or refused (4xx): retried up to the attempt limit,
  then dead, the problem recorded on the connection and the row for the operator;
* 429: retried after Uber's Retry-After; 5xx, network, timeout: retried with backoff;
* credentials Uber refuses: retried (the owner can reconnect), recorded;
* the restaurant no longer connected: skipped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import structlog

from db import menu, orders, platforms
from db.credentials import CredentialBox, CredentialsUnreadable, worker_box
from db.pool import Database
from db.queries import Conn, Row
from sync.config import SyncSettings, UberEatsSettings, backoff_of, load_ubereats_settings
from sync.outcome import Delivered, GiveUp, Outcome, Retry, Skip
from sync.target import Job, Policy
from sync.ubereats.client import UberAnswer, UberAuthRefused, UberEatsClient, UberUnreachable
from sync.ubereats.menu_format import availability_diff, check_menu, item_suspension, uber_menu
from sync.ubereats.orders import Refused, item_ids, map_order

log = structlog.get_logger("sync")

TARGET: platforms.Platform = "ubereats"
# What a job does: ("menu", restaurant, restaurant) publishes the menu, ("order", restaurant,
# platform order) takes an order.
Work = tuple[str, UUID, UUID]


def _excerpt(answer: UberAnswer) -> str:
    return str(answer.body)[:300] if answer.body is not None else ""


class UberEatsTarget:
    """Serves either of the platform's targets: ``ubereats`` (menus, debounced) and
    ``ubereats_orders`` (orders, at once); ``prepare`` tells the rows apart."""

    def __init__(self, db: Database, client: UberEatsClient, box: CredentialBox, *, policy: Policy,
                 name: str = TARGET):
        self.db, self.client, self.box, self.policy, self.name = db, client, box, policy, name

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
        outcomes = []
        for job in jobs:
            kind, restaurant_id, entity_id = job.payload
            async with self.db.system() as conn:
                if kind == "order":
                    outcomes.append(await self._take_order(conn, restaurant_id, entity_id))
                else:
                    outcomes.append(await self._publish(conn, restaurant_id))
        return outcomes

    # -- orders in ----------------------------------------------------------------------

    async def _take_order(self, conn: Conn, restaurant_id: UUID, platform_order_id: UUID) -> Outcome:
        row = await platforms.lock_order(conn, restaurant_id, platform_order_id)
        if row is None:
            return Skip("the platform order no longer exists")
        if row["state"] != "received":
            return Delivered(row["state"])
        try:
            store = await platforms.locked(conn, self.box, restaurant_id, TARGET)
        except CredentialsUnreadable as exc:
            return Retry(f"the store's Uber Eats credentials do not open with this process's key: {exc}")
        if store is None:
            return GiveUp("the restaurant is no longer connected to Uber Eats: the order cannot be taken")
        external_id, order_id = row["external_id"], row["order_id"]
        try:
            if order_id is None:
                fetched = await self.client.get_order(store.credentials, external_id)
                if not fetched.ok:
                    return self._failed(f"GET order: HTTP {fetched.status}: {_excerpt(fetched)}", fetched)
                created = await self._create(conn, restaurant_id, platform_order_id, fetched.body)
                if isinstance(created, Refused):
                    return await self._deny(conn, restaurant_id, platform_order_id, store, external_id, created)
                order_id = created
            answer = await self.client.accept_order(store.credentials, external_id, {"reason": "accepted"})
        except (UberUnreachable, UberAuthRefused) as exc:
            return Retry(str(exc))
        if not answer.ok and answer.status != 409:  # 409: Uber has it decided already
            error = f"accept_pos_order: HTTP {answer.status}: {_excerpt(answer)}"
            await platforms.record_order(conn, restaurant_id, platform_order_id, state="received", error=error)
            return self._failed(error, answer)
        await platforms.record_order(conn, restaurant_id, platform_order_id, state="accepted", error=None)
        log.info("ubereats_order_accepted", restaurant_id=str(restaurant_id), order_id=str(order_id))
        return Delivered("accepted")

    async def _create(self, conn: Conn, restaurant_id: UUID, platform_order_id: UUID,
                      uber_order: Any) -> UUID | Refused:
        """Our order for Uber's, recorded on the platform order; Refused when we cannot make it."""
        if not isinstance(uber_order, dict):
            return Refused("the order could not be read", "OTHER", [], [])
        menu = await orders.menu_prices(conn, restaurant_id, item_ids(uber_order))
        mapped = map_order(uber_order, menu.items, currency=menu.currency, tax_rate_bps=menu.tax_rate_bps)
        if isinstance(mapped, Refused):
            return mapped
        created = await orders.create_from_platform(
            conn, restaurant_id=restaurant_id, lines=mapped.lines, totals=mapped.totals,
            currency=menu.currency, order_type=mapped.order_type, customer_name=mapped.customer_name,
            customer_phone=mapped.customer_phone, notes=mapped.notes, actor_type=TARGET)
        order_id: UUID = created["id"]
        await platforms.record_order(conn, restaurant_id, platform_order_id, state="received", order_id=order_id,
                                     platform_order=uber_order, platform_total=mapped.platform_total,
                                     totals_differ=mapped.totals_differ)
        return order_id

    async def _deny(self, conn: Conn, restaurant_id: UUID, platform_order_id: UUID, store: platforms.Store,
                    external_id: str, refused: Refused) -> Outcome:
        answer = await self.client.deny_order(store.credentials, external_id, refused.reason)
        error = f"denied: {refused.explanation}: {', '.join(refused.invalid_items + refused.out_of_stock_items)}"
        if not answer.ok and answer.status != 409:
            await platforms.record_order(conn, restaurant_id, platform_order_id, state="received", error=error)
            return self._failed(f"deny_pos_order: HTTP {answer.status}: {_excerpt(answer)}", answer)
        await platforms.record_order(conn, restaurant_id, platform_order_id, state="denied", error=error)
        log.warning("ubereats_order_denied", restaurant_id=str(restaurant_id), reason=refused.explanation,
                    items=refused.invalid_items + refused.out_of_stock_items)
        return Delivered("denied")

    @staticmethod
    def _failed(error: str, answer: UberAnswer) -> Outcome:
        if answer.status == 429:
            return Retry(error, after_s=answer.retry_after_s)
        return Retry(error, limited=400 <= answer.status < 500)

    # -- menus out ----------------------------------------------------------------------

    async def _publish(self, conn: Conn, restaurant_id: UUID) -> Outcome:
        try:
            store = await platforms.locked(conn, self.box, restaurant_id, TARGET)
        except CredentialsUnreadable as exc:
            return Retry(f"the store's Uber Eats credentials do not open with this process's key: {exc}")
        if store is None:
            return Skip("the restaurant is no longer connected to Uber Eats")
        categories = await menu.full_menu(conn, restaurant_id)
        problems = check_menu(categories)
        if problems:
            error = "; ".join(f"{p.item_name}: {p.field}: {p.message}" for p in problems[:5])
            await platforms.record_publish(conn, restaurant_id, TARGET, ok=False, response=None,
                                           error=f"not sent, Uber would refuse it: {error}")
            return Retry(f"menu not sent, Uber would refuse it: {error}", limited=True)
        payload = uber_menu(categories, menu_title="Menu")
        try:
            answer = await self._send(store, payload)
        except UberUnreachable as exc:
            log.warning("ubereats_publish_unreachable", restaurant_id=str(restaurant_id), error=str(exc))
            return Retry(str(exc))
        except UberAuthRefused as exc:
            await platforms.record_publish(conn, restaurant_id, TARGET, ok=False, response=None, error=str(exc))
            return Retry(str(exc), limited=True)
        if answer.ok:
            await platforms.record_publish(conn, restaurant_id, TARGET, ok=True, response=answer.body, menu=payload,
                                           item_count=len(payload["items"]))
            log.info("ubereats_menu_published", restaurant_id=str(restaurant_id), items=len(payload["items"]))
            return Delivered()
        error = f"Uber Eats answered HTTP {answer.status}: {_excerpt(answer)}"
        await platforms.record_publish(conn, restaurant_id, TARGET, ok=False, response=answer.body, error=error)
        log.warning("ubereats_publish_failed", restaurant_id=str(restaurant_id), status=answer.status)
        if answer.status == 429:
            return Retry(error, after_s=answer.retry_after_s)
        if answer.status >= 500:
            return Retry(error)
        return Retry(error, limited=True)

    async def _send(self, store: platforms.Store, payload: dict[str, Any]) -> UberAnswer:
        """Only suspensions changed since Uber last accepted a menu: those items one by one;
        anything else, or nothing at all (a full refresh): the whole menu."""
        changes = availability_diff(store.published_menu, payload)
        if not changes:
            return await self.client.upload_menu(store.credentials, store.store_id, payload)
        answer = UberAnswer(204, None)
        for item_id, suspended in changes:
            answer = await self.client.update_item(store.credentials, store.store_id, item_id,
                                                   item_suspension(suspended=suspended))
            if not answer.ok:
                return answer
        return answer

    async def probe(self) -> bool | None:
        return None  # no side-effect-free call: rows back off one by one

    async def close(self) -> None:
        await self.client.close()


def ubereats_targets(db: Database, settings: SyncSettings, environ: Mapping[str, str] | None = None,
                     ) -> list[UberEatsTarget]:
    """The menu and order targets, or none when stores' credentials cannot be opened here
    (production without the credentials key)."""
    env = os.environ if environ is None else environ
    box = worker_box(env)
    if box is None:
        log.warning("ubereats_target_disabled", reason="PETPOOJA_CREDENTIALS_KEY is not set")
        return []
    uber: UberEatsSettings = load_ubereats_settings(env)
    menus, orders_ = platforms.targets(TARGET)
    # A round of menus publishes each restaurant once for all its rows; orders go one by one,
    # each holding a database connection while it waits on Uber: small rounds.
    return [
        UberEatsTarget(db, UberEatsClient(uber.ubereats_api_url, uber.ubereats_auth_url,
                                          timeout_s=uber.ubereats_timeout_s), box, name=name, policy=policy)
        for name, policy in (
            (menus, Policy(batch_size=500, lease_s=settings.sync_lease_s, backoff=backoff_of(settings),
                           grace_s=uber.ubereats_debounce_s)),
            (orders_, Policy(batch_size=10, lease_s=settings.sync_lease_s, backoff=backoff_of(settings))),
        )
    ]
