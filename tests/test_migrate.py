"""`temoin migrate` (schema 1 -> 2 -> 3) on both backends, killed half-way and rerun; version
checks; the projections of a version-2 database rebuilt per log after 2 -> 3.

The version-1 database is made by this code (`scripts.v1_fixture`: real appends, real signed
checkpoints, then the log tables rewritten in the frozen version-1 layout). 2·10^4 entries here
(building it is the slow part); `scripts/bench_migrate.py` migrates 10^5.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.config import Settings
from ledger.merkle import (
    NodeID,
    consistency_plan,
    frontier_ids,
    inclusion_plan,
    root_from_frontier,
    verify_consistency,
    verify_inclusion,
)
from ledger.store.migrations.database import Database
from ledger.store.migrations.v1 import LOG_TABLES
from ledger.store.migrations.version import LATEST, read_state
from scripts.v1_fixture import downgrade_to_v1, downgrade_to_v2, downgrade_to_v3, fill
from tests.conftest import PG_ADMIN_URL, pg_database

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "test.example/log"
ENTRIES = 20_000
PREFIXES = ("access", "cases")
_ORDER = {"leaves": "idx", "nodes": "key", "checkpoints": "size",
          "attestations": "size, kind, signer"}


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMOIN_")}
    env.update(TEMOIN_DATABASE_URL=settings.database_url, TEMOIN_DATA_DIR=str(settings.data_dir),
               TEMOIN_LOG_ORIGIN=ORIGIN, **extra)
    return env


def _temoin(settings: Settings, *args: str, timeout: float = 300,
            **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args], cwd=ROOT,
                          env=_env(settings, **extra), capture_output=True, text=True,
                          timeout=timeout, check=False)


def _settings(url: str, data: Path) -> Settings:
    return Settings(database_url=url, data_dir=data, origin=ORIGIN)


@pytest.fixture
def twin_urls(backend: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two database URLs: the one under test and, later, a copy of it."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
        return
    with pg_database() as url:
        twin = f"temoin_t_{uuid.uuid4().hex[:12]}"
        yield url, f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{twin}"
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{twin}" WITH (FORCE)')


def _copy(src: str, dst: str) -> None:
    if src.startswith("sqlite:///"):
        shutil.copy(src[len("sqlite:///"):], dst[len("sqlite:///"):])
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dst.rsplit("/", 1)[1]}" '
                     f'TEMPLATE "{src.rsplit("/", 1)[1]}"')


def _norm(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(bytes(v) if isinstance(v, memoryview) else
                 v.hex if isinstance(v, uuid.UUID) else v for v in row)


def _v1_trees(url: str) -> dict[str, dict[str, Any]]:
    """Each log of a version-1 database read directly: nodes by (level, idx), checkpoints."""
    db = Database.open(url)
    try:
        out: dict[str, dict[str, Any]] = {}
        for prefix in PREFIXES:
            nodes = {NodeID(0, r[0]): bytes(r[1])
                     for r in db.query(f"SELECT idx, hash FROM {prefix}_leaves")}
            nodes.update((NodeID(r[0], r[1]), bytes(r[2]))
                         for r in db.query(f"SELECT level, idx, hash FROM {prefix}_nodes"))
            cps = [_norm(r) for r in db.query(
                f"SELECT size, root, note, signed_at FROM {prefix}_checkpoints ORDER BY size")]
            out[prefix] = {"nodes": nodes, "checkpoints": cps}
        return out
    finally:
        db.close()


def _dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    db = Database.open(url)
    try:
        dump = {f"{p}_{t}": [_norm(r) for r in db.query(
            f"SELECT * FROM {p}_{t} ORDER BY log_id, {_ORDER[t]}")]
            for p in PREFIXES for t in LOG_TABLES}
        dump["schema_version"] = db.query(
            "SELECT version, state FROM schema_version ORDER BY version")
        return dump
    finally:
        db.close()


def _kill_past(settings: Settings, fraction: float) -> str:
    """Run `temoin migrate` and SIGKILL it once its progress passes `fraction`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "migrate"], cwd=ROOT,
        env=_env(settings, TEMOIN_MIGRATE_BATCH="1024"), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = ""
    try:
        for line in proc.stderr:
            seen += line
            m = re.search(r"([\d,]+)/([\d,]+) entries \(", line)
            if m and int(m[1].replace(",", "")) >= fraction * int(m[2].replace(",", "")):
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, seen
    return seen


