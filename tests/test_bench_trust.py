"""scripts/bench_trust.py's section of docs/PERFORMANCE.md: newest run first, two kept, and
scripts/bench.py keeps the section when it rewrites the file."""

from __future__ import annotations

from scripts.bench import kept_sections
from scripts.bench_trust import SECTION, with_section

BENCH_OUTPUT = "# Performance\n\n## Command\n\n    bench\n\n## Scenarios\n\n1. one\n"


def test_runs_are_kept_newest_first_and_survive_bench_py() -> None:
    text = BENCH_OUTPUT
    for n in range(1, 5):
        text = with_section(text, f"### Run of {n}\n\nfigures {n}\n")
    assert text.startswith(BENCH_OUTPUT.rstrip("\n"))
    assert text.count(SECTION) == 1
    runs = [line for line in text.splitlines() if line.startswith("### Run of")]
    assert runs == ["### Run of 4", "### Run of 3", "### Run of 2"]
    # bench.py writes its own sections, then appends what it keeps of the old file.
    kept = kept_sections(text)
    assert kept.lstrip("\n").startswith(SECTION) and "figures 4" in kept and "figures 1" not in kept
    regenerated = BENCH_OUTPUT + kept
    assert with_section(regenerated, "### Run of 5\n\nfigures 5\n").count("### Run of") == 3
    # A section followed by another one: only the runs move, the other section stays.
    tail = "\n## Later\n\ntext\n"
    again = with_section(text + tail, "### Run of 6\n\nx\n")
    assert again.endswith(tail) and again.count("## Later") == 1
    assert kept_sections(BENCH_OUTPUT) == ""
