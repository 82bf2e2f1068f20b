"""A restaurant's PetPooja outlet: its mapping code, environment, sealed credentials and
the secret that identifies the restaurant in PetPooja's callback URLs."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from db import outbox
from db import queries as q
from db.credentials import CredentialBox
from db.queries import Conn, Row

Environment = Literal["sandbox", "production"]
PURPOSE = "petpooja"
TARGET = "petpooja"


@dataclass(frozen=True)
class Credentials:
    app_key: str
    app_secret: str
    access_token: str

    def __repr__(self) -> str:
        # Never printed, whatever logs or tracebacks reach for.
        return "Credentials(<sealed>)"


@dataclass(frozen=True)
class Outlet:
    rest_id: str
    environment: Environment
    credentials: Credentials


async def connect(
    conn: Conn, box: CredentialBox, *, restaurant_id: UUID, rest_id: str, environment: Environment,
    credentials: Credentials,
) -> Row:
    """Stores (or replaces) the outlet; returns it without credentials, callback_secret included."""
    sealed = box.seal(PURPOSE, restaurant_id, {
        "app_key": credentials.app_key, "app_secret": credentials.app_secret,
        "access_token": credentials.access_token,
    })
    await outbox.enable_target(conn, restaurant_id, TARGET)
    return await q.one(
        conn, "upsert_petpooja_outlet", restaurant_id=restaurant_id, rest_id=rest_id, environment=environment,
        credentials=sealed, key_id=box.key_id, callback_secret=secrets.token_urlsafe(32),
    )


async def get(conn: Conn, restaurant_id: UUID) -> Row | None:
    """The outlet without credentials, or None when the restaurant is not connected."""
    return await q.maybe_one(conn, "get_petpooja_outlet", restaurant_id=restaurant_id)


async def outlet(conn: Conn, box: CredentialBox, restaurant_id: UUID) -> Outlet | None:
    """The outlet with its credentials opened (for calls to PetPooja); CredentialsUnreadable when they do not open."""
    row = await q.maybe_one(conn, "get_petpooja_credentials", restaurant_id=restaurant_id)
    if row is None:
        return None
    values = box.open(PURPOSE, restaurant_id, bytes(row["credentials"]), row["key_id"])
    return Outlet(row["rest_id"], row["environment"], Credentials(
        values["app_key"], values["app_secret"], values["access_token"]))


async def disconnect(conn: Conn, restaurant_id: UUID) -> bool:
    """Forgets the outlet; False when there was none."""
    await outbox.disable_target(conn, restaurant_id, TARGET)
    return await q.run(conn, "delete_petpooja_outlet", restaurant_id=restaurant_id) > 0


async def track(conn: Conn, order_ids: Sequence[UUID]) -> None:
    """Starts PetPooja's record of these orders unless they were cancelled first."""
    await q.run(conn, "track_petpooja_orders", ids=list(order_ids))


async def orders_for_push(conn: Conn, order_ids: Sequence[UUID]) -> dict[UUID, Row]:
    """What the PetPooja worker needs of each order, by id (absent: the order was deleted)."""
    return {row["id"]: row for row in await q.all(conn, "petpooja_orders_for_push", ids=list(order_ids))}


async def freeze_payload(conn: Conn, restaurant_id: UUID, order_id: UUID, payload: Mapping[str, Any]) -> Any:
    """Stores the save_order body unless one is frozen already; returns the frozen one."""
    row = await q.maybe_one(conn, "freeze_petpooja_payload", restaurant_id=restaurant_id, order_id=order_id,
                            payload=Jsonb(payload))
    return None if row is None else row["payload"]


async def lock_order(conn: Conn, restaurant_id: UUID, order_id: UUID) -> bool:
    """Locks the order's PetPooja row until the transaction ends; False when another holds it."""
    return await q.maybe_one(conn, "lock_petpooja_order", restaurant_id=restaurant_id, order_id=order_id) is not None


async def record_answer(conn: Conn, restaurant_id: UUID, order_id: UUID, *, response: Any, accepted: bool,
                        petpooja_order_id: str = "") -> None:
    await q.run(conn, "record_petpooja_answer", restaurant_id=restaurant_id, order_id=order_id,
                response=Jsonb(response), accepted=accepted, petpooja_order_id=petpooja_order_id)


async def record_cancel(conn: Conn, restaurant_id: UUID, order_id: UUID, *, response: Any, done: bool) -> None:
    await q.run(conn, "record_petpooja_cancel", restaurant_id=restaurant_id, order_id=order_id,
                response=Jsonb(response), done=done)
