"""Our canonical menu (``db.menu.full_menu``) -> DoorDash's menu bodies. Pure: no I/O.

- ``doordash_menu``: the body of ``POST /marketplace/api/v1/menus`` (and of the
  ``PATCH /menus/{menu_id}`` that updates it) without its ``store``, which ``with_store`` adds:
  what is kept as the published menu does not depend on the store's id.
- ``check_menu``: the checks every platform shares plus DoorDash's own limits.
- ``only_activity_differs`` and ``activity_changes``: whether two menus differ only in what
  is active, and the item-availability body that takes one to the other.

Mapping choices (docs/doordash.md has the table and what is verified or assumed):

- One menu, open all week 00:00-23:59 (``open_hours``), no ``special_hours``: restaurants
  have no opening hours in our model yet.
- Categories without items are left out; ``sort_id`` is the category's place in our menu.
- Variations: one extra per item, ``<item id>:variations``, choose exactly one. The item costs
  its cheapest variation and each option the difference, so every choice costs what our menu
  says (the cheapest over every variation, available or not: an out-of-stock variation changes
  what is active, never a price).
- Addon groups: an extra per item offering it (DoorDash nests extras in items), with the
  item's min/max.
- Unavailable items, variations and addons are sent inactive (``active: false``) rather than
  left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sync.platform.menu import Category, Item, MenuProblem
from sync.platform.menu import check_menu as shared_checks

Payload = dict[str, Any]

MENU_NAME = "Menu"
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
VARIATIONS_NAME = "Choose one"
# DoorDash's own limits as we apply them (ASSUMED, docs/doordash.md: none is documented publicly).
NAME_LIMIT = 255
DESCRIPTION_LIMIT = 1000


def variations_extra_id(item_id: str) -> str:
    return f"{item_id}:variations"


def doordash_menu(categories: Sequence[Category], *, menu_name: str = MENU_NAME) -> Payload:
    """The menu body for ``db.menu.full_menu``'s answer, without ``store`` (``with_store``)."""
    entries = [_category(c, sort_id) for sort_id, c in enumerate(c for c in categories if c["items"])]
    return {
        "open_hours": [{"day_index": day, "start_time": "00:00", "end_time": "23:59"} for day in DAYS],
        "special_hours": [],
        "menu": {"name": menu_name, "active": True, "categories": entries},
    }


def with_store(payload: Payload, store_id: str, provider_type: str, reference: str) -> Payload:
    """The body as sent: the store, and the ``reference`` DoorDash echoes in its menu status
    webhook (our id of this menu job)."""
    return {"reference": reference, "store": {"merchant_supplied_id": store_id, "provider_type": provider_type},
            **payload}


def _category(category: Category, sort_id: int) -> Payload:
    return {"name": category["name"], "merchant_supplied_id": str(category["id"]), "active": True,
            "sort_id": sort_id, "items": [_item(item) for item in category["items"]]}


def _item(item: Item) -> Payload:
    item_id, variations = str(item["id"]), item["variations"]
    price = min((int(v["price"]) for v in variations), default=int(item["price"]))
    extras = [_variations(item_id, variations, price)] if variations else []
    extras += [_addon_group(g) for g in item["addon_groups"] if g["addons"]]
    entry: Payload = {"name": item["name"], "description": item["description"] or "",
                      "merchant_supplied_id": item_id, "active": bool(item["is_available"]), "price": price}
    tax_rate = _tax_rate(item["taxes"])
    if tax_rate is not None:
        entry["tax_rate"] = tax_rate
    entry["extras"] = extras
    return entry


def _tax_rate(taxes: Iterable[Mapping[str, Any]]) -> int | float | None:
    """Our taxes in basis points -> a percentage (5 means 5 %); None without taxes."""
    bps = sum(int(t["rate_bps"]) for t in taxes)
    if not bps:
        return None
    return bps // 100 if bps % 100 == 0 else bps / 100


