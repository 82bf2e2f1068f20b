"""Our canonical menu (``db.menu.full_menu``) -> Uber Eats' menu bodies.

Pure: no I/O. Three things, each small (what Uber would refuse is checked by the checks
every platform shares, sync/platform/menu.py):

- ``uber_menu``: the body of the full upload ``PUT /v2/eats/stores/{store_id}/menus``.
- ``item_suspension``: the sparse body of ``POST /v2/eats/stores/{store_id}/menus/items/{item_id}``
  that suspends or unsuspends one item.
- ``availability_diff``: whether two uploads differ only in which items are suspended, so
  those items can be updated one by one instead of uploading the whole menu again.

Mapping choices (docs/ubereats.md, "Menu: our model -> Uber's payload", has the table and
what is verified or assumed about each Uber field):

- One menu, open all week 00:00-23:59: restaurants have no opening hours in our model yet.
- Categories without items are left out (Uber shows a category only for its items).
- Uber's modifier options are items, so addons and variations become items too.
- Variations: one modifier group per item, ``<item id>:variations``, choose exactly one. The
  item costs its cheapest variation and each option the difference, so every choice costs
  what our menu says. The cheapest is taken over every variation, available or not, so an
  out-of-stock variation changes a suspension and never a price.
- Addon groups: one modifier group per group; items offering it with the same min/max
  share it. An item that offers it with other limits (our limits are per item) gets its own
  copy, ``<group id>:<min>-<max>``, holding the same addon items.
- Unavailable items, variations and addons are suspended rather than left out, so the
  guest sees them sold out and turning them back on needs no upload.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Category = Mapping[str, Any]
Item = Mapping[str, Any]
Payload = dict[str, Any]

MENU_ID = "all-day"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# suspend_until is unix seconds. "Until we say otherwise" is the largest signed 32-bit time
# (2038-01-19), the value third-party integrations send; a larger one may not fit Uber's field.
SUSPEND_FOREVER = 2**31 - 1
SUSPEND_REASON = "Unavailable"
VARIATIONS_TITLE = "Choose one"


# --- the full upload -----------------------------------------------------------------------


def uber_menu(categories: Sequence[Category], *, menu_title: str, language: str = "en_us") -> Payload:
    """The body of ``PUT /v2/eats/stores/{store_id}/menus`` for ``db.menu.full_menu``'s answer."""
    builder = _MenuBuilder(language)
    for category in categories:
        builder.add_category(category)
    return builder.payload(menu_title)


def variations_group_id(item_id: str) -> str:
    return f"{item_id}:variations"


def _text(value: str, language: str) -> dict[str, Any]:
    return {"translations": {language: value}}


def _all_week() -> list[dict[str, Any]]:
    return [{"day_of_week": day, "time_periods": [{"start_time": "00:00", "end_time": "23:59"}]} for day in DAYS]


def _suspension(suspended: bool) -> dict[str, Any]:
    # Unsuspending sets a time already past rather than an empty object, which a sparse update
    # might read as "leave as is".
    if suspended:
        return {"suspension": {"suspend_until": SUSPEND_FOREVER, "reason": SUSPEND_REASON}}
    return {"suspension": {"suspend_until": 0, "reason": ""}}


