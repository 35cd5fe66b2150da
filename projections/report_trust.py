"""The integrity report's `trusted_time` and `witnesses` sections (issue 11 item 5).

What the TSAs and witnesses said about the report's reference checkpoint, re-checked here from
the stored bytes (a DER token, a cosignature line) against the trust anchors the server is
configured with (`TEMOIN_TSA_ROOTS`, `TEMOIN_WITNESSES`): nothing is taken on trust from the
attestations table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ledger.checkpoint import CheckpointError
from ledger.cosignature import CosignatureVerifier, parse_cosignature_line
from ledger.store.attestations import Attestation
from ledger.timestamps import TimestampError, verify_token

__all__ = ["trust_sections"]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def trust_sections(
    attestations: Sequence[Attestation],
    note: bytes,
    body: bytes,
    *,
    tsa_roots: bytes | None,
    witness_keys: Sequence[str] = (),
) -> dict[str, list[dict[str, Any]]]:
    """`trusted_time`: one row per RFC 3161 token over `note`; `witnesses`: one row per
    cosignature line over the checkpoint text `body`."""
    return {
        "trusted_time": [_token(a, note, tsa_roots)
                         for a in attestations if a.kind == "rfc3161"],
        "witnesses": [_cosignature(a, body, witness_keys)
                      for a in attestations if a.kind == "cosignature"],
    }


def _token(a: Attestation, note: bytes, roots: bytes | None) -> dict[str, Any]:
    row: dict[str, Any] = {"tsa": a.signer, "time": None, "tsa_subject": None, "serial": None,
                           "verified": False, "checked_against": (
                               "TEMOIN_TSA_ROOTS" if roots is not None else
                               "content only: TEMOIN_TSA_ROOTS is not set"), "error": None}
    try:
        info = verify_token(a.body, note, roots)
        row["verified"] = roots is not None
    except TimestampError as exc:
        row["error"] = str(exc)
        try:  # still say what the token claims, marked unverified
            info = verify_token(a.body, note, None)
        except TimestampError:
            return row
    row |= {"time": _iso(info.time), "tsa_subject": info.tsa_subject, "serial": info.serial}
    return row


def _cosignature(a: Attestation, body: bytes, keys: Sequence[str]) -> dict[str, Any]:
    line = a.body.decode("utf-8", errors="replace")
    row: dict[str, Any] = {"witness": a.signer, "time": None, "verified": False, "error": None}
    try:
        name, _, stamp, _ = parse_cosignature_line(line)
    except CheckpointError as exc:
        row["error"] = str(exc)
        return row
    row["time"] = _iso(datetime.fromtimestamp(min(stamp, 253402300799), UTC))
    verifiers = []
    for key in keys:
        try:
            verifiers.append(CosignatureVerifier.parse(key))
        except CheckpointError:
            continue
    mine = [v for v in verifiers if v.name == name]
    if not mine:
        row["error"] = f"no key for witness {name} in TEMOIN_WITNESSES: not checked"
        return row
    try:
        mine[0].verify(line, body)
        row["verified"] = True
    except CheckpointError as exc:
        row["error"] = str(exc)
    return row
