"""Key custody through real processes, on both backends (ledger/custody.py, `temoin keys`).

A log whose database holds signed checkpoints (case log and access journal) and sealed
openings must never start with a key file that is missing or another key: `temoin serve` and
the command line refuse (exit 2, one message naming the file and what to restore, no
traceback), and nothing is created. `temoin keys backup` / `restore` bring the keys back; the
server then starts and `temoin verify` is clean. Fresh data folders and SQLite files are
owner-only whatever the umask.
"""

from __future__ import annotations

import base64
import io
import os
import stat
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ledger.access import AccessJournal
from ledger.config import Settings
from ledger.ledger import Ledger
from ledger.signing import LogKey
from ledger.vault import MasterKey
from tests.conftest import RawDB
from tests.e2e import ROOT, admin_token, env_for, free_port, serving, temoin
from tests.helpers import request

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import upload_example_evidence  # noqa: E402

KEYS = ("log.key", "access.key", "vault.key")


@dataclass
class Built:
    settings: Settings
    originals: dict[str, bytes]
    verifier_key: str

    def path(self, name: str) -> Path:
        return self.settings.data_dir / name

    def key_files(self) -> dict[str, bytes]:
        return {n: self.path(n).read_bytes() for n in KEYS if self.path(n).exists()}


@pytest.fixture
def built(settings: Settings) -> Built:
    """A log with 2 case-log checkpoints, an access-journal checkpoint and sealed openings."""
    ledger = Ledger(settings)
    journal = AccessJournal(settings)
    try:
        ledger.append([request("K-1", "CaseOpened")])
        ledger.sign_checkpoint()
        ledger.append([request("K-2", "CaseOpened")])
        ledger.sign_checkpoint()
        journal.record(tenant="shop-1", case="K-1", who="key-1", role="admin",
                       action="read_case")
        journal.sign_checkpoint()
        assert ledger.store.checkpoint_count() == 2 and journal.store.checkpoint_count() == 1
        assert ledger.store.vault_counts()[1] > 0
        vkey = ledger.key.verifier_key
    finally:
        journal.close()
        ledger.close()
    originals = {n: (settings.data_dir / n).read_bytes() for n in KEYS}
    return Built(settings, originals, vkey)


def _another_key(built: Built, name: str) -> None:
    path = built.path(name)
    path.unlink()
    if name == "vault.key":
        assert MasterKey.generate().save(path)
    else:
        origin = built.settings.origin + ("/access" if name == "access.key" else "")
        LogKey.generate(origin).save(path)


