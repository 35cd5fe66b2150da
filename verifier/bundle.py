"""Offline verification of a `temoin.bundle/v1` evidence bundle (DESIGN §7, docs/BUNDLE.md).

Pure: a ZIP (bytes, a path or an open file) in, a report out. No database, no network, no
configuration, no clock, so a court expert can run it anywhere. The ZIP is hostile input:
names, sizes and counts are checked before anything is decompressed, and every failure
becomes a KO line naming its place (`entries/3.json`, `index 3`, `case C`,
`evidence/<sha256>`, `checkpoint.txt`, ...), never an exception.

Bundles have no size limit: only the members that are parsed (manifest, signature, key,
checkpoint, entries, proofs, openings — small by nature) are read into memory; evidence
files, PDFs and the other members are hashed in 1 MiB chunks as they are decompressed, once
each, so memory stays flat whatever the bundle's size.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from typing import Any, BinaryIO

from ledger.bundle_format import (
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_V1_1,
    CHECKPOINT,
    COSIGNED,
    ENTRY_PATH,
    EVIDENCE_PATH,
    FIXED_MEMBERS,
    LOG_KEY,
    MANIFEST,
    MANIFEST_SIG,
    OPENING_PATH,
    PROOF_PATH,
    TIMESTAMP_PATH,
    manifest_sig_body,
)
from ledger.canonical import CanonicalError, strict_loads
from ledger.checkpoint import Checkpoint
from ledger.checks import Check, Verdict
from ledger.entry import Entry, EntryFormatError, parse_entry
from ledger.merkle import ProofError, leaf_hash, verify_inclusion
from ledger.signing import CheckpointError, Verifier, verify_checkpoint
from ledger.vault.commitments import SALT_SIZE, commit
from verifier.bundle_trust import TrustOptions, TrustSummary, check_trust

__all__ = ["MAX_MEMBERS", "MAX_PARSED_SIZE", "MAX_PARSED_TOTAL", "BundleReport", "Check",
           "TrustOptions", "verify_bundle"]

# WARN: a harmless difference, said and ignored (folder entries a ZIP tool added); never a
# failure.

# Zip-bomb limits, checked on the sizes the ZIP declares before decompressing (zipfile
# never yields more than the declared size, and a lie fails its CRC). Members that are parsed
# are read into memory, so they are bounded; members that are only hashed (evidence, PDFs)
# are streamed and may have any size, but their declared size must be the manifest's and
# their compression ratio one DEFLATE can reach, so the work is bounded by the file's size.
MAX_MEMBERS = 100_000
MAX_PARSED_SIZE = 64 * 2**20
MAX_PARSED_TOTAL = 1024 * 2**20
# Deflate cannot expand more than ~1032:1; a higher declared ratio is a forged header.
_MAX_RATIO = 1100
_RATIO_FLOOR = 2**20
_CHUNK = 2**20
_COMPRESSIONS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_ENCRYPTED = 0x1

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MANIFEST_FIELDS = frozenset(
    {"format", "tenant", "case", "log", "checkpoint_size", "created_at", "members"}
)
# Absent from bundles made before created_at became the build time (it was then the
# checkpoint's signing time): those still verify.
_OPTIONAL_MANIFEST_FIELDS = frozenset({"checkpoint_signed_at"})
_PROOF_FIELDS = frozenset({"index", "size", "leaf_hash", "proof"})
_NO_KEY = "not checked: log-key.txt is missing or unusable, and no --key was given"
_ZIP_ERRORS = (
    zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
    NotImplementedError, RuntimeError, struct.error, zlib.error,
)


@dataclass
class BundleReport(Verdict):
    """Every check made, in order (ledger/checks.py), and what the bundle claims to be."""

    case: str | None = None
    tenant: str | None = None
    log: str | None = None
    checkpoint_size: int | None = None
    signer_key: str | None = None
    trusted_key: str | None = None
    entries: int = 0
    evidence_files: int = 0
    openings: int = 0
    format: str | None = None
    trust: TrustSummary = field(default_factory=TrustSummary)

    @property
    def ok(self) -> bool:
        # A bundle of which nothing could be checked is not sound.
        return bool(self.checks) and not self.failures


Source = bytes | str | os.PathLike[str] | BinaryIO


def verify_bundle(source: Source, *, trusted_key: str | None = None,
                  trust: TrustOptions | None = None) -> BundleReport:
    """Check a bundle — its bytes, its path, or a seekable binary file open on it;
    `trusted_key` is the log's verifier key obtained elsewhere; `trust` the TSA roots,
    witness keys and quorum to check a v1.1 bundle's tokens and cosignatures with.

    Without `trusted_key` the bundle is checked against the key it carries (log-key.txt),
    which proves it is intact and self-consistent but not who signed it. A path that cannot
    be opened raises OSError (the caller says what to do); everything else is a KO line.
    """
    report = BundleReport()
    if isinstance(source, bytes):
        fh: BinaryIO = BytesIO(source)
    elif isinstance(source, str | os.PathLike):
        fh = open(source, "rb")  # noqa: SIM115 - closed below, after every check
    else:
        fh = source
    try:
        members = _read_zip(fh, report)
        if members is not None:
            try:
                _BundleCheck(report, members, trusted_key, trust or TrustOptions()).run()
            finally:
                members.close()
    finally:
        if fh is not source:
            fh.close()
    return report


# --------------------------------------------------------------------------- the ZIP


def _unsafe_name(name: str) -> str | None:
    """Why unzipping `name` could write outside the target folder, or None."""
    if not name or name.endswith("/"):
        return "is a folder entry or has an empty name"
    if "\\" in name or "\x00" in name or ":" in name:
        return "contains a backslash, NUL or colon"
    if name.startswith("/"):
        return "is an absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "contains an empty, '.' or '..' path component"
    return None


def _parsed(name: str) -> bool:
    """Whether the verifier reads the member's content (into memory) rather than only
    hashing it as it streams by."""
    if name in (MANIFEST, MANIFEST_SIG, CHECKPOINT, LOG_KEY, COSIGNED):
        return True
    return any(p.fullmatch(name) for p in (ENTRY_PATH, PROOF_PATH, OPENING_PATH, TIMESTAMP_PATH))


def _member_problem(info: zipfile.ZipInfo, name: str) -> str | None:
    """What is wrong with a member, `name` being its name in the bundle's layout."""
    unsafe = _unsafe_name(info.filename)
    if unsafe is not None:
        return f"unsafe name: it {unsafe}; do not unzip this file with ordinary tools"
    if info.flag_bits & _ENCRYPTED:
        return "is encrypted; a bundle never is"
    if info.compress_type not in _COMPRESSIONS:
        return f"uses compression method {info.compress_type}; a bundle uses stored or deflate"
    if _parsed(name) and info.file_size > MAX_PARSED_SIZE:
        return (f"declares {info.file_size:,} bytes, over the limit of {MAX_PARSED_SIZE:,} "
                "for a member that is read into memory")
    if info.file_size > _RATIO_FLOOR and info.file_size > _MAX_RATIO * info.compress_size:
        return (f"declares {info.file_size:,} bytes from {info.compress_size:,} compressed: "
                "impossible for deflate (zip bomb or forged header)")
    return None


