"""Tampering behind the ledger's back: `temoin verify` must fail and name the exact place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.checkpoint import Checkpoint
from ledger.config import Settings
from ledger.domain import case_uuid
from ledger.ledger import Ledger
from ledger.signing import LogKey, sign_checkpoint
from ledger.store.migrations.v2 import node_key
from scripts.cli import main
from tests.conftest import RawDB
from tests.forgery import forge_event
from tests.helpers import request

TENANT = "shop-1"


def _build(settings: Settings) -> None:
    """A small log: 3 cases, 12 entries, checkpoints at sizes 0, 5 and 12."""
    ledger = Ledger(settings)
    try:
        ledger.sign_checkpoint()
        ledger.append([request(c, "CaseOpened") for c in ("A", "B", "C")])
        ledger.append([request("A", "OtpVerified"), request("B", "OtpFailed")])
        ledger.sign_checkpoint()
        for i in range(7):
            ledger.append([request("ABC"[i % 3], "RecipientNotified")])
        ledger.sign_checkpoint()
    finally:
        ledger.close()


def _verify(settings: Settings, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    monkeypatch.setenv("TEMOIN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TEMOIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TEMOIN_LOG_ORIGIN", settings.origin)
    code = main(["verify"])
    out = capsys.readouterr().out.splitlines()
    return code, out


def _event_key(case: str, seq: int) -> tuple[str, int]:
    return case_uuid(TENANT, case).hex, seq


def _state(db: RawDB, case: str, seq: int) -> bytes:
    rows = db.query(
        "SELECT state FROM cases_events WHERE originator_id = ? AND originator_version = ?",
        _event_key(case, seq),
    )
    return bytes(rows[0][0])


def _set_state(db: RawDB, case: str, seq: int, state: bytes) -> None:
    n = db.execute(
        "UPDATE cases_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
        (state, *_event_key(case, seq)),
    )
    assert n == 1


def flip_entry_byte(db: RawDB, settings: Settings) -> list[str]:
    # A's second entry is index 3 (A, B, C opened first).
    state = bytearray(_state(db, "A", 2))
    state[state.index(b"challenge_id") + 20] ^= 0x01
    _set_state(db, "A", 2, bytes(state))
    return ["index 3:"]


def change_node(db: RawDB, settings: Settings) -> list[str]:
    assert db.execute("UPDATE cases_nodes SET hash = ? WHERE key = ?",
                      (b"\x42" * 32, node_key(2, 1))) == 1
    return ["node 2/1:"]


def delete_entry(db: RawDB, settings: Settings) -> list[str]:
    n = db.execute("DELETE FROM cases_events WHERE originator_id = ? AND originator_version = ?",
                   _event_key("B", 2))
    assert n == 1
    return ["index 4:"]


def swap_entries(db: RawDB, settings: Settings) -> list[str]:
    # C's 1st entry is index 2, C's 2nd entry is index 7 (5 + the 3rd appended, i=2).
    first, second = _state(db, "C", 1), _state(db, "C", 2)
    _set_state(db, "C", 1, second)
    _set_state(db, "C", 2, first)
    return ["index 2:", "index 7:"]


def insert_forged_entry(db: RawDB, settings: Settings) -> list[str]:
    genuine = _state(db, "B", 1)
    forged = genuine.replace(b'"case_seq":1', b'"case_seq":9')
    oid, version = _event_key("B", 9)
    forge_event(db, oid, version, "ledger.domain.case:RefundIssued", forged)
    return ["case B:"]


def replace_checkpoint_root(db: RawDB, settings: Settings) -> list[str]:
    assert db.execute("UPDATE cases_checkpoints SET root = ? WHERE size = 5",
                      (b"\x00" * 32,)) == 1
    return ["checkpoint size 5:"]


def forge_checkpoint_note(db: RawDB, settings: Settings) -> list[str]:
    note = db.query("SELECT note FROM cases_checkpoints WHERE size = 12")[0][0]
    lines = note.split("\n")
    lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    db.execute("UPDATE cases_checkpoints SET note = ? WHERE size = 12", ("\n".join(lines),))
    return ["checkpoint size 12:"]


def resign_checkpoint(db: RawDB, settings: Settings) -> list[str]:
    root = bytes(db.query("SELECT root FROM cases_checkpoints WHERE size = 12")[0][0])
    other = LogKey.generate(settings.origin)
    note = sign_checkpoint(other, Checkpoint(settings.origin, 12, root))
    db.execute("UPDATE cases_checkpoints SET note = ? WHERE size = 12", (note.decode(),))
    return ["checkpoint size 12:"]


TAMPERS: list[Callable[[RawDB, Settings], list[str]]] = [
    flip_entry_byte,
    change_node,
    delete_entry,
    swap_entries,
    insert_forged_entry,
    replace_checkpoint_root,
    forge_checkpoint_note,
    resign_checkpoint,
]


def test_untouched_log_verifies(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    _build(settings)
    code, out = _verify(settings, monkeypatch, capsys)
    assert code == 0, out
    assert out[-1].startswith("OK: 12 entries")


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda f: f.__name__)
def test_tampering_is_found_at_its_place(
    tamper: Callable[[RawDB, Settings], list[str]],
    settings: Settings,
    raw_db: RawDB,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _build(settings)
    places = tamper(raw_db, settings)
    code, out = _verify(settings, monkeypatch, capsys)
    assert code == 1
    anomalies = out[:-1]
    assert out[-1].startswith("FAILED")
    for place in places:
        assert any(line.startswith(place) for line in anomalies), (place, anomalies)
    # Nothing is blamed on a place that was not touched (only the named ones, plus the
    # chain/case lines that a moved entry necessarily breaks).
    allowed = (*places, "case ")
    assert all(line.startswith(allowed) for line in anomalies), anomalies


def test_tampered_vault_opening_is_found(settings: Settings, raw_db: RawDB,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    _build(settings)
    # Re-seal case A's name opening with another value under A's own key: the AEAD tag is
    # valid, only the commitment check can notice.
    ledger = Ledger(settings)
    try:
        hex_id = case_uuid(TENANT, "A").hex
        key = ledger.master.unwrap(hex_id, ledger.store.case_key(hex_id))  # type: ignore[arg-type]
        opening = ledger.openings(TENANT, "A")[1]["customer_name"]
        from ledger.vault import Opening

        forged = key.seal_opening(1, "customer_name", Opening("Someone Else", opening.salt))
    finally:
        ledger.close()
    raw_db.execute(
        "UPDATE vault_openings SET sealed = ? WHERE case_no = "
        "(SELECT case_no FROM cases_cases WHERE case_id = ?) AND case_seq = 1 "
        "AND field = 'customer_name'",
        (forged, hex_id),
    )
    code, out = _verify(settings, monkeypatch, capsys)
    assert code == 1
    assert any(line.startswith("case A: customer_name at case_seq 1") for line in out), out
