"""A restaurant's stores on delivery platforms: the store id, sealed credentials, and the
state of its menu there (pending, synced, failed; what the platform last answered).

Credentials go in and never come out of this module unopened: rows read for the API carry
none; the worker opens them in the transaction that publishes (``locked``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from db import orders, outbox
from db import queries as q
from db.credentials import CredentialBox
from db.errors import Conflict, NotFound
from db.queries import Conn, Row

Platform = Literal["ubereats", "doordash", "grubhub"]
PLATFORMS: tuple[Platform, ...] = ("ubereats", "doordash", "grubhub")


def targets(platform: Platform) -> tuple[str, str]:
    """A platform's two outbox targets: its menus (debounced) and its orders (at once)."""
    return platform, f"{platform}_orders"


@dataclass(frozen=True)
class Credentials:
    """A store's credentials on its platform, by the platform's names for them (Uber Eats:
    client_id, client_secret; each platform's connect body says which)."""

    values: Mapping[str, str]

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def __repr__(self) -> str:
        # Never printed, whatever logs or tracebacks reach for.
        return "Credentials(<sealed>)"


@dataclass(frozen=True)
class Store:
    """A connected store as the worker publishes to it (locked until the transaction ends)."""

    store_id: str
    credentials: Credentials
    published_menu: dict[str, Any] | None
    external_menu_id: str | None = None


async def connect(conn: Conn, box: CredentialBox, *, restaurant_id: UUID, platform: Platform, store_id: str,
                  credentials: Credentials) -> Row:
    """Stores (or replaces) the store and queues a publish of the whole menu; returns the
    connection without credentials. Conflict when another restaurant holds the store (the
    platform's webhooks name the store, so it belongs to one restaurant)."""
    sealed = box.seal(platform, restaurant_id, dict(credentials.values))
    for target in targets(platform):
        await outbox.enable_target(conn, restaurant_id, target)
    try:
        row = await q.one(conn, "upsert_platform_connection", restaurant_id=restaurant_id, platform=platform,
                          store_id=store_id, credentials=sealed, key_id=box.key_id)
    except pg_errors.UniqueViolation:
        raise Conflict("this store is connected to another restaurant", code="store_taken") from None
    await full_refresh(conn, restaurant_id, platform)
    return row


async def full_refresh(conn: Conn, restaurant_id: UUID, platform: Platform) -> None:
    await q.run(conn, "enqueue_full_menu", restaurant_id=restaurant_id, target=platform)


Refresh = Literal["queued", "not_connected", "already_queued"]


async def refresh(conn: Conn, restaurant_id: UUID, platform: Platform, *, force: bool) -> Refresh:
    """A full refresh asked for by a person or a machine: queued, unless the restaurant has no
    store there, or (without ``force``) a publish of the whole menu already waits."""
    if await get(conn, restaurant_id, platform) is None:
        return "not_connected"
    queued = await q.one(conn, "full_menu_queued", restaurant_id=restaurant_id, target=platform)
    if queued["queued"] and not force:
        return "already_queued"
    await full_refresh(conn, restaurant_id, platform)
    return "queued"


async def connections(conn: Conn, restaurant_id: UUID) -> list[Row]:
    """Every store the restaurant connected, without credentials."""
    return await q.all(conn, "platform_connections_of_restaurant", restaurant_id=restaurant_id)


async def get(conn: Conn, restaurant_id: UUID, platform: Platform) -> Row | None:
    return await q.maybe_one(conn, "get_platform_connection", restaurant_id=restaurant_id, platform=platform)


async def disconnect(conn: Conn, restaurant_id: UUID, platform: Platform) -> bool:
    """Forgets the store; False when there was none. Rows already queued are skipped."""
    for target in targets(platform):
        await outbox.disable_target(conn, restaurant_id, target)
    return await q.run(conn, "delete_platform_connection", restaurant_id=restaurant_id, platform=platform) > 0


async def locked(conn: Conn, box: CredentialBox, restaurant_id: UUID, platform: Platform, *,
                 lock: bool = True) -> Store | None:
    """The store with its credentials opened, locked until the transaction ends (a publish:
    one at a time per store) unless ``lock`` is False (an order: orders of one store go side by
    side); None when the restaurant is no longer connected. CredentialsUnreadable when they do
    not open."""
    row = await q.maybe_one(conn, "lock_platform_connection" if lock else "read_platform_connection",
                            restaurant_id=restaurant_id, platform=platform)
    if row is None:
        return None
    values = box.open(platform, restaurant_id, bytes(row["credentials"]), row["key_id"])
    return Store(row["store_id"], Credentials(values), row["published_menu"], row["external_menu_id"])


