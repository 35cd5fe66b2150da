"""The integrity report (`temoin.report/v1`, DESIGN §7), after NF Z42-013 / Vitam's
"relevé de valeur probante": every check is computed here from the stored bytes, none is
asserted, and each row says what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ledger.case_file import CaseFile, read_case_file
from ledger.checkpoint import Checkpoint
from ledger.ledger import CaseEntry, Ledger
from ledger.merkle import (
    ProofError,
    leaf_hash,
    root_from_inclusion_proof,
    verify_consistency,
)
from ledger.signing import CheckpointError, Verifier, verify_checkpoint
from ledger.store.base import StoredCheckpoint
from ledger.vault import Opening
from projections.report_trust import trust_sections
from projections.timeline import build_timeline

FORMAT = "temoin.report/v1"
SOFTWARE = "temoin 0.1.0"
ALGORITHMS = {
    "entry": "temoin.entry/v1, canonical JSON (docs/FORMAT.md)",
    "leaf": "SHA-256(0x00 || entry)",
    "node": "SHA-256(0x01 || left || right)",
    "signature": "Ed25519, C2SP tlog-checkpoint + signed-note",
    "commitment": "HMAC-SHA256(key=salt, msg=value)",
}
HOW_TO_VERIFY = """\
1. Obtain the log's verifier key from a source other than this report (the publisher's web site,
   a previous bundle, a court filing) and compare it with the key printed above.
2. Download the evidence bundle of the case (GET /v1/cases/<case>/bundle) and run, offline:
       temoin verify bundle.zip --key '<verifier key>'
   Every check of this report is recomputed from the bundle's bytes; nothing needs our server.
3. Experts can re-check without our software: each entry's leaf hash is
   SHA-256(0x00 || entry bytes); each inclusion proof folds to the checkpoint's root (RFC 9162
   §2.1.3.2); the checkpoint is a C2SP signed note (Ed25519) that Go's
   golang.org/x/mod/sumdb/note verifies. docs/FORMAT.md gives a worked example by hand.
