"""Importing a POS menu (PetPooja's, parsed by sync.petpooja.menu) into ours, and the record
of every import in menu_syncs.

One transaction, set-based: every kind of row is upserted by (restaurant_id, external_id) in
one statement fed with the whole list as JSON, so our ids stay stable across imports and a
1,000-item menu costs a dozen round trips. A row that vanished from the menu is soft-deleted
(deleted_at), one that re-appears is revived. An upsert writes only rows that really change
(``WHERE ... IS DISTINCT FROM``), so re-importing the same menu writes nothing and queues no
outbox row; the menu_items triggers queue one for every item that does change.

Rows made here by hand (external_id NULL) are never touched, with one exception: a live
category made here whose name is the name of an incoming PetPooja category is adopted (it
takes the PetPooja id and from then on follows PetPooja), since the live-name index forbids
two categories with one name and the menu would otherwise fail to import.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from db import queries as q
from db.queries import Conn, Row

Source = Literal["pull", "push"]
OrderType = Literal["dine_in", "takeaway", "delivery"]
# Every order type, in the order menus show them (menu_items.order_types).
ORDER_TYPES: tuple[OrderType, ...] = ("dine_in", "takeaway", "delivery")


@dataclass(frozen=True)
class MenuCategory:
    external_id: str
    name: str
    rank: int


@dataclass(frozen=True)
class MenuTax:
    external_id: str
    name: str
    rate_bps: int


@dataclass(frozen=True)
class MenuAddon:
    external_id: str
    name: str
    price: int
    is_available: bool
    is_veg: bool | None
    rank: int


@dataclass(frozen=True)
class MenuAddonGroup:
    external_id: str
    name: str
    rank: int
    addons: tuple[MenuAddon, ...] = ()


@dataclass(frozen=True)
class MenuVariation:
    external_id: str
    name: str
    price: int
    is_available: bool
    rank: int
    # PetPooja's variationid: the kind of variation ("Half"), shared across items.
    external_variation_id: str | None = None


@dataclass(frozen=True)
class ItemAddonGroup:
    """An item offers an addon group with its own minimum and maximum number of choices."""

    group_external_id: str
    min_select: int
    max_select: int
    rank: int


@dataclass(frozen=True)
class MenuItem:
    external_id: str
    category_external_id: str
    name: str
    description: str | None
    price: int
    is_veg: bool | None
    in_stock: bool
    is_active: bool
    rank: int
    tax_external_ids: tuple[str, ...] = ()
    variations: tuple[MenuVariation, ...] = ()
    addon_groups: tuple[ItemAddonGroup, ...] = ()
    # The order types it may be ordered for (PetPooja's item_ordertype).
    order_types: tuple[OrderType, ...] = ORDER_TYPES

    @property
    def is_available(self) -> bool:
        return self.in_stock and self.is_active


@dataclass(frozen=True)
class ParsedMenu:
    categories: tuple[MenuCategory, ...]
    items: tuple[MenuItem, ...]
    addon_groups: tuple[MenuAddonGroup, ...] = ()
    taxes: tuple[MenuTax, ...] = ()
    # What the parser left out and why ("item 10051 Mango Lassi: unknown category 9").
    errors: tuple[str, ...] = field(default=())


def _elapsed_ms(started: float) -> int:
    return max(0, int((time.monotonic() - started) * 1000))


def _change(created: int = 0, updated: int = 0, deleted: int = 0) -> dict[str, int]:
    return {"created": created, "updated": updated, "deleted": deleted}


def _tally(rows: list[Row]) -> tuple[int, int]:
    created = sum(1 for r in rows if r["created"])
    return created, len(rows) - created


async def import_menu(
    conn: Conn, restaurant_id: UUID, menu: ParsedMenu, *, source: Source, started: float,
) -> Row:
    """Brings the restaurant's imported menu to ``menu`` and records the sync.

    Runs on the caller's transaction (one unit of work with whatever else it does).
    ``started`` is ``time.monotonic()`` when the sync began (before fetching or parsing), so
    duration_ms covers the whole of it. Returns the menu_syncs row (id, source, status,
    counts, errors, duration_ms, created_at) plus ``changed_item_ids``: every menu item
    whose Convex document changed, to hand to the pusher after commit.
    """
    row = await _import(conn, restaurant_id, menu, source=source, started=started, record_unchanged=True)
    assert row is not None  # record_unchanged=True always records
    return row


async def import_menu_if_changed(
    conn: Conn, restaurant_id: UUID, menu: ParsedMenu, *, source: Source, started: float,
) -> Row | None:
    """``import_menu``, except that an import which changed no row at all records no sync and
    returns None: a repeated push whose effect is already in place."""
    return await _import(conn, restaurant_id, menu, source=source, started=started, record_unchanged=False)


async def _import(
    conn: Conn, restaurant_id: UUID, menu: ParsedMenu, *, source: Source, started: float, record_unchanged: bool,
) -> Row | None:
    rid = restaurant_id
    errors = list(menu.errors)
    counts: dict[str, Any] = {}
    # A pull racing a push would interleave their soft-deletes; the second waits for the first.
    await q.run(conn, "import_lock", restaurant_id=rid)

    # Taxes, then addon groups and addons: items link to them.
    taxes = await q.all(conn, "import_upsert_taxes", restaurant_id=rid, taxes=Jsonb([
        {"external_id": t.external_id, "name": t.name, "rate_bps": t.rate_bps} for t in menu.taxes]))
    deleted = await q.run(conn, "import_delete_vanished_taxes", restaurant_id=rid,
                          external_ids=[t.external_id for t in menu.taxes])
    counts["taxes"] = _change(*_tally(taxes), deleted)

    groups = await q.all(conn, "import_upsert_addon_groups", restaurant_id=rid, groups=Jsonb([
        {"external_id": g.external_id, "name": g.name, "rank": g.rank} for g in menu.addon_groups]))
    deleted = await q.run(conn, "import_delete_vanished_addon_groups", restaurant_id=rid,
                          external_ids=[g.external_id for g in menu.addon_groups])
    counts["addon_groups"] = _change(*_tally(groups), deleted)

    addons = [{"external_id": a.external_id, "group": g.external_id, "name": a.name, "price": a.price,
               "is_available": a.is_available, "is_veg": a.is_veg, "rank": a.rank}
              for g in menu.addon_groups for a in g.addons]
    upserted = await q.all(conn, "import_upsert_addons", restaurant_id=rid, addons=Jsonb(addons))
    deleted = await q.run(conn, "import_delete_vanished_addons", restaurant_id=rid,
                          external_ids=[a["external_id"] for a in addons])
    counts["addons"] = _change(*_tally(upserted), deleted)

    # Categories: vanished ones go first so that a new category may take a freed name.
    category_rows = Jsonb([{"external_id": c.external_id, "name": c.name, "rank": c.rank} for c in menu.categories])
    category_ids = [c.external_id for c in menu.categories]
    deleted = await q.run(conn, "import_delete_vanished_categories", restaurant_id=rid, external_ids=category_ids)
    await q.run(conn, "import_detach_deleted_categories", restaurant_id=rid, categories=category_rows)
    adopted = await q.all(conn, "import_adopt_categories", restaurant_id=rid, categories=category_rows)
    incoming = await q.all(conn, "import_upsert_categories", restaurant_id=rid, categories=category_rows)
    upserted = [r for r in incoming if r["id"] is not None]
    counts["categories"] = {**_change(*_tally(upserted), deleted), "adopted": len(adopted)}
    renamed = [r["id"] for r in upserted if r["renamed"]]
    for row in incoming:
        if row["name"] != row["wanted_name"]:
            errors.append(f"category {row['external_id']}: the name {row['wanted_name']!r} belongs to another "
                          f"category; kept {row['name']!r}")

    items = await q.all(conn, "import_upsert_items", restaurant_id=rid, items=Jsonb([
        {"external_id": i.external_id, "category": i.category_external_id, "name": i.name,
         "description": i.description, "price": i.price, "is_available": i.is_available, "is_veg": i.is_veg,
         "rank": i.rank, "order_types": list(i.order_types)}
        for i in menu.items]))
    gone = await q.all(conn, "import_delete_vanished_items", restaurant_id=rid,
                       external_ids=[i.external_id for i in menu.items])
    counts["items"] = _change(*_tally(items), len(gone))
    changed = {r["id"] for r in items} | {r["id"] for r in gone}
    if renamed:
        # Their items carry the category's name in Convex; the rename trigger re-queued them.
        changed |= {r["id"] for r in await q.all(conn, "import_items_of_categories", restaurant_id=rid,
                                                  category_ids=renamed)}

    variations = [{"external_id": v.external_id, "item": i.external_id, "name": v.name, "price": v.price,
                   "is_available": v.is_available, "rank": v.rank, "external_variation_id": v.external_variation_id}
                  for i in menu.items for v in i.variations]
    upserted = await q.all(conn, "import_upsert_variations", restaurant_id=rid, variations=Jsonb(variations))
    deleted = await q.run(conn, "import_delete_vanished_variations", restaurant_id=rid,
                          external_ids=[v["external_id"] for v in variations])
    counts["variations"] = _change(*_tally(upserted), deleted)

    counts["item_taxes"] = await q.one(conn, "import_replace_item_taxes", restaurant_id=rid, links=Jsonb([
        {"item": i.external_id, "tax": t} for i in menu.items for t in i.tax_external_ids]))
    counts["item_addon_groups"] = await q.one(conn, "import_replace_item_addon_groups", restaurant_id=rid,
                                              links=Jsonb([
        {"item": i.external_id, "group": g.group_external_id, "min_select": g.min_select,
         "max_select": g.max_select, "rank": g.rank}
        for i in menu.items for g in i.addon_groups]))

    if not record_unchanged and not changed and not any(n for kind in counts.values() for n in kind.values()):
        return None
    row = await q.one(conn, "insert_menu_sync", restaurant_id=rid, source=source, status="ok",
                      counts=Jsonb(counts), errors=Jsonb(errors), duration_ms=_elapsed_ms(started))
    return {**row, "changed_item_ids": sorted(changed)}


async def record_failed_sync(
    conn: Conn, restaurant_id: UUID, *, source: Source, errors: list[str], started: float,
) -> Row:
    """Records a sync that imported nothing (PetPooja unreachable, a malformed menu)."""
    return await q.one(conn, "insert_menu_sync", restaurant_id=restaurant_id, source=source, status="failed",
                       counts=Jsonb({}), errors=Jsonb(errors), duration_ms=_elapsed_ms(started))


async def recent_syncs(conn: Conn, restaurant_id: UUID, *, limit: int = 50) -> list[Row]:
    """The restaurant's latest menu syncs, newest first."""
    return await q.all(conn, "list_menu_syncs", restaurant_id=restaurant_id, limit=limit)
