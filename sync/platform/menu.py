"""Checks on our canonical menu (``db.menu.full_menu``) that every platform needs before a
publish: what a platform would refuse (no name, a negative price, an addon group whose min
exceeds its max or its addons, an id used twice), each problem naming its item, so the
operator sees "Lassi: price: the price is negative" instead of a platform's 400 later.
A platform with limits of its own checks those in its formatter and adds them.

Pure: no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Category = Mapping[str, Any]
Item = Mapping[str, Any]


@dataclass(frozen=True)
class MenuProblem:
    """One thing a platform would refuse, on the item (or category) that holds it."""

    item_id: str
    item_name: str
    field: str
    message: str


def check_menu(categories: Sequence[Category]) -> list[MenuProblem]:
    """What a platform would refuse in this menu, each problem on the item that holds it."""
    problems: list[MenuProblem] = []
    for category in categories:
        if not str(category["name"]).strip():
            problems.append(MenuProblem(str(category["id"]), "", "category.name", "the category has no name"))
        for item in category["items"]:
            problems += _check_item(item)
    problems += _duplicate_ids(categories)
    return problems


def _check_item(item: Item) -> list[MenuProblem]:
    item_id, name = str(item["id"]), str(item["name"])

    def problem(field: str, message: str) -> MenuProblem:
        return MenuProblem(item_id, name, field, message)

    found: list[MenuProblem] = []
    if not name.strip():
        found.append(problem("name", "the item has no name"))
    if int(item["price"]) < 0:
        found.append(problem("price", f"the price is negative ({item['price']})"))
    for v in item["variations"]:
        found += _check_option(problem, "variation", v)
    for g in item["addon_groups"]:
        label = f"addon group {g['name']!r}"
        if int(g["min_select"]) > int(g["max_select"]):
            found.append(problem("addon_groups.min_select", f"{label}: min {g['min_select']} > max {g['max_select']}"))
        if int(g["min_select"]) > len(g["addons"]):
            found.append(problem(
                "addon_groups.min_select", f"{label}: min {g['min_select']} > its {len(g['addons'])} addons",
            ))
        if not str(g["name"]).strip():
            found.append(problem("addon_groups.name", "an addon group has no name"))
        for a in g["addons"]:
            found += _check_option(problem, "addon", a)
    return found


Problem = Callable[[str, str], MenuProblem]


def _check_option(problem: Problem, kind: str, option: Mapping[str, Any]) -> list[MenuProblem]:
    found: list[MenuProblem] = []
    if not str(option["name"]).strip():
        found.append(problem(f"{kind}s.name", f"{kind} {option['id']} has no name"))
    if int(option["price"]) < 0:
        found.append(problem(f"{kind}s.price", f"{kind} {option['name']!r}: the price is negative ({option['price']})"))
    return found


def _duplicate_ids(categories: Sequence[Category]) -> list[MenuProblem]:
    """Ids a platform would see twice. An addon group (and its addons) reached from two items is
    one entity, not a duplicate; any other repeat is."""
    seen: dict[str, str] = {}
    repeats: Counter[str] = Counter()
    problems: list[MenuProblem] = []

    def see(entity_id: Any, kind: str, shareable: bool, owner: Item | None, name: str) -> None:
        key = str(entity_id)
        if key in seen and not (shareable and seen[key] == kind):
            repeats[key] += 1
            if repeats[key] == 1:
                who = owner if owner is not None else {"id": key, "name": name}
                problems.append(MenuProblem(
                    str(who["id"]), str(who["name"]), "id", f"id {key} is used by {_a(seen[key])} and {_a(kind)}",
                ))
        seen.setdefault(key, kind)

    for category in categories:
        if category["items"]:
            see(category["id"], "category", False, None, str(category["name"]))
        for item in category["items"]:
            see(item["id"], "item", False, item, str(item["name"]))
            for v in item["variations"]:
                see(v["id"], "variation", False, item, str(item["name"]))
            for g in item["addon_groups"]:
                see(g["id"], "addon group", True, item, str(item["name"]))
                for a in g["addons"]:
                    see(a["id"], "addon", True, item, str(item["name"]))
    return problems


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
