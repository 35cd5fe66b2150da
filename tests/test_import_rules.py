"""Imports point down, and only the store talks to a database driver (docs/ERRORS.md).

Read from the source with `ast` (nothing is imported): every `import` and `from ... import`,
at the top of a module or inside a function, counts.

- Layers: `scripts/` may import everything; `api/` imports `projections/`, `ledger/` and
  `viewer/`; `projections/` and `witness/` import `ledger/` only; `ledger/` and `viewer/`
  import no other layer of Témoin.
- Database drivers (psycopg, psycopg_pool, sqlite3) are imported under `ledger/store/` only:
  everything above it sees the errors of `ledger.errors`, never a driver's. (`scripts/bench*.py`
  and `scripts/torture.py`, tools that create and break databases, and the tests may import
  them.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("ledger", "projections", "api", "witness", "viewer", "scripts")
# What each layer may import among the others (a layer may always import itself).
ALLOWED: dict[str, frozenset[str]] = {
    "ledger": frozenset(),
    "viewer": frozenset(),
    "projections": frozenset({"ledger"}),
    "witness": frozenset({"ledger"}),
    "api": frozenset({"ledger", "projections", "viewer"}),
    "scripts": frozenset(LAYERS),
}
DRIVERS = frozenset({"psycopg", "psycopg_pool", "sqlite3"})
DRIVER_LAYERS = ("ledger", "api", "projections", "witness", "viewer")
STORE = Path("ledger/store")


def _modules(layer: str) -> list[Path]:
    return sorted(p.relative_to(ROOT) for p in (ROOT / layer).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted module) of every absolute import in the file."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def upward_imports(layer: str) -> list[str]:
    found = []
    for path in _modules(layer):
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in LAYERS and top != layer and top not in ALLOWED[layer]:
                found.append(f"{path}:{line} imports {module}")
    return found


def driver_imports(layer: str) -> list[str]:
    found = []
    for path in _modules(layer):
        if path.is_relative_to(STORE):
            continue
        for line, module in _imports(path):
            if module.split(".")[0] in DRIVERS:
                found.append(f"{path}:{line} imports {module}")
    return found


def test_every_layer_is_known_and_has_modules() -> None:
    """The rules below would pass on an empty or renamed folder: make sure they read code."""
    for layer in LAYERS:
        assert _modules(layer), f"no module under {layer}/"
    assert any(path.is_relative_to(STORE) for path in _modules("ledger"))


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_point_down(layer: str) -> None:
    assert upward_imports(layer) == []


@pytest.mark.parametrize("layer", DRIVER_LAYERS)
def test_only_the_store_imports_a_database_driver(layer: str) -> None:
    assert driver_imports(layer) == []


def test_the_store_does_import_the_drivers() -> None:
    """The check finds a driver import where there is one (else it proves nothing)."""
    seen = {
        module.split(".")[0]
        for path in _modules("ledger") if path.is_relative_to(STORE)
        for _, module in _imports(path)
    }
    assert {"psycopg", "sqlite3"} <= seen


def test_the_checks_catch_what_they_forbid(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake tree with each forbidden import, one hidden inside a function."""
    (tmp_path / "ledger" / "store").mkdir(parents=True)
    (tmp_path / "ledger" / "store" / "ok.py").write_text("import sqlite3\n")
    (tmp_path / "ledger" / "up.py").write_text(
        "def f():\n    import psycopg_pool\n    from api.app import create_app\n"
    )
    (tmp_path / "projections").mkdir()
    (tmp_path / "projections" / "p.py").write_text("import api.problems\nimport ledger.errors\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert driver_imports("ledger") == ["ledger/up.py:2 imports psycopg_pool"]
    assert upward_imports("ledger") == ["ledger/up.py:3 imports api.app"]
    assert upward_imports("projections") == ["projections/p.py:1 imports api.problems"]
