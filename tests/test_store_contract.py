"""The ledger's contract over its store, run against a real SQLite file and a real PostgreSQL
database: appends through the Ledger (rules, group commit, personal data, replay). What each
store Protocol must do on its own is in tests/store_contracts/."""

from __future__ import annotations

import json

import pytest

from ledger.canonical import canonical_bytes
from ledger.config import Settings
from ledger.domain import case_uuid
from ledger.entry import parse_entry
from ledger.errors import (
    CaseConflictError,
    CaseNotFoundError,
    EvidenceNotFoundError,
    SequenceConflictError,
)
from ledger.events.examples import EXAMPLES
from ledger.ledger import AppendGroup, Ledger
from ledger.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from ledger.signing import verify_checkpoint
from tests.conftest import RawDB
from tests.helpers import no_evidence_types, request
from tests.merkle_reference import mth


def _open_cases(ledger: Ledger, n: int, prefix: str = "C") -> None:
    ledger.append([request(f"{prefix}{i}", "CaseOpened") for i in range(n)])


def test_batch_of_several_cases_gets_dense_indices_in_request_order(ledger: Ledger) -> None:
    receipts = ledger.append(
        [
            request("A", "CaseOpened"),
            request("B", "CaseOpened"),
            request("A", "WithdrawalRequested"),
            request("B", "RefundIssued"),
            request("A", "WithdrawalAcknowledged"),
        ]
    )
    assert [r.index for r in receipts] == [0, 1, 2, 3, 4]
    assert [(r.case, r.case_seq) for r in receipts] == [
        ("A", 1), ("B", 1), ("A", 2), ("B", 2), ("A", 3)
    ]
    assert ledger.tree_size() == 5
    more = ledger.append([request("B", "CaseResolved")])
    assert more[0].index == 5 and more[0].case_seq == 3


def test_entries_are_stored_verbatim_and_chained(ledger: Ledger) -> None:
    receipts = ledger.append(
        [request("A", "CaseOpened"), request("A", "OtpVerified"), request("A", "RecipientNotified")]
    )
    entries = ledger.case_entries("shop-1", "A")
    assert [e.index for e in entries] == [0, 1, 2]
    prev = None
    for receipt, item in zip(receipts, entries, strict=True):
        entry = item.entry
        assert leaf_hash(entry.raw).hex() == receipt.leaf_hash == item.leaf_hash.hex()
        assert canonical_bytes(json.loads(entry.raw)) == entry.raw
        assert json.loads(entry.raw)["format"] == "temoin.entry/v1"
        assert parse_entry(entry.raw) == entry
        assert entry.prev == prev
        assert entry.log == "test.example/log" and entry.tenant == "shop-1"
        assert entry.source == "key-1" and entry.recorded_at.endswith("Z")
        prev = item.leaf_hash.hex()
    assert [e.entry.case_seq for e in entries] == [1, 2, 3]


def test_every_event_type_appends(ledger: Ledger) -> None:
    types = [t for t in no_evidence_types() if t not in ("CaseOpened", "CaseClosed",
                                                         "PersonalDataErased")]
    reqs = [request("ALL", "CaseOpened")] + [request("ALL", t) for t in types]
    for ex in EXAMPLES.values():
        for ref in ex.get("evidence", []):
            ledger.store.register_evidence("shop-1", ref["sha256"], "image/jpeg", 1234, "t")
    with_evidence = [t for t, ex in EXAMPLES.items() if ex.get("evidence")]
    reqs += [request("ALL", t) for t in with_evidence]
    reqs += [request("ALL", "CaseClosed"), request("ALL", "PersonalDataErased")]
    receipts = ledger.append(reqs)
    assert len(receipts) == len(EXAMPLES)
    typed = {e.entry.type for e in ledger.case_entries("shop-1", "ALL")}
    assert typed == set(EXAMPLES)
    photo = next(e.entry for e in ledger.case_entries("shop-1", "ALL")
                 if e.entry.type == "DeliveryPhotoTaken")
    assert photo.evidence[0]["media_type"] == "image/jpeg" and photo.evidence[0]["size"] == 1234


def test_rules_are_enforced_and_a_failed_batch_stores_nothing(ledger: Ledger) -> None:
    ledger.append([request("A", "CaseOpened")])
    with pytest.raises(CaseNotFoundError, match="'Z' does not exist"):
        ledger.append([request("Z", "OtpVerified")])
    with pytest.raises(CaseConflictError, match="already exists"):
        ledger.append([request("A", "CaseOpened")])
    with pytest.raises(SequenceConflictError, match="case_seq 1, expected_seq was 5"):
        ledger.append([request("A", "OtpVerified", expected_seq=5)])
    with pytest.raises(EvidenceNotFoundError, match="never uploaded") as info:
        ledger.append([request("A", "OtpVerified"), request("A", "DeliveryPhotoTaken")])
    assert info.value.position == 1
    assert ledger.tree_size() == 1
    assert ledger.store.count_events() == 1
    assert ledger.append([request("A", "OtpVerified", expected_seq=1)])[0].case_seq == 2
    ledger.append([request("A", "CaseClosed")])
    with pytest.raises(CaseConflictError, match="closed"):
        ledger.append([request("A", "RefundIssued")])
    assert ledger.append([request("A", "PersonalDataErased")])[0].case_seq == 4