def _read_zip(fh: BinaryIO, report: BundleReport) -> _Members | None:
    """The usable members, or None (with a KO) when the archive cannot be used at all."""
    try:
        length = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        zf = zipfile.ZipFile(fh)
        infos = zf.infolist()
    except _ZIP_ERRORS as exc:
        report.failed("bundle", "is a readable ZIP archive",
                      f"{exc}; the file is damaged or is not a bundle: ask for it again")
        return None
    top = _top_folder(infos)
    problem = _archive_problem(infos, length, top)
    if not report.check("bundle", "is a readable ZIP archive within the size limits", problem,
                        f"{len(infos)} members, {length:,} bytes"):
        zf.close()
        return None
    files = _without_tool_additions(infos, top, report)
    counts = Counter(name for name, _ in files)
    members = _Members(zf)
    for name, info in files:
        if name in members.broken:
            continue
        if counts[name] > 1:
            members.broken.add(name)
            report.failed(name, "appears once in the ZIP",
                          f"appears {counts[name]} times: unzip tools would keep only one")
            continue
        bad = _member_problem(info, name)
        if bad is None and not _parsed(name):
            members.streamed[name] = info  # hashed later, in chunks, when checked
            continue
        if bad is None:
            try:
                members.data[name] = zf.read(info)
                continue
            except _ZIP_ERRORS as exc:
                bad = f"cannot be read ({exc}): the ZIP is damaged, ask for the bundle again"
        members.broken.add(name)
        report.failed(name, "is a safe, readable ZIP member", bad)
    return members


def _folder_entry(info: zipfile.ZipInfo) -> bool:
    """A folder entry as ordinary ZIP tools add them (`zip -r` adds one per folder): a safe
    name ending in "/" and no data. Unzipping one only makes a folder, so it is ignored with
    a WARN line; one with data or an unsafe name is not that, and fails."""
    return (info.filename.endswith("/") and info.file_size == 0
            and _unsafe_name(info.filename[:-1]) is None)


def _top_folder(infos: list[zipfile.ZipInfo]) -> str:
    """The folder "F/" that every file of the ZIP is in, when it holds manifest.json, as when
    an unzipped bundle is zipped again with its folder (`zip -r new.zip F/`); else "".
    One level only: deeper nesting is not what a ZIP tool does by itself."""
    names = [i.filename for i in infos if not _folder_entry(i)]
    manifests = [n for n in names if n.count("/") == 1 and n.endswith("/" + MANIFEST)]
    if len(manifests) != 1:
        return ""
    top = manifests[0][:-len(MANIFEST)]
    if _unsafe_name(top[:-1]) is not None or not all(n.startswith(top) for n in names):
        return ""
    return top


