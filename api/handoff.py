"""The API's one hand-off to sync: after a commit, tell the pusher which entities changed.
Never awaits the push; without Convex configured it does nothing (the outbox rows wait for
the worker or a later configuration).

A write whose triggers change other entities too (a relabelled table re-pushes its orders,
a renamed category its items, a menu import or a PetPooja callback whatever it touched)
reads, before it commits, every entity its transaction queued (``queued_in``) and hands
all of them over, so derived changes reach the screens as fast as the write itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from starlette.requests import Request

from api.state import services
from db import outbox
from db.outbox import EntityKey
from db.queries import Conn

CONVEX = "convex"


def after_commit(request: Request, entity_type: str, entity_id: UUID) -> None:
    hand_off(request, [EntityKey(entity_type, entity_id)])


def hand_off(request: Request, keys: Iterable[EntityKey]) -> None:
    pusher = services(request).pusher
    if pusher is not None:
        pusher.notify(keys)


async def queued_in(conn: Conn, restaurant_id: UUID) -> list[EntityKey]:
    """Every entity this (still open) transaction queued for Convex in the restaurant."""
    return await outbox.pending_keys_of_transaction(conn, restaurant_id, CONVEX)
