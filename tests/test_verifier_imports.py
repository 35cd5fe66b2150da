"""The offline verifier (verifier/) runs with the bundle and a key only: importing it loads no
module of the server, the projections or the database layer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("api", "projections", "eventsourcing", "psycopg", "sqlite3", "ledger.store",
             "ledger.ledger", "ledger.application", "ledger.access")


def test_no_import_points_outside_the_verifier() -> None:
    for path in sorted((ROOT / "verifier").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("api", "projections")), (path.name, name)


def test_importing_the_verifier_loads_no_server_or_database_module() -> None:
    code = ("import sys, verifier.bundle, verifier.bundle_trust\n"
            "print('\\n'.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    loaded = [m for m in out if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert loaded == [], loaded
    assert "verifier.bundle" in out
