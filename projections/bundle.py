"""The lawyer's evidence bundle, format `temoin.bundle/v1` (DESIGN §7, docs/BUNDLE.md).

One ZIP per case holding everything needed to check the case offline: the verbatim entries,
their inclusion proofs, the signed checkpoint they lead to, the log's verifier key, the
evidence files, the openings the requester may see, the human-readable reports, and a
manifest signed by the log key that fixes every member's hash.

The bytes are reproducible: the same ledger state, checkpoint and inputs (`created_at`
included) give the same ZIP (fixed member order, timestamps and permissions; Ed25519
signatures are deterministic), so a bundle can be rebuilt later and compared byte for byte.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ledger.bundle_format import (
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_V1_1,
    CHECKPOINT,
    FIXED_MEMBERS,
    HOW_TO,
    LOG_KEY,
    MANIFEST,
    MANIFEST_SIG,
    REPORT_JSON,
    REPORT_PDF,
    TIMELINE_PDF,
    manifest_sig_body,
)
from ledger.canonical import canonical_bytes
from ledger.errors import CaseNotFoundError, StoreError
from projections.bundle_trust import HOW_TO_TRUST, trust_members

if TYPE_CHECKING:  # the database layer, for the types only
    from ledger.case_file import CaseFile
    from ledger.ledger import Ledger
    from ledger.store.base import StoredCheckpoint
    from ledger.vault import Opening

__all__ = [
    "BUNDLE_FORMAT",
    "FIXED_MEMBERS",
    "MANIFEST",
    "MANIFEST_SIG",
    "BundleBuildError",
    "BundlePlan",
    "build_bundle",
    "canonical",
    "manifest_sig_body",
    "plan_bundle",
    "plan_case_bundle",
    "write_bundle",
]

# ZIP stores local times without a zone; the bundle writes UTC. ZIP cannot go before 1980.
_ZIP_EPOCH = datetime(1980, 1, 1, tzinfo=UTC)
# Regular file, rw-r--r--, "made by" Unix: fixed so that the bytes do not depend on the host.
_FILE_MODE = 0o100644 << 16
_MADE_BY_UNIX = 3
# Evidence files up to 1 MiB are written whole, DEFLATE level 9, like every other member;
# larger ones are streamed CHUNK bytes at a time as ZIP64 members (`_copy_evidence`).
STREAM_ABOVE = 1 << 20
CHUNK = 1 << 20
# Level 1 for streamed members: half the time of level 6 on large files, and files this
# large are mostly media that are stored anyway.
_STREAM_LEVEL = 1
_SAMPLE = 256 * 1024
_DEFLATE_BELOW = 0.9


class BundleBuildError(StoreError, RuntimeError):
    """The ledger's data does not allow a sound bundle (e.g. an evidence file is damaged)."""


def canonical(value: Any) -> bytes:
    """Canonical JSON (sorted keys, no white space, UTF-8, integers only).

    The same encoding as entries (docs/FORMAT.md §1), so manifest and proof bytes are stable
    and can be compared, hashed and grepped by hand.
    """
    return canonical_bytes(value)


@dataclass(frozen=True, slots=True)
class _Member:
    """A member held in memory: entries, proofs, openings, reports (small by nature)."""

    path: str
    data: bytes

    def listing(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": hashlib.sha256(self.data).hexdigest(),
                "size": len(self.data)}


@dataclass(frozen=True, slots=True)
class _EvidenceFile:
    """An evidence file, listed from its name (its SHA-256) and size on disk and copied into
    the ZIP only when written: it may be gigabytes, and is read once, hashed as it is copied."""

    sha256: str
    size: int
    source: Path
    index: int  # the first entry that references it, to name in errors
    data: bytes | None = None  # the bytes already read and hashed, for small files

    @property
    def path(self) -> str:
        return f"evidence/{self.sha256}"

    def listing(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True, slots=True)
