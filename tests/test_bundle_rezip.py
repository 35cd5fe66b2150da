"""A bundle unzipped and zipped again with Info-ZIP's `zip -r` still verifies, with WARN lines,
and any file added, removed or changed on the way still fails, naming it; the manifest's
`created_at` is when the bundle was made, not when its checkpoint was signed.

Bundles are made by the real HTTP service on both backends; `unzip` and `zip` are the
command-line tools a lawyer or an expert would use (installed by .ci/run).
"""

from __future__ import annotations

import io
import json
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.canonical import strict_loads
from projections.bundle import canonical, manifest_sig_body
from scripts.verify_bundle import main as verify_main
from verifier.bundle import BundleReport, verify_bundle

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    ApiServer,
    example,
    new_case,
    upload_example_evidence,
)

pytest_plugins = ("tests.api_server",)

TYPES = ["CaseOpened", "LetterSent", "RecipientNotified", "DeliveryPhotoTaken",
         "WithdrawalRequested"]


@dataclass(frozen=True)
class Served:
    zip: bytes
    key: str  # the log's verifier key

    @property
    def names(self) -> list[str]:
        with zipfile.ZipFile(io.BytesIO(self.zip)) as zf:
            return zf.namelist()


def download(api: ApiServer, case: str) -> bytes:
    with api.client(api.new_key("lawyer", cases=[case])) as c:
        r = c.get(f"/v1/cases/{case}/bundle")
    assert r.status_code == 200, r.text
    return r.content


@pytest.fixture(scope="module")
def served(api: ApiServer) -> Served:
    case = new_case("REZIP")
    with api.client() as c:
        files = upload_example_evidence(c)
        for t in TYPES:
            r = c.post(f"/v1/cases/{case}/events", json=example(t, files))
            assert r.status_code == 201, r.text
    data = download(api, case)
    key = api.services.ledger.key.verifier_key
    assert verify_bundle(data, trusted_key=key).ok  # the bundle as served, before any tool
    return Served(data, key)


def unzip_cli(data: bytes, tmp: Path) -> Path:
    """The bundle unzipped by Info-ZIP's `unzip` into tmp/extracted."""
    (tmp / "received.zip").write_bytes(data)
    subprocess.run(["unzip", "-q", "received.zip", "-d", "extracted"], cwd=tmp, check=True,
                   timeout=120)
    return tmp / "extracted"


def zip_cli(folder: Path, style: str) -> Path:
    """The unzipped folder zipped again with `zip -r`, the two ways people do it."""
    out = folder.parent / "re.zip"
    if style == "inside":  # cd extracted && zip -r ../re.zip .
        subprocess.run(["zip", "-qr", str(out), "."], cwd=folder, check=True, timeout=120)
    else:  # zip -r re.zip extracted/: every name starts with extracted/
        subprocess.run(["zip", "-qr", out.name, f"{folder.name}/"], cwd=folder.parent,
                       check=True, timeout=120)
    return out


def infos(data: bytes) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.infolist()


def lines(report: BundleReport, status: str) -> list[str]:
    return [str(c) for c in report.checks if c.status == status]


@pytest.mark.parametrize("style", ["inside", "folder"])
def test_zipped_again_with_zip_r_passes_with_warnings(
    served: Served, style: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rezipped = zip_cli(unzip_cli(served.zip, tmp_path), style).read_bytes()
    # What zip -r changed: folder entries, the folder before every name (one way), member
    # order, compression of small members, and extra fields (Unix times, uid/gid).
    prefix = "extracted/" if style == "folder" else ""
    names = [i.filename for i in infos(rezipped)]
    folders = [n for n in names if n.endswith("/")]
    assert {f"{prefix}entries/", f"{prefix}proofs/", f"{prefix}evidence/"} <= set(folders)
    files = [n.removeprefix(prefix) for n in names if not n.endswith("/")]
    assert sorted(files) == sorted(served.names) and files != served.names
    assert all(i.extra for i in infos(rezipped)) and not any(i.extra for i in infos(served.zip))
    assert {i.compress_type for i in infos(rezipped)} != {i.compress_type
                                                           for i in infos(served.zip)}

    report = verify_bundle(rezipped, trusted_key=served.key)
    assert report.ok, lines(report, "KO")
    warned = lines(report, "WARN")
    assert any(f"folder entries ignored — {folders[0]}" in w for w in warned), warned
    assert any(f"every file is in the folder {prefix}" in w for w in warned) == bool(prefix)
    assert len(warned) == (2 if prefix else 1)
    # Every file was still checked against the signed manifest.
    hashed = [c for c in report.checks if c.name == "SHA-256 and size as in the manifest"]
    assert len(hashed) == len(served.names) - 2 and all(c.status == "OK" for c in hashed)

    path = tmp_path / "re.zip"
    assert verify_main(str(path), key=served.key, lang="en") == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("WARN bundle: ") for line in out)
    assert out[-1].startswith("VERDICT: the bundle is intact and signed by the key you trust")
    assert f"({len(warned)} WARN line" in out[-1]


