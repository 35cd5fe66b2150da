"""The case file (ledger/case_file.py): one read of a case, its proofs fetched together, a
bounded number of queries whatever the number of entries; and GETs that write nothing but
the access journal (over HTTP, on a real server, both backends)."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.apikeys import create_key
from ledger.case_file import read_case_file
from ledger.ledger import AppendRequest, Ledger
from ledger.merkle import root_from_inclusion_proof, verify_consistency
from projections.bundle import BundleBuildError, plan_case_bundle, write_bundle
from projections.pdf import render_report_pdf, render_timeline_pdf
from projections.pdf.sources import case_file_evidence, case_file_openings
from projections.report import integrity_report, report_of
from projections.views import timeline_of
from scripts import measure_case_reads as measure
from tests.helpers import request
from verifier.bundle import verify_bundle

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import (  # noqa: E402
    _settings,
    example,
    new_case,
    upload_example_evidence,
)
from tests.conftest import BACKENDS  # noqa: E402


def _open(case: str) -> AppendRequest:
    return request(case, "CaseOpened")


def _scan(case: str, i: int) -> AppendRequest:
    return request(case, "GpsScanRecorded")


def _case_of(ledger: Ledger, entries: int) -> str:
    """A case of `entries` entries interleaved with another case's, checkpointed in between
    (so the report has a history of consistency proofs to check)."""
    case, other = new_case("CF"), new_case("OTHER")
    ledger.append([_open(case), _open(other)])
    for i in range(1, entries):
        ledger.append([_scan(case, i), _scan(other, i)])
        if i % 7 == 0:
            ledger.sign_checkpoint()
    return case


@contextmanager
def _counting(ledger: Ledger) -> Iterator[Counter[str]]:
    """Count the store's calls that reach the database, by method."""
    store = ledger.store
    counts: Counter[str] = Counter()
    originals = {}
    for name in ("_query", "_stream", "_execute", "_transaction", "select_events"):
        method = getattr(store, name)
        originals[name] = method

        def wrapper(*args: Any, _name: str = name, _m: Callable[..., Any] = method,
                    **kwargs: Any) -> Any:
            counts[_name] += 1
            return _m(*args, **kwargs)

        setattr(store, name, wrapper)
    try:
        yield counts
    finally:
        for name in originals:
            delattr(store, name)


def test_queries_do_not_depend_on_the_number_of_entries(ledger: Ledger) -> None:
    counts = []
    for entries in (5, 60):
        case = _case_of(ledger, entries)
        checkpoint = ledger.sign_checkpoint()
        with _counting(ledger) as counted:
            file = read_case_file(ledger, "shop-1", case, checkpoint=checkpoint,
                                  openings=True, evidence=True)
        assert len(file.entries) == entries
        assert not counted["_execute"] and not counted["_transaction"], counted
        counts.append(sum(counted.values()))
    # tree size, leaves, last leaf, checkpoint history, nodes, attestations, case key, openings
    assert counts[0] == counts[1] == 8, counts


def test_proofs_are_the_ledgers(ledger: Ledger) -> None:
    case = _case_of(ledger, 30)
    checkpoint = ledger.sign_checkpoint()
    file = read_case_file(ledger, "shop-1", case, checkpoint=checkpoint)
    assert [e.index for e in file.entries] == sorted(e.index for e in file.entries)
    for e in file.entries:
        assert list(file.proofs[e.index]) == ledger.inclusion_proof(e.index, checkpoint.size)
        root = root_from_inclusion_proof(e.index, checkpoint.size, e.leaf_hash,
                                         file.proofs[e.index])
        assert root == checkpoint.root
    assert len(file.history) >= 4
    for a, b in zip(file.history, file.history[1:], strict=False):
        proof = file.consistency[(a.size, b.size)]
        assert list(proof) == ledger.consistency_proof(a.size, b.size)
        verify_consistency(a.size, b.size, a.root, b.root, proof)
    report = integrity_report(ledger, "shop-1", case, checkpoint=checkpoint)
    # The examples occurred long ago: late arrivals are warnings, nothing is KO.
    assert report is not None and report["summary"]["ko"] == 0, report["anomalies"]
    assert all(row["consistency"] in ("OK", "n/a") for row in report["checkpoints"])


def test_a_case_file_stands_at_its_size(ledger: Ledger) -> None:
    case = _case_of(ledger, 6)
    early = ledger.sign_checkpoint()
    ledger.append([_scan(case, 99)])
    file = read_case_file(ledger, "shop-1", case, checkpoint=early)
    assert len(file.entries) == 6 and file.size == early.size
    assert file.tree_size == early.size + 1
    assert read_case_file(ledger, "shop-1", "no-such-case", checkpoint=early).entries == ()


# -- over HTTP: a GET writes the access journal and nothing else ----------------------------
# Every store call a request makes is counted in that request's own context
# (scripts/measure_case_reads.py), so the background tasks' writes (the checkpointer's
# signatures, the follower's projections), which a read may wait for, are told apart from
# the route's own.

WRITES = ("_execute", "_transaction", "append_events", "insert_events")


