"""Our canonical menu (``db.menu.full_menu``) -> Grubhub's PosNormalizedMenu, and the limits
Grubhub documents that the shared checks (sync/platform/menu.py) do not cover.

Pure: no I/O. The normalized menu is flat: entities in their own arrays, linked by
``external_id`` (ours, so Grubhub's orders name our ids). Ingestion diffs by external id: an
entity missing from the payload is removed from the store.

Mapping choices (docs/grubhub.md has the table and what is verified or assumed):

- ``menu_sections``: our categories with items (an empty one is left out).
- Prices are decimal amounts in the currency (3.0, 1.79), as Grubhub's own examples show; the
  field's description says cents, so a sandbox must settle it (ASSUMED).
- Variations: one modifier prompt per item, ``<item id>:variations``, choose exactly one; the
  item costs its cheapest variation and each variation the difference.
- Addon groups: one modifier prompt (and its modifier list) per group and limits; items with
  the same limits share it, others get ``<group id>:<min>-<max>``.
- Unavailable items and options reference one ``UNAVAILABLE`` availability override, so the
  guest sees them sold out; turning them on removes the reference (a re-ingestion).
- Taxes: one tax rate per distinct total rate, ``tax:<basis points>``, as a decimal (0.05).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sync.platform.menu import Category, MenuProblem

Payload = dict[str, Any]
Item = Mapping[str, Any]

UNAVAILABLE = "unavailable"
VARIATIONS_PROMPT = "Choose one"
# Grubhub: "DO NOT use -1 ... for unlimited quantity"; a tax rate "must be between 0 and 1".
MAX_TAX_BPS = 10_000


def amount(minor: int) -> float:
    """Minor units -> Grubhub's decimal amount (two decimals)."""
    return round(minor / 100, 2)


def variations_prompt_id(item_id: str) -> str:
    return f"{item_id}:variations"


def grubhub_problems(categories: Sequence[Category]) -> list[MenuProblem]:
    """Grubhub's own limits: a modifier prompt needs a maximum of at least one, and an item's
    taxes must add up to a rate between 0 and 1."""
    found: list[MenuProblem] = []
    for category in categories:
        for item in category["items"]:
            item_id, name = str(item["id"]), str(item["name"])
            bps = sum(int(t["rate_bps"]) for t in item["taxes"])
            if bps > MAX_TAX_BPS:
                found.append(MenuProblem(item_id, name, "taxes", f"the taxes add up to {bps / 100}% (over 100%)"))
            for g in item["addon_groups"]:
                if g["addons"] and int(g["max_select"]) < 1:
                    found.append(MenuProblem(item_id, name, "addon_groups.max_select",
                                             f"addon group {g['name']!r}: Grubhub needs a maximum of at least 1"))
    return found


def grubhub_menu(categories: Sequence[Category], *, currency: str) -> Payload:
    """The PosNormalizedMenu of ``db.menu.full_menu``'s answer."""
    builder = _MenuBuilder()
    for category in categories:
        builder.add_category(category)
    return builder.payload(currency)


class _MenuBuilder:
    def __init__(self) -> None:
        self.sections: list[Payload] = []
        self.items: list[Payload] = []
        self.prompts: dict[str, Payload] = {}
        self.lists: list[Payload] = []
        self.modifiers: dict[str, Payload] = {}
        self.taxes: dict[int, Payload] = {}
        self.limits: dict[str, tuple[int, int]] = {}
        self.unavailable = False

    def add_category(self, category: Category) -> None:
        if not category["items"]:
            return
        self.sections.append({"external_id": str(category["id"]), "name": category["name"],
                              "items": [str(item["id"]) for item in category["items"]]})
        for item in category["items"]:
            self.add_item(item)

    def add_item(self, item: Item) -> None:
        item_id = str(item["id"])
        variations = item["variations"]
        price = min((int(v["price"]) for v in variations), default=int(item["price"]))
        prompts = [self.add_variations(item_id, variations, price)] if variations else []
        prompts += [self.add_addon_group(g) for g in item["addon_groups"] if g["addons"]]
        entry: Payload = {"external_id": item_id, "name": item["name"], "price": amount(price)}
        if item["description"]:
            entry["description"] = item["description"]
        tax = self.tax_rate(sum(int(t["rate_bps"]) for t in item["taxes"]))
        if tax is not None:
            entry["tax_rate"] = tax
        entry["modifier_prompts"] = prompts
        self.items.append(self.availability(entry, bool(item["is_available"])))

    def availability(self, entry: Payload, available: bool) -> Payload:
        if not available:
            self.unavailable = True
            entry["availability_override"] = UNAVAILABLE
        return entry

    def tax_rate(self, bps: int) -> str | None:
        if not bps:
            return None
        self.taxes.setdefault(bps, {"external_id": f"tax:{bps}", "name": f"Tax {bps / 100}%",
                                    "rate": round(bps / 10_000, 6)})
        return f"tax:{bps}"

    def prompt(self, prompt_id: str, name: str, low: int, high: int, option_ids: list[str]) -> str:
        list_id = f"{prompt_id}:list"
        self.prompts[prompt_id] = {"external_id": prompt_id, "name": name, "modifier_list": list_id,
                                   "default_selection_model": {"minimum_quantity": low, "maximum_quantity": high}}
        self.lists.append({"external_id": list_id, "name": name, "modifiers": option_ids})
        return prompt_id

    def add_variations(self, item_id: str, variations: Sequence[Mapping[str, Any]], base: int) -> str:
        for v in variations:
            self.add_modifier(v, int(v["price"]) - base)
        return self.prompt(variations_prompt_id(item_id), VARIATIONS_PROMPT, 1, 1, [str(v["id"]) for v in variations])

    def add_addon_group(self, group: Mapping[str, Any]) -> str:
        base, limits = str(group["id"]), (int(group["min_select"]), int(group["max_select"]))
        prompt_id = base if self.limits.setdefault(base, limits) == limits else f"{base}:{limits[0]}-{limits[1]}"
        if prompt_id in self.prompts:
            return prompt_id
        for addon in group["addons"]:
            self.add_modifier(addon, int(addon["price"]))
        return self.prompt(prompt_id, group["name"], *limits, [str(a["id"]) for a in group["addons"]])

    def add_modifier(self, option: Mapping[str, Any], price: int) -> None:
        entry: Payload = {"external_id": str(option["id"]), "name": option["name"], "default_price": amount(price)}
        self.modifiers.setdefault(entry["external_id"], self.availability(entry, bool(option["is_available"])))

    def payload(self, currency: str) -> Payload:
        menu: Payload = {
            "menu_info": {"currency": currency, "sections": [s["external_id"] for s in self.sections]},
            "tax_rates": list(self.taxes.values()),
            "menu_sections": self.sections,
            "items": self.items,
            "modifier_prompts": list(self.prompts.values()),
            "modifier_lists": self.lists,
            "modifiers": list(self.modifiers.values()),
            "availability_overrides": [],
        }
        if self.unavailable:
            menu["availability_overrides"] = [{
                "external_id": UNAVAILABLE, "name": "Unavailable", "start_date": "2000-01-01T00:00:00.000Z",
                "end_date": "9999-12-31T23:59:59.999Z", "override_type": "UNAVAILABLE"}]
        return menu
