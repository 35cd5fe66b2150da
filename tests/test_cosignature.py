"""C2SP cosignature/v1 and tlog-witness request bodies (ledger/cosignature.py).

Checked against the spec's formulas recomputed here, and against Go: `cosigned-open` in
tests/interop/main.go opens the note with golang.org/x/mod/sumdb/note and a cosignature/v1
verifier written in Go from the spec.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.checkpoint import Checkpoint
from ledger.cosignature import (
    CosignatureError,
    CosignatureVerifier,
    MalformedRequestError,
    WitnessKey,
    add_checkpoint_body,
    parse_add_checkpoint,
    parse_cosignature_line,
    verify_cosignature,
)
from ledger.signing import InvalidKeyError, KeyFileError, KeyFileExistsError, LogKey
from tests.interop.go_tool import run_go

SEED = bytes(range(32))
BODY = Checkpoint("test.example/log", 5, hashlib.sha256(b"root").digest()).to_body()


def test_key_id_vkey_and_signed_message_follow_the_spec() -> None:
    key = WitnessKey("w1.example/w", SEED)
    vkey = key.verifier_key
    name, id_hex, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    assert name == "w1.example/w" and raw[0] == 0x04 and len(raw) == 33
    want_id = hashlib.sha256(b"w1.example/w\n\x04" + raw[1:]).digest()[:4]
    assert id_hex == want_id.hex()

    line = key.cosign(BODY, 1_700_000_000)
    assert line.startswith("\u2014 w1.example/w ") and line.endswith("\n")
    sig = base64.b64decode(line.split(" ")[2])
    assert sig[:4] == want_id
    assert struct.unpack(">Q", sig[4:12]) == (1_700_000_000,)
    message = b"cosignature/v1\ntime 1700000000\n" + BODY
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[12:], message)  # raises if wrong


def test_verify_returns_the_time_and_refuses_any_change() -> None:
    key = WitnessKey("w1.example/w", SEED)
    line = key.cosign(BODY, 1234)
    assert verify_cosignature(line, BODY, key.verifier_key) == 1234
    assert verify_cosignature(line.rstrip("\n"), BODY, key.verifier_key) == 1234
    other_body = Checkpoint("test.example/log", 6, hashlib.sha256(b"root").digest()).to_body()
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignature(line, other_body, key.verifier_key)
    # Another time in the line: the signature covered 1234.
    name, kid, _, sig = parse_cosignature_line(line)
    forged = f"\u2014 {name} " + base64.b64encode(kid + struct.pack(">Q", 1235) + sig).decode()
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignature(forged, BODY, key.verifier_key)
    other = WitnessKey("w2.example/w", bytes(32))
    with pytest.raises(CosignatureError, match="another witness"):
        verify_cosignature(line, BODY, other.verifier_key)
    # The log's own signature line is not a cosignature (68 bytes, not 76).
    log_key = LogKey("test.example/log", SEED)
    log_line = log_key.sign_note(BODY).decode().split("\n\n")[1]
    with pytest.raises(CosignatureError, match="76 bytes"):
        verify_cosignature(log_line, BODY, key.verifier_key)


@pytest.mark.parametrize("bad, message", [
    ("", "expected '<name>"),
    ("w1+abcd", "expected '<name>"),
    (" w1+00000000+AAAA", "without spaces"),
    ("w1+zzzzzzzz+" + base64.b64encode(b"\x04" + bytes(32)).decode(), "8-hex-digit"),
    ("w1+00000000+not-base64!", "base64"),
    ("w1+00000000+" + base64.b64encode(b"\x04" + bytes(31)).decode(), "32-byte"),
    ("PRIVATE+KEY+w1+00000000+AAAA", "PRIVATE"),
])
def test_bad_witness_vkeys_are_refused_with_the_reason(bad: str, message: str) -> None:
    with pytest.raises(InvalidKeyError, match=message):
        CosignatureVerifier.parse(bad)


def test_a_log_key_is_not_a_witness_key_and_ids_are_checked() -> None:
    log_vkey = LogKey("test.example/log", SEED).verifier_key
    with pytest.raises(InvalidKeyError, match="0x04"):
        CosignatureVerifier.parse(log_vkey)
    good = WitnessKey("w1.example/w", SEED).verifier_key
    name, kid, rest = good.split("+", 2)
    wrong_id = f"{name}+{'0' * 8 if kid != '0' * 8 else '1' * 8}+{rest}"
    with pytest.raises(InvalidKeyError, match="key id"):
        CosignatureVerifier.parse(wrong_id)


def test_add_checkpoint_body_round_trip_and_strict_parsing() -> None:
    note = LogKey("test.example/log", SEED).sign_note(BODY)
    proof = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    body = add_checkpoint_body(3, proof, note)
    assert body.startswith(b"old 3\n") and b"\n\n" + note in body
    parsed = parse_add_checkpoint(body)
    assert (parsed.old_size, parsed.proof, parsed.note) == (3, proof, note)
    assert parse_add_checkpoint(add_checkpoint_body(0, [], note)).proof == []
    bad = {
        b"garbage": "no blank line",
        b"new 3\n\n" + note: "old <decimal size>",
        b"old 03\n\n" + note: "old <decimal size>",
        b"old -1\n\n" + note: "old <decimal size>",
        b"old 3\nnot base64\n\n" + note: "proof line 1",
        b"old 3\n" + base64.b64encode(b"short") + b"\n\n" + note: "proof line 1",
        b"old 0\n" + base64.b64encode(proof[0]) + b"\n\n" + note: "no lines when old is 0",
        add_checkpoint_body(3, proof * 22, note): "at most 63",
    }
    for raw, message in bad.items():
        with pytest.raises(MalformedRequestError, match=message):
            parse_add_checkpoint(raw)


def test_witness_key_file_is_private_never_overwritten_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "witness.key"
    key, created = WitnessKey.load_or_create(path, "w1.example/w")
    assert created and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again, created = WitnessKey.load_or_create(path, "ignored-name")
    assert not created and again.verifier_key == key.verifier_key
    with pytest.raises(KeyFileExistsError):
        WitnessKey.generate("w1.example/w").save(path)
    path.write_text(path.read_text().replace("+", "-", 3))
    with pytest.raises(KeyFileError, match="expected 'PRIVATE\\+KEY"):
        WitnessKey.load(path)


def test_go_opens_the_cosigned_note_with_the_log_key_and_checks_each_cosignature(
    go_tool: Path,
) -> None:
    log_key = LogKey("test.example/log", SEED)
    w1, w2 = WitnessKey("w1.example/w", bytes(32)), WitnessKey("w2.example/w", b"\x01" * 32)
    note = log_key.sign_note(BODY) + w1.cosign(BODY, 1111).encode() + w2.cosign(
        BODY, 2222).encode()
    alone = run_go(go_tool, "note-verify", {"vkey": log_key.verifier_key,
                                             "note": note.decode()})
    assert alone["ok"], alone
    both = run_go(go_tool, "cosigned-open", {
        "log_vkey": log_key.verifier_key, "note": note.decode(),
        "witness_vkeys": [w1.verifier_key, w2.verifier_key]})
    assert both["ok"], both
    assert both["verified"] == [{"name": "test.example/log", "time": 0},
                                {"name": "w1.example/w", "time": 1111},
                                {"name": "w2.example/w", "time": 2222}]
    # A cosignature over another checkpoint: Go refuses the note once it knows that key.
    other = Checkpoint("test.example/log", 6, hashlib.sha256(b"root").digest()).to_body()
    bad = log_key.sign_note(BODY) + w1.cosign(other, 1111).encode()
    refused = run_go(go_tool, "cosigned-open", {
        "log_vkey": log_key.verifier_key, "note": bad.decode(),
        "witness_vkeys": [w1.verifier_key]})
    assert not refused["ok"] and "invalid signature" in refused["error"], refused
