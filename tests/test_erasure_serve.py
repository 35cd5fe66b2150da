"""Erasure through real server processes (issue 12): `temoin serve --workers 2` on both
backends; after the erasure no worker can open the case's personal data, the bundle carries
none and verifies offline, the report says erased, `temoin verify` is clean; holds, overrides
and retention-only fields over HTTP."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx

from ledger.config import Settings
from tests.api_server import example
from tests.e2e import serving, temoin


def _token(settings: Settings, role: str) -> str:
    out = temoin(settings, "keys", "create", "--role", role, "--tenant", "shop-1", "--json")
    return str(json.loads(out.stdout)["token"])


def _client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=60,
                        headers={"Authorization": f"Bearer {token}", "Connection": "close"})


def test_erased_case_cannot_be_opened_by_any_worker(settings: Settings, tmp_path: Path) -> None:
    admin, appender = _token(settings, "admin"), _token(settings, "appender")
    with serving(settings, tmp_path / "serve.log", args=["--workers", "2"]) as served, \
            _client(served.base_url, admin) as c:
        case = "ERASE-1"
        assert c.post(f"/v1/cases/{case}/events", json=example("CaseOpened")).status_code == 201
        sms = c.post(f"/v1/cases/{case}/events", json=example("SmsConfirmationReceived"))
        assert sms.status_code == 201
        # Read the case from both workers (one connection per request) so each has used the
        # case and its key before the erasure.
        for _ in range(6):
            bundle = c.get(f"/v1/cases/{case}/bundle")
            assert bundle.status_code == 200
            assert any(n.startswith("openings/") for n in
                       zipfile.ZipFile(io.BytesIO(bundle.content)).namelist())
        # Holds: the erasure is refused naming the hold; only an admin overrides.
        hold = example("LegalHoldPlaced")
        assert c.post(f"/v1/cases/{case}/events", json=hold).status_code == 201
        erase = example("PersonalDataErased", data={"legal_basis": "gdpr-art-17"})
        refused = c.post(f"/v1/cases/{case}/events", json=erase)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "TJ-LYON-25-01234" in refused.json()["detail"]
        override = example("PersonalDataErased", data={
            "legal_basis": "gdpr-art-17", "override_holds": ["TJ-LYON-25-01234"]})
        with _client(served.base_url, appender) as a:
            forbidden = a.post(f"/v1/cases/{case}/events", json=override)
        assert forbidden.status_code == 403 and "admin" in forbidden.json()["detail"]
        claimed = example("PersonalDataErased", data={
            "legal_basis": "retention", "retention_run": "fake", "evidence_destroyed": []})
        bad = c.post(f"/v1/cases/{case}/events", json=claimed)
        assert bad.status_code == 422
        assert {e["loc"][-1] for e in bad.json()["errors"]} == {
            "retention_run", "evidence_destroyed"}
        erased = c.post(f"/v1/cases/{case}/events", json=override)
        assert erased.status_code == 201, erased.text
        index = erased.json()["index"]
        again = c.post(f"/v1/cases/{case}/events", json=override)
        assert again.status_code == 409 and "already erased" in again.json()["detail"]

        for _ in range(6):  # whichever worker answers
            bundle = c.get(f"/v1/cases/{case}/bundle")
            names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
            assert not [n for n in names if n.startswith("openings/")], names
            report = c.get(f"/v1/cases/{case}/report").json()
            erased_rows = [x for x in report["checks"] if x["status"] == "ERASED"]
            assert len(erased_rows) == 5
            assert all(f"by entry {index}, commitment intact" in x["found"]
                       for x in erased_rows)
        bundle_path = tmp_path / "bundle.zip"
        bundle_path.write_bytes(bundle.content)
        key = c.get("/v1/log/key").text.strip()
    offline = temoin(settings, "verify", str(bundle_path), "--key", key, check=False)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    out = temoin(settings, "verify", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"index {index}: case ERASE-1: all personal fields erased on" in out.stdout