def _entry(folder: Path) -> str:
    return sorted(p.relative_to(folder).as_posix() for p in folder.glob("entries/*.json"))[1]


def _change_byte(folder: Path) -> tuple[str, str]:
    name = _entry(folder)
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    return name, "SHA-256 and size as in the manifest"


def _add_file(folder: Path) -> tuple[str, str]:
    (folder / "evidence" / "note.txt").write_text("a file added after signing\n")
    return "evidence/note.txt", "not listed in the signed manifest"


def _remove_file(folder: Path) -> tuple[str, str]:
    name = sorted(p.relative_to(folder).as_posix() for p in folder.glob("evidence/*"))[0]
    (folder / name).unlink()
    return name, "missing from the ZIP"


CHANGES: dict[str, Callable[[Path], tuple[str, str]]] = {
    "changed": _change_byte, "added": _add_file, "removed": _remove_file,
}


@pytest.mark.parametrize("style", ["inside", "folder"])
@pytest.mark.parametrize("change", CHANGES)
def test_zipped_again_after_a_change_fails_naming_the_file(
    served: Served, style: str, change: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = unzip_cli(served.zip, tmp_path)
    name, why = CHANGES[change](folder)
    path = zip_cli(folder, style)
    report = verify_bundle(path.read_bytes(), trusted_key=served.key)
    assert not report.ok
    failed = lines(report, "KO")
    assert any(line.startswith(f"KO   {name}: ") and why in line for line in failed), failed
    assert verify_main(str(path), key=served.key, lang="en") == 1
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"KO   {name}: ") for line in out)
    assert out[-1].startswith("VERDICT: FAILED — ")


def test_only_one_common_folder_is_accepted(served: Served, tmp_path: Path) -> None:
    # Two folders deep is not what zip -r does by itself: the files are not where the
    # manifest lists them, so they are reported, not guessed.
    folder = unzip_cli(served.zip, tmp_path)
    deeper = tmp_path / "outer"
    deeper.mkdir()
    folder.rename(deeper / "extracted")
    subprocess.run(["zip", "-qr", "re.zip", "outer/"], cwd=tmp_path, check=True, timeout=120)
    report = verify_bundle((tmp_path / "re.zip").read_bytes(), trusted_key=served.key)
    assert not report.ok
    assert any(line.startswith("KO   manifest.json: is present") for line in lines(report, "KO"))


def _with(data: bytes, name: str, content: bytes) -> bytes:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize(("name", "content"), [
    ("entries/", b"data in a folder entry"), ("../", b""), ("/", b""), ("a/../../", b""),
])
def test_folder_entries_with_data_or_unsafe_names_still_fail(
    served: Served, name: str, content: bytes
) -> None:
    report = verify_bundle(_with(served.zip, name, content), trusted_key=served.key)
    assert not report.ok
    assert any(line.startswith(f"KO   {name}: ") for line in lines(report, "KO")), \
        lines(report, "KO")


def _manifest(data: bytes) -> dict[str, object]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        found: dict[str, object] = strict_loads(zf.read("manifest.json"))
    return found


