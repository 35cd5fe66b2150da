"""Large bundles: a 2 GiB case through a real `temoin serve` (SQLite), downloaded with the
server's memory measured, then verified by `temoin verify` with its own memory measured; and
an evidence member over 4 GiB (ZIP64 sizes), built and verified in-process.

The figures are printed (run with -s) and recorded in docs/RELIABILITY.md, "Large bundles".
The PostgreSQL side of streamed bundles (tens of MiB) is in tests/test_bundle_stream.py.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.limits import MIB
from ledger.config import Settings
from ledger.events.examples import DELIVERY_PHOTO
from ledger.evidence import StoredFile
from ledger.ledger import Ledger
from projections.bundle import plan_bundle, write_bundle
from tests.api_server import example
from tests.e2e import ROOT, admin_token, env_for, serving
from tests.helpers import request
from tests.test_bundle import REPORT_JSON, REPORT_PDF, TIMELINE_PDF, _with_file
from verifier.bundle import verify_bundle

FILES = 4
FILE_SIZE = 512 * MIB
# What the download may add to the server's resident memory (server and its projections
# child), and the most the offline verifier may use in all. Both stay far below the bundle.
SERVER_GROWTH_LIMIT = 200 * 10**6
VERIFIER_PEAK_LIMIT = 200 * 10**6
VERIFIER_GROWTH_LIMIT = 32 * 10**6


def file_chunks(seed: int, size: int) -> Iterator[bytes]:
    """`size` bytes that DEFLATE cannot shrink (a random MiB, repeated beyond its 32 KiB
    window, each copy numbered), made as they are sent: never held whole in memory."""
    block = random.Random(seed).randbytes(MIB)
    for i in range(size // MIB):
        yield i.to_bytes(8, "big") + seed.to_bytes(8, "big") + block[16:]


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes (empty once it is gone)."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return found


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (the server forks a projections child)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return pids


class RssSampler(threading.Thread):
    """The peak, over time, of the summed VmRSS of a process tree (every 10 ms)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.pids = process_tree(pid)
        self.baseline = self.total()
        self.hwm_before = {p: status(p).get("VmHWM", 0) for p in self.pids}
        self.rss_before = {p: status(p).get("VmRSS", 0) for p in self.pids}
        self.peak = self.baseline
        self._done = threading.Event()

    def total(self) -> int:
        return sum(status(p).get("VmRSS", 0) for p in self.pids)

    def run(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, self.total())

    def growth(self) -> int:
        """Peak minus baseline; a process whose high-water mark rose between two samples
        counts with its own rise (VmHWM after - VmRSS before)."""
        self._done.set()
        self.join()
        sampled = self.peak - self.baseline
        by_hwm = [status(p).get("VmHWM", 0) - self.rss_before[p] for p in self.pids
                  if status(p).get("VmHWM", 0) > self.hwm_before[p]]
        return max([sampled, *by_hwm])


def deleted_files_in(pid: int, directory: Path) -> list[str]:
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(directory)) and target.endswith("(deleted)"):
            found.append(target)
    return found


