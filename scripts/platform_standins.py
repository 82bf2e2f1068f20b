"""Driving the delivery platforms' stand-ins through their control APIs, the same way for the
dev runner (scripts/dev.py) and the benchmark (bench/platforms.py): register a store, read an
item's price in the menu a stand-in holds, place an order there and get the platform's webhook
for it (sent by the stand-in, or only built, to send ourselves), and see it accepted back.

Each stand-in's control API is its own (scripts/*_standin.md); this module is the one place
that knows all three."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

PLATFORMS = ("ubereats", "doordash", "grubhub")
LABELS = {"ubereats": "Uber Eats", "doordash": "DoorDash", "grubhub": "Grubhub"}
# The stand-in's name of the call that carries a whole menu, and of one that carries an
# availability change alone (Grubhub has none: it ingests the whole menu again).
MENU_CALLS = {"ubereats": ("menus",), "doordash": ("menus", "menu_update"), "grubhub": ("ingestion",)}
AVAILABILITY_CALLS = {"ubereats": ("items",), "doordash": ("item_status",), "grubhub": ("ingestion",)}


def env(platform: str, url: str, *, currency: str) -> dict[str, str]:
    """The variables that point the API and the worker at the stand-in at ``url``; DoorDash's
    and Grubhub's orders name no currency, so theirs is configured."""
    if platform == "ubereats":
        return {"UBEREATS_API_URL": url, "UBEREATS_AUTH_URL": url}
    return {f"{platform.upper()}_API_URL": url, f"{platform.upper()}_CURRENCY": currency}


def register(platform: str, url: str, store_id: str, credentials: Mapping[str, str], api_base: str) -> None:
    """Registers the store and the credentials that reach it (DoorDash's menu status webhooks
    go to ``api_base``)."""
    if platform == "ubereats":
        body: dict[str, Any] = {**credentials, "store_ids": [store_id]}
        path = "clients"
    elif platform == "doordash":
        key = {k: v for k, v in credentials.items() if k != "webhook_token"}
        body = {**key, "stores": [{"store_id": store_id, "webhook_token": credentials["webhook_token"],
                                   "webhook_url": f"{api_base}/api/webhooks/doordash"}]}
        path = "developers"
    else:
        body = {**credentials, "merchant_ids": [store_id]}
        path = "clients"
    httpx.post(f"{url}/_standin/{path}", json=body).raise_for_status()


def price_on(platform: str, url: str, store_id: str, item: str) -> int | None:
    """The item's price (minor units) in the menu the stand-in holds for the store, or None."""
    if platform == "ubereats":
        answer = httpx.get(f"{url}/_standin/stores/{store_id}/menu")
        items = answer.json()["items"] if answer.status_code == 200 else []
        return next((int(i["price_info"]["price"]) for i in items if i["id"] == item), None)
    if platform == "doordash":
        menus = [m for m in httpx.get(f"{url}/_standin/menus").json() if m["store_id"] == store_id]
        categories = menus[-1]["body"]["menu"]["categories"] if menus else []
        return next((int(i["price"]) for c in categories for i in c["items"] if i["merchant_supplied_id"] == item),
                    None)
    answer = httpx.get(f"{url}/_standin/merchants/{store_id}/menu")
    items = answer.json().get("items", []) if answer.status_code == 200 else []
    return next((round(float(i["price"]) * 100) for i in items if i["external_id"] == item), None)


def place_order(platform: str, url: str, store_id: str, item: str, price: int, *, currency: str,
                http: httpx.Client | None = None) -> str:
    """Places an order of one ``item`` at ``price`` (minor units) on the stand-in; its id there."""
    client = http or httpx.Client()
    if platform == "ubereats":
        body: dict[str, Any] = {"store_id": store_id, "currency": currency,
                                "cart_items": [{"id": item, "quantity": 1, "price": price}]}
    elif platform == "doordash":
        body = {"store_id": store_id, "items": [{"merchant_supplied_id": item, "quantity": 1, "price": price}]}
    else:
        body = {"merchant_id": store_id, "currency": currency,
                "items": [{"item_id": item, "quantity": 1, "price": price / 100}]}
    answer = client.post(f"{url}/_standin/orders", json=body)
    answer.raise_for_status()
    placed = answer.json()
    return str(placed["order_uuid"] if platform == "grubhub" else placed["id"])


def order_webhook(platform: str, url: str, store_id: str, order_id: str, api_base: str, *, send: bool,
                  http: httpx.Client | None = None) -> dict[str, Any]:
    """The platform's webhook for a new order: sent to the API by the stand-in (``send``:
    answers ``{status_code, body, sent}``), or only built (answers ``{url, body, headers}``)."""
    client = http or httpx.Client()
    target = f"{api_base}/api/webhooks/{platform}"
    if platform == "ubereats":
        body: dict[str, Any] = {"url": target, "event_type": "orders.notification", "store_id": store_id,
                                "resource_id": order_id}
    elif platform == "doordash":
        body = {"url": target, "kind": "order", "order_id": order_id}
    else:
        body = {"url": target, "event_type": "NEW_ORDER", "merchant_id": store_id, "order_uuid": order_id}
    answer = client.post(f"{url}/_standin/webhook", json={**body, "dry_run": not send})
    answer.raise_for_status()
    result: dict[str, Any] = answer.json() if send else answer.json()["sent"]
    return result


def accepted(platform: str, url: str, order_id: str) -> bool:
    """Whether the stand-in's order was accepted back (Uber: accepted; DoorDash: confirmed
    success; Grubhub: CONFIRMED)."""
    orders = httpx.get(f"{url}/_standin/orders").json()
    if platform == "ubereats":
        return any(o["id"] == order_id and o["current_state"] == "ACCEPTED" for o in orders)
    if platform == "doordash":
        return any(o["id"] == order_id and any(a["action"] == "confirm" and a["body"].get("order_status") == "success"
                                               for a in o["actions"]) for o in orders)
    return any(o["order_uuid"] == order_id and o["status"] == "CONFIRMED" for o in orders)
