"""The PDF renderings of the timeline and the integrity report (projections/pdf).

The fixtures were produced by the real ledger and projections for a French e-commerce dispute
(CMD-2025-004817: a parcel "never delivered", carrier evidence recorded late, an electronic
registered letter read after an OTP, a withdrawal and a refund).
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from pypdf import PdfReader

from projections.i18n import translator
from projections.legal_calendar import PARIS
from projections.pdf import render_report_pdf, render_timeline_pdf
from projections.pdf.layout import (
    MONO_STYLE,
    Document,
    Style,
    format_delay,
    format_time,
    group_hex,
    parse_time,
    safe_text,
    wrap,
)
from projections.pdf.story import event_name

FIXTURES = Path(__file__).parent / "fixtures"


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def timeline() -> dict[str, Any]:
    return _load("timeline_example.json")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return _load("report_example.json")


@pytest.fixture(scope="module")
def timeline_pdf(timeline: dict[str, Any]) -> bytes:
    return render_timeline_pdf(timeline, lang="en")


@pytest.fixture(scope="module")
def report_pdf(report: dict[str, Any]) -> bytes:
    return render_report_pdf(report, lang="en")


def _reader(data: bytes) -> PdfReader:
    assert data.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(data))


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in _reader(data).pages)


EN = translator("en")


def _paris(value: str) -> str:
    moment = parse_time(value)
    assert moment is not None
    return f"{moment.astimezone(PARIS):%d/%m/%Y %H:%M:%S}"


def _squash(value: str) -> str:
    # Table cells wrap (a time on two lines, a hash in groups of 8): compare without spaces.
    return re.sub(r"\s+", "", value)


# ------------------------------------------------------------------------------- the fixtures


def test_timeline_pdf_parses_and_shows_every_entry(
    timeline: dict[str, Any], timeline_pdf: bytes
) -> None:
    reader = _reader(timeline_pdf)
    assert len(reader.pages) >= 1
    text = _text(timeline_pdf)
    flat = _squash(text)
    assert timeline["case"] in text
    assert "page 1 /" in text
    for entry in timeline["entries"]:
        assert entry["type"] in text  # in the fingerprints table
        assert _squash(event_name(EN, entry["type"])) in flat  # in the story
        assert _squash(format_time(entry["occurred_at"])) in flat
        assert _squash(_paris(entry["recorded_at"])) in flat
        assert _squash(group_hex(entry["leaf_hash"])) in flat
    for clock in timeline["clocks"]:
        assert clock["status"] in text
    assert f"as of tree size {timeline['as_of_size']}" in text


def test_clocks_print_the_deadline_in_paris_time_with_the_rule(timeline: dict[str, Any]) -> None:
    """A clock's deadline is the end of its last day in Paris: the PDF prints that local time,
    the same instant in UTC, the articles, and the explanation (how the days were counted)."""
    clocks = copy.deepcopy(timeline["clocks"])
    clocks.append({  # the example: a letter the recipient never claimed
        "name": "lre_acceptance", "label": "Registered letter L-9: 15 days to accept or refuse",
        "started_by": {"index": 30, "type": "RecipientNotified", "at": "2026-11-21T23:25:29Z"},
        "deadline": "2026-12-07T22:59:59Z", "status": "unclaimed",
        "met_by": {"index": 31, "type": "LetterUnclaimed", "at": "2026-12-08T06:00:00Z"},
        "last_day": "2026-12-07", "rule": "CPCE R53-3", "timezone": "Europe/Paris",
        "explanation": "Unclaimed: not a failure of the sender.",
    })
    # A summer deadline, and a clock from an older timeline (no zone): printed in UTC.
    clocks.append({**clocks[0], "deadline": "2026-07-15T21:59:59Z", "last_day": "2026-07-15"})
    clocks.append({k: v for k, v in clocks[0].items() if k not in ("timezone", "rule")}
                  | {"deadline": "2024-01-02T03:04:05Z", "explanation": None})
    flat = _squash(_text(render_timeline_pdf({**timeline, "clocks": clocks}, lang="en")))
    assert _squash("Deadline (Paris time)") in flat
    assert _squash("7 December 2026 at 23:59:59 (Paris time) = 2026-12-07 22:59:59 UTC") in flat
    assert _squash("15 July 2026 at 23:59:59 (Paris time) = 2026-07-15 21:59:59 UTC") in flat
    assert _squash("2024-01-02 03:04:05 UTC") in flat
    assert "unclaimed" in flat and _squash("not a failure of the sender") in flat
    for clock in timeline["clocks"]:
        assert _squash(clock["rule"]) in flat
    # How each was counted, in the reader's language, from the clock's own fields.
    assert flat.count(_squash("Counted from")) >= len(timeline["clocks"])


def test_report_pdf_parses_and_shows_every_part(report: dict[str, Any], report_pdf: bytes) -> None:
    reader = _reader(report_pdf)
    assert len(reader.pages) >= 5
    text = _text(report_pdf)
    flat = _squash(text)
    scope = report["scope"]
    assert scope["case"] in text
    assert scope["tenant"] in text
    assert report["verdict"] in reader.pages[0].extract_text()
    assert "page 1 /" in text
    assert f"checkpoint size {scope['checkpoint']['size']}" in text
    assert _squash(group_hex(scope["checkpoint"]["root"])) in flat
    for entry in report["timeline"]["entries"]:
        assert _squash(event_name(EN, entry["type"])) in flat
        assert _squash(format_time(entry["occurred_at"])) in flat
    for clock in report["timeline"]["clocks"]:
        assert clock["status"] in text and _squash(clock["rule"]) in flat
        assert _squash(f"{clock['deadline'][:10]} {clock['deadline'][11:19]} UTC") in flat
    for check in report["checks"]:
        assert _squash(group_hex(check["place"])) in flat
        assert _squash(group_hex(check["expected"])) in flat
    for anomaly in report["anomalies"]:
        assert _squash(anomaly) in flat
    for access in report["access_journal"]:
        assert _squash(access["action"]) in flat


def test_the_title_page_lists_the_sections_with_their_pages(report_pdf: bytes) -> None:
    reader = _reader(report_pdf)
    first = reader.pages[0].extract_text()
    assert "Contents" in first
    last_page = str(len(reader.pages))
    assert re.search(rf"9\. How to re-check\s*{last_page}", first)
    assert "How to re-check" in reader.pages[-1].extract_text()


def test_every_page_has_the_footer(report: dict[str, Any], report_pdf: bytes) -> None:
    pages = _reader(report_pdf).pages
    for number, page in enumerate(pages, 1):
        text = page.extract_text()
        assert f"page {number} / {len(pages)}" in text
        assert f"Case {report['scope']['case']}" in text


def test_rendering_is_deterministic(
    timeline: dict[str, Any], report: dict[str, Any], timeline_pdf: bytes, report_pdf: bytes
) -> None:
    assert render_timeline_pdf(copy.deepcopy(timeline), lang="en") == timeline_pdf
    assert render_report_pdf(copy.deepcopy(report), lang="en") == report_pdf


def test_creation_date_is_generated_at(report: dict[str, Any], report_pdf: bytes) -> None:
    # PDF/A keeps the dates in the XMP packet (fpdf2 writes no Info dictionary for it).
    with pikepdf.open(io.BytesIO(report_pdf)) as doc:
        meta = doc.open_metadata()
        assert meta["xmp:CreateDate"] == "2025-04-22T08:17:00+00:00"
        assert meta["xmp:ModifyDate"] == "2025-04-22T08:17:00+00:00"
    assert report["generated_at"] == "2025-04-22T08:17:00Z"


def test_accents_euro_and_em_dash_survive(timeline: dict[str, Any], timeline_pdf: bytes,
                                          report_pdf: bytes) -> None:
    report_text = _text(report_pdf)
    assert "Relevé de valeur probante" in report_text
    assert "Me Hélène Carré (cabinet Carré & Associés)" in _squash_spaces(report_text)
    assert "Remboursement intégral de 129,90 € accepté par la cliente" in _squash_spaces(
        report_text
    )
    timeline_text = _text(timeline_pdf)
    assert "€129.90" in timeline_text  # English money
    assert "129,90 €" in _squash_spaces(_text(render_timeline_pdf(timeline)))  # French
    assert "—" in timeline_text  # an empty cell


def _squash_spaces(value: str) -> str:
    return re.sub(r"\s+", " ", value)


# ---------------------------------------------------------------------------- size and speed


def _large_report(report: dict[str, Any], entries: int, checks: int) -> dict[str, Any]:
    big = copy.deepcopy(report)
    rows = big["timeline"]["entries"]
    big["timeline"]["entries"] = [
        {**copy.deepcopy(rows[i % len(rows)]), "index": 100 + i, "case_seq": i + 1}
        for i in range(entries)
    ]
    source = big["checks"]
    big["checks"] = [
        {**source[i % len(source)], "place": f"index {100 + i // 4}"} for i in range(checks)
    ]
    big["scope"]["entries"] = entries
    return big


def test_a_large_report_renders_quickly_on_many_pages(report: dict[str, Any]) -> None:
    big = _large_report(report, entries=300, checks=1000)
    started = time.perf_counter()
    data = render_report_pdf(big, lang="en")
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"300 entries and 1,000 checks took {elapsed:.2f} s"
    reader = _reader(data)
    assert len(reader.pages) >= 20
    last = reader.pages[-1].extract_text()
    assert f"page {len(reader.pages)} / {len(reader.pages)}" in last


# ------------------------------------------------------------------------------ hostile input

HOSTILE = [
    "x" * 5000,  # one word far wider than any column, and taller than a page once wrapped
    "bell\x07 nul\x00 escape\x1b[31m tab\there\r\nCRLF\rCR",
    "\u202eevil.exe\u202c and \u200b zero width",  # bidi override, zero-width space
    "שלום עולם — مرحبا بالعالم",  # right-to-left scripts
    "emoji 🧾📦😀 and a family 👩‍👩‍👧",
    "line\n" * 400,  # a value taller than a page
    "{nb} looks like the page-count alias",
    "é" * 3000,
]


def _hostile_timeline(timeline: dict[str, Any]) -> dict[str, Any]:
    hostile = copy.deepcopy(timeline)
    hostile["case"] = HOSTILE[3] + HOSTILE[2]
    hostile["tenant"] = HOSTILE[0]
    for number, entry in enumerate(hostile["entries"]):
        entry["type"] = HOSTILE[number % len(HOSTILE)]
        entry["source"] = HOSTILE[(number + 1) % len(HOSTILE)]
        entry["data"] = {"note": HOSTILE[(number + 2) % len(HOSTILE)], "n": None, "l": [1, {}]}
        entry["occurred_at"] = HOSTILE[(number + 3) % len(HOSTILE)]
    hostile["clocks"][0]["label"] = HOSTILE[4]
    hostile["clocks"][0]["met_by"] = None
    hostile["clocks"][0]["rule"] = HOSTILE[1]
    hostile["clocks"][0]["explanation"] = HOSTILE[2]
    hostile["clocks"][-1]["deadline"] = "not a time"  # with its zone: printed as it is
    hostile["generated_at"] = "not a time"
    return hostile


def test_hostile_strings_do_not_crash_the_timeline(timeline: dict[str, Any]) -> None:
    data = render_timeline_pdf(_hostile_timeline(timeline), lang="en")
    text = _text(data)
    assert "[U+202E]" in text  # the bidi override is shown, not obeyed
    assert "[U+1F9FE]" in text
    assert "[U+05E9]" in text
    assert "page 1 /" in text


def test_hostile_strings_do_not_crash_the_report(report: dict[str, Any]) -> None:
    hostile = copy.deepcopy(report)
    hostile["timeline"] = _hostile_timeline(report["timeline"])
    hostile["scope"]["case"] = HOSTILE[3] + HOSTILE[0]  # also too long for the footer
    for number, check in enumerate(hostile["checks"][: 2 * len(HOSTILE)]):
        check["place"] = HOSTILE[number % len(HOSTILE)]
        check["found"] = HOSTILE[(number + 1) % len(HOSTILE)]
        check["status"] = ["OK", "WARNING", "KO", "???"][number % 4]
    hostile["verdict"] = "KO"
    hostile["anomalies"] = list(HOSTILE)
    hostile["how_to_verify"] = "".join(HOSTILE)
    hostile["access_journal"].append({"at": None, "who": HOSTILE[4], "role": 3, "action": []})
    hostile["scope"]["checkpoint"]["note"] = HOSTILE[0]
    reader = _reader(render_report_pdf(hostile, lang="en"))
    # Only the first pages: extracting all of them is slow. The 5,000-letter case id fills a
    # page of the title block by itself, so the verdict comes after it.
    first = reader.pages[0].extract_text()
    assert "[U+05E9]" in first  # the case id, in Hebrew
    assert f"page 1 / {len(reader.pages)}" in first
    assert any("KO" in page.extract_text() for page in reader.pages[:3])


def test_missing_optional_parts_render(report: dict[str, Any]) -> None:
    sparse = copy.deepcopy(report)
    for key in ("checkpoints", "access_journal", "anomalies", "checks"):
        sparse[key] = []
    sparse["timeline"]["entries"] = []
    sparse["timeline"]["clocks"] = []
    text = _text(render_report_pdf(sparse, lang="en"))
    assert "No access recorded." in text
    assert "No entry." in text
    assert "No check in this report." in text


# ----------------------------------------------------------------------------- text helpers


def test_safe_text_keeps_cp1252_and_names_the_rest() -> None:
    assert safe_text("Relevé à Noël — 129,90 € « ça »") == "Relevé à Noël — 129,90 € « ça »"
    assert safe_text("e\u0301") == "é"  # composed, not escaped
    assert safe_text("129,90\u202f€") == "129,90\u00a0€"  # narrow no-break space
    assert safe_text("a\tb\r\nc") == "a b\nc"
    assert safe_text("😀\x07\u202e") == "[U+1F600][U+0007][U+202E]"
    assert safe_text(safe_text("ש😀\u00ad")) == safe_text("ש😀\u00ad")  # idempotent


def test_format_time_prints_utc_and_keeps_microseconds() -> None:
    assert format_time("2025-03-01T10:00:00+01:00") == "2025-03-01 09:00:00"
    assert format_time("2025-03-04T19:41:27.318000Z") == "2025-03-04 19:41:27.318000"
    assert format_time("2025-03-01T09:00:02.481210Z") == "2025-03-01 09:00:02.481210"
    assert format_time("2025-03-01T10:00:00") == "2025-03-01T10:00:00"  # no zone: as given
    assert format_time("yesterday") == "yesterday"
    assert format_time(None) == "—"


def test_format_delay() -> None:
    assert format_delay(241202) == "2 d 19 h"
    assert format_delay(3 * 3600 + 5 * 60) == "3 h 05 min"
    assert format_delay(42) == "42 s"
    assert format_delay(-90) == "-1 min 30 s"


def test_wrap_never_exceeds_the_width() -> None:
    style = Style()
    measure = Document(title="", running_head="", footer="", generated_at=None)
    measure.set_font(style.family, style.emphasis, style.size)
    value = "short words then " + "y" * 400 + " and more, with accents: é è à ç € —"
    lines = wrap(value, 30, style)
    assert len(lines) > 5
    assert all(measure.get_string_width(line) <= 30 for line in lines)
    assert "".join(lines).replace(" ", "") == value.replace(" ", "")  # nothing lost
    hash_lines = wrap(group_hex("ab" * 32), 46, MONO_STYLE)
    assert hash_lines == ["abababab abababab abababab abababab"] * 2


# ------------------------------------------------------------------------ a look at page one


def test_page_one_rasterises(tmp_path: Path, timeline_pdf: bytes, report_pdf: bytes) -> None:
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI") == "true":  # .ci/run installs it: its absence is a failure
            pytest.fail("pdftoppm (poppler-utils) is missing")
        pytest.skip("pdftoppm (poppler-utils) absent; .ci/run installs it")
    for name, data in (("timeline", timeline_pdf), ("report", report_pdf)):
        source = tmp_path / f"{name}.pdf"
        source.write_bytes(data)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(source),
             str(tmp_path / name)],
            check=True, capture_output=True, timeout=60,
        )
        (png,) = tmp_path.glob(f"{name}*.png")
        assert png.read_bytes().startswith(b"\x89PNG")