# The child's peak RSS is read by a small launcher, not by the test process: Linux carries a
# process's peak RSS across exec, so a child forked from a large pytest process (800 MB after
# the whole suite) would report the pytest's size, not its own.
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as fh:\n"
    "    fh.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def run_measured(args: list[str], env: dict[str, str], out: Path) -> tuple[int, int, float]:
    """(exit status, peak RSS in bytes, seconds) of a command, from its own rusage."""
    started = time.monotonic()
    peak_file = out.with_suffix(".maxrss")
    with out.open("wb") as sink:
        done = subprocess.run([sys.executable, "-c", _LAUNCHER, str(peak_file), *args],
                              env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    return done.returncode, int(peak_file.read_text()) * 1024, time.monotonic() - started


@pytest.mark.slow
def test_two_gib_bundle_streams_with_flat_memory(tmp_path: Path) -> None:
    total = FILES * FILE_SIZE
    # Evidence, the server's temporary bundle and the downloaded copy, plus room to spare.
    need = 3 * total + 2**30
    free = shutil.disk_usage(tmp_path).free
    assert free > need, (f"this test needs {need:,} bytes free under {tmp_path}, found "
                         f"{free:,}: free disk space (or point TMPDIR elsewhere)")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'temoin.db'}",
                        data_dir=tmp_path / "data", origin="test.example/log")
    token = admin_token(settings)
    bundle = tmp_path / "bundle.zip"
    case = "LARGE-1"
    try:
        with serving(settings, tmp_path / "server.log",
                     TEMOIN_MAX_EVIDENCE=str(FILE_SIZE)) as served:
            client = httpx.Client(base_url=served.base_url, timeout=600,
                                  headers={"Authorization": f"Bearer {token}"})
            started = time.monotonic()
            shas = []
            for seed in range(FILES):
                r = client.post("/v1/evidence", content=file_chunks(seed, FILE_SIZE),
                                headers={"Content-Type": "image/jpeg"})
                assert r.status_code == 201, r.text
                shas.append(r.json()["sha256"])
            bodies = [example("CaseOpened")] + [
                example("DeliveryPhotoTaken", {DELIVERY_PHOTO: sha}) for sha in shas]
            for body in bodies:
                r = client.post(f"/v1/cases/{case}/events", json=body)
                assert r.status_code == 201, r.text
            uploaded = time.monotonic() - started
            vkey = client.get("/v1/log/key").text.strip()
            # A one-entry case: its bundle gives the verifier's baseline memory.
            r = client.post("/v1/cases/SMALL-1/events", json=example("CaseOpened"))
            assert r.status_code == 201, r.text
            small = client.get("/v1/cases/SMALL-1/bundle")
            assert small.status_code == 200, small.text
            (tmp_path / "small.zip").write_bytes(small.content)

            sampler = RssSampler(served.process.pid)
            sampler.start()
            started = time.monotonic()
            with client.stream("GET", f"/v1/cases/{case}/bundle") as r, \
                    bundle.open("wb") as out:
                assert r.status_code == 200, r.read()
                built = time.monotonic() - started  # headers come once the ZIP is written
                for chunk in r.iter_bytes(MIB):
                    out.write(chunk)
            download_seconds = time.monotonic() - started
            growth = sampler.growth()
            assert int(r.headers["content-length"]) == bundle.stat().st_size
            # The temporary file is closed (its space freed) once the download is over.
            deadline = time.monotonic() + 15
            while (left := deleted_files_in(served.process.pid, settings.data_dir)) and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            assert not left, left
            client.close()
        shutil.rmtree(settings.evidence_dir)  # the verifier needs only the bundle
        size = bundle.stat().st_size
        assert size > total
        with zipfile.ZipFile(bundle) as zf:
            infos = [i for i in zf.infolist() if i.filename.startswith("evidence/")]
        assert [i.file_size for i in infos] == [FILE_SIZE] * FILES
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)

        code, verifier_base, _ = run_measured(
            [sys.executable, "-m", "scripts.cli", "verify", str(tmp_path / "small.zip"),
             "--key", vkey], env_for(settings), tmp_path / "verify-small.out")
        assert code == 0, (tmp_path / "verify-small.out").read_text()[-3000:]
        code, verifier_peak, verify_seconds = run_measured(
            [sys.executable, "-m", "scripts.cli", "verify", str(bundle), "--key", vkey,
             "--lang", "en"],
            env_for(settings), tmp_path / "verify.out")
        output = (tmp_path / "verify.out").read_text()
        assert code == 0, output[-3000:]
        assert output.splitlines()[-1].startswith("VERDICT: the bundle is intact and signed")
        assert sum(f"OK   evidence/{sha}: is the file referenced by index" in output
                   for sha in shas) == FILES
        print(f"\nLarge bundle: {size:,} bytes ({FILES} x {FILE_SIZE // MIB} MiB evidence); "
              f"upload {uploaded:.1f} s; download {download_seconds:.1f} s (first byte after "
              f"{built:.1f} s), server RSS "
              f"growth {growth / 1e6:.1f} MB (baseline {sampler.baseline / 1e6:.1f} MB); "
              f"temoin verify {verify_seconds:.1f} s, peak RSS {verifier_peak / 1e6:.1f} MB "
              f"({verifier_base / 1e6:.1f} MB for a one-entry bundle)")
        assert growth < SERVER_GROWTH_LIMIT, f"server grew by {growth:,} bytes"
        assert verifier_peak < VERIFIER_PEAK_LIMIT, f"verifier peaked at {verifier_peak:,}"
        # Flat: 2 GiB of evidence costs the verifier what a one-entry bundle does, give or
        # take its 1 MiB read buffers.
        assert verifier_peak - verifier_base < VERIFIER_GROWTH_LIMIT, (verifier_peak,
                                                                      verifier_base)
    finally:
        bundle.unlink(missing_ok=True)
        shutil.rmtree(settings.evidence_dir, ignore_errors=True)


