"""The evidence bundle `temoin.bundle/v1`: built from the ledger, verified offline.

Every ledger-backed test runs on SQLite and PostgreSQL (the `ledger` fixture). The verifier
runs in a subprocess with an empty environment to prove it needs no database or
configuration; one byte flipped in any member, a member removed or one added must fail
verification with a KO line naming that member. Go's reference code (sumdb/note, sumdb/tlog)
and the by-hand shell procedure of HOW-TO-VERIFY.txt check the same bundle independently.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledger.canonical import strict_loads
from ledger.config import Settings
from ledger.domain import case_uuid
from ledger.events.examples import EXAMPLES
from ledger.ledger import Ledger
from ledger.signing import LogKey, Verifier, verify_checkpoint
from ledger.store.base import StoredCheckpoint
from projections.bundle import build_bundle, canonical, manifest_sig_body
from scripts import cli
from scripts.verify_bundle import main as verify_main
from tests.conftest import BACKENDS, RawDB, pg_database
from tests.helpers import request
from tests.interop.go_tool import DEFAULT_GOPATH, run_go
from verifier.bundle import BundleReport, verify_bundle

# A case's number (the vault's key since schema version 4) from its id bound at "?".
CASE_NO = "(SELECT case_no FROM cases_cases WHERE case_id = ?)"

ROOT = Path(__file__).resolve().parent.parent
TENANT = "shop-1"
CASE = "CMD-2025-004817"
TIMELINE_PDF = b"%PDF-1.4 test timeline"
REPORT_PDF = b"%PDF-1.4 test report"
REPORT_JSON = b'{"case":"CMD-2025-004817","placeholder":"the real report comes later"}'


@dataclass(frozen=True)
class Built:
    ledger: Ledger
    zip: bytes
    checkpoint: StoredCheckpoint
    letter: str  # sha256 of the letter PDF, referenced twice
    photo: str
    signature: str

    @property
    def members(self) -> dict[str, bytes]:
        return unzip(self.zip)

    @property
    def vkey(self) -> str:
        return self.ledger.key.verifier_key


# --------------------------------------------------------------------------- helpers


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def rezip(members: dict[str, bytes] | list[tuple[str, bytes]]) -> bytes:
    items = members.items() if isinstance(members, dict) else members
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in items:
            zf.writestr(name, data)
    return out.getvalue()


def flip(data: bytes) -> bytes:
    """The same bytes with one bit changed in the middle."""
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    return bytes(changed)


def bundle(ledger: Ledger, **overrides: Any) -> bytes:
    args: dict[str, Any] = {
        "tenant": TENANT, "case": CASE, "include_openings": True,
        "timeline_pdf": TIMELINE_PDF, "report_pdf": REPORT_PDF, "report_json": REPORT_JSON,
    }
    args.update(overrides)
    return build_bundle(ledger, **args)


def ko_lines(report: BundleReport) -> list[str]:
    return [str(c) for c in report.failures]


def assert_fails_naming(data: bytes, place: str, *, key: str | None = None) -> BundleReport:
    report = verify_bundle(data, trusted_key=key)
    assert not report.ok
    lines = ko_lines(report)
    assert any(place in line for line in lines), "\n".join(lines)
    return report


def resign(members: dict[str, bytes], key: LogKey) -> dict[str, bytes]:
    """What someone holding `key` could do: re-list every member and sign the manifest."""
    manifest = json.loads(members["manifest.json"])
    manifest["members"] = [
        {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in members.items() if name not in ("manifest.json", "manifest.sig")
    ]
    raw = canonical(manifest)
    out = dict(members)
    out["manifest.json"] = raw
    out["manifest.sig"] = key.sign_note(manifest_sig_body(raw))
    return out


def entry_index(members: dict[str, bytes], type_: str) -> int:
    for name, data in members.items():
        if name.startswith("entries/") and json.loads(data)["type"] == type_:
            return int(name[len("entries/"):-len(".json")])
    raise AssertionError(f"no {type_} entry in the bundle")


def _with_file(type_: str, field: str, sha: str, role: str, **kw: Any) -> Any:
    data = dict(EXAMPLES[type_]["data"], **{field: sha})
    return request(CASE, type_, data=data, evidence=[{"sha256": sha, "role": role}], **kw)


def build_case(ledger: Ledger) -> Built:
    """A realistic case interleaved with another case and another tenant's case."""
    letter = ledger.add_evidence(TENANT, b"%PDF-1.4 mise en demeure", "application/pdf")[0].sha256
    photo = ledger.add_evidence(TENANT, b"\xff\xd8\xff\xe0 photo JPEG", "image/jpeg")[0].sha256
    signature = ledger.add_evidence(TENANT, b"\x89PNG signature", "image/png")[0].sha256
    ledger.append([request("OTHER-1", "CaseOpened"), request(CASE, "CaseOpened"),
                   request(CASE, "CaseOpened", tenant="shop-2")])
    ledger.append([
        _with_file("LetterSent", "document_sha256", letter, "letter"),
        request("OTHER-1", "RecipientNotified"),
        request(CASE, "RecipientNotified"),
        request(CASE, "OtpFailed"),
        request(CASE, "OtpVerified"),
    ])
    ledger.append([
        _with_file("DocumentRead", "document_sha256", letter, "letter"),
        _with_file("DeliveryPhotoTaken", "photo_sha256", photo, "delivery_photo"),
        _with_file("SignatureCaptured", "signature_sha256", signature, "signature"),
        request(CASE, "GpsScanRecorded", tenant="shop-2"),
        request(CASE, "WithdrawalRequested"),
    ])
    checkpoint = ledger.sign_checkpoint()
    return Built(ledger, bundle(ledger), checkpoint, letter, photo, signature)


