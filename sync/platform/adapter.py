"""What a delivery platform implements for the one platform target (sync/platform/target.py):
its wire format and calls, nothing of the outbox. The target decides when to publish, locks
the store, records outcomes and turns answers into retries; an adapter only speaks its
platform.

A platform adds a package with an adapter (client, formatter, order parser) and a line in
``sync/registry.py``; it never copies the target's loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from db.platforms import Credentials, Platform, Store
from sync.platform.http import PartnerAnswer
from sync.platform.menu import Category, MenuProblem
from sync.platform.orders import Cart, Refused


@dataclass(frozen=True)
class Published:
    """What a publish came to: the platform's answer to the last call made, and the id the
    platform gave the menu (DoorDash's, needed to update it rather than create another)."""

    answer: PartnerAnswer
    external_menu_id: str | None = None


class PlatformAdapter(Protocol):
    platform: Platform
    label: str  # the platform's name for people: "Uber Eats"

    def check_menu(self, categories: Sequence[Category]) -> list[MenuProblem]:
        """What the platform would refuse (the shared checks plus its own limits)."""
        ...

    def format_menu(self, categories: Sequence[Category]) -> dict[str, Any]:
        """The payload of a full publish: what ``publish`` sends and ``published_menu`` keeps."""
        ...

    def item_count(self, payload: dict[str, Any]) -> int:
        ...

    async def publish(self, store: Store, payload: dict[str, Any]) -> Published:
        """Brings the store's menu to ``payload`` (the platform's cheapest way there: only
        the suspensions, say, when nothing else changed since ``store.published_menu``)."""
        ...

    async def check_credentials(self, store_id: str, credentials: Credentials) -> None:
        """Raises PartnerAuthRefused when the platform refuses them, PartnerUnreachable when it
        cannot say."""
        ...

    async def fetch_order(self, store: Store, external_id: str, received: Any) -> PartnerAnswer:
        """The platform's order: fetched (Uber sends only its id), or ``received`` as the
        webhook carried it (answered as a 200 without a call)."""
        ...

    def cart(self, order: Any) -> Cart:
        ...

    async def accept(self, store: Store, external_id: str, order_id: UUID, order: Any) -> PartnerAnswer:
        ...

    async def deny(self, store: Store, external_id: str, refused: Refused, order: Any) -> PartnerAnswer:
        ...

    async def send_status(self, store: Store, external_id: str, status: str, order: Any) -> PartnerAnswer | None:
        """Tells the platform our order (its order ``external_id``) moved to ``status`` (ours:
        confirmed, preparing, ready, dispatched, cancelled, ...); None when the platform has no
        call for that status (nothing is sent)."""
        ...

    async def close(self) -> None:
        ...