def _without_tool_additions(infos: list[zipfile.ZipInfo], top: str,
                            report: BundleReport) -> list[tuple[str, zipfile.ZipInfo]]:
    """The members to check, each with its name in the bundle's layout: without the folder
    entries and the common top folder that ordinary ZIP tools add when an unzipped bundle is
    zipped again (each said in a WARN line). Member order, compression, ZIP times and extra
    fields never matter: only the files' names and bytes are checked."""
    if top:
        report.warned("bundle", f"every file is in the folder {top}",
                      f"the bundle was unzipped and zipped again with its folder (as `zip -r "
                      f"new.zip {top}` does); its files are checked under their names "
                      f"without {top}")
    folders = [i.filename for i in infos if _folder_entry(i)]
    if folders:
        shown = ", ".join(folders[:8]) + (f" and {len(folders) - 8} more"
                                          if len(folders) > 8 else "")
        report.warned("bundle", f"{len(folders)} folder entr{'y' if len(folders) == 1 else 'ies'}"
                      " ignored", f"{shown}: added by a ZIP tool when the bundle was unzipped "
                      "and zipped again; they hold no data, and every file is still checked")
    return [(i.filename[len(top):], i) for i in infos if not _folder_entry(i)]


def _archive_problem(infos: list[zipfile.ZipInfo], length: int, top: str) -> str | None:
    if len(infos) > MAX_MEMBERS:
        return f"{len(infos):,} members, over the limit of {MAX_MEMBERS:,}"
    packed = sum(i.compress_size for i in infos)
    if packed > length:
        # Members of a sound ZIP never share bytes; overlapping ones would let a small file
        # make the verifier inflate the same data over and over (an "overlap" zip bomb).
        return (f"members declare {packed:,} compressed bytes, more than the file's "
                f"{length:,}: overlapping members (zip bomb) or a truncated file")
    parsed = sum(i.file_size for i in infos if _parsed(i.filename.removeprefix(top)))
    if parsed > MAX_PARSED_TOTAL:
        return (f"declares {parsed:,} bytes of manifest, entries, proofs and openings, over "
                f"the limit of {MAX_PARSED_TOTAL:,} read into memory")
    return None


# --------------------------------------------------------------------------- the checks


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _short(hex_value: str) -> str:
    return hex_value if len(hex_value) <= 16 else f"{hex_value[:16]}…"


def _ranges(values: Iterable[int]) -> str:
    """`[4, 5, 6, 9]` -> `4-6, 9`: readable lists of case_seq values."""
    spans: list[tuple[int, int]] = []
    for v in sorted(values):
        if spans and v == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], v)
        else:
            spans.append((v, v))
    return _spans(spans)


def _spans(spans: list[tuple[int, int]], limit: int = 10) -> str:
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans[:limit])
    return text + (f" and {len(spans) - limit} more ranges" if len(spans) > limit else "")


def _gaps(present: Iterable[int]) -> list[tuple[int, int]]:
    """The ranges missing from 1 to max(present), without listing them one by one (a hostile
    case_seq of 2**70 must not allocate 2**70 integers)."""
    gaps = []
    last = 0
    for v in sorted(set(present)):
        if v > last + 1:
            gaps.append((last + 1, v - 1))
        last = v
    return gaps


def _numbered(members: dict[str, bytes], pattern: re.Pattern[str]) -> dict[int, bytes]:
    found = {}
    for name, data in members.items():
        m = pattern.fullmatch(name)
        if m is not None:
            found[int(m.group(1))] = data
    return dict(sorted(found.items()))


@dataclass(frozen=True, slots=True)
class _Digest:
    sha256: str
    size: int