@pytest.fixture
def built(ledger: Ledger) -> Built:
    return build_case(ledger)


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """One case per backend, built once, for the tests that only read or alter ZIP bytes.

    Building a case costs about a second on PostgreSQL; the tampering tests never touch the
    ledger, so sharing it keeps the file fast. Tests that change the ledger use `built`.
    """
    tmp = tmp_path_factory.mktemp(f"bundle-{request.param}")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp / 'temoin.db'}"
        else:
            url = stack.enter_context(pg_database())
        ledger = Ledger(Settings(database_url=url, data_dir=tmp / "data",
                                 origin="test.example/log"))
        stack.callback(ledger.close)
        yield build_case(ledger)


# --------------------------------------------------------------------------- the builder


def test_layout_follows_design_section_7(shared: Built) -> None:
    members = shared.members
    entries = shared.ledger.case_entries(TENANT, CASE)
    indices = [e.index for e in entries]
    assert len(indices) == 9 and indices != list(range(indices[0], indices[0] + 9))
    files = sorted([shared.letter, shared.photo, shared.signature])
    assert list(members) == [
        "manifest.json", "manifest.sig", "checkpoint.txt", "log-key.txt",
        *[f"entries/{i}.json" for i in indices], *[f"proofs/{i}.json" for i in indices],
        *[f"openings/{e.index}.json" for e in entries if e.entry.personal],
        *[f"evidence/{sha}" for sha in files],
        "timeline.pdf", "report.pdf", "report.json", "HOW-TO-VERIFY.txt",
    ]
    for e in entries:
        assert members[f"entries/{e.index}.json"] == e.entry.raw
    manifest = strict_loads(members["manifest.json"])
    assert canonical(manifest) == members["manifest.json"]
    assert {k: v for k, v in manifest.items() if k not in ("members", "created_at")} == {
        "format": "temoin.bundle/v1", "tenant": TENANT, "case": CASE,
        "log": "test.example/log", "checkpoint_size": shared.checkpoint.size,
    }  # no checkpoint_signed_at in a v1 manifest: older verifiers would refuse the bundle
    # created_at is when the bundle was made (tests/test_bundle_rezip.py checks it over HTTP).
    assert manifest["created_at"] >= shared.checkpoint.signed_at
    assert [m["path"] for m in manifest["members"]] == list(members)[2:]
    for m in manifest["members"]:
        data = members[m["path"]]
        assert (m["sha256"], m["size"]) == (hashlib.sha256(data).hexdigest(), len(data))
    assert members["checkpoint.txt"] == shared.checkpoint.note
    assert members["log-key.txt"] == (shared.vkey + "\n").encode()
    assert (members["timeline.pdf"], members["report.pdf"], members["report.json"]) == (
        TIMELINE_PDF, REPORT_PDF, REPORT_JSON)
    key = Verifier.parse(shared.vkey)
    assert key.verify_note(members["manifest.sig"]) == (
        b"temoin.bundle/v1\n" + hashlib.sha256(members["manifest.json"]).hexdigest().encode()
        + b"\n")
    assert "temoin verify bundle.zip --key" in members["HOW-TO-VERIFY.txt"].decode()


