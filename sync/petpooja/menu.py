"""PetPooja's menu (the ``mapped_restaurant_menus`` answer, and the same structure pushed to
our pushmenu webhook) -> ``db.menu_import.ParsedMenu``.

Pure: no I/O. A menu we cannot read safely (not an object, a list that is not a list, an id
missing, a price or tax that is not a number, a duplicate id) raises ``MenuFormatError``
listing every problem found, and nothing is imported. A well-formed menu with parts that
point nowhere (an item in an unknown category, a link to an unknown addon group or tax)
imports without those parts, each named in ``ParsedMenu.errors``.

Mapping choices (docs/petpooja-menu.md has the full table):

- Money: PetPooja's strings in major units ("120.00") become integer minor units of the
  restaurant's currency through ``Decimal``, never a float; a value with more decimals than
  the currency has is refused rather than rounded.
- Taxes: ``tax`` is a percentage ("2.5") -> ``rate_bps`` 250. Only percentage taxes
  (``taxtype`` "1", or none given) can be represented; a fixed-amount tax is left out with an
  error. Inactive taxes are left out. ``tax_ordertype`` is not modelled (a tax applies to
  every order type). An item's ``item_tax`` is a comma string of tax ids; ``ignore_taxes``
  "1" means none.
- Availability: an item is available when ``active`` and ``in_stock`` are both on. ``in_stock``
  is "2" on in-stock items in every sample we found (and "0" out of stock), so anything but an
  explicit 0/false is in stock.
- Veg: ``item_attributeid`` (and an addon's ``attributes``) names an entry of ``attributes``:
  "veg" -> True, "non-veg" and "egg" -> False, anything else (or nothing) -> None. Without
  an ``attributes`` list PetPooja's usual ids apply (1 veg, 2 non-veg, 24 egg).
- Categories: inactive categories are left out, and so are their items (a category switched
  off in PetPooja hides its items). ``parent_category_id``/``parentcategories`` are not
  modelled (our menu is flat), except that two active categories with one name (case
  ignored), which our live-name index forbids, are told apart by their parent's name
  ("Starters (Drinks)"), or failing that by their id.
- Variations: an item's ``variation[]`` (when ``itemallowvariation`` is not "0") become its
  variations, keyed by their ``id`` (unique per item) with ``variationid`` kept alongside.
  The top-level ``variations`` list is not needed.
- Addon groups: an inactive group is left out (and links to it dropped); an inactive addon
  is kept but unavailable. An item offers the groups of its own ``addon[]`` (unless
  ``itemallowaddon`` is "0") with their min/max, then the groups only its variations list
  (our links are per item, not per variation): for those, max is the largest any
  variation allows and min is the smallest when every variation lists the group, else 0
  (a group one variation requires must not block the others). A max of 0 or none means "no
  limit" and becomes the number of addons in the group; a max above 100 becomes 100.
- ``discounts``, ``ordertypes``, ``restaurants`` and images are not imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from db.menu_import import (
    ORDER_TYPES,
    ItemAddonGroup,
    MenuAddon,
    MenuAddonGroup,
    MenuCategory,
    MenuItem,
    MenuTax,
    MenuVariation,
    OrderType,
    ParsedMenu,
)
from db.pricing import MAX_PRICE
from sync.petpooja.payload import MINOR_DIGITS
from sync.petpooja.text import clean, first_unstorable, is_identifier, shown

MAX_SELECT = 100
# PetPooja's ids are short numbers; ours live in unique btree indexes, which refuse an entry
# beyond about 2.7 kB, so a longer "id" is refused here rather than failing the import.
MAX_ID = 64
# Names are shown on screens and receipts, and category names are in a unique index.
MAX_NAME = 255
INT4 = (-(2**31), 2**31 - 1)
# Numbers are read from their text with ASCII digits only: Decimal and int would also take
# "1_000", "١٢٠" (Arabic-Indic digits), "1e400" or "Infinity", and turning "1e999999999"
# into an int takes minutes. The lengths bound the work, the ranges what a column holds.
_PRICE = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,12})?")
_INTEGER = re.compile(r"-?[0-9]{1,20}(\.0{1,12})?")
_PERCENT = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,12})?")
_DEFAULT_ATTRIBUTES = {"1": "veg", "2": "non-veg", "24": "egg"}
# PetPooja's order types (the menu's own ``ordertypes`` list says the same in every sample:
# 1 Delivery, 2 PickUp, 3 DineIn) in our words; a menu's list, when given, is read by name.
_DEFAULT_ORDER_TYPES: dict[str, str | None] = {"1": "delivery", "2": "takeaway", "3": "dine_in"}
_ORDER_TYPE_NAMES = {"delivery": "delivery", "homedelivery": "delivery", "pickup": "takeaway",
                     "takeaway": "takeaway", "takeout": "takeaway", "dinein": "dine_in"}
_CODES = re.compile(r"[0-9]{1,9}")
_VEG = {"veg": True, "non-veg": False, "nonveg": False, "non veg": False, "egg": False}
_ON = {"1", "true", "yes", "y", "2"}
_OFF = {"0", "false", "no", "n"}


def _q(value: Any) -> str:
    """A value as a message quotes it: a string in quotes, anything else as Python shows it,
    control characters escaped, at most 80 characters of it."""
    return f"'{shown(value)[:80]}'" if isinstance(value, str) else shown(value)[:80]


class MenuFormatError(ValueError):
    """The menu cannot be read safely; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:5]) + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""))
        self.errors = errors


