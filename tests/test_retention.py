"""Retention classes, legal holds and destruction certificates (issue 12 items 2-4), on a real
SQLite file and a real PostgreSQL: the plan, a run with one held and one due case, a crash in
the middle and the rerun, and the certificate checked offline (and failing once altered)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ledger.audit import verify_log
from ledger.config import ConfigError, Settings
from ledger.errors import LegalHoldError, RetentionClassError
from ledger.ledger import Ledger
from ledger.retention import run as retention_run
from ledger.retention.certificate import verify_certificate, write_certificate
from ledger.retention.classes import RetentionClass, RetentionPolicy
from ledger.retention.run import apply, current_plan
from ledger.signing import LogKey
from tests.helpers import request

TENANT = "shop-1"
LATER = timedelta(days=5 * 366 + 2)  # past every 5-year class of a case closed now


# -- classes ---------------------------------------------------------------------------------

def test_default_classes_name_their_legal_basis() -> None:
    policy = RetentionPolicy.from_env({})
    assert policy.default == "contract"
    assert policy.classes["contract"].years == 5 and "2224" in policy.classes["contract"].basis
    assert policy.classes["distance-sale-120"].years == 10
    assert policy.classes["location"].years == 1
    with pytest.raises(ValueError, match=r"unknown retention class 'forever'.*contract"):
        policy.check("forever")
    with pytest.raises(ValueError, match="unknown retention class 'location'"):
        policy.check("location")  # a field class, not a case class


def test_classes_from_the_environment() -> None:
    policy = RetentionPolicy.from_env({
        "TEMOIN_RETENTION_CLASSES": "contract=6y short=90d location=6m",
        "TEMOIN_RETENTION_DEFAULT": "short",
    })
    assert policy.classes["contract"].years == 6
    assert policy.classes["short"].days == 90 and policy.default == "short"
    assert policy.classes["location"].months == 6
    for bad in ("contract", "x=5w", "Contract=5y", "x=-1y"):
        with pytest.raises(ConfigError, match="TEMOIN_RETENTION_CLASSES"):
            RetentionPolicy.from_env({"TEMOIN_RETENTION_CLASSES": bad})
    with pytest.raises(ConfigError, match="TEMOIN_RETENTION_DEFAULT"):
        RetentionPolicy.from_env({"TEMOIN_RETENTION_DEFAULT": "location"})


@pytest.mark.parametrize(("klass", "closed", "expires"), [
    (RetentionClass("c", years=5), "2026-03-15T10:00:00", "2031-03-15T10:00:00"),
    (RetentionClass("c", years=1), "2028-02-29T23:00:00", "2029-02-28T23:00:00"),
    (RetentionClass("c", months=1), "2026-01-31T08:00:00", "2026-02-28T08:00:00"),
    (RetentionClass("c", months=18), "2026-08-31T08:00:00", "2028-02-29T08:00:00"),
    (RetentionClass("c", days=90), "2026-12-01T00:00:00", "2027-03-01T00:00:00"),
])
def test_expiry_is_calendar_arithmetic(klass: RetentionClass, closed: str, expires: str) -> None:
    start = datetime.fromisoformat(closed).replace(tzinfo=UTC)
    assert klass.expires(start) == datetime.fromisoformat(expires).replace(tzinfo=UTC)


# -- a log with due, held, open and location cases --------------------------------------------

def _photo(ledger: Ledger, content: bytes) -> str:
    stored, _ = ledger.add_evidence(TENANT, content, "image/jpeg")
    return stored.sha256


def _photo_event(case: str, sha: str) -> Any:
    return request(case, "DeliveryPhotoTaken",
                   data={"parcel_id": "6A1", "carrier": "colissimo", "photo_sha256": sha},
                   evidence=[{"sha256": sha, "role": "delivery_photo"}])


def _closed(case: str) -> Any:
    return request(case, "CaseClosed",
                   occurred_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def _build(ledger: Ledger) -> dict[str, str]:
    shared = _photo(ledger, b"\xff\xd8 shared photo")
    own = _photo(ledger, b"\xff\xd8 own photo")
    kept = _photo(ledger, b"\xff\xd8 photo of an open case")
    held = _photo(ledger, b"\xff\xd8 photo of a held case")
    gps = {"parcel_id": "6A2", "carrier": "colissimo", "accuracy_m": 8, "scan_code": "LIV"}
    ledger.append([
        request("DUE-A", "CaseOpened"), _photo_event("DUE-A", shared), _photo_event("DUE-A", own),
        _closed("DUE-A"),
        request("DUE-B", "CaseOpened"), _photo_event("DUE-B", shared),
        _closed("DUE-B"),
        request("HELD", "CaseOpened"), _photo_event("HELD", held),
        _closed("HELD"),
        request("HELD", "LegalHoldPlaced", data={"reference": "TJ-1", "reason": "assignation"}),
        request("OPEN", "CaseOpened"), _photo_event("OPEN", kept),
        request("LONG", "CaseOpened", data={"order_ref": "L", "merchant_id": "m",
                                            "reason": "withdrawal",
                                            "retention_class": "distance-sale-120"}),
        _closed("LONG"),
        request("GPS", "CaseOpened"),
        request("GPS", "GpsScanRecorded", data=gps,
                personal={"latitude": "45.7640430", "longitude": "4.8356590"}),
        request("GPS", "RetentionClassSet", data={"retention_class": "distance-sale-120"}),
        _closed("GPS"),
    ])
    return {"shared": shared, "own": own, "kept": kept, "held": held}


def test_plan_run_and_certificate(ledger: Ledger, tmp_path: Path) -> None:
    files = _build(ledger)
    now = datetime.now(UTC)
    assert current_plan(ledger, now).due == []  # nothing runs out at closure

    # Two years on: only the delivery position of GPS (location class, 1 year).
    soon = current_plan(ledger, now + timedelta(days=2 * 365))
    assert [(d.facts.case, d.fields) for d in soon.due] == [("GPS", ("latitude", "longitude"))]

    later = now + LATER
    plan = current_plan(ledger, later)
    due = {d.facts.case: d for d in plan.due}
    assert set(due) == {"DUE-A", "DUE-B", "GPS"}
    assert set(due["DUE-A"].files) == {files["shared"], files["own"]}
    assert due["DUE-B"].files == ()  # the shared file is DUE-A's to destroy, once
    assert [(h.facts.case, h.holds) for h in plan.held] == [("HELD", ("TJ-1",))]

    result = apply(ledger, plan, "ret-test")
    assert result.erased == 3 and result.files_deleted == 2 and not result.skipped
    for name in ("shared", "own"):
        assert not ledger.files.exists(files[name])
    for name in ("kept", "held"):
        assert ledger.files.exists(files[name])
    assert ledger.openings(TENANT, "DUE-A") == {}
    assert ledger.openings(TENANT, "HELD")  # held: untouched
    assert "latitude" not in ledger.openings(TENANT, "GPS").get(2, {})
    assert ledger.openings(TENANT, "GPS")[1]  # the rest of GPS is kept (10-year class)
    assert current_plan(ledger, later).due == []  # done: a rerun has nothing to do

    report = verify_log(ledger.store, ledger.key.verifier(), master=ledger.master,
                        evidence_dir=ledger.settings.evidence_dir)
    assert report.ok, report.anomalies  # destroyed files are not "missing"
    assert {e.case for e in report.erasures} == {"DUE-A", "DUE-B", "GPS"}

    cert = tmp_path / "cert.jsonl"
    checkpoint = ledger.sign_checkpoint()
    with cert.open("wb") as fh:
        summary = write_certificate(fh, ledger.store, ledger.key, checkpoint, "ret-test", {})
    assert summary == {"cases": 3, "evidence_files": 2, "fields": 2}
    checked = verify_certificate(cert, ledger.key.verifier_key)
    assert checked.ok, checked.problems
    assert (checked.items, checked.evidence_files) == (3, 2)


def test_a_run_stopped_after_its_commit_is_finished_by_the_next(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _build(ledger)
    later = datetime.now(UTC) + LATER
    monkeypatch.setattr(retention_run, "CHUNK", 1)

    def crash(committed: list[Any]) -> None:
        raise KeyboardInterrupt("power cut after the first chunk's commit")

    with pytest.raises(KeyboardInterrupt):
        apply(ledger, current_plan(ledger, later), "ret-crash", after_commit=crash)
    size = ledger.tree_size()
    rerun = current_plan(ledger, later)
    # One case was committed: not planned again; its files, if any, are leftovers to delete.
    assert len(rerun.due) == 2
    result = apply(ledger, rerun, "ret-crash")
    assert result.erased == 2 and ledger.tree_size() == size + 2
    assert not ledger.files.exists(files["shared"]) and not ledger.files.exists(files["own"])
    assert current_plan(ledger, later).due == [] and current_plan(ledger, later).leftover_files \
        == []
    entries = [e for e in ledger.store.erasure_entries(ledger.tree_size())]
    assert len(entries) == 3  # one per case, none twice


def test_a_hold_placed_after_the_plan_is_respected(ledger: Ledger) -> None:
    _build(ledger)
    later = datetime.now(UTC) + LATER
    plan = current_plan(ledger, later)
    ledger.append([request("DUE-B", "LegalHoldPlaced",
                           data={"reference": "CNIL-7", "reason": "contrôle"})])
    result = apply(ledger, plan, "ret-race")
    assert [s.split(":")[0] for s in result.skipped] == ["shop-1/DUE-B"]
    assert "CNIL-7" in result.skipped[0]
    assert ledger.openings(TENANT, "DUE-B")


def test_holds_refuse_erasure_and_an_override_is_recorded(ledger: Ledger) -> None:
    ledger.append([request("H", "CaseOpened"),
                   request("H", "LegalHoldPlaced", data={"reference": "R1", "reason": "x"}),
                   request("H", "LegalHoldPlaced", data={"reference": "R2", "reason": "y"})])
    erase = {"legal_basis": "gdpr-art-17"}
    with pytest.raises(LegalHoldError, match=r"'R1' placed .*'R2' placed"):
        ledger.append([request("H", "PersonalDataErased", data=erase)])
    with pytest.raises(LegalHoldError, match="under legal hold \\('R2'"):
        ledger.append([request("H", "PersonalDataErased",
                               data={**erase, "override_holds": ["R1"]})])
    with pytest.raises(LegalHoldError, match="already active"):
        ledger.append([request("H", "LegalHoldPlaced", data={"reference": "R1", "reason": "z"})])
    with pytest.raises(LegalHoldError, match=r"no active legal hold 'R9'.*R1, R2"):
        ledger.append([request("H", "LegalHoldReleased", data={"reference": "R9"})])
    ledger.append([request("H", "LegalHoldReleased", data={"reference": "R2"})])
    [receipt] = ledger.append([request("H", "PersonalDataErased",
                                       data={**erase, "override_holds": ["R1"]})])
    entry = ledger.case_entries(TENANT, "H")[-1].entry
    assert entry.data["override_holds"] == ["R1"] and receipt.case_seq == 5
    assert ledger.openings(TENANT, "H") == {}


def test_unknown_retention_class_is_refused(ledger: Ledger) -> None:
    ledger.append([request("K", "CaseOpened")])
    with pytest.raises(RetentionClassError, match="unknown retention class 'forever'"):
        ledger.append([request("K", "RetentionClassSet", data={"retention_class": "forever"})])
    with pytest.raises(RetentionClassError):
        ledger.append([request("K2", "CaseOpened", data={
            "order_ref": "o", "merchant_id": "m", "reason": "other",
            "retention_class": "location"})])


# -- the certificate, tampered ------------------------------------------------------------------

@pytest.fixture
def certificate(ledger: Ledger, tmp_path: Path) -> Path:
    _build(ledger)
    apply(ledger, current_plan(ledger, datetime.now(UTC) + LATER), "ret-cert")
    path = tmp_path / "c.jsonl"
    with path.open("wb") as fh:
        write_certificate(fh, ledger.store, ledger.key, ledger.sign_checkpoint(), "ret-cert", {})
    return path


def test_certificate_changes_are_found(certificate: Path, ledger: Ledger) -> None:
    key = ledger.key.verifier_key
    lines = certificate.read_bytes().splitlines(keepends=True)

    def check(new_lines: list[bytes], expect: str) -> None:
        certificate.write_bytes(b"".join(new_lines))
        report = verify_certificate(certificate, key)
        assert not report.ok
        assert any(expect in p for p in report.problems), report.problems

    item = orjson.loads(lines[1])
    changed = dict(item["item"], case="SOMEONE-ELSE")
    check([lines[0], orjson.dumps({"item": changed}) + b"\n", *lines[2:]], "item says case")
    check([lines[0], *lines[2:]], "summary says")  # an item removed
    flipped = lines[1].replace(b'"proof":["', b'"proof":["0', 1).replace(b'","', b'",', 0)
    proof = orjson.loads(lines[1])["item"]
    proof["proof"][0] = "00" * 32
    check([lines[0], orjson.dumps({"item": proof}) + b"\n", *lines[2:]], "not in the log")
    check(lines[:-1], "cut short")
    assert flipped  # (a raw byte flip is covered by the signature check below)
    raw = bytearray(b"".join(lines))
    raw[len(lines[0]) + 40] ^= 1
    certificate.write_bytes(bytes(raw))
    report = verify_certificate(certificate, key)
    assert not report.ok
    other = LogKey.generate("test.example/log")
    certificate.write_bytes(b"".join(lines))
    report = verify_certificate(certificate, other.verifier_key)
    assert not report.ok and any("another key" in p or "checkpoint" in p
                                 for p in report.problems)
    assert verify_certificate(certificate, key).ok


# -- the command line ---------------------------------------------------------------------------

def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEMOIN_DATABASE_URL": settings.database_url,
           "TEMOIN_DATA_DIR": str(settings.data_dir), "TEMOIN_LOG_ORIGIN": settings.origin}
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_commands(ledger: Ledger, settings: Settings, tmp_path: Path) -> None:
    files = _build(ledger)
    later = (datetime.now(UTC) + LATER).strftime("%Y-%m-%dT%H:%M:%SZ")
    due = _run(settings, "retention", "due", "--as-of", later)
    assert due.returncode == 0, due.stderr
    assert "due: shop-1/DUE-A: class contract" in due.stdout
    assert "held: shop-1/HELD" in due.stdout and "TJ-1" in due.stdout
    assert "3 due, 1 held" in due.stdout
    size = ledger.tree_size()
    dry = _run(settings, "retention", "apply", "--dry-run", "--as-of", later)
    assert dry.returncode == 0 and "nothing changed" in dry.stdout
    assert ledger.tree_size() == size and ledger.files.exists(files["own"])
    out = tmp_path / "certs"
    done = _run(settings, "retention", "apply", "--as-of", later, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "3 cases erased, 2 evidence files deleted" in done.stdout
    [cert] = out.glob("*.destruction.jsonl")
    assert (out / cert.name.replace(".jsonl", ".pdf")).read_bytes().startswith(b"%PDF")
    ok = _run(settings, "verify", str(cert), "--key", ledger.key.verifier_key)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "is intact and signed" in ok.stdout
    raw = bytearray(cert.read_bytes())
    raw[-200] ^= 1
    cert.write_bytes(bytes(raw))
    bad = _run(settings, "verify", str(cert), "--key", ledger.key.verifier_key)
    assert bad.returncode == 1 and "VERDICT: FAILED" in bad.stdout
    for args in (["retention", "due", "--as-of", "soon"], ["retention", "certificate"]):
        wrong = _run(settings, *args)
        assert wrong.returncode == 2, (args, wrong.stdout, wrong.stderr)
        assert "Traceback" not in wrong.stderr
    again = _run(settings, "retention", "apply", "--as-of", later, "--out", str(out))
    assert again.returncode == 0 and "0 cases erased" in again.stdout


def test_holds_decided_on_the_case_as_stored_not_a_stale_copy(settings: Settings) -> None:
    first, second = Ledger(settings), Ledger(settings)
    try:
        first.append([request("S", "CaseOpened")])  # `first` now caches the case
        second.append([request("S", "LegalHoldPlaced",
                                data={"reference": "R1", "reason": "x"})])
        # `first`'s copy has no hold: naming R1 must not be refused as "no such hold".
        first.append([request("S", "PersonalDataErased", data={
            "legal_basis": "gdpr-art-17", "fields": ["customer_email"],
            "override_holds": ["R1"]})])
        second.append([request("S", "LegalHoldReleased", data={"reference": "R1"})])
        # `first` last saw R1 active: a plain erasure must not be refused for it.
        first.append([request("S", "PersonalDataErased", data={"legal_basis": "gdpr-art-17"})])
        assert first.openings(TENANT, "S") == {}
    finally:
        first.close()
        second.close()
