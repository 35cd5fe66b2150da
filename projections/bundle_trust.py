"""What third parties said about a bundle's checkpoint, carried in the bundle (issue 11 item 5).

A bundle whose checkpoint has RFC 3161 tokens or witness cosignatures stored for it is a
`temoin.bundle/v1.1` bundle (docs/BUNDLE.md §11). It adds, after `log-key.txt`:

- `checkpoint.cosigned.txt`: `checkpoint.txt` byte for byte, then every witness cosignature
  line stored for that checkpoint (what `GET /v1/log/checkpoint` serves). `checkpoint.txt`
  itself stays the note exactly as the log signed it: the RFC 3161 tokens were requested over
  those bytes, and the by-hand procedure reads its last line as the log's signature;
- `timestamps/<size>-<n>.tsr`: the DER TimeStampResp of the n-th TSA (n from 1, TSAs in URL
  order) over `checkpoint.txt`, as received; the manifest's `timestamps` field gives each
  one's TSA URL.

A checkpoint with no attestation gives a `temoin.bundle/v1` bundle, byte for byte as before, so
that verifiers that predate v1.1 keep accepting it. Pure: no database, no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ledger.bundle_format import BUNDLE_FORMAT_V1_1, COSIGNED, TIMESTAMP_PATH
from ledger.store.attestations import Attestation

__all__ = [
    "BUNDLE_FORMAT_V1_1",
    "COSIGNED",
    "TIMESTAMP_PATH",
    "TrustMembers",
    "trust_members",
]


@dataclass(frozen=True, slots=True)
class TrustMembers:
    """The v1.1 members, in ZIP order, and the manifest's `timestamps` field."""

    members: list[tuple[str, bytes]] = field(default_factory=list)
    timestamps: list[dict[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.members)


def trust_members(note: bytes, size: int, attestations: Sequence[Attestation]) -> TrustMembers:
    """The members carrying the tokens and cosignatures stored for the checkpoint `note` of
    `size`; empty when there are none (the bundle then stays v1)."""
    mine = [a for a in attestations if a.size == size]
    lines = [a.body if a.body.endswith(b"\n") else a.body + b"\n"
             for a in sorted(mine, key=lambda a: a.signer) if a.kind == "cosignature"]
    tokens = sorted((a for a in mine if a.kind == "rfc3161"), key=lambda a: a.signer)
    found = TrustMembers()
    if lines:
        found.members.append((COSIGNED, note + b"".join(lines)))
    for n, token in enumerate(tokens, 1):
        path = f"timestamps/{size}-{n}.tsr"
        found.members.append((path, token.body))
        found.timestamps.append({"path": path, "tsa": token.signer})
    return found


HOW_TO_TRUST = """

6. TRUSTED TIME AND WITNESSES (temoin.bundle/v1.1)
--------------------------------------------------

timestamps/S-N.tsr  An RFC 3161 time-stamp token (DER TimeStampResp) from an independent
                    Time-Stamp Authority, over SHA-256 of checkpoint.txt exactly as it is
                    here. manifest.json ("timestamps") names the TSA each one came from.
                    It proves: this checkpoint - and so every entry it includes - existed
                    no later than the token's time, according to that TSA.
checkpoint.cosigned.txt
                    checkpoint.txt followed by the cosignature lines of witnesses
                    (C2SP cosignature/v1): independent parties who checked that this
                    checkpoint extends every one of this log they saw before, and say so
                    with their own key and a time.

One command checks both, offline, with the TSA's root certificate and the witnesses'
public keys obtained from them (not from this ZIP):

    temoin verify bundle.zip --key '<log key>' --tsa-roots tsa-root.pem \\
        --witness '<witness 1 key>' --witness '<witness 2 key>' --quorum 2

A token with OpenSSL alone (independent of Temoin):

    openssl ts -reply -in timestamps/S-1.tsr -text        # the TSA, its time, its serial
    openssl ts -verify -data checkpoint.txt -in timestamps/S-1.tsr -CAfile tsa-root.pem

"Verification: OK" means that TSA signed, at "Time stamp:", a token over exactly the bytes
of checkpoint.txt. Go's golang.org/x/mod/sumdb/note opens checkpoint.cosigned.txt with the
log key alone (it ignores the witnesses' lines), and with cosignature/v1 verifiers checks
the witnesses' lines too.
"""
