"""The monitor's verdicts (ledger/monitor.py), pure: every alarm kind and the quiet cases.

Trees and proofs come from the naive RFC 9162 reference (tests/merkle_reference.py), not from
the code under test; the HTTP half is tested against real servers in test_signer_state.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from ledger.checkpoint import Checkpoint
from ledger.monitor import MonitorConfigError, MonitorState, judge
from ledger.signing import LogKey
from tests.merkle_reference import mth, proof

KEY = LogKey.generate("mon.example/log")
ENTRIES = [f"entry {i}".encode() for i in range(12)]


def note(size: int, entries: Sequence[bytes] = ENTRIES, key: LogKey = KEY) -> bytes:
    return key.sign_note(Checkpoint(key.name, size, mth(entries[:size])).to_body())


def honest(m: int, n: int) -> list[bytes]:
    return proof(m, ENTRIES[:n])


def seen(size: int) -> Checkpoint:
    return Checkpoint(KEY.name, size, mth(ENTRIES[:size]))


def test_first_and_consistent_checkpoints_are_accepted() -> None:
    first = judge(None, note(5), KEY.verifier(), honest)
    assert not first.alarm and first.grew and first.line.startswith("first checkpoint size 5")
    grown = judge(seen(5), note(9), KEY.verifier(), honest)
    assert not grown.alarm and grown.grew and "size 5" in grown.line and "size 9" in grown.line
    same = judge(seen(9), note(9), KEY.verifier(), honest)
    assert not same.alarm and not same.grew
    from_empty = judge(seen(0), note(3), KEY.verifier(), honest)
    assert not from_empty.alarm  # every tree extends the empty one


def test_rollback_fork_and_bad_proof_alarm_naming_both() -> None:
    rollback = judge(seen(9), note(5), KEY.verifier(), honest)
    assert rollback.alarm and "rollback" in rollback.line
    assert f"size 9 root {mth(ENTRIES[:9]).hex()}" in rollback.line
    assert f"size 5 root {mth(ENTRIES[:5]).hex()}" in rollback.line

    forked = [*ENTRIES[:3], b"rewritten", *ENTRIES[4:]]
    same_size = judge(seen(9), note(9, forked), KEY.verifier(), honest)
    assert same_size.alarm and "same size, other root" in same_size.line

    # A grown fork: the server's proof (from its forked tree) cannot link the two roots.
    grown = judge(seen(6), note(11, forked), KEY.verifier(), lambda m, n: proof(m, forked[:n]))
    assert grown.alarm and "consistency proof between them fails" in grown.line
    assert f"size 6 root {mth(ENTRIES[:6]).hex()}" in grown.line

    def refuses(m: int, n: int) -> list[bytes]:
        raise ValueError("to 11 is beyond the tree")

    assert judge(seen(6), note(11), KEY.verifier(), refuses).alarm


def test_bad_signature_alarms_once_a_checkpoint_was_seen() -> None:
    other = LogKey.generate("mon.example/log")
    assert judge(seen(5), note(6, key=other), KEY.verifier(), honest).alarm
    altered = note(6).replace(b"\n6\n", b"\n7\n")
    verdict = judge(seen(5), altered, KEY.verifier(), honest)
    assert verdict.alarm and "bad signature" in verdict.line
    # On the first run a key that does not match is a configuration error (exit 2).
    with pytest.raises(MonitorConfigError, match="check --key"):
        judge(None, note(6, key=other), KEY.verifier(), honest)


def test_state_folder_keeps_the_note_and_refuses_another_logs(tmp_path: Path) -> None:
    state = MonitorState(tmp_path / "mon", KEY.verifier())
    assert state.load() is None
    state.save(note(4))
    assert state.load() == seen(4)
    assert (tmp_path / "mon" / "checkpoint").stat().st_mode & 0o777 == 0o600
    other = LogKey.generate("mon.example/log")
    with pytest.raises(MonitorConfigError, match="another --state folder"):
        MonitorState(tmp_path / "mon", other.verifier()).load()
