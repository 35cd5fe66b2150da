"""The fast pass of `temoin verify` (ledger/audit_scan.py) against the exact, serial one.

- `fast_parse` is `parse_canonical`: same value or same refusal, for every code point and for
  hostile documents; orjson's encoder is byte-identical to `canonical_bytes`'s json.dumps.
- On a clean log the fast pass (1, 2, 3 worker processes) gives the exact pass's counts and
  the roots of checkpoints whose frontier spans worker boundaries.
- On a tampered log it never accepts: the report is the exact pass's, whatever the workers.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ledger.audit import LogReport, _exact_pass, verify_log
from ledger.audit_scan import ALIGN, fast_parse, hmac_sha256_32
from ledger.canonical import CanonicalError, canonical_bytes, parse_canonical
from ledger.config import Settings
from ledger.domain import case_uuid
from ledger.ledger import Ledger
from ledger.store.migrations.v2 import node_key
from tests.conftest import RawDB
from tests.forgery import forge_event
from tests.helpers import request

# -- canonical JSON ---------------------------------------------------------------------------


def _outcome(fn: Callable[[bytes], Any], raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", fn(raw)
    except CanonicalError as exc:
        return "refused", str(exc)


def _same(raw: bytes) -> None:
    assert _outcome(fast_parse, raw) == _outcome(parse_canonical, raw), raw


def _all_code_points() -> Iterator[str]:
    chunk: list[str] = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        chunk.append(chr(cp))
        if len(chunk) == 4096:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)


def test_orjson_encodes_every_code_point_like_canonical_bytes() -> None:
    for text in _all_code_points():
        value = {"k": text, "l": [text[:7]]}
        encoded = canonical_bytes(value)
        assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == encoded
        assert fast_parse(encoded) == value


def test_every_short_escape_and_control_character() -> None:
    for cp in [*range(0x00, 0x21), 0x22, 0x2F, 0x5C, 0x7F, 0x80, 0x2028, 0x2029, 0xFEFF]:
        value = {"k": f"a{chr(cp)}b"}
        encoded = canonical_bytes(value)
        assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == encoded
        _same(encoded)


HOSTILE = [
    b'{"a":1.5}', b'{"a":1e+16}', b'{"a":1e-7}', b'{"a":-0.0}', b'{"a":1E5}', b'{"a":1e5}',
    b'{"a":[1.0]}', b'{"a":{"b":2.5e-300}}', b'{"a":0.00001}', b'{"a":100000.0}',
    b'{"a":1,"a":1}', b'{"a":1,"a":2}', b'{"b":1,"a":2}', b'{"a": 1}', b' {"a":1}',
    b'{"a":1}\n', b'{"a":"\\ud800"}', b'{"a":"\\udc00x"}', b'{"a":"\\u00e9"}',
    b'{"\xc3\xa9":1}', b'{"a":{"\xc3\xa9":1}}', b'{"a":[{"\xc3\xa9":1}]}',
    b'{"a":"\xc3\xa9"}', b'{"a":"\xed\xa0\x80"}', b'{"a":"\xff"}',
    b'{"a":123456789012345678901234567890}', b'{"a":-9223372036854775809}',
    b'{"a":18446744073709551616}', b'{"a":9223372036854775807}', b'{"a":-0}',
    b'{"a":NaN}', b'{"a":Infinity}', b'{"a":1e400}', b'[1]', b'1', b'1.5', b'"x"', b'null',
    b'{"a":"x\\/y"}', b'{"a":"\\u001f"}', b'{"a":"\\u001F"}', b'{"a":"\\b\\f\\n\\r\\t"}',
    b'{"a":true,"b":false,"c":null}', b'{"a":"e-1]"}', b'{"a":"1.5,"}', b'{"a":"x e+5}"}',
    b'{}', b'', b'{', b'\xef\xbb\xbf{"a":1}', b'{"a":"\\u0000"}',
    b'{"a":' + b"[" * 995 + b"]" * 995 + b"}", b'{"a":' + b"[" * 1100 + b"]" * 1100 + b"}",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_documents_get_parse_canonical_answer(raw: bytes) -> None:
    _same(raw)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=12,
)


@hsettings(max_examples=400, deadline=None)
@given(JSON, st.sampled_from(["canonical", "spaced", "unsorted"]))
def test_random_documents(value: Any, style: str) -> None:
    doc = {"v": value, "format": "x"}
    if style == "canonical":
        raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    elif style == "spaced":
        raw = json.dumps(doc, sort_keys=True, ensure_ascii=False)
    else:
        raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    try:
        data = raw.encode("utf-8")
    except UnicodeEncodeError:
        data = raw.encode("utf-8", "surrogatepass")
    _same(data)


@hsettings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_orjson_writes_every_float_as_the_fast_path_expects(x: float) -> None:
    # A fraction, or a signed exponent: what _FRACTION / _EXPONENT_* look for.
    text = orjson.dumps(x)
    assert b"." in text or b"e-" in text or b"e+" in text, text
    _same(b'{"a":' + text + b"}")
    _same(b'{"a":[' + text + b',1]}')


def test_hmac_spelled_out_is_hmac() -> None:
    for n in range(200):
        key, msg = os.urandom(32), os.urandom(n)
        assert hmac_sha256_32(key, msg) == hmac.digest(key, msg, "sha256")
    with pytest.raises(ValueError):
        hmac_sha256_32(b"short", b"")


# -- whole logs -------------------------------------------------------------------------------
STORY = ["CaseOpened", "RecipientNotified", "OtpVerified", "OtpFailed", "RefundIssued"]
CASES = 2100  # 10,503 entries: three worker ranges of the tree at workers=3


def _build(settings: Settings) -> Ledger:
    """Cases interleaved (round r appends event r of every case), so each case spans every
    worker's index range; checkpoints whose frontiers cross the ranges' boundaries."""
    ledger = Ledger(settings)
    ledger.sign_checkpoint()
    for r, type_ in enumerate(STORY):
        for start in range(0, CASES, 1000):
            ledger.append([request(f"C{c}", type_)
                           for c in range(start, min(start + 1000, CASES))])
        if r in (1, 2):
            ledger.sign_checkpoint()  # sizes 4200, 6300
    ledger.append([request("C1", "GoodsReturned"), request("C2", "GoodsReturned"),
                   request("C3", "GoodsReturned")])
    ledger.sign_checkpoint()  # 10,503
    return ledger


def _exact(ledger: Ledger) -> LogReport:
    store = ledger.store
    return _exact_pass(store, ledger.key.verifier(), store.tree_size(), store.checkpoints(),
                       ledger.master, None, case_uuid)


def test_fast_pass_on_a_clean_log_matches_the_exact_pass(settings: Settings) -> None:
    ledger = _build(settings)
    try:
        assert ledger.tree_size() == 10_503 > 2 * ALIGN
        exact = _exact(ledger)
        assert exact.ok, exact.anomalies
        seen: list[tuple[int, int]] = []
        for workers in (1, 2, 3):
            report = verify_log(ledger.store, ledger.key.verifier(), master=ledger.master,
                                workers=workers, progress=lambda d, t: seen.append((d, t)))
            assert report.method == "fast" and report.ok, report.anomalies
            assert (report.entries, report.nodes, report.checkpoints, report.openings) == (
                exact.entries, exact.nodes, exact.checkpoints, exact.openings)
        assert seen[-1] == (10_503, 10_503)
    finally:
        ledger.close()


def _oid(db: RawDB, hex_id: str) -> str:
    return hex_id if db.is_sqlite else str(UUID(hex_id))


def _flip_entry(db: RawDB, ledger: Ledger) -> None:
    leaf = ledger.store.leaf(7000)
    assert leaf is not None and leaf.entry is not None
    state = bytearray(leaf.entry)
    state[state.index(b'"type"') + 9] ^= 0x01
    db.execute("UPDATE cases_events SET state = ? WHERE originator_id = ? AND "
               "originator_version = ?",
               (bytes(state), _oid(db, leaf.originator_id), leaf.originator_version))


def _node(level: int, idx: int) -> Callable[[RawDB, Ledger], None]:
    def tamper(db: RawDB, ledger: Ledger) -> None:
        assert db.execute("UPDATE cases_nodes SET hash = ? WHERE key = ?",
                          (b"\x42" * 32, node_key(level, idx))) == 1
    tamper.__name__ = f"node_{level}_{idx}"
    return tamper


def _extra_node(db: RawDB, ledger: Ledger) -> None:
    db.execute("INSERT INTO cases_nodes (log_id, key, hash) VALUES (1, ?, ?)",
               (node_key(3, 999_999), b"\x01" * 32))


def _drop_leaf(db: RawDB, ledger: Ledger) -> None:
    assert db.execute("DELETE FROM cases_leaves WHERE idx = ?", (9000,)) == 1


def _drop_opening(db: RawDB, ledger: Ledger) -> None:
    db.execute("UPDATE vault_openings SET sealed = ? WHERE case_no = "
               "(SELECT case_no FROM cases_cases WHERE case_id = ?) AND case_seq = 1",
               (b"\x00" * 40, case_uuid("shop-1", "C1500").hex))


def _orphan_event(db: RawDB, ledger: Ledger) -> None:
    leaf = ledger.store.leaf(5)
    assert leaf is not None and leaf.entry is not None
    forge_event(db, _oid(db, leaf.originator_id), 99, "ledger.domain.case:RefundIssued",
                leaf.entry)


TAMPERS = [_flip_entry, _node(1, 4000), _node(5, 300), _node(12, 1), _node(13, 0),
           _extra_node, _drop_leaf, _drop_opening, _orphan_event]


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda f: f.__name__)
def test_tampered_log_gets_the_exact_report(tamper: Callable[[RawDB, Ledger], None],
                                            settings: Settings, raw_db: RawDB) -> None:
    ledger = _build(settings)
    try:
        tamper(raw_db, ledger)
        exact = _exact(ledger)
        assert not exact.ok
        for workers in (1, 2):
            report = verify_log(ledger.store, ledger.key.verifier(), master=ledger.master,
                                workers=workers)
            assert report.method == "exact"
            assert report.anomalies == exact.anomalies
            assert (report.entries, report.nodes, report.openings) == (
                exact.entries, exact.nodes, exact.openings)
    finally:
        ledger.close()



def test_a_log_that_grows_while_verified_is_verified_as_it_stood(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The verifier reads the checkpoints, then the size; appends that land after that (here:
    # 2,103 entries, enough to complete nodes up to level 11 and to add a checkpoint past the
    # size) must neither be checked nor reported as unexpected nodes.
    ledger = _build(settings)
    try:
        size = ledger.tree_size()
        checkpoints = ledger.store.checkpoints()
        ledger.append([request(f"C{c}", "GoodsReturned") for c in range(100, 2100)])
        ledger.append([request(f"N{c}", "CaseOpened") for c in range(103)])
        ledger.sign_checkpoint()
        store = ledger.store
        monkeypatch.setattr(store, "tree_size", lambda: size)
        monkeypatch.setattr(store, "checkpoints", lambda: checkpoints)
        for workers in (1, 2):
            report = verify_log(store, ledger.key.verifier(), master=ledger.master,
                                workers=workers)
            assert report.method == "fast" and report.ok, report.anomalies
            assert report.entries == size == 10_503
        exact = _exact_pass(store, ledger.key.verifier(), size, checkpoints, ledger.master,
                            None, case_uuid)
        assert exact.ok, exact.anomalies
        assert (exact.entries, exact.nodes) == (size, size - size.bit_count())
    finally:
        ledger.close()
