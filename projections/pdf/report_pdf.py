"""The integrity report (`temoin.report/v1`) as a PDF for people: a "relevé de valeur probante"
after NF Z42-013. A title page with the verdict, then identification and scope, the timeline,
the legal clocks, the evidence files, every check with its expected and found values, the
checkpoint history, the access journal, the anomalies and how to re-check it all.

Hashes are printed in full (monospace, grouped by 8): a reader must be able to see that a value
was computed, and to compare it with one computed elsewhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from fpdf import FPDF
from fpdf.outline import OutlineSection

from projections.i18n import Translator
from projections.pdf.layout import (
    BOLD_STYLE,
    CONTENT_WIDTH,
    MONO_STYLE,
    MUTED,
    PAD_X,
    PAGE_MARGIN,
    SANS,
    STATUS_COLOURS,
    Cell,
    Document,
    Style,
    bullets,
    fit,
    format_time,
    heading,
    key_values,
    mono_box,
    paragraph,
    status_style,
    table,
    text,
)
from projections.pdf.report_trust_pdf import write_trust
from projections.pdf.story import N_, Openings
from projections.pdf.timeline_pdf import (
    EvidenceReader,
    long_time,
    write_case_header,
    write_clocks,
    write_entries,
    write_evidence_files,
    write_parties,
    write_thumbnails,
)

FORMAT = "temoin.report/v1"
STATUSES = ("OK", "WARNING", "KO", "ERASED")

# Check sections in the order a reader needs them, with a title that says what was checked.
SECTIONS: dict[str, str] = {
    "entries": N_("Entries: leaf hashes, inclusion proofs and arrival times"),
    "chain": N_("Case chain: position (case_seq) and link to the previous entry (prev)"),
    "checkpoints": N_("Signed checkpoints: signatures and consistency"),
    "evidence": N_("Evidence files: presence, SHA-256 and size"),
    "personal": N_("Personal data: commitments against the vault"),
}
# How a status reads; a status not listed here (a newer one) is printed as its code.
STATUS_LABELS: dict[str, str] = {
    "OK": N_("OK"), "WARNING": N_("WARNING"), "KO": N_("KO"), "ERASED": N_("ERASED"),
}
# The report's check names (projections/report.py), constant ones and patterns.
CHECK_NAMES: dict[str, str] = {
    "SHA-256 of the stored file": N_("SHA-256 of the stored file"),
    "case_seq": N_("case_seq"),
    "late arrival": N_("late arrival"),
    "leaf hash of the stored entry bytes": N_("leaf hash of the stored entry bytes"),
    "prev (leaf hash of the previous entry)": N_("prev (leaf hash of the previous entry)"),
    "signature": N_("signature"),
    "signature of the reference checkpoint": N_("signature of the reference checkpoint"),
    "size in bytes": N_("size in bytes"),
    "consistency": N_("consistency"),
}
CHECK_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"inclusion proof against checkpoint (?P<size>\d+)"),
     N_("inclusion proof against checkpoint {size}")),
    (re.compile(r"personal field (?P<field>\w+)"), N_("personal field {field}")),
)

CONTENTS_LINE = 4.6  # mm
CONTENTS_STYLE = Style(emphasis="B", size=8.5)

VERDICT_MEANING = {
    "OK": N_("Every check passed: the entries, their order, the evidence files and the signed "
             "checkpoints are what was recorded."),
    "WARNING": N_("No check failed, but some call for attention. A warning reports a fact to "
                  "weigh (such as an entry recorded long after it occurred), not a failed "
                  "computation. The rows marked WARNING and the anomalies say which."),
    "KO": N_("At least one check failed: a value computed from the stored bytes differs from "
             "the expected one. The rows marked KO and the anomalies say where."),
}


def render_report_pdf(
    report: dict[str, Any],
    *,
    lang: str | None = None,
    openings: Openings | None = None,
    evidence: EvidenceReader | None = None,
    report_json: bytes | None = None,
) -> bytes:
    """The report as PDF/A-3b bytes, with `report_json` (default: the report as the bundle
    writes it, indented UTF-8 JSON) attached as report.json. Pure and deterministic: the
    creation date is `generated_at`. `openings` and `evidence` as for the timeline PDF."""
    scope = _dict(report.get("scope"))
    checkpoint = _dict(scope.get("checkpoint"))
    case, size = text(scope.get("case")), text(checkpoint.get("size"))
    pdf = Document(title="", running_head="", footer="",
                   generated_at=report.get("generated_at"), lang=lang)
    t = pdf.t
    pdf.set_title(t("Relevé de valeur probante - case {case}").format(case=case))
    pdf.running_head = t("Témoin · Relevé de valeur probante · case {case} · checkpoint size "
                         "{size}").format(case=case, size=size)
    pdf.footer_text = t("Case {case} · checkpoint size {size}").format(case=case, size=size)
    timeline = _dict(report.get("timeline"))
    entries = _list(timeline.get("entries"))
    checks = [c for c in _list(report.get("checks")) if isinstance(c, dict)]

    pdf.add_page()
    _title_page(pdf, report)
    # The contents fill the foot of the title page once every section's page is known; fpdf2
    # draws them at output time and starts the next page here.
    pdf.insert_toc_placeholder(_contents, pages=1, reset_page_indices=False)
    _identification(pdf, report)
    pdf.add_page()
    heading(pdf, t("2. Timeline"))
    write_case_header(pdf, timeline)
    if openings is not None:
        heading(pdf, t("Parties"), level=1)
        write_parties(pdf, entries, openings)
    write_entries(pdf, entries, openings)
    heading(pdf, t("3. Legal clocks"))
    write_clocks(pdf, _list(timeline.get("clocks")), entries)
    heading(pdf, t("4. Evidence files"))
    if _has_evidence(entries):
        if evidence is not None:
            write_thumbnails(pdf, entries, evidence)
        write_evidence_files(pdf, entries)
    else:
        paragraph(pdf, t("None."))
    pdf.add_page()
    _checks(pdf, checks)
    _checkpoint_history(pdf, _list(report.get("checkpoints")))
    write_trust(pdf, report)
    _access_journal(pdf, _list(report.get("access_journal")))
    heading(pdf, t("8. Anomalies"))
    anomalies = [text(a) for a in _list(report.get("anomalies"))]
    if anomalies:
        bullets(pdf, anomalies)
    else:
        paragraph(pdf, t("None."))
    _how_to_verify(pdf, report)
    if report_json is None:
        report_json = json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8")
    pdf.attach_json("report.json", report_json,
                    t("The report this PDF was rendered from (temoin.report/v1)"))
    return pdf.to_bytes()


# ---------------------------------------------------------------------------------- title page


def _title_page(pdf: Document, report: dict[str, Any]) -> None:
    t = pdf.t
    scope = _dict(report.get("scope"))
    checkpoint = _dict(scope.get("checkpoint"))
    ident = _dict(report.get("identification"))
    pdf.set_font(SANS, "B", 8)
    pdf.set_text_color(*MUTED)
    pdf.cell(CONTENT_WIDTH, 5, t("TÉMOIN · PROOF-ARCHIVING LEDGER FOR E-COMMERCE DISPUTES"))
    pdf.ln(12)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(SANS, "B", 26)
    pdf.cell(CONTENT_WIDTH, 12, "Relevé de valeur probante")
    pdf.ln(12)
    pdf.set_font(SANS, size=12)
    pdf.cell(CONTENT_WIDTH, 7,
             t("Integrity report of one dispute case, in the manner of NF Z42-013"))
    pdf.ln(12)
    key_values(
        pdf,
        [
            (t("Case"), (text(scope.get("case")), BOLD_STYLE)),
            (t("Tenant (merchant)"), text(scope.get("tenant"))),
            (t("Log"), text(ident.get("log"))),
            (t("Checkpoint"), _coverage(pdf, checkpoint.get("size"), scope.get("tree_size"))),
            (t("Checkpoint root"), (text(checkpoint.get("root")), MONO_STYLE)),
            (t("Checkpoint signed"), long_time(pdf, checkpoint.get("signed_at"))),
            (t("Entries of the case"), text(scope.get("entries"))),
            (t("Report generated"), long_time(pdf, report.get("generated_at"))),
            (t("Software"), text(ident.get("software"))),
        ],
    )
    pdf.ln(4)
    _verdict(pdf, report)


def _verdict(pdf: Document, report: dict[str, Any]) -> None:
    t = pdf.t
    verdict = text(report.get("verdict"))
    ink, fill = STATUS_COLOURS.get(verdict, ((0, 0, 0), (233, 236, 239)))
    pdf.set_font(SANS, "B", 10)
    pdf.cell(CONTENT_WIDTH, 6, t("Overall verdict"))
    pdf.ln(7)
    pdf.set_fill_color(*fill)
    pdf.set_text_color(*ink)
    pdf.set_font(SANS, "B", 40)
    pdf.multi_cell(CONTENT_WIDTH, 22, status_label(pdf, verdict), fill=True, align="C")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(3)
    summary = _dict(report.get("summary"))
    anomalies = len(_list(report.get("anomalies")))
    pdf.set_font(SANS, "B", 11)
    pdf.cell(CONTENT_WIDTH, 6, summary_line(pdf.tr, summary, anomalies), align="C")
    pdf.ln(9)
    meaning = VERDICT_MEANING.get(verdict)
    paragraph(pdf, t(meaning) if meaning else t("Unknown verdict."))
    paragraph(
        pdf,
        t("Times are in Paris time with UTC beside them, or in UTC where a column says so. "
          "This PDF is the human-readable form of the report's JSON, which is attached to it "
          "(report.json, also in the case's evidence bundle); the JSON, the signed checkpoint "
          "and the bundle are what a verifier recomputes. Section 9 says how, without this "
          "software."),
        size=8,
        colour=MUTED,
    )


def _contents(pdf: FPDF, outline: list[OutlineSection]) -> None:
    """The sections and their pages, one line each, in the space left on the title page. Drawn
    with `text()`, which never breaks a page: if the space runs short, sub-sections go first."""
    pdf.ln(4)
    pdf.set_font(SANS, "B", 10)
    pdf.cell(CONTENT_WIDTH, 6, pdf.t("Contents") if isinstance(pdf, Document) else "Contents")
    pdf.ln(7)
    room = int((pdf.page_break_trigger - pdf.get_y()) // CONTENTS_LINE)
    rows = outline if len(outline) <= room else [s for s in outline if s.level == 0][:room]
    y = pdf.get_y() + 3
    left, right = PAGE_MARGIN + PAD_X, PAGE_MARGIN + CONTENT_WIDTH - PAD_X  # as the cells above
    for section in rows:
        pdf.set_font(SANS, "B" if section.level == 0 else "", 8.5 if section.level == 0 else 8)
        number = str(section.page_number)
        indent = 6.0 * section.level
        name = fit(section.name, CONTENT_WIDTH - indent - 15, CONTENTS_STYLE)
        pdf.text(left + indent, y, name)
        pdf.text(right - pdf.get_string_width(number), y, number)
        y += CONTENTS_LINE


# ------------------------------------------------------------------------------ identification


def _identification(pdf: Document, report: dict[str, Any]) -> None:
    ident = _dict(report.get("identification"))
    scope = _dict(report.get("scope"))
    checkpoint = _dict(scope.get("checkpoint"))
    t = pdf.t
    heading(pdf, t("1. Identification and scope"))
    key_values(
        pdf,
        [
            (t("Report format"), text(report.get("format"))),
            (t("Log (origin)"), text(ident.get("log"))),
            (t("Verifier key"), (text(ident.get("verifier_key")), MONO_STYLE)),
            (t("Software"), text(ident.get("software"))),
            (t("Tenant"), text(scope.get("tenant"))),
            (t("Case"), text(scope.get("case"))),
            (t("Entries of the case"), text(scope.get("entries"))),
            (t("Log size at report time"), text(scope.get("tree_size"))),
            (t("Checkpoint size"), text(checkpoint.get("size"))),
            (t("Checkpoint root"), (text(checkpoint.get("root")), MONO_STYLE)),
            (t("Checkpoint signed"), long_time(pdf, checkpoint.get("signed_at"))),
        ],
    )
    heading(pdf, t("Algorithms"), level=1)
    algorithms = _dict(ident.get("algorithms"))
    table(pdf, (t("Use"), t("Algorithm")), (40, 140),
          ([k, text(v)] for k, v in algorithms.items()))
    heading(pdf, t("Signed checkpoint (C2SP signed note), verbatim"), level=1)
    mono_box(pdf, text(checkpoint.get("note")))


# ---------------------------------------------------------------------------------- the checks


def _checks(pdf: Document, checks: Sequence[dict[str, Any]]) -> None:
    t = pdf.t
    heading(pdf, t("5. Checks"))
    paragraph(
        pdf,
        t("Each row is one value computed from the stored bytes (\"found\") and compared with "
          "the value it must have (\"expected\"). Hashes are SHA-256 in hex, grouped by 8 "
          "digits."),
        size=8,
    )
    groups = _by_section(checks)
    if not groups:
        paragraph(pdf, t("No check in this report."))
        return
    table(
        pdf,
        (t("Section"), t("Checks"), *(status_label(pdf, s) for s in STATUSES)),
        (100, *([80 / (len(STATUSES) + 1)] * (len(STATUSES) + 1))),
        [_count_row(pdf, name, rows) for name, rows in groups.items()],
    )
    for name, rows in groups.items():
        heading(pdf, _section(pdf, name), level=1)
        table(
            pdf,
            (t("Place"), t("Check"), t("Expected"), t("Found"), t("Status")),
            (26, 40, 48, 48, 18),
            ([
                text(c.get("place")),
                check_name(pdf, c.get("name")),
                (text(c.get("expected")), MONO_STYLE),
                (text(c.get("found")), MONO_STYLE),
                (status_label(pdf, c.get("status")), status_style(c.get("status"))),
            ] for c in rows),
        )


def _by_section(checks: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Checks grouped by section: known sections first in reading order, then any other in the
    order met. Within a section the report's own order is kept."""
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
    for check in checks:
        groups.setdefault(text(check.get("section")), []).append(check)
    return {name: rows for name, rows in groups.items() if rows}