def test_proofs_and_openings_content(shared: Built) -> None:
    members = shared.members
    first = shared.ledger.case_entries(TENANT, CASE)[0]
    proof = strict_loads(members[f"proofs/{first.index}.json"])
    assert proof == {
        "index": first.index, "size": shared.checkpoint.size,
        "leaf_hash": first.leaf_hash.hex(),
        "proof": [h.hex() for h in shared.ledger.inclusion_proof(first.index,
                                                                shared.checkpoint.size)],
    }
    opening = strict_loads(members[f"openings/{first.index}.json"])
    assert opening["customer_email"]["value"] == "camille.dubois@example.fr"
    assert set(opening) == set(first.entry.personal)


def test_same_inputs_give_the_same_bytes(built: Built) -> None:
    when = "2026-03-07T09:15:31.250000Z"
    first = bundle(built.ledger, checkpoint=built.checkpoint, created_at=when)
    assert bundle(built.ledger, created_at=when) == first  # the latest checkpoint covers all
    assert first != built.zip  # built at another time
    # ZIP times are created_at (UTC), rounded down to an even second.
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert {i.date_time for i in zf.infolist()} == {(2026, 3, 7, 9, 15, 30)}
    made = strict_loads(unzip(first)["manifest.json"])
    assert made["created_at"] == when and "checkpoint_signed_at" not in made


def test_only_entries_below_the_checkpoint(built: Built) -> None:
    ledger, old = built.ledger, built.checkpoint
    ledger.append([request(CASE, "WithdrawalAcknowledged"),
                   request(CASE, "FormalNoticeSent")])
    ledger.sign_checkpoint()
    data = bundle(ledger, checkpoint=old)
    members = unzip(data)
    assert all(int(n.split("/")[1].split(".")[0]) < old.size
               for n in members if n.startswith(("entries/", "proofs/", "openings/")))
    assert sum(n.startswith("entries/") for n in members) == 9
    assert verify_bundle(data, trusted_key=built.vkey).ok
    newer = unzip(bundle(ledger))
    assert sum(n.startswith("entries/") for n in newer) == 11


def test_openings_left_out_when_not_requested_or_erased(built: Built, raw_db: RawDB) -> None:
    without = unzip(bundle(built.ledger, include_openings=False))
    assert not [n for n in without if n.startswith("openings/")]
    # Crypto-shredding deletes the case key and the sealed rows: nothing left to open.
    case_id = case_uuid(TENANT, CASE).hex
    raw_db.execute("DELETE FROM vault_openings WHERE case_no = "
        f"{CASE_NO}", (case_id,))
    raw_db.execute("DELETE FROM vault_keys WHERE case_no = "
        f"{CASE_NO}", (case_id,))
    erased = bundle(built.ledger)
    assert not [n for n in unzip(erased) if n.startswith("openings/")]
    report = verify_bundle(erased, trusted_key=built.vkey)
    assert report.ok, ko_lines(report)
    assert "0 personal-data openings" in unzip(erased)["HOW-TO-VERIFY.txt"].decode()


def test_unknown_case_is_refused(shared: Built) -> None:
    from ledger.errors import CaseNotFoundError

    with pytest.raises(CaseNotFoundError, match="no entry in the checkpoint"):
        bundle(shared.ledger, case="NOPE")
    with pytest.raises(CaseNotFoundError):
        bundle(shared.ledger, tenant="shop-3")


def test_damaged_evidence_file_is_refused_at_build_time(built: Built) -> None:
    from projections.bundle import BundleBuildError

    path = built.ledger.files.path(built.photo)
    path.write_bytes(b"not the photo")
    with pytest.raises(BundleBuildError, match="altered on disk"):
        bundle(built.ledger)
    path.unlink()
    with pytest.raises(BundleBuildError, match="missing"):
        bundle(built.ledger)


# --------------------------------------------------------------------------- verifying


