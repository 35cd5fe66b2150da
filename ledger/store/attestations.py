"""What third parties said about a signed checkpoint: RFC 3161 timestamp tokens from TSAs and
C2SP cosignatures from witnesses (issue 11).

One table per log family (`<prefix>_attestations`), keyed by (log id, checkpoint size, kind,
signer): a checkpoint may be timestamped by several TSAs and cosigned by several witnesses, and
each of them says so at most once. Rows are only ever added, like checkpoints; the bytes are kept as
received (a DER token, a signature line) so that a verifier can check them later, offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ledger.store.sql_access import SqlAccess

Kind = Literal["rfc3161", "cosignature"]
KINDS: tuple[Kind, ...] = ("rfc3161", "cosignature")



@dataclass(frozen=True, slots=True)
class Attestation:
    size: int  # the checkpoint's tree size
    kind: Kind
    signer: str  # the TSA's URL, or the witness's key name
    body: bytes  # the DER TimeStampResp token, or the cosignature line (UTF-8)
    obtained_at: str  # RFC 3339 UTC, our clock: when we received it


class AttestationsMixin(SqlAccess):
    """The table's DDL is `ledger.store.migrations.v2`'s (keyed by log id first)."""

    prefix: str
    log_id: int

    @property
    def _attestations_table(self) -> str:
        return f"{self.prefix}_attestations"

    def store_attestation(self, attestation: Attestation) -> None:
        """Keep what a TSA or a witness returned; a second one for the same key is ignored."""
        if attestation.kind not in KINDS:
            raise ValueError(f"attestation kind must be one of {KINDS}, got {attestation.kind!r}")
        self._execute(
            f"INSERT INTO {self._attestations_table} (log_id, size, kind, signer, body, "
            f"obtained_at) VALUES (?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (log_id, size, kind, signer) DO NOTHING",
            (self.log_id, attestation.size, attestation.kind, attestation.signer, attestation.body,
             attestation.obtained_at),
        )

    def attestations(self, size: int, kind: Kind | None = None) -> list[Attestation]:
        """Every attestation of the checkpoint of `size` (of one kind if given), by signer."""
        sql = (
            f"SELECT size, kind, signer, body, obtained_at FROM {self._attestations_table} "
            f"WHERE log_id = {self.log_id} AND size = ?"
        )
        params: list[Any] = [size]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        return [self._attestation(r) for r in self._query(sql + " ORDER BY kind, signer", params)]

    def attestations_between(
        self, after: int, upto: int, kind: Kind | None = None
    ) -> list[Attestation]:
        """Attestations of checkpoints with after < size <= upto (for listing pages)."""
        sql = (
            f"SELECT size, kind, signer, body, obtained_at FROM {self._attestations_table} "
            f"WHERE log_id = {self.log_id} AND size > ? AND size <= ?"
        )
        params: list[Any] = [after, upto]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        return [
            self._attestation(r)
            for r in self._query(sql + " ORDER BY size, kind, signer", params)
        ]

    def checkpoints_lacking(self, kind: Kind, signer: str, limit: int = 100) -> list[int]:
        """Sizes of stored checkpoints that `signer` has not attested yet, newest first."""
        rows = self._query(
            f"SELECT c.size FROM {self.prefix}_checkpoints c WHERE c.log_id = {self.log_id} "
            f"AND NOT EXISTS (SELECT 1 FROM {self._attestations_table} a WHERE "
            f"a.log_id = c.log_id AND a.size = c.size AND a.kind = ? AND a.signer = ?) "
            f"ORDER BY c.size DESC LIMIT ?",
            (kind, signer, limit),
        )
        return [r[0] for r in rows]

    @staticmethod
    def _attestation(row: tuple[Any, ...]) -> Attestation:
        return Attestation(row[0], row[1], row[2], bytes(row[3]), row[4])
