"""How a contract suite gets a store: one class per backend, mixed into every contract.

A store is opened the documented eventsourcing way, as the ledger does: an Application whose
environment selects the backend's recorder factory (`Settings.persistence_env`). A suite may
open a second store on the same database (another process, or the same server restarted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from ledger.application import CaseLog
from ledger.config import Settings
from ledger.store.batch import AppendBatch
from ledger.store.protocols import Store
from tests.conftest import RawDB, pg_database

Opener = Callable[..., Store]  # (log_id: int = 1): the store of that log of the database


class Backend:
    """Abstract: subclasses supply `url`, a fresh empty database for each test."""

    @pytest.fixture
    def url(self, tmp_path: Path) -> Iterator[str]:
        raise NotImplementedError

    @pytest.fixture
    def open_store(self, url: str, tmp_path: Path) -> Iterator[Opener]:
        apps: list[CaseLog] = []

        def opener(log_id: int = 1) -> Store:
            settings = Settings(database_url=url, data_dir=tmp_path / "data",
                                origin="test.example/log", log_id=log_id)
            app = CaseLog(env=settings.persistence_env())
            apps.append(app)
            return app.store

        yield opener
        for app in apps:
            app.close()

    @pytest.fixture
    def store(self, open_store: Opener) -> Store:
        return open_store()

    @pytest.fixture
    def raw_db(self, url: str) -> RawDB:
        return RawDB(url)


class SQLiteFile(Backend):
    @pytest.fixture
    def url(self, tmp_path: Path) -> Iterator[str]:
        yield f"sqlite:///{tmp_path / 'store.db'}"


class PostgreSQL(Backend):
    @pytest.fixture
    def url(self, tmp_path: Path) -> Iterator[str]:
        # Under CI=true an unreachable server fails the test (tests/conftest.py).
        with pg_database() as url:
            yield url


# -- what the contracts write --------------------------------------------------------------
# Topics as the mapper writes them (`ledger.mapper`): erasures are found by theirs.
TOPIC = "ledger.domain.case:OtpVerified"
ERASED_TOPIC = "ledger.domain.case:PersonalDataErased"


def stored(case: UUID, version: int, state: bytes, topic: str = TOPIC) -> StoredEvent:
    return StoredEvent(case, version, topic, state)


def append(store: Store, events: Sequence[StoredEvent],
           batch: AppendBatch | None = None) -> AppendBatch:
    """The one place that knows how side rows reach the append (LogWriter's `batch`)."""
    batch = AppendBatch() if batch is None else batch
    store.append_events(list(events), batch)
    return batch
