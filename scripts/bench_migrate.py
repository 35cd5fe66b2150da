"""`temoin migrate` (schema 1 -> 2 -> 3 -> 4, or 3 -> 4 alone with `--from 3`) speed against a
plain copy of the same rows. 2 -> 3 takes a few milliseconds here: it drops and recreates the
projection tables, which the fixture leaves empty.

    python scripts/bench_migrate.py [--entries 100000] [--backend sqlite postgres] [--runs 3]
                                    [--from 1|3]

With `--from 3` the database is made at version 3 (`downgrade_to_v3`) and the baseline is one
`CREATE TABLE ... AS SELECT *` of the tables 3 -> 4 rewrites (each family's events, the vault),
in one transaction.

Per backend: one version-1 database of `--entries` case entries made by this code
(`scripts.v1_fixture`), then `--runs` times on a fresh copy of it: the baseline, one
`INSERT INTO ... SELECT *` per log table into a scratch table made by the same version-1 DDL
(same keys and indexes), all in one transaction (the plainest copy of the same rows the
database can do); then the migration
`temoin migrate` runs (`ledger.store.migrations.runner.migrate`, in this process: no Python
start-up in the figure), create, batched copy and table swap included. Printed: entries/s of
both and their ratio, medians over the runs (goal: migrate >= 50,000 entries/s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from ledger.config import Settings  # noqa: E402
from ledger.store.migrations.database import Database  # noqa: E402
from ledger.store.migrations.runner import migrate  # noqa: E402
from ledger.store.migrations.v1 import LOG_TABLES, log_tables_ddl  # noqa: E402
from scripts.v1_fixture import downgrade_to_v1, downgrade_to_v3, fill  # noqa: E402

PG_ADMIN_URL = os.environ.get("TEMOIN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _new_url(backend: str, work: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{work / f'{uuid.uuid4().hex[:8]}.db'}"
    name = f"temoin_bench_m_{uuid.uuid4().hex[:8]}"
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def _copy(src: str, dst: str) -> None:
    if src.startswith("sqlite:///"):
        shutil.copy(src[len("sqlite:///"):], dst[len("sqlite:///"):])
    else:
        _pg(f'CREATE DATABASE "{dst.rsplit("/", 1)[1]}" TEMPLATE "{src.rsplit("/", 1)[1]}"')


def _drop(url: str) -> None:
    if not url.startswith("sqlite:///"):
        _pg(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _baseline_v3(url: str) -> float:
    db = Database.open(url)
    try:
        prefixes = sorted(t[: -len("_nodes")] for t in db.table_names() if t.endswith("_nodes"))
        entries = sum(db.query(f"SELECT count(*) FROM {p}_leaves")[0][0] for p in prefixes)
        tables = [*(f"{p}_events" for p in prefixes), "vault_keys", "vault_openings"]
        started = time.perf_counter()
        with db.transaction():
            for t in tables:
                db.execute(f"CREATE TABLE copy_{t} AS SELECT * FROM {t}")
        elapsed = time.perf_counter() - started
        with db.transaction():
            for t in tables:
                db.execute(f"DROP TABLE copy_{t}")
        return entries / elapsed
    finally:
        db.close()


def _baseline(url: str) -> float:
    db = Database.open(url)
    try:
        prefixes = sorted(t[: -len("_nodes")] for t in db.table_names() if t.endswith("_nodes"))
        entries = sum(db.query(f"SELECT count(*) FROM {p}_leaves")[0][0] for p in prefixes)
        started = time.perf_counter()
        with db.transaction():
            for p in prefixes:
                for ddl in log_tables_ddl(f"copy_{p}", db.dialect):
                    db.execute(ddl)
                for name in LOG_TABLES:
                    db.execute(f"INSERT INTO copy_{p}_{name} SELECT * FROM {p}_{name}")
        elapsed = time.perf_counter() - started
        with db.transaction():
            for p in prefixes:
                for name in LOG_TABLES:
                    db.execute(f"DROP TABLE copy_{p}_{name}")
        return entries / elapsed
    finally:
        db.close()


def _migrate(url: str) -> float:
    db = Database.open(url)
    try:
        prefixes = sorted(t[: -len("_nodes")] for t in db.table_names() if t.endswith("_nodes"))
        entries = sum(db.query(f"SELECT count(*) FROM {p}_leaves")[0][0] for p in prefixes)
        started = time.perf_counter()
        assert migrate(db, say=lambda _: None, progress=lambda _: None)
        return entries / (time.perf_counter() - started)
    finally:
        db.close()


def bench(backend: str, entries: int, runs: int, work: Path,
          start: int = 1) -> tuple[float, float, float]:
    source = _new_url(backend, work)
    if backend == "postgres":
        _pg(f'CREATE DATABASE "{source.rsplit("/", 1)[1]}"')
    try:
        settings = Settings(database_url=source, data_dir=work / f"data-{backend}",
                            origin="bench.example/log")
        started = time.perf_counter()
        fill(settings, entries)
        (downgrade_to_v1 if start == 1 else downgrade_to_v3)(source)
        print(f"{backend}: version-{start} database of {entries:,} entries built in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        plain, moved, ratios = [], [], []
        for _ in range(runs):
            copy = _new_url(backend, work)
            _copy(source, copy)
            try:
                plain.append((_baseline if start == 1 else _baseline_v3)(copy))
                moved.append(_migrate(copy))
                ratios.append(moved[-1] / plain[-1])
            finally:
                _drop(copy)
        return statistics.median(moved), statistics.median(plain), statistics.median(ratios)
    finally:
        _drop(source)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--backend", nargs="+", choices=("sqlite", "postgres"),
                        default=["sqlite", "postgres"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--from", dest="start", type=int, choices=(1, 3), default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    try:
        print("| backend | entries | temoin migrate (entries/s) | plain INSERT ... SELECT copy "
              "(entries/s) | ratio | goal |")
        print("|---|---:|---:|---:|---:|---|")
        for backend in args.backend:
            moved, plain, ratio = bench(backend, args.entries, args.runs, work, args.start)
            status = "met" if moved >= 50_000 else "**MISSED**"
            print(f"| {backend} | {args.entries:,} | {moved:,.0f} | {plain:,.0f} | {ratio:.2f} "
                  f"| >= 50,000 entries/s: {status} |", flush=True)
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