@pytest.fixture(scope="module", params=BACKENDS)
def counted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[httpx.Client, Any]]:
    measure._count_calls()
    for settings in _settings(request.param, tmp_path_factory.mktemp(request.param)):
        server, thread, base, counting, app = measure._serve(settings)
        try:
            _, token = create_key(app.state.services.ledger.store, "admin", "shop-1")
            with httpx.Client(base_url=base, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as client:
                yield client, counting
        finally:
            server.should_exit = True
            thread.join(timeout=30)


@pytest.mark.parametrize(("path", "headers"), [
    ("/v1/cases/CASE/bundle", {}),
    ("/v1/cases/CASE/report", {}),
    ("/v1/cases/CASE/report", {"Accept": "application/pdf"}),
    ("/v1/cases/CASE/timeline", {}),
    ("/v1/cases/CASE/timeline?size=FIRST", {}),
    ("/v1/cases/CASE", {}),
    ("/v1/cases/CASE/entries", {}),
    ("/v1/cases?q=CASE", {}),
    ("/v1/log/checkpoint", {}),
])
def test_a_get_writes_nothing_but_the_access_journal(
    counted: tuple[httpx.Client, Any], path: str, headers: dict[str, str]
) -> None:
    client, counting = counted
    case = new_case("GET")
    files = upload_example_evidence(client)
    indices = []
    for t in ("CaseOpened", "LetterSent", "DeliveryPhotoTaken"):
        r = client.post(f"/v1/cases/{case}/events", json=example(t, files))
        assert r.status_code == 201, r.text
        indices.append(r.json()["index"])
    # FIRST: replayed with its first entry only
    path = path.replace("CASE", case).replace("FIRST", str(indices[1]))
    # At once: the log grew, no checkpoint covers it yet, the projections may lag.
    done = counting.done
    r = client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 10
    while counting.done == done and time.monotonic() < deadline:
        time.sleep(0.001)
    calls = counting.last
    writes = {name: n for name, n in calls.items() if name.split(".")[1] in WRITES}
    journaled = path.startswith("/v1/cases/")  # a listing and the log's routes are not
    assert writes == ({"access.append_events": 1} if journaled else {}), calls
    assert any(name.startswith("cases.") for name in calls), calls


def test_a_bundle_right_after_an_append_covers_it(counted: tuple[httpx.Client, Any]) -> None:
    """The route signs nothing itself, yet waits for the checkpointer's task to cover every
    entry appended before the request."""
    client, _ = counted
    case = new_case("FRESH")
    r = client.post(f"/v1/cases/{case}/events", json=example("CaseOpened"))
    index = r.json()["index"]
    bundle = client.get(f"/v1/cases/{case}/bundle")
    assert bundle.status_code == 200, bundle.text
    size = int(bundle.headers["content-disposition"].rsplit("-", 1)[1].split(".")[0])
    assert size > index


def test_each_evidence_file_is_read_once_per_bundle(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the case file is read, the report's checks, both PDFs' thumbnails and the bundle's
    members are built without opening an evidence file again."""
    from tests.test_bundle import CASE, TENANT, build_case

    built = build_case(ledger)
    file = read_case_file(ledger, TENANT, CASE, checkpoint=built.checkpoint, openings=True,
                          evidence=True)
    assert len(file.evidence) == 3 and all(s.sound and s.data for s in file.evidence.values())
    evidence_dir = ledger.files.directory.resolve()
    real_open, opened = Path.open, []

    def guarded_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.resolve().parent == evidence_dir:
            opened.append(self.name)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", guarded_open)
    report = report_of(file)
    assert report is not None and report["summary"]["ko"] == 0
    files = case_file_evidence(file)
    opened_by = case_file_openings(file)
    view = timeline_of(file)
    timeline_pdf = render_timeline_pdf(view, lang="en", openings=opened_by, evidence=files)
    report_json = json.dumps(report).encode()
    report_pdf = render_report_pdf(report, lang="en", openings=opened_by, evidence=files,
                                   report_json=report_json)
    plan = plan_case_bundle(file, sign=ledger.key.sign_note, include_openings=True,
                            timeline_pdf=timeline_pdf, report_pdf=report_pdf,
                            report_json=report_json)
    out = io.BytesIO()
    write_bundle(plan, out)
    assert opened == []
    assert verify_bundle(out.getvalue(), trusted_key=ledger.key.verifier_key).ok


def test_a_file_altered_after_the_read_is_not_in_the_bundle(ledger: Ledger) -> None:
    """The bundle carries the bytes the case file hashed, not what the disk holds later."""
    from tests.test_bundle import CASE, TENANT, build_case

    built = build_case(ledger)
    file = read_case_file(ledger, TENANT, CASE, checkpoint=built.checkpoint, evidence=True)
    path = ledger.files.path(built.photo)
    path.chmod(0o600)
    path.write_bytes(b"altered")
    plan = plan_case_bundle(file, sign=ledger.key.sign_note, include_openings=False,
                            timeline_pdf=b"%PDF", report_pdf=b"%PDF", report_json=b"{}")
    out = io.BytesIO()
    write_bundle(plan, out)
    with zipfile.ZipFile(out) as zf:
        assert hashlib.sha256(zf.read(f"evidence/{built.photo}")).hexdigest() == built.photo
    altered = read_case_file(ledger, TENANT, CASE, checkpoint=built.checkpoint, evidence=True)
    with pytest.raises(BundleBuildError, match="no longer has that SHA-256"):
        plan_case_bundle(altered, sign=ledger.key.sign_note, include_openings=False,
                         timeline_pdf=b"%PDF", report_pdf=b"%PDF", report_json=b"{}")