class BundlePlan:
    """Everything a bundle holds, decided and signed, before a byte of evidence is read.

    The manifest can be signed first because evidence files are named by their SHA-256: the
    copy checks that each file still has it (and refuses the bundle if not).
    """

    members: tuple[_Member | _EvidenceFile, ...]  # in ZIP order, manifest and signature first
    when: tuple[int, int, int, int, int, int]
    checkpoint_size: int

    @property
    def max_size(self) -> int:
        """An upper bound of the ZIP's size in bytes, to check free disk space against.

        Per member: the data (DEFLATE expands incompressible data by < 0.1%), the local and
        central headers with their ZIP64 fields (< 200 bytes plus the name twice); then the
        end records.
        """
        total = 1024
        for m in self.members:
            size = m.size if isinstance(m, _EvidenceFile) else len(m.data)
            total += size + size // 1000 + 2 * len(m.path) + 512
        return total


def plan_bundle(
    ledger: Ledger,
    *,
    tenant: str,
    case: str,
    checkpoint: StoredCheckpoint | None = None,
    include_openings: bool,
    timeline_pdf: bytes,
    report_pdf: bytes,
    report_json: bytes,
    created_at: str | None = None,
    lang: str = "fr",
    trust: bool = True,
) -> BundlePlan:
    """`plan_case_bundle` of the case file read as of `checkpoint` (default: a fresh one
    covering every entry; the routes never sign, they pass the latest checkpoint)."""
    from ledger.case_file import read_case_file  # the database layer, only when building

    cp = checkpoint if checkpoint is not None else ledger.sign_checkpoint()
    file = read_case_file(ledger, tenant, case, checkpoint=cp, openings=include_openings,
                          evidence=True)
    return plan_case_bundle(
        file, sign=ledger.key.sign_note, include_openings=include_openings,
        timeline_pdf=timeline_pdf, report_pdf=report_pdf, report_json=report_json,
        created_at=created_at, lang=lang, trust=trust,
    )


def plan_case_bundle(
    file: CaseFile,
    *,
    sign: Callable[[bytes], bytes],
    include_openings: bool,
    timeline_pdf: bytes,
    report_pdf: bytes,
    report_json: bytes,
    created_at: str | None = None,
    lang: str = "fr",
    trust: bool = True,
) -> BundlePlan:
    """Decide the `temoin.bundle/v1` members of one case file, read with its checkpoint, and
    sign its manifest with `sign` (the log key's `sign_note`); `write_bundle` then writes the
    ZIP.

    Only entries with index < checkpoint.size are in the file, so every proof refers to that
    one checkpoint. `created_at` (the manifest's date, and every member's ZIP time) defaults
    to now, when the bundle is made; pass a fixed time to rebuild the same bytes. (The
    checkpoint's own signing time is in report.json: a v1 manifest takes no field old
    verifiers refuse.) With `trust` (the default), the RFC 3161 tokens and witness
    cosignatures stored for the checkpoint are carried too, which makes it a
    `temoin.bundle/v1.1` bundle (bundle_trust.py). Raises CaseNotFoundError if the case has
    no entry in the checkpoint, and BundleBuildError if an evidence file is missing or
    altered on disk.
    """
    cp = file.checkpoint
    if cp is None:
        raise ValueError("a bundle needs a case file read with its checkpoint")
    entries = file.entries
    tenant, case = file.tenant, file.case
    if not entries:
        raise CaseNotFoundError(
            f"case {case!r} of tenant {tenant!r} has no entry in the checkpoint of size "
            f"{cp.size}: check the case id, or sign a newer checkpoint"
        )
    stamp = created_at if created_at is not None else _utc_now()
    when = _zip_time(stamp)
    members: list[_Member | _EvidenceFile] = [
        _Member(CHECKPOINT, cp.note),
        _Member(LOG_KEY, (file.verifier_key + "\n").encode("utf-8")),
    ]
    extra = trust_members(cp.note, cp.size, list(file.attestations) if trust else [])
    members += [_Member(path, data) for path, data in extra.members]
    members += [_Member(f"entries/{e.index}.json", e.entry.raw) for e in entries]
    members += [
        _Member(f"proofs/{e.index}.json",
                _proof(e.index, cp.size, e.leaf_hash, file.proofs[e.index]))
        for e in entries
    ]
    if include_openings:
        members += _openings(file.openings or {}, file.index_of_seq())
    evidence = _evidence_files(file)
    members += evidence
    members += [
        _Member(TIMELINE_PDF, timeline_pdf),
        _Member(REPORT_PDF, report_pdf),
        _Member(REPORT_JSON, report_json),
    ]
    how_to = _how_to(
        case=case, tenant=tenant, origin=file.origin, size=cp.size, entries=len(entries),
        evidence=len(evidence), openings=sum(m.path.startswith("openings/") for m in members),
        lang=lang,
    )
    if extra:
        how_to += HOW_TO_TRUST
    members.append(_Member(HOW_TO, how_to.encode("utf-8")))
    fields: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "tenant": tenant,
        "case": case,
        "log": file.origin,
        "checkpoint_size": cp.size,
        "created_at": stamp,
        "members": [m.listing() for m in members],
    }
    if extra:  # v1.1 only when there is something to carry: v1 verifiers reject v1.1
        fields |= {"format": BUNDLE_FORMAT_V1_1, "timestamps": extra.timestamps,
                   "checkpoint_signed_at": cp.signed_at}
    manifest = canonical(fields)
    head = [
        _Member(MANIFEST, manifest),
        _Member(MANIFEST_SIG, sign(manifest_sig_body(manifest))),
    ]
    return BundlePlan(tuple(head + members), when, cp.size)