@pytest.mark.slow
def test_bundle_over_4_gib_is_zip64(tmp_path: Path) -> None:
    # An evidence file of 4 GiB + 1 MiB that costs no disk: 256 KiB of random bytes (so the
    # builder stores it rather than deflate it), then a hole of zeros. The bundle then holds
    # a member over 4 GiB (ZIP64 sizes) and, after it, members and a central directory at
    # offsets over 4 GiB (ZIP64 offsets and end records).
    size = 2**32 + MIB
    assert shutil.disk_usage(tmp_path).free > size + 2**30, "needs ~5 GiB free for the ZIP"
    head = random.Random(4).randbytes(256 * 1024)
    digest = hashlib.sha256(head)
    zeros = bytes(MIB)
    left = size - len(head)
    while left:
        digest.update(zeros[:min(left, MIB)])
        left -= min(left, MIB)
    sha = digest.hexdigest()
    ledger = Ledger(Settings(database_url=f"sqlite:///{tmp_path / 'temoin.db'}",
                             data_dir=tmp_path / "data", origin="test.example/log"))
    bundle = tmp_path / "bundle.zip"
    try:
        path = ledger.files.path(sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            fh.write(head)
            fh.truncate(size)
        ledger.register_evidence("shop-1", StoredFile(sha, size), "video/mp4")
        ledger.append([request("CMD-2025-004817", "CaseOpened")])
        ledger.append([_with_file("DeliveryPhotoTaken", "photo_sha256", sha, "delivery_photo")])
        plan = plan_bundle(ledger, tenant="shop-1", case="CMD-2025-004817",
                           include_openings=True, timeline_pdf=TIMELINE_PDF,
                           report_pdf=REPORT_PDF, report_json=REPORT_JSON)
        started = time.monotonic()
        with bundle.open("wb") as out:
            write_bundle(plan, out)
        built = time.monotonic() - started
        assert plan.max_size >= bundle.stat().st_size > size
        with zipfile.ZipFile(bundle) as zf:
            infos = zf.infolist()
        member = next(i for i in infos if i.filename == f"evidence/{sha}")
        assert member.file_size == size and member.compress_type == zipfile.ZIP_STORED
        assert infos[-1].filename == "HOW-TO-VERIFY.txt" and infos[-1].header_offset > 2**32
        started = time.monotonic()
        report = verify_bundle(bundle, trusted_key=ledger.key.verifier_key)
        verified = time.monotonic() - started
        assert report.ok, [str(c) for c in report.failures]
        assert f"{size:,} bytes" in next(c.detail for c in report.checks
                                          if c.place == f"evidence/{sha}")
        print(f"\nZIP64 bundle: {bundle.stat().st_size:,} bytes, written in {built:.1f} s, "
              f"verified in {verified:.1f} s")
    finally:
        ledger.close()
        bundle.unlink(missing_ok=True)
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
