"""A corpus of hostile requests (docs/RELIABILITY.md, "Hostile input"), kept as data.

Each `Bad` request names its category, the status the contract gives it (API.md "Strict
input") and a keyword that the problem's `detail` or `errors` must contain, so that a client
(or a person reading a log) learns what was wrong, not just that something was. Every request
of the corpus would be appended (or answered 2xx) if the check it targets were missing: event
bodies go to a case that exists (`{case}`, opened by the test), so a wrongly accepted event is
a 201 the test sees, not a 404 that hides it.

Bodies are built lazily (`body()`): the multi-megabyte ones are made only when sent.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

MIB = 2**20
JSON = "application/json"

Body = bytes | Iterator[bytes] | None


@dataclass(frozen=True)
class Bad:
    id: str
    category: str
    path: str  # "{case}" is the opened case of the test
    status: int
    keyword: str  # in detail or errors (case-insensitive)
    make: Callable[[], Body] = field(default=lambda: None, repr=False)
    method: str = "POST"
    content_type: str | None = JSON
    headers: tuple[tuple[str, bytes], ...] = ()

    def body(self) -> Body:
        return self.make()


def _otp(**data: Any) -> dict[str, Any]:
    return {
        "type": "OtpFailed", "occurred_at": "2025-03-04T19:41:27Z",
        "data": {"challenge_id": "otp-1", "channel": "sms", "attempt": 1, "reason": "wrong_code",
                 **data},
        "personal": {}, "evidence": [],
    }


def _gps(**data: Any) -> dict[str, Any]:
    return {
        "type": "GpsScanRecorded", "occurred_at": "2025-02-26T14:04:58Z",
        "data": {"parcel_id": "6A1", "carrier": "colissimo", "latitude": "45.7578137",
                 "longitude": "4.8320114", "accuracy_m": 12, "scan_code": "LIV", **data},
    }


def _photo(sha256: str, evidence_sha256: str | None = None) -> dict[str, Any]:
    return {
        "type": "DeliveryPhotoTaken", "occurred_at": "2025-02-26T14:05:11Z",
        "data": {"parcel_id": "6A1", "carrier": "colissimo", "photo_sha256": sha256},
        "evidence": [{"sha256": evidence_sha256 or sha256, "role": "delivery_photo"}],
    }


def _j(value: Any) -> Callable[[], bytes]:
    return lambda: json.dumps(value).encode("utf-8")


def _raw(text: str | bytes) -> Callable[[], bytes]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return lambda: data


def _otp_raw(old: str, new: str) -> Callable[[], bytes]:
    """A valid OtpFailed body with one piece of its JSON text replaced."""
    text = json.dumps(_otp())
    assert old in text, old
    return _raw(text.replace(old, new, 1))


def _batch(*events: dict[str, Any]) -> Callable[[], bytes]:
    return _j({"events": list(events)})


def _in_batch(event: dict[str, Any], case: str = "HOSTILE-1") -> dict[str, Any]:
    return {"case": case, **event}


def _streamed(size: int) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        chunk = b"x" * MIB
        sent = 0
        while sent < size:
            yield chunk
            sent += len(chunk)
    return chunks


FUTURE = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
HEX = "ab" * 32
EV = "/v1/cases/{case}/events"
BATCH = "/v1/batches"
KEYS = "/v1/keys"
EVIDENCE = "/v1/evidence"


def _corpus() -> list[Bad]:
    c: list[Bad] = []

    def add(id_: str, category: str, path: str, status: int, keyword: str,
            make: Callable[[], Body] = lambda: None, **kw: Any) -> None:
        c.append(Bad(id_, category, path, status, keyword, make, **kw))

    # -- malformed and truncated JSON: 400 ---------------------------------------------------
    cat = "malformed JSON"
    for id_, text in [
        ("truncated-object", '{"type": "OtpFailed", '), ("truncated-string", '{"type": "OtpF'),
        ("truncated-after-colon", '{"type":'), ("truncated-array", '{"evidence": [1, 2'),
        ("trailing-garbage", '{"type": "OtpFailed"} x'), ("two-documents", "{}{}"),
        ("single-quotes", "{'type': 'OtpFailed'}"), ("unquoted-keys", '{type: "OtpFailed"}'),
        ("trailing-comma-object", '{"type": "OtpFailed",}'),
        ("trailing-comma-array", '{"evidence": [],}'), ("comment", '// hi\n{"type": "x"}'),
        ("empty", ""), ("whitespace-only", "  \n\t "), ("bad-escape", '{"type": "\\x41"}'),
        ("raw-newline-in-string", '{"type": "Otp\nFailed"}'), ("hex-number", '{"a": 0x10}'),
        ("leading-zero", '{"a": 012}'), ("plus-sign", '{"a": +1}'),
        ("lowercase-nan", '{"a": nan}'), ("python-none", '{"a": None}'),
    ]:
        add(id_, cat, EV, 400, "malformed JSON", _raw(text))
    add("bom", cat, EV, 400, "malformed JSON", _raw(b"\xef\xbb\xbf{}"))
    add("utf16-body", cat, EV, 400, "malformed JSON", _raw('{"type": "x"}'.encode("utf-16-le")))
    add("batch-truncated", cat, BATCH, 400, "malformed JSON", _raw('{"events": [{"case": '))
    add("keys-truncated", cat, KEYS, 400, "malformed JSON", _raw('{"role": "aud'))

    # -- invalid UTF-8 (400) and lone surrogates (422) ----------------------------------------
    cat = "invalid UTF-8, lone surrogates"
    for id_, raw in [
        ("byte-ff", b'{"type": "\xff"}'), ("overlong-slash", b'{"type": "\xc0\xaf"}'),
        ("truncated-multibyte", b'{"type": "\xe2\x82"}'),
        ("latin1-e-acute", b'{"type": "caf\xe9"}'),
        ("cesu-surrogate", b'{"type": "\xed\xa0\x80"}'), ("continuation-only", b'{"a": "\x80"}'),
    ]:
        add(id_, cat, EV, 400, "UTF-8", _raw(raw))
    add("batch-bad-utf8", cat, BATCH, 400, "UTF-8", _raw(b'{"events": ["\xfe"]}'))
    add("lone-high-surrogate-value", cat, EV, 422, "surrogate",
        _otp_raw('"otp-1"', '"otp-\\ud800"'))
    add("lone-low-surrogate-value", cat, EV, 422, "surrogate",
        _otp_raw('"wrong_code"', '"\\udfff"'))
    add("lone-surrogate-key", cat, EV, 422, "unknown field", _otp_raw('"personal"', '"\\ud800"'))
    add("lone-surrogate-batch-case", cat, BATCH, 422, "case",
        _batch({**_in_batch(_otp()), "case": "A\ud800"}))

    # -- wrong types: 422 ---------------------------------------------------------------------
    cat = "wrong types"
    for id_, body, keyword in [
        ("body-array", [1, 2], "object"), ("body-null", None, "object"),
        ("body-string", "OtpFailed", "object"), ("body-number", 42, "object"),
        ("type-number", {**_otp(), "type": 42}, "type"),
        ("type-null", {**_otp(), "type": None}, "type"),
        ("data-array", {**_otp(), "data": []}, "data"),
        ("data-string", {**_otp(), "data": "x"}, "data"),
        ("occurred-at-number", {**_otp(), "occurred_at": 1700000000}, "occurred_at"),
        ("personal-string", {**_otp(), "personal": "x"}, "personal"),
        ("personal-value-number", {**_otp(), "personal": {"destination": 5}}, "destination"),
        ("evidence-object", {**_otp(), "evidence": {}}, "evidence"),
        ("evidence-item-string", {**_otp(), "evidence": ["x"]}, "evidence"),
        ("attempt-string", _otp(attempt="1"), "attempt"),
        ("attempt-bool", _otp(attempt=True), "attempt"),
        ("accuracy-string", _gps(accuracy_m="12"), "accuracy_m"),
        ("expected-seq-string", {**_otp(), "expected_seq": "1"}, "expected_seq"),
        ("expected-seq-bool", {**_otp(), "expected_seq": True}, "expected_seq"),
        ("challenge-id-object", _otp(challenge_id={"$ne": None}), "challenge_id"),
        ("channel-list", _otp(channel=["sms"]), "channel"),
    ]:
        add(id_, cat, EV, 422, keyword, _j(body))
    add("batch-events-object", cat, BATCH, 422, "events", _j({"events": {}}))
    add("batch-events-string", cat, BATCH, 422, "events", _j({"events": "x"}))
    add("batch-event-string", cat, BATCH, 422, "object", _j({"events": ["x"]}))
    add("batch-case-number", cat, BATCH, 422, "case", _batch({**_otp(), "case": 7}))
    add("keys-role-number", cat, KEYS, 422, "role", _j({"role": 5}))
    add("keys-cases-string", cat, KEYS, 422, "cases", _j({"role": "lawyer", "cases": "A"}))

    # -- floats where integers are due: 422 ----------------------------------------------------
    cat = "floats for integers"
    for id_, old, new in [
        ("attempt-1.0", '"attempt": 1', '"attempt": 1.0'),
        ("attempt-exponent", '"attempt": 1', '"attempt": 1e0'),
        ("attempt-negative-zero", '"attempt": 1', '"attempt": -0.0'),
        ("attempt-huge-exponent", '"attempt": 1', '"attempt": 1e400'),
    ]:
        add(id_, cat, EV, 422, "float", _otp_raw(old, new))
    add("expected-seq-float", cat, EV, 422, "float",
        _raw(json.dumps(_otp())[:-1] + ', "expected_seq": 1.0}'))
    add("accuracy-float", cat, EV, 422, "float",
        _raw(json.dumps(_gps()).replace('"accuracy_m": 12', '"accuracy_m": 12.5')))
    add("latitude-number", cat, EV, 422, "float",
        _raw(json.dumps(_gps()).replace('"45.7578137"', "45.7578137")))
    add("batch-attempt-float", cat, BATCH, 422, "float",
        _raw(json.dumps({"events": [_in_batch(_otp())]}).replace('"attempt": 1', '"attempt": 2.5')))

    # -- NaN and Infinity: 422 -----------------------------------------------------------------
    cat = "NaN, Infinity"
    for id_, new in [("nan", "NaN"), ("infinity", "Infinity"), ("minus-infinity", "-Infinity")]:
        add(f"attempt-{id_}", cat, EV, 422, new, _otp_raw('"attempt": 1', f'"attempt": {new}'))
    add("batch-nan", cat, BATCH, 422, "NaN",
        _raw(json.dumps({"events": [_in_batch(_otp())]}).replace('"attempt": 1', '"attempt": NaN')))
    add("latitude-nan-string", cat, EV, 422, "latitude", _j(_gps(latitude="NaN")))
    add("longitude-infinity-string", cat, EV, 422, "longitude", _j(_gps(longitude="Infinity")))

    # -- huge values: 413 above the body limits, 422 for long fields -----------------------------
    cat = "huge strings and numbers"
    add("event-10mb-string", cat, EV, 413, "exceeds", _j(_otp(challenge_id="x" * (10 * MIB))))
    add("batch-10mb-string", cat, BATCH, 413, "exceeds",
        _batch(_in_batch(_otp(reason="x" * (10 * MIB)))))
    add("batch-7mb-field", cat, BATCH, 422, "reason",
        _batch(_in_batch(_otp(reason="x" * (7 * MIB)))))
    add("id-129-chars", cat, EV, 422, "128", _j(_otp(challenge_id="x" * 129)))
    add("huge-integer", cat, EV, 422, "digits",
        _otp_raw('"attempt": 1', '"attempt": ' + "9" * 40000))
    add("keys-10mb", cat, KEYS, 413, "exceeds", _j({"role": "auditor", "tenant": "x" * (10 * MIB)}))
    add("idempotency-key-256", cat, EV, 422, "Idempotency-Key", _j(_otp()),
        headers=(("Idempotency-Key", b"k" * 256),))

    # -- deep nesting: 422 ---------------------------------------------------------------------
    cat = "deep nesting"
    add("arrays-10000-deep", cat, EV, 422, "nested too deeply",
        _raw('{"data": ' + "[" * 10000 + "]" * 10000 + "}"))
    add("objects-10000-deep", cat, EV, 422, "nested too deeply",
        _raw('{"data": ' + '{"a":' * 10000 + "1" + "}" * 10000 + "}"))
    add("personal-10000-deep", cat, EV, 422, "nested too deeply",
        _raw('{"personal": ' + "[" * 10000 + "]" * 10000 + "}"))
    add("batch-100000-deep", cat, BATCH, 422, "nested too deeply",
        _raw('{"events": ' + "[" * 100000 + "]" * 100000 + "}"))
    add("keys-10000-deep", cat, KEYS, 422, "nested too deeply",
        _raw('{"cases": ' + "[" * 10000 + "]" * 10000 + "}"))

    # -- unknown fields: 422 -------------------------------------------------------------------
    cat = "unknown fields"
    for id_, body, keyword in [
        ("top-level", {**_otp(), "extra": 1}, "extra"),
        ("data", _otp(extra=1), "extra"),
        ("personal", {**_otp(), "personal": {"ssn": "1"}}, "ssn"),
        ("evidence-item", _photo(HEX) | {"evidence": [{"sha256": HEX, "role": "p", "url": "x"}]},
         "url"),
        ("proto", {**_otp(), "__proto__": {"admin": True}}, "__proto__"),
        ("case-variant", {**_otp(), "Type": "OtpFailed"}, "Type"),
        ("case-in-single-event", {**_otp(), "case": "OTHER"}, "case"),
    ]:
        add(f"unknown-{id_}", cat, EV, 422, keyword, _j(body))
    add("unknown-batch-top", cat, BATCH, 422, "more", _j({"events": [_in_batch(_otp())],
                                                          "more": 1}))
    add("unknown-batch-event", cat, BATCH, 422, "foo", _batch({**_in_batch(_otp()), "foo": 1}))
    add("unknown-keys-field", cat, KEYS, 422, "admin", _j({"role": "auditor", "admin": True}))

    # -- case ids: control characters, path separators --------------------------------------
    cat = "control characters and path separators in case ids"
    for id_, raw in [
        ("newline", "A%0AB"), ("nul", "A%00B"), ("tab", "A%09B"), ("del", "A%7FB"),
        ("carriage-return", "A%0DB"), ("escape", "A%1BB"), ("backslash", "A%5CB"),
        ("dot-dot", "%2E%2E"), ("leading-dot", ".hidden"), ("space", "A%20B"),
        ("unicode", "caf%C3%A9"), ("emoji", "%F0%9F%92%A5"), ("129-chars", "A" * 129),
        ("leading-dash", "-A"), ("percent", "A%25B"),
    ]:
        add(f"path-{id_}", cat, f"/v1/cases/{raw}/events", 422, "case id", _j(_otp()))
    add("path-slash", cat, "/v1/cases/A%2FB/events", 404, "no route", _j(_otp()))
    add("path-traversal", cat, "/v1/cases/..%2F..%2Fetc%2Fpasswd/events", 404, "no route",
        _j(_otp()))
    add("get-newline", cat, "/v1/cases/A%0AB", 422, "case id", method="GET", content_type=None)
    add("get-timeline-nul", cat, "/v1/cases/A%00B/timeline", 422, "case id", method="GET",
        content_type=None)
    for id_, case in [("slash", "a/b"), ("traversal", "../../etc/passwd"), ("nul", "a\x00b"),
                      ("empty", ""), ("newline", "a\nb"), ("129", "C" * 129)]:
        add(f"batch-case-{id_}", cat, BATCH, 422, "case", _batch({**_in_batch(_otp()),
                                                                  "case": case}))

    # -- SQL and shell metacharacters where they are not allowed -------------------------------
    cat = "SQL and shell metacharacters"
    for id_, raw in [
        ("sql-drop", "x%27%3B%20DROP%20TABLE%20cases_events%3B--"), ("sql-or", "1%20OR%201%3D1"),
        ("shell-subst", "%24%28reboot%29"), ("shell-backtick", "%60id%60"),
        ("shell-pipe", "a%7Cb"), ("shell-and", "a%26%26b"), ("html", "%3Cscript%3E"),
        ("glob", "a%2A"),
    ]:
        add(f"path-{id_}", cat, f"/v1/cases/{raw}/events", 422, "case id", _j(_otp()))
    add("get-sql", cat, "/v1/cases/x%27%20OR%20%271%27%3D%271/entries", 422, "case id",
        method="GET", content_type=None)
    add("batch-case-sql", cat, BATCH, 422, "case",
        _batch({**_in_batch(_otp()), "case": "x'; DROP TABLE cases_leaves; --"}))
    add("keys-tenant-sql", cat, KEYS, 422, "tenant",
        _j({"role": "auditor", "tenant": "x'; DROP TABLE api_keys; --"}))
    add("keys-lawyer-case-shell", cat, KEYS, 422, "case",
        _j({"role": "lawyer", "cases": ["$(rm -rf /)"]}))
    add("query-index-sql", cat, "/v1/log/proofs/inclusion?index=1;DROP%20TABLE%20x&size=2", 422,
        "decimal integer", method="GET", content_type=None)
    add("evidence-path-sql", cat, "/v1/evidence/%27or%271%27%3D%271", 422, "sha256",
        method="GET", content_type=None)

    # -- timestamps ----------------------------------------------------------------------------
    cat = "timestamps far in the future or without a zone"
    for id_, value, keyword in [
        ("future-2999", "2999-01-01T00:00:00Z", "future"),
        ("future-9999", "9999-12-31T23:59:59Z", "future"),
        ("future-2-days", FUTURE, "future"),
        ("no-zone", "2025-03-01T10:00:00", "offset"),
        ("date-only", "2025-03-01", "occurred_at"),
        ("month-13", "2025-13-01T00:00:00Z", "occurred_at"),
        ("february-30", "2025-02-30T00:00:00Z", "occurred_at"),
        ("hour-24", "2025-03-01T24:00:00Z", "occurred_at"),
        ("offset-25h", "2025-03-01T10:00:00+25:00", "occurred_at"),
        ("words", "yesterday", "occurred_at"),
        ("empty", "", "occurred_at"),
        ("year-zero", "0000-01-01T00:00:00Z", "occurred_at"),
    ]:
        add(f"time-{id_}", cat, EV, 422, keyword, _j({**_otp(), "occurred_at": value}))
    add("notified-at-no-zone", cat, EV, 422, "notified_at", _j({
        "type": "LetterUnclaimed", "occurred_at": "2025-03-20T00:00:00Z",
        "data": {"letter_id": "L1", "notified_at": "2025-03-03T08:13:02"}}))
    add("deadline-bad-date", cat, EV, 422, "deadline", _j({
        "type": "FormalNoticeSent", "occurred_at": "2025-03-20T00:00:00Z",
        "data": {"letter_id": "L1", "deadline": "2025-02-30"}}))

    # -- coordinates ---------------------------------------------------------------------------
    cat = "coordinates out of range"
    for id_, data, keyword in [
        ("lat-above-90", {"latitude": "90.0000001"}, "latitude"),
        ("lat-below-90", {"latitude": "-91"}, "latitude"),
        ("lon-above-180", {"longitude": "180.5"}, "longitude"),
        ("lon-below-180", {"longitude": "-181"}, "longitude"),
        ("lat-words", {"latitude": "north"}, "latitude"),
        ("lat-empty", {"latitude": ""}, "latitude"),
        ("lat-exponent", {"latitude": "1e2"}, "latitude"),
        ("lat-padded", {"latitude": " 45.1"}, "latitude"),
        ("accuracy-negative", {"accuracy_m": -1}, "accuracy_m"),
        ("accuracy-huge", {"accuracy_m": 10**12}, "accuracy_m"),
    ]:
        add(f"gps-{id_}", cat, EV, 422, keyword, _j(_gps(**data)))

    # -- evidence hashes -----------------------------------------------------------------------
    cat = "evidence hashes of the wrong length"
    for id_, sha in [("63", "a" * 63), ("65", "a" * 65), ("uppercase", "A" * 64),
                     ("non-hex", "g" * 64), ("empty", "")]:
        add(f"evidence-{id_}", cat, EV, 422, "sha256", _j(_photo(sha)))
    add("photo-hash-mismatch", cat, EV, 422, "photo_sha256", _j(_photo(HEX, "cd" * 32)))
    add("evidence-never-uploaded", cat, EV, 422, "never uploaded", _j(_photo("ef" * 32)))
    add("evidence-no-role", cat, EV, 422, "role",
        _j(_photo(HEX) | {"evidence": [{"sha256": HEX}]}))
    add("body-sha256-short", cat, EV, 422, "body_sha256", _j({
        "type": "SmsConfirmationReceived", "occurred_at": "2025-02-26T14:20:33Z",
        "data": {"message_id": "m1", "reply": "OUI", "body_sha256": "ab" * 31}}))
    for id_, sha in [("63", "a" * 63), ("uppercase", "A" * 64), ("non-hex", "z" * 64)]:
        add(f"get-evidence-{id_}", cat, f"/v1/evidence/{sha}", 422, "sha256", method="GET",
            content_type=None)
    add("get-evidence-traversal", cat, "/v1/evidence/..%2F..%2Fdata%2Flog.key", 404, "no route",
        method="GET", content_type=None)

    # -- oversized requests --------------------------------------------------------------------
    cat = "oversized requests"
    add("event-70kb", cat, EV, 413, "65,536", _j(_otp(reason="r" * 70_000)))
    add("batch-9mb", cat, BATCH, 413, "8,388,608",
        _raw(b'{"events": []}' + b" " * (9 * MIB)))
    add("batch-1001-events", cat, BATCH, 422, "at most 1,000",
        _batch(*[_in_batch(_otp())] * 1001))
    add("evidence-26mb", cat, EVIDENCE, 413, "26,214,400", _raw(b"\0" * (26 * MIB)),
        content_type="image/jpeg")
    add("evidence-26mb-streamed", cat, EVIDENCE, 413, "26,214,400", _streamed(26 * MIB),
        content_type="image/jpeg")
    add("event-streamed-1mb", cat, EV, 413, "65,536", _streamed(MIB))
    add("keys-300kb", cat, KEYS, 413, "exceeds", _raw(b'{"role": "auditor"}' + b" " * 300_000))
    add("evidence-file-empty", cat, EVIDENCE, 422, "empty", _raw(b""), content_type="image/jpeg")

    # -- wrong Content-Type: 415 ---------------------------------------------------------------
    cat = "wrong Content-Type"
    for id_, content_type in [
        ("none", None), ("text-plain", "text/plain"),
        ("form", "application/x-www-form-urlencoded"),
        ("multipart", "multipart/form-data; boundary=x"),
        ("latin1", "application/json; charset=latin-1"), ("jsonx", "application/jsonx"),
        ("json-patch", "application/json-patch+json"), ("list", "application/json, text/plain"),
    ]:
        add(f"event-{id_}", cat, EV, 415, "Content-Type" if content_type is None or
            "charset" not in content_type else "UTF-8", _j(_otp()), content_type=content_type)
    add("batch-text-plain", cat, BATCH, 415, "application/json",
        _batch(_in_batch(_otp())), content_type="text/plain")
    add("keys-form", cat, KEYS, 415, "application/json", _j({"role": "auditor"}),
        content_type="application/x-www-form-urlencoded")
    for id_, content_type in [("none", None), ("no-subtype", "pdf"), ("space", "a/b c"),
                              ("too-long", "image/" + "x" * 300)]:
        add(f"evidence-type-{id_}", cat, EVIDENCE, 415, "media type", _raw(b"%PDF"),
            content_type=content_type)

    # -- duplicate JSON keys: 422 --------------------------------------------------------------
    cat = "duplicate JSON keys"
    otp = json.dumps(_otp())
    for id_, old, new in [
        ("type", '"type": "OtpFailed"', '"type": "OtpFailed", "type": "CaseClosed"'),
        ("data-field", '"challenge_id": "otp-1"', '"challenge_id": "otp-1", "challenge_id": "x"'),
        ("personal-field", '"personal": {}', '"personal": {"destination": "a", '
                                             '"destination": "b"}'),
        ("data-object", '"data": {', '"data": {}, "data": {'),
    ]:
        add(f"duplicate-{id_}", cat, EV, 422, "duplicate", _raw(otp.replace(old, new, 1)))
    add("duplicate-batch-events", cat, BATCH, 422, "duplicate",
        _raw('{"events": [], "events": ' + json.dumps([_in_batch(_otp())]) + "}"))
    add("duplicate-batch-case", cat, BATCH, 422, "duplicate", _raw(
        '{"events": [{"case": "HOSTILE-1", "case": "OTHER", ' + otp[1:] + "]}"))
    add("duplicate-keys-role", cat, KEYS, 422, "duplicate",
        _raw('{"role": "auditor", "role": "admin"}'))

    # -- parameters and methods ----------------------------------------------------------------
    cat = "query parameters and methods"
    for id_, query, keyword in [
        ("index-negative", "index=-1&size=1", "index"),
        ("index-float", "index=1.5&size=2", "index"),
        ("index-exponent", "index=1e3&size=2000", "index"),
        ("index-beyond-int64", "index=99999999999999999999&size=1", "index"),
        ("size-words", "index=0&size=abc", "size"), ("index-missing", "size=1", "index"),
    ]:
        add(f"inclusion-{id_}", cat, f"/v1/log/proofs/inclusion?{query}", 422, keyword,
            method="GET", content_type=None)
    add("consistency-from-above-to", cat, "/v1/log/proofs/consistency?from=2&to=1", 422, "from",
        method="GET", content_type=None)
    add("entries-negative", cat, "/v1/log/entries/-1", 422, "index", method="GET",
        content_type=None)
    add("checkpoints-limit-0", cat, "/v1/log/checkpoints?limit=0", 422, "limit", method="GET",
        content_type=None)
    add("timeline-size-negative", cat, "/v1/cases/{case}/timeline?size=-1", 422, "size",
        method="GET", content_type=None)
    add("delete-case", cat, "/v1/cases/{case}", 405, "not allowed", method="DELETE",
        content_type=None)
    add("put-evidence", cat, EVIDENCE, 405, "not allowed", _raw(b"x"), method="PUT",
        content_type="image/jpeg")
    add("get-batches", cat, BATCH, 405, "not allowed", method="GET", content_type=None)
    add("idempotency-key-empty", cat, EV, 422, "Idempotency-Key", _j(_otp()),
        headers=(("Idempotency-Key", b""),))
    add("idempotency-key-non-ascii", cat, EV, 422, "Idempotency-Key", _j(_otp()),
        headers=(("Idempotency-Key", "clé".encode()),))
    return c


CORPUS = _corpus()
_DUPLICATES = [i for i, n in Counter(b.id for b in CORPUS).items() if n > 1]
assert not _DUPLICATES, f"duplicate corpus ids: {_DUPLICATES}"


def categories() -> Counter[str]:
    return Counter(b.category for b in CORPUS)
