"""Bundles carry trusted time and witness cosignatures (issue 11 item 5), end to end.

Real processes only, on both backends: a local RFC 3161 TSA (scripts/local_tsa.py, which signs
with `openssl ts -reply`), two `temoin witness serve`, and a `temoin serve` using them. The
bundle downloaded over HTTP is checked by `temoin verify` (a subprocess), by `openssl ts
-verify` on a token taken out of the ZIP, by Go's note.Open, and by the by-hand procedure of
the bundle's HOW-TO. A server with neither gives a v1 bundle that verifies as before.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ledger.config import Settings
from ledger.signing import LogKey
from projections.bundle_trust import BUNDLE_FORMAT_V1_1, COSIGNED
from scripts.local_tsa import make_ca
from scripts.local_tsa import running as local_tsa
from tests.api_server import example
from tests.e2e import ROOT, admin_token, serving, temoin
from tests.interop.go_tool import DEFAULT_GOPATH, run_go
from tests.witness_proc import make_witness, running_witness
from verifier.bundle import TrustOptions, verify_bundle

TSA_FAST = {"TEMOIN_TSA_INTERVAL": "0.1", "TEMOIN_TSA_BACKOFF_MAX": "0.4",
            "TEMOIN_TSA_TIMEOUT": "3"}
WITNESS_FAST = {"TEMOIN_WITNESS_MAX_BACKOFF": "1", "TEMOIN_WITNESS_TIMEOUT": "2"}
TSA_SUBJECT = "CN=trusted TSA,O=Temoin test TSA"


@dataclass
class Downloaded:
    zip: bytes
    path: Path
    log_vkey: str
    witness_vkeys: list[str]
    roots: Path
    report: dict
    report_pdf: bytes

    def members(self) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(self.zip)) as zf:
            return {n: zf.read(n) for n in zf.namelist()}


def _wait(what: str, check, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last {last!r}")


def _append_case(c: httpx.Client, case: str) -> int:
    r = c.post(f"/v1/cases/{case}/events", json=example("CaseOpened"))
    assert r.status_code == 201, r.text
    r = c.post(f"/v1/cases/{case}/events", json=example("WithdrawalRequested"))
    assert r.status_code == 201, r.text
    return int(r.json()["index"])


def _attested(c: httpx.Client, last: int) -> bool:
    """The latest checkpoint covers `last`, has a token and both cosignatures."""
    note = c.get("/v1/log/checkpoint").text
    size = int(note.split("\n")[1])
    if size <= last:
        return False
    listed = c.get("/v1/log/checkpoints", params={"after": size - 1, "limit": 1}).json()
    witnessed = c.get("/healthz").json()["details"]["witnessing"]["log"]["witnessed_size"] or 0
    return bool(listed and listed[0]["timestamps"]) and witnessed >= size and \
        note.count("\n\u2014 ") == 3


@pytest.fixture
def downloaded(settings: Settings, tmp_path: Path) -> Iterator[Downloaded]:
    log_vkey = LogKey.load_or_create(settings.key_path, settings.origin).verifier_key
    access = LogKey.load_or_create(settings.data_dir / "access.key", f"{settings.origin}/access")
    trusted = {settings.origin: log_vkey, f"{settings.origin}/access": access.verifier_key}
    vkeys = [make_witness(tmp_path / f"w{i}", f"w{i}.test/witness", trusted) for i in (1, 2)]
    token = admin_token(settings)
    with local_tsa(tmp_path / "tsa") as tsa, running_witness(
            tmp_path / "w1", tmp_path / "w1.log") as w1, running_witness(
            tmp_path / "w2", tmp_path / "w2.log") as w2:
        env = {"TEMOIN_TSA_URLS": tsa.url, "TEMOIN_TSA_ROOTS": str(tsa.roots), **TSA_FAST,
               "TEMOIN_WITNESSES": f"{w1.url} {vkeys[0]} {w2.url} {vkeys[1]}",
               "TEMOIN_WITNESS_QUORUM": "2", **WITNESS_FAST}
        with serving(settings, tmp_path / "serve.log", **env) as served, httpx.Client(
                base_url=served.base_url, timeout=60,
                headers={"Authorization": f"Bearer {token}"}) as c:
            last = _append_case(c, "TRUST-1")
            _wait("a timestamped, twice cosigned checkpoint", lambda: _attested(c, last))
            r = c.get("/v1/cases/TRUST-1/bundle")
            assert r.status_code == 200, r.text
            report = c.get("/v1/cases/TRUST-1/report").json()
            pdf = c.get("/v1/cases/TRUST-1/report", headers={"Accept": "application/pdf"})
            assert pdf.status_code == 200
        path = tmp_path / "bundle.zip"
        path.write_bytes(r.content)
        yield Downloaded(r.content, path, log_vkey, vkeys, tsa.roots, report, pdf.content)


def _verify(settings: Settings, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The verdict in English (French is the default): the assertions read its words.
    return temoin(settings, "verify", str(path), "--lang", "en", *args, check=False)


def _ko(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("KO")]


def test_bundle_carries_trusted_time_and_cosignatures(
        downloaded: Downloaded, settings: Settings, tmp_path: Path, go_tool: Path) -> None:
    members = downloaded.members()
    manifest = json.loads(members["manifest.json"])
    assert manifest["format"] == BUNDLE_FORMAT_V1_1
    tsrs = [n for n in members if n.startswith("timestamps/")]
    size = manifest["checkpoint_size"]
    assert tsrs == [f"timestamps/{size}-1.tsr"]
    assert manifest["timestamps"] == [{"path": tsrs[0], "tsa": manifest["timestamps"][0]["tsa"]}]
    assert manifest["timestamps"][0]["tsa"].startswith("http://127.0.0.1:")
    listed = {m["path"] for m in manifest["members"]}
    assert {COSIGNED, tsrs[0]} <= listed
    # checkpoint.txt stays the note as the log signed it; the cosigned copy extends it.
    cosigned = members[COSIGNED]
    assert cosigned.startswith(members["checkpoint.txt"])
    assert members["checkpoint.txt"].count("\u2014 ".encode()) == 1
    assert cosigned.count("\u2014 ".encode()) == 3

    key = ("--key", downloaded.log_vkey)
    witnesses = ("--witness", downloaded.witness_vkeys[0], "--witness",
                 downloaded.witness_vkeys[1])
    good = _verify(settings, downloaded.path, *key, "--tsa-roots", str(downloaded.roots),
                   *witnesses, "--quorum", "2")
    assert good.returncode == 0, good.stdout + good.stderr
    assert not _ko(good.stdout)
    assert "this checkpoint existed no later than 20" in good.stdout
    assert f"according to {TSA_SUBJECT}" in good.stdout
    assert "cosigned by 2 of the 2 witnesses you gave" in good.stdout
    assert f"OK   timestamps/{size}-1.tsr" in good.stdout

    # Without --tsa-roots: the token is checked for its content only, and it says so.
    content = _verify(settings, downloaded.path, *key)
    assert content.returncode == 0, content.stdout + content.stderr
    assert "checked for content only" in content.stdout
    assert "NOT checked (give --witness" in content.stdout

    # A root that did not certify the TSA: fails, naming the token.
    (tmp_path / "other-ca").mkdir()
    other = make_ca(tmp_path / "other-ca", "other")
    wrong = _verify(settings, downloaded.path, *key, "--tsa-roots", str(other), *witnesses)
    assert wrong.returncode == 1, wrong.stdout
    assert any(line.startswith(f"KO   timestamps/{size}-1.tsr") and "trusted roots" in line
               for line in _ko(wrong.stdout)), wrong.stdout

    # Two witnesses cannot meet a quorum of three.
    short = _verify(settings, downloaded.path, *key, *witnesses, "--quorum", "3")
    assert short.returncode == 1
    assert _ko(short.stdout) == [line for line in _ko(short.stdout) if "--quorum" in line]
    assert "cosigned by 2 of the 2 witnesses you gave, 3 required" in short.stdout

    # A witness key the bundle has no cosignature of, quorum by default = all given.
    stranger = make_witness(tmp_path / "w3", "w3.test/witness", {})
    missing = _verify(settings, downloaded.path, *key, *witnesses, "--witness", stranger)
    assert missing.returncode == 1 and "w3.test/witness (no cosignature" in missing.stdout

    # One flipped byte in the token: fails, naming the member.
    flipped = tmp_path / "flipped.zip"
    _rewrite(downloaded.path, flipped, tsrs[0], lambda b: b[:-20] + bytes([b[-20] ^ 1]) + b[-19:])
    bad = _verify(settings, flipped, *key, "--tsa-roots", str(downloaded.roots), *witnesses)
    assert bad.returncode == 1
    assert any(line.startswith(f"KO   {tsrs[0]}") for line in _ko(bad.stdout)), bad.stdout

    # A cosignature line altered: fails, naming the witness.
    altered = tmp_path / "altered.zip"
    _rewrite(downloaded.path, altered, COSIGNED, _flip_last_cosignature)
    forged = _verify(settings, altered, *key, *witnesses)
    assert forged.returncode == 1
    assert any(line.startswith("KO   witness w2.test/witness") for line in _ko(forged.stdout))

    # Independent tools: openssl on the token over checkpoint.txt, Go on both notes.
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(downloaded.path) as zf:
        zf.extractall(folder)
    done = subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(folder / "checkpoint.txt"), "-in",
         str(folder / tsrs[0]), "-CAfile", str(downloaded.roots)],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr
    refused = subprocess.run(
        ["openssl", "ts", "-verify", "-data", str(folder / COSIGNED), "-in",
         str(folder / tsrs[0]), "-CAfile", str(downloaded.roots)],
        capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0  # the token is over checkpoint.txt, not the cosigned copy
    for name in ("checkpoint.txt", COSIGNED):
        alone = run_go(go_tool, "note-verify",
                       {"vkey": downloaded.log_vkey, "note": members[name].decode()})
        assert alone["ok"], (name, alone)
    both = run_go(go_tool, "cosigned-open", {"log_vkey": downloaded.log_vkey,
                                             "note": cosigned.decode(),
                                             "witness_vkeys": downloaded.witness_vkeys})
    assert both["ok"], both

    _report_shows_trusted_time_and_witnesses(downloaded, tmp_path)
    _by_hand_procedure_still_works(downloaded, tmp_path)
    _cosignature_by_hand_as_in_trust_md(downloaded, folder, tmp_path)
    _go_program_in_how_to_still_works(downloaded, folder, tmp_path)


def _cosignature_by_hand_as_in_trust_md(downloaded: Downloaded, folder: Path,
                                        tmp_path: Path) -> None:
    """docs/TRUST.md's check-cosignature.sh (openssl, xxd, base64) on the unzipped bundle."""
    doc = (ROOT / "docs" / "TRUST.md").read_text()
    start = doc.index("# check-cosignature.sh")
    script = tmp_path / "check-cosignature.sh"
    script.write_text(doc[start:doc.index("```", start)])
    for n, vkey in enumerate(downloaded.witness_vkeys, 1):
        done = subprocess.run(["sh", str(script), vkey], cwd=folder, capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"cosigned by w{n}.test/witness at 20" in done.stdout
    stranger = make_witness(tmp_path / "w9", "w1.test/witness", {})  # same name, other key
    done = subprocess.run(["sh", str(script), stranger], cwd=folder, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode != 0
    prefix = subprocess.run(["cmp", "-n", str(len((folder / "checkpoint.txt").read_bytes())),
                             "checkpoint.txt", COSIGNED], cwd=folder, timeout=60, check=False)
    assert prefix.returncode == 0


def _go_program_in_how_to_still_works(downloaded: Downloaded, folder: Path,
                                      tmp_path: Path) -> None:
    """The HOW-TO's Go program (which predates v1.1) still passes on a v1.1 bundle."""
    how_to = (folder / "HOW-TO-VERIFY.txt").read_text()
    begin, end = "----- BEGIN verify.go -----\n", "----- END verify.go -----"
    src = tmp_path / "go-check"
    src.mkdir()
    (src / "verify.go").write_text(how_to[how_to.index(begin) + len(begin):how_to.index(end)])
    env = {**os.environ, "GO111MODULE": "off", "GOENV": "off", "CGO_ENABLED": "0",
           "GOPATH": os.environ.get("TEMOIN_GOPATH", DEFAULT_GOPATH), "GOFLAGS": "",
           "GOCACHE": str(tmp_path / "gocache"), "GOTOOLCHAIN": "local"}
    subprocess.run(["go", "build", "-o", "verify", "verify.go"], cwd=src, env=env,
                   check=True, capture_output=True, timeout=600)
    done = subprocess.run([str(src / "verify"), str(folder), downloaded.log_vkey],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK   checkpoint.txt: signed by" in done.stdout


def _flip_last_cosignature(data: bytes) -> bytes:
    head, _, last = data.rstrip(b"\n").rpartition(b" ")
    sig = bytearray(last)
    sig[10] = ord("A") if sig[10] != ord("A") else ord("B")
    return head + b" " + bytes(sig) + b"\n"


def _rewrite(src: Path, dst: Path, name: str, change) -> None:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, change(data) if info.filename == name else data)


def _bad_trust_options_exit_2(path: Path, log_vkey: str, settings: Settings,
                              tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for args, says in (
        (("--tsa-roots", str(tmp_path / "absent.pem")), "--tsa-roots: cannot read"),
        (("--tsa-roots", str(junk)), "must hold PEM certificates"),
        (("--witness", "w1.test/witness+zz+AAAA"), "--witness #1 is not a witness verifier key"),
        (("--witness", log_vkey), "--witness #1 is not a witness verifier key"),
        (("--quorum", "-1"), "--quorum must be an integer >= 0"),
    ):
        done = _verify(settings, path, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert says in done.stderr and not done.stdout, (args, done.stderr)
    done = temoin(settings, "verify", "--quorum", "2", check=False)
    assert done.returncode == 2 and "give the bundle's .zip" in done.stderr


def _report_shows_trusted_time_and_witnesses(downloaded: Downloaded, tmp_path: Path) -> None:
    report = downloaded.report
    [token] = report["trusted_time"]
    assert token["verified"] is True and token["tsa_subject"] == TSA_SUBJECT
    assert token["checked_against"] == "TEMOIN_TSA_ROOTS" and token["error"] is None
    assert isinstance(token["serial"], int) and token["time"].endswith("Z")
    assert [(w["witness"], w["verified"]) for w in report["witnesses"]] == [
        ("w1.test/witness", True), ("w2.test/witness", True)]
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext (poppler-utils) is needed to read the PDF; .ci/run installs it")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(downloaded.report_pdf)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    assert "Trusted time and witnesses" in text
    assert "trusted TSA" in text and "w2.test/witness" in text
    assert text.count("verified") >= 3


def _by_hand_procedure_still_works(downloaded: Downloaded, tmp_path: Path) -> None:
    """The HOW-TO's shell procedure (which predates v1.1) still passes on a v1.1 bundle."""
    members = downloaded.members()
    how_to = members["HOW-TO-VERIFY.txt"].decode()
    begin, end = "----- BEGIN verify-by-hand.sh -----\n", "----- END verify-by-hand.sh -----"
    script = tmp_path / "verify-by-hand.sh"
    script.write_text(how_to[how_to.index(begin) + len(begin):how_to.index(end)])
    assert "openssl ts -verify -data checkpoint.txt" in how_to
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(downloaded.path) as zf:
        zf.extractall(folder)
    done = subprocess.run(["sh", str(script), downloaded.log_vkey], cwd=folder,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_server_without_tsa_or_witnesses_gives_a_v1_bundle(settings: Settings,
                                                           tmp_path: Path) -> None:
    token = admin_token(settings)
    with serving(settings, tmp_path / "serve.log") as served, httpx.Client(
            base_url=served.base_url, timeout=60,
            headers={"Authorization": f"Bearer {token}"}) as c:
        _append_case(c, "PLAIN-1")
        r = c.get("/v1/cases/PLAIN-1/bundle")
        assert r.status_code == 200
        vkey = c.get("/v1/log/key").text.strip()
        report = c.get("/v1/cases/PLAIN-1/report").json()
    assert report["trusted_time"] == [] and report["witnesses"] == []
    path = tmp_path / "plain.zip"
    path.write_bytes(r.content)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format"] == "temoin.bundle/v1" and "timestamps" not in manifest
    assert COSIGNED not in names and not [n for n in names if n.startswith("timestamps/")]
    done = _verify(settings, path, "--key", vkey)
    assert done.returncode == 0, done.stdout
    last = done.stdout.splitlines()[-1]
    assert last.startswith("VERDICT: the bundle is intact and signed by the key you trust")
    assert "No trusted time" in last and "No witness" in last
    # Asking for a quorum of witnesses the bundle does not have fails.
    wkey = make_witness(tmp_path / "w", "w.test/witness", {})
    assert _verify(settings, path, "--key", vkey, "--witness", wkey).returncode == 1
    _bad_trust_options_exit_2(path, vkey, settings, tmp_path)


FIXTURES = Path(__file__).parent / "fixtures"


def test_a_bundle_made_by_the_builder_before_v1_1_still_verifies(tmp_path: Path) -> None:
    """tests/fixtures/bundle_v1_main.zip was made by main's builder (commit 8fabecb, before
    trusted time and witnesses) from tests/test_bundle.py's case: it must keep verifying."""
    vkey = (FIXTURES / "bundle_v1_main.vkey").read_text().strip()
    report = verify_bundle(FIXTURES / "bundle_v1_main.zip", trusted_key=vkey,
                           trust=TrustOptions(quorum=0))
    assert report.ok, [str(c) for c in report.failures]
    assert report.format == "temoin.bundle/v1" and report.entries == 9
    assert report.trust.times == [] and report.trust.cosigned == []
    (tmp_path / "ca").mkdir()
    roots = make_ca(tmp_path / "ca", "any")
    done = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "verify", str(FIXTURES / "bundle_v1_main.zip"),
         "--key", vkey, "--tsa-roots", str(roots)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No trusted time" in done.stdout.splitlines()[-1]
