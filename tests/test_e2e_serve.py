"""End to end through a real `temoin serve` process over HTTP, on both backends.

Every event type of DESIGN §3 is appended to one case; each returned index is proven against
the latest signed checkpoint; two checkpoints taken apart are linked by a consistency proof; the
bundle verifies offline with `temoin verify BUNDLE --key`; `temoin verify` is clean afterwards.
All proofs are checked with the project's own verifier (ledger.merkle, ledger.signing).
"""

from __future__ import annotations

import base64
from pathlib import Path

import httpx

from ledger.config import Settings
from ledger.events.examples import EXAMPLES
from ledger.merkle import verify_consistency, verify_inclusion
from ledger.signing import Verifier, verify_checkpoint
from tests.api_server import example, upload_example_evidence
from tests.e2e import admin_token, serving, temoin

ORDER = [t for t in EXAMPLES if t not in ("CaseClosed", "PersonalDataErased")] + [
    "CaseClosed", "PersonalDataErased"]


def _checkpoint(c: httpx.Client, verifier: Verifier):  # type: ignore[no-untyped-def]
    r = c.post("/v1/log/checkpoint")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return verify_checkpoint(r.content, verifier)


def test_every_event_type_proven_over_http(settings: Settings, tmp_path: Path) -> None:
    token = admin_token(settings)
    with serving(settings, tmp_path / "serve.log") as served, httpx.Client(
        base_url=served.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as c:
        verifier = Verifier.parse(c.get("/v1/log/key").text.strip())
        files = upload_example_evidence(c)
        receipts = []
        for t in ORDER:
            r = c.post("/v1/cases/E2E-1/events", json=example(t, files))
            assert r.status_code == 201, (t, r.text)
            receipts.append(r.json())
        assert [r["case_seq"] for r in receipts] == list(range(1, len(ORDER) + 1))
        first = _checkpoint(c, verifier)
        assert first.size == receipts[-1]["index"] + 1
        for receipt in receipts:
            proof = c.get("/v1/log/proofs/inclusion",
                          params={"index": receipt["index"], "size": first.size}).json()
            assert proof["leaf_hash"] == receipt["leaf_hash"]
            verify_inclusion(receipt["index"], first.size, bytes.fromhex(receipt["leaf_hash"]),
                             [bytes.fromhex(h) for h in proof["proof"]], first.root)
        c.post("/v1/cases/E2E-2/events", json=example("CaseOpened")).raise_for_status()
        c.post("/v1/cases/E2E-2/events", json=example("OtpFailed")).raise_for_status()
        second = _checkpoint(c, verifier)
        assert second.size == first.size + 2
        proof = c.get("/v1/log/proofs/consistency",
                      params={"from": first.size, "to": second.size}).json()
        verify_consistency(first.size, second.size, first.root, second.root,
                           [bytes.fromhex(h) for h in proof["proof"]])
        history = c.get("/v1/log/checkpoints", params={"after": 0}).json()
        sizes = [h["size"] for h in history]
        # The background signer may also have signed between the two appends (size + 1).
        assert first.size in sizes and sizes[-1] == second.size and sizes == sorted(sizes)
        bundle = c.get("/v1/cases/E2E-1/bundle")
        assert bundle.status_code == 200
        (tmp_path / "bundle.zip").write_bytes(bundle.content)
        assert base64.b64decode(first.to_body().split(b"\n")[2]) == first.root
    # Offline, with the key the lawyer got elsewhere; then the whole log.
    offline = temoin(settings, "verify", str(tmp_path / "bundle.zip"), "--key", str(verifier),
                     check=False)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    whole = temoin(settings, "verify", check=False)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert whole.stdout.splitlines()[-1].startswith("OK: ")
