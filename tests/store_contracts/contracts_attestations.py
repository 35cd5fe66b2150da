"""Contract of the attestations (AttestationReader, Attestations): RFC 3161 tokens and witness
cosignatures, kept per checkpoint and signer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ledger.store.attestations import Attestation
from ledger.store.protocols import Store
from tests.store_contracts.backends import Backend

TSA = "https://tsa.example"


class AttestationsContract(Backend):
    def test_attestations_are_kept_per_checkpoint_and_signer(self, store: Store) -> None:
        for size in (3, 4):
            store.store_checkpoint(size, b"\x00" * 32, b"note\n", "t")
        assert store.checkpoints_lacking("rfc3161", TSA) == [4, 3]

        token = Attestation(3, "rfc3161", TSA, b"\x30\x03DER", "t1")
        store.store_attestation(token)
        store.store_attestation(replace(token, body=b"other"))  # a second answer is ignored
        cosig = Attestation(3, "cosignature", "witness.example", b"\xe2\x80\x94 w", "t2")
        store.store_attestation(cosig)

        assert store.attestations(3) == [cosig, token]
        assert store.attestations(3, "rfc3161") == [token]
        assert store.attestations(4) == []
        assert store.attestations_between(0, 4, "cosignature") == [cosig]
        assert store.attestations_between(0, 4) == [cosig, token]
        assert store.attestations_between(3, 4) == []
        assert store.checkpoints_lacking("rfc3161", TSA) == [4]
        assert store.checkpoints_lacking("rfc3161", "https://other.example") == [4, 3]
        assert store.checkpoints_lacking("rfc3161", "https://other.example", limit=1) == [4]
        with pytest.raises(ValueError, match="kind must be one of"):
            store.store_attestation(Attestation(1, "bogus", "x", b"", "t"))  # type: ignore[arg-type]
