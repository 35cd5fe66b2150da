"""v1.1 bundles and the report's trust sections, in process (both backends): real tokens from
a local TSA process, real Ed25519 cosignatures, stored as the server stores them; then the
bundle and the report are built and checked, and forged variants are refused by name."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ledger.cosignature import WitnessKey
from ledger.ledger import Ledger
from ledger.signing import verify_checkpoint
from ledger.store.attestations import Attestation
from ledger.timestamps import build_request
from projections.bundle import manifest_sig_body
from projections.bundle_trust import BUNDLE_FORMAT_V1_1, COSIGNED
from projections.report import integrity_report
from scripts.local_tsa import Running, make_ca
from scripts.local_tsa import running as local_tsa
from tests.test_bundle import CASE, TENANT, build_case, bundle, canonical, ko_lines, rezip, unzip
from verifier.bundle import TrustOptions, verify_bundle


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with local_tsa(tmp_path_factory.mktemp("tsa")) as server:
        yield server


def _attest(ledger: Ledger, tsa: Running) -> tuple[int, list[WitnessKey]]:
    """Store a token and two cosignatures for the latest checkpoint, as the server would."""
    cp = build_case(ledger).checkpoint
    query, _ = build_request(cp.note)
    reply = httpx.post(tsa.url, content=query, timeout=30,
                       headers={"Content-Type": "application/timestamp-query"})
    assert reply.status_code == 200
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    store = ledger.store
    store.store_attestation(Attestation(cp.size, "rfc3161", tsa.url, reply.content, now))
    body = verify_checkpoint(cp.note, ledger.key.verifier()).to_body()
    witnesses = [WitnessKey.generate(f"w{i}.test/witness") for i in (1, 2)]
    for w in witnesses:
        line = w.cosign(body, int(time.time()))
        store.store_attestation(Attestation(cp.size, "cosignature", w.name, line.encode(), now))
    return cp.size, witnesses


def _resigned(ledger: Ledger, members: dict[str, bytes], **fields: object) -> bytes:
    manifest = json.loads(members["manifest.json"])
    manifest["members"] = [
        {"path": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
        for n, d in members.items() if n not in ("manifest.json", "manifest.sig")]
    manifest.update(fields)
    raw = canonical(manifest)
    return rezip({**members, "manifest.json": raw,
                  "manifest.sig": ledger.key.sign_note(manifest_sig_body(raw))})


def test_v1_1_bundle_and_forgeries(ledger: Ledger, tsa: Running, tmp_path: Path) -> None:
    size, witnesses = _attest(ledger, tsa)
    data = bundle(ledger)
    members = unzip(data)
    manifest = json.loads(members["manifest.json"])
    assert manifest["format"] == BUNDLE_FORMAT_V1_1
    assert manifest["timestamps"] == [{"path": f"timestamps/{size}-1.tsr", "tsa": tsa.url}]
    names = list(members)
    # After log-key.txt, before the entries: the ZIP order of BUNDLE.md §2.
    assert names[2:6] == ["checkpoint.txt", "log-key.txt", COSIGNED, f"timestamps/{size}-1.tsr"]
    vkeys = tuple(w.verifier_key for w in witnesses)
    roots = tsa.roots.read_bytes()
    good = verify_bundle(data, trusted_key=ledger.key.verifier_key,
                         trust=TrustOptions(roots, vkeys, 2))
    assert good.ok, ko_lines(good)
    assert [t.info.tsa_subject for t in good.trust.times] == ["CN=trusted TSA,O=Temoin test TSA"]
    assert [name for name, _ in good.trust.cosigned] == ["w1.test/witness", "w2.test/witness"]
    # The same ledger without trust material in the bundle: v1, as before.
    plain = unzip(bundle(ledger, trust=False))
    assert json.loads(plain["manifest.json"])["format"] == "temoin.bundle/v1"
    assert not [n for n in plain if n.startswith("timestamps/") or n == COSIGNED]

    tsr = f"timestamps/{size}-1.tsr"
    # A token the manifest does not attribute to a TSA.
    extra = _resigned(ledger, {**members, f"timestamps/{size}-2.tsr": members[tsr]})
    report = verify_bundle(extra, trust=TrustOptions(roots))
    assert any(f"timestamps/{size}-2.tsr: is listed in the manifest's timestamps" in line
               for line in ko_lines(report)), ko_lines(report)
    # A token renamed for another checkpoint size.
    moved = dict(members)
    moved[f"timestamps/{size + 1}-1.tsr"] = moved.pop(tsr)
    renamed = _resigned(ledger, moved, timestamps=[{"path": f"timestamps/{size + 1}-1.tsr",
                                                    "tsa": tsa.url}])
    report = verify_bundle(renamed, trust=TrustOptions(roots))
    assert any("named for checkpoint size" in line for line in ko_lines(report))
    # A cosigned copy that is not of this checkpoint.
    other = _resigned(ledger, {**members, COSIGNED: b"x" + members[COSIGNED]})
    report = verify_bundle(other, trust=TrustOptions(None, vkeys))
    lines = ko_lines(report)
    assert any(f"{COSIGNED}: begins with checkpoint.txt" in line for line in lines), lines
    assert any("--quorum" in line and "cosigned by 0 of the 2" in line for line in lines)
    # Trust members in a manifest that says v1: not part of the v1 layout.
    as_v1 = _resigned(ledger, members, format="temoin.bundle/v1")
    report = verify_bundle(as_v1)
    assert any("manifest.json" in line and "fields are" in line and "timestamps" in line
               for line in ko_lines(report)), ko_lines(report)


def test_report_trust_sections(ledger: Ledger, tsa: Running, tmp_path: Path) -> None:
    _, witnesses = _attest(ledger, tsa)
    vkeys = [w.verifier_key for w in witnesses]
    report = integrity_report(ledger, TENANT, CASE, tsa_roots=tsa.roots.read_bytes(),
                              witness_keys=vkeys)
    assert report is not None
    [token] = report["trusted_time"]
    assert token["verified"] is True and token["tsa"] == tsa.url and token["error"] is None
    assert all(w["verified"] for w in report["witnesses"])
    # Another root: the token's claim is still shown, marked unverified, with the reason.
    (tmp_path / "ca").mkdir()
    other = make_ca(tmp_path / "ca", "other").read_bytes()
    report = integrity_report(ledger, TENANT, CASE, tsa_roots=other, witness_keys=vkeys[:1])
    assert report is not None
    [token] = report["trusted_time"]
    assert token["verified"] is False and "trusted roots" in token["error"]
    assert token["time"].endswith("Z") and token["tsa_subject"].startswith("CN=trusted TSA")
    assert [(w["witness"], w["verified"]) for w in report["witnesses"]] == [
        ("w1.test/witness", True), ("w2.test/witness", False)]
    assert "no key for witness w2.test/witness" in report["witnesses"][1]["error"]
    # No roots configured: content only, never "verified".
    report = integrity_report(ledger, TENANT, CASE)
    assert report is not None
    assert report["trusted_time"][0]["verified"] is False
    assert report["trusted_time"][0]["checked_against"].startswith("content only")