def _section(pdf: Document, name: str) -> str:
    title = SECTIONS.get(name)
    return pdf.t(title) if title else name


def status_label(pdf: Document | Translator, status: Any) -> str:
    label = STATUS_LABELS.get(str(status))
    return pdf.t(label) if label else text(status)


def check_name(pdf: Document | Translator, name: Any) -> str:
    """A check's name in the reader's language when it is one the report is known to use."""
    known = CHECK_NAMES.get(str(name))
    if known:
        return pdf.t(known)
    for pattern, message in CHECK_PATTERNS:
        match = pattern.fullmatch(str(name))
        if match:
            return pdf.t(message).format(**match.groupdict())
    return text(name)


def verdict_line(tr: Translator, report: dict[str, Any]) -> str:
    """The CLI's last line: `VERDICT : AVERTISSEMENT — 34 contrôles OK, 2 avertissements,
    0 KO`."""
    return tr.t("VERDICT: {verdict} — {summary}").format(
        verdict=status_label(tr, report.get("verdict")),
        summary=summary_line(tr, _dict(report.get("summary"))))


def summary_line(tr: Translator, summary: dict[str, Any], anomalies: int | None = None) -> str:
    """`34 contrôles OK, 2 avertissements, 0 KO` (and the anomalies when given)."""
    ok, warning, ko = (_count(summary.get(k)) for k in ("ok", "warning", "ko"))
    line = ", ".join([
        tr.tn("{n} check OK", "{n} checks OK", ok).format(n=ok),
        tr.tn("{n} warning", "{n} warnings", warning).format(n=warning),
        tr.tn("{n} KO", "{n} KO", ko).format(n=ko),
    ])
    erased = _count(summary.get("erased"))
    if erased:
        line += ", " + tr.tn("{n} erased field", "{n} erased fields", erased).format(n=erased)
    if anomalies is not None:
        line += ", " + tr.tn("{n} anomaly", "{n} anomalies", anomalies).format(n=anomalies)
    return line


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _count_row(pdf: Document, name: str, rows: Sequence[dict[str, Any]]) -> list[Cell]:
    counts = {s: sum(c.get("status") == s for c in rows) for s in STATUSES}
    return [
        _section(pdf, name),
        str(len(rows)),
        *((str(counts[s]), status_style(s) if counts[s] else status_style("")) for s in STATUSES),
    ]


