"""The benchmark script keeps working (a tiny run: a few hundred events, SQLite), and it
rewrites docs/PERFORMANCE.md only when asked to, after a full run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "PERFORMANCE.md"


def _bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_bench_runs_in_tiny_mode_and_leaves_the_docs_alone(tmp_path: Path) -> None:
    docs_before = DOCS.read_bytes(), DOCS.stat().st_mtime_ns
    out, kept = tmp_path / "report.md", tmp_path / "figures.json"
    proc = _bench("--tiny", "--out", str(out), "--save-json", str(kept))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for scenario in ("| 1 |", "| 2 |", "| 4 |", "| 5 |", "| 6 |", "| 7 |"):
        assert scenario in proc.stdout, f"scenario row {scenario} missing:\n{proc.stdout[-2000:]}"
    report = out.read_text()
    assert report.startswith("# Performance") and "Profile `tiny`" in report
    assert f"wrote {out}" in proc.stdout

    # Without --out or --write-docs the report is printed, and no file is written.
    printed = _bench("--render-json", str(kept))
    assert printed.returncode == 0, printed.stderr
    assert "# Performance" in printed.stdout and "Profile `tiny`" in printed.stdout
    assert "docs/PERFORMANCE.md not changed" in printed.stdout
    assert (DOCS.read_bytes(), DOCS.stat().st_mtime_ns) == docs_before


def test_write_docs_is_refused_for_quick_and_tiny_runs(tmp_path: Path) -> None:
    docs_before = DOCS.read_bytes(), DOCS.stat().st_mtime_ns
    for profile in ("--quick", "--tiny"):
        # Refused before anything is measured: these would take minutes otherwise.
        proc = _bench(profile, "--write-docs", timeout=30)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert proc.stdout == ""
        assert proc.stderr == (
            f"bench.py: --write-docs keeps only the figures of a full run in "
            f"docs/PERFORMANCE.md; this is a {profile} run (smaller sizes, shorter windows). "
            f"Run without {profile} to rewrite it, or keep this report elsewhere with "
            f"--out FILE.\n")
    kept = tmp_path / "quick.json"
    kept.write_text('{"rows": [], "facts": {}, "profile": "quick", "command": "c", '
                    '"scenarios": [1], "elapsed": 1.0}')
    proc = _bench("--render-json", str(kept), "--write-docs", timeout=30)
    assert proc.returncode == 2 and "this is a --quick run" in proc.stderr, proc.stderr
    assert (DOCS.read_bytes(), DOCS.stat().st_mtime_ns) == docs_before
