"""DoorDash Marketplace as a platform adapter (sync/platform/adapter.py): the menu created once
and updated from then on, availability through DoorDash's item-availability call, and orders
(carried whole by its webhook) confirmed, failed or cancelled back. docs/doordash.md has the
formats and what is verified or assumed.

A second menu create would duplicate the store's menu, so a store is sent a create only until
DoorDash has named the menu (in the create's answer, or in its menu status webhook); once the
menu id is known, always an update. A create DoorDash accepted without naming the menu waits
for the webhook rather than create again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID, uuid4

from db.platforms import Credentials, Platform, Store
from sync.config import load_doordash_settings
from sync.doordash.client import DoorDashClient
from sync.doordash.menu_format import activity_changes, check_menu, doordash_menu, only_activity_differs, with_store
from sync.doordash.orders import doordash_cart, failure_reason
from sync.platform.adapter import Published
from sync.platform.http import PartnerAnswer, PartnerAuthRefused, PartnerUnreachable
from sync.platform.menu import Category, MenuProblem
from sync.platform.orders import Cart, Refused

CANCEL_REASON = "OTHER"


def menu_id_of(answer: PartnerAnswer) -> str | None:
    """The menu id in a create's answer, where DoorDash gives one (``id`` or ``menu_id``)."""
    body = answer.body if isinstance(answer.body, dict) else {}
    found = body.get("id") or body.get("menu_id")
    return str(found) if isinstance(found, str | int) and not isinstance(found, bool) and found else None


class DoorDashAdapter:
    platform: Platform = "doordash"
    label = "DoorDash"

    def __init__(self, client: DoorDashClient, *, currency: str):
        self.client, self.currency = client, currency

    def check_menu(self, categories: Sequence[Category]) -> list[MenuProblem]:
        return check_menu(categories)

    def format_menu(self, categories: Sequence[Category]) -> dict[str, Any]:
        return doordash_menu(categories)

    def item_count(self, payload: dict[str, Any]) -> int:
        return sum(len(category["items"]) for category in payload["menu"]["categories"])

    async def publish(self, store: Store, payload: dict[str, Any]) -> Published:
        """Only what is active changed since DoorDash last accepted a menu: the item-availability
        call alone. Anything else (or a full refresh): the whole menu, then the availability
        changes too, since an item deactivated through that call stays so until it reactivates it."""
        changes = activity_changes(store.published_menu, payload)
        if changes and only_activity_differs(store.published_menu, payload):
            return Published(await self.client.item_status(store.credentials, store.store_id, changes))
        body = with_store(payload, store.store_id, self.client.provider_type, reference=str(uuid4()))
        if store.external_menu_id is not None:
            answer = await self.client.update_menu(store.credentials, store.external_menu_id, body)
            menu_id = None
        elif store.published_menu is not None:
            raise PartnerUnreachable("DoorDash accepted the menu's create but has not named it yet (its menu "
                                     "status webhook will): an update waits, a second create would duplicate it")
        else:
            answer = await self.client.create_menu(store.credentials, body)
            menu_id = menu_id_of(answer)
        if answer.ok and changes:
            answer = await self.client.item_status(store.credentials, store.store_id, changes)
        return Published(answer, external_menu_id=menu_id)

    async def check_credentials(self, store_id: str, credentials: Credentials) -> None:
        """DoorDash has no token endpoint: the store's details, read with a JWT signed by these
        credentials, say whether DoorDash takes them for this store."""
        answer = await self.client.store_details(credentials, store_id)
        if answer.status in (401, 403, 404):
            raise PartnerAuthRefused(f"DoorDash refused the access key for this store (HTTP {answer.status})")
        if not answer.ok:
            raise PartnerUnreachable(f"store details: HTTP {answer.status}")

    async def fetch_order(self, store: Store, external_id: str, received: Any) -> PartnerAnswer:
        return PartnerAnswer(200, received)  # the webhook carries the whole order

    def cart(self, order: Any) -> Cart:
        return doordash_cart(order, self.currency)

    async def accept(self, store: Store, external_id: str, order_id: UUID, order: Any) -> PartnerAnswer:
        return await self.client.confirm_order(store.credentials, external_id, {
            "merchant_supplied_id": str(order_id), "order_status": "success"})

    async def deny(self, store: Store, external_id: str, refused: Refused, order: Any) -> PartnerAnswer:
        return await self.client.confirm_order(store.credentials, external_id, {
            "merchant_supplied_id": external_id, "order_status": "fail",
            "failure_reason": failure_reason(refused, order)})

    async def send_status(self, store: Store, external_id: str, status: str, order: Any) -> PartnerAnswer | None:
        """DoorDash hears of a cancellation only (its merchant cancellation endpoint); its
        Order Ready Signal is not verified for our kind of store (docs/doordash.md)."""
        if status != "cancelled":
            return None
        answer = await self.client.cancel_order(store.credentials, external_id, {
            "cancel_reason": CANCEL_REASON, "cancel_details": "cancelled by the restaurant"})
        # 404: DoorDash no longer has the order to cancel (cancelled there, delivered): nothing is left to do.
        return PartnerAnswer(204, answer.body) if answer.status == 404 else answer

    async def close(self) -> None:
        await self.client.close()


def doordash_adapter(environ: Mapping[str, str]) -> tuple[DoorDashAdapter, float]:
    """DoorDash's adapter as configured, and its debounce window."""
    settings = load_doordash_settings(environ)
    client = DoorDashClient(settings.doordash_api_url, settings.doordash_provider_type,
                            timeout_s=settings.doordash_timeout_s)
    return DoorDashAdapter(client, currency=settings.doordash_currency), settings.doordash_debounce_s
