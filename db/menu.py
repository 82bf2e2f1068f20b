"""Menu categories and items, including availability (86-ing)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from db import queries as q
from db.errors import Conflict, NotFound, Unprocessable
from db.queries import Conn, Row


async def create_category(
    conn: Conn, *, restaurant_id: UUID, name: str, rank: int, description: str | None = None,
) -> Row:
    return await q.one(conn, "insert_category", restaurant_id=restaurant_id, name=name, rank=rank,
                       description=description)


async def update_category(conn: Conn, *, restaurant_id: UUID, category_id: UUID, changes: dict[str, Any]) -> Row:
    row = await q.maybe_one(
        conn, "update_category", restaurant_id=restaurant_id, category_id=category_id,
        name=changes.get("name"), rank=changes.get("rank"),
        set_description="description" in changes, description=changes.get("description"),
    )
    if row is None:
        # The touch trigger skips an UPDATE that changes nothing, so it returns no row either.
        row = await q.maybe_one(conn, "get_category", restaurant_id=restaurant_id, category_id=category_id)
    if row is None:
        raise NotFound("category not found")
    return row


async def delete_category(conn: Conn, *, restaurant_id: UUID, category_id: UUID) -> None:
    row = await q.maybe_one(conn, "category_live_item_count", restaurant_id=restaurant_id, category_id=category_id)
    if row is None:
        raise NotFound("category not found")
    if row["live_items"]:
        raise Conflict(
            f"the category still holds {row['live_items']} items; move or delete them first",
            code="category_not_empty",
        )
    await q.run(conn, "delete_category", restaurant_id=restaurant_id, category_id=category_id)


async def version(conn: Conn, restaurant_id: UUID) -> int:
    """The restaurant's menu version: it rises with every change to anything its menu shows
    (menu_versions in schema.sql), so a menu read at one version is the menu of that version."""
    row = await q.one(conn, "menu_version", restaurant_id=restaurant_id)
    found: int = row["version"]
    return found


async def full_menu(conn: Conn, restaurant_id: UUID) -> list[Row]:
    """Live categories in display order, each with its live items under ``items``."""
    categories = await q.all(conn, "list_categories", restaurant_id=restaurant_id)
    items = await q.all(conn, "list_menu_items", restaurant_id=restaurant_id)
    by_category: dict[UUID, list[Row]] = {c["id"]: [] for c in categories}
    for item in items:
        by_category[item["category_id"]].append(item)
    return [{**c, "items": by_category[c["id"]]} for c in categories]


async def _require_live_category(conn: Conn, restaurant_id: UUID, category_id: UUID) -> None:
    if await q.maybe_one(conn, "live_category_exists", restaurant_id=restaurant_id, category_id=category_id) is None:
        raise Unprocessable("category_id is not a category of this restaurant", code="unknown_category")


async def create_item(conn: Conn, *, restaurant_id: UUID, fields: dict[str, Any]) -> Row:
    row = await q.maybe_one(
        conn, "insert_menu_item", restaurant_id=restaurant_id,
        category_id=fields["category_id"], name=fields["name"], description=fields.get("description"),
        price=fields["price"], is_available=fields.get("is_available", True), rank=fields.get("rank", 0),
        image_url=fields.get("image_url"), ingredients=fields.get("ingredients") or [],
        allergens=fields.get("allergens") or [], prep_minutes=fields.get("prep_minutes"),
    )
    if row is None:
        raise Unprocessable("category_id is not a category of this restaurant", code="unknown_category")
    return row


async def update_item(conn: Conn, *, restaurant_id: UUID, item_id: UUID, changes: dict[str, Any]) -> Row:
    if changes.get("category_id") is not None:
        await _require_live_category(conn, restaurant_id, changes["category_id"])
    row = await q.maybe_one(
        conn, "update_menu_item", restaurant_id=restaurant_id, item_id=item_id,
        category_id=changes.get("category_id"), name=changes.get("name"),
        set_description="description" in changes, description=changes.get("description"),
        price=changes.get("price"), is_available=changes.get("is_available"), rank=changes.get("rank"),
        set_image_url="image_url" in changes, image_url=changes.get("image_url"),
        ingredients=changes.get("ingredients"), allergens=changes.get("allergens"),
        set_prep_minutes="prep_minutes" in changes, prep_minutes=changes.get("prep_minutes"),
    )
    if row is None:
        # The version trigger skips an UPDATE that changes nothing, so it returns no row either.
        row = await q.maybe_one(conn, "get_menu_item", restaurant_id=restaurant_id, item_id=item_id)
    if row is None:
        raise NotFound("menu item not found")
    return row


async def set_availability(conn: Conn, *, restaurant_id: UUID, item_id: UUID, is_available: bool) -> Row:
    await q.run(conn, "set_item_availability", restaurant_id=restaurant_id, item_id=item_id, is_available=is_available)
    row = await q.maybe_one(conn, "get_menu_item", restaurant_id=restaurant_id, item_id=item_id)
    if row is None:
        raise NotFound("menu item not found")
    return row


async def delete_item(conn: Conn, *, restaurant_id: UUID, item_id: UUID) -> None:
    if await q.run(conn, "delete_menu_item", restaurant_id=restaurant_id, item_id=item_id) == 0:
        raise NotFound("menu item not found")