async def store_by_id(conn: Conn, box: CredentialBox, platform: Platform, store_id: str,
                      ) -> tuple[UUID, Credentials] | None:
    """The restaurant holding the store and the store's credentials (opened), or None. Needs
    the system scope: a webhook names the store, not the restaurant."""
    row = await q.maybe_one(conn, "platform_store_by_id", platform=platform, store_id=store_id)
    if row is None:
        return None
    values = box.open(platform, row["restaurant_id"], bytes(row["credentials"]), row["key_id"])
    return row["restaurant_id"], Credentials(values)


async def record_event(conn: Conn, platform: Platform, event_id: str, event_type: str) -> bool:
    """Records a webhook event; False when it was recorded before (the platform retried it)."""
    return await q.maybe_one(conn, "record_webhook_event", platform=platform, event_id=event_id,
                             event_type=event_type) is not None


async def receive_order(conn: Conn, restaurant_id: UUID, platform: Platform, external_id: str,
                        order: Any = None) -> None:
    """An order the platform's webhook named (with the order itself, when the webhook carries
    it); its insert routes it to the platform's orders target. Named twice: one row."""
    await q.run(conn, "receive_platform_order", restaurant_id=restaurant_id, platform=platform,
                external_id=external_id, platform_order=Jsonb(order) if order is not None else None)


async def lock_order(conn: Conn, restaurant_id: UUID, platform_order_id: UUID) -> Row | None:
    return await q.maybe_one(conn, "lock_platform_order", restaurant_id=restaurant_id, id=platform_order_id)


async def record_order(conn: Conn, restaurant_id: UUID, platform_order_id: UUID, *, state: str,
                       order_id: UUID | None = None, platform_order: Any = None, platform_total: int | None = None,
                       totals_differ: bool | None = None, error: str | None = None) -> None:
    await q.run(conn, "record_platform_order", restaurant_id=restaurant_id, id=platform_order_id, state=state,
                order_id=order_id, platform_order=Jsonb(platform_order) if platform_order is not None else None,
                platform_total=platform_total, totals_differ=totals_differ, error=error)


async def record_publish(conn: Conn, restaurant_id: UUID, platform: Platform, *, ok: bool, response: Any,
                         menu: dict[str, Any] | None = None, item_count: int | None = None,
                         error: str | None = None, external_menu_id: str | None = None) -> None:
    """``menu``: what was published, or failed to be (kept for the operator's error queue);
    ``external_menu_id``: the platform's id for the menu, kept once given (failed or not)."""
    await q.run(conn, "record_platform_publish", restaurant_id=restaurant_id, platform=platform, ok=ok,
                response=Jsonb(response), published_menu=Jsonb(menu) if menu is not None else None,
                item_count=item_count, error=error, external_menu_id=external_menu_id)


async def record_menu_status(conn: Conn, restaurant_id: UUID, platform: Platform, *, menu_id: str | None,
                             error: str | None, of_job: str | None = None) -> None:
    """What the platform's asynchronous menu job came to: ``error`` None for a success. The
    platform's menu id is kept either way. ``of_job``: only if the store's last publish was
    that job (Grubhub's ingestion jobs: an older job's result must not mark a newer one)."""
    await q.run(conn, "record_platform_menu_status", restaurant_id=restaurant_id, platform=platform,
                menu_id=menu_id, error=error, of_job=of_job)


async def record_status_sent(conn: Conn, restaurant_id: UUID, platform_order_id: UUID, status: str) -> None:
    await q.run(conn, "record_platform_status_sent", restaurant_id=restaurant_id, id=platform_order_id, status=status)


async def cancelled_on_platform(conn: Conn, restaurant_id: UUID, platform: Platform, external_id: str,
                                reason: str | None) -> str:
    """The platform cancelled its order: the platform order is cancelled (recorded as told, so
    nothing is sent back) and our order with it, as the platform's act. Returns what became
    of it: 'cancelled' (ours too), 'not_taken' (ours not made yet: it never will be),
    'finished' (ours is past cancelling: completed, say; left as it is), 'unknown' (the id is
    another restaurant's order: nothing changes)."""
    row = await q.maybe_one(conn, "cancel_platform_order", restaurant_id=restaurant_id, platform=platform,
                            external_id=external_id)
    if row is None:
        return "unknown"
    if row["order_id"] is None:
        return "not_taken"
    try:
        await orders.move(conn, restaurant_id=restaurant_id, order_id=row["order_id"], target="cancelled",
                          actor=orders.Actor(platform, None),
                          reason=f"cancelled on {platform}: {reason}" if reason else f"cancelled on {platform}")
    except (Conflict, NotFound):
        return "finished"
    return "cancelled"
