"""Layers import one way: api -> db, api -> sync, sync -> db; db imports neither; nothing
imports scripts. providers (the external services) sits on db: api and sync may use it, it uses
neither, and db does not use it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"db": {"api", "sync", "scripts", "providers"}, "sync": {"api", "scripts"}, "api": {"scripts"},
             "providers": {"api", "sync", "scripts"}}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_the_layers_below_it(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
        if _imports(path) & FORBIDDEN[package]
    }
    assert offenders == {}


def test_the_layer_check_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from api.app import create_app\nimport sync.worker\n")
    assert _imports(bad) & FORBIDDEN["db"] == {"api", "sync"}