def test_group_commit_isolates_failing_groups(ledger: Ledger) -> None:
    _open_cases(ledger, 2)
    results = ledger.commit(
        [
            AppendGroup([request("C0", "OtpVerified")]),
            AppendGroup([request("C1", "OtpVerified"), request("NOPE", "OtpVerified")]),
            AppendGroup([request("C1", "RecipientNotified")]),
            AppendGroup([request("C0", "CaseOpened")]),
        ]
    )
    assert isinstance(results[1], CaseNotFoundError)
    assert isinstance(results[3], CaseConflictError)
    assert [r.index for r in results[0]] == [2]  # type: ignore[union-attr]
    # The failed group's C1 event left no trace: the next C1 event is case_seq 2.
    assert [(r.case_seq, r.index) for r in results[2]] == [(2, 3)]  # type: ignore[union-attr]
    assert ledger.tree_size() == 4


def test_proofs_for_every_size_verify_against_the_reference_root(ledger: Ledger) -> None:
    _open_cases(ledger, 5)
    for i in range(28):
        ledger.append([request(f"C{i % 5}", "OtpFailed")])
    n = ledger.tree_size()
    raws = [row.entry for row in ledger.store.iter_leaves()]
    assert n == 33 and all(r is not None for r in raws)
    for size in range(1, n + 1):
        root = ledger.store.root(size)
        assert root == mth(raws[:size])
        for index in range(size):
            proof = ledger.inclusion_proof(index, size)
            verify_inclusion(index, size, leaf_hash(raws[index]), proof, root)
        for older in range(1, size + 1):
            proof = ledger.consistency_proof(older, size)
            verify_consistency(older, size, ledger.store.root(older), root, proof)
    assert ledger.store.root(0) == EMPTY_ROOT


def test_checkpoints_are_signed_kept_and_verify(ledger: Ledger) -> None:
    empty = ledger.sign_checkpoint()
    assert empty.size == 0
    _open_cases(ledger, 3)
    first = ledger.sign_checkpoint()
    assert ledger.sign_checkpoint() == first  # nothing grew: no new checkpoint
    ledger.append([request("C0", "OtpVerified")])
    second = ledger.sign_checkpoint()
    assert [c.size for c in ledger.store.checkpoints()] == [0, 3, 4]
    cp = verify_checkpoint(second.note, ledger.key.verifier())
    assert (cp.origin, cp.size, cp.root) == ("test.example/log", 4, ledger.store.root(4))
    proof = ledger.consistency_proof(3, 4)
    verify_consistency(3, 4, first.root, second.root, proof)


def test_personal_data_stays_out_of_the_log(ledger: Ledger, raw_db: RawDB) -> None:
    ledger.append([request("P", "CaseOpened")])
    entry = ledger.case_entries("shop-1", "P")[0].entry
    personal = EXAMPLES["CaseOpened"]["personal"]
    assert set(entry.personal) == set(personal)
    openings = ledger.openings("shop-1", "P")[1]
    for field_name, value in personal.items():
        assert openings[field_name].value == value
        assert openings[field_name].commitment() == entry.personal[field_name]
    dump = b"".join(
        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
        for table in ("cases_events", "vault_openings", "vault_keys")
        for row in raw_db.query(f"SELECT * FROM {table}")
        for v in row
    )
    for value in personal.values():
        assert value.encode() not in dump


def test_replay_at_a_size_shows_only_earlier_entries(ledger: Ledger) -> None:
    ledger.append([request("R", "CaseOpened"), request("R", "OtpVerified")])
    ledger.append([request("X", "CaseOpened")])
    ledger.append([request("R", "RecipientNotified")])
    assert [e.index for e in ledger.case_entries("shop-1", "R", size=3)] == [0, 1]
    case = ledger.case("shop-1", "R", size=3)
    assert case is not None and case.version == 2
    assert ledger.case("shop-1", "R", size=0) is None


def test_tenants_do_not_share_cases(ledger: Ledger) -> None:
    ledger.append([request("SAME", "CaseOpened", tenant="t-a")])
    ledger.append([request("SAME", "CaseOpened", tenant="t-b")])
    assert case_uuid("t-a", "SAME") != case_uuid("t-b", "SAME")
    assert len(ledger.case_entries("t-a", "SAME")) == 1
    assert ledger.case("t-c", "SAME") is None


def test_reopening_the_store_continues_the_same_tree(settings) -> None:  # type: ignore[no-untyped-def]
    first = Ledger(settings)
    first.append([request("A", "CaseOpened"), request("A", "OtpVerified")])
    root = first.store.root(2)
    first.close()
    second = Ledger(settings)
    try:
        receipts = second.append([request("A", "RecipientNotified")])
        assert receipts[0].index == 2 and receipts[0].case_seq == 3
        assert second.store.root(2) == root
    finally:
        second.close()


def test_opening_a_case_another_process_opened_is_refused_and_stores_nothing(
    ledger: Ledger, settings: Settings
) -> None:
    # The other process has never seen case "A": it assumes a CaseOpened opens a new case
    # (no read first), so the refusal must come from the database's unique keys.
    ledger.append([request("A", "CaseOpened"), request("A", "OtpVerified")])
    before = ledger.openings("shop-1", "A")
    other = Ledger(settings)
    try:
        results = other.commit(
            [AppendGroup([request("B", "CaseOpened")]), AppendGroup([request("A", "CaseOpened")])]
        )
        assert isinstance(results[1], CaseConflictError), results[1]
        assert "already exists" in str(results[1])
        assert isinstance(results[0], list) and results[0][0].index == 2
        assert other.append([request("A", "RecipientNotified")])[0].case_seq == 3
    finally:
        other.close()
    assert ledger.tree_size() == 4 and ledger.store.count_events() == 4
    assert [e.entry.case_seq for e in ledger.case_entries("shop-1", "A")] == [1, 2, 3]
    after = ledger.openings("shop-1", "A")  # the case's vault key was not replaced
    assert before and {seq: after[seq] for seq in before} == before
