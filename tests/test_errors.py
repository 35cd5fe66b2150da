"""The one error tree (docs/ERRORS.md): every exception class of Témoin is under TemoinError
with one kind; the store raises kinds, never a driver's error, on real SQLite and PostgreSQL
databases; over HTTP each kind has its status, so an error that no row names is no 500."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from api.problems import problem_for
from ledger import errors
from ledger.config import Settings
from ledger.errors import (
    KINDS,
    ConfigurationError,
    ConflictError,
    DatabaseBusyError,
    DatabaseUnavailableError,
    InternalError,
    NotFoundError,
    StatementError,
    StoreError,
    TemoinError,
    UnavailableError,
    ValidationError,
    VerificationError,
    WriteConflictError,
    kind_of,
)
from ledger.ledger import Ledger
from ledger.store.driver_errors import is_driver_error
from ledger.store.scan_reader import ScanReader, Source
from ledger.store.witness_logs import WitnessLogs

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import ApiServer, is_problem, new_case  # noqa: E402
from tests.conftest import PG_ADMIN_URL, pg_database  # noqa: E402
from tests.test_lock_timeout import holding_lock  # noqa: E402

pytest_plugins = ("tests.api_server",)

PACKAGES = ("ledger", "api", "projections", "witness", "scripts")
# Roots without a kind: the tree's root, the base of append refusals (each child has its kind)
# and the API's ready-made answer (it carries its own status).
KINDLESS = {"ledger.errors.TemoinError", "ledger.errors.LedgerError", "api.problems.ProblemError"}
# Private control flow that never leaves its function: a guarded UPDATE that matched no row
# rolls its transaction back.
OUTSIDE = {"ledger.store.postgres._GuardFailed"}
STATUS = {
    NotFoundError: 404, ConflictError: 409, ValidationError: 422, VerificationError: 422,
    UnavailableError: 503, StoreError: 503, ConfigurationError: 503, InternalError: 500,
}


def _project_exceptions() -> Iterator[type[BaseException]]:
    # Every file, not pkgutil's walk: some folders (ledger/store) are namespace packages.
    top = Path(__file__).resolve().parent.parent
    for package in PACKAGES:
        for path in sorted((top / package).rglob("*.py")):
            parts = path.relative_to(top).with_suffix("").parts
            if parts[-1] == "__main__":
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            module = importlib.import_module(name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == name:
                    yield cls


def test_every_exception_of_the_project_is_in_the_tree_with_one_kind() -> None:
    seen = {f"{c.__module__}.{c.__qualname__}": c for c in _project_exceptions()}
    assert len(seen) > 60, sorted(seen)  # the walk found the project's classes
    outside = sorted(n for n, c in seen.items() if not issubclass(c, TemoinError))
    assert outside == sorted(OUTSIDE)
    kindless = sorted(
        n for n, c in seen.items() if n not in OUTSIDE and kind_of(_instance(c)) is None
    )
    assert kindless == sorted(KINDLESS)


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance without calling a constructor whose arguments differ per class."""
    return cls.__new__(cls)


def test_the_names_callers_use_keep_their_old_bases() -> None:
    """`except ValueError` / `except KeyError` around these still catches them."""
    from ledger.checkpoint import CheckpointError
    from ledger.config import ConfigError
    from ledger.events.validate import ValidationError as EventValidationError
    from ledger.merkle import MissingNodeError, ProofError
    from projections.views import UnknownCaseError
    from witness.state import UnknownLogError

    for cls, old, kind in (
        (CheckpointError, ValueError, VerificationError),
        (ProofError, ValueError, VerificationError),
        (ConfigError, ValueError, ConfigurationError),
        (EventValidationError, ValueError, ValidationError),
        (MissingNodeError, KeyError, StoreError),
        (UnknownLogError, KeyError, NotFoundError),
        (UnknownCaseError, LookupError, NotFoundError),
    ):
        assert issubclass(cls, old) and kind_of(_instance(cls)) is kind, cls


def test_got_and_want_are_kept() -> None:
    from ledger.merkle import RootMismatchError

    exc = RootMismatchError(b"\x01", b"\x02")
    assert (exc.got, exc.want) == (b"\x01", b"\x02")
    plain = ValidationError("amount must be positive", got=-1, want="> 0")
    assert (plain.got, plain.want, str(plain)) == (-1, "> 0", "amount must be positive")
    assert TemoinError("x").got is None


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_an_error_no_row_names_gets_its_kinds_status(kind: type[TemoinError]) -> None:
    unnamed = type("Unnamed" + kind.__name__, (kind,), {})("something went wrong; do this")
    problem = problem_for(unnamed)
    assert problem.status == STATUS[kind]
    assert problem.detail == "something went wrong; do this"
    retry = (problem.headers or {}).get("Retry-After")
    assert (retry is not None) == (kind is UnavailableError)


