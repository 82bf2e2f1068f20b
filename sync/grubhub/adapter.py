"""Grubhub as a platform adapter (sync/platform/adapter.py): the menu as a full ingestion
that Grubhub downloads from our ``menu_url`` (sync/grubhub/menu_url.py) and diffs by external
id, orders as the webhook carried them, confirmed or rejected through the order status call.
docs/grubhub.md has the formats and what is verified or assumed.

Availability changes re-ingest the whole menu with the item marked unavailable. Grubhub does
document a bulk "86" call (schedule overrides by external id) that would be cheaper; turning
an item back on through it needs the override's current end date, so it waits for a sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from db.platforms import Credentials, Platform, Store
from sync.config import load_grubhub_settings
from sync.grubhub.client import GrubhubClient, secret_key_bytes
from sync.grubhub.menu_format import grubhub_menu, grubhub_problems
from sync.grubhub.menu_url import menu_url
from sync.grubhub.orders import confirm_body, grubhub_cart, reject_body
from sync.platform.adapter import Published
from sync.platform.http import PartnerAnswer, PartnerAuthRefused, PartnerUnreachable
from sync.platform.menu import Category, MenuProblem, check_menu
from sync.platform.orders import Cart, Refused


class GrubhubAdapter:
    platform: Platform = "grubhub"
    label = "Grubhub"

    def __init__(self, client: GrubhubClient, *, menu_base_url: str, currency: str = "USD", wait_time_min: int = 20):
        self.client, self.currency, self.wait_time_min = client, currency, wait_time_min
        self.menu_base_url = menu_base_url

    def check_menu(self, categories: Sequence[Category]) -> list[MenuProblem]:
        return check_menu(categories) + grubhub_problems(categories)

    def format_menu(self, categories: Sequence[Category]) -> dict[str, Any]:
        return grubhub_menu(categories, currency=self.currency)

    def item_count(self, payload: dict[str, Any]) -> int:
        return len(payload["items"])

    async def publish(self, store: Store, payload: dict[str, Any]) -> Published:
        """One ingestion naming the URL Grubhub downloads the menu from. ``payload`` is not sent:
        that URL answers the same formatter's menu of the restaurant's menu when Grubhub asks
        (the target keeps ``payload`` as the published menu). The menu's id there is the
        ingestion job's (Grubhub names menus by merchant, so the job is what an operator can
        look up)."""
        url = menu_url(self.menu_base_url, store.store_id, store.credentials)
        answer = await self.client.ingest_menu(store.credentials, store.store_id, url)
        job_id = answer.body.get("job_id") if answer.ok and isinstance(answer.body, dict) else None
        return Published(answer, external_menu_id=str(job_id) if job_id is not None else None)

    async def check_credentials(self, store_id: str, credentials: Credentials) -> None:
        """Reads the merchant's menu (a documented GET): 200, or 404 before any ingestion, means
        Grubhub took the signature and the merchant is ours; 401/403 that it did not."""
        secret_key_bytes(credentials["secret_key"])
        answer = await self.client.merchant_menu(credentials, store_id)
        if answer.status in (401, 403):
            raise PartnerAuthRefused(f"Grubhub refused the credentials for this merchant (HTTP {answer.status})")
        if answer.status not in (200, 404):
            raise PartnerUnreachable(f"Grubhub could not check the credentials: HTTP {answer.status}")

    async def fetch_order(self, store: Store, external_id: str, received: Any) -> PartnerAnswer:
        return PartnerAnswer(200, received)  # the webhook carries the whole order

    def cart(self, order: Any) -> Cart:
        return grubhub_cart(order)

    async def accept(self, store: Store, external_id: str, order_id: UUID, order: Any) -> PartnerAnswer:
        return await self.client.order_status(store.credentials, store.store_id, external_id,
                                              confirm_body(self.wait_time_min))

    async def deny(self, store: Store, external_id: str, refused: Refused, order: Any) -> PartnerAnswer:
        return await self.client.order_status(store.credentials, store.store_id, external_id, reject_body(refused))

    async def send_status(self, store: Store, external_id: str, status: str, order: Any) -> PartnerAnswer | None:
        """Nothing: Grubhub's docs verify CONFIRMED and REJECTED only (sent by accept and deny);
        a ready or cancelled status waits for a sandbox to confirm its name (docs/grubhub.md)."""
        return None

    async def close(self) -> None:
        await self.client.close()


def grubhub_adapter(environ: Mapping[str, str]) -> tuple[GrubhubAdapter, float]:
    """Grubhub's adapter as configured, and its debounce window."""
    gh = load_grubhub_settings(environ)
    client = GrubhubClient(gh.grubhub_api_url, timeout_s=gh.grubhub_timeout_s)
    return GrubhubAdapter(client, menu_base_url=gh.menu_base_url, currency=gh.grubhub_currency,
                          wait_time_min=gh.grubhub_wait_time_min), gh.grubhub_debounce_s
