"""Crypto-shredding for real (issue 12 item 1), on a real SQLite file and a real PostgreSQL.

A `PersonalDataErased` entry deletes the case's sealed openings (all, or the listed fields')
and, for a whole case, its wrapped key, in the entry's own transaction; every hash and proof
stays valid; no process, even one that cached the key, can open the values afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.audit import verify_log
from ledger.config import Settings
from ledger.domain import case_uuid
from ledger.errors import CaseConflictError
from ledger.ledger import Ledger
from ledger.merkle import verify_inclusion
from tests.conftest import RawDB
from tests.helpers import request

# A case's number (the vault's key since schema version 4) from its id bound at "?".
CASE_NO = "(SELECT case_no FROM cases_cases WHERE case_id = ?)"

TENANT = "shop-1"


def _erase(ledger: Ledger, case: str, fields: list[str] | None = None, **kw: object) -> int:
    data: dict[str, object] = {"legal_basis": "gdpr-art-17"}
    if fields is not None:
        data["fields"] = fields
    return ledger.append([request(case, "PersonalDataErased", data=data, **kw)])[0].index


def _vault_rows(raw: RawDB, case: str) -> tuple[int, list[tuple[int, str]]]:
    hex_id = case_uuid(TENANT, case).hex
    keys = raw.query("SELECT count(*) FROM vault_keys WHERE case_no = "
        f"{CASE_NO}", (hex_id,))[0][0]
    openings = raw.query(
        "SELECT case_seq, field FROM vault_openings WHERE case_no = "
        f"{CASE_NO} ORDER BY case_seq, field",
        (hex_id,),
    )
    return keys, [(r[0], r[1]) for r in openings]


def _case_with_personal(ledger: Ledger, case: str) -> None:
    ledger.append([request(case, "CaseOpened"), request(case, "SmsConfirmationReceived")])


def test_whole_case_erasure_deletes_key_and_openings_in_its_transaction(
    ledger: Ledger, raw_db: RawDB
) -> None:
    _case_with_personal(ledger, "A")
    _case_with_personal(ledger, "B")
    keys, openings = _vault_rows(raw_db, "A")
    assert keys == 1 and len(openings) == 5
    assert ledger.openings(TENANT, "A")

    index = _erase(ledger, "A")

    assert _vault_rows(raw_db, "A") == (0, [])
    assert ledger.openings(TENANT, "A") == {}
    # Another case keeps its data.
    assert _vault_rows(raw_db, "B")[0] == 1 and ledger.openings(TENANT, "B")
    # Every entry of the erased case still proves against a signed checkpoint.
    cp = ledger.sign_checkpoint()
    for item in ledger.case_entries(TENANT, "A"):
        proof = ledger.inclusion_proof(item.index, cp.size)
        verify_inclusion(item.index, cp.size, item.leaf_hash, proof, cp.root)
    report = verify_log(ledger.store, ledger.key.verifier(), master=ledger.master)
    assert report.ok, report.anomalies
    assert [(e.index, e.case, e.fields) for e in report.erasures] == [(index, "A", None)]
    assert "erased on" in str(report.erasures[0]) and "commitments intact" in str(
        report.erasures[0]
    )


def test_field_erasure_deletes_only_those_fields(ledger: Ledger, raw_db: RawDB) -> None:
    _case_with_personal(ledger, "A")
    _erase(ledger, "A", ["customer_email", "phone"])
    keys, openings = _vault_rows(raw_db, "A")
    assert keys == 1
    assert openings == [(1, "customer_name"), (1, "customer_phone"), (1, "delivery_address")]
    assert set(ledger.openings(TENANT, "A")[1]) == {
        "customer_name", "customer_phone", "delivery_address"
    }
    # A field recorded again after its erasure can be erased again; the older one cannot.
    ledger.append([request("A", "SmsConfirmationReceived")])
    assert _vault_rows(raw_db, "A")[1][-1] == (4, "phone")
    _erase(ledger, "A", ["phone"])
    assert (4, "phone") not in _vault_rows(raw_db, "A")[1]
    with pytest.raises(CaseConflictError, match=r"phone was erased by the case's entry 5"):
        _erase(ledger, "A", ["phone"])
    with pytest.raises(CaseConflictError, match="reader_ip was never recorded"):
        _erase(ledger, "A", ["reader_ip"])
    assert verify_log(ledger.store, ledger.key.verifier(), master=ledger.master).ok


def test_erasing_again_or_adding_personal_data_afterwards_is_refused(ledger: Ledger) -> None:
    _case_with_personal(ledger, "A")
    _erase(ledger, "A")
    size = ledger.tree_size()
    with pytest.raises(CaseConflictError, match="already erased by its entry 3"):
        _erase(ledger, "A")
    with pytest.raises(CaseConflictError, match="takes no new personal data"):
        ledger.append([request("A", "SmsConfirmationReceived")])
    assert ledger.tree_size() == size  # nothing stored
    # Facts without personal data still go in.
    ledger.append([request("A", "CaseResolved")])


def test_erasure_in_the_same_batch_as_the_data_it_erases(ledger: Ledger, raw_db: RawDB) -> None:
    ledger.append([
        request("A", "CaseOpened"),
        request("A", "SmsConfirmationReceived"),
        request("A", "PersonalDataErased", data={"legal_basis": "gdpr-art-17"}),
    ])
    assert _vault_rows(raw_db, "A") == (0, [])
    assert verify_log(ledger.store, ledger.key.verifier(), master=ledger.master).ok


def test_a_process_that_cached_the_key_cannot_open_after_another_erased(
    settings: Settings, raw_db: RawDB
) -> None:
    first, second = Ledger(settings), Ledger(settings)
    try:
        _case_with_personal(first, "A")
        # The second process seals for the case: it now holds the unwrapped key in memory.
        second.append([request("A", "SmsConfirmationReceived")])
        assert second.openings(TENANT, "A")
        _erase(first, "A")
        assert second.openings(TENANT, "A") == {}
        # Its cached copy of the case is behind: it must learn of the erasure, not seal
        # under the destroyed key.
        with pytest.raises(CaseConflictError, match="takes no new personal data"):
            second.append([request("A", "SmsConfirmationReceived")])
        assert _vault_rows(raw_db, "A") == (0, [])
    finally:
        first.close()
        second.close()


def test_erasure_left_undone_by_an_older_release_is_reported_then_finished(
    ledger: Ledger, raw_db: RawDB, settings: Settings
) -> None:
    from scripts.cli import main

    _case_with_personal(ledger, "A")
    hex_id = case_uuid(TENANT, "A").hex
    rows = raw_db.query(
        "SELECT case_no, case_seq, field, sealed FROM vault_openings WHERE case_no = "
        f"{CASE_NO}", (hex_id,)
    )
    key = raw_db.query("SELECT case_no, wrapped FROM vault_keys WHERE case_no = "
        f"{CASE_NO}", (hex_id,))
    _erase(ledger, "A")
    # Put the rows back, as a release that only recorded erasures would have left them.
    for r in rows:
        raw_db.execute("INSERT INTO vault_openings VALUES (?, ?, ?, ?)", tuple(r))
    raw_db.execute("INSERT INTO vault_keys VALUES (?, ?)", tuple(key[0]))
    report = verify_log(ledger.store, ledger.key.verifier(), master=ledger.master)
    problems = [a.message() for a in report.anomalies]
    assert len(problems) == 6, problems
    assert all(p.startswith("case A: ") for p in problems)
    assert any("personal field phone of case_seq 2 is still in the vault although entry 2"
               in p for p in problems)
    assert any("the case key is still in the vault" in p for p in problems)

    import os

    env = {"TEMOIN_DATABASE_URL": settings.database_url, "TEMOIN_DATA_DIR": str(settings.data_dir),
           "TEMOIN_LOG_ORIGIN": settings.origin}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert main(["erasure", "finish"]) == 0
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert _vault_rows(raw_db, "A") == (0, [])
    assert verify_log(ledger.store, ledger.key.verifier(), master=ledger.master).ok


def test_sqlite_files_keep_no_copy_of_the_erased_key(tmp_path: Path) -> None:
    db = tmp_path / "temoin.db"
    settings = Settings(database_url=f"sqlite:///{db}", data_dir=tmp_path / "data",
                        origin="test.example/log")
    ledger = Ledger(settings)
    try:
        _case_with_personal(ledger, "A")
        raw = RawDB(settings.database_url)
        hex_id = case_uuid(TENANT, "A").hex
        wrapped = bytes(raw.query("SELECT wrapped FROM vault_keys WHERE case_no = "
        f"{CASE_NO}",
                                  (hex_id,))[0][0])
        sealed = [bytes(r[0]) for r in raw.query(
            "SELECT sealed FROM vault_openings WHERE case_no = "
        f"{CASE_NO}", (hex_id,))]
        files = [db, db.with_name(db.name + "-wal")]
        assert any(wrapped in f.read_bytes() for f in files if f.exists())
        _erase(ledger, "A")
        for f in files:
            if f.exists():
                content = f.read_bytes()
                assert wrapped not in content, f"{f.name} still holds the wrapped key"
                for s in sealed:
                    assert s[12:40] not in content, f"{f.name} still holds a sealed opening"
    finally:
        ledger.close()


def test_report_shows_each_erased_field_as_erased_not_ok_not_ko(ledger: Ledger) -> None:
    from projections.report import integrity_report

    _case_with_personal(ledger, "A")
    index = _erase(ledger, "A", ["customer_email", "phone"])
    report = integrity_report(ledger, TENANT, "A")
    assert report is not None
    personal = {(c["place"], c["name"]): c for c in report["checks"] if c["section"] == "personal"}
    erased = [c for c in personal.values() if c["status"] == "ERASED"]
    assert sorted(c["name"] for c in erased) == [
        "personal field customer_email", "personal field phone"
    ]
    for check in erased:
        assert check["found"].startswith("erased on 20")
        assert check["found"].endswith(f"by entry {index}, commitment intact")
    assert sum(c["status"] == "OK" for c in personal.values()) == 3
    assert report["summary"]["erased"] == 2 and report["summary"]["ko"] == 0
    assert report["verdict"] != "KO"
