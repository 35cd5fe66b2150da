"""Idempotency-Key records keep no fingerprint the database alone can test guesses against,
are purged on a schedule (never before 24 hours), and go with their case's erasure (issue 12
item 5). Through HTTP on both backends."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest

from api.housekeeping import idempotency_ttl
from api.idempotency import legacy_request_hash
from ledger.config import ConfigError

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import ApiServer, example, new_case  # noqa: E402

pytest_plugins = ("tests.api_server",)
ROUTE = "POST /v1/cases/{case}/events"


def _records(api: ApiServer, key: str) -> list[tuple[str, str]]:
    rows = api.services.ledger.store._query(
        "SELECT request_hash, created_at FROM idempotency WHERE key = ?", (key,)
    )
    return [(r[0], r[1]) for r in rows]


def test_record_is_keyed_not_a_plain_hash_of_the_body(api: ApiServer) -> None:
    case, key = new_case(), str(uuid.uuid4())
    body = example("CaseOpened")
    with api.client() as c:
        assert c.post(f"/v1/cases/{case}/events", json=body,
                      headers={"Idempotency-Key": key}).status_code == 201
        assert c.post(f"/v1/cases/{case}/events", json=body,
                      headers={"Idempotency-Key": key}).status_code == 200
    [(stored, _)] = _records(api, key)
    text = json.dumps({"route": ROUTE, "case": case, "body": body}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True).encode()
    assert stored != hashlib.sha256(text).hexdigest()
    assert len(stored) == 64


def test_a_record_made_by_an_older_release_still_replays(api: ApiServer) -> None:
    case, key = new_case(), str(uuid.uuid4())
    body = example("CaseOpened")
    with api.client() as c:
        first = c.post(f"/v1/cases/{case}/events", json=body, headers={"Idempotency-Key": key})
        assert first.status_code == 201
    [(stored, _)] = _records(api, key)
    assert stored != legacy_request_hash(ROUTE, case, body)
    # What the unkeyed release stored for the same request.
    api.services.ledger.store._execute("UPDATE idempotency SET request_hash = ? WHERE key = ?",
                                       (legacy_request_hash(ROUTE, case, body), key))
    with api.client() as c:
        again = c.post(f"/v1/cases/{case}/events", json=body, headers={"Idempotency-Key": key})
        other = c.post(f"/v1/cases/{case}/events", json=example("CaseOpened", occurred_at=(
            "2026-01-02T00:00:00Z")), headers={"Idempotency-Key": key})
    assert again.status_code == 200 and again.content == first.content
    assert other.status_code == 409


def test_erasure_forgets_the_case_records(api: ApiServer) -> None:
    case, other = new_case(), new_case()
    keys = [str(uuid.uuid4()) for _ in range(3)]
    with api.client() as c:
        assert c.post(f"/v1/cases/{case}/events", json=example("CaseOpened"),
                      headers={"Idempotency-Key": keys[0]}).status_code == 201
        assert c.post(f"/v1/cases/{case}/events", json=example("SmsConfirmationReceived"),
                      headers={"Idempotency-Key": keys[1]}).status_code == 201
        assert c.post(f"/v1/cases/{other}/events", json=example("CaseOpened"),
                      headers={"Idempotency-Key": keys[2]}).status_code == 201
        erased = c.post(f"/v1/cases/{case}/events", json=example(
            "PersonalDataErased", data={"legal_basis": "gdpr-art-17"}))
        assert erased.status_code == 201, erased.text
        again = c.post(f"/v1/cases/{case}/events", json=example(
            "PersonalDataErased", data={"legal_basis": "gdpr-art-17"}))
        assert again.status_code == 409
        assert "already erased" in again.json()["detail"]
    assert _records(api, keys[0]) == [] and _records(api, keys[1]) == []
    assert len(_records(api, keys[2])) == 1  # another case's record stays
    links = api.services.ledger.store._query(
        "SELECT count(*) FROM idempotency_cases WHERE key IN (?, ?)", (keys[0], keys[1]))
    assert links[0][0] == 0


def test_purge_keeps_24_hours_and_forgets_older(api: ApiServer) -> None:
    ledger = api.services.ledger
    fresh, old = str(uuid.uuid4()), str(uuid.uuid4())
    with api.client() as c:
        for key in (fresh, old):
            assert c.post(f"/v1/cases/{new_case()}/events", json=example("CaseOpened"),
                          headers={"Idempotency-Key": key}).status_code == 201
    ledger.store._execute("UPDATE idempotency SET created_at = ? WHERE key = ?",
                          ("2020-01-01T00:00:00.000000Z", old))
    with pytest.raises(ValueError, match="at least 24 hours"):
        ledger.purge_idempotency(timedelta(hours=23))
    assert ledger.purge_idempotency(timedelta(hours=48)) >= 1
    assert _records(api, old) == [] and len(_records(api, fresh)) == 1
    links = ledger.store._query("SELECT count(*) FROM idempotency_cases WHERE key = ?", (old,))
    assert links[0][0] == 0


def test_ttl_configuration_refuses_less_than_24_hours() -> None:
    assert idempotency_ttl({}) == timedelta(hours=48)
    assert idempotency_ttl({"TEMOIN_IDEMPOTENCY_TTL_HOURS": "72"}) == timedelta(hours=72)
    for bad in ("12", "abc", "nan", "-1"):
        with pytest.raises(ConfigError, match="TEMOIN_IDEMPOTENCY_TTL_HOURS"):
            idempotency_ttl({"TEMOIN_IDEMPOTENCY_TTL_HOURS": bad})


def test_purge_command(api: ApiServer) -> None:
    env = {**os.environ, "TEMOIN_DATABASE_URL": api.settings.database_url,
           "TEMOIN_DATA_DIR": str(api.settings.data_dir), "TEMOIN_LOG_ORIGIN": api.settings.origin}
    cmd = [sys.executable, "-m", "scripts.cli", "idempotency", "purge"]
    bad = subprocess.run([*cmd, "--older-than-hours", "2"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "at least 24" in bad.stderr
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "Idempotency-Key records older than 48 hours purged" in ok.stdout
