"""Benchmark of the archive's lifecycle (issue 12), each figure against a baseline measured in
the same run (the machine is shared and noisy):

  E  erasure of a case (one PersonalDataErased entry deleting its vault rows), p50/p99, against
     an ordinary one-event append to a case of the same shape (goal p99 <= 50 ms)
  R  `retention apply` over N due cases (crypto-shredding + one entry each + the certificate),
     cases/s (goal >= 2,000 at N = 100,000) and memory, against group-committing the same
     number of entries without any destruction

    .venv/bin/python scripts/bench_lifecycle.py [--backend sqlite|postgres|both]
                                                [--cases N] [--erasures N] [--out FILE]

It prints a Markdown table; the figures of a full run go in docs/PERFORMANCE.md by hand (this
script never writes there).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ledger.config import Settings  # noqa: E402
from ledger.events.examples import EXAMPLES  # noqa: E402
from ledger.events.validate import validate_append  # noqa: E402
from ledger.ledger import AppendGroup, AppendRequest, Ledger  # noqa: E402
from ledger.retention.certificate import write_certificate  # noqa: E402
from ledger.retention.run import apply, current_plan  # noqa: E402

PG_ADMIN_URL = os.environ.get("TEMOIN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CHUNK = 1000


@contextlib.contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    import psycopg

    name = f"temoin_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _event(type_: str, **data: object) -> object:
    ex = EXAMPLES[type_]
    return validate_append(type_, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                           {**ex["data"], **data}, ex.get("personal"), None,
                           now=datetime.now(UTC))


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fill(ledger: Ledger, prefix: str, n: int) -> None:
    """n closed cases, each with personal data (4 sealed fields)."""
    opened, closed = _event("CaseOpened"), _event("CaseClosed")
    for start in range(0, n, CHUNK // 2):
        groups = [AppendGroup([AppendRequest("bench", "k", f"{prefix}{i}", opened),
                               AppendRequest("bench", "k", f"{prefix}{i}", closed)])
                  for i in range(start, min(n, start + CHUNK // 2))]
        ledger.commit(groups)


def erasure_latency(ledger: Ledger, n: int) -> dict[str, float]:
    _fill(ledger, "E", n)
    erase = _event("PersonalDataErased", legal_basis="bench")
    erase = type(erase)(erase.type, erase.occurred_at,
                        {"legal_basis": "bench"}, {}, [])  # whole case
    other = _event("LegalHoldPlaced")
    timings: dict[str, list[float]] = {"erase": [], "append": []}
    for i in range(n):
        for kind, event in (("append", other), ("erase", erase)):
            started = time.perf_counter()
            ledger.append([AppendRequest("bench", "k", f"E{i}", event)])
            timings[kind].append((time.perf_counter() - started) * 1000)
            if kind == "append":
                # Release it, so that the erasure is not refused by the hold.
                ledger.append([AppendRequest("bench", "k", f"E{i}",
                                             _event("LegalHoldReleased"))])

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1]

    return {f"{k}_p{q}": pct(v, q) for k, v in timings.items() for q in (50, 99)}


def retention(ledger: Ledger, n: int, out: Path) -> dict[str, float]:
    _fill(ledger, "R", n)
    # Baseline: the same number of entries, group-committed the same way, destroying nothing.
    hold = _event("LegalHoldPlaced")
    started = time.perf_counter()
    for start in range(0, n, 500):
        ledger.commit([AppendGroup([AppendRequest("bench", "k", f"R{i}", hold)])
                       for i in range(start, min(n, start + 500))])
    baseline = n / (time.perf_counter() - started)
    release = _event("LegalHoldReleased")
    for start in range(0, n, 500):
        ledger.commit([AppendGroup([AppendRequest("bench", "k", f"R{i}", release)])
                       for i in range(start, min(n, start + 500))])
    gc.collect()
    rss_before = _rss_mb()
    later = datetime.now(UTC) + timedelta(days=11 * 366)
    started = time.perf_counter()
    plan = current_plan(ledger, later)
    planned = time.perf_counter()
    result = apply(ledger, plan, "ret-bench")
    applied = time.perf_counter()
    with (out / "bench.destruction.jsonl").open("wb") as fh:
        write_certificate(fh, ledger.store, ledger.key, ledger.sign_checkpoint(), "ret-bench", {})
    done = time.perf_counter()
    assert result.erased == n, (result.erased, result.skipped[:3])
    return {
        "cases": n, "baseline": baseline, "rate": n / (done - started),
        "plan_s": planned - started, "apply_s": applied - planned,
        "certificate_s": done - applied, "rss_before_mb": rss_before,
        "rss_after_mb": _rss_mb(), "peak_mb": _peak_mb(),
        "certificate_mb": (out / "bench.destruction.jsonl").stat().st_size / 2**20,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--erasures", type=int, default=500)
    parser.add_argument("--out", help="write the Markdown table here too")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    lines = ["| backend | figure | value | baseline (same run) | ratio | goal |",
             "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for backend in backends:
            for scenario in ("E", "R"):
                with database(backend, directory) as url:
                    # A data folder per database: the signer state beside the key belongs
                    # to one log (another database would be refused as a fork).
                    settings = Settings(database_url=url,
                                        data_dir=directory / f"data-{uuid.uuid4().hex[:8]}",
                                        origin="bench.example/log")
                    ledger = Ledger(settings)
                    try:
                        if scenario == "E":
                            f = erasure_latency(ledger, args.erasures)
                            print(f"{backend} E: {f}", flush=True)
                            lines.append(
                                f"| {backend} | erasure p50 / p99 (ms) | {f['erase_p50']:.1f} / "
                                f"{f['erase_p99']:.1f} | one-event append {f['append_p50']:.1f} / "
                                f"{f['append_p99']:.1f} | {f['erase_p99'] / f['append_p99']:.2f} "
                                f"| p99 <= 50 ms |")
                        else:
                            f = retention(ledger, args.cases, directory)
                            print(f"{backend} R: {f}", flush=True)
                            lines.append(
                                f"| {backend} | retention apply, {f['cases']:,} cases (cases/s) "
                                f"| {f['rate']:,.0f} (plan {f['plan_s']:.1f} s, apply "
                                f"{f['apply_s']:.1f} s, certificate {f['certificate_s']:.1f} s, "
                                f"{f['certificate_mb']:.0f} MB) | group commit, no destruction: "
                                f"{f['baseline']:,.0f} entries/s | "
                                f"{f['rate'] / f['baseline']:.2f} | >= 2,000 cases/s |")
                            lines.append(
                                f"| {backend} | retention apply memory (MB) | RSS "
                                f"{f['rss_before_mb']:.0f} → {f['rss_after_mb']:.0f}, peak "
                                f"{f['peak_mb']:.0f} | | | flat |")
                    finally:
                        ledger.close()
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