# ----------------------------------------------------------------- checkpoints, journal, how-to


def _checkpoint_history(pdf: Document, history: Sequence[Any]) -> None:
    t = pdf.t
    heading(pdf, t("6. Checkpoint history"))
    if not history:
        paragraph(pdf, t("No checkpoint history."))
        return
    paragraph(
        pdf,
        t("Every checkpoint signed while the case's entries were in the log, up to the "
          "reference one. \"Consistency\" is the proof that each tree extends the previous "
          "one without changing it (append-only)."),
        size=8,
    )
    table(
        pdf,
        (t("Size"), t("Signed (UTC)"), t("Root (SHA-256, hex)"), t("Signature"),
         t("Consistency")),
        (14, 30, 96, 20, 20),
        (_checkpoint_row(pdf, _dict(c)) for c in history),
    )


def _checkpoint_row(pdf: Document, cp: dict[str, Any]) -> list[Cell]:
    signature, consistency = text(cp.get("signature")), text(cp.get("consistency"))
    return [
        text(cp.get("size")),
        format_time(cp.get("signed_at")),
        (text(cp.get("root")), MONO_STYLE),
        (status_label(pdf, signature), status_style(signature)),
        (status_label(pdf, consistency), status_style(consistency)),
    ]


def _access_journal(pdf: Document, journal: Sequence[Any]) -> None:
    t = pdf.t
    heading(pdf, t("7. Access journal"))
    if not journal:
        paragraph(pdf, t("No access recorded."))
        return
    table(
        pdf,
        (t("At (UTC)"), t("Who"), t("Role"), t("Action"), t("Index")),
        (30, 52, 20, 64, 14),
        (
            [
                format_time(row.get("at")),
                text(row.get("who")),
                text(row.get("role")),
                text(row.get("action")),
                text(row.get("index")),
            ]
            for row in map(_dict, journal)
        ),
    )


def _how_to_verify(pdf: Document, report: dict[str, Any]) -> None:
    t = pdf.t
    heading(pdf, t("9. How to re-check"))
    paragraph(
        pdf,
        t("Nothing in this report needs to be taken on trust: every value above can be "
          "recomputed from the case's evidence bundle, with this software or with independent "
          "tools. The commands below are given in English, as the tools print them."),
        size=8,
    )
    mono_box(pdf, text(report.get("how_to_verify")))


# -------------------------------------------------------------------------------------- helpers


def _coverage(pdf: Document, size: Any, tree_size: Any) -> str:
    t = pdf.t
    if isinstance(size, int) and size > 0:
        covered = t("size {size}: signed over log entries 0 to {last}").format(
            size=size, last=size - 1)
    else:
        covered = t("size {size}").format(size=text(size))
    return t("{covered} (the log held {entries} entries when this report was made)").format(
        covered=covered, entries=text(tree_size))


def _has_evidence(entries: Sequence[Any]) -> bool:
    return any(_list(_dict(e).get("evidence")) for e in entries)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