"""


def _check(section: str, place: str, name: str, expected: str, found: str,
           status: str | None = None) -> dict[str, str]:
    return {
        "section": section,
        "place": place,
        "name": name,
        "expected": expected,
        "found": found,
        "status": status or ("OK" if expected == found else "KO"),
    }


def _entry_checks(file: CaseFile, cp: Checkpoint) -> list[dict]:
    checks = []
    prev: str | None = None
    for seq, item in enumerate(file.entries, 1):
        place = f"index {item.index}"
        computed = leaf_hash(item.entry.raw)
        checks.append(_check("entries", place, "leaf hash of the stored entry bytes",
                             item.leaf_hash.hex(), computed.hex()))
        try:
            proof = file.proofs[item.index]
            found = root_from_inclusion_proof(item.index, cp.size, computed, proof).hex()
        except (ProofError, KeyError, ValueError) as exc:
            found = f"no proof: {exc}"
        checks.append(_check("entries", place, f"inclusion proof against checkpoint {cp.size}",
                             cp.root.hex(), found))
        checks.append(_check("chain", place, "case_seq", str(seq), str(item.entry.case_seq)))
        checks.append(_check("chain", place, "prev (leaf hash of the previous entry)",
                             str(prev), str(item.entry.prev)))
        prev = item.leaf_hash.hex()
    return checks


def _checkpoint_history(file: CaseFile, verifier: Verifier) -> tuple[list[dict], list[dict]]:
    rows, checks = [], []
    previous: Checkpoint | None = None
    for stored in file.history:
        place = f"checkpoint size {stored.size}"
        try:
            parsed = verify_checkpoint(stored.note, verifier)
            signature = "OK"
        except CheckpointError as exc:
            parsed, signature = None, "KO"
            checks.append(_check("checkpoints", place, "signature", "valid", str(exc), "KO"))
        consistency = "n/a"
        if parsed is not None and previous is not None:
            try:
                proof = file.consistency[(previous.size, parsed.size)]
                verify_consistency(previous.size, parsed.size, previous.root, parsed.root, proof)
                consistency = "OK"
            except (ProofError, KeyError, ValueError) as exc:
                consistency = "KO"
                checks.append(_check("checkpoints", place,
                                     f"consistency with checkpoint {previous.size}",
                                     "append-only", str(exc), "KO"))
        if parsed is not None:
            checks.append(_check("checkpoints", place, "signature", "valid", "valid"))
            previous = parsed
        rows.append({"size": stored.size, "root": stored.root.hex(),
                     "signed_at": stored.signed_at, "signature": signature,
                     "consistency": consistency})
    return rows, checks


def _evidence_checks(file: CaseFile) -> list[dict]:
    """From the hashes the case file took once, when it read each file."""
    checks, seen = [], set()
    for item in file.entries:
        for ev in item.entry.evidence:
            sha = ev["sha256"]
            if sha in seen:
                continue
            seen.add(sha)
            place = f"evidence {sha}"
            state = file.evidence.get(sha)
            if state is None or state.found is None:
                checks.append(_check("evidence", place, "file present", "present", "missing"))
                continue
            checks.append(_check("evidence", place, "SHA-256 of the stored file", sha,
                                 state.found))
            checks.append(_check("evidence", place, "size in bytes", str(ev["size"]),
                                 str(state.size)))
    return checks


def _erasure_of(items: Sequence[CaseEntry]) -> dict[tuple[int, str], CaseEntry]:
    """(case_seq, field) -> the PersonalDataErased entry that destroyed its opening."""
    erased: dict[tuple[int, str], CaseEntry] = {}
    for item in items:
        if item.entry.type != "PersonalDataErased":
            continue
        listed = item.entry.data.get("fields")
        for earlier in items:
            if earlier.entry.case_seq >= item.entry.case_seq:
                break
            for name in earlier.entry.personal:
                if listed is None or name in listed:
                    erased.setdefault((earlier.entry.case_seq, name), item)
    return erased


def _personal_checks(items: Sequence[CaseEntry],
                     openings: dict[int, dict[str, Opening]]) -> list[dict]:
    checks = []
    erased = _erasure_of(items)
    for item in items:
        for field_name, commitment in sorted(item.entry.personal.items()):
            place = f"index {item.index}"
            name = f"personal field {field_name}"
            opening = openings.get(item.entry.case_seq, {}).get(field_name)
            by = erased.get((item.entry.case_seq, field_name))
            if opening is None:
                if by is not None:
                    # Neither OK (nothing left to compare) nor KO (nothing is wrong).
                    checks.append(_check(
                        "personal", place, name, commitment,
                        f"erased on {by.entry.recorded_at[:10]} by entry {by.index}, "
                        f"commitment intact", "ERASED"))
                else:
                    checks.append(_check("personal", place, name, commitment,
                                         "opening missing from the vault", "WARNING"))
                continue
            if by is not None:
                checks.append(_check(
                    "personal", place, name, "destroyed by entry " + str(by.index),
                    "still in the vault: run `temoin erasure finish`", "KO"))
                continue
            checks.append(_check("personal", place, name, commitment, opening.commitment()))
    return checks


def _anomalies(timeline: dict[str, Any]) -> tuple[list[str], list[dict]]:
    notes, checks = [], []
    for row in timeline["entries"]:
        place = f"index {row['index']}"
        if row["late"]:
            hours = row["delay_seconds"] // 3600
            notes.append(f"{place}: late arrival, recorded {hours} h after it occurred")
            checks.append(_check("entries", place, "late arrival", "recorded within 24 h",
                                 f"recorded {hours} h later", "WARNING"))
        if row["delay_seconds"] < 0:
            notes.append(f"{place}: clock skew, occurred {-row['delay_seconds']} s after it "
                         f"was recorded")
    return notes, checks


def integrity_report(
    ledger: Ledger,
    tenant: str,
    case: str,
    *,
    checkpoint: StoredCheckpoint | None = None,
    access_journal: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
    tsa_roots: bytes | None = None,
    witness_keys: Sequence[str] = (),
) -> dict[str, Any] | None:
    """The report of a case against a checkpoint (default: a fresh one covering everything),
    read as one case file; None for a case without entries in it. The routes read the case
    file themselves (`report_of`) and never sign."""
    stored = checkpoint or ledger.sign_checkpoint()
    file = read_case_file(ledger, tenant, case, checkpoint=stored, openings=True, evidence=True)
    return report_of(file, access_journal=access_journal, now=now, tsa_roots=tsa_roots,
                     witness_keys=witness_keys)


def report_of(
    file: CaseFile,
    *,
    access_journal: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
    tsa_roots: bytes | None = None,
    witness_keys: Sequence[str] = (),
) -> dict[str, Any] | None:
    """`temoin.report/v1` of a case file read with its checkpoint, openings and evidence.

    `tsa_roots` (PEM) and `witness_keys` (verifier keys) are what the reference checkpoint's
    RFC 3161 tokens and witness cosignatures are checked against (`trusted_time`, `witnesses`).
    """
    if file.checkpoint is None:
        raise ValueError("a report needs a case file read with its checkpoint")
    moment = now or datetime.now(UTC)
    stored = file.checkpoint
    verifier = Verifier.parse(file.verifier_key)
    items = file.entries
    if not items:
        return None
    checks: list[dict[str, str]] = []
    try:
        cp = verify_checkpoint(stored.note, verifier)
        checks.append(_check("checkpoints", f"checkpoint size {stored.size}",
                             "signature of the reference checkpoint", "valid", "valid"))
    except CheckpointError as exc:
        cp = Checkpoint(file.origin, stored.size, stored.root)
        checks.append(_check("checkpoints", f"checkpoint size {stored.size}",
                             "signature of the reference checkpoint", "valid", str(exc), "KO"))
    checks += _entry_checks(file, cp)
    history, history_checks = _checkpoint_history(file, verifier)
    checks += history_checks
    checks += _evidence_checks(file)
    checks += _personal_checks(items, file.openings or {})
    timeline = build_timeline(
        items, log=file.origin, tenant=file.tenant, case=file.case, as_of_size=stored.size,
        as_of=moment, generated_at=moment,
    )
    anomalies, anomaly_checks = _anomalies(timeline)
    checks += anomaly_checks
    anomalies += [f"{c['place']}: {c['name']}: expected {c['expected']}, found {c['found']}"
                  for c in checks if c["status"] == "KO"]
    summary = {
        s.lower(): sum(c["status"] == s for c in checks) for s in ("OK", "WARNING", "KO", "ERASED")
    }
    verdict = "KO" if summary["ko"] else "WARNING" if summary["warning"] else "OK"
    return {
        "format": FORMAT,
        "generated_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "identification": {
            "log": file.origin,
            "verifier_key": file.verifier_key,
            "software": SOFTWARE,
            "algorithms": ALGORITHMS,
        },
        "scope": {
            "tenant": file.tenant,
            "case": file.case,
            "tree_size": file.tree_size,
            "checkpoint": {"size": stored.size, "root": stored.root.hex(),
                           "note": stored.note.decode(), "signed_at": stored.signed_at},
            "entries": len(items),
        },
        "verdict": verdict,
        "summary": summary,
        "checks": checks,
        "checkpoints": history,
        "timeline": timeline,
        "access_journal": list(access_journal),
        "anomalies": anomalies,
        "how_to_verify": HOW_TO_VERIFY,
        **trust_sections(file.attestations, stored.note, cp.to_body(),
                         tsa_roots=tsa_roots, witness_keys=witness_keys),
    }
