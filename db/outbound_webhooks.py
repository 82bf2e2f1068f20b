"""A restaurant's own backend as a webhook: its URL and signing secret (sealed at rest with
the CredentialBox, purpose "webhook"), and the outbox queries of the ``webhook`` target.

Registering a webhook enables the ``webhook`` target for the restaurant (restaurant_targets),
so the ``enqueue_sync`` trigger writes a sync_log row with every new order and status change;
sync/webhook/ delivers them.
The plaintext secret leaves this module twice only: once to the API when it is issued
(creation or rotation), and to the worker that signs with it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from db import outbox
from db import queries as q
from db.credentials import CredentialBox
from db.queries import Conn, Row

PURPOSE = "webhook"
TARGET = "webhook"
SECRET_PREFIX = "whsec_"  # noqa: S105  # a label receivers recognise, not a secret


@dataclass(frozen=True)
class Registration:
    url: str
    created_at: datetime
    updated_at: datetime
    created: bool
    # Set when this call issued a new secret (creation or rotation); never readable again.
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Endpoint:
    """Where and with what one restaurant's deliveries are signed (the worker's view)."""

    restaurant_id: UUID
    url: str
    secret: str = field(repr=False)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def register(conn: Conn, box: CredentialBox, *, restaurant_id: UUID, url: str, rotate: bool) -> Registration:
    """Creates the webhook, or replaces its URL; a new secret is issued on creation or with ``rotate``
    (atomically: two concurrent first registrations cannot both believe their secret is the one stored)."""
    secret = new_secret()
    sealed = box.seal(PURPOSE, restaurant_id, {"secret": secret})
    await outbox.enable_target(conn, restaurant_id, TARGET)
    row = await q.maybe_one(conn, "upsert_restaurant_webhook", restaurant_id=restaurant_id, url=url, secret=sealed,
                            key_id=box.key_id, rotate=rotate)
    if row is None:
        # The same URL again without rotate: touch_updated_at skips a no-op update, so the
        # upsert returns nothing; the webhook stands as it was.
        kept = await q.one(conn, "get_restaurant_webhook", restaurant_id=restaurant_id)
        return Registration(kept["url"], kept["created_at"], kept["updated_at"], created=False)
    return Registration(row["url"], row["created_at"], row["updated_at"], row["created"],
                        secret if row["secret_issued"] else None)


async def get(conn: Conn, restaurant_id: UUID) -> Row | None:
    """url, created_at and updated_at, or None when the restaurant has no webhook."""
    return await q.maybe_one(conn, "get_restaurant_webhook", restaurant_id=restaurant_id)


async def delete(conn: Conn, restaurant_id: UUID) -> bool:
    await outbox.disable_target(conn, restaurant_id, TARGET)
    return await q.run(conn, "delete_restaurant_webhook", restaurant_id=restaurant_id) > 0


async def sealed_endpoints(conn: Conn, restaurant_ids: Iterable[UUID]) -> dict[UUID, Row]:
    """The webhooks of these restaurants with their secrets still sealed (system scope)."""
    rows = await q.all(conn, "webhook_endpoints", restaurant_ids=list(set(restaurant_ids)))
    return {row["restaurant_id"]: row for row in rows}


def open_endpoint(box: CredentialBox, row: Row) -> Endpoint:
    """The endpoint with its secret opened; CredentialsUnreadable when this key cannot open it."""
    values = box.open(PURPOSE, row["restaurant_id"], bytes(row["secret"]), row["key_id"])
    return Endpoint(row["restaurant_id"], row["url"], values["secret"])


async def latest_events(conn: Conn, keys: Iterable[tuple[UUID, UUID]]) -> dict[UUID, Row]:
    """The newest order_events row of each (restaurant_id, order_id), by order id."""
    keys = list(keys)
    rows = await q.all(conn, "latest_order_events", restaurant_ids=[r for r, _ in keys],
                       order_ids=[o for _, o in keys])
    return {row["order_id"]: row for row in rows}
