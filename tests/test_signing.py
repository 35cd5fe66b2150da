"""Signed notes, checkpoints signatures and the log key file (ledger.signing)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger.checkpoint import Checkpoint, CheckpointError, MalformedCheckpointError
from ledger.signing import (
    BadSignatureError,
    InvalidKeyError,
    KeyFileError,
    KeyFileExistsError,
    KeyMismatchError,
    LogKey,
    MalformedNoteError,
    OriginMismatchError,
    UnknownKeyError,
    Verifier,
    compute_key_id,
    sign_checkpoint,
    verify_checkpoint,
)

ORIGIN = "example.com/log"
EM = "\u2014"

# ---------------------------------------------------------------------------- golden
# These strings were produced by Go's reference implementation, not by our code:
# tests/interop/main.go built with go1.19.8 against golang.org/x/mod v0.7.0
# (Debian bookworm golang-go + golang-golang-x-mod-dev), then
#   echo '{"name":"example.com/log","seed":"000102…1e1f"}' | temoin-interop keygen
#     (note.GenerateKey reading the seed from a fixed reader)
#   echo '{"skey":GOLDEN_SKEY,"body":GOLDEN_BODY}' | temoin-interop note-sign
#     (note.NewSigner + note.Sign)
# tests/test_interop_go.py re-derives them from Go on every run where Go exists.
GOLDEN_SEED = bytes(range(32))
GOLDEN_SKEY = "PRIVATE+KEY+example.com/log+d455c521+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
GOLDEN_VKEY = "example.com/log+d455c521+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
GOLDEN_ROOT = bytes.fromhex("36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1")
GOLDEN_BODY = b"example.com/log\n3\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=\n"
GOLDEN_NOTE = (
    GOLDEN_BODY
    + b"\n"
    + "\u2014 example.com/log 1FXFIXbjy2maCv/qB1W+r5xbB25L6Sx8lPHbMuT8gO3bHNoqfRUmmtQSHZ2gqFg"
    "+2tvpWg7vi9qhq6D5c5uiQfTaPAU=\n".encode()
)

# The worked example in the package documentation of golang.org/x/mod/sumdb/note
# (note.go, "Example" section), copied verbatim: a second, independent vector.
DOC_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
DOC_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
DOC_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
DOC_NOTE = (
    DOC_TEXT
    + b"\n"
    + "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKv"
    "qfqdngotpRZb6KE6RyyBwJnAM=\n".encode()
)


def golden_key() -> LogKey:
    return LogKey(ORIGIN, GOLDEN_SEED)


def test_golden_fixed_seed_matches_go() -> None:
    key = golden_key()
    assert key.verifier_key == GOLDEN_VKEY
    assert key.signer_key() == GOLDEN_SKEY
    assert key.key_id == bytes.fromhex("d455c521")
    assert sign_checkpoint(key, Checkpoint(ORIGIN, 3, GOLDEN_ROOT)) == GOLDEN_NOTE


def test_golden_note_verifies() -> None:
    cp = verify_checkpoint(GOLDEN_NOTE, Verifier.parse(GOLDEN_VKEY))
    assert cp == Checkpoint(ORIGIN, 3, GOLDEN_ROOT)


def test_go_documentation_example() -> None:
    key = LogKey.from_signer_key(DOC_SKEY)
    assert key.verifier_key == DOC_VKEY
    assert key.sign_note(DOC_TEXT) == DOC_NOTE
    assert Verifier.parse(DOC_VKEY).verify_note(DOC_NOTE) == DOC_TEXT


def test_key_id_formula() -> None:
    key = golden_key()
    expected = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + key.public_key).digest()[:4]
    assert key.key_id == expected == compute_key_id(ORIGIN, key.public_key)
    assert len(key.public_key) == 32


def test_note_layout() -> None:
    note = golden_key().sign_note(GOLDEN_BODY)
    assert note.startswith(GOLDEN_BODY + b"\n" + EM.encode() + b" example.com/log ")
    assert note.endswith(b"\n") and note.count(b"\n") == 5
    sig = base64.b64decode(note.split(b" ")[-1].rstrip(b"\n"), validate=True)
    assert len(sig) == 68 and sig[:4] == golden_key().key_id


# ---------------------------------------------------------------------------- round trips


def test_generated_keys_differ_and_round_trip() -> None:
    a, b = LogKey.generate(ORIGIN), LogKey.generate(ORIGIN)
    assert a.public_key != b.public_key
    cp = Checkpoint(ORIGIN, 10, hashlib.sha256(b"x").digest())
    assert verify_checkpoint(sign_checkpoint(a, cp), a.verifier()) == cp


def test_verifier_string_round_trip() -> None:
    v = Verifier.parse(GOLDEN_VKEY)
    assert str(v) == GOLDEN_VKEY
    assert (v.name, v.key_id, v.public_key) == (
        ORIGIN,
        golden_key().key_id,
        golden_key().public_key,
    )
    assert v == golden_key().verifier() and hash(v) == hash(golden_key().verifier())


def test_signer_key_round_trip() -> None:
    key = LogKey.from_signer_key(GOLDEN_SKEY)
    assert key.public_key == golden_key().public_key


def test_repr_has_no_secret() -> None:
    text = repr(golden_key())
    assert "d455c521" in text
    assert base64.b64encode(b"\x01" + GOLDEN_SEED).decode() not in text
    assert GOLDEN_SEED.hex() not in text


@pytest.mark.parametrize(
    "text",
    [b"a\n", b"a\n\nb\n", b"ends with blank\n\n", b"\n", "unicod\u00e9 \u2014 ok\n".encode()],
)
def test_note_text_with_blank_lines_round_trips(text: bytes) -> None:
    # The last blank line separates text and signatures, so texts may contain
    # (or end with) blank lines.
    key = golden_key()
    assert key.verifier().verify_note(key.sign_note(text)) == text


def test_unknown_signatures_are_ignored() -> None:
    key, other = golden_key(), LogKey.generate("witness.example/w1")
    note = golden_key().sign_note(GOLDEN_BODY)
    their_line = other.sign_note(GOLDEN_BODY).split(b"\n\n")[1]
    mine = note.split(b"\n\n")[1]
    for block in (their_line + mine, mine + their_line):
        both = GOLDEN_BODY + b"\n" + block
        assert verify_checkpoint(both, key.verifier()).size == 3
        assert verify_checkpoint(both, other.verifier(), origin=ORIGIN).size == 3


def test_hundred_signatures_accepted() -> None:
    note = golden_key().sign_note(GOLDEN_BODY)
    junk = f"{EM} other.example/k {base64.b64encode(b'1234' + bytes(64)).decode()}\n".encode()
    assert verify_checkpoint(note + junk * 99, golden_key().verifier()).size == 3
    with pytest.raises(MalformedNoteError, match="at most 100"):
        verify_checkpoint(note + junk * 100, golden_key().verifier())


# ---------------------------------------------------------------------------- rejections


def _flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


def _sig_line(note: bytes) -> tuple[bytes, bytes]:
    """(everything before the base64 of the last signature, that base64 decoded)."""
    head, _, b64 = note.rstrip(b"\n").rpartition(b" ")
    return head + b" ", base64.b64decode(b64, validate=True)


def _with_sig(note: bytes, raw_sig: bytes) -> bytes:
    head, _ = _sig_line(note)
    return head + base64.b64encode(raw_sig) + b"\n"


def tamper_sig_byte(note: bytes) -> bytes:
    _, sig = _sig_line(note)
    return _with_sig(note, _flip(sig, 30))


def tamper_sig_last_byte(note: bytes) -> bytes:
    _, sig = _sig_line(note)
    return _with_sig(note, _flip(sig, len(sig) - 1, 0x80))


def tamper_key_id(note: bytes) -> bytes:
    _, sig = _sig_line(note)
    return _with_sig(note, _flip(sig, 0))


def tamper_sig_truncated_63(note: bytes) -> bytes:
    _, sig = _sig_line(note)
    return _with_sig(note, sig[:-1])


def tamper_sig_4_bytes(note: bytes) -> bytes:
    _, sig = _sig_line(note)
    return _with_sig(note, sig[:4])


def tamper_body_size(note: bytes) -> bytes:
    return note.replace(b"\n3\n", b"\n4\n", 1)


def tamper_body_root(note: bytes) -> bytes:
    return note.replace(b"NmQuc8", b"NmQuc9", 1)


def tamper_body_origin(note: bytes) -> bytes:
    return note.replace(b"example.com/log\n", b"example.com/loh\n", 1)


def tamper_duplicate_bad_line(note: bytes) -> bytes:
    return note + tamper_sig_byte(note).split(b"\n\n")[1]


REJECTIONS: dict[str, tuple[Callable[[bytes], bytes], type[CheckpointError]]] = {
    "flipped signature byte": (tamper_sig_byte, BadSignatureError),
    "flipped last signature bit": (tamper_sig_last_byte, BadSignatureError),
    "flipped body byte (size)": (tamper_body_size, BadSignatureError),
    "flipped body byte (root)": (tamper_body_root, BadSignatureError),
    "flipped body byte (origin)": (tamper_body_origin, BadSignatureError),
    "second, bad line by the same key": (tamper_duplicate_bad_line, BadSignatureError),
    "63-byte signature": (tamper_sig_truncated_63, BadSignatureError),
    "flipped key id": (tamper_key_id, UnknownKeyError),
    "signature too short": (tamper_sig_4_bytes, MalformedNoteError),
    "missing final newline": (lambda n: n[:-1], MalformedNoteError),
    "extra final newline": (lambda n: n + b"\n", MalformedNoteError),
    "no blank line": (lambda n: n.replace(b"\n\n", b"\n"), MalformedNoteError),
    # The text then gains a blank line, so the signature no longer matches it.
    "two blank lines": (lambda n: n.replace(b"\n\n", b"\n\n\n"), BadSignatureError),
    "no signature": (lambda n: n.split(b"\n\n")[0] + b"\n\n", MalformedNoteError),
    "body only": (lambda n: n.split(b"\n\n")[0] + b"\n", MalformedNoteError),
    "crlf line endings": (lambda n: n.replace(b"\n", b"\r\n"), MalformedNoteError),
    "crlf body only": (
        lambda n: n.replace(b"\n\n", b"\r\n\n").replace(b"log\n3\n", b"log\r\n3\r\n"),
        MalformedNoteError,
    ),
    "non-utf8 byte": (lambda n: n.replace(b"example.com", b"exa\xffle.com", 1), MalformedNoteError),
    "utf8 surrogate": (lambda n: n.replace(b"example", b"exa\xed\xa0\x80e", 1), MalformedNoteError),
    "nul byte": (lambda n: n.replace(b"/log\n", b"/log\x00\n", 1), MalformedNoteError),
    "tab in body": (lambda n: n.replace(b"/log\n", b"/log\t\n", 1), MalformedNoteError),
    "hyphens instead of em dash": (
        lambda n: n.replace(EM.encode(), b"--"),
        MalformedNoteError,
    ),
    "en dash instead of em dash": (
        lambda n: n.replace(EM.encode(), "\u2013".encode()),
        MalformedNoteError,
    ),
    "no space after em dash": (
        lambda n: n.replace(EM.encode() + b" ", EM.encode()),
        MalformedNoteError,
    ),
    "bad base64 character": (lambda n: n.replace(b"1FXF", b"1F*F"), MalformedNoteError),
    "base64 missing padding": (lambda n: n[:-2] + b"\n", MalformedNoteError),
    "base64 urlsafe": (lambda n: n.replace(b"W+r5", b"W-r5"), MalformedNoteError),
    "empty signature": (
        lambda n: n.split(b"\n\n")[0] + b"\n\n" + EM.encode() + b" example.com/log \n",
        MalformedNoteError,
    ),
    "no name": (
        lambda n: n.replace(EM.encode() + b" example.com/log ", EM.encode() + b"  "),
        MalformedNoteError,
    ),
    "name with plus": (
        lambda n: n.replace(b" example.com/log ", b" example.com+log "),
        MalformedNoteError,
    ),
    "trailing space on signature line": (lambda n: n[:-1] + b" \n", MalformedNoteError),
    "empty note": (lambda n: b"", MalformedNoteError),
    "blank lines only": (lambda n: b"\n\n", MalformedNoteError),
}


@pytest.mark.parametrize(("tamper", "error"), REJECTIONS.values(), ids=list(REJECTIONS.keys()))
def test_rejections(tamper: Callable[[bytes], bytes], error: type[CheckpointError]) -> None:
    note = tamper(GOLDEN_NOTE)
    assert note != GOLDEN_NOTE
    with pytest.raises(error) as info:
        verify_checkpoint(note, Verifier.parse(GOLDEN_VKEY))
    # Exactly the announced class, not a sibling that happens to subclass it.
    assert type(info.value) is error
    assert "expected" in str(info.value) and "found" in str(info.value)


def test_wrong_key_with_same_name() -> None:
    impostor = LogKey.generate(ORIGIN)
    assert impostor.key_id != golden_key().key_id
    note = sign_checkpoint(impostor, Checkpoint(ORIGIN, 3, GOLDEN_ROOT))
    with pytest.raises(UnknownKeyError) as info:
        verify_checkpoint(note, golden_key().verifier())
    assert isinstance(info.value, KeyMismatchError)
    message = str(info.value)
    assert "example.com/log+d455c521" in message  # want
    assert f"example.com/log+{impostor.key_id.hex()}" in message  # got
    assert "same name" in message


def test_forged_key_id_with_impostor_key() -> None:
    # An attacker can put our key id on their own signature: it is then
    # "our" line, and it must fail as a bad signature, not be skipped.
    impostor = LogKey.generate(ORIGIN)
    forged = impostor.sign_note(GOLDEN_BODY)
    _, sig = _sig_line(forged)
    with pytest.raises(BadSignatureError):
        verify_checkpoint(_with_sig(forged, golden_key().key_id + sig[4:]), golden_key().verifier())


def test_note_by_another_log() -> None:
    other = LogKey(ORIGIN.replace("log", "other"), GOLDEN_SEED)  # same key, other name
    note = sign_checkpoint(other, Checkpoint(other.name, 3, GOLDEN_ROOT))
    with pytest.raises(UnknownKeyError, match=re.escape("example.com/other")):
        verify_checkpoint(note, golden_key().verifier())


def test_origin_mismatch() -> None:
    with pytest.raises(OriginMismatchError, match=r"expected origin 'example.org/x'"):
        verify_checkpoint(GOLDEN_NOTE, golden_key().verifier(), origin="example.org/x")


def test_origin_defaults_to_key_name() -> None:
    # A note whose key name differs from the checkpoint origin.
    key = LogKey("witness.example/w", GOLDEN_SEED)
    note = key.sign_note(GOLDEN_BODY)
    with pytest.raises(OriginMismatchError, match=re.escape("witness.example/w")):
        verify_checkpoint(note, key.verifier())
    assert verify_checkpoint(note, key.verifier(), origin=ORIGIN).size == 3


def test_sign_checkpoint_refuses_foreign_origin() -> None:
    with pytest.raises(OriginMismatchError):
        sign_checkpoint(golden_key(), Checkpoint("example.org/x", 1, GOLDEN_ROOT))


@pytest.mark.parametrize(
    "body",
    [
        b"example.com/log\n03\nNmQuc8JUCrEh46a/lUWwokmCzYMOsT080Z3jzmwCHsE=\n",
        b"example.com/log\n3\n" + base64.b64encode(GOLDEN_ROOT[:31]) + b"\n",
        GOLDEN_BODY + b"extension\n",
        b"example.com/log\n3\n",
    ],
    ids=["size leading zero", "root 31 bytes", "extension line", "two lines"],
)
def test_validly_signed_but_malformed_checkpoint(body: bytes) -> None:
    note = golden_key().sign_note(body)
    assert golden_key().verifier().verify_note(note) == body
    with pytest.raises(MalformedCheckpointError):
        verify_checkpoint(note, golden_key().verifier())


def test_error_classes_are_distinct() -> None:
    classes = [
        MalformedNoteError,
        UnknownKeyError,
        BadSignatureError,
        OriginMismatchError,
        MalformedCheckpointError,
        InvalidKeyError,
        KeyFileError,
    ]
    assert len(set(classes)) == len(classes)
    for cls in classes:
        assert issubclass(cls, CheckpointError) and issubclass(cls, ValueError)
    for a in (MalformedNoteError, UnknownKeyError, BadSignatureError, OriginMismatchError):
        for b in (MalformedNoteError, UnknownKeyError, BadSignatureError, OriginMismatchError):
            assert a is b or not issubclass(a, b)


def test_verify_rejects_str() -> None:
    with pytest.raises(TypeError):
        golden_key().verifier().verify_note(GOLDEN_NOTE.decode())  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- signing input


@pytest.mark.parametrize(
    "body",
    [b"", b"no newline", b"crlf\r\n", b"tab\tx\n", b"\xff\n", b"nul\x00\n"],
    ids=["empty", "no newline", "crlf", "tab", "non-utf8", "nul"],
)
def test_sign_note_refuses_unverifiable_text(body: bytes) -> None:
    with pytest.raises(MalformedNoteError):
        golden_key().sign_note(body)


# ---------------------------------------------------------------------------- key strings


BAD_VKEYS = {
    "empty": "",
    "name only": "example.com/log",
    "two fields": "example.com/log+d455c521",
    "short id": "example.com/log+d455c52+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    "non-hex id": "example.com/log+d455c52g+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    "wrong id": "example.com/log+d455c522+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    "other name": "example.com/lag+d455c521+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    "algorithm 2": "example.com/log+d455c521+AgOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    "31-byte key": "example.com/log+d455c521+" + base64.b64encode(b"\x01" + bytes(31)).decode(),
    "no key": "example.com/log+d455c521+",
    "bad base64": "example.com/log+d455c521+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG",
    "trailing newline": GOLDEN_VKEY + "\n",
    "leading space": " " + GOLDEN_VKEY,
    "space in name": "example.com log+d455c521+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    "empty name": "+d455c521+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    "private key": GOLDEN_SKEY,
}


@pytest.mark.parametrize("vkey", BAD_VKEYS.values(), ids=BAD_VKEYS.keys())
def test_verifier_parse_rejects(vkey: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        Verifier.parse(vkey)
    assert "expected" in str(info.value)
    if vkey == GOLDEN_SKEY:
        assert "AQABAgMEBQYH" not in str(info.value)  # the secret is not echoed


def test_verifier_parse_wrong_id_message() -> None:
    with pytest.raises(InvalidKeyError, match=r"expected key id d455c521 .*found d455c522"):
        Verifier.parse(BAD_VKEYS["wrong id"])


def test_verifier_accepts_uppercase_hex_like_go() -> None:
    assert Verifier.parse(GOLDEN_VKEY.replace("d455c521", "D455C521")) == golden_key().verifier()


BAD_SKEYS = {
    "vkey": GOLDEN_VKEY,
    "wrong id": GOLDEN_SKEY.replace("d455c521", "d455c520"),
    "other name": GOLDEN_SKEY.replace("example.com/log", "example.com/lag"),
    "algorithm 2": GOLDEN_SKEY.replace("+AQAB", "+AgAB"),
    "truncated": GOLDEN_SKEY[:-4],
    "missing field": "PRIVATE+KEY+example.com/log+d455c521",
    "lowercase prefix": GOLDEN_SKEY.replace("PRIVATE+KEY", "private+key"),
}


@pytest.mark.parametrize("skey", BAD_SKEYS.values(), ids=BAD_SKEYS.keys())
def test_signer_key_rejects(skey: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        LogKey.from_signer_key(skey)
    assert "AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4" not in str(info.value)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\u3000b", "a\nb", "a\x01b"])
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(InvalidKeyError):
        LogKey(name, GOLDEN_SEED)
    with pytest.raises(InvalidKeyError):
        LogKey.generate(name)


def test_seed_length_checked() -> None:
    with pytest.raises(InvalidKeyError, match="expected 32 bytes, found 31"):
        LogKey(ORIGIN, GOLDEN_SEED[:31])


# ---------------------------------------------------------------------------- key file


@pytest.fixture
def umask_022() -> Iterator[None]:
    # A permissive umask proves the modes are set explicitly, not inherited.
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_save_writes_0600_single_line(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    golden_key().save(path)
    assert _mode(path) == 0o600
    assert path.read_text() == GOLDEN_SKEY + "\n"
    assert re.fullmatch(r"PRIVATE\+KEY\+[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*\n", path.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.key"]  # no temp file left


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    path.write_text("precious\n")
    with pytest.raises(KeyFileExistsError, match="refusing to overwrite"):
        golden_key().save(path)
    assert path.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.key"]


def test_save_refuses_dangling_symlink(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(KeyFileExistsError):
        golden_key().save(path)
    assert not (tmp_path / "elsewhere").exists()


def test_load_gives_same_key(tmp_path: Path) -> None:
    key = LogKey.generate(ORIGIN)
    key.save(tmp_path / "k")
    loaded = LogKey.load(tmp_path / "k")
    assert (loaded.name, loaded.key_id, loaded.public_key) == (key.name, key.key_id, key.public_key)
    body = Checkpoint(ORIGIN, 1, GOLDEN_ROOT).to_body()
    assert loaded.sign_note(body) == key.sign_note(body)


def test_load_go_key_file_without_newline(tmp_path: Path) -> None:
    (tmp_path / "k").write_text(GOLDEN_SKEY)
    assert LogKey.load(tmp_path / "k").verifier_key == GOLDEN_VKEY


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage\n",
        GOLDEN_SKEY.encode() + b"\n\n",
        b"\xff\xfe",
        GOLDEN_VKEY.encode(),
        b"x" * 5000,
    ],
    ids=["empty", "garbage", "two newlines", "binary", "public key", "huge"],
)
def test_load_rejects_bad_files(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "k").write_bytes(content)
    with pytest.raises(KeyFileError) as info:
        LogKey.load(tmp_path / "k")
    assert str(tmp_path / "k") in str(info.value)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LogKey.load(tmp_path / "absent")


@pytest.mark.usefixtures("umask_022")
def test_load_or_create(tmp_path: Path) -> None:
    path = tmp_path / "state" / "keys" / "log.key"
    created = LogKey.load_or_create(path, ORIGIN)
    assert created.name == ORIGIN
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    again = LogKey.load_or_create(path, ORIGIN)
    assert again.public_key == created.public_key
    assert again.verifier_key == created.verifier_key


def test_load_or_create_keeps_existing_parent_mode(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    LogKey.load_or_create(tmp_path / "log.key", ORIGIN)
    assert _mode(tmp_path) == 0o755


def test_load_or_create_other_name(tmp_path: Path) -> None:
    path = tmp_path / "log.key"
    golden_key().save(path)
    with pytest.raises(KeyMismatchError) as info:
        LogKey.load_or_create(path, "example.org/other")
    assert "'example.org/other'" in str(info.value) and "'example.com/log'" in str(info.value)
    assert path.read_text() == GOLDEN_SKEY + "\n"  # untouched


def test_load_or_create_validates_name_first(tmp_path: Path) -> None:
    with pytest.raises(InvalidKeyError):
        LogKey.load_or_create(tmp_path / "k", "bad name")
    assert not (tmp_path / "k").exists()
