"""Uber Eats as a platform adapter (sync/platform/adapter.py): the menu as Uber's full upload,
availability as its sparse item updates, and orders fetched, accepted and denied through
its order API. docs/ubereats.md has the formats and what is verified or assumed.

When the menu differs from the one Uber last accepted only in which items are suspended,
the items are suspended or unsuspended one by one (Uber's sparse item update) instead of
uploading the whole menu.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from db.platforms import Credentials, Platform, Store
from sync.config import load_ubereats_settings
from sync.platform.adapter import Published
from sync.platform.http import PartnerAnswer
from sync.platform.menu import Category, MenuProblem, check_menu
from sync.platform.orders import Cart, Refused
from sync.ubereats.client import UberEatsClient
from sync.ubereats.menu_format import availability_diff, item_suspension, uber_menu
from sync.ubereats.orders import deny_reason, uber_cart


class UberEatsAdapter:
    platform: Platform = "ubereats"
    label = "Uber Eats"

    def __init__(self, client: UberEatsClient):
        self.client = client

    def check_menu(self, categories: Sequence[Category]) -> list[MenuProblem]:
        return check_menu(categories)

    def format_menu(self, categories: Sequence[Category]) -> dict[str, Any]:
        return uber_menu(categories, menu_title="Menu")

    def item_count(self, payload: dict[str, Any]) -> int:
        return len(payload["items"])

    async def publish(self, store: Store, payload: dict[str, Any]) -> Published:
        """Only suspensions changed since Uber last accepted a menu: those items one by one;
        anything else, or nothing at all (a full refresh): the whole menu."""
        changes = availability_diff(store.published_menu, payload)
        if not changes:
            return Published(await self.client.upload_menu(store.credentials, store.store_id, payload))
        answer = PartnerAnswer(204, None)
        for item_id, suspended in changes:
            answer = await self.client.update_item(store.credentials, store.store_id, item_id,
                                                   item_suspension(suspended=suspended))
            if not answer.ok:
                break
        return Published(answer)

    async def check_credentials(self, store_id: str, credentials: Credentials) -> None:
        await self.client.token(credentials, fresh=True)

    async def fetch_order(self, store: Store, external_id: str, received: Any) -> PartnerAnswer:
        return await self.client.get_order(store.credentials, external_id)  # the webhook names it only

    def cart(self, order: Any) -> Cart:
        return uber_cart(order)

    async def accept(self, store: Store, external_id: str, order_id: UUID, order: Any) -> PartnerAnswer:
        return await self.client.accept_order(store.credentials, external_id,
                                              {"reason": "accepted", "external_reference_id": str(order_id)})

    async def deny(self, store: Store, external_id: str, refused: Refused, order: Any) -> PartnerAnswer:
        return await self.client.deny_order(store.credentials, external_id, dict(deny_reason(refused)))

    async def send_status(self, store: Store, external_id: str, status: str, order: Any) -> PartnerAnswer | None:
        """Uber hears of a cancellation only (its cancel endpoint); Uber's courier and the
        store's tablet track preparation themselves."""
        if status != "cancelled":
            return None
        answer = await self.client.cancel_order(store.credentials, external_id, {
            "reason": "OTHER", "details": "cancelled by the restaurant"})
        # 404: Uber has the order terminal already (cancelled there, delivered) or forgot it:
        # nothing is left to cancel.
        return PartnerAnswer(204, answer.body) if answer.status == 404 else answer

    async def close(self) -> None:
        await self.client.close()


def ubereats_adapter(environ: Mapping[str, str]) -> tuple[UberEatsAdapter, float]:
    """Uber Eats' adapter as configured, and its debounce window."""
    uber = load_ubereats_settings(environ)
    client = UberEatsClient(uber.ubereats_api_url, uber.ubereats_auth_url, timeout_s=uber.ubereats_timeout_s)
    return UberEatsAdapter(client), uber.ubereats_debounce_s
