"""The PDFs people read (issue 13, items 2-4): French by default, English on request, the
timeline told as a story, the parties named only for a reader entitled to the openings,
thumbnails, and PDF/A-3b (embedded fonts, sRGB output intent, the JSON attached).

Everything goes through a real server (`sqlite_api`), a real ledger and real evidence files;
the PDFs are read back with pypdf, pikepdf, poppler's pdffonts and pdftoppm.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from PIL import Image
from pypdf import PdfReader

from ledger.config import Settings
from ledger.events.types import EVENT_TYPES
from ledger.ledger import Ledger
from projections.i18n import negotiate, translator
from projections.pdf import render_report_pdf, render_timeline_pdf
from projections.pdf.story import EVENT_NAMES, SENTENCES
from scripts.cli import main
from scripts.demo import load_demo
from scripts.i18n_catalog import missing

pytest.register_assert_rewrite("tests.api_server")
from tests.api_server import ApiServer, is_problem, new_case  # noqa: E402

pytest_plugins = ("tests.api_server",)

FIXTURES = Path(__file__).parent / "fixtures"
NAME = "Camille Dubois"


def _png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(out, "PNG")
    return out.getvalue()


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _flat(value: str) -> str:
    """Extracted text with every run of spaces or line breaks as one space."""
    return " ".join(value.replace("\u00a0", " ").replace("\u202f", " ").split())


@pytest.fixture(scope="module")
def story(sqlite_api: ApiServer) -> dict[str, Any]:
    """A case opened on 22 Nov whose delivery (21 Nov) is recorded after it, with a real photo
    and a "signature" that is not an image."""
    case = new_case("STORY")
    with sqlite_api.client() as c:
        photo = c.post("/v1/evidence", content=_png((200, 120, 40)),
                       headers={"Content-Type": "image/png"}).json()["sha256"]
        broken = c.post("/v1/evidence", content=b"\x89PNG but not really",
                        headers={"Content-Type": "image/png"}).json()["sha256"]
        bodies = [
            {"type": "CaseOpened", "occurred_at": "2026-11-22T10:00:00+01:00",
             "data": {"order_ref": "CMD-2026-1122", "merchant_id": "shop", "reason":
                      "non_delivery", "amount_cents": 12990, "currency": "EUR"},
             "personal": {"customer_name": NAME}},
            {"type": "DeliveryPhotoTaken", "occurred_at": "2026-11-21T15:00:00Z",
             "data": {"parcel_id": "6A1", "carrier": "colissimo", "photo_sha256": photo},
             "evidence": [{"sha256": photo, "role": "delivery_photo"}]},
            {"type": "SignatureCaptured", "occurred_at": "2026-11-21T15:01:00Z",
             "data": {"parcel_id": "6A1", "signature_sha256": broken},
             "personal": {"signer_name": NAME},
             "evidence": [{"sha256": broken, "role": "signature"}]},
        ]
        for body in bodies:
            r = c.post(f"/v1/cases/{case}/events", json=body)
            assert r.status_code == 201, r.text
    return {"case": case, "photo": photo, "broken": broken}


def _get(api: ApiServer, token: str | None, path: str, **kw: Any) -> Any:
    with api.client(token) as c:
        return c.get(path, **kw)


def _report_pdf(api: ApiServer, case: str, **kw: Any) -> bytes:
    headers = {"Accept": "application/pdf", **kw.pop("headers", {})}
    r = _get(api, api.new_key("auditor"), f"/v1/cases/{case}/report", headers=headers, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    return r.content


def test_french_by_default_english_on_request(sqlite_api: ApiServer,
                                               story: dict[str, Any]) -> None:
    case = story["case"]
    french = _flat(_text(_report_pdf(sqlite_api, case)))
    assert "Relevé d'intégrité d'un dossier de litige" in french
    assert "Dossier ouvert" in french and "Photo de livraison prise" in french
    assert "129,90 €" in french and "(heure de Paris)" in french
    assert "Verdict d'ensemble" in french and "Overall verdict" not in french
    english = _flat(_text(_report_pdf(sqlite_api, case, params={"lang": "en"})))
    assert "Integrity report of one dispute case" in english
    assert "Case opened" in english and "Delivery photo taken" in english
    assert "€129.90" in english and "Overall verdict" in english
    assert "Dossier ouvert" not in english
    by_header = _flat(_text(_report_pdf(sqlite_api, case,
                                        headers={"Accept-Language": "en-GB,en;q=0.9"})))
    assert "Overall verdict" in by_header
    # A language nobody asked for in a quality list falls back to French (documented).
    by_other = _flat(_text(_report_pdf(sqlite_api, case, headers={"Accept-Language": "de"})))
    assert "Verdict d'ensemble" in by_other


def test_unknown_lang_is_a_422_problem_naming_the_accepted_values(
        sqlite_api: ApiServer, story: dict[str, Any]) -> None:
    auditor = sqlite_api.new_key("auditor")
    report = f"/v1/cases/{story['case']}/report"
    reads = len(_get(sqlite_api, auditor, report).json()["access_journal"])
    for path in (report, f"/v1/cases/{story['case']}/bundle"):
        for bad in ("xx", "de"):
            body = is_problem(_get(sqlite_api, auditor, path, params={"lang": bad},
                                   headers={"Accept": "application/pdf"}), 422)
            assert "fr" in body["detail"] and "en" in body["detail"] and bad in body["detail"]
            assert body["type"].endswith("/unsupported-language")
    # Refused before anything was read: the access journal holds one more read, this one.
    assert len(_get(sqlite_api, auditor, report).json()["access_journal"]) == reads + 1


def test_the_story_is_in_the_order_things_happened(sqlite_api: ApiServer,
                                                    story: dict[str, Any]) -> None:
    text = _flat(_text(_report_pdf(sqlite_api, story["case"], params={"lang": "en"})))
    story_part = text[text.index("What happened"):]
    # Recorded after the opening, the delivery of 21 Nov still comes first.
    assert story_part.index("Delivery photo taken") < story_part.index("Case opened")
    assert "21/11/2026 16:00:00" in story_part  # Paris time of 15:00 UTC
    assert "2026-11-21 15:00:00 UTC" in story_part


def test_parties_named_in_the_lawyers_bundle_only(sqlite_api: ApiServer,
                                                  story: dict[str, Any]) -> None:
    case = story["case"]
    lawyer = sqlite_api.new_key("lawyer", cases=[case])
    r = _get(sqlite_api, lawyer, f"/v1/cases/{case}/bundle")
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    assert any(name.startswith("openings/") for name in members)
    timeline = _flat(_text(members["timeline.pdf"]))
    assert f"{NAME} (client)" in timeline and f"{NAME} (signataire à la livraison)" in timeline
    assert f"{NAME} (client)" in _flat(_text(members["report.pdf"]))
    # Never in the hashed documents: not in the entries, not in report.json.
    assert NAME not in members["report.json"].decode()
    assert all(NAME not in data.decode() for name, data in members.items()
               if name.startswith("entries/"))
    # The report read without openings does not name them.
    assert NAME not in _text(_report_pdf(sqlite_api, case))
    # The bundle's report.pdf carries the bundle's report.json, byte for byte.
    with pikepdf.open(io.BytesIO(members["report.pdf"])) as pdf:
        attached = pdf.attachments["report.json"]
        assert attached.get_file().read_bytes() == members["report.json"]
        assert attached.obj.get("/AFRelationship") == pikepdf.Name.Data


def test_photos_as_thumbnails_and_undecodable_files_as_hashes(
        sqlite_api: ApiServer, story: dict[str, Any]) -> None:
    pdf = _report_pdf(sqlite_api, story["case"], params={"lang": "en"})
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        images = [obj for page in doc.pages
                  for obj in page.Resources.get("/XObject", {}).values()
                  if obj.get("/Subtype") == pikepdf.Name.Image]
    assert len(images) == 1  # the photo; the broken "signature" is not drawn
    text = _flat(_text(pdf))
    assert "not a decodable image: only its hash is shown" in text
    assert story["broken"][:8] in text


def test_pdfa_3b_claim_output_intent_attachment_and_embedded_fonts(
        sqlite_api: ApiServer, story: dict[str, Any], tmp_path: Path) -> None:
    auditor = sqlite_api.new_key("auditor")
    pdf = _report_pdf(sqlite_api, story["case"])
    report = _get(sqlite_api, auditor, f"/v1/cases/{story['case']}/report").json()
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        meta = doc.open_metadata()
        assert meta.get("pdfaid:part") == "3" and meta.get("pdfaid:conformance") == "B"
        intents = doc.Root.OutputIntents
        assert len(intents) == 1 and intents[0].S == pikepdf.Name.GTS_PDFA1
        assert intents[0].OutputConditionIdentifier == "sRGB"
        assert len(intents[0].DestOutputProfile.read_bytes()) > 0
        attached = json.loads(doc.attachments["report.json"].get_file().read_bytes())
        assert doc.attachments["report.json"].obj.AFRelationship == pikepdf.Name.Data
        assert pikepdf.Name.AF in doc.Root
    # The attachment is the report of this PDF (generated_at and the journal move on).
    assert attached["scope"] == report["scope"] and attached["checks"] == report["checks"]
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    rows = fonts.stdout.splitlines()[2:]
    assert rows, fonts.stdout
    for row in rows:
        assert row.split()[-5] == "yes", row  # the "emb" column


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_pages_rasterise_in_both_languages(lang: str, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm (poppler-utils) is needed: .ci/run installs it")
    timeline = json.loads((FIXTURES / "timeline_example.json").read_text(encoding="utf-8"))
    photo = timeline["entries"][2]["evidence"][0]["sha256"]
    pdf = render_timeline_pdf(timeline, lang=lang, openings={1: {"customer_name": NAME}},
                              evidence={photo: _png((30, 90, 160))}.get)
    (tmp_path / "t.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp_path / "t.pdf"),
                    str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == len(PdfReader(io.BytesIO(pdf)).pages) >= 2
    with Image.open(pages[0]) as first:
        assert first.convert("L").getextrema()[0] < 64  # ink on the page, not blank
    text = _flat(_text(pdf))
    if lang == "fr":
        assert "Chronologie du dossier" in text
        assert "Lettre recommandée électronique déposée" in text
        assert "Délai de rétractation : 14 jours" in text and "C. consom. L221-18" in text
        assert "12 mars 2025 à 23:59:59" in text
    else:
        assert "Timeline of case" in text and "Electronic registered letter sent" in text
        assert "Withdrawal period: 14 days" in text and "12 March 2025 at 23:59:59" in text
    assert f"{NAME} (" in text


def test_every_event_type_has_a_human_name_and_sentence_in_both_languages() -> None:
    assert set(EVENT_TYPES) <= set(EVENT_NAMES) and set(EVENT_TYPES) <= set(SENTENCES)
    fr, en = translator("fr"), translator("en")
    for name in EVENT_TYPES:
        assert fr.t(EVENT_NAMES[name]) != EVENT_NAMES[name] or name == "SmsConfirmationReceived"
        assert en.t(EVENT_NAMES[name]) == EVENT_NAMES[name]
    assert fr.t(EVENT_NAMES["LetterSent"]) == "Lettre recommandée électronique déposée"


def test_the_french_catalogue_covers_every_marked_message() -> None:
    assert missing() == []


def test_accept_language_negotiation() -> None:
    assert negotiate(None) == "fr"
    assert negotiate("en-GB,en;q=0.9") == "en"
    assert negotiate("de-DE,en;q=0.5,fr;q=0.8") == "fr"
    assert negotiate("de, *;q=0.1") == "fr"
    assert negotiate("en;q=abc, fr;q=0.2") == "fr"


def test_rendering_stays_deterministic_in_both_languages() -> None:
    report = json.loads((FIXTURES / "report_example.json").read_text(encoding="utf-8"))
    for lang in ("fr", "en"):
        assert render_report_pdf(report, lang=lang) == render_report_pdf(report, lang=lang)


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TEMOIN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TEMOIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TEMOIN_LOG_ORIGIN", settings.origin)
    monkeypatch.delenv("TEMOIN_LANG", raising=False)
    return settings


def test_cli_verdict_is_a_sentence_in_the_chosen_language(
        env: Settings, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger(env)
    try:
        load_demo(ledger)
    finally:
        ledger.close()
    capsys.readouterr()
    main(["report", "DEMO-DELIVERY-004"])
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("VERDICT : ") and "contrôles OK" in last and "{" not in last
    main(["report", "DEMO-DELIVERY-004", "--lang", "en"])
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("VERDICT: ") and "checks OK" in last and "{" not in last
    monkeypatch.setenv("TEMOIN_LANG", "en")
    main(["replay", "DEMO-WITHDRAWAL-001"])
    assert "legal clocks:" in capsys.readouterr().out
    monkeypatch.setenv("TEMOIN_LANG", "fr")
    main(["replay", "DEMO-WITHDRAWAL-001"])
    out = capsys.readouterr().out
    assert "délais légaux :" in out and "Délai de rétractation" in out
    assert "Colis scanné avec position GPS (GpsScanRecorded)" in out
    pdf = env.data_dir / "report.pdf"
    assert main(["report", "DEMO-DELIVERY-004", "--pdf", str(pdf), "--lang", "en"]) == 0
    assert "Delivery photo taken" in _flat(_text(pdf.read_bytes()))
    assert main(["report", "DEMO-DELIVERY-004", "--lang", "xx"]) == 2
    assert "use one of fr, en" in capsys.readouterr().err


def test_bundle_pdfs_and_how_to_follow_the_language(sqlite_api: ApiServer,
                                                    story: dict[str, Any]) -> None:
    auditor = sqlite_api.new_key("auditor")
    path = f"/v1/cases/{story['case']}/bundle"
    for kw, french in (({}, True), ({"params": {"lang": "en"}}, False),
                       ({"headers": {"Accept-Language": "en-GB,en;q=0.9"}}, False)):
        r = _get(sqlite_api, auditor, path, **kw)
        assert r.status_code == 200, r.text
        assert r.headers["content-language"] == ("fr" if french else "en")
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            how_to = zf.read("HOW-TO-VERIFY.txt").decode()
            timeline = _flat(_text(zf.read("timeline.pdf")))
        assert how_to.startswith("COMMENT VÉRIFIER CE DOSSIER DE PREUVE") is french
        assert "HOW TO VERIFY THIS EVIDENCE BUNDLE" in how_to  # the procedure, always
        assert ("Chronologie du dossier" in timeline) is french
        assert ("Timeline of case" in timeline) is not french
