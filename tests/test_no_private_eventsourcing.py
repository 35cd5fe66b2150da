"""Témoin uses eventsourcing through its documented API only (issue 14, item 1).

An AST check over the project's code: no copy of an object behind its class's back
(`object.__new__`, `__dict__` writes), no unwrapping of decorators (`__wrapped__`), none of the
private attributes the project once reached into (`_sqlite_conn`, `_pending_events`, the
repository cache's inner `.cache.cache`), and no `_`-prefixed attribute of eventsourcing's on a
name imported from eventsourcing, on an `app` chain (`self.app.repository._x`), or on `self` /
`cls` inside a class derived from an eventsourcing class. This is what lets pyproject pin
`eventsourcing<10` instead of one minor release.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("ledger", "api", "projections", "scripts", "witness")
# The main branch before the change (2026-12-03): its code reached into eventsourcing.
OLD_MAIN = "2c2ab05"

BANNED_ATTRIBUTES = {
    "__wrapped__": "unwraps a decorator of eventsourcing's",
    "_sqlite_conn": "eventsourcing's private sqlite3 connection",
    "_pending_events": "eventsourcing's private pending-event list",
}
# Keywords the project once passed through Application.save / EventStore.put, relying on
# eventsourcing forwarding what it does not know to the recorder's insert_events.
TUNNELLED = {"append"}
DICT_MUTATORS = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__"}


@functools.cache
def _private_names_of(cls: type) -> frozenset[str]:
    """The `_names` (not dunder) that eventsourcing's classes in `cls`'s MRO define or set on
    their instances: what a subclass must not touch on `self` or `cls`."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("eventsourcing"):
            continue
        names.update(n for n in vars(klass) if _private(n))
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                names.add(node.attr)
    return frozenset(names)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _chain(node: ast.expr) -> list[str] | None:
    """`self.app.repository` -> ["self", "app", "repository"]; None if not a plain chain."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _eventsourcing_names(tree: ast.Module) -> dict[str, tuple[str, str | None]]:
    """Names bound to an eventsourcing import: name -> (module, attribute or None)."""
    bound: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "eventsourcing":
                    if alias.asname:
                        bound[alias.asname] = (alias.name, None)
                    else:
                        bound["eventsourcing"] = ("eventsourcing", None)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == (
            "eventsourcing"
        ):
            for alias in node.names:
                bound[alias.asname or alias.name] = (node.module or "", alias.name)
    return bound


def _resolve(chain: list[str], bound: dict[str, tuple[str, str | None]]) -> object:
    """The eventsourcing object a dotted name denotes (None if it cannot be imported)."""
    module, attribute = bound[chain[0]]
    try:
        found: object = importlib.import_module(module)
        for name in ([attribute] if attribute else []) + chain[1:]:
            found = getattr(found, name)
    except (ImportError, AttributeError):
        return None
    return found


class _Checker(ast.NodeVisitor):
    def __init__(self, path: str, tree: ast.Module) -> None:
        self.path = path
        self.es_names = _eventsourcing_names(tree)
        self.found: list[str] = []
        # Private names of eventsourcing's classes that the enclosing classes derive from.
        self.inherited: list[frozenset[str]] = []

    def flag(self, node: ast.AST, why: str) -> None:
        self.found.append(f"{self.path}:{getattr(node, 'lineno', 0)}: {why}")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        names: set[str] = set()
        for base in node.bases:
            chain = _chain(base)
            if chain is not None and chain[0] in self.es_names:
                cls = _resolve(chain, self.es_names)
                if isinstance(cls, type):
                    names |= _private_names_of(cls)
        for item in node.body:  # a method of ours named like one of theirs replaces it
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name in names:
                self.flag(item, f"`{item.name}` overrides eventsourcing's private method")
        self.inherited.append(frozenset(names))
        self.generic_visit(node)
        self.inherited.pop()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr in BANNED_ATTRIBUTES:
            self.flag(node, f"`.{attr}`: {BANNED_ATTRIBUTES[attr]}")
        elif attr == "cache" and (
            (isinstance(node.value, ast.Attribute) and node.value.attr == "cache")
            or (isinstance(node.value, ast.Name) and node.value.id == "cache")
        ):
            self.flag(node, "`.cache.cache`: the inside of eventsourcing's repository cache")
        elif attr == "cache" and (chain := _chain(node.value)) is not None and (
            chain[-1] == "repository"
        ):
            self.flag(node, "`repository.cache`: eventsourcing's aggregate cache (the ledger "
                            "keeps its own)")
        elif attr == "__new__" and isinstance(node.value, ast.Name) and (
            node.value.id == "object"
        ):
            self.flag(node, "`object.__new__`: builds an object behind its class's back")
        elif _private(attr):
            chain = _chain(node.value)
            if chain is not None:
                if chain[0] in self.es_names:
                    self.flag(node, f"`{'.'.join(chain)}.{attr}`: private to eventsourcing")
                elif "app" in chain[1:]:
                    self.flag(node, f"`{'.'.join(chain)}.{attr}`: private attribute of an "
                                    f"eventsourcing application's object")
                elif (chain in (["self"], ["cls"]) and self.inherited
                      and attr in self.inherited[-1]):
                    self.flag(node, f"`{chain[0]}.{attr}`: eventsourcing's own private "
                                    f"attribute, reached from a subclass")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if node.value in BANNED_ATTRIBUTES and node.value != "__wrapped__":
            self.flag(node, f"{node.value!r}: {BANNED_ATTRIBUTES[node.value]}")

    def _dict_write(self, target: ast.expr) -> bool:
        if isinstance(target, ast.Subscript):
            target = target.value
        return isinstance(target, ast.Attribute) and target.attr == "__dict__"

    def visit_Assign(self, node: ast.Assign) -> None:
        if any(self._dict_write(t) for t in node.targets):
            self.flag(node, "writes an object's `__dict__`")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if self._dict_write(node.target):
            self.flag(node, "writes an object's `__dict__`")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        if any(self._dict_write(t) for t in node.targets):
            self.flag(node, "deletes from an object's `__dict__`")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in DICT_MUTATORS:
            owner = func.value
            if (isinstance(owner, ast.Attribute) and owner.attr == "__dict__") or (
                isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name)
                and owner.func.id == "vars"
            ):
                self.flag(node, f"`__dict__.{func.attr}(...)`: writes an object's `__dict__`")
        chain = _chain(func)
        if chain is not None and "app" in chain[1:-1]:
            for keyword in node.keywords:
                if keyword.arg in TUNNELLED:
                    self.flag(node, f"`{'.'.join(chain)}(..., {keyword.arg}=...)`: a keyword "
                                    f"tunnelled through eventsourcing to the recorder")
        self.generic_visit(node)


def violations(source: str, path: str) -> list[str]:
    tree = ast.parse(source)
    checker = _Checker(path, tree)
    checker.visit(tree)
    return checker.found


def _project_files() -> list[Path]:
    return sorted(p for top in CHECKED for p in (ROOT / top).rglob("*.py")
                  if ".venv" not in p.parts)


def test_the_project_uses_no_private_part_of_eventsourcing() -> None:
    files = _project_files()
    assert len(files) > 50  # the walk found the code, not an empty tree
    found = [v for p in files
             for v in violations(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert not found, "\n".join(found)


# -- the checker itself ------------------------------------------------------------------------
# Verbatim lines of the code this change removed (main at OLD_MAIN).
OLD_SNIPPETS = {
    "object.__new__": (
        "def _private_copy(case):\n"
        "    clone = object.__new__(type(case))\n"
        "    clone.__dict__.update(case.__dict__)\n"
        '    clone.__dict__["_pending_events"] = []\n'
        "    return clone\n"
    ),
    "__dict__": (
        "def undo(case, state, pending):\n"
        "    case.__dict__.update(state[0])\n"
        '    case.__dict__["_pending_events"] = pending\n'
    ),
    ".cache.cache": (
        "def probe(self, case_id):\n"
        "    cache = self.app.repository.cache\n"
        "    return case_id in cache.cache\n"
    ),
    "_sqlite_conn": (
        "def writer(conn):\n"
        "    raw: sqlite3.Connection = conn._sqlite_conn\n"
        "    return raw\n"
    ),
    "__wrapped__": (
        "from eventsourcing.postgres import PostgresApplicationRecorder\n"
        "class R(PostgresApplicationRecorder):\n"
        "    select_events = PostgresApplicationRecorder.select_events.__wrapped__\n"
    ),
    "tunnelled": (
        "def put(self, events, batch):\n"
        "    self.app.events.put(events, append=batch)\n"
        "    self.app.save(trail, append=batch)\n"
    ),
    "private to eventsourcing": (
        "from eventsourcing.application import Application\n"
        "def peek(app):\n"
        "    return Application._record\n"
    ),
    "application's object": (
        "def peek(self):\n"
        "    return self.app.repository._fastforward_locks\n"
    ),
    "from a subclass": (
        "from eventsourcing.domain import Aggregate\n"
        "class Case(Aggregate):\n"
        "    def bump(self):\n"
        "        self._version += 1\n"
    ),
}


@pytest.mark.parametrize("what", sorted(OLD_SNIPPETS))
def test_the_checker_names_each_kind_of_reach(what: str) -> None:
    found = violations(OLD_SNIPPETS[what], "old.py")
    assert any(what in v for v in found), found
    assert all(v.startswith("old.py:") for v in found)


def test_the_checker_lets_the_public_api_through() -> None:
    source = (
        "from eventsourcing.application import Application\n"
        "from eventsourcing.domain import Aggregate\n"
        "class Case(Aggregate):\n"
        "    def __init__(self):\n"
        "        self._mine = 1\n"  # a name eventsourcing never uses: the subclass's own
        "def save(self, events, batch):\n"
        "    stored = [self.app.mapper.to_stored_event(e) for e in events]\n"
        "    self.store.append_events(stored, batch)\n"
        "    return self._cases.get(events[0].originator_id), Application.name\n"
    )
    assert violations(source, "new.py") == []


def _old_main(path: str) -> str:
    try:
        return subprocess.run(["git", "show", f"{OLD_MAIN}:{path}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"git history without {OLD_MAIN} (a shallow clone): the snippets above "
                    "test the same lines")


@pytest.mark.parametrize(("path", "expected"), [
    ("ledger/ledger.py", ["object.__new__", "__dict__", "_pending_events", ".cache.cache",
                          "repository.cache", "tunnelled"]),
    ("ledger/access.py", ["tunnelled"]),
    ("ledger/store/sqlite.py", ["_sqlite_conn"]),
    ("ledger/store/postgres.py", ["__wrapped__"]),
])
def test_the_checker_fails_on_the_old_code(path: str, expected: list[str]) -> None:
    found = violations(_old_main(path), path)
    for what in expected:
        assert any(what in v for v in found), (what, found)