def test_migrate_killed_half_way_then_rerun(twin_urls: tuple[str, str], tmp_path: Path) -> None:
    url, twin = twin_urls
    data = tmp_path / "data"
    settings = _settings(url, data)
    fill(settings, ENTRIES)
    downgrade_to_v1(url)
    _copy(url, twin)
    before = _v1_trees(url)
    assert len(before["cases"]["checkpoints"]) >= 5 and len(before["access"]["checkpoints"]) == 4

    progress = _kill_past(settings, 0.3)
    assert "entries/s)" in progress  # done / total and the rate, on stderr
    db = Database.open(url)
    try:
        state = read_state(db)
    finally:
        db.close()
    assert (state.version, state.pending) == (1, 2), "the kill came after the end of 1 -> 2"
    refused = _temoin(settings, "verify")
    assert refused.returncode == 2
    assert (f"migration to version 2 not finished; this Témoin needs version {LATEST}"
            in refused.stderr)
    assert "temoin migrate" in refused.stderr

    rerun = _temoin(settings, "migrate")
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming migration schema 1 -> 2" in rerun.stdout
    assert f"migrated to schema version {LATEST}" in rerun.stdout  # and on to the newest
    # The same database migrated in one go: the killed-and-rerun result is identical.
    straight = _temoin(_settings(twin, data), "migrate")
    assert straight.returncode == 0, straight.stderr
    assert _dump(url) == _dump(twin)

    verify = _temoin(settings, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"OK: {ENTRIES:,} entries" in verify.stdout

    from ledger.access import AccessJournal
    from ledger.ledger import Ledger

    ledger = Ledger(settings)
    journal = AccessJournal(settings)
    try:
        for prefix, store in (("cases", ledger.store), ("access", journal.store)):
            old = before[prefix]
            after = [(c.size, c.root, c.note.decode(), c.signed_at) for c in store.checkpoints()]
            assert after == old["checkpoints"]
            nodes = old["nodes"]
            sizes = [c[0] for c in old["checkpoints"]]
            for size, root, *_ in old["checkpoints"]:
                assert store.root(size) == root
                assert root_from_frontier([nodes[i] for i in frontier_ids(size)]) == root
            roots = {c[0]: c[1] for c in old["checkpoints"]}
            last = sizes[-1]
            for index in sorted({0, 1, last // 3, last // 2, last - 2, last - 1}):
                for size in (s for s in sizes if s > index):
                    plan = inclusion_plan(index, size)
                    proof = store.proof(plan)
                    assert proof == plan.assemble({n: nodes[n] for n in plan.node_ids()})
                    verify_inclusion(index, size, nodes[NodeID(0, index)], proof, roots[size])
            for s1, s2 in itertools.pairwise(sizes):
                plan = consistency_plan(s1, s2)
                proof = store.proof(plan)
                assert proof == plan.assemble({n: nodes[n] for n in plan.node_ids()})
                verify_consistency(s1, s2, roots[s1], roots[s2], proof)
        # And the migrated log still takes appends, at its right edge.
        from tests.helpers import request

        ledger.append([request("after-migration", "CaseOpened")])
        assert ledger.tree_size() == ENTRIES + 1
        assert ledger.sign_checkpoint().size == ENTRIES + 1
    finally:
        journal.close()
        ledger.close()
    again = _temoin(settings, "verify")
    assert again.returncode == 0, again.stdout + again.stderr


def _in_process(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str]) -> Any:
    """`temoin` run by its `main` in this process (the same code path as the command line,
    without a Python start-up per call)."""
    from scripts.cli import main

    for key, value in _env(settings).items():
        if key.startswith("TEMOIN_"):
            monkeypatch.setenv(key, value)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return run


def test_schema_versions_are_checked(database_url: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(database_url, tmp_path / "data")
    temoin = _in_process(settings, monkeypatch, capsys)
    fill(settings, 30, batch=10, checkpoints=2)
    db = Database.open(database_url)
    try:
        assert db.query("SELECT version FROM schema_version")[0][0] == LATEST  # made at it
    finally:
        db.close()
    downgrade_to_v1(database_url)

    # An old schema: the server, and every command but migrate, refuse with one message.
    served = temoin("serve", "--port", "0")
    assert served.returncode == 2
    assert (f"the database schema is version 1; this Témoin needs version {LATEST}: stop every "
            f"Témoin process on it and run `temoin migrate`") in served.stderr
    assert "Traceback" not in served.stderr
    dry = temoin("migrate", "--dry-run")
    assert dry.returncode == 0 and "would run migration schema 1 -> 2" in dry.stdout
    assert temoin("verify").returncode == 2  # the dry run changed nothing

    done = temoin("migrate")
    assert done.returncode == 0 and f"migrated to schema version {LATEST}" in done.stdout
    noop = temoin("migrate")
    assert noop.returncode == 0
    assert f"at schema version {LATEST}, the newest: nothing to migrate" in noop.stdout
    assert temoin("verify").returncode == 0

    # A newer schema (a later release's database): refused, never touched.
    db = Database.open(database_url)
    try:
        db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, 'later')",
                   (LATEST + 1,))
    finally:
        db.close()
    for args in (("serve", "--port", "0"), ("verify",), ("migrate",)):
        refused = temoin(*args)
        assert refused.returncode == 2, args
        assert (f"the database schema is version {LATEST + 1}, newer than version {LATEST} "
                f"that this Témoin reads: upgrade Témoin") in refused.stderr, args


def test_empty_database_is_created_at_the_newest_version(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(database_url, tmp_path / "data")
    temoin = _in_process(settings, monkeypatch, capsys)
    if database_url.startswith("sqlite:///"):
        missing = temoin("migrate")  # no file: said, and none created
        assert missing.returncode == 2 and "no database at" in missing.stderr
        assert not Path(database_url[len("sqlite:///"):]).exists()
        Path(database_url[len("sqlite:///"):]).touch()
    said = temoin("migrate")
    assert said.returncode == 0 and "the database is empty" in said.stdout
    from ledger.ledger import Ledger

    Ledger(settings).close()
    db = Database.open(database_url)
    try:
        state = read_state(db)
        columns = db.query("SELECT log_id, key, hash FROM cases_nodes")
    finally:
        db.close()
    assert (state.version, state.pending) == (LATEST, None)
    assert columns == []


def test_entries_an_old_process_appends_during_the_migration_are_kept(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A server of the old release left running: what it appends after the copy reached the
    end is copied by the swap transaction, never dropped with the old tables."""
    from ledger.ledger import Ledger
    from ledger.store.migrations.runner import migrate
    from tests.helpers import request

    settings = _settings(database_url, tmp_path / "data")
    fill(settings, 200, batch=50, checkpoints=2)
    ledger = Ledger(settings)
    try:
        ledger.append([request(f"late-{i}", "CaseOpened") for i in range(37)])
        ledger.sign_checkpoint()
    finally:
        ledger.close()
    downgrade_to_v1(database_url)
    # Hide the last 37 leaves, their nodes and checkpoint: the old process appends them later.
    db = Database.open(database_url)
    late: dict[str, list[tuple[Any, ...]]] = {}
    with db.transaction():
        for name, cond in (("leaves", "idx >= 200"), ("nodes", "((idx + 1) << level) > 200"),
                           ("checkpoints", "size > 200")):
            late[name] = db.query(f"SELECT * FROM cases_{name} WHERE {cond}")
            db.execute(f"DELETE FROM cases_{name} WHERE {cond}")
    assert len(late["leaves"]) == 37 and late["nodes"] and len(late["checkpoints"]) == 1

    def progress(line: str) -> None:
        if "cases: replace the version-1 tables" in line:  # the copy is done
            other = Database.open(database_url)
            try:
                with other.transaction():
                    for name, rows in late.items():
                        marks = ", ".join("?" * len(rows[0]))
                        for row in rows:
                            other.execute(f"INSERT INTO cases_{name} VALUES ({marks})", row)
            finally:
                other.close()

    try:
        assert migrate(db, say=lambda _: None, progress=progress)
    finally:
        db.close()
    temoin = _in_process(settings, monkeypatch, capsys)
    verified = temoin("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK: 237 entries" in verified.stdout


class _Killed(Exception):
    """Stands for a kill between two transactions of the migration."""


def _projections(settings: Settings) -> tuple[Any, ...]:
    """Log 1's projections as the case list and the timelines read them, caught up first."""
    from ledger.ledger import Ledger
    from ledger.store.projection_tables import CaseQuery
    from projections.runner import ProjectionRunner

    ledger = Ledger(settings)
    try:
        ProjectionRunner(ledger.store, chunk=97).catch_up()
        store = ledger.store
        listed = {t: store.find_cases(CaseQuery(t, limit=10_000)) for t in store.case_tenants()}
        timelines = {(r.tenant, r.case): store.timeline_rows(r.tenant, r.case)
                     for r in store.all_case_index()}
        return store.all_case_index(), store.all_timeline_rows(), listed, timelines
    finally:
        ledger.close()


def test_projections_of_version_2_are_rebuilt_per_log_after_migration(
        settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """2 -> 3 drops the projection tables and makes them per log, empty; reprojected from the
    log they list the same cases and timelines, also after a migration stopped half-way."""
    from ledger.ledger import Ledger
    from ledger.store.migrations.runner import migrate
    from ledger.store.migrations.version import SchemaVersionError
    from tests.helpers import request

    fill(settings, 300, batch=50, checkpoints=2)
    ledger = Ledger(settings)
    try:
        ledger.append([request(f"O{i}", "CaseOpened", tenant="shop-2") for i in range(7)]
                      + [request("O3", "CaseClosed", tenant="shop-2")])
    finally:
        ledger.close()
    before = _projections(settings)
    assert set(before[2]) == {"shop-1", "shop-2"} and len(before[1]) == 308
    downgrade_to_v2(settings.database_url)
    db = Database.open(settings.database_url)
    try:
        # The version-2 tables hold what the projections held: the migration drops real rows.
        assert db.query("SELECT COUNT(*) FROM timeline_rows")[0][0] == 308
        assert db.query("SELECT position FROM projection_positions")[0][0] == 308
        with pytest.raises(SchemaVersionError, match=f"version 2; this Témoin needs "
                                                     f"version {LATEST}"):
            Ledger(settings)

        said: list[str] = []
        assert migrate(db, dry_run=True, say=said.append, progress=said.append)
        assert any("drop the projections (37 cases, 308 timeline rows)" in line
                   for line in said), said

        def killed(line: str) -> None:
            if "schema 2 -> 3" in line:
                raise _Killed  # after the migration recorded its start, before its batch

        with pytest.raises(_Killed):
            migrate(db, say=lambda _: None, progress=killed)
        state = read_state(db)
        assert (state.version, state.pending) == (2, 3)
    finally:
        db.close()
    temoin = _in_process(settings, monkeypatch, capsys)
    refused = temoin("verify")
    assert refused.returncode == 2 and "migration to version 3 not finished" in refused.stderr
    rerun = temoin("migrate")
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming migration schema 2 -> 3" in rerun.stdout
    db = Database.open(settings.database_url)
    try:
        assert read_state(db).version == LATEST
        for table in ("case_index", "timeline_rows", "projection_positions"):
            assert db.query(f"SELECT COUNT(*) FROM {table}")[0][0] == 0, table
        assert "log_id" in {c.lower() for c in _columns(db, "timeline_rows")}
    finally:
        db.close()
    assert _projections(settings) == before
    assert temoin("verify").returncode == 0


def _columns(db: Database, table: str) -> list[str]:
    if db.dialect == "sqlite":
        return [r[1] for r in db.query(f"PRAGMA table_info({table})")]
    return [r[0] for r in db.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", (table,))]


# -- 3 -> 4: case numbers -----------------------------------------------------------------------
V4_ENTRIES = 6_000
_V4_ORDER = {"cases_cases": "case_no", "access_cases": "case_no", "cases_events": "entry",
             "access_events": "entry", "vault_keys": "case_no",
             "vault_openings": "case_no, case_seq, field"}


def _entries(url: str, version: int) -> dict[str, list[tuple[Any, ...]]]:
    """What the migration must keep, read through either layout: each log's events by leaf
    (log, index, id, version, topic, entry bytes), the vault by case id, and the tables it
    must not touch at all."""
    db = Database.open(url)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for p in PREFIXES:
            join = ("e.originator_id = l.originator_id AND "
                    "e.originator_version = l.originator_version" if version == 3
                    else "e.entry = l.log_id * 1099511627776 + l.idx")
            out[f"{p}_entries"] = [_norm(r) for r in db.query(
                f"SELECT l.log_id, l.idx, e.originator_id, e.originator_version, e.topic, "
                f"e.state FROM {p}_leaves l JOIN {p}_events e ON {join} "
                f"ORDER BY l.log_id, l.idx")]
            for t in LOG_TABLES:
                out[f"{p}_{t}"] = [_norm(r) for r in db.query(
                    f"SELECT * FROM {p}_{t} ORDER BY log_id, {_ORDER[t]}")]
        if version == 3:
            keys = db.query("SELECT case_id, wrapped FROM vault_keys")
            openings = db.query("SELECT case_id, case_seq, field, sealed FROM vault_openings")
        else:
            keys = db.query("SELECT e.originator_id, k.wrapped FROM vault_keys k "
                            "JOIN cases_events e ON e.entry = k.case_no")
            openings = db.query("SELECT e.originator_id, o.case_seq, o.field, o.sealed "
                                "FROM vault_openings o JOIN cases_events e ON e.entry = o.case_no")
        out["vault_keys"] = sorted(_norm(r) for r in keys)
        out["vault_openings"] = sorted(_norm(r) for r in openings)
        return out
    finally:
        db.close()


def _v4_dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    db = Database.open(url)
    try:
        return {t: [_norm(r) for r in db.query(f"SELECT * FROM {t} ORDER BY {order}")]
                for t, order in _V4_ORDER.items()}
    finally:
        db.close()


def test_migrate_3_to_4_killed_half_way_then_rerun(twin_urls: tuple[str, str],
                                                   tmp_path: Path) -> None:
    """Events under their entry key, cases numbered, the vault re-keyed: every entry, leaf,
    node, checkpoint and vault row is the same after as before, a killed and rerun migration
    makes the very tables of an uninterrupted one, and the log verifies and takes appends."""
    url, twin = twin_urls
    data = tmp_path / "data"
    settings = _settings(url, data)
    fill(settings, V4_ENTRIES, batch=500, checkpoints=6)
    downgrade_to_v3(url)
    _copy(url, twin)
    before = _entries(url, 3)
    assert len(before["cases_entries"]) == V4_ENTRIES and len(before["vault_openings"]) > 1000

    progress = _kill_past(settings, 0.3)
    assert "schema 3 -> 4" in progress
    db = Database.open(url)
    try:
        state = read_state(db)
    finally:
        db.close()
    assert (state.version, state.pending) == (3, 4)
    rerun = _temoin(settings, "migrate", TEMOIN_MIGRATE_BATCH="1024")
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming migration schema 3 -> 4" in rerun.stdout
    straight = _temoin(_settings(twin, data), "migrate")
    assert straight.returncode == 0, straight.stderr
    assert _v4_dump(url) == _v4_dump(twin)
    assert _entries(url, 4) == before

    verify = _temoin(settings, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"OK: {V4_ENTRIES:,} entries" in verify.stdout

    from ledger.ledger import Ledger
    from tests.helpers import no_evidence_types, request

    ledger = Ledger(settings)
    try:
        # An old case goes on (its number found from its id), a new one is numbered.
        ledger.append([request("C7", no_evidence_types()[1]),
                       request("after-migration", "CaseOpened")])
        assert ledger.tree_size() == V4_ENTRIES + 2
        assert [r.originator_version for r in ledger.store.case_leaves(
            before["cases_entries"][70][2])][-1] == 11
    finally:
        ledger.close()
    assert _temoin(settings, "verify").returncode == 0


def test_an_old_process_appending_and_erasing_during_3_to_4_is_caught_up(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A server of version 3 left running: the cases, events and openings it appends after the
    copy passed them are copied by the swap, and the vault rows its erasure destroys after
    they were copied are destroyed in the copy too (never resurrected by the migration)."""
    from ledger.domain import case_uuid
    from ledger.ledger import Ledger
    from ledger.store.migrations.runner import migrate
    from tests.helpers import request

    settings = _settings(database_url, tmp_path / "data")
    fill(settings, 200, batch=50, checkpoints=2)
    c3 = case_uuid("shop-1", "C3").hex
    db = Database.open(database_url)
    try:  # C3's vault rows as version 3 holds them, before the erasure below
        c3_key = db.query("SELECT wrapped FROM vault_keys WHERE case_no = (SELECT case_no "
                          "FROM cases_cases WHERE case_id = ?)", (c3,))
        c3_openings = db.query("SELECT case_seq, field, sealed FROM vault_openings WHERE "
                               "case_no = (SELECT case_no FROM cases_cases WHERE case_id = ?)",
                               (c3,))
    finally:
        db.close()
    assert c3_key and c3_openings
    ledger = Ledger(settings)
    try:
        ledger.append([request(f"late-{i}", "CaseOpened") for i in range(5)] + [
            request("C3", "PersonalDataErased", data={"legal_basis": "gdpr-art-17"})])
        ledger.sign_checkpoint()
    finally:
        ledger.close()
    downgrade_to_v3(database_url)
    db = Database.open(database_url)
    late: dict[str, list[tuple[Any, ...]]] = {}
    with db.transaction():
        hidden = {
            "cases_events": "EXISTS (SELECT 1 FROM cases_leaves l WHERE l.idx >= 200 AND "
                            "l.originator_id = cases_events.originator_id AND "
                            "l.originator_version = cases_events.originator_version)",
            "vault_openings": "",  # the late cases' openings, below
            "cases_leaves": "idx >= 200", "cases_nodes": f"key >= {201 << 6}",
            "cases_checkpoints": "size > 200",
        }
        late_ids = [case_uuid("shop-1", f"late-{i}").hex for i in range(5)]
        marks = ", ".join("?" * len(late_ids))
        for name, cond in hidden.items():
            params: tuple[Any, ...] = ()
            if name == "vault_openings":
                cond, params = f"case_id IN ({marks})", tuple(late_ids)
            late[name] = db.query(f"SELECT * FROM {name} WHERE {cond}", params)
            db.execute(f"DELETE FROM {name} WHERE {cond}", params)
        late["vault_keys"] = db.query(f"SELECT * FROM vault_keys WHERE case_id IN ({marks})",
                                      tuple(late_ids))
        db.execute(f"DELETE FROM vault_keys WHERE case_id IN ({marks})", tuple(late_ids))
        # C3 not yet erased when the copy passes it.
        db.execute("INSERT INTO vault_keys VALUES (?, ?)", (c3, c3_key[0][0]))
        for seq, field, sealed in c3_openings:
            db.execute("INSERT INTO vault_openings VALUES (?, ?, ?, ?)", (c3, seq, field, sealed))
    assert len(late["cases_leaves"]) == 6 and late["vault_keys"] and late["vault_openings"]

    def progress(line: str) -> None:
        if "cases: replace the version-3 events table" in line:  # the copy is done
            other = Database.open(database_url)
            try:
                with other.transaction():
                    for name, rows in late.items():
                        for row in rows:
                            other.execute(f"INSERT INTO {name} VALUES "
                                          f"({', '.join('?' * len(row))})", row)
                    other.execute("DELETE FROM vault_openings WHERE case_id = ?", (c3,))
                    other.execute("DELETE FROM vault_keys WHERE case_id = ?", (c3,))
            finally:
                other.close()

    try:
        assert migrate(db, say=lambda _: None, progress=progress)
        number = "(SELECT case_no FROM cases_cases WHERE case_id = ?)"
        for table in ("vault_keys", "vault_openings"):
            assert db.query(f"SELECT count(*) FROM {table} WHERE case_no = {number}",
                            (c3,))[0][0] == 0, table
        assert db.query(f"SELECT count(*) FROM vault_keys WHERE case_no IN "
                        f"(SELECT case_no FROM cases_cases WHERE case_id IN ({marks}))",
                        tuple(late_ids))[0][0] == 5
    finally:
        db.close()
    temoin = _in_process(settings, monkeypatch, capsys)
    verified = temoin("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK: 206 entries" in verified.stdout