def _option(option: Mapping[str, Any], price: int) -> Payload:
    return {"name": option["name"], "merchant_supplied_id": str(option["id"]), "price": price,
            "active": bool(option["is_available"])}


def _variations(item_id: str, variations: Sequence[Mapping[str, Any]], base: int) -> Payload:
    return {"name": VARIATIONS_NAME, "merchant_supplied_id": variations_extra_id(item_id),
            "min_num_options": 1, "max_num_options": 1,
            "options": [_option(v, int(v["price"]) - base) for v in variations]}


def _addon_group(group: Mapping[str, Any]) -> Payload:
    return {"name": group["name"], "merchant_supplied_id": str(group["id"]),
            "min_num_options": int(group["min_select"]), "max_num_options": int(group["max_select"]),
            "options": [_option(a, int(a["price"])) for a in group["addons"]]}


# --- what DoorDash would refuse --------------------------------------------------------------


def check_menu(categories: Sequence[Category]) -> list[MenuProblem]:
    """The shared checks, then DoorDash's: names within its limits, and an addon group that
    lets the guest choose something (``max_num_options`` 0 is an extra nobody can use)."""
    problems = shared_checks(categories)
    for category in categories:
        for item in category["items"]:
            problems += _doordash_limits(item)
    return problems


def _doordash_limits(item: Item) -> list[MenuProblem]:
    item_id, name = str(item["id"]), str(item["name"])
    found = []
    if len(name) > NAME_LIMIT:
        found.append(MenuProblem(item_id, name, "name", f"longer than DoorDash's {NAME_LIMIT} characters"))
    if len(item["description"] or "") > DESCRIPTION_LIMIT:
        found.append(MenuProblem(item_id, name, "description",
                                 f"longer than DoorDash's {DESCRIPTION_LIMIT} characters"))
    for group in item["addon_groups"]:
        if group["addons"] and int(group["max_select"]) < 1:
            found.append(MenuProblem(item_id, name, "addon_groups.max_select",
                                     f"addon group {group['name']!r}: max 0 lets the guest choose nothing"))
        for option in group["addons"]:
            if len(str(option["name"])) > NAME_LIMIT:
                found.append(MenuProblem(item_id, name, "addons.name",
                                         f"addon {option['id']}: longer than DoorDash's {NAME_LIMIT} characters"))
    return found


# --- availability only -----------------------------------------------------------------------


def only_activity_differs(old: Payload | None, new: Payload) -> bool:
    """Whether ``old`` and ``new`` differ in nothing but what is active (the item-availability
    call then does instead of a menu update)."""
    return old is not None and _inactive_free(old) == _inactive_free(new)


def activity_changes(old: Payload | None, new: Payload) -> list[dict[str, Any]]:
    """Entities whose ``active`` differs between ``old`` and ``new`` (present in both), as the
    item-availability body: an item deactivated through that call must be reactivated through
    it too, whatever a later full menu says."""
    if old is None:
        return []
    before, after = _activity(old), _activity(new)
    return [{"merchant_supplied_id": ref, "is_active": active}
            for ref, active in after.items() if ref in before and before[ref] != active]


def _entities(payload: Payload) -> Iterable[Mapping[str, Any]]:
    for category in payload["menu"]["categories"]:
        for item in category["items"]:
            yield item
            for extra in item["extras"]:
                yield from extra["options"]


def _activity(payload: Payload) -> dict[str, bool]:
    """Each item's and option's active flag by its id (an addon offered by several items is one entity)."""
    return {str(entity["merchant_supplied_id"]): bool(entity["active"]) for entity in _entities(payload)}


def _inactive_free(payload: Payload) -> Payload:
    def strip(entity: Mapping[str, Any]) -> Payload:
        return {k: v for k, v in entity.items() if k != "active"}

    categories = [{**c, "items": [{**strip(i), "extras": [{**e, "options": [strip(o) for o in e["options"]]}
                                                          for e in i["extras"]]} for i in c["items"]]}
                  for c in payload["menu"]["categories"]]
    return {**payload, "menu": {**payload["menu"], "categories": categories}}