class _Members:
    """Members of the ZIP: those read into memory, those hashed as they stream by, and the
    names already reported as unusable. Each streamed member is read once: its digest is kept."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.data: dict[str, bytes] = {}
        self.streamed: dict[str, zipfile.ZipInfo] = {}
        self.broken: set[str] = set()
        self._digests: dict[str, _Digest | str] = {}

    def close(self) -> None:
        self.zf.close()

    def names(self) -> list[str]:
        return [*self.data, *self.streamed, *self.broken]

    def present(self, name: str) -> bool:
        return name in self.data or name in self.streamed

    def declared_size(self, name: str) -> int:
        if name in self.data:
            return len(self.data[name])
        return self.streamed[name].file_size

    def digest(self, name: str) -> _Digest | str:
        """SHA-256 and size of a present member, or why it cannot be read to the end."""
        found = self._digests.get(name)
        if found is None:
            found = self._digests[name] = self._compute(name)
        return found

    def _compute(self, name: str) -> _Digest | str:
        if name in self.data:
            data = self.data[name]
            return _Digest(hashlib.sha256(data).hexdigest(), len(data))
        digest, size = hashlib.sha256(), 0
        try:
            with self.zf.open(self.streamed[name]) as member:
                while chunk := member.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        except _ZIP_ERRORS as exc:
            # zipfile checks the CRC-32 at the member's end: a changed byte lands here.
            return (f"cannot be read to its end ({exc}): its bytes in the ZIP were altered or "
                    "damaged; do not rely on this bundle, ask for it again")
        return _Digest(digest.hexdigest(), size)


@dataclass
class _Manifest:
    tenant: str
    case: str
    log: str
    checkpoint_size: int
    created_at: str
    members: dict[str, tuple[str, int]]
    checkpoint_signed_at: str | None = None
    format: str = BUNDLE_FORMAT
    timestamps: dict[str, str] = field(default_factory=dict)  # v1.1: .tsr path -> TSA URL


class _BundleCheck:
    """One verification run: each method checks one part and records its checks."""

    def __init__(self, report: BundleReport, members: _Members, trusted: str | None,
                 trust: TrustOptions) -> None:
        self.trust_options = trust
        self.r = report
        self.zip = members
        self.members = members.data  # the parsed ones, in memory
        self.broken = members.broken
        self.trusted_text = trusted
        self.file_key: Verifier | None = None
        self.trusted_key: Verifier | None = None
        self.manifest: _Manifest | None = None
        self.checkpoint: Checkpoint | None = None
        self.entries: dict[int, Entry] = {}

    def run(self) -> None:
        self.keys()
        self.manifest_signature()
        self.manifest_contents()
        self.member_hashes()
        self.checkpoint_note()
        self.entries_and_proofs()
        self.case_chain()
        self.evidence()
        self.openings()
        if self.manifest is not None:
            check_trust(self.r, self.members, self.manifest.timestamps, self.checkpoint,
                        self.trust_options)

    # -- keys and signatures ---------------------------------------------------------------
    def keys(self) -> None:
        raw = self.members.get(LOG_KEY)
        if raw is None:
            self.r.failed(LOG_KEY, "holds the log's verifier key", self._absent(LOG_KEY))
        else:
            text = _text(raw)
            try:
                self.file_key = Verifier.parse(text[:-1] if text.endswith("\n") else text)
                self.r.signer_key = str(self.file_key)
                self.r.passed(LOG_KEY, "holds a verifier key", str(self.file_key))
            except CheckpointError as exc:
                self.r.failed(LOG_KEY, "holds a verifier key", str(exc))
        if self.trusted_text is None:
            return
        try:
            self.trusted_key = Verifier.parse(self.trusted_text.strip())
        except CheckpointError as exc:
            self.r.failed("--key", "is a verifier key", str(exc))
            return
        self.r.trusted_key = str(self.trusted_key)
        if self.file_key is not None:
            same = self.file_key == self.trusted_key
            self.r.check(
                LOG_KEY, "is the key you trust (--key)",
                None if same else (
                    f"log-key.txt holds {self.file_key}, you trust {self.trusted_key}: this "
                    "bundle was not signed by the key you trust (or you were given the wrong "
                    "key); get the log's key from its operator and do not rely on this bundle"
                ),
            )

    def _absent(self, name: str) -> str:
        return "unusable (see above)" if name in self.broken else "missing from the ZIP"

    def _verifiers(self) -> list[tuple[str, Verifier]]:
        """The keys each signature is checked against: the bundle's, and the trusted one."""
        found = []
        if self.file_key is not None:
            found.append(("the key in log-key.txt", self.file_key))
        if self.trusted_key is not None and self.trusted_key != self.file_key:
            found.append(("the trusted key (--key)", self.trusted_key))
        return found

    def _verify_note(self, place: str, note: bytes) -> bytes | None:
        """Check `note` against every key; the text if all of them accept it."""
        text: bytes | None = None
        verifiers = self._verifiers()
        if not verifiers:
            self.r.failed(place, "is signed by the log key", _NO_KEY)
        for label, verifier in verifiers:
            try:
                body = verifier.verify_note(note)
            except CheckpointError as exc:
                self.r.failed(place, f"is signed by {label}", str(exc))
                return None
            self.r.passed(place, f"is signed by {label}", verifier.name)
            text = body
        return text

    def manifest_signature(self) -> None:
        sig, manifest = self.members.get(MANIFEST_SIG), self.members.get(MANIFEST)
        if sig is None or manifest is None:
            for name, data in ((MANIFEST_SIG, sig), (MANIFEST, manifest)):
                if data is None:
                    self.r.failed(name, "is present", f"{self._absent(name)}: nothing in the "
                                  "bundle can be authenticated without it")
            return
        body = self._verify_note(MANIFEST_SIG, sig)
        if body is None:
            return
        lines = _text(body).split("\n")
        if len(lines) != 3 or lines[0] != BUNDLE_FORMAT or not _HEX64.fullmatch(lines[1]):
            self.r.failed(MANIFEST_SIG, f"signs '{BUNDLE_FORMAT}' and a SHA-256",
                          f"signed text is {_text(body)[:80]!r}: not a v1 bundle signature")
            return
        want = manifest_sig_body(manifest)
        self.r.check(
            MANIFEST, "is the manifest signed in manifest.sig",
            None if body == want else (
                f"its SHA-256 is {hashlib.sha256(manifest).hexdigest()}, manifest.sig signs "
                f"{lines[1]}: manifest.json was altered or replaced"
            ),
            f"SHA-256 {lines[1]}",
        )

    # -- manifest ---------------------------------------------------------------------------
    def manifest_contents(self) -> None:
        raw = self.members.get(MANIFEST)
        if raw is None:
            return
        try:
            self.manifest = _parse_manifest(raw)
        except (CanonicalError, ValueError) as exc:
            self.r.failed(MANIFEST, f"is a {BUNDLE_FORMAT} manifest", str(exc))
            return
        m = self.manifest
        self.r.case, self.r.tenant, self.r.log = m.case, m.tenant, m.log
        self.r.checkpoint_size = m.checkpoint_size
        self.r.format = m.format
        self.r.passed(MANIFEST, f"is a {m.format} manifest",
                      f"case {m.case} of tenant {m.tenant}, log {m.log}, checkpoint size "
                      f"{m.checkpoint_size}, created {m.created_at}"
                      + (f" (checkpoint signed {m.checkpoint_signed_at})"
                         if m.checkpoint_signed_at else ""))

    def member_hashes(self) -> None:
        if self.manifest is None:
            return
        listed = self.manifest.members
        for name in FIXED_MEMBERS:
            if name not in listed and not self.zip.present(name) and name not in self.broken:
                self.r.failed(name, "is present", "missing from the ZIP and from manifest.json")
        for path, (sha, size) in listed.items():
            if path not in self.broken:
                self._member(path, sha, size)
        for name in self.zip.names():
            if name not in listed and name not in (MANIFEST, MANIFEST_SIG):
                self.r.failed(name, "is listed in manifest.json",
                              "extra member, not listed in the signed manifest: it was added "
                              "after signing and must not be relied on")

    def _member(self, path: str, sha: str, size: int) -> None:
        if not self.zip.present(path):
            self.r.failed(path, "is present", "listed in manifest.json but missing from the "
                          "ZIP: the bundle is incomplete, ask for it again")
            return
        name = "SHA-256 and size as in the manifest"
        declared = self.zip.declared_size(path)
        if declared != size:
            # Caught before decompressing: a member can be no larger than the signed size.
            self.r.failed(path, name, f"the ZIP declares {declared:,} bytes, manifest.json "
                          f"says {size:,}: this file was altered (it was not decompressed)")
            return
        found = self.zip.digest(path)
        problem = found if isinstance(found, str) else None
        if isinstance(found, _Digest) and (found.sha256 != sha or found.size != size):
            problem = (f"SHA-256 {found.sha256} and {found.size:,} bytes, manifest.json says "
                       f"{sha} and {size:,} bytes: this file was altered")
        self.r.check(path, name, problem, f"{_short(sha)}, {size:,} bytes")

    # -- checkpoint -------------------------------------------------------------------------
    def checkpoint_note(self) -> None:
        note = self.members.get("checkpoint.txt")
        if note is None:
            return  # reported with the members
        self.checkpoint = cp = self._verified_checkpoint(note)
        m = self.manifest
        if m is not None and cp is not None:
            self.r.check(
                "checkpoint.txt", "is the checkpoint named in manifest.json",
                None if (cp.origin, cp.size) == (m.log, m.checkpoint_size) else (
                    f"checkpoint of log {cp.origin} size {cp.size}, manifest.json names log "
                    f"{m.log} size {m.checkpoint_size}"
                ),
            )

    def _verified_checkpoint(self, note: bytes) -> Checkpoint | None:
        """The checkpoint if every key accepts it (origin = key name), else None with a KO."""
        verifiers = self._verifiers()
        if not verifiers:
            self.r.failed("checkpoint.txt", "is signed by the log key", _NO_KEY)
            return None
        cp: Checkpoint | None = None
        for label, verifier in verifiers:
            try:
                cp = verify_checkpoint(note, verifier)
            except CheckpointError as exc:
                self.r.failed("checkpoint.txt", f"is signed by {label}", str(exc))
                return None
            self.r.passed("checkpoint.txt", f"is signed by {label}",
                          f"log {cp.origin}, size {cp.size}, root {cp.root.hex()}")
        return cp

    # -- entries and proofs -----------------------------------------------------------------
    def entries_and_proofs(self) -> None:
        entries = _numbered(self.members, ENTRY_PATH)
        proofs = _numbered(self.members, PROOF_PATH)
        if not entries:
            self.r.failed("entries/", "hold the case's entries", "the bundle holds no entry")
        if self.checkpoint is None and entries:
            self.r.failed("entries/", "inclusion proofs checked against the checkpoint",
                          "not checked: checkpoint.txt is missing or did not verify")
        for index, raw in entries.items():
            entry = self._entry(index, raw)
            if entry is not None:
                self.entries[index] = entry
                self._proof(index, raw, proofs.get(index))
        for index in proofs:
            if index not in entries:
                self.r.failed(f"proofs/{index}.json", "proves an entry of the bundle",
                              f"there is no entries/{index}.json")
        self.r.entries = len(self.entries)

    def _entry(self, index: int, raw: bytes) -> Entry | None:
        place = f"entries/{index}.json"
        try:
            entry = parse_entry(raw)
        except EntryFormatError as exc:
            self.r.failed(place, "is a canonical temoin.entry/v1 entry", str(exc))
            return None
        m = self.manifest
        if m is None:
            return entry
        claimed = (entry.log, entry.tenant, entry.case)
        self.r.check(
            place, f"belongs to case {m.case} of tenant {m.tenant} in log {m.log}",
            None if claimed == (m.log, m.tenant, m.case) else (
                f"it is entry {entry.case_seq} of case {entry.case} of tenant {entry.tenant} "
                f"in log {entry.log}"
            ),
            f"case_seq {entry.case_seq}, {entry.type}",
        )
        return entry

    def _proof(self, index: int, raw: bytes, proof_raw: bytes | None) -> None:
        place = f"proofs/{index}.json"
        if proof_raw is None:
            self.r.failed(place, "is present", f"entries/{index}.json has no proof")
            return
        leaf = leaf_hash(raw)
        try:
            size, hashes = _parse_proof(proof_raw, index, leaf)
        except (CanonicalError, ValueError) as exc:
            self.r.failed(place, f"is the proof of entries/{index}.json", str(exc))
            return
        cp = self.checkpoint
        if cp is None:
            return
        if size != cp.size:
            self.r.failed(place, f"refers to checkpoint size {cp.size}",
                          f"it refers to size {size}")
            return
        self.r.passed(place, f"is the proof of entries/{index}.json",
                      f"leaf hash {_short(leaf.hex())}")
        try:
            verify_inclusion(index, cp.size, leaf, hashes, cp.root)
            problem = None
        except ProofError as exc:
            problem = f"{exc}: entry {index} is not proven to be in the log"
        self.r.check(f"index {index}", f"inclusion proof against checkpoint size {cp.size}",
                     problem)

    # -- case chain -------------------------------------------------------------------------
    def case_chain(self) -> None:
        if not self.entries or self.manifest is None:
            return
        m = self.manifest
        place = f"case {m.case}"
        mine = [(i, e) for i, e in self.entries.items()
                if (e.log, e.tenant, e.case) == (m.log, m.tenant, m.case)]
        problems = list(_chain_problems(mine))
        for problem in problems:
            self.r.failed(place, "case chain and case_seq", problem)
        if not problems and mine:
            last = mine[-1][1].case_seq
            self.r.passed(place, "case chain and case_seq",
                          f"case_seq 1 to {last} all present, each linked to the one before")

    # -- evidence ---------------------------------------------------------------------------
    def evidence(self) -> None:
        wanted: dict[str, tuple[int, int]] = {}
        for index, entry in self.entries.items():
            for ref in entry.evidence:
                self._want_evidence(index, ref, wanted)
        files = [name[len("evidence/"):] for name in self.zip.streamed
                 if EVIDENCE_PATH.fullmatch(name)]
        for sha, (size, index) in sorted(wanted.items()):
            place = f"evidence/{sha}"
            if not self.zip.present(place):
                self.r.failed(place, f"is present (referenced by index {index})",
                              self._absent(place))
                continue
            name = f"is the file referenced by index {index}"
            declared = self.zip.declared_size(place)
            if declared != size:
                self.r.failed(place, name, f"the ZIP declares {declared:,} bytes, index {index} "
                              f"references {size:,} bytes: the file was altered")
                continue
            found = self.zip.digest(place)  # computed once, with the manifest check
            problem = found if isinstance(found, str) else None
            if isinstance(found, _Digest) and (found.sha256 != sha or found.size != size):
                problem = (f"SHA-256 {found.sha256} and {found.size:,} bytes, index {index} "
                           f"references {sha} and {size:,} bytes: the file was altered")
            self.r.check(place, name, problem, f"{size:,} bytes")
        for sha in files:
            if sha not in wanted:
                self.r.failed(f"evidence/{sha}", "is referenced by an entry",
                              "no entry of the bundle references this file")
        self.r.evidence_files = len(files)

    def _want_evidence(self, index: int, ref: Any, wanted: dict[str, tuple[int, int]]) -> None:
        place = f"entries/{index}.json"
        sha = ref.get("sha256") if isinstance(ref, dict) else None
        size = ref.get("size") if isinstance(ref, dict) else None
        if not (isinstance(sha, str) and _HEX64.fullmatch(sha) and isinstance(size, int)):
            self.r.failed(place, "references evidence as {sha256, size, ...}",
                          f"found {ref!r}")
            return
        before = wanted.setdefault(sha, (size, index))
        if before[0] != size:
            self.r.failed(place, f"gives evidence/{sha} the size other entries give",
                          f"{size:,} bytes here, {before[0]:,} in index {before[1]}")

    # -- openings ---------------------------------------------------------------------------
    def openings(self) -> None:
        found = _numbered(self.members, OPENING_PATH)
        for index, raw in found.items():
            self._opening(index, raw)
        self.r.openings = len(found)

    def _opening(self, index: int, raw: bytes) -> None:
        place = f"openings/{index}.json"
        entry = self.entries.get(index)
        if entry is None:
            self.r.failed(place, "opens an entry of the bundle",
                          f"there is no valid entries/{index}.json")
            return
        try:
            values = _parse_opening(raw)
        except (CanonicalError, ValueError) as exc:
            self.r.failed(place, "is {field: {value, salt}}", str(exc))
            return
        bad = [name for name, (value, salt) in values.items()
               if not _opens(entry.personal.get(name), value, salt)]
        names = ", ".join(values)
        self.r.check(
            place, f"personal values match the commitments in entries/{index}.json",
            None if not bad else (
                f"{', '.join(bad)}: HMAC-SHA256(salt, value) differs from the commitment in "
                f"entries/{index}.json (or the entry has no such field); the opening was altered"
            ),
            names,
        )