def build_bundle(ledger: Ledger, **args: Any) -> bytes:
    """The whole ZIP in memory: `plan_bundle` then `write_bundle`, for small cases and tests.
    The HTTP service writes to a temporary file instead, so evidence never sits in memory."""
    out = BytesIO()
    write_bundle(plan_bundle(ledger, **args), out)
    return out.getvalue()


def write_bundle(plan: BundlePlan, out: BinaryIO) -> None:
    """Write the ZIP to `out` (seekable: ZIP headers are completed after each streamed
    member). Memory stays flat: evidence files above STREAM_ABOVE are copied CHUNK bytes at a
    time, hashed as they are copied. Raises BundleBuildError if one was altered on disk; what
    was written to `out` must then be discarded."""
    with zipfile.ZipFile(out, "w", allowZip64=True) as zf:
        for member in plan.members:
            info = zipfile.ZipInfo(member.path, date_time=plan.when)
            info.create_system = _MADE_BY_UNIX
            info.external_attr = _FILE_MODE
            if isinstance(member, _Member):
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, member.data, compresslevel=9)
            elif member.size <= STREAM_ABOVE:
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, _read_small(member), compresslevel=9)
            else:
                _copy_evidence(zf, info, member)


def _proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    return canonical(
        {"index": index, "size": size, "leaf_hash": leaf.hex(), "proof": [h.hex() for h in proof]}
    )


def _openings(
    found: Mapping[int, Mapping[str, Opening]], index_of_seq: Mapping[int, int]
) -> list[_Member]:
    # Erased cases have no openings left (crypto-shredding): they are simply absent, and
    # the commitments in the entries still verify. Openings of entries appended after the
    # checkpoint are left out, as are the entries themselves.
    return [
        _Member(
            f"openings/{index_of_seq[seq]}.json",
            canonical({name: o.to_json() for name, o in sorted(fields.items())}),
        )
        for seq, fields in sorted(found.items())
        if seq in index_of_seq and fields
    ]


def _evidence_files(file: CaseFile) -> list[_EvidenceFile]:
    """Every referenced file, from the state the case file found it in: a small file's
    member is the very bytes the case file hashed; a larger one is copied, and hashed as it
    is copied, when the ZIP is written."""
    wanted: dict[str, int] = {}
    for e in file.entries:
        for ref in e.entry.evidence:
            wanted.setdefault(ref["sha256"], e.index)
    found = []
    for sha, index in sorted(wanted.items()):
        state = file.evidence[sha]
        if state.size is None or state.found is None:
            raise _missing(state.path.parent, sha, index)
        member = _EvidenceFile(sha, state.size, state.path, index, state.data)
        if not state.sound:
            raise _altered(member, state.found, state.size)
        found.append(member)
    return found


def _missing(directory: Path, sha: str, index: int) -> BundleBuildError:
    return BundleBuildError(
        f"evidence file {sha} (referenced by index {index}) is missing from {directory}: "
        "restore it from backup, then build the bundle again"
    )