# -- the store translates, on real databases ------------------------------------------------------
@pytest.fixture
def quick(settings: Settings) -> Iterator[Ledger]:
    ledger = Ledger(replace(settings, lock_timeout=0.3))
    yield ledger
    ledger.close()


def _cause_is_a_driver_error(exc: BaseException) -> bool:
    return exc.__cause__ is not None and is_driver_error(exc.__cause__)


def test_a_lock_not_granted_in_time_is_database_busy(quick: Ledger, database_url: str) -> None:
    with holding_lock(database_url, "ACCESS EXCLUSIVE"), pytest.raises(DatabaseBusyError) as caught:
        if database_url.startswith("sqlite"):
            quick.store.insert_api_key("k1", "h", "admin", "t", "[]", "2026-01-01T00:00:00Z")
        else:  # the events table is locked: any read of it waits for the lock
            quick.store.count_events()
    assert _cause_is_a_driver_error(caught.value)
    assert "TEMOIN_LOCK_TIMEOUT" in str(caught.value)
    assert quick.tree_size() == 0  # the store works again once the lock is gone


def test_a_taken_unique_key_is_a_write_conflict(quick: Ledger) -> None:
    quick.store.insert_api_key("k1", "h", "admin", "t", "[]", "2026-01-01T00:00:00Z")
    with pytest.raises(WriteConflictError) as caught:
        quick.store.insert_api_key("k1", "h2", "admin", "t", "[]", "2026-01-01T00:00:00Z")
    assert _cause_is_a_driver_error(caught.value)
    assert isinstance(caught.value, ConflictError)


def test_rows_read_lazily_are_translated_too(quick: Ledger, database_url: str) -> None:
    """A generator's rows come after the call returned: the wrapper covers the iteration."""
    rows = quick.store._stream("SELECT no_such_column FROM cases_events")
    with pytest.raises(TemoinError) as caught:
        list(rows)
    # SQLite reports a bad statement as an OperationalError, PostgreSQL as a ProgrammingError.
    want = DatabaseUnavailableError if database_url.startswith("sqlite") else StatementError
    assert type(caught.value) is want and _cause_is_a_driver_error(caught.value)


@pytest.mark.postgres
def test_a_dropped_postgres_database_is_unavailable(tmp_path: Path) -> None:
    with pg_database() as url:
        ledger = Ledger(Settings(database_url=url, data_dir=tmp_path / "data",
                                 extra_env={"POSTGRES_CONNECT_TIMEOUT": "1"}))
        try:
            assert ledger.tree_size() == 0
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            with pytest.raises(DatabaseUnavailableError) as caught:
                ledger.store.latest_checkpoint()
            assert _cause_is_a_driver_error(caught.value)
            assert "127.0.0.1" not in str(caught.value)  # the user's sentence names no host
        finally:
            ledger.close()


def test_the_witness_table_and_the_scan_reader_translate(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailableError) as caught:
        WitnessLogs(tmp_path / "no-such-folder" / "witness.db")
    assert _cause_is_a_driver_error(caught.value)
    missing = f"file:{tmp_path / 'absent.db'}?mode=ro"
    with pytest.raises(DatabaseUnavailableError) as caught:
        ScanReader(Source("sqlite", {"database": missing}, "l", "n", "e"))
    assert _cause_is_a_driver_error(caught.value)


# -- over HTTP --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_over_http_each_kind_has_its_status(api: ApiServer, monkeypatch: pytest.MonkeyPatch,
                                            kind: type[TemoinError]) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise type("Unnamed", (kind,), {})("what happened; what to do")

    monkeypatch.setattr(api.services.ledger, "case", failing)
    with api.client() as c:
        r = c.get(f"/v1/cases/{new_case()}")
    body = is_problem(r, STATUS[kind])
    if kind is InternalError:
        assert body["type"].endswith("/internal-error")
    else:
        assert body["detail"] == "what happened; what to do"
    assert ("retry-after" in r.headers) == (kind is UnavailableError)


def test_every_kind_is_documented() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "ERRORS.md").read_text()
    for kind in KINDS:
        assert f"`{kind.__name__}`" in text and str(STATUS[kind]) in text, kind
    assert errors.__doc__ and "docs/ERRORS.md" in errors.__doc__