# --------------------------------------------------------------------------- parsing


def _parse_manifest(raw: bytes) -> _Manifest:
    obj = strict_loads(raw)
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    form = obj.get("format")
    if form not in (BUNDLE_FORMAT, BUNDLE_FORMAT_V1_1):
        raise ValueError(f"format is {form!r}, expected {BUNDLE_FORMAT!r} or "
                         f"{BUNDLE_FORMAT_V1_1!r}: use a verifier that knows its format")
    want = _MANIFEST_FIELDS | ({"timestamps"} if form == BUNDLE_FORMAT_V1_1 else set())
    if not want <= set(obj) <= want | _OPTIONAL_MANIFEST_FIELDS:
        raise ValueError(f"fields are {sorted(obj)}, expected {sorted(want)} "
                         f"and optionally {sorted(_OPTIONAL_MANIFEST_FIELDS)}")
    times = [n for n in ("created_at", "checkpoint_signed_at") if n in obj]
    for name in ("tenant", "case", "log", *times):
        if not isinstance(obj[name], str):
            raise ValueError(f"{name} must be a string, found {obj[name]!r}")
    for name in times:
        _check_time(name, obj[name])
    size = obj["checkpoint_size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"checkpoint_size must be an integer >= 1, found {size!r}")
    v11 = form == BUNDLE_FORMAT_V1_1
    return _Manifest(obj["tenant"], obj["case"], obj["log"], size, obj["created_at"],
                     _parse_members(obj["members"], v11), obj.get("checkpoint_signed_at"),
                     form, _parse_timestamps(obj["timestamps"]) if v11 else {})


def _check_time(name: str, text: str) -> None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in text:
        raise ValueError(f"{name} must be an RFC 3339 time with a zone, found {text!r}")


def _parse_timestamps(items: Any) -> dict[str, str]:
    """v1.1 `timestamps`: [{path, tsa}] -> {path: TSA URL}."""
    if not isinstance(items, list):
        raise ValueError("timestamps must be a list")
    found: dict[str, str] = {}
    for i, item in enumerate(items):
        if not (isinstance(item, dict) and set(item) == {"path", "tsa"}
                and isinstance(item["path"], str) and isinstance(item["tsa"], str)):
            raise ValueError(f"timestamps[{i}] must be {{path, tsa}}, found {item!r}")
        if not TIMESTAMP_PATH.fullmatch(item["path"]) or item["path"] in found:
            raise ValueError(f"timestamps[{i}]: {item['path']!r} is not a new "
                             "timestamps/<size>-<n>.tsr path")
        found[item["path"]] = item["tsa"]
    return found


def _parse_members(items: Any, v11: bool = False) -> dict[str, tuple[str, int]]:
    if not isinstance(items, list):
        raise ValueError("members must be a list")
    members: dict[str, tuple[str, int]] = {}
    for i, item in enumerate(items):
        if not (isinstance(item, dict) and set(item) == {"path", "sha256", "size"}):
            raise ValueError(f"members[{i}] must be {{path, sha256, size}}, found {item!r}")
        path, sha, size = item["path"], item["sha256"], item["size"]
        if not isinstance(path, str) or not _in_layout(path, v11):
            form = BUNDLE_FORMAT_V1_1 if v11 else BUNDLE_FORMAT
            raise ValueError(f"members[{i}]: {path!r} is not a {form} member")
        if not (isinstance(sha, str) and _HEX64.fullmatch(sha)):
            raise ValueError(f"members[{i}]: sha256 must be 64 lowercase hex digits")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"members[{i}]: size must be an integer >= 0")
        if path in members:
            raise ValueError(f"members[{i}]: {path} is listed twice")
        members[path] = (sha, size)
    return members