def _altered(ev: _EvidenceFile, got: str, size: int) -> BundleBuildError:
    # A bundle with a damaged file would fail verification in the lawyer's hands: refuse
    # to build it and say so here, where it can still be repaired.
    return BundleBuildError(
        f"evidence file {ev.sha256} (referenced by index {ev.index}) in {ev.source.parent} "
        f"no longer has that SHA-256 (it hashes to {got}, {size:,} bytes): it was altered on "
        "disk; restore it from backup"
    )


def _open(ev: _EvidenceFile) -> BinaryIO:
    try:
        return ev.source.open("rb")
    except FileNotFoundError:
        raise _missing(ev.source.parent, ev.sha256, ev.index) from None


def _read_small(ev: _EvidenceFile) -> bytes:
    if ev.data is not None:
        return ev.data  # hashed when the case file read them; these bytes, not the file's
    with _open(ev) as fh:
        data = fh.read(STREAM_ABOVE + 1)
    got = hashlib.sha256(data).hexdigest()
    if got != ev.sha256 or len(data) != ev.size:
        raise _altered(ev, got, len(data))
    return data


def _copy_evidence(zf: zipfile.ZipFile, info: zipfile.ZipInfo, ev: _EvidenceFile) -> None:
    """Copy one large evidence file into the ZIP in chunks, hashing it on the way.

    ZIP64 fields are always written (force_zip64), so a member of any size (over 4 GiB
    included) needs no second pass. Photos, videos and PDFs are already compressed: DEFLATE
    would cost time for nothing, so a file whose first bytes do not shrink is stored.
    """
    digest, size = hashlib.sha256(), 0
    with _open(ev) as fh:
        chunk = fh.read(CHUNK)
        info.compress_type = zipfile.ZIP_DEFLATED if _compressible(chunk) else zipfile.ZIP_STORED
        info._compresslevel = _STREAM_LEVEL  # type: ignore[attr-defined]  # what writestr sets
        info.file_size = ev.size
        with zf.open(info, "w", force_zip64=True) as member:
            while chunk:
                digest.update(chunk)
                size += len(chunk)
                member.write(chunk)
                chunk = fh.read(CHUNK)
    if digest.hexdigest() != ev.sha256 or size != ev.size:
        raise _altered(ev, digest.hexdigest(), size)


def _compressible(sample: bytes) -> bool:
    """Whether DEFLATE is worth it: the first 256 KiB shrink by at least 10% at level 1."""
    head = sample[:_SAMPLE]
    return len(zlib.compress(head, 1)) < _DEFLATE_BELOW * len(head)


def _utc_now() -> str:
    # The text of the ledger's times (ledger.ledger.format_recorded_at), without importing the
    # ledger: the verifier imports this module and must not pull in the database layer.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _zip_time(stamp: str) -> tuple[int, int, int, int, int, int]:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        raise ValueError(
            f"created_at: expected an RFC 3339 time such as 2026-01-15T12:00:00Z, found {stamp!r}"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"created_at: expected a time with a zone (Z or +hh:mm), found {stamp!r}")
    moment = max(moment.astimezone(UTC), _ZIP_EPOCH)
    # DOS times count seconds in twos: round down here so that what is read back is what
    # was asked for.
    second = moment.second - moment.second % 2
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, second)


def _how_to(
    *, case: str, tenant: str, origin: str, size: int, entries: int, evidence: int, openings: int,
    lang: str = "fr",
) -> str:
    # French readers get a summary in French first; the procedure itself stays in English, as
    # the commands and the tools' output are (issue 13: languages).
    preface = HOW_TO_PREFACE_FR.format(
        case=case, tenant=tenant, origin=origin, size=size, entries=entries,
        evidence=evidence, openings=openings) if lang == "fr" else ""
    return preface + HOW_TO_TEMPLATE.format(
        case=case, tenant=tenant, origin=origin, size=size, entries=entries,
        evidence=evidence, openings=openings,
        openings_note=(
            "" if openings else
            "  (none in this bundle: not requested, or the personal data was erased)\n"
        ),
        script=BY_HAND_SCRIPT, go_program=GO_PROGRAM,
    )


