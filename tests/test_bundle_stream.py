"""Streamed bundles over HTTP, on both backends: evidence above 1 MiB is copied into the ZIP
in chunks (ZIP64, stored when it does not deflate), the download is written to an unnamed
temporary file that is gone after the download, after an aborted one and after a refusal;
a changed byte in a large member is named; evidence downloads are in the access journal.

The 2 GiB bundle through a real `temoin serve`, with memory measured, is in
tests/test_bundle_large.py.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.limits import MIB, Limits
from ledger.apikeys import create_key
from ledger.events.examples import DEFECT_PHOTO, DELIVERY_PHOTO
from projections.bundle import BY_HAND_SCRIPT, STREAM_ABOVE
from tests.e2e import temoin
from verifier.bundle import verify_bundle

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    ApiServer,
    _settings,
    example,
    is_problem,
    new_case,
    running_server,
    upload_example_evidence,
)

# Two incompressible files (stored in the ZIP) and one text file that deflates, all above
# STREAM_ABOVE so that they take the streamed path; 2 x 24 MiB makes the download far larger
# than the socket buffers, so that a client leaving after 1 MiB leaves mid-way.
RANDOM_SIZE = 24 * MIB
TEXT_SIZE = 3 * MIB


@dataclass
class StreamCase:
    api: ApiServer
    case: str
    photo: str  # random bytes
    defect: str  # random bytes
    text: str  # compressible


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def compressible(size: int) -> bytes:
    line = b"2026-11-20T10:00:00Z scan parcel 6A12345678901 at hub Lyon-Corbas, status ok\n"
    return (line * (size // len(line) + 1))[:size]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ApiServer]:
    directory = tmp_path_factory.mktemp(f"stream-{request.param}")
    for settings in _settings(request.param, directory):
        with running_server(settings, Limits(max_evidence=64 * MIB)) as server:
            yield server


@pytest.fixture(scope="module")
def streamed(api: ApiServer) -> StreamCase:
    case = new_case("STREAM")
    with slow_client(api) as c:
        files = upload_example_evidence(c)
        sha = {}
        for name, data, media in (("photo", random_bytes(RANDOM_SIZE), "image/jpeg"),
                                  ("defect", random_bytes(RANDOM_SIZE), "image/jpeg"),
                                  ("text", compressible(TEXT_SIZE), "text/plain")):
            r = c.post("/v1/evidence", content=data, headers={"Content-Type": media})
            assert r.status_code == 201, r.text
            sha[name] = r.json()["sha256"]
        bodies = [example("CaseOpened", files), example("LetterSent", files),
                  example("DeliveryPhotoTaken", {**files, DELIVERY_PHOTO: sha["photo"]}),
                  example("NonConformityReported", {**files, DEFECT_PHOTO: sha["defect"]}),
                  example("DeliveryPhotoTaken", {**files, DELIVERY_PHOTO: sha["text"]})]
        for body in bodies:
            r = c.post(f"/v1/cases/{case}/events", json=body)
            assert r.status_code == 201, r.text
    return StreamCase(api, case, sha["photo"], sha["defect"], sha["text"])


def slow_client(api: ApiServer) -> httpx.Client:
    client = api.client()
    client.timeout = httpx.Timeout(300)  # tens of MiB on a shared, loaded machine
    return client


def temporaries(directory: Path) -> list[str]:
    """Files of this process open in `directory` that have no name (left by a bundle), and
    any named leftover: both must be gone once a download is over."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(directory)) and target.endswith("(deleted)"):
            found.append(target)
    return found + [str(p) for p in directory.glob(".bundle-*")]