def _in_layout(path: str, v11: bool = False) -> bool:
    if path in FIXED_MEMBERS:
        return True
    if v11 and (path == COSIGNED or TIMESTAMP_PATH.fullmatch(path)):
        return True
    patterns = (ENTRY_PATH, PROOF_PATH, OPENING_PATH, EVIDENCE_PATH)
    return any(p.fullmatch(path) for p in patterns)


def _parse_proof(raw: bytes, index: int, leaf: bytes) -> tuple[int, list[bytes]]:
    """(size, proof hashes) after checking the fields that tie the proof to its entry."""
    obj = strict_loads(raw)
    if not isinstance(obj, dict) or set(obj) != _PROOF_FIELDS:
        raise ValueError("expected an object {index, size, leaf_hash, proof}")
    if obj["index"] != index or isinstance(obj["index"], bool):
        raise ValueError(f"index is {obj['index']!r}, expected {index}")
    size = obj["size"]
    if not isinstance(size, int) or isinstance(size, bool):
        raise ValueError(f"size must be an integer, found {size!r}")
    if obj["leaf_hash"] != leaf.hex():
        raise ValueError(
            f"leaf_hash is {obj['leaf_hash']!r}, but SHA-256(0x00 || entries/{index}.json) "
            f"is {leaf.hex()}: the entry or its proof was altered"
        )
    proof = obj["proof"]
    if not isinstance(proof, list) or not all(
        isinstance(h, str) and _HEX64.fullmatch(h) for h in proof
    ):
        raise ValueError("proof must be a list of 64-hex-digit hashes")
    return size, [bytes.fromhex(h) for h in proof]