def _tax_info(taxes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Our taxes in basis points -> Uber's ``tax_rate`` percentage (8 means 8 %)."""
    bps = sum(int(t["rate_bps"]) for t in taxes)
    if not bps:
        return {}
    return {"tax_rate": bps // 100 if bps % 100 == 0 else bps / 100}


def _option_quantity(group_ids: Iterable[str]) -> dict[str, Any]:
    # Each option at most once per group: our min/max count distinct addons.
    return {"overrides": [
        {"context_type": "MODIFIER_GROUP", "context_value": g, "quantity": {"max_permitted": 1}} for g in group_ids
    ]}


def _group_id(group: Mapping[str, Any], taken: Mapping[str, tuple[int, int]]) -> str:
    base = str(group["id"])
    limits = (int(group["min_select"]), int(group["max_select"]))
    if taken.get(base, limits) == limits:
        return base
    return f"{base}:{limits[0]}-{limits[1]}"


class _MenuBuilder:
    def __init__(self, language: str) -> None:
        self.language = language
        self.categories: list[dict[str, Any]] = []
        self.items: list[dict[str, Any]] = []
        self.groups: dict[str, dict[str, Any]] = {}
        self.limits: dict[str, tuple[int, int]] = {}
        # addon id -> (the addon, the modifier groups holding it), in the order first seen
        self.addons: dict[str, tuple[Mapping[str, Any], list[str]]] = {}

    def add_category(self, category: Category) -> None:
        items = category["items"]
        if not items:
            return
        self.categories.append({
            "id": str(category["id"]),
            "title": _text(category["name"], self.language),
            "entities": [{"type": "ITEM", "id": str(item["id"])} for item in items],
        })
        for item in items:
            self.add_item(item)

    def add_item(self, item: Item) -> None:
        item_id = str(item["id"])
        variations = item["variations"]
        price = min((int(v["price"]) for v in variations), default=int(item["price"]))
        group_ids = [variations_group_id(item_id)] if variations else []
        group_ids += [self.add_addon_group(g) for g in item["addon_groups"] if g["addons"]]
        entry: dict[str, Any] = {"id": item_id, "title": _text(item["name"], self.language)}
        if item["description"]:
            entry["description"] = _text(item["description"], self.language)
        entry["price_info"] = {"price": price}
        entry["quantity_info"] = {}
        entry["tax_info"] = _tax_info(item["taxes"])
        if group_ids:
            entry["modifier_group_ids"] = {"ids": group_ids}
        if not item["is_available"]:
            entry["suspension_info"] = _suspension(True)
        self.items.append(entry)
        if variations:
            self.add_variations(item_id, variations, price, entry["tax_info"])

    def add_variations(
        self, item_id: str, variations: Sequence[Mapping[str, Any]], base: int, tax_info: dict[str, Any],
    ) -> None:
        group_id = variations_group_id(item_id)
        ids = [str(v["id"]) for v in variations]
        self.groups[group_id] = self.group(group_id, VARIATIONS_TITLE, 1, 1, ids)
        for variation in variations:
            self.items.append(self.option(variation, int(variation["price"]) - base, [group_id], tax_info))

    def add_addon_group(self, group: Mapping[str, Any]) -> str:
        group_id = _group_id(group, self.limits)
        if group_id in self.groups:
            return group_id
        self.limits.setdefault(str(group["id"]), (int(group["min_select"]), int(group["max_select"])))
        addon_ids = [str(a["id"]) for a in group["addons"]]
        self.groups[group_id] = self.group(
            group_id, group["name"], int(group["min_select"]), int(group["max_select"]), addon_ids,
        )
        for addon in group["addons"]:
            self.addons.setdefault(str(addon["id"]), (addon, []))[1].append(group_id)
        return group_id

    def group(self, group_id: str, title: str, min_permitted: int, max_permitted: int, ids: list[str]) -> Payload:
        return {
            "id": group_id,
            "title": _text(title, self.language),
            "quantity_info": {"quantity": {"min_permitted": min_permitted, "max_permitted": max_permitted}},
            "modifier_options": [{"type": "ITEM", "id": i} for i in ids],
        }

    def option(
        self, option: Mapping[str, Any], price: int, group_ids: list[str], tax_info: dict[str, Any],
    ) -> Payload:
        entry: dict[str, Any] = {
            "id": str(option["id"]),
            "title": _text(option["name"], self.language),
            "price_info": {"price": price},
            "quantity_info": _option_quantity(group_ids),
            "tax_info": tax_info,
        }
        if not option["is_available"]:
            entry["suspension_info"] = _suspension(True)
        return entry

    def payload(self, menu_title: str) -> Payload:
        # Addons carry no taxes of their own in our model; Uber's store default applies.
        addon_items = [self.option(addon, int(addon["price"]), groups, {}) for addon, groups in self.addons.values()]
        return {
            "menus": [{
                "id": MENU_ID,
                "title": _text(menu_title, self.language),
                "service_availability": _all_week(),
                "category_ids": [c["id"] for c in self.categories],
            }],
            "categories": self.categories,
            "items": self.items + addon_items,
            "modifier_groups": list(self.groups.values()),
        }


# --- one item's availability ---------------------------------------------------------------


def item_suspension(*, suspended: bool) -> Payload:
    """The body of ``POST /v2/eats/stores/{store_id}/menus/items/{item_id}`` that suspends or
    unsuspends that item and changes nothing else (the endpoint updates only the fields sent;
    the item's id is in the URL)."""
    return {"suspension_info": _suspension(suspended)}


def availability_diff(old_payload: Payload | None, new_payload: Payload) -> list[tuple[str, bool]] | None:
    """The (item id, suspended) changes from ``old_payload`` to ``new_payload`` when nothing but
    items' suspension differs; None when anything else does (or there is no old payload), and
    the whole menu must be uploaded."""
    if old_payload is None or _without_suspensions(old_payload) != _without_suspensions(new_payload):
        return None
    before, after = _suspended_ids(old_payload), _suspended_ids(new_payload)
    return [
        (item["id"], item["id"] in after)
        for item in new_payload["items"]
        if (item["id"] in before) != (item["id"] in after)
    ]


def _without_suspensions(payload: Payload) -> Payload:
    items = [{k: v for k, v in item.items() if k != "suspension_info"} for item in payload["items"]]
    return {**payload, "items": items}


def _suspended_ids(payload: Payload) -> set[str]:
    return {
        item["id"] for item in payload["items"]
        if (item.get("suspension_info") or {}).get("suspension", {}).get("suspend_until")
    }
