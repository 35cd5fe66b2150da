"""`temoin logs create|list` and `temoin verify --log` as an operator runs them (subprocesses
on a real SQLite file and a real PostgreSQL database), and log 1 of a migrated database."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.config import Settings
from ledger.logs import LogSet
from scripts.v1_fixture import make_v1
from tests.conftest import RawDB
from tests.e2e import temoin
from tests.helpers import request


def _listed(settings: Settings) -> list[dict[str, object]]:
    out = temoin(settings, "logs", "list", "--json")
    return list(json.loads(out.stdout))


def test_logs_create_list_and_verify_each_log(settings: Settings, database_url: str) -> None:
    [one] = _listed(settings)
    assert (one["id"], one["origin"], one["size"], one["tenants"]) == (1, settings.origin, 0, [])

    made = temoin(settings, "logs", "create", "test.example/shop-2", "--tenant", "shop-2",
                  "--tenant", "shop-3")
    assert made.stdout.startswith("log 2: test.example/shop-2\ntenants: shop-2, shop-3\n")
    verifier = made.stdout.split("verifier key: ")[1].strip()
    assert verifier.startswith("test.example/shop-2+")
    assert (settings.data_dir / "logs" / "2" / "log.key").stat().st_mode & 0o777 == 0o600

    logs = LogSet(settings)
    try:
        for i in range(3):
            logs.for_tenant("shop-2").append([request(f"B-{i}", "CaseOpened", tenant="shop-2")])
        logs.for_tenant("shop-1").append([request("A-0", "CaseOpened", tenant="shop-1")])
        logs.ledger(2).sign_checkpoint()
    finally:
        logs.close()
    listed = _listed(settings)
    assert [(x["id"], x["size"], x["tenants"]) for x in listed] == [
        (1, 1, []), (2, 3, ["shop-2", "shop-3"])]
    assert listed[1]["verifier_key"] == verifier
    text = temoin(settings, "logs", "list").stdout.splitlines()
    assert text[0].startswith(f"1\t{settings.origin}\tsize 1\ttenants: every other tenant\t")
    assert text[1] == f"2\ttest.example/shop-2\tsize 3\ttenants: shop-2, shop-3\t{verifier}"

    # Refusals exit 2 with one line, and create nothing.
    for args, why in [
        (("test.example/shop-2",), "is taken"),
        (("test.example/shop-4", "--tenant", "shop-2"), "already has its log"),
        (("test.example/shop-4", "--tenant", "shop-1"), "already has API keys or cases"),
        (("bad origin",), "invalid origin"),
    ]:
        refused = temoin(settings, "logs", "create", *args, check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert why in refused.stderr and "Traceback" not in refused.stderr
    assert len(_listed(settings)) == 2

    # Every log its own verdict; --log one of them.
    both = temoin(settings, "verify")
    lines = both.stdout.splitlines()
    assert lines[0].startswith(f"log 1 ({settings.origin}): OK: 1 entries")
    assert lines[1].startswith("log 2 (test.example/shop-2): OK: 3 entries")
    # `temoin checkpoint` signs every log that grew: log 1's case log first, as before.
    notes = temoin(settings, "checkpoint").stdout
    assert notes.startswith(f"{settings.origin}\n1\n")
    assert "\ntest.example/shop-2\n3\n" in notes and "\ntest.example/shop-2/access\n" in notes
    only = temoin(settings, "verify", "--log", "2").stdout.splitlines()
    assert len(only) == 1 and only[0].startswith("log 2 (test.example/shop-2): OK: 3 entries")
    missing = temoin(settings, "verify", "--log", "9", check=False)
    assert missing.returncode == 2 and "no log 9" in missing.stderr

    # A leaf of log 2 altered: log 2 fails, log 1 stays clean.
    raw = RawDB(database_url)
    assert raw.execute("UPDATE cases_leaves SET hash = ? WHERE log_id = 2 AND idx = 1",
                       (b"\x00" * 32,)) == 1
    tampered = temoin(settings, "verify", check=False)
    assert tampered.returncode == 1
    verdicts = [line for line in tampered.stdout.splitlines() if ": OK: " in line
                or ": FAILED: " in line]
    assert verdicts[0].startswith("log 1 (test.example/log): OK")
    assert verdicts[1].startswith("log 2 (test.example/shop-2): FAILED")
    assert temoin(settings, "verify", "--log", "1").returncode == 0


def test_a_migrated_version_1_database_is_log_1(database_url: str, tmp_path: Path) -> None:
    settings = make_v1(database_url, tmp_path / "data", 40)
    raw = RawDB(database_url)
    # A version-1 database made by the previous release has no registry tables at all.
    raw.execute("DROP TABLE logs")
    raw.execute("DROP TABLE log_tenants")
    temoin(settings, "migrate")
    [one] = _listed(settings)
    assert (one["id"], one["origin"], one["size"], one["tenants"]) == (
        1, "test.example/log", 40, [])
    verified = temoin(settings, "verify")
    assert verified.stdout.startswith("OK: 40 entries"), verified.stdout
    made = temoin(settings, "logs", "create", "test.example/next", "--tenant", "new-shop")
    assert made.stdout.startswith("log 2: test.example/next")


def test_case_commands_take_the_log_of_the_tenant_or_of_log(settings: Settings) -> None:
    """`temoin cases`, `replay`, `report` and `projections` on one log each: `--log ID`, else
    the log of `--tenant`, else log 1; each log's projections are its own (schema 3)."""
    logs = LogSet(settings)
    try:
        logs.create("test.example/shop-2", ["shop-2"])
        logs.for_tenant("shop-2").append([request(f"B-{i}", "CaseOpened", tenant="shop-2")
                                          for i in range(3)])
        logs.for_tenant("shop-1").append([request("A-0", "CaseOpened"),
                                          request("A-0", "CaseClosed")])
    finally:
        logs.close()

    def cases(*args: str) -> list[tuple[str, str]]:
        out = json.loads(temoin(settings, "cases", "--json", *args).stdout)
        return [(r["tenant"], r["case"]) for r in out]

    assert cases() == [("shop-1", "A-0")]  # log 1 by default
    assert cases("--log", "2") == [("shop-2", f"B-{i}") for i in range(3)]
    assert cases("--tenant", "shop-2") == [("shop-2", f"B-{i}") for i in range(3)]
    assert cases("--tenant", "shop-1", "--status", "closed") == [("shop-1", "A-0")]
    for args, why in [(("--tenant", "shop-2", "--log", "1"), "writes to log 2, not log 1"),
                      (("--log", "9"), "no log 9 in this database")]:
        refused = temoin(settings, "cases", *args, check=False)
        assert refused.returncode == 2 and why in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr

    # A case of log 2 found by its tenant's log, or by --log: its own log's leaves and key.
    replay = json.loads(temoin(settings, "replay", "B-1", "--tenant", "shop-2", "--json").stdout)
    assert (replay["tenant"], replay["as_of_size"]) == ("shop-2", 3)
    report = json.loads(temoin(settings, "report", "B-2", "--log", "2", "--json").stdout)
    assert report["identification"]["log"] == "test.example/shop-2"
    assert report["scope"]["tree_size"] == 3 and report["verdict"] != "KO"
    lost = temoin(settings, "report", "B-2", "--json", check=False)  # log 1 has no B-2
    assert lost.returncode == 2 and "no case 'B-2' in log 1" in lost.stderr
    status = temoin(settings, "projections", "status", "--log", "2").stdout
    assert status.strip() == "position 3 of 3 entries of log 2"
    rebuilt = temoin(settings, "projections", "rebuild", "--log", "2").stdout
    assert rebuilt.strip() == "rebuilt the case index and timelines of log 2 from 3 entries"
    assert cases() == [("shop-1", "A-0")]  # log 2's rebuild left log 1's rows alone