def test_created_at_is_when_the_bundle_was_made(api: ApiServer) -> None:
    case = new_case("WHEN")
    with api.client() as c:
        r = c.post(f"/v1/cases/{case}/events", json=example("CaseOpened"))
        assert r.status_code == 201, r.text
        r = c.post("/v1/log/checkpoint")
        assert r.status_code == 200, r.text
    checkpoint = api.services.ledger.sign_checkpoint()  # the latest: it covers the case
    assert checkpoint.note == r.content
    time.sleep(2.1)  # ZIP times count in 2 s steps: this makes them differ too
    before = datetime.now(UTC)
    data = download(api, case)
    after = datetime.now(UTC)
    manifest = _manifest(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("checkpoint.txt") == checkpoint.note  # the same checkpoint, reused
        zip_times = {i.date_time for i in zf.infolist()}
    # The checkpoint's signing time is not in a v1 manifest (older verifiers would refuse
    # the field); report.json keeps it.
    assert "checkpoint_signed_at" not in manifest
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        report_json = json.loads(zf.read("report.json"))
    assert report_json["scope"]["checkpoint"]["signed_at"] == checkpoint.signed_at
    created = datetime.fromisoformat(str(manifest["created_at"]))
    signed = datetime.fromisoformat(checkpoint.signed_at)
    assert before <= created <= after, (before, created, after)
    assert (created - signed).total_seconds() >= 2
    assert zip_times == {(*created.timetuple()[:5], created.second - created.second % 2)}
    report = verify_bundle(data, trusted_key=api.services.ledger.key.verifier_key)
    assert report.ok
    assert any(f"created {manifest['created_at']}" in str(c) for c in report.checks), [
        str(c) for c in report.checks]


def _resigned(api: ApiServer, data: bytes, change: Callable[[dict[str, object]], None]) -> bytes:
    """The bundle with its manifest changed and signed again by the log's own key."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    manifest = strict_loads(members["manifest.json"])
    change(manifest)
    members["manifest.json"] = canonical(manifest)
    members["manifest.sig"] = api.services.ledger.key.sign_note(
        manifest_sig_body(members["manifest.json"]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return out.getvalue()


def test_manifests_without_checkpoint_signed_at_still_verify(api: ApiServer,
                                                            served: Served) -> None:
    # A v1 manifest has no checkpoint_signed_at; one that carries it (v1.1 does) still verifies.
    assert "checkpoint_signed_at" not in strict_loads(
        zipfile.ZipFile(io.BytesIO(served.zip)).read("manifest.json"))
    report = verify_bundle(served.zip, trusted_key=served.key)
    assert report.ok, lines(report, "KO")
    with_time = _resigned(api, served.zip, lambda m: m.update(
        checkpoint_signed_at="2026-12-01T10:00:00.000000Z"))
    report = verify_bundle(with_time, trusted_key=served.key)
    assert report.ok, lines(report, "KO")
    # Any other field is still refused, and checkpoint_signed_at must be a time.
    for change, why in (
        (lambda m: m.update(signed_by="someone"), "fields are"),
        (lambda m: m.update(checkpoint_signed_at="yesterday"),
         "checkpoint_signed_at must be an RFC 3339 time"),
    ):
        report = verify_bundle(_resigned(api, served.zip, change), trusted_key=served.key)
        assert any(line.startswith("KO   manifest.json: ") and why in line
                   for line in lines(report, "KO")), lines(report, "KO")


def test_how_to_verify_tells_the_truth_about_unzipping(served: Served, tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(served.zip)) as zf:
        text = zf.read("HOW-TO-VERIFY.txt").decode()
    assert "do not unzip" not in text.lower()
    assert "Unzipping the bundle to read its files is safe" in text
    # The command it gives for an unzipped copy, run as written, gives a ZIP that passes.
    command = "cd FOLDER && zip -r ../bundle.zip ."
    assert command in " ".join(text.split())
    folder = unzip_cli(served.zip, tmp_path)
    subprocess.run(["sh", "-c", command.replace("FOLDER", folder.name)], cwd=tmp_path,
                   check=True, capture_output=True, timeout=120)
    report = verify_bundle((tmp_path / "bundle.zip").read_bytes(), trusted_key=served.key)
    assert report.ok and report.warnings, lines(report, "KO")
