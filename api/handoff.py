"""The API's one hand-off to sync: after a commit, tell the pusher which entities
changed. Never awaits anything; without Convex configured it does nothing (the outbox
rows wait for the worker or a later configuration)."""

from __future__ import annotations

from uuid import UUID

from starlette.requests import Request

from api.state import services
from db.outbox import EntityKey


def after_commit(request: Request, entity_type: str, entity_id: UUID) -> None:
    pusher = services(request).pusher
    if pusher is not None:
        pusher.notify([EntityKey(entity_type, entity_id)])
