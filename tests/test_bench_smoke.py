"""The benchmark script keeps working: a tiny run (a few hundred events, SQLite, no file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_in_tiny_mode(tmp_path: Path) -> None:
    out = tmp_path / "PERFORMANCE.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--tiny", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for scenario in ("| 1 |", "| 2 |", "| 4 |", "| 5 |", "| 6 |", "| 7 |"):
        assert scenario in proc.stdout, f"scenario row {scenario} missing:\n{proc.stdout[-2000:]}"
    assert not out.exists(), "--tiny must not write the report"