# The shell procedure and the Go program below are run by tests/test_bundle.py against a
# real bundle, so the instructions a court expert follows are known to work.
BY_HAND_SCRIPT = r"""#!/bin/sh
# Usage, from inside the folder where the bundle was unzipped (keep this script outside it):
#   sh ../verify-by-hand.sh '<verifier key obtained from the log operator>'
set -eu
KEY=${1:?"usage: sh ../verify-by-hand.sh '<verifier key from the log operator>'"}
T=$(mktemp -d)
fail() { echo "FAILED: $*"; exit 1; }
b64sig() { tail -n 1 "$1" | cut -d' ' -f3; }

# 1. The key in the bundle is the key you trust.
[ "$(cat log-key.txt)" = "$KEY" ] || fail "log-key.txt is not the key you were given"

# 2. manifest.sig and checkpoint.txt are signed by that key (Ed25519, RFC 8032).
#    Public key = the last 32 bytes of the key's third '+' field; DER-wrap it for openssl.
NAME=$(cut -d+ -f1 log-key.txt)
KEYID=$(cut -d+ -f2 log-key.txt)
cut -d+ -f3- log-key.txt | base64 -d | tail -c 32 > "$T/pub.raw"
(printf '302a300506032b6570032100' | xxd -r -p; cat "$T/pub.raw") > "$T/pub.der"
verify_note() {  # $1 = note file, $2 = number of text lines before the blank line
  [ "$(tail -n 1 "$1" | cut -d' ' -f2)" = "$NAME" ] || fail "$1: not signed by $NAME"
  [ "$(b64sig "$1" | base64 -d | head -c 4 | xxd -p)" = "$KEYID" ] || fail "$1: key id"
  head -n "$2" "$1" > "$T/text"
  b64sig "$1" | base64 -d | tail -c 64 > "$T/sig"
  openssl pkeyutl -verify -pubin -keyform DER -inkey "$T/pub.der" -rawin \
    -in "$T/text" -sigfile "$T/sig" > /dev/null || fail "$1: bad signature"
  echo "OK   $1: signed by $NAME"
}
verify_note manifest.sig 2
verify_note checkpoint.txt 3
[ "$(sed -n 1p checkpoint.txt)" = "$NAME" ] || fail "checkpoint.txt: another log"

# 3. manifest.json is the signed one, and every member has the listed SHA-256.
[ "$(sed -n 1p manifest.sig)" = "temoin.bundle/v1" ] || fail "manifest.sig: format"
[ "$(sed -n 2p manifest.sig)" = "$(sha256sum manifest.json | cut -d' ' -f1)" ] \
  || fail "manifest.json: not the signed manifest"
grep -o '"path":"[^"]*","sha256":"[0-9a-f]*"' manifest.json \
  | sed 's/"path":"\([^"]*\)","sha256":"\([0-9a-f]*\)"/\2  \1/' > "$T/members"
sha256sum -c --quiet "$T/members" || fail "a member differs from manifest.json"
(cut -c 67- "$T/members"; echo manifest.json; echo manifest.sig) | sort > "$T/listed"
find . -type f | sed 's|^\./||' | sort > "$T/present"
cmp -s "$T/listed" "$T/present" || fail "files missing or extra: diff $T/listed $T/present"
echo "OK   manifest.json: $(wc -l < "$T/members") members, none missing, extra or altered"

# 4. Each entry: its leaf hash, then its RFC 9162 inclusion proof folded up to the root.
node() { (printf '\001'; printf '%s%s' "$1" "$2" | xxd -r -p) | sha256sum | cut -d' ' -f1; }
leaf() { (printf '\000'; cat "$1") | sha256sum | cut -d' ' -f1; }
SIZE=$(sed -n 2p checkpoint.txt)
ROOT=$(sed -n 3p checkpoint.txt | base64 -d | xxd -p -c 32)
for i in $(ls entries | sed 's/\.json$//' | sort -n); do
  L=$(leaf "entries/$i.json")
  grep -q "^{\"index\":$i,\"leaf_hash\":\"$L\",.*\"size\":$SIZE}\$" "proofs/$i.json" \
    || fail "proofs/$i.json: not the proof of entries/$i.json in size $SIZE"
  set -- $(grep -o '"proof":.*' "proofs/$i.json" | grep -o '[0-9a-f]\{64\}' || true)
  fn=$i; sn=$((SIZE - 1)); r=$L
  for p in "$@"; do
    if [ $((fn % 2)) -eq 1 ] || [ "$fn" -eq "$sn" ]; then
      r=$(node "$p" "$r")
      while [ $((fn % 2)) -eq 0 ] && [ "$fn" -ne 0 ]; do fn=$((fn / 2)); sn=$((sn / 2)); done
    else
      r=$(node "$r" "$p")
    fi
    fn=$((fn / 2)); sn=$((sn / 2))
  done
  [ "$sn" -eq 0 ] && [ "$r" = "$ROOT" ] || fail "index $i: inclusion proof"
  echo "OK   index $i: inclusion proof against checkpoint size $SIZE"
done

# 5. The case chain: case_seq 1, 2, 3 ... each prev = the previous entry's leaf hash.
want=1; prev=null
for i in $(ls entries | sed 's/\.json$//' | sort -n); do
  f=entries/$i.json
  seq=$(grep -o '"case_seq":[0-9]*' "$f" | head -n 1 | cut -d: -f2)
  p=$(grep -o '"prev":[^,]*' "$f" | tail -n 1 | cut -d: -f2 | tr -d '"')
  [ "$seq" = "$want" ] && [ "$p" = "$prev" ] || fail "$f: case chain at case_seq $want"
  prev=$(leaf "$f"); want=$((want + 1))
done
echo "OK   case chain: case_seq 1 to $((want - 1)), each linked to the one before"

# 6. Every evidence file an entry references is here, with that SHA-256.
for s in $(cat entries/*.json | grep -o '"sha256":"[0-9a-f]\{64\}"' | cut -d'"' -f4 | sort -u); do
  [ "$(sha256sum "evidence/$s" | cut -d' ' -f1)" = "$s" ] || fail "evidence/$s"
  echo "OK   evidence/$s"
done
rm -rf "$T"
echo "VERDICT: every check above passed"
"""

