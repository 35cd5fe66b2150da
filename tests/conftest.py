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