def _parse_opening(raw: bytes) -> dict[str, tuple[str, bytes]]:
    obj = strict_loads(raw)
    if not isinstance(obj, dict) or not obj:
        raise ValueError("expected a non-empty object {field: {value, salt}}")
    values = {}
    for name, item in obj.items():
        if not (isinstance(item, dict) and set(item) == {"value", "salt"}
                and isinstance(item["value"], str) and isinstance(item["salt"], str)
                and re.fullmatch(f"[0-9a-f]{{{2 * SALT_SIZE}}}", item["salt"])):
            raise ValueError(f"{name}: expected {{value, salt}} with a {SALT_SIZE}-byte hex salt")
        values[name] = (item["value"], bytes.fromhex(item["salt"]))
    return values


def _opens(commitment: str | None, value: str, salt: bytes) -> bool:
    return isinstance(commitment, str) and hmac.compare_digest(commit(value, salt), commitment)


def _chain_problems(entries: list[tuple[int, Entry]]) -> Iterable[str]:
    """What breaks the case chain, for entries sorted by index (all of one case)."""
    if not entries:
        return
    seqs = Counter(e.case_seq for _, e in entries)
    dupes = sorted(s for s, n in seqs.items() if n > 1)
    if dupes:
        yield f"case_seq {_ranges(dupes)} appear(s) more than once"
    last = max(seqs)
    missing = _gaps(seqs)
    if missing:
        yield (f"case_seq {_spans(missing)} missing: the bundle must hold every entry of the "
               f"case from case_seq 1 to its last ({last})")
    order = [e.case_seq for _, e in entries]
    if order != sorted(order):
        yield "case_seq does not grow with the log index: entries are out of order"
    by_seq = {e.case_seq: (i, e) for i, e in entries}
    for index, entry in entries:
        yield from _link_problem(index, entry, by_seq)


def _link_problem(index: int, entry: Entry, by_seq: dict[int, tuple[int, Entry]]) -> Iterable[str]:
    if entry.case_seq == 1:
        if entry.prev is not None:
            yield f"index {index}: case_seq 1 must have prev null, found {_short(entry.prev)}"
        if entry.type != "CaseOpened":
            yield f"index {index}: case_seq 1 must be CaseOpened, found {entry.type}"
        return
    before = by_seq.get(entry.case_seq - 1)
    if before is None:
        return  # reported as a missing case_seq
    want = before[1].leaf_hash.hex()
    if entry.prev != want:
        yield (f"index {index}: prev is {_short(str(entry.prev))}, but the leaf hash of "
               f"case_seq {entry.case_seq - 1} (index {before[0]}) is {_short(want)}")
