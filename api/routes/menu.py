"""The menu: categories, items and availability (86-ing).

Every read (the whole menu, its categories and items one by one or listed) answers from the
menu document of the restaurant's current menu version (api/menu_cache.py), with an ETag
from that version and 304 to a client that holds it already."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import FLOOR, MEMBERS, OWNER_MANAGER, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.bodies import json_body
from api.errors import ApiError
from api.handoff import after_commit, hand_off, queued_in
from api.menu_cache import CachedMenu, conditional
from api.models import Availability, CategoryPatch, MenuItemPatch, NewCategory, NewMenuItem
from api.responses import JSON, dumps
from api.state import services
from db import menu
from db.queries import Row

_ITEM_FIELDS = ("id", "category_id", "name", "description", "price", "is_available", "is_veg", "rank", "version",
                "created_at", "updated_at", "image_url", "ingredients", "allergens", "prep_minutes")
# What a guest chooses from on an order line (variation_id, addon_ids), the item's taxes, and
# the order types it is offered for (PetPooja's item_ordertype; every type for items made here).
_OPTION_FIELDS = ("variations", "addon_groups", "taxes", "order_types")


def _item(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in _ITEM_FIELDS}


def _menu_item(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in (*_ITEM_FIELDS, *_OPTION_FIELDS)}


def menu_answer(categories: list[Row]) -> dict[str, Any]:
    """The menu document (GET .../menu, and a share link's menu) from menu.full_menu's rows."""
    return {"categories": [
        {"id": c["id"], "name": c["name"], "description": c["description"], "rank": c["rank"],
         "items": [_menu_item(i) for i in c["items"]]}
        for c in categories
    ]}


async def _current(request: Request) -> CachedMenu:
    """The restaurant's current menu document, for its members and its guest sessions."""
    async with restaurant_scope(request, _rid(request), MEMBERS, guest=True) as scope:
        return await services(request).menu_cache.menu(scope.conn, _rid(request), menu_answer)


async def get_menu(request: Request) -> Response:
    current = await _current(request)
    return conditional(request, current.body, current.etag, private=True)


def _answer(request: Request, current: CachedMenu, document: Any) -> Response:
    return conditional(request, dumps(document), current.etag, private=True)


def _summary(category: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in category.items() if k != "items"}, "item_count": len(category["items"])}


async def list_categories(request: Request) -> Response:
    current = await _current(request)
    return _answer(request, current, {"items": [_summary(c) for c in current.document["categories"]]})


async def get_category(request: Request) -> Response:
    current = await _current(request)
    for category in current.document["categories"]:
        if category["id"] == request.path_params["cid"]:
            return _answer(request, current, category)
    raise ApiError(404, "not_found", "category not found")


async def list_items(request: Request) -> Response:
    current = await _current(request)
    return _answer(request, current, {"items": [i for c in current.document["categories"] for i in c["items"]]})


async def get_item(request: Request) -> Response:
    current = await _current(request)
    for category in current.document["categories"]:
        for item in category["items"]:
            if item["id"] == request.path_params["iid"]:
                return _answer(request, current, item)
    raise ApiError(404, "not_found", "menu item not found")


async def create_category(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, NewCategory)
        row = await menu.create_category(scope.conn, restaurant_id=_rid(request), name=body.name, rank=body.rank,
                                         description=body.description)
    return JSON(row, status_code=201)


async def patch_category(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, CategoryPatch)
        row = await menu.update_category(
            scope.conn, restaurant_id=_rid(request), category_id=request.path_params["cid"],
            changes=body.model_dump(exclude_unset=True),
        )
        renamed_items = await queued_in(scope.conn, _rid(request))  # a rename re-pushes its items
    hand_off(request, renamed_items)
    return JSON(row)


async def delete_category(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        await menu.delete_category(scope.conn, restaurant_id=_rid(request), category_id=request.path_params["cid"])
    return Response(status_code=204)


async def create_item(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, NewMenuItem)
        row = await menu.create_item(scope.conn, restaurant_id=_rid(request), fields=body.model_dump())
    after_commit(request, "menu_item", row["id"])
    return JSON(_item(row), status_code=201)


async def patch_item(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        body = await json_body(request, MenuItemPatch)
        row = await menu.update_item(
            scope.conn, restaurant_id=_rid(request), item_id=request.path_params["iid"],
            changes=body.model_dump(exclude_unset=True),
        )
    after_commit(request, "menu_item", row["id"])
    return JSON(_item(row))


async def delete_item(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), OWNER_MANAGER) as scope:
        await menu.delete_item(scope.conn, restaurant_id=_rid(request), item_id=request.path_params["iid"])
    after_commit(request, "menu_item", request.path_params["iid"])
    return Response(status_code=204)


async def set_availability(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), FLOOR) as scope:
        body = await json_body(request, Availability)
        row = await menu.set_availability(
            scope.conn, restaurant_id=_rid(request), item_id=request.path_params["iid"], is_available=body.is_available
        )
    after_commit(request, "menu_item", row["id"])
    return JSON(_item(row))


_BASE = "/api/restaurants/{rid:uuid}/menu"
routes = [
    Route(_BASE, get_menu, methods=["GET"]),
    Route(f"{_BASE}/categories", list_categories, methods=["GET"]),
    Route(f"{_BASE}/categories", create_category, methods=["POST"]),
    Route(f"{_BASE}/categories/{{cid:uuid}}", get_category, methods=["GET"]),
    Route(f"{_BASE}/categories/{{cid:uuid}}", patch_category, methods=["PATCH"]),
    Route(f"{_BASE}/categories/{{cid:uuid}}", delete_category, methods=["DELETE"]),
    Route(f"{_BASE}/items", list_items, methods=["GET"]),
    Route(f"{_BASE}/items", create_item, methods=["POST"]),
    Route(f"{_BASE}/items/{{iid:uuid}}", get_item, methods=["GET"]),
    Route(f"{_BASE}/items/{{iid:uuid}}", patch_item, methods=["PATCH"]),
    Route(f"{_BASE}/items/{{iid:uuid}}", delete_item, methods=["DELETE"]),
    Route(f"{_BASE}/items/{{iid:uuid}}/availability", set_availability, methods=["PUT"]),
]
