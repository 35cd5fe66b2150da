"""`temoin keys backup|restore` with several logs (format v2), as an operator runs them
(subprocesses, a real SQLite file and a real PostgreSQL database).

The keys of a log after log 1 live in `<data>/logs/<id>/`: a backup that held log 1's keys only
would leave log 2 unable to sign (custody refuses a new key once a log has signed), so the
backup holds every log's, and restore puts each back after checking it against its log.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from ledger.config import Settings
from ledger.key_backup import FORMAT, FORMAT_LOGS
from ledger.logs import LogSet
from ledger.signing import LogKey
from tests.e2e import temoin
from tests.helpers import request

LOG2 = ("logs/2/log.key", "logs/2/access.key")


def _two_logs(settings: Settings) -> dict[str, bytes]:
    """Log 1 and log 2, each with a signed case-log and access-journal checkpoint; the key
    files as they are."""
    temoin(settings, "logs", "create", "test.example/shop-2", "--tenant", "shop-2")
    logs = LogSet(settings)
    try:
        logs.for_tenant("shop-1").append([request("A-0", "CaseOpened", tenant="shop-1")])
        logs.for_tenant("shop-2").append([request("B-0", "CaseOpened", tenant="shop-2")])
        for log_id, tenant in ((1, "shop-1"), (2, "shop-2")):
            logs.ledger(log_id).sign_checkpoint()
            # A journal records its own tenants' reads (a case id is one tenant's, in one log).
            logs.journal(log_id).record(tenant=tenant, case="c", who="k", role="admin",
                                        action="read_case")
            logs.journal(log_id).sign_checkpoint()
    finally:
        logs.close()
    names = ("log.key", "access.key", "vault.key", *LOG2)
    return {n: (settings.data_dir / n).read_bytes() for n in names}


def test_backup_holds_every_log_and_restore_brings_log_2_back(settings: Settings,
                                                              tmp_path: Path) -> None:
    originals = _two_logs(settings)
    out = tmp_path / "keys.backup"
    done = temoin(settings, "keys", "backup", "--out", str(out))
    assert "log 2 (test.example/shop-2): logs/2/log.key test.example/shop-2+" in done.stderr
    doc = json.loads(out.read_text())
    assert doc["format"] == FORMAT_LOGS and doc["logs"] == {"2": "test.example/shop-2"}
    assert set(doc["keys"]) == set(originals)
    assert doc["verifier_keys"]["logs/2/log.key"].startswith("test.example/shop-2+")

    for name in LOG2:
        (settings.data_dir / name).unlink()
    refused = temoin(settings, "verify", check=False)
    assert refused.returncode == 2 and "logs/2/log.key" in refused.stderr, refused.stderr

    done = temoin(settings, "keys", "restore", str(out))
    assert done.stdout.count("already in place") == 3, done.stdout
    assert done.stdout.count("restored (mode 0600)") == 2, done.stdout
    for name in LOG2:
        path = settings.data_dir / name
        assert path.read_bytes() == originals[name]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    verified = temoin(settings, "verify", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    lines = verified.stdout.splitlines()
    assert lines[0].startswith(f"log 1 ({settings.origin}): OK")
    assert lines[1].startswith("log 2 (test.example/shop-2): OK")


def test_restore_refuses_a_foreign_key_for_log_2_and_writes_nothing(settings: Settings,
                                                                    tmp_path: Path) -> None:
    _two_logs(settings)
    out = tmp_path / "keys.backup"
    temoin(settings, "keys", "backup", "--out", str(out))
    doc = json.loads(out.read_text())
    # A key of the right name but not the one log 2 signed with: its checkpoints refuse it.
    # (Altering the file so: its verifier keys are public, the keys are not authenticated
    # in a plain backup; the database is what proves which key is log 2's.)
    doc["keys"]["logs/2/log.key"] = LogKey.generate("test.example/shop-2").signer_key() + "\n"
    forged = tmp_path / "forged.backup"
    forged.write_text(json.dumps(doc))
    for name in LOG2:
        (settings.data_dir / name).unlink()
    refused = temoin(settings, "keys", "restore", str(forged), check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "nothing restored" in refused.stderr and "logs/2/log.key" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not any((settings.data_dir / name).exists() for name in LOG2)


def test_a_backup_of_log_1_alone_stays_v1_and_names_what_it_lacks(settings: Settings,
                                                                   tmp_path: Path) -> None:
    ledger_only = tmp_path / "before.backup"
    temoin(settings, "keys", "backup", "--out", str(ledger_only))
    assert json.loads(ledger_only.read_text())["format"] == FORMAT  # earlier releases read it
    _two_logs(settings)
    for name in LOG2:
        (settings.data_dir / name).unlink()
    done = temoin(settings, "keys", "restore", str(ledger_only))
    assert done.stdout.count("already in place") == 3, done.stdout
    assert "log 2 (test.example/shop-2): its keys are not in this backup" in done.stderr


def test_a_backup_for_another_database_s_log_2_is_refused(settings: Settings,
                                                         tmp_path: Path) -> None:
    _two_logs(settings)
    out = tmp_path / "keys.backup"
    temoin(settings, "keys", "backup", "--out", str(out))
    doc = json.loads(out.read_text())
    doc["logs"] = {"3": "test.example/shop-2"}
    doc["keys"] = {k.replace("logs/2/", "logs/3/"): v for k, v in doc["keys"].items()}
    moved = tmp_path / "moved.backup"
    moved.write_text(json.dumps(doc))
    refused = temoin(settings, "keys", "restore", str(moved), check=False)
    assert refused.returncode == 2
    assert "this database's log 3 is not registered" in refused.stderr, refused.stderr
    # A v1 backup claiming other logs, and a v2 one whose log 2 keys are missing, are altered.
    for change, why in [
        ({"format": FORMAT}, "holds no other logs"),
        ({"keys": {k: v for k, v in doc["keys"].items() if "logs/3/access" not in k}},
         "keys of log 3 are missing or unusable"),
        ({"logs": {"1": "x"}}, "expected log ids from 2"),
    ]:
        bad = tmp_path / "bad.backup"
        bad.write_text(json.dumps({**doc, **change}))
        refused = temoin(settings, "keys", "restore", str(bad), check=False)
        assert refused.returncode == 2 and why in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