@dataclass
class _Reader:
    """Collects format problems while reading, so that one error lists them all."""

    digits: int
    currency: str
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def text(self, obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
        """A string (or a number, as PetPooja sometimes sends ids) without control characters."""
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            if value is None and not required:
                return ""
            if required:
                self.problems.append(f"{where}: {key} is missing or not a string")
            return ""
        return clean(str(value)).strip()

    def name(self, obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
        value = self.text(obj, key, where, required=required)
        if len(value) > MAX_NAME:
            self.problems.append(f"{where}: {key} is longer than {MAX_NAME} characters")
            return value[:MAX_NAME]
        return value

    def ident(self, obj: dict[str, Any], key: str, where: str) -> str:
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.problems.append(f"{where}: {key} is missing or not a string")
            return ""
        raw = str(value).strip()
        if not raw:
            self.problems.append(f"{where}: {key} is empty")
        elif not is_identifier(raw) or len(raw) > MAX_ID:
            self.problems.append(f"{where}: {key} {_q(raw)} is not an id (at most {MAX_ID} characters,"
                                 " no control characters)")
            return shown(raw)[:80]
        return raw

    def flag(self, obj: dict[str, Any], key: str, where: str, *, default: bool) -> bool:
        value = obj.get(key)
        if value is None or value == "":
            return default
        word = str(value).strip().lower()
        if word in _ON or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            return True
        if word in _OFF:
            return False
        self.problems.append(f"{where}: {key} {_q(value)} is not a 0/1 flag")
        return default

    @staticmethod
    def _number_text(value: Any) -> str | None:
        """A JSON number or a string as text to match; None for anything else."""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return None
        return str(value).strip()

    def integer(self, obj: dict[str, Any], key: str, where: str, *, default: int = 0) -> int:
        value = obj.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return default
        text = self._number_text(value)
        if text is None or not _INTEGER.fullmatch(text):
            self.problems.append(f"{where}: {key} {_q(value)} is not a whole number")
            return default
        number = int(text.split(".")[0])
        if not INT4[0] <= number <= INT4[1]:
            self.problems.append(f"{where}: {key} {_q(value)} is out of range")
            return default
        return number

    def money(self, obj: dict[str, Any], key: str, where: str) -> int:
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            # A float already lost exactness; PetPooja sends strings.
            self.problems.append(f"{where}: {key} {_q(value)} is not a price string")
            return 0
        text = str(value).strip() or "0"
        if not _PRICE.fullmatch(text):
            self.problems.append(f"{where}: {key} {_q(value)} is not a number")
            return 0
        amount = Decimal(text)
        if amount < 0:
            self.problems.append(f"{where}: {key} {_q(value)} is not a price")
            return 0
        minor = amount.scaleb(self.digits)
        if minor != minor.to_integral_value():
            self.problems.append(f"{where}: {key} {_q(value)} has more decimals than {self.currency} has")
            return 0
        if minor > MAX_PRICE:
            self.problems.append(f"{where}: {key} {_q(value)} is above the largest price we take "
                                 f"({Decimal(MAX_PRICE).scaleb(-self.digits)})")
            return 0
        return int(minor)

    def percent_bps(self, obj: dict[str, Any], key: str, where: str) -> int:
        value = obj.get(key)
        text = self._number_text(value)
        if text is None or not _PERCENT.fullmatch(text):
            self.problems.append(f"{where}: {key} {_q(value)} is not a number")
            return 0
        percent = Decimal(text)
        if not 0 <= percent <= 100:
            self.problems.append(f"{where}: {key} {_q(value)} is not a percentage between 0 and 100")
            return 0
        bps = percent * 100
        if bps != bps.to_integral_value():
            self.problems.append(f"{where}: {key} {_q(value)} is finer than a hundredth of a percent")
            return 0
        return int(bps)


def _objects(raw: dict[str, Any], key: str, reader: _Reader, *, required: bool) -> list[dict[str, Any]]:
    value = raw.get(key)
    if value is None:
        if required:
            reader.problems.append(f"{key} is missing")
        return []
    if not isinstance(value, list):
        reader.problems.append(f"{key} is not a list")
        return []
    objects = [v for v in value if isinstance(v, dict)]
    if len(objects) != len(value):
        reader.problems.append(f"{key} holds {len(value) - len(objects)} entries that are not objects")
    return objects


def _unique(ids: Iterable[str], what: str, reader: _Reader) -> None:
    seen: set[str] = set()
    for i in ids:
        if i and i in seen:
            reader.problems.append(f"{what} {i} appears twice")
        seen.add(i)


def _order_type_codes(raw: dict[str, Any], r: _Reader) -> dict[str, str | None]:
    """PetPooja's order type codes -> ours (None: a type of PetPooja's that we do not take)."""
    codes = dict(_DEFAULT_ORDER_TYPES)
    for entry in _objects(raw, "ordertypes", r, required=False):
        code = r.text(entry, "ordertypeid", "order type", required=False)
        name = re.sub(r"[\s_-]", "", r.text(entry, "ordertype", f"order type {code}", required=False).lower())
        if _CODES.fullmatch(code):
            codes[code] = _ORDER_TYPE_NAMES.get(name)
    return codes


def _order_types(
    item: dict[str, Any], where: str, r: _Reader, codes: dict[str, str | None], notes: list[str],
) -> tuple[OrderType, ...]:
    """An item's ``item_ordertype`` ("1,2") as our order types, in our order; not said: every type."""
    listed = r.text(item, "item_ordertype", where, required=False)
    if not listed:
        return ORDER_TYPES
    found: set[str] = set()
    for code in (c.strip() for c in listed.split(",")):
        if not code:
            continue
        if not _CODES.fullmatch(code):
            r.problems.append(f"{where}: item_ordertype {_q(listed)} is not a list of order type codes")
            return ORDER_TYPES
        if code not in codes:
            notes.append(f"{where}: unknown order type {code} ignored")
        elif codes[code] is not None:
            found.add(str(codes[code]))
    return tuple(t for t in ORDER_TYPES if t in found)


def _veg(attribute_id: str, attributes: dict[str, str]) -> bool | None:
    if not attribute_id:
        return None
    return _VEG.get(attributes.get(attribute_id, "").strip().lower())


def _taxes(raw: dict[str, Any], r: _Reader) -> tuple[list[MenuTax], set[str]]:
    taxes: list[MenuTax] = []
    known: set[str] = set()
    entries = _objects(raw, "taxes", r, required=False)
    _unique((r.text(t, "taxid", "tax", required=False) for t in entries), "tax", r)
    for t in entries:
        tid = r.ident(t, "taxid", "tax")
        where = f"tax {tid}"
        known.add(tid)
        name = r.name(t, "taxname", where)
        rate = r.percent_bps(t, "tax", where)
        if not r.flag(t, "active", where, default=True):
            continue
        if r.text(t, "taxtype", where, required=False) not in ("", "1"):
            r.skipped.append(f"{where} {name}: a fixed-amount tax cannot be imported (only percentages)")
            continue
        taxes.append(MenuTax(tid, name, rate))
    return taxes, known


def _addon_groups(
    raw: dict[str, Any], r: _Reader, attributes: dict[str, str],
) -> tuple[list[MenuAddonGroup], dict[str, int], set[str]]:
    groups: list[MenuAddonGroup] = []
    sizes: dict[str, int] = {}
    known: set[str] = set()
    entries = _objects(raw, "addongroups", r, required=False)
    _unique((r.text(g, "addongroupid", "addon group", required=False) for g in entries), "addon group", r)
    addon_ids: list[str] = []
    for g in entries:
        gid = r.ident(g, "addongroupid", "addon group")
        where = f"addon group {gid}"
        known.add(gid)
        name = r.name(g, "addongroup_name", where)
        active = r.flag(g, "active", where, default=True)
        addons: list[MenuAddon] = []
        items = g.get("addongroupitems") or []
        if not isinstance(items, list):
            r.problems.append(f"{where}: addongroupitems is not a list")
            items = []
        for position, a in enumerate(items):
            if not isinstance(a, dict):
                r.problems.append(f"{where}: an addon is not an object")
                continue
            aid = r.ident(a, "addonitemid", f"{where} addon")
            addon_ids.append(aid)
            awhere = f"addon {aid}"
            addons.append(MenuAddon(
                external_id=aid, name=r.name(a, "addonitem_name", awhere),
                price=r.money(a, "addonitem_price", awhere),
                is_available=r.flag(a, "active", awhere, default=True),
                is_veg=_veg(r.text(a, "attributes", awhere, required=False), attributes),
                rank=r.integer(a, "addonitem_rank", awhere, default=position + 1),
            ))
        if active:
            groups.append(MenuAddonGroup(gid, name, r.integer(g, "addongroup_rank", where), tuple(addons)))
            sizes[gid] = len(addons)
    _unique(addon_ids, "addon", r)
    return groups, sizes, known


def _categories(raw: dict[str, Any], r: _Reader) -> tuple[list[MenuCategory], set[str], set[str]]:
    entries = _objects(raw, "categories", r, required=True)
    _unique((r.text(c, "categoryid", "category", required=False) for c in entries), "category", r)
    parents = {r.text(p, "id", "parent category", required=False): r.name(p, "name", "parent category", required=False)
               for p in _objects(raw, "parentcategories", r, required=False)}
    active: list[tuple[str, str, int, str]] = []
    inactive: set[str] = set()
    for c in entries:
        cid = r.ident(c, "categoryid", "category")
        where = f"category {cid}"
        name = r.name(c, "categoryname", where)
        rank = r.integer(c, "categoryrank", where)
        if not r.flag(c, "active", where, default=True):
            inactive.add(cid)
            continue
        active.append((cid, name, rank, r.text(c, "parent_category_id", where, required=False)))
    taken: dict[str, int] = {}
    for _, name, _, _ in active:
        taken[name.lower()] = taken.get(name.lower(), 0) + 1
    categories: list[MenuCategory] = []
    used: set[str] = set()
    for cid, name, rank, parent in active:
        if taken[name.lower()] > 1:
            parent_name = parents.get(parent, "")
            candidate = f"{name} ({parent_name})" if parent_name else ""
            name = candidate if candidate and candidate.lower() not in used else f"{name} ({cid})"
        used.add(name.lower())
        categories.append(MenuCategory(cid, name, rank))
    return categories, {c.external_id for c in categories}, inactive


def _addon_links(
    item: dict[str, Any], where: str, r: _Reader, variations: list[dict[str, Any]],
    groups: dict[str, int], all_groups: set[str],
) -> tuple[list[ItemAddonGroup], list[str]]:
    """The item's groups with min/max: its own first, then those only its variations list."""
    problems: list[str] = []

    def entries(obj: dict[str, Any], allow_key: str, owner: str) -> list[tuple[str, int, int | None]]:
        if not r.flag(obj, allow_key, owner, default=True):
            return []
        listed = obj.get("addon") or []
        if not isinstance(listed, list):
            r.problems.append(f"{owner}: addon is not a list")
            return []
        found: list[tuple[str, int, int | None]] = []
        for a in listed:
            if not isinstance(a, dict):
                r.problems.append(f"{owner}: an addon link is not an object")
                continue
            gid = r.ident(a, "addon_group_id", f"{owner} addon link")
            low = r.integer(a, "addon_item_selection_min", owner)
            high = r.integer(a, "addon_item_selection_max", owner)
            found.append((gid, low, high or None))
        return found

    merged: dict[str, tuple[int, int | None]] = {}
    for gid, low, high in entries(item, "itemallowaddon", where):
        merged.setdefault(gid, (low, high))
    per_variation = [entries(v, "variationallowaddon", f"{where} variation") for v in variations]
    variation_only: dict[str, list[tuple[int, int | None]]] = {}
    for listed in per_variation:
        for gid, low, high in listed:
            if gid not in merged:
                variation_only.setdefault(gid, []).append((low, high))
    for gid, limits in variation_only.items():
        everywhere = all(any(g == gid for g, _, _ in listed) for listed in per_variation)
        low = min(lo for lo, _ in limits) if everywhere else 0
        highs = [hi for _, hi in limits]
        merged[gid] = (low, None if None in highs else max(h for h in highs if h is not None))
    links: list[ItemAddonGroup] = []
    for rank, (gid, (low, high)) in enumerate(merged.items(), start=1):
        if gid not in groups:
            if gid not in all_groups:
                problems.append(f"{where}: unknown addon group {gid} left out")
            continue
        limit = min(high if high is not None else max(groups[gid], low), MAX_SELECT)
        if low < 0 or limit < low:
            problems.append(f"{where}: addon group {gid} asks for {low} to {high} choices; left out")
            continue
        links.append(ItemAddonGroup(gid, low, limit, rank))
    return links, problems


def parse_menu(raw: Any, *, currency: str) -> ParsedMenu:
    """PetPooja's menu JSON -> our ParsedMenu; MenuFormatError when it cannot be read safely."""
    if not isinstance(raw, dict):
        raise MenuFormatError(["the menu is not a JSON object"])
    if str(raw.get("success", "1")).strip() == "0":
        raise MenuFormatError([f"PetPooja answered success=0: {shown(raw.get('message') or 'no message')[:300]}"])
    unstorable = first_unstorable(raw)
    if unstorable is not None:
        where = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in unstorable[0]).lstrip(".")
        raise MenuFormatError([f"{shown(where)[:200]}: text holds NUL (\\u0000) or a lone surrogate, which cannot"
                               " be stored"])
    r = _Reader(MINOR_DIGITS.get(currency.upper(), 2), currency.upper())
    order_type_codes = _order_type_codes(raw, r)
    attributes = {str(a.get("attributeid", "")).strip(): str(a.get("attribute", ""))
                  for a in _objects(raw, "attributes", r, required=False)} or dict(_DEFAULT_ATTRIBUTES)
    taxes, all_taxes = _taxes(raw, r)
    live_taxes = {t.external_id for t in taxes}
    groups, group_sizes, all_groups = _addon_groups(raw, r, attributes)
    categories, live_categories, inactive_categories = _categories(raw, r)

    entries = _objects(raw, "items", r, required=True)
    _unique((r.text(i, "itemid", "item", required=False) for i in entries), "item", r)
    variation_ids: list[str] = []
    items: list[MenuItem] = []
    for i in entries:
        iid = r.ident(i, "itemid", "item")
        name = r.name(i, "itemname", f"item {iid}")
        where = f"item {iid} {name}".rstrip()
        category = r.text(i, "item_categoryid", where)
        price = r.money(i, "price", where)
        variations_raw = i.get("variation") or []
        if not isinstance(variations_raw, list) or not all(isinstance(v, dict) for v in variations_raw):
            r.problems.append(f"{where}: variation is not a list of objects")
            variations_raw = []
        if not r.flag(i, "itemallowvariation", where, default=True):
            variations_raw = []
        variations: list[MenuVariation] = []
        for position, v in enumerate(variations_raw):
            vid = r.ident(v, "id", f"{where} variation")
            variation_ids.append(vid)
            vwhere = f"{where} variation {vid}"
            variations.append(MenuVariation(
                external_id=vid, name=r.name(v, "name", vwhere), price=r.money(v, "price", vwhere),
                is_available=r.flag(v, "active", vwhere, default=True),
                rank=r.integer(v, "variationrank", vwhere, default=position + 1),
                external_variation_id=r.text(v, "variationid", vwhere, required=False) or None,
            ))
        links, link_problems = _addon_links(i, where, r, variations_raw, group_sizes, all_groups)
        tax_ids: list[str] = []
        if not r.flag(i, "ignore_taxes", where, default=False):
            for tid in (t.strip() for t in r.text(i, "item_tax", where, required=False).split(",")):
                if not tid or tid in tax_ids:
                    continue
                if tid in live_taxes:
                    tax_ids.append(tid)
                elif tid not in all_taxes:
                    link_problems.append(f"{where}: unknown tax {tid} left out")
        order_types = _order_types(i, where, r, order_type_codes, link_problems)
        in_stock = r.flag(i, "in_stock", where, default=True)
        active = r.flag(i, "active", where, default=True)
        if category in inactive_categories:
            continue
        if category not in live_categories:
            r.skipped.append(f"{where}: unknown category {category!r}; item left out")
            continue
        if not name:
            r.skipped.append(f"item {iid}: no name; item left out")
            continue
        r.skipped.extend(link_problems)
        items.append(MenuItem(
            external_id=iid, category_external_id=category, name=name,
            description=r.text(i, "itemdescription", where, required=False) or None, price=price,
            is_veg=_veg(r.text(i, "item_attributeid", where, required=False), attributes),
            in_stock=in_stock, is_active=active, rank=r.integer(i, "itemrank", where),
            tax_external_ids=tuple(tax_ids), variations=tuple(variations), addon_groups=tuple(links),
            order_types=order_types,
        ))
    _unique(variation_ids, "variation", r)
    if not r.problems and not items:
        r.problems.append("the menu has no importable items; refusing to empty the whole menu")
    if r.problems:
        raise MenuFormatError(r.problems)
    return ParsedMenu(tuple(categories), tuple(items), tuple(groups), tuple(taxes), tuple(r.skipped))