def _serve_refused(settings: Settings, args: tuple[str, ...] = ()) -> tuple[int, str, float]:
    """Start a real server that must refuse to start; its status, output and duration."""
    started = time.monotonic()
    cmd = args or ("-m", "scripts.cli", "serve", "--port", str(free_port()))
    done = subprocess.run([sys.executable, *cmd], env=env_for(settings),
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


WHAT = {
    "log.key": "2 checkpoints of the case log",
    "access.key": "1 checkpoint of the access journal",
    "vault.key": "2 case keys wrapped by the vault master key",
}


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("name", KEYS)
def test_serve_refuses_when_a_key_file_is_missing(built: Built, name: str) -> None:
    built.path(name).unlink()
    status, out, seconds = _serve_refused(built.settings)
    assert status == 2, out
    assert seconds < 30  # refused before the web stack is even imported (< 1 s here)
    assert f"{built.path(name)} is missing but the database holds" in out, out
    assert WHAT[name] in out
    assert f"restore {name} from your key backup (`temoin keys restore FILE`)" in out
    assert "TEMOIN_DATA_DIR" in out
    assert "Traceback" not in out
    if name != "vault.key":  # names the key that signed the checkpoints
        origin = built.settings.origin + ("/access" if name == "access.key" else "")
        signer = LogKey.from_signer_key(built.originals[name].decode().strip())
        assert f"signed by {origin}+{signer.key_id.hex()}" in out
    assert not built.path(name).exists()  # no new key was minted
    assert built.key_files() == {n: b for n, b in built.originals.items() if n != name}


@pytest.mark.parametrize("name", KEYS)
def test_serve_refuses_another_key(built: Built, name: str) -> None:
    _another_key(built, name)
    replaced = built.path(name).read_bytes()
    status, out, _ = _serve_refused(built.settings)
    assert status == 2, out
    assert f"{built.path(name)} is another key" in out, out
    assert WHAT[name].split(" of ")[0] in out
    assert "Traceback" not in out
    assert built.path(name).read_bytes() == replaced  # left as found


def test_asgi_server_start_up_refused_with_the_message(built: Built) -> None:
    """Not through `temoin serve`'s pre-check: the app's own lifespan refuses, and uvicorn
    logs the custody message, not a traceback, and exits non-zero."""
    built.path("log.key").unlink()
    status, out, _ = _serve_refused(
        built.settings,
        ("-m", "uvicorn", "api.app:app_from_env", "--factory", "--port", str(free_port())),
    )
    assert status != 0
    assert "Application startup failed" in out
    assert f"{built.path('log.key')} is missing but the database holds" in out, out
    assert "Traceback" not in out
    assert not built.path("log.key").exists()


@pytest.mark.parametrize("command", [("verify",), ("checkpoint",), ("keygen",),
                                     ("keys", "create", "--role", "admin", "--tenant", "t")])
def test_cli_refuses_a_missing_log_key(built: Built, command: tuple[str, ...]) -> None:
    built.path("log.key").unlink()
    done = temoin(built.settings, *command, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("temoin: refusing to open the log")
    assert f"{built.path('log.key')} is missing" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not built.path("log.key").exists()


@pytest.mark.parametrize("command", [("verify",), ("checkpoint",)])
def test_cli_refuses_another_vault_key(built: Built, command: tuple[str, ...]) -> None:
    _another_key(built, "vault.key")
    done = temoin(built.settings, *command, check=False)
    assert done.returncode == 2, done.stderr
    assert f"{built.path('vault.key')} is another key" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_verify_refuses_another_access_key(built: Built) -> None:
    """`temoin verify` also checks the access journal, so it needs its key."""
    _another_key(built, "access.key")
    done = temoin(built.settings, "verify", check=False)
    assert done.returncode == 2, done.stderr
    assert f"{built.path('access.key')} is another key" in done.stderr
    assert "1 checkpoint of the access journal is signed by" in done.stderr


def test_garbage_key_file_is_refused_clearly(built: Built) -> None:
    built.path("vault.key").write_text("not a key\n")
    built.path("log.key").write_text("PRIVATE+KEY+nonsense\n")
    done = temoin(built.settings, "verify", check=False)
    assert done.returncode == 2
    assert "vault.key: expected the vault master key as 64 hex digits" in done.stderr
    assert "log.key: signer key" in done.stderr
    assert "Traceback" not in done.stderr


def test_tampered_checkpoint_is_reported_by_verify_not_refused(built: Built,
                                                               raw_db: RawDB) -> None:
    """A checkpoint row that names the right key but whose signature fails is tampering:
    refusing to open would stop `temoin verify` from reporting it."""
    size, note = raw_db.query("SELECT size, note FROM cases_checkpoints ORDER BY size DESC")[0]
    text, _, line = note.rstrip("\n").rpartition("\n")
    name, sig = line[2:].split(" ")
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    forged = f"{text}\n— {name} {base64.b64encode(bytes(raw)).decode()}\n"
    raw_db.execute("UPDATE cases_checkpoints SET note = ? WHERE size = ?", (forged, size))
    done = temoin(built.settings, "verify", check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout
    assert "does not verify" in done.stderr  # the custody warning says why


def test_fresh_database_still_gets_new_keys(settings: Settings) -> None:
    done = temoin(settings, "keygen")
    assert done.stdout.startswith(settings.origin + "+")
    assert (settings.data_dir / "log.key").is_file()


# --------------------------------------------------------------------------- backup/restore


def _passphrase_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"pass-{len(text)}-{text[:3]}"
    path.write_text(text + "\n")
    return path


def test_backup_delete_restore_then_serve_and_verify(built: Built, tmp_path: Path) -> None:
    pw = _passphrase_file(tmp_path, "correct horse battery staple")
    out = tmp_path / "keys.backup"
    done = temoin(built.settings, "keys", "backup", "--out", str(out), "--passphrase-file",
                  str(pw))
    assert "encrypted with the passphrase" in done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    secret = built.originals["vault.key"].decode().strip()
    assert secret not in out.read_text() and "PRIVATE+KEY" not in out.read_text()
    plain = tmp_path / "plain.backup"
    temoin(built.settings, "keys", "backup", "--out", str(plain))
    assert secret in plain.read_text()  # unencrypted: the keys as they are
    for name in KEYS:
        built.path(name).unlink()
    assert temoin(built.settings, "verify", check=False).returncode == 2
    done = temoin(built.settings, "keys", "restore", str(out), "--passphrase-file", str(pw))
    assert done.stdout.count("restored (mode 0600)") == 3, done.stdout
    assert built.key_files() == built.originals
    for name in KEYS:
        assert stat.S_IMODE(built.path(name).stat().st_mode) == 0o600
    # Restoring again is a no-op; the plain backup holds the same keys.
    again = temoin(built.settings, "keys", "restore", str(plain))
    assert again.stdout.count("already in place") == 3
    token = admin_token(built.settings)
    with serving(built.settings, tmp_path / "serve.log") as served, httpx.Client(
        base_url=served.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as c:
        assert c.get("/v1/log/key").text.strip() == built.verifier_key
        bundle = c.get("/v1/cases/K-1/bundle")
        assert bundle.status_code == 200, bundle.text
        with zipfile.ZipFile(io.BytesIO(bundle.content)) as z:
            members = b"".join(z.read(n) for n in z.namelist())
        assert b"Camille Dubois" in members  # the sealed openings are readable again
        c.post("/v1/log/checkpoint").raise_for_status()
    done = temoin(built.settings, "verify")
    assert done.stdout.startswith("OK: "), done.stdout


def test_wrong_or_missing_passphrase_is_refused(built: Built, tmp_path: Path) -> None:
    out = tmp_path / "keys.backup"
    temoin(built.settings, "keys", "backup", "--out", str(out),
           TEMOIN_BACKUP_PASSPHRASE="right one")
    for name in KEYS:
        built.path(name).unlink()
    wrong = temoin(built.settings, "keys", "restore", str(out), check=False,
                   TEMOIN_BACKUP_PASSPHRASE="wrong one")
    assert wrong.returncode == 2
    assert "wrong passphrase (or the file was altered)" in wrong.stderr
    none = temoin(built.settings, "keys", "restore", str(out), check=False)
    assert none.returncode == 2
    assert "is encrypted: give its passphrase with --passphrase-file" in none.stderr
    assert built.key_files() == {}
    # The public header is authenticated too: editing it is caught like a wrong passphrase.
    altered = tmp_path / "altered.backup"
    altered.write_text(out.read_text().replace('"created_at": "', '"created_at": "1'))
    done = temoin(built.settings, "keys", "restore", str(altered), check=False,
                  TEMOIN_BACKUP_PASSPHRASE="right one")
    assert done.returncode == 2 and "wrong passphrase (or the file was altered)" in done.stderr
    assert built.key_files() == {}
    # A hostile file cannot make restore spend gigabytes on scrypt.
    greedy = tmp_path / "greedy.backup"
    greedy.write_text(out.read_text().replace('"n": 131072', '"n": 1073741824'))
    done = temoin(built.settings, "keys", "restore", str(greedy), check=False,
                  TEMOIN_BACKUP_PASSPHRASE="right one")
    assert done.returncode == 2 and "are out of range" in done.stderr, done.stderr
    ok = temoin(built.settings, "keys", "restore", str(out), TEMOIN_BACKUP_PASSPHRASE="right one")
    assert ok.stdout.count("restored") == 3


def test_restore_refuses_to_overwrite_a_different_key(built: Built, tmp_path: Path) -> None:
    out = tmp_path / "keys.backup"
    temoin(built.settings, "keys", "backup", "--out", str(out))
    _another_key(built, "vault.key")
    built.path("log.key").unlink()
    other_vault = built.path("vault.key").read_bytes()
    done = temoin(built.settings, "keys", "restore", str(out), check=False)
    assert done.returncode == 2
    assert "nothing restored" in done.stderr
    assert f"{built.path('vault.key')} already exists and holds a different key" in done.stderr
    assert built.path("vault.key").read_bytes() == other_vault
    assert not built.path("log.key").exists()  # all or nothing: not even the missing one


def test_restore_refuses_the_keys_of_another_deployment(built: Built, tmp_path: Path,
                                                        backend: str) -> None:
    other = Settings(database_url=f"sqlite:///{tmp_path / 'other.db'}",
                     data_dir=tmp_path / "other-data", origin=built.settings.origin)
    out = tmp_path / "other.backup"
    temoin(other, "keys", "backup", "--out", str(out))  # a fresh deployment: new keys
    for name in KEYS:
        built.path(name).unlink()
    done = temoin(built.settings, "keys", "restore", str(out), check=False)
    assert done.returncode == 2
    assert "the backup's log.key is another key" in done.stderr
    assert "the backup's vault.key is another key" in done.stderr
    assert "is this the backup of this deployment?" in done.stderr
    assert built.key_files() == {}


def test_bad_input_to_the_key_commands(built: Built, tmp_path: Path) -> None:
    before = built.key_files()
    existing = tmp_path / "existing"
    existing.write_text("keep me")
    garbage = tmp_path / "garbage"
    garbage.write_bytes(os.urandom(300))
    json_other = tmp_path / "other.json"
    json_other.write_text('{"format": "something/v9"}')
    empty_pw = tmp_path / "empty-pw"
    empty_pw.write_text("\n")
    cases = [
        (("keys", "backup", "--out", str(existing)), "refusing to overwrite it"),
        (("keys", "backup", "--out", str(tmp_path / "no-dir" / "b")), "does not exist"),
        (("keys", "backup", "--out", str(tmp_path / "b1"), "--passphrase-file",
          str(tmp_path / "missing-pw")), "cannot read it"),
        (("keys", "backup", "--out", str(tmp_path / "b2"), "--passphrase-file",
          str(empty_pw)), "the passphrase is empty"),
        (("keys", "restore", str(tmp_path / "missing")), "no such file"),
        (("keys", "restore", str(garbage)), "expected a `temoin keys backup` file"),
        (("keys", "restore", str(json_other)), "expected format 'temoin.key-backup/v1'"),
    ]
    for args, message in cases:
        done = temoin(built.settings, *args, check=False)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("temoin: ") and message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert existing.read_text() == "keep me"
    assert not (tmp_path / "b1").exists() and not (tmp_path / "b2").exists()
    assert built.key_files() == before


# --------------------------------------------------------------------------- permissions


def test_fresh_data_dir_is_owner_only_whatever_the_umask(backend: str, database_url: str,
                                                         tmp_path: Path) -> None:
    data = tmp_path / "data"
    # The default layout: the SQLite database inside the data folder, beside the keys.
    url = f"sqlite:///{data / 'temoin.db'}" if backend == "sqlite" else database_url
    settings = Settings(database_url=url, data_dir=data, origin="test.example/log")
    old = os.umask(0o022)  # the usual umask: without explicit modes, files would be 0644
    try:
        token = admin_token(settings)
        with serving(settings, tmp_path / "serve.log") as served, httpx.Client(
            base_url=served.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as c:
            upload_example_evidence(c)
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}
            evidence = [stat.S_IMODE(p.stat().st_mode) for p in (data / "evidence").iterdir()]
    finally:
        os.umask(old)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert modes.pop("evidence") == 0o700
    assert evidence and set(evidence) == {0o600}
    if backend == "sqlite":  # the server was running: WAL mode's side files existed
        assert {"temoin.db", "temoin.db-wal", "temoin.db-shm"} <= set(modes), modes
    assert set(modes) >= set(KEYS)
    assert modes == dict.fromkeys(modes, 0o600), modes


def test_an_existing_loose_data_dir_is_reported(settings: Settings) -> None:
    settings.data_dir.mkdir(mode=0o755)
    os.chmod(settings.data_dir, 0o755)
    done = temoin(settings, "verify")
    assert f"{settings.data_dir} has mode 0755" in done.stderr
    assert f"chmod 700 {settings.data_dir}" in done.stderr
    assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o755  # reported, not changed
