"""Contracts of the Merkle log: LogWriter (the append path, checkpoints), LogReader (leaves,
nodes, proofs, checkpoints) and LogAudit (what `temoin verify` scans)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from ledger.errors import WriteConflictError
from ledger.merkle import EMPTY_ROOT, consistency_plan, inclusion_plan, leaf_hash
from ledger.store.base import StoreError
from ledger.store.batch import AppendBatch, IdempotencyRecord, SealedOpening
from ledger.store.protocols import Store
from tests.conftest import RawDB
from tests.forgery import forge_event
from tests.merkle_reference import mth
from tests.merkle_reference import path as ref_path
from tests.merkle_reference import proof as ref_proof
from tests.store_contracts.backends import Backend, Opener, append, stored


def fill(store: Store, sizes: tuple[int, ...] = (1, 4, 3, 5)) -> tuple[list[bytes], UUID]:
    """Append batches of these sizes, round-robin over three cases; the entries and case A."""
    cases = [uuid4(), uuid4(), uuid4()]
    versions = dict.fromkeys(cases, 0)
    entries: list[bytes] = []
    for size in sizes:
        events = []
        for _ in range(size):
            case = cases[len(entries) % 3]
            versions[case] += 1
            raw = f'{{"n":{len(entries)}}}'.encode()
            events.append(stored(case, versions[case], raw))
            entries.append(raw)
        append(store, events)
    return entries, cases[0]


class LogWriterContract(Backend):
    def test_appends_get_dense_indices_in_order(self, store: Store) -> None:
        case = uuid4()
        first = append(store, [stored(case, 1, b"a"), stored(case, 2, b"b"), stored(case, 3, b"c")])
        assert (first.indices, first.tree_size) == ([0, 1, 2], 3)
        second = append(store, [stored(uuid4(), 1, b"d")])
        assert (second.indices, second.tree_size) == ([3], 4)
        assert store.tree_size() == 4

    def test_side_rows_commit_with_the_events(self, store: Store) -> None:
        case = uuid4()
        batch = AppendBatch(
            case_keys=[(case.hex, b"wrapped")],
            openings=[SealedOpening(case.hex, 1, "email", b"sealed-email"),
                      SealedOpening(case.hex, 1, "name", b"sealed-name")],
            idempotency=[IdempotencyRecord("t", "k1", "h", "2026-01-01T00:00:00Z", 0, 2,
                                           (case.hex,), lambda idx: f"{idx}")],
        )
        append(store, [stored(case, 1, b"a"), stored(case, 2, b"b")], batch)
        assert store.case_key(case.hex) == b"wrapped"
        assert store.sealed_openings(case.hex) == [(1, "email", b"sealed-email"),
                                                   (1, "name", b"sealed-name")]
        # The response is rendered with the indices the transaction gave the events.
        assert store.idempotency_record("t", "k1") == ("h", "[0, 1]", "2026-01-01T00:00:00Z")

    def test_a_failed_append_stores_nothing(self, store: Store) -> None:
        case = uuid4()
        append(store, [stored(case, 1, b"a")])
        other = uuid4()
        batch = AppendBatch(case_keys=[(other.hex, b"k")],
                            openings=[SealedOpening(other.hex, 1, "email", b"s")])
        # Which error class is the error tree's business; the contract is that nothing stays.
        with pytest.raises(Exception):  # noqa: B017
            append(store, [stored(other, 1, b"b"), stored(case, 1, b"again")], batch)
        assert store.tree_size() == 1 and store.count_events() == 1
        assert store.case_key(other.hex) is None and store.sealed_openings(other.hex) == []
        assert append(store, [stored(other, 1, b"b")]).indices == [1]
        assert store.root(2) == mth([b"a", b"b"])

    def test_another_writer_on_the_same_database_is_followed(
        self, store: Store, open_store: Opener
    ) -> None:
        # The writer caches the tree's head: it must see that another process appended.
        append(store, [stored(uuid4(), 1, b"a")])
        other = open_store()
        assert append(other, [stored(uuid4(), 1, b"b")]).indices == [1]
        assert append(store, [stored(uuid4(), 1, b"c")]).indices == [2]
        assert store.root(3) == other.root(3) == mth([b"a", b"b", b"c"])

    def test_a_checkpoint_is_stored_once_per_size(self, store: Store) -> None:
        store.store_checkpoint(0, EMPTY_ROOT, b"note 0\n", "t0")
        store.store_checkpoint(0, b"\x01" * 32, b"other\n", "t1")  # the first one stays
        found = store.checkpoint(0)
        assert found is not None
        assert (found.size, found.root, found.note, found.signed_at) == (
            0, EMPTY_ROOT, b"note 0\n", "t0")


class LogReaderContract(Backend):
    def test_roots_and_proofs_match_the_rfc_at_every_size(self, store: Store) -> None:
        entries, _ = fill(store)
        n = len(entries)
        assert store.tree_size() == n == 13
        assert store.root(0) == EMPTY_ROOT
        for size in range(1, n + 1):
            assert store.root(size) == mth(entries[:size])
            for index in range(size):
                assert store.proof(inclusion_plan(index, size)) == ref_path(index, entries[:size])
            for older in range(1, size):
                assert store.proof(consistency_plan(older, size)) == ref_proof(
                    older, entries[:size])
        with pytest.raises(StoreError):
            store.root(n + 1)

    def test_leaves_carry_their_entry_and_event(self, store: Store) -> None:
        entries, case = fill(store)
        row = store.leaf(3)
        assert row is not None
        assert (row.index, row.leaf_hash, row.entry) == (3, leaf_hash(entries[3]), entries[3])
        assert (row.originator_id, row.originator_version) == (case.hex, 2)
        assert store.leaf(len(entries)) is None
        assert [r.entry for r in store.iter_leaves()] == entries
        assert [r.index for r in store.iter_leaves(2, 5)] == [2, 3, 4]
        tuples = list(store.iter_leaf_tuples(4, 6))
        assert [(t[0], bytes(t[1]), t[3], bytes(t[4])) for t in tuples] == [
            (4, leaf_hash(entries[4]), 2, entries[4]), (5, leaf_hash(entries[5]), 2, entries[5])]
        assert len(list(store.iter_leaf_tuples())) == len(entries)
        nodes = store.read_nodes([])
        assert nodes == {}

    def test_a_case_reads_its_leaves_in_version_order(self, store: Store) -> None:
        entries, case = fill(store)
        rows = store.case_leaves(case)
        assert [r.index for r in rows] == [0, 3, 6, 9, 12]
        assert [r.originator_version for r in rows] == [1, 2, 3, 4, 5]
        assert [r.entry for r in rows] == [entries[i] for i in (0, 3, 6, 9, 12)]
        assert [r.index for r in store.case_leaves(case, below=7)] == [0, 3, 6]
        assert store.case_leaves(uuid4()) == []

    def test_a_case_reads_its_events_from_any_version(self, store: Store) -> None:
        entries, case = fill(store)
        assert [bytes(e.state) for e in store.select_events(case, gt=2)] == [
            entries[i] for i in (6, 9, 12)]
        assert [e.originator_version for e in store.select_events(case, desc=True, limit=2)] \
            == [5, 4]
        assert store.select_events(uuid4()) == []

    def test_a_later_version_of_no_case_is_refused(self, store: Store) -> None:
        """A case's events hang off its first event's number: version 2 of a case that was
        never opened has none, and the append fails whole."""
        fill(store, (2,))
        with pytest.raises(WriteConflictError):
            append(store, [stored(uuid4(), 2, b'{"n":99}')])
        assert store.tree_size() == 2

    def test_the_application_sequence_is_the_log_order(self, store: Store) -> None:
        entries, _ = fill(store)
        notes = store.select_notifications(None, 100)  # type: ignore[attr-defined]
        assert [n.id for n in notes] == list(range(1, len(entries) + 1))
        assert [bytes(n.state) for n in notes] == entries
        page = store.select_notifications(3, 2, inclusive_of_start=False)  # type: ignore[attr-defined]
        assert [n.id for n in page] == [4, 5]
        assert store.max_notification_id() == len(entries)  # type: ignore[attr-defined]

    def test_events_of_and_existing_aggregates(self, store: Store) -> None:
        entries, case = fill(store)
        unknown = uuid4()
        assert store.existing_aggregates([case, unknown]) == {case.hex}
        events = store.events_of([case, unknown])
        assert [(e.originator_id, e.originator_version) for e in events] == [
            (case, v) for v in range(1, 6)]
        assert [bytes(e.state) for e in events] == [entries[i] for i in (0, 3, 6, 9, 12)]
        assert store.count_events() == len(entries)

    def test_checkpoints_are_read_by_size(self, store: Store) -> None:
        assert store.latest_checkpoint() is None and store.checkpoint_count() == 0
        entries, _ = fill(store)
        for size in (1, 5, 13):
            store.store_checkpoint(size, store.root(size), f"n{size}\n".encode(), f"t{size}")
        latest = store.latest_checkpoint()
        assert latest is not None and (latest.size, latest.root) == (13, mth(entries))
        assert store.checkpoint_count() == 3
        assert [c.size for c in store.checkpoints()] == [1, 5, 13]
        assert [c.size for c in store.checkpoints(after=1)] == [5, 13]
        assert [c.size for c in store.checkpoints(after=-1, limit=2)] == [1, 5]
        one = store.checkpoint(5)
        assert one is not None and (one.note, one.signed_at) == (b"n5\n", "t5")
        assert store.checkpoint(6) is None


class LogAuditContract(Backend):
    def test_table_names_and_connection(self, store: Store) -> None:
        # The verifier's worker processes query these tables on connections of their own.
        names = {store.leaves_table, store.nodes_table, store.checkpoints_table,
                 store.events_table_name}
        assert len(names) == 4 and all(names)
        connect = store.audit_connect()
        assert connect is not None and connect[0] in ("sqlite", "postgres")

    def test_a_healthy_log_scans_clean(self, store: Store) -> None:
        entries, _ = fill(store)
        n = len(entries)
        for size in (1, 8, n):
            assert store.audit_node_count(size) == size - size.bit_count()
            nodes = list(store.iter_nodes_in_creation_order(size))
            assert len(nodes) == store.audit_node_count(size)
            # Creation order: a node is complete with its last leaf, lower levels first.
            keys = [((idx + 1) << level, level) for level, idx, _ in nodes]
            assert keys == sorted(keys)
        level_two = [mth(entries[i * 4:(i + 1) * 4]) for i in range(3)]
        assert store.audit_level(2, n) == level_two
        assert store.audit_level(2, 11) == level_two[:2]
        assert store.nodes_beyond_leaves() == []
        assert list(store.iter_events_without_leaf()) == []

    def test_an_event_without_its_leaf_is_seen(self, store: Store, raw_db: RawDB) -> None:
        fill(store, (4,))
        stray = uuid4()
        forge_event(raw_db, stray.hex if raw_db.is_sqlite else str(stray), 1, "t", b"x",
                    prefix=store.events_table_name.removesuffix("_events"))
        assert list(store.iter_events_without_leaf()) == [(stray.hex, 1, b"x")]
        assert store.nodes_beyond_leaves() == []