GO_PROGRAM = r"""// verify.go: checks checkpoint.txt, manifest.sig and every inclusion proof of an
// unzipped bundle with Go's reference code (golang.org/x/mod/sumdb/note and sumdb/tlog).
// In a new folder OUTSIDE the unzipped bundle, holding only this file:
//
//	go mod init check && go get golang.org/x/mod@latest
//	go run verify.go <unzipped bundle folder> '<verifier key from the log operator>'
package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func must(err error, where string) {
	if err != nil {
		fmt.Println("KO  ", where+":", err)
		os.Exit(1)
	}
}

func open(path string, v note.Verifier) []string {
	msg, err := os.ReadFile(path)
	must(err, path)
	n, err := note.Open(msg, note.VerifierList(v))
	must(err, path)
	fmt.Println("OK  ", path+": signed by", v.Name())
	return strings.Split(n.Text, "\n")
}

func hash(s string) (h tlog.Hash) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		must(fmt.Errorf("bad hash %q", s), "proof")
	}
	copy(h[:], b)
	return h
}

func main() {
	if len(os.Args) != 3 {
		must(fmt.Errorf("usage: go run verify.go <bundle folder> '<verifier key>'"), "arguments")
	}
	must(os.Chdir(os.Args[1]), "bundle folder")
	v, err := note.NewVerifier(os.Args[2])
	must(err, "verifier key")
	sig := open("manifest.sig", v)
	manifest, err := os.ReadFile("manifest.json")
	must(err, "manifest.json")
	sum := sha256.Sum256(manifest)
	if sig[0] != "temoin.bundle/v1" || sig[1] != hex.EncodeToString(sum[:]) {
		must(fmt.Errorf("SHA-256 differs from the one signed in manifest.sig"), "manifest.json")
	}
	cp := open("checkpoint.txt", v)
	if cp[0] != v.Name() {
		must(fmt.Errorf("checkpoint of log %q, not %q", cp[0], v.Name()), "checkpoint.txt")
	}
	size, err := strconv.ParseInt(cp[1], 10, 64)
	must(err, "checkpoint.txt")
	rootBytes, err := base64.StdEncoding.DecodeString(cp[2])
	must(err, "checkpoint.txt")
	var root tlog.Hash
	copy(root[:], rootBytes)
	paths, err := filepath.Glob("proofs/*.json")
	must(err, "proofs")
	for _, path := range paths {
		var p struct {
			Index, Size int64
			LeafHash    string `json:"leaf_hash"`
			Proof       []string
		}
		data, err := os.ReadFile(path)
		must(err, path)
		must(json.Unmarshal(data, &p), path)
		entry, err := os.ReadFile(filepath.Join("entries", filepath.Base(path)))
		must(err, path)
		leaf := tlog.RecordHash(entry)
		if leaf != hash(p.LeafHash) || p.Size != size {
			must(fmt.Errorf("leaf hash or size differs from the entry and checkpoint"), path)
		}
		var proof tlog.RecordProof
		for _, h := range p.Proof {
			proof = append(proof, hash(h))
		}
		must(tlog.CheckRecord(proof, size, root, p.Index, leaf), path)
		fmt.Printf("OK   index %d: inclusion proof against checkpoint size %d\n", p.Index, size)
	}
}
"""

