"""The lifecycle and trust commands on any log of the database (issue 14 "Many logs"):
`temoin retention due|apply|certificate`, `erasure finish`, `signer status|reset` and `keygen`
take `--log ID` (default log 1, said in their output), as an operator runs them (subprocesses,
real SQLite file and real PostgreSQL). The evidence folder is shared by every log: one log's
retention run keeps a file that another log's live case still cites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.config import Settings
from ledger.ledger import Ledger
from ledger.logs import LogSet
from tests.e2e import temoin
from tests.helpers import request

TWO = "test.example/shop-2"
LATER = (datetime.now(UTC) + timedelta(days=5 * 366 + 2)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _photo(ledger: Ledger, tenant: str, content: bytes) -> str:
    stored, _ = ledger.add_evidence(tenant, content, "image/jpeg")
    return stored.sha256


def _photo_event(case: str, sha: str, tenant: str) -> Any:
    return request(case, "DeliveryPhotoTaken", tenant=tenant,
                   data={"parcel_id": "6A1", "carrier": "colissimo", "photo_sha256": sha},
                   evidence=[{"sha256": sha, "role": "delivery_photo"}])


def _closed(case: str, tenant: str) -> Any:
    return request(case, "CaseClosed", tenant=tenant,
                   occurred_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_retention_on_one_log_keeps_the_files_another_log_cites(settings: Settings) -> None:
    logs = LogSet(settings)
    try:
        two = logs.create(TWO, ["shop-2"])
        key_two = two.key.verifier_key
        # The same photo in a closed case of log 2 and an open case of log 1: one file.
        shared = _photo(two, "shop-2", b"\xff\xd8 the same photo")
        own = _photo(two, "shop-2", b"\xff\xd8 log 2's own photo")
        two.append([request("DUE", "CaseOpened", tenant="shop-2"),
                    _photo_event("DUE", shared, "shop-2"), _photo_event("DUE", own, "shop-2"),
                    _closed("DUE", "shop-2")])
        one = logs.main
        assert _photo(one, "shop-1", b"\xff\xd8 the same photo") == shared
        one.append([request("OPEN", "CaseOpened"), _photo_event("OPEN", shared, "shop-1")])
        files = one.files
    finally:
        logs.close()

    due = temoin(settings, "retention", "due", "--log", "2", "--as-of", LATER).stdout
    assert "due: shop-2/DUE" in due and f"log 2 ({TWO}): 1 due, 0 held" in due, due
    assert "1 evidence file" in due, due  # its own photo; the shared one stays
    assert f"log 1 ({settings.origin}): 0 due" in temoin(
        settings, "retention", "due", "--as-of", LATER).stdout
    done = temoin(settings, "retention", "apply", "--log", "2", "--as-of", LATER).stdout
    assert f"of log 2 ({TWO}): 1 cases erased, 1 evidence files deleted" in done, done
    assert files.exists(shared) and not files.exists(own)
    # Log 2's runs are its own: not resumed, listed or written in log 1's folder.
    [cert] = (settings.data_dir / "logs" / "2" / "retention").glob("*.destruction.jsonl")
    assert not (settings.data_dir / "retention").exists() or not list(
        (settings.data_dir / "retention").glob("*.started"))
    checked = temoin(settings, "verify", str(cert), "--key", key_two)
    assert "is intact and signed" in checked.stdout, checked.stdout
    run = cert.name.split(".")[0]
    again = temoin(settings, "retention", "certificate", run, "--log", "2").stdout
    assert f"certificate of run {run} of log 2 ({TWO})" in again, again
    # Without --log: log 1, and it says so; its open case keeps the shared file.
    plain = temoin(settings, "retention", "apply", "--as-of", LATER).stdout
    assert f"of log 1 ({settings.origin}): 0 cases erased" in plain, plain
    assert files.exists(shared)
    dry = temoin(settings, "retention", "apply", "--dry-run", "--log", "2").stdout
    assert f"dry run of log 2 ({TWO})" in dry
    assert files.exists(shared), shared
    whole = temoin(settings, "verify", check=False)
    assert whole.returncode == 0, whole.stdout + whole.stderr

    for args in (["retention", "due"], ["retention", "apply"], ["retention", "certificate", run],
                 ["erasure", "finish"], ["signer", "status"], ["keygen"]):
        refused = temoin(settings, *args, "--log", "9", check=False)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert "no log 9 in this database" in refused.stderr, (args, refused.stderr)
        assert "Traceback" not in refused.stderr


def test_signer_keygen_and_erasure_finish_on_log_2(settings: Settings) -> None:
    logs = LogSet(settings)
    try:
        two = logs.create(TWO, ["shop-2"])
        keys = (logs.main.key.verifier_key, two.key.verifier_key)
        two.append([request("B-0", "CaseOpened", tenant="shop-2")])
    finally:
        logs.close()
    temoin(settings, "checkpoint")  # every log's signer state
    log_dir = settings.data_dir / "logs" / "2"

    assert temoin(settings, "keygen").stdout.strip() == keys[0]
    assert temoin(settings, "keygen", "--log", "2").stdout.strip() == keys[1]
    status = temoin(settings, "signer", "status", "--log", "2").stdout
    assert f"{log_dir / 'log.state'}: signed size 1" in status, status
    assert f"{log_dir / 'access.state'}" in status and status.count("extends it") == 2, status
    assert str(settings.data_dir / "log.state") in temoin(settings, "signer", "status").stdout
    finished = temoin(settings, "erasure", "finish", "--log", "2").stdout
    assert f"log 2 ({TWO}): 0 erasures checked, 0 openings destroyed" in finished, finished

    reset = temoin(settings, "signer", "reset", "--i-understand-this-forks-the-log",
                   "--log", "2", "--part", "case").stdout
    assert reset.count("the signer now starts from size 1") == 1, reset
    assert list(log_dir.glob("log.state.forked-*")) and not list(log_dir.glob("access.state.f*"))
    assert not list(settings.data_dir.glob("log.state.forked-*"))
    # The former spelling, `--log case|access|both`, still means log 1's part.
    old = temoin(settings, "signer", "reset", "--i-understand-this-forks-the-log",
                 "--log", "access").stdout
    assert "access journal" in old and list(settings.data_dir.glob("access.state.forked-*"))
    whole = temoin(settings, "verify", check=False)
    assert whole.returncode == 0, whole.stdout + whole.stderr
