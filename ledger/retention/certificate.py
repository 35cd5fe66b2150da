"""Destruction certificates (`temoin.destruction/v1`): what one retention run destroyed, signed
by the log key and covered by a signed checkpoint, verifiable offline (`temoin verify CERT`).

JSON Lines, so that a run over 100,000 cases is written and verified with flat memory:

    {"format": "temoin.destruction/v1", "log", "verifier_key", "run", "generated_at",
     "classes": {name: {"duration", "basis"}}, "checkpoint": "<signed note>"}  line 1
    {"item": {"index", "leaf_hash", "entry", "proof", "tenant", "case", "retention_class",
              "fields", "evidence_destroyed", "erased_at"}}                 one per entry
    {"summary": {"cases", "evidence_files", "fields"}}
    {"signature": "<signed note>"}                                          last line

`entry` is the erasure entry's verbatim text (its leaf hash recomputes from it), `proof` its
RFC 9162 inclusion proof against the checkpoint; the last line signs
"temoin.destruction/v1\\n<SHA-256 of every byte before it>\\n" with the log key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from ledger.checkpoint import Checkpoint
from ledger.checks import Verdict
from ledger.errors import ValidationError
from ledger.merkle import ProofError, inclusion_plan, leaf_hash, verify_inclusion
from ledger.signing import CheckpointError, LogKey, Verifier, verify_checkpoint
from ledger.store.base import StoredCheckpoint
from ledger.store.protocols import Store, VaultReader

FORMAT = "temoin.destruction/v1"
_CHUNK = 256


def signature_body(digest: bytes) -> bytes:
    return f"{FORMAT}\n{digest.hex()}\n".encode()


@dataclass(frozen=True, slots=True)
class RunEntry:
    index: int
    raw: bytes


def run_entries(store: VaultReader, run: str, below: int) -> Iterator[RunEntry]:
    """The erasure entries of retention run `run`, in log order."""
    for index, _case_hex, raw in store.iter_erasure_entries(below):
        obj = orjson.loads(raw)
        if obj["data"].get("retention_run") == run:
            yield RunEntry(index, raw)


def _chunks(entries: Iterator[RunEntry]) -> Iterator[list[RunEntry]]:
    chunk: list[RunEntry] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_certificate(
    out: IO[bytes], store: Store, key: LogKey, checkpoint: StoredCheckpoint, run: str,
    classes: dict[str, dict[str, str]], now: datetime | None = None,
) -> dict[str, int]:
    """Write the certificate of `run` against `checkpoint`; returns its summary."""
    digest = hashlib.sha256()

    def line(obj: dict[str, Any]) -> None:
        data = orjson.dumps(obj) + b"\n"
        digest.update(data)
        out.write(data)

    moment = (now or datetime.now(UTC)).astimezone(UTC)
    line({"format": FORMAT, "log": key.name, "verifier_key": key.verifier_key, "run": run,
          "generated_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "classes": classes,
          "checkpoint": checkpoint.note.decode()})
    summary = {"cases": 0, "evidence_files": 0, "fields": 0}
    size = checkpoint.size
    for chunk in _chunks(run_entries(store, run, size)):
        # All the chunk's proofs from one read of the nodes they need.
        plans = [inclusion_plan(e.index, size) for e in chunk]
        nodes = store.read_nodes(sorted({n for p in plans for n in p.node_ids()}))
        for entry, proof_plan in zip(chunk, plans, strict=True):
            obj = orjson.loads(entry.raw)
            data = obj["data"]
            fields = data.get("fields")
            destroyed = data.get("evidence_destroyed", [])
            summary["cases"] += 1
            summary["evidence_files"] += len(destroyed)
            summary["fields"] += 0 if fields is None else len(fields)
            line({"item": {
                "index": entry.index, "leaf_hash": leaf_hash(entry.raw).hex(),
                "entry": entry.raw.decode(),
                "proof": [h.hex() for h in proof_plan.assemble(nodes)],
                "tenant": obj["tenant"], "case": obj["case"],
                "retention_class": data.get("retention_class"),
                "fields": "all" if fields is None else fields,
                "evidence_destroyed": destroyed, "erased_at": obj["recorded_at"],
            }})
    line({"summary": summary})
    out.write(orjson.dumps({"signature": key.sign_note(signature_body(digest.digest())).decode()})
              + b"\n")
    return summary


@dataclass
class CertificateReport(Verdict):
    """The certificate's failed checks (ledger/checks.py): its lines are checked by the
    thousand, so only what fails is recorded."""

    run: str = ""
    log: str = ""
    items: int = 0
    evidence_files: int = 0
    checkpoint_size: int = 0
    signed_by: str = ""

    @property
    def problems(self) -> list[str]:
        return [c.message() for c in self.failures]


class CertificateError(ValidationError, ValueError):
    """The file is not a destruction certificate at all."""


def is_certificate(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            first = fh.readline(4096)
        return orjson.loads(first).get("format") == FORMAT
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return False


def _header(obj: dict[str, Any], trusted_key: str | None,
            report: CertificateReport) -> tuple[Verifier, Checkpoint] | None:
    if obj.get("format") != FORMAT:
        raise CertificateError(f"not a {FORMAT} certificate (line 1 has format "
                               f"{obj.get('format')!r})")
    report.run, report.log = str(obj.get("run")), str(obj.get("log"))
    try:
        verifier = Verifier.parse(trusted_key or obj["verifier_key"])
    except (CheckpointError, KeyError, TypeError) as exc:
        report.failed("verifier key", f"{exc}")
        return None
    if trusted_key and obj.get("verifier_key") != trusted_key:
        report.failed("", "the certificate names another key than the one you trust")
    report.signed_by = verifier.name
    try:
        cp = verify_checkpoint(str(obj["checkpoint"]).encode(), verifier)
    except (CheckpointError, KeyError) as exc:
        report.failed("checkpoint", f"{exc}")
        return None
    report.checkpoint_size = cp.size
    return verifier, cp


def _item(item: Any, run: str, cp: Checkpoint, counted: dict[str, int],
          report: CertificateReport) -> None:
    entry = item["entry"].encode()
    index = int(item["index"])
    leaf = leaf_hash(entry)
    if leaf.hex() != item["leaf_hash"]:
        report.failed(f"index {index}", f"entry text hashes to {leaf.hex()}, the item "
                               f"says {item['leaf_hash']}: altered")
    entry_obj = orjson.loads(entry)
    for key in ("tenant", "case"):
        if entry_obj[key] != item[key]:
            report.failed(f"index {index}", f"item says {key} {item[key]!r}, its entry "
                                   f"says {entry_obj[key]!r}")
    data = entry_obj["data"]
    if entry_obj["type"] != "PersonalDataErased" or data.get("retention_run") != run:
        report.failed(f"index {index}", f"the entry is not an erasure of run {run}")
    destroyed = data.get("evidence_destroyed", [])
    if destroyed != item["evidence_destroyed"]:
        report.failed(f"index {index}", "evidence_destroyed differs from its entry's")
    fields = data.get("fields")
    counted["cases"] += 1
    counted["evidence_files"] += len(destroyed)
    counted["fields"] += 0 if fields is None else len(fields)
    try:
        verify_inclusion(index, cp.size, leaf, [bytes.fromhex(h) for h in item["proof"]],
                         cp.root)
    except (ProofError, ValueError) as exc:
        report.failed(f"index {index}", f"not in the log at checkpoint size {cp.size}: "
                               f"{exc}")


def verify_certificate(
    path: Path, trusted_key: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> CertificateReport:
    """Check a certificate offline, line by line: the checkpoint's signature, every entry's
    leaf hash and inclusion proof against it, the summary, and the signature over it all."""
    report = CertificateReport()
    digest = hashlib.sha256()
    head: tuple[Verifier, Checkpoint] | None = None
    summary: dict[str, Any] | None = None
    signature: str | None = None
    counted = {"cases": 0, "evidence_files": 0, "fields": 0}
    with path.open("rb") as fh:
        for number, raw_line in enumerate(fh, 1):
            if signature is not None:
                report.failed(f"line {number}", "text after the signature line")
                break
            try:
                obj = orjson.loads(raw_line)
            except orjson.JSONDecodeError as exc:
                raise CertificateError(f"line {number} is not JSON: {exc}") from None
            if not isinstance(obj, dict):
                raise CertificateError(f"line {number} is not a JSON object")
            if number == 1:
                digest.update(raw_line)
                head = _header(obj, trusted_key, report)
                if head is None:
                    return report
                continue
            if "signature" in obj:
                signature = str(obj["signature"])
                continue
            digest.update(raw_line)
            if summary is not None:
                report.failed(f"line {number}", "a line after the summary")
            if "item" in obj:
                try:
                    _item(obj["item"], report.run, head[1], counted, report)  # type: ignore[index]
                except (KeyError, TypeError, ValueError, AttributeError,
                        orjson.JSONDecodeError) as exc:
                    report.failed(f"line {number}", f"malformed item ({exc})")
                if progress is not None:
                    progress(counted["cases"])
            elif "summary" in obj:
                summary = obj["summary"]
            else:
                report.failed(f"line {number}", f"unknown line {sorted(obj)}")
    if head is None:
        raise CertificateError("empty file: not a certificate")
    if signature is None or summary is None:
        report.failed("", "the certificate is cut short: no summary or signature line")
        return report
    try:
        body = head[0].verify_note(signature.encode())
        if body != signature_body(digest.digest()):
            report.failed("", "the signature does not cover these bytes: the certificate "
                                   "was altered after it was signed")
    except CheckpointError as exc:
        report.failed("signature", f"{exc}")
    if summary != counted:
        report.failed("", f"summary says {summary}, the items add up to {counted}")
    report.items, report.evidence_files = counted["cases"], counted["evidence_files"]
    return report