HOW_TO_PREFACE_FR = """\
COMMENT VÉRIFIER CE DOSSIER DE PREUVE (format temoin.bundle/v1) — résumé en français
====================================================================================

Dossier {case} du locataire {tenant}, tel qu'enregistré dans le journal {origin}
jusqu'à son point de contrôle signé de taille {size} : {entries} entrées, {evidence} pièces
justificatives, {openings} ouvertures de données personnelles.

Ce ZIP prouve, sans avoir à faire confiance à qui vous l'a remis, que chaque entrée a été
enregistrée dans ce journal avant la signature du point de contrôle, que rien dans le ZIP n'a
été modifié depuis, et que les pièces et les valeurs personnelles sont exactement celles sur
lesquelles les entrées se sont engagées. Tout se vérifie hors ligne, avec des outils standard.

La façon simple (une commande, sans réseau ni base de données), avec la clé de vérification
du journal obtenue auprès de son opérateur, et NON celle contenue dans ce ZIP :

    temoin verify bundle.zip --key '<clé de vérification fournie par l'opérateur du journal>'

Elle affiche une ligne par contrôle, OK ou KO, puis un verdict, et ne sort avec le code 0 que
si tous les contrôles passent. timeline.pdf et report.pdf sont faits pour être lus (en
français ; en anglais avec ?lang=en) ; report.pdf contient report.json en pièce jointe. La
procédure détaillée (à la main avec sha256sum et openssl, ou avec le code de référence de Go)
suit en anglais, comme les commandes qu'elle cite.


"""

