"""Shared fixtures: every store test runs on a real SQLite file and on a real PostgreSQL.

PostgreSQL is found at TEMOIN_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres).
Each test gets a database of its own, dropped afterwards. When the server is down the
PostgreSQL half is skipped locally, but under CI=true that is a failure, never a skip.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ledger.config import Settings

PG_ADMIN_URL = os.environ.get("TEMOIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgres"]


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means "not reachable" here
        return str(exc)


_PG_PROBLEM: str | bool | None = False


def require_postgres() -> None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _pg_available()
    if _PG_PROBLEM:
        msg = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {_PG_PROBLEM}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + " (CI=true: the PostgreSQL half must run)")
        pytest.skip(msg)


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; yields its URL and drops it afterwards."""
    import psycopg

    require_postgres()
    name = f"temoin_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # A test database need not wait for its WAL to reach the disk at each commit: a
        # commit is still atomic and visible at once, and a clean server restart
        # (test_pg_restart) flushes it; only a crash of the PostgreSQL server itself could
        # lose the last commits, which no test simulates. Production settings are untouched.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def go_tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Go's reference note/tlog verifier (tests/interop): skipped locally, required in CI."""
    from tests.interop.go_tool import build_go_tool, go_unavailable_reason

    reason = go_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Go interop oracle unavailable under CI: {reason}", pytrace=False)
        pytest.skip(f"Go interop oracle unavailable: {reason}")
    return build_go_tool(tmp_path_factory.mktemp("go-interop"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'temoin.db'}"
    else:
        with pg_database() as url:
            yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url, data_dir=tmp_path / "data", origin="test.example/log"
    )


@pytest.fixture
def ledger(settings: Settings) -> Iterator[Any]:
    from ledger.ledger import Ledger

    lg = Ledger(settings)
    yield lg
    lg.close()


class RawDB:
    """Direct SQL on the ledger's database, behind its back (for tampering tests)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        if self.url.startswith("sqlite:///"):
            conn = sqlite3.connect(self.url[len("sqlite:///"):])
            try:
                cur = conn.execute(sql, params)
                conn.commit()
                return cur.rowcount
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)
            return cur.rowcount

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.url.startswith("sqlite:///"):
            conn = sqlite3.connect(self.url[len("sqlite:///"):])
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite:///")


@pytest.fixture
def raw_db(database_url: str) -> RawDB:
    return RawDB(database_url)


# Tests that measure time or memory, or restart the shared PostgreSQL server: `make test` runs
# them after the rest, one at a time (`-m serial`), while the rest shares the two cores
# (`pytest -n 2 -m "not serial"`). A plain `pytest` still runs everything in one process.
SERIAL_MODULES = {
    "test_pg_restart": "restarts the PostgreSQL server every other test uses",
    "test_stop": "a stop must end within 5 s under load",
    "test_crash": "SIGKILL timing under load",
    "test_lock_timeout": "answers within the lock/statement timeout",
    "test_bundle_large": "peak memory and GiB-sized files",
    "test_viewer": "a 1,000-entry bundle verified within two seconds in the browser",
    "test_timestamps": "a failing TSA never slows appends (latency)",
    "test_witnessing_e2e": "a witness down never slows appends (latency)",
    "test_limits_serve": "rate limits per second",
    "test_projection_process": "the server still stops in time",
    "test_api_fuzz": "a time-boxed fuzzing phase must reach every route",
    "test_bench_smoke": "runs the benchmarks",
}


# Modules whose other tests run in parallel put `@pytest.mark.serial` on their timed tests
# (tests/test_api_many_logs.py: a stop of two logs must end within 5 s under load).


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.split(".")[-1] in SERIAL_MODULES:
            item.add_marker(pytest.mark.serial)
