"""Contract of the vault (VaultReader, Vault): wrapped case keys, sealed openings, and what
erasures leave of them."""

from __future__ import annotations

from uuid import UUID, uuid4

from ledger.store.batch import AppendBatch, Erasure, IdempotencyRecord, SealedOpening
from ledger.store.protocols import Store
from tests.store_contracts.backends import ERASED_TOPIC, Backend, append, stored


def _open(store: Store, case: UUID, key: bytes, seq: int = 1) -> None:
    append(store, [stored(case, seq, f"opened {seq}".encode())], AppendBatch(
        case_keys=[(case.hex, key)] if seq == 1 else [],
        openings=[SealedOpening(case.hex, seq, "email", b"e%d" % seq),
                  SealedOpening(case.hex, seq, "name", b"n%d" % seq)],
    ))


def _erase(store: Store, case: UUID, seq: int, fields: tuple[str, ...] | None) -> None:
    append(store, [stored(case, seq, b"erased", ERASED_TOPIC)],
           AppendBatch(erasures=[Erasure(case.hex, seq, fields)]))


class VaultContract(Backend):
    def test_keys_and_openings_are_read_per_case(self, store: Store) -> None:
        assert store.vault_counts() == (0, 0) and store.wrapped_key_sample() == []
        cases = sorted((uuid4() for _ in range(4)), key=lambda c: c.hex)
        for n, case in enumerate(cases):
            _open(store, case, b"key%d" % n)
        _open(store, cases[0], b"", seq=2)
        assert store.vault_counts() == (4, 10)
        assert store.wrapped_key_sample() == [(c.hex, b"key%d" % n)
                                              for n, c in enumerate(cases[:3])]
        assert store.wrapped_key_sample(1) == [(cases[0].hex, b"key0")]
        assert store.case_key(cases[1].hex) == b"key1"
        assert store.case_key(uuid4().hex) is None
        assert store.sealed_openings(cases[0].hex) == [
            (1, "email", b"e1"), (1, "name", b"n1"), (2, "email", b"e2"), (2, "name", b"n2")]
        assert store.openings_before(cases[0].hex, 2, None) == [(1, "email"), (1, "name")]
        assert store.openings_before(cases[0].hex, 3, ("name",)) == [(1, "name"), (2, "name")]
        scanned = list(store.iter_openings_with_keys())
        assert len(scanned) == 10
        # By case, then sequence (the field order within a sequence is not part of it).
        assert [(c, s) for c, s, *_ in scanned] == sorted((c, s) for c, s, *_ in scanned)
        assert sorted(scanned[:4]) == [
            (cases[0].hex, 1, "email", b"e1", b"key0"), (cases[0].hex, 1, "name", b"n1", b"key0"),
            (cases[0].hex, 2, "email", b"e2", b"key0"), (cases[0].hex, 2, "name", b"n2", b"key0")]

    def test_an_erasure_destroys_what_it_covers_in_its_own_append(
        self, store: Store
    ) -> None:
        whole, part, kept = uuid4(), uuid4(), uuid4()
        for case in (whole, part, kept):
            _open(store, case, b"k-" + case.bytes)
        # An Idempotency-Key record of an erased case's request is forgotten too.
        append(store, [stored(whole, 2, b"more")], AppendBatch(idempotency=[
            IdempotencyRecord("t", "key", "h", "c", 0, 1, (whole.hex,), lambda i: str(i))]))
        _erase(store, whole, 3, None)
        _erase(store, part, 2, ("email",))
        assert store.case_key(whole.hex) is None and store.sealed_openings(whole.hex) == []
        assert store.idempotency_record("t", "key") is None
        assert store.case_key(part.hex) == b"k-" + part.bytes
        assert store.sealed_openings(part.hex) == [(1, "name", b"n1")]
        assert len(store.sealed_openings(kept.hex)) == 2
        assert {row[0] for row in store.iter_openings_with_keys()} == {part.hex, kept.hex}

    def test_erasure_entries_are_listed_in_index_order(self, store: Store) -> None:
        cases = [uuid4() for _ in range(5)]
        for case in cases:
            _open(store, case, b"k")
        for case in cases:
            _erase(store, case, 2, ("email",))
        size = store.tree_size()
        found = store.erasure_entries(size)
        assert [(i, c) for i, c, _ in found] == [(5 + n, c.hex) for n, c in enumerate(cases)]
        assert all(raw == b"erased" for _, _, raw in found)
        assert store.erasure_entries(7) == found[:2]
        assert store.erasure_entries(size, start=6, limit=2) == found[1:3]
        assert list(store.iter_erasure_entries(size, page=2)) == found

    def test_finish_erasure_repairs_what_an_old_release_left(self, store: Store) -> None:
        case, other = uuid4(), uuid4()
        _open(store, case, b"k")
        _open(store, case, b"", seq=2)
        _open(store, other, b"k2")
        assert store.finish_erasure(case.hex, 2, ("email",)) == 1
        assert store.sealed_openings(case.hex) == [(1, "name", b"n1"), (2, "email", b"e2"),
                                                   (2, "name", b"n2")]
        assert store.case_key(case.hex) == b"k"
        assert store.finish_erasure(case.hex, 3, None) == 3
        assert store.sealed_openings(case.hex) == [] and store.case_key(case.hex) is None
        assert store.finish_erasure(case.hex, 3, None) == 0
        assert store.case_key(other.hex) == b"k2"