HOW_TO_TEMPLATE = """\
HOW TO VERIFY THIS EVIDENCE BUNDLE (format temoin.bundle/v1)
=============================================================

Case {case} of tenant {tenant}, as recorded in the log {origin}
up to its signed checkpoint of size {size}: {entries} entries, {evidence} evidence files,
{openings} personal-data openings.
{openings_note}
This ZIP proves, without trusting whoever handed it to you, that each entry in it was
recorded in that log before the checkpoint was signed, that nothing in the ZIP was changed
since, and that the files and personal values shown are exactly those the entries committed
to. Everything can be checked offline, with standard tools.


1. WHAT EACH FILE IS
--------------------

manifest.json       The table of contents: case, tenant, log, checkpoint size, when this
                    bundle was made (created_at) and when the checkpoint was signed
                    (checkpoint_signed_at), and for every other file its SHA-256 and size
                    (canonical JSON).
manifest.sig        The log key's signature over the SHA-256 of manifest.json. It makes
                    every file in the ZIP tamper-evident: change one byte anywhere and
                    either a file no longer matches the manifest or the manifest no longer
                    matches this signature.
checkpoint.txt      The log's signed tree head (C2SP signed note): log name, tree size, and
                    the root hash of the Merkle tree of all its entries at that size.
log-key.txt         The log's public verifier key. DO NOT TRUST IT BECAUSE IT IS HERE:
                    compare it with the key the log operator publishes (GET /v1/log/key) or
                    gives you through another channel.
entries/N.json      Entry number N of the log (the case's events), byte for byte as recorded.
proofs/N.json       {{index, size, leaf_hash, proof}}: the RFC 9162 inclusion proof that entry
                    N is in the tree whose root is in checkpoint.txt.
openings/N.json     Personal values of entry N with their salts: {{field: {{value, salt}}}}.
                    The entry itself only holds HMAC-SHA256(salt, value) for each of them.
evidence/<sha256>   The files the entries reference (photos, letters, signatures), named by
                    their SHA-256.
timeline.pdf        The case timeline, for reading (not itself evidence: the entries are).
report.pdf          The integrity report, for reading; report.json is the same for machines.
HOW-TO-VERIFY.txt   This text.


2. THE SIMPLE WAY (one command)
-------------------------------

With Témoin's command line installed, and the log's verifier key obtained independently
of this ZIP:

    temoin verify bundle.zip --key '<verifier key from the log operator>'

It needs no network, database or configuration. It prints one line per check, OK or KO,
naming the file or entry concerned, then a verdict; it exits with status 0 only when every
check passes. Without --key it still checks everything, but only against the key inside
the ZIP, which proves integrity, not origin.

Unzipping the bundle to read its files is safe and changes nothing in the ZIP; keep the ZIP
as you received it, to verify and to hand on. If only an unzipped copy is left, zip the
folder again (cd FOLDER && zip -r ../bundle.zip .) and verify that: what a ZIP tool changes
(folder entries, the folder's name before every file, file order, compression, file times)
is reported as WARN lines and does not fail, but a file added, removed or changed does.


3. BY HAND (sha256sum, openssl 3, xxd, base64, a POSIX shell)
-------------------------------------------------------------

Unzip the bundle into an empty folder and work there. The formats are in the Témoin
documentation (docs/FORMAT.md, docs/BUNDLE.md); in short:

- Leaf hash of entry N:   SHA-256(0x00 || bytes of entries/N.json)
      (printf '\\000'; cat entries/N.json) | sha256sum
- Interior node:          SHA-256(0x01 || left || right)
- Inclusion proof (RFC 9162 section 2.1.3.2): start with r = the leaf hash, fn = N,
  sn = size - 1. For each hash p of the proof, in order: if fn is odd or fn = sn, then
  r = node(p, r) and, while fn is even and not 0, halve fn and sn; otherwise
  r = node(r, p). Then halve fn and sn. At the end sn must be 0 and r must equal the root,
  the third line of checkpoint.txt (base64).
- Signatures (C2SP signed note): the text is every line before the blank line, each with
  its newline; the last line is "<em dash> <key name> <base64(4-byte key id ||
  64-byte Ed25519 signature)>". The key is log-key.txt: <name>+<key id>+<base64(0x01 ||
  32-byte Ed25519 public key)>.
- manifest.sig's text is "temoin.bundle/v1", then the SHA-256 of manifest.json in hex.
- An opening {{value, salt}} for a field of entry N matches when
      printf '%s' '<value>' | openssl dgst -sha256 -mac HMAC -macopt hexkey:<salt>
  prints the hex found under that field in the "personal" object of entries/N.json.
  (The value is JSON text: turn escapes such as \\n into the characters they stand for.)

The script below does all of it but the openings. Save it as verify-by-hand.sh NEXT TO
(not inside) the unzipped folder, go into that folder and run
    sh ../verify-by-hand.sh '<verifier key from the log operator>'

----- BEGIN verify-by-hand.sh -----
{script}----- END verify-by-hand.sh -----


4. WITH GO'S REFERENCE CODE (golang.org/x/mod/sumdb/note and sumdb/tlog)
-----------------------------------------------------------------------

The checkpoint and the signature are C2SP signed notes, and the proofs are RFC 9162 /
RFC 6962 proofs: Go's own implementations, written independently of Témoin, check them.
Save this as verify.go in a new folder, outside the unzipped bundle, and follow the
comment at its top.

----- BEGIN verify.go -----
{go_program}----- END verify.go -----


5. WHAT THIS BUNDLE DOES NOT PROVE
----------------------------------

It proves that the entries here are in the log at the given checkpoint. Alone, it cannot
prove that the log holds no OTHER entry of this case before that checkpoint; the case
chain (each entry names the hash of the one before it, case_seq counts 1, 2, 3 ...) shows
that none is missing between the first and the last entry given. To check that the
checkpoint is the log's real history and not a fork shown only to you, compare it with
checkpoints obtained from the log at other times (GET /v1/log/checkpoints and the
consistency proofs between them).
"""
