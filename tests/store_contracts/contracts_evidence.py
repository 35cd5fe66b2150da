"""Contract of the evidence registry (EvidenceReader, Evidence)."""

from __future__ import annotations

from ledger.store.protocols import Store
from tests.store_contracts.backends import Backend

SHA = "ab" * 32


class EvidenceContract(Backend):
    def test_an_upload_is_registered_once_per_tenant(self, store: Store) -> None:
        assert store.evidence("t1", SHA) is None and store.all_evidence() == []
        assert store.register_evidence("t1", SHA, "image/jpeg", 1234, "2026-01-01T00:00:00Z")
        # The same bytes again: the first media type stays.
        assert not store.register_evidence("t1", SHA, "application/pdf", 1234, "later")
        assert store.evidence("t1", SHA) == ("image/jpeg", 1234)
        # Tenants do not see each other's uploads, and may upload the same bytes.
        assert store.evidence("t2", SHA) is None
        assert store.register_evidence("t2", SHA, "application/pdf", 1234, "t")
        assert sorted(store.all_evidence()) == [("t1", SHA, "image/jpeg", 1234),
                                                ("t2", SHA, "application/pdf", 1234)]

    def test_sizes_beyond_32_bits_are_kept(self, store: Store) -> None:
        store.register_evidence("t", SHA, "video/mp4", 5 * 2**32, "t")
        assert store.evidence("t", SHA) == ("video/mp4", 5 * 2**32)