def wait_no_temporaries(directory: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (left := temporaries(directory)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"temporary bundle files still open or present: {left}"


def download(api: ApiServer, case: str, path: Path) -> httpx.Response:
    with slow_client(api) as c, c.stream("GET", f"/v1/cases/{case}/bundle") as r:
        if r.status_code == 200:
            with path.open("wb") as out:
                for chunk in r.iter_bytes(1 << 20):
                    out.write(chunk)
        else:
            r.read()
    return r


def member_data_offset(path: Path, name: str) -> tuple[int, zipfile.ZipInfo]:
    """Where `name`'s bytes start in the ZIP file (after its local header)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    with path.open("rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len, info


def test_streamed_bundle_verifies_and_leaves_no_temporary_file(streamed: StreamCase,
                                                               tmp_path: Path) -> None:
    api = streamed.api
    path = tmp_path / "bundle.zip"
    r = download(api, streamed.case, path)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert int(r.headers["content-length"]) == path.stat().st_size > 2 * RANDOM_SIZE
    wait_no_temporaries(api.settings.data_dir)
    report = verify_bundle(path, trusted_key=api.services.ledger.key.verifier_key)
    assert report.ok, [str(c) for c in report.failures]
    assert report.evidence_files == 4  # the letter (small) and the 3 large files
    with zipfile.ZipFile(path) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    for sha in (streamed.photo, streamed.defect):
        info = infos[f"evidence/{sha}"]
        # Incompressible: stored, with ZIP64 sizes (written before the size is known).
        assert info.compress_type == zipfile.ZIP_STORED and info.extract_version >= 45
        assert info.file_size == RANDOM_SIZE
    text = infos[f"evidence/{streamed.text}"]
    assert text.compress_type == zipfile.ZIP_DEFLATED and text.compress_size < TEXT_SIZE // 10
    small = [i for n, i in infos.items() if n.startswith("evidence/") and
             i.file_size <= STREAM_ABOVE]
    assert small and all(i.compress_type == zipfile.ZIP_DEFLATED for i in small)
    # The by-hand listing of HOW-TO-VERIFY.txt still applies: names and order unchanged.
    assert list(infos)[:2] == ["manifest.json", "manifest.sig"]


def test_unzip_and_the_by_hand_procedure_read_a_streamed_bundle(streamed: StreamCase,
                                                                tmp_path: Path) -> None:
    # What a lawyer's expert does: Info-ZIP's unzip (ZIP64 members), then the shell script
    # of HOW-TO-VERIFY.txt, which hashes every evidence file with sha256sum.
    path = tmp_path / "bundle.zip"
    assert download(streamed.api, streamed.case, path).status_code == 200
    folder = tmp_path / "unzipped"
    folder.mkdir()
    subprocess.run(["unzip", "-q", str(path)], cwd=folder, check=True, timeout=120)
    assert (folder / f"evidence/{streamed.photo}").stat().st_size == RANDOM_SIZE
    (tmp_path / "verify-by-hand.sh").write_text(BY_HAND_SCRIPT)
    vkey = streamed.api.services.ledger.key.verifier_key
    done = subprocess.run(["sh", "../verify-by-hand.sh", vkey], cwd=folder, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"OK   evidence/{streamed.text}" in done.stdout
    assert done.stdout.splitlines()[-1] == "VERDICT: every check above passed"


def test_flipped_byte_in_a_large_member_is_named(streamed: StreamCase, tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    assert download(streamed.api, streamed.case, path).status_code == 200
    name = f"evidence/{streamed.defect}"
    start, info = member_data_offset(path, name)
    with path.open("r+b") as fh:  # one bit, in the middle of the stored member, in place
        fh.seek(start + info.compress_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0x01]))
    report = verify_bundle(path, trusted_key=streamed.api.services.ledger.key.verifier_key)
    assert not report.ok
    assert {c.place for c in report.failures} == {name}, [str(c) for c in report.failures]
    assert any("altered" in c.detail for c in report.failures)


def test_aborted_download_releases_the_temporary_file(streamed: StreamCase) -> None:
    api = streamed.api
    host, port = api.base_url.removeprefix("http://").split(":")
    # A raw client with a small receive buffer, so that the kernel cannot absorb the whole
    # ~50 MiB answer (loopback buffers reach 32 MiB here): the server is surely mid-way.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(120)
    sock.connect((host, int(port)))
    sock.sendall(f"GET /v1/cases/{streamed.case}/bundle HTTP/1.1\r\nHost: {host}\r\n"
                 f"Authorization: Bearer {api.admin_token}\r\n\r\n".encode())
    received = b""
    while len(received) < 1 << 20:
        chunk = sock.recv(1 << 16)
        assert chunk, received[:200]
        received += chunk
    assert received.startswith(b"HTTP/1.1 200 ") and b"\r\n\r\nPK\x03\x04" in received
    assert temporaries(api.settings.data_dir)  # the download is under way, from its file
    sock.close()
    # The client left after 1 MiB of ~50: the server notices and closes (frees) the file.
    wait_no_temporaries(api.settings.data_dir)
    with api.client() as c:  # and it still serves
        assert c.get("/healthz").status_code == 200


def test_damaged_evidence_is_a_problem_not_a_truncated_zip(api: ApiServer) -> None:
    case = new_case("DAMAGED")
    data = random_bytes(2 * MIB)
    with api.client() as c:
        files = upload_example_evidence(c)
        sha = c.post("/v1/evidence", content=data, headers={"Content-Type": "image/jpeg"}
                     ).json()["sha256"]
        for body in (example("CaseOpened", files),
                     example("DeliveryPhotoTaken", {**files, DELIVERY_PHOTO: sha})):
            assert c.post(f"/v1/cases/{case}/events", json=body).status_code == 201
    stored = api.services.ledger.files.path(sha)
    stored.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, last byte changed
    try:
        with api.client() as c:
            body = is_problem(c.get(f"/v1/cases/{case}/bundle"), 500)
        assert body["type"].endswith("/evidence-damaged")
        wait_no_temporaries(api.settings.data_dir)
    finally:
        stored.write_bytes(data)  # the module's other tests verify the whole log


def test_not_enough_disk_space_is_507_and_leaves_nothing(api: ApiServer) -> None:
    case = new_case("NOSPACE")
    with api.client() as c:
        assert c.post(f"/v1/cases/{case}/events",
                      json=example("CaseOpened")).status_code == 201
    # Another server on the same database and data folder, which must keep more free space
    # than any disk has.
    with running_server(api.settings, Limits(bundle_disk_reserve=2**62)) as tight:
        with tight.client() as c:
            r = c.get(f"/v1/cases/{case}/bundle")
        body = is_problem(r, 507)
        assert body["type"].endswith("/insufficient-storage")
        assert "TEMOIN_BUNDLE_DISK_RESERVE" in body["detail"] and r.headers["retry-after"]
        wait_no_temporaries(api.settings.data_dir)


def test_evidence_download_is_journaled(streamed: StreamCase) -> None:
    api = streamed.api
    journal = api.services.journal
    key_id, token = create_key(api.services.ledger.store, "auditor", api.tenant)
    trail = f"evidence/{streamed.text}"
    before = len(journal.journal(api.tenant, trail))
    with api.client(token) as c:
        r = c.get(f"/v1/evidence/{streamed.text}")
        assert r.status_code == 200 and len(r.content) == TEXT_SIZE
        is_problem(c.get(f"/v1/evidence/{'0' * 64}"), 404)  # unknown: nothing recorded
    rows = journal.journal(api.tenant, trail)
    assert len(rows) == before + 1
    last = rows[-1]
    assert (last["who"], last["role"], last["action"], last["detail"]) == (
        key_id, "auditor", "read_evidence", streamed.text)
    assert journal.journal(api.tenant, f"evidence/{'0' * 64}") == []
    # A lawyer who cannot see the file gets 404, and no trail grows.
    _, lawyer = create_key(api.services.ledger.store, "lawyer", api.tenant, [new_case()])
    with api.client(lawyer) as c:
        is_problem(c.get(f"/v1/evidence/{streamed.text}"), 404)
    assert len(journal.journal(api.tenant, trail)) == before + 1
    # Both logs (cases and access journal) and every evidence file verify.
    journal.sign_checkpoint()
    out = temoin(api.settings, "verify", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