def test_verifies_offline_with_an_empty_environment(shared: Built, tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(shared.zip)
    empty = tmp_path / "empty"
    empty.mkdir()
    code = (
        "import sys; from scripts.verify_bundle import main; rc = main(sys.argv[1]); "
        "db = [m for m in ('psycopg', 'eventsourcing', 'ledger.store.base', 'ledger.ledger') "
        "if m in sys.modules]; print('DB MODULES', db, file=sys.stderr); sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], env={"PYTHONPATH": str(ROOT)}, cwd=empty,
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert all(line.startswith("OK   ") for line in lines[:-1])
    # French by default, with no environment at all.
    assert lines[-1].startswith("VERDICT : le dossier de preuve est intact")
    assert "n'a PAS été comparée à une clé de confiance" in lines[-1]
    index = shared.ledger.case_entries(TENANT, CASE)[2].index
    size = shared.checkpoint.size
    assert f"OK   index {index}: inclusion proof against checkpoint size {size}" in lines
    assert "DB MODULES []" in proc.stderr
    assert list(empty.iterdir()) == []  # wrote nothing, created no data folder


def test_trusted_key(shared: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(shared.zip)
    assert verify_main(str(path), key=shared.vkey, lang="en") == 0
    out = capsys.readouterr().out
    assert "OK   checkpoint.txt: is signed by the key in log-key.txt" in out
    assert out.splitlines()[-1].startswith("VERDICT: the bundle is intact and signed by the key "
                                           "you trust: 9 entries of case CMD-2025-004817")
    for other in (LogKey.generate("test.example/log"), LogKey.generate("other.example/log")):
        assert verify_main(str(path), key=other.verifier_key, lang="en") == 1
        out = capsys.readouterr().out
        assert "KO   log-key.txt: is the key you trust (--key)" in out
        assert "KO   checkpoint.txt: is signed by the trusted key (--key)" in out
        assert "VERDICT: FAILED — " in out.splitlines()[-1]
    assert verify_main(str(path), key="not a key") == 2
    assert "--key is not a verifier key" in capsys.readouterr().err


def test_cli_routes_to_the_bundle_verifier(shared: Built, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(shared.zip)
    assert cli.main(["verify", str(path), "--key", shared.vkey, "--lang", "en"]) == 0
    assert "VERDICT: the bundle is intact" in capsys.readouterr().out
    assert cli.main(["verify", str(path), "--key", shared.vkey]) == 0
    assert "VERDICT : le dossier de preuve est intact et signé" in capsys.readouterr().out
    assert cli.main(["verify", str(path), "--lang", "de"]) == 2
    assert "use one of fr, en" in capsys.readouterr().err


TAMPERED: dict[str, Callable[[Built], str]] = {
    "entry": lambda b: f"entries/{entry_index(b.members, 'OtpVerified')}.json",
    "proof": lambda b: f"proofs/{entry_index(b.members, 'LetterSent')}.json",
    "checkpoint": lambda b: "checkpoint.txt",
    "evidence": lambda b: f"evidence/{b.photo}",
    "opening": lambda b: f"openings/{entry_index(b.members, 'CaseOpened')}.json",
    "manifest": lambda b: "manifest.json",
    "manifest.sig": lambda b: "manifest.sig",
    "report.json": lambda b: "report.json",
    "log-key": lambda b: "log-key.txt",
    "how-to": lambda b: "HOW-TO-VERIFY.txt",
}


@pytest.mark.parametrize("kind", TAMPERED)
def test_one_flipped_byte_fails_naming_the_member(shared: Built, kind: str) -> None:
    name = TAMPERED[kind](shared)
    members = shared.members
    members[name] = flip(members[name])
    assert_fails_naming(rezip(members), name)
    assert_fails_naming(rezip(members), name, key=shared.vkey)


def test_flipped_byte_reported_by_the_command(shared: Built, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    members = shared.members
    index = entry_index(members, "OtpVerified")
    members[f"entries/{index}.json"] = flip(members[f"entries/{index}.json"])
    path = tmp_path / "bundle.zip"
    path.write_bytes(rezip(members))
    assert verify_main(str(path), key=shared.vkey) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"KO   entries/{index}.json: ") for line in lines)
    assert lines[-1].startswith("VERDICT : ÉCHEC — ")


@pytest.mark.parametrize("kind", ["entry", "proof", "evidence", "opening", "checkpoint",
                                  "report.pdf", "manifest", "manifest.sig", "log-key"])
def test_removed_member_fails_naming_it(shared: Built, kind: str) -> None:
    members = shared.members
    name = {"report.pdf": "report.pdf", **{k: f(shared) for k, f in TAMPERED.items()}}[kind]
    del members[name]
    report = assert_fails_naming(rezip(members), name)
    if kind not in ("manifest", "manifest.sig", "log-key"):
        assert any(f"{name}: is present" in line and "missing" in line
                   for line in ko_lines(report))


@pytest.mark.parametrize(
    "extra", ["notes.txt", "evidence/" + "ab" * 32, "entries/999.json", "openings/0.json"]
)
def test_extra_member_fails_naming_it(shared: Built, extra: str) -> None:
    members = shared.members
    if extra in members:
        extra = "openings/9999.json"
    members[extra] = b'{"x":1}'
    report = assert_fails_naming(rezip(members), extra)
    assert any("not listed in the signed manifest" in line for line in ko_lines(report))


def test_changes_without_the_key_fail_at_the_manifest(shared: Built) -> None:
    # Swapping a file AND updating manifest.json cannot be hidden without the log key.
    members = shared.members
    members[f"evidence/{shared.photo}"] = b"another photo"
    forged = resign(members, LogKey.generate("test.example/log"))
    members["manifest.json"] = forged["manifest.json"]
    report = assert_fails_naming(rezip(members), "manifest.json")
    assert any("manifest.json was altered or replaced" in line for line in ko_lines(report))


def test_a_bundle_forged_with_another_key_fails_only_against_the_trusted_key(
    shared: Built,
) -> None:
    forger = LogKey.generate("test.example/log")
    members = shared.members
    members["checkpoint.txt"] = forger.sign_note(
        verify_checkpoint(members["checkpoint.txt"], Verifier.parse(shared.vkey)).to_body())
    members["log-key.txt"] = (forger.verifier_key + "\n").encode()
    forged = rezip(resign(members, forger))
    # Self-consistent, which is why the verdict insists on --key ...
    assert verify_bundle(forged).ok
    # ... and the key obtained from the log operator exposes it.
    report = assert_fails_naming(forged, "log-key.txt", key=shared.vkey)
    assert any("not signed by the key you trust" in line for line in ko_lines(report))


def test_missing_case_seq_is_reported(shared: Built) -> None:
    # Even the log's own key cannot make a bundle with a hole in the case chain pass.
    members = shared.members
    index = entry_index(members, "OtpFailed")
    for name in (f"entries/{index}.json", f"proofs/{index}.json", f"openings/{index}.json"):
        del members[name]
    report = assert_fails_naming(rezip(resign(members, shared.ledger.key)), f"case {CASE}")
    assert any("case_seq 4 missing" in line for line in ko_lines(report))


def test_entry_of_another_case_is_reported(shared: Built) -> None:
    members = shared.members
    other = shared.ledger.case_entries(TENANT, "OTHER-1")[1]
    members[f"entries/{other.index}.json"] = other.entry.raw
    proof = shared.ledger.inclusion_proof(other.index, shared.checkpoint.size)
    members[f"proofs/{other.index}.json"] = canonical({
        "index": other.index, "size": shared.checkpoint.size,
        "leaf_hash": other.leaf_hash.hex(), "proof": [h.hex() for h in proof]})
    report = assert_fails_naming(rezip(resign(members, shared.ledger.key)),
                                 f"entries/{other.index}.json")
    assert any(f"belongs to case {CASE}" in line for line in ko_lines(report))
    # Its inclusion proof itself is sound: the problem is where it was put.
    assert f"OK   index {other.index}: inclusion proof against checkpoint size " \
        f"{shared.checkpoint.size}" in [str(c) for c in report.checks]


# --------------------------------------------------------------------------- hostile ZIPs


def test_not_a_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = verify_bundle(b"%PDF-1.4 this is not a zip")
    assert not report.ok and report.failures[0].place == "bundle"
    path = tmp_path / "x.zip"
    path.write_bytes(b"garbage")
    assert verify_main(str(path)) == 2
    assert verify_main(str(tmp_path / "missing.zip")) == 2
    assert "cannot read" in capsys.readouterr().err
    assert verify_main(str(tmp_path)) == 2


def test_unsafe_and_duplicate_names(shared: Built) -> None:
    items = list(shared.members.items())
    for evil in ("../evil.txt", "/etc/passwd", "entries/../../x", "C:\\x"):
        assert_fails_naming(rezip([*items, (evil, b"x")]), evil)
    name, data = items[5]
    with pytest.warns(UserWarning, match="Duplicate name"):
        duplicated = rezip([*items, (name, data)])
    report = assert_fails_naming(duplicated, name)
    assert any("appears 2 times" in line for line in ko_lines(report))


@pytest.mark.parametrize(("name", "declared", "why"), [
    ("report.json", 2**33, "zip bomb"), ("evidence/" + "ab" * 32, 50 * 2**20, "zip bomb"),
    ("entries/0.json", 300 * 2**20, "over the limit"), ("manifest.json", 65 * 2**20,
                                                         "over the limit"),
])
def test_declared_sizes_are_bounded_before_decompressing(name: str, declared: int,
                                                         why: str) -> None:
    # Forge the central directory's "uncompressed size": nothing is decompressed to find out.
    # Hashed members (evidence, reports) may be of any size but not beyond what DEFLATE can
    # expand; members read into memory (manifest, entries, proofs) are capped at 64 MiB.
    data = bytearray(rezip({name: b"{}" * 100}))
    central = data.index(b"PK\x01\x02")
    data[central + 24:central + 28] = min(declared, 2**32 - 1).to_bytes(4, "little")
    report = verify_bundle(bytes(data))
    assert not report.ok
    first = report.failures[0]
    assert first.place == name, ko_lines(report)
    assert why in first.detail, first.detail


def _central(data: bytes | bytearray, name: str) -> int:
    """Offset of `name`'s record in the ZIP's central directory."""
    at = data.index(b"PK\x01\x02")
    while not data[at + 46:].startswith(name.encode()):
        at = data.index(b"PK\x01\x02", at + 4)
    return at


def test_overlapping_members_are_refused() -> None:
    # The "overlap" zip bomb: a second member pointing at the first one's bytes, so that
    # a small file would be inflated again and again. Its declared compressed sizes add up
    # to more than the file.
    data = bytearray(rezip({"report.pdf": os.urandom(10_000), "timeline.pdf": b"%PDF"}))
    first, second = _central(data, "report.pdf"), _central(data, "timeline.pdf")
    data[second + 16:second + 28] = data[first + 16:first + 28]  # CRC and sizes
    data[second + 42:second + 46] = data[first + 42:first + 46]  # the same local header
    report = verify_bundle(bytes(data))
    assert [c.place for c in report.failures] == ["bundle"], ko_lines(report)
    assert "overlapping members" in report.failures[0].detail


def test_declared_size_other_than_the_manifest_is_refused_unread(shared: Built) -> None:
    # A member whose declared size is not the signed one is KO before it is decompressed.
    name = f"evidence/{shared.photo}"
    members = shared.members
    data = bytearray(rezip(members))
    size = len(members[name])
    central = _central(data, name)
    data[central + 24:central + 28] = (size - 1).to_bytes(4, "little")
    report = assert_fails_naming(bytes(data), name, key=shared.vkey)
    assert any(f"declares {size - 1:,} bytes, manifest.json says {size:,}" in line
               for line in ko_lines(report)), ko_lines(report)


# --------------------------------------------------------------------------- independent tools


def test_checkpoint_and_proofs_verify_with_go(shared: Built, go_tool: Path) -> None:
    members = shared.members
    vkey = members["log-key.txt"].decode().strip()
    for note in ("checkpoint.txt", "manifest.sig"):
        answer = run_go(go_tool, "note-verify", {"vkey": vkey, "note": members[note].decode()})
        assert answer["ok"] is True, answer
    cp = verify_checkpoint(members["checkpoint.txt"], Verifier.parse(vkey))
    proofs = [strict_loads(d) for n, d in members.items() if n.startswith("proofs/")]
    assert len(proofs) == 9
    for p in proofs:
        request_ = {"index": p["index"], "size": p["size"], "leaf_hash": p["leaf_hash"],
                    "root": cp.root.hex(), "proof": p["proof"]}
        assert run_go(go_tool, "tlog-inclusion", request_)["ok"] is True, p
        assert hashlib.sha256(b"\x00" + members[f"entries/{p['index']}.json"]).hexdigest() == \
            p["leaf_hash"]
    # A changed proof hash is rejected by Go too: the oracle is not rubber-stamping.
    p = proofs[0]
    bad = {"index": p["index"], "size": p["size"], "leaf_hash": p["leaf_hash"],
           "root": cp.root.hex(), "proof": [flip(bytes.fromhex(p["proof"][0])).hex(),
                                             *p["proof"][1:]]}
    assert run_go(go_tool, "tlog-inclusion", bad)["ok"] is False


def _how_to_block(members: dict[str, bytes], name: str) -> str:
    text = members["HOW-TO-VERIFY.txt"].decode()
    begin, end = f"----- BEGIN {name} -----\n", f"----- END {name} -----"
    return text[text.index(begin) + len(begin):text.index(end)]


def _unzipped(data: bytes, folder: Path) -> Path:
    folder.mkdir()
    for name, content in unzip(data).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def test_go_program_in_how_to_verifies_the_bundle(shared: Built, go_tool: Path,
                                                  tmp_path: Path) -> None:
    src = tmp_path / "check"
    src.mkdir()
    (src / "verify.go").write_text(_how_to_block(shared.members, "verify.go"))
    env = {**os.environ, "GO111MODULE": "off", "GOENV": "off", "CGO_ENABLED": "0",
           "GOPATH": os.environ.get("TEMOIN_GOPATH", DEFAULT_GOPATH), "GOFLAGS": "",
           "GOCACHE": str(tmp_path / "gocache"), "GOTOOLCHAIN": "local"}
    subprocess.run(["go", "build", "-o", "verify", "verify.go"], cwd=src, env=env,
                   check=True, capture_output=True, timeout=300)
    folder = _unzipped(shared.zip, tmp_path / "bundle")
    ok = subprocess.run([str(src / "verify"), str(folder), shared.vkey],
                        capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("inclusion proof against checkpoint size") == 9
    index = entry_index(shared.members, "LetterSent")
    proof = strict_loads(shared.members[f"proofs/{index}.json"])
    proof["proof"][0] = flip(bytes.fromhex(proof["proof"][0])).hex()
    (folder / f"proofs/{index}.json").write_bytes(canonical(proof))
    bad = subprocess.run([str(src / "verify"), str(folder), shared.vkey],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1 and f"KO   proofs/{index}.json" in bad.stdout


_SHELL_TOOLS = ("sh", "openssl", "xxd", "sha256sum", "base64", "cmp")


@pytest.mark.skipif(any(shutil.which(t) is None for t in _SHELL_TOOLS),
                    reason=f"the by-hand procedure needs {', '.join(_SHELL_TOOLS)}")
def test_by_hand_procedure_in_how_to_works(shared: Built, tmp_path: Path) -> None:
    script = tmp_path / "verify-by-hand.sh"
    script.write_text(_how_to_block(shared.members, "verify-by-hand.sh"))
    good = _unzipped(shared.zip, tmp_path / "good")
    ok = subprocess.run(["sh", str(script), shared.vkey], cwd=good, capture_output=True,
                        text=True, timeout=120, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("inclusion proof against checkpoint size") == 9
    assert ok.stdout.splitlines()[-1] == "VERDICT: every check above passed"
    members = shared.members
    index = entry_index(members, "OtpVerified")
    members[f"entries/{index}.json"] = flip(members[f"entries/{index}.json"])
    bad = _unzipped(rezip(members), tmp_path / "bad")
    ko = subprocess.run(["sh", str(script), shared.vkey], cwd=bad, capture_output=True,
                        text=True, timeout=120, check=False)
    assert ko.returncode == 1 and "FAILED" in ko.stdout
    other = LogKey.generate("test.example/log").verifier_key
    assert subprocess.run(["sh", str(script), other], cwd=good, capture_output=True,
                          timeout=60, check=False).returncode == 1


def test_hostile_values_are_reported_not_obeyed(shared: Built) -> None:
    # Whoever holds a key can sign anything; without --key such a bundle must still be
    # checked in bounded time and memory. case_seq 2**70 must not list 2**70 missing values.
    forger = LogKey.generate("test.example/log")
    members = shared.members
    members["checkpoint.txt"] = forger.sign_note(
        verify_checkpoint(members["checkpoint.txt"], Verifier.parse(shared.vkey)).to_body())
    members["log-key.txt"] = (forger.verifier_key + "\n").encode()
    index = entry_index(members, "WithdrawalRequested")
    entry = strict_loads(members[f"entries/{index}.json"])
    entry["case_seq"] = 2**70
    members[f"entries/{index}.json"] = canonical(entry)
    lines = ko_lines(verify_bundle(rezip(resign(members, forger))))
    assert any(f"case_seq 9-{2**70 - 1} missing" in line for line in lines), lines
    manifest = strict_loads(members["manifest.json"])
    manifest["created_at"] = "yesterday"
    members["manifest.json"] = canonical(manifest)
    lines = ko_lines(verify_bundle(rezip(resign(members, forger))))
    assert any("created_at must be an RFC 3339 time" in line for line in lines), lines
