"""The integrity report (`temoin.report/v1`) as a PDF for people: a "relevé de valeur probante"
after NF Z42-013. A title page with the verdict, then identification and scope, the timeline,
the legal clocks, the evidence files, every check with its expected and found values, the
checkpoint history, the access journal, the anomalies and how to re-check it all.

Hashes are printed in full (monospace, grouped by 8): a reader must be able to see that a value
was computed, and to compare it with one computed elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fpdf import FPDF
from fpdf.outline import OutlineSection

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
    format_time_utc,
    heading,
    key_values,
    mono_box,
    paragraph,
    status_style,
    table,
    text,
)
from projections.pdf.report_trust_pdf import write_trust
from projections.pdf.timeline_pdf import (
    write_case_header,
    write_clocks,
    write_entries,
    write_evidence_files,
)

FORMAT = "temoin.report/v1"
STATUSES = ("OK", "WARNING", "KO")

# Check sections in the order a reader needs them, with a title that says what was checked.
SECTIONS: dict[str, str] = {
    "entries": "Entries: leaf hashes, inclusion proofs and arrival times",
    "chain": "Case chain: position (case_seq) and link to the previous entry (prev)",
    "checkpoints": "Signed checkpoints: signatures and consistency",
    "evidence": "Evidence files: presence, SHA-256 and size",
    "personal": "Personal data: commitments against the vault",
}

CONTENTS_LINE = 4.6  # mm
CONTENTS_STYLE = Style(emphasis="B", size=8.5)

VERDICT_MEANING = {
    "OK": "Every check passed: the entries, their order, the evidence files and the signed "
    "checkpoints are what was recorded.",
    "WARNING": "No check failed, but some call for attention. A warning reports a fact to weigh "
    "(such as an entry recorded long after it occurred), not a failed computation. The rows "
    "marked WARNING and the anomalies say which.",
    "KO": "At least one check failed: a value computed from the stored bytes differs from the "
    "expected one. The rows marked KO and the anomalies say where.",
}


def render_report_pdf(report: dict[str, Any]) -> bytes:
    """The report as PDF bytes. Pure and deterministic: the creation date is `generated_at`."""
    scope = _dict(report.get("scope"))
    checkpoint = _dict(scope.get("checkpoint"))
    case, size = text(scope.get("case")), text(checkpoint.get("size"))
    pdf = Document(
        title=f"Relevé de valeur probante - case {case}",
        running_head=f"Témoin · Relevé de valeur probante · case {case} · checkpoint size {size}",
        footer=f"Case {case} · checkpoint size {size}",
        generated_at=report.get("generated_at"),
    )
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
    heading(pdf, "2. Timeline")
    write_case_header(pdf, timeline)
    write_entries(pdf, entries)
    heading(pdf, "3. Legal clocks")
    write_clocks(pdf, _list(timeline.get("clocks")))
    heading(pdf, "4. Evidence files")
    if _has_evidence(entries):
        write_evidence_files(pdf, entries)
    else:
        paragraph(pdf, "None.")
    pdf.add_page()
    _checks(pdf, checks)
    _checkpoint_history(pdf, _list(report.get("checkpoints")))
    write_trust(pdf, report)
    _access_journal(pdf, _list(report.get("access_journal")))
    heading(pdf, "8. Anomalies")
    anomalies = [text(a) for a in _list(report.get("anomalies"))]
    if anomalies:
        bullets(pdf, anomalies)
    else:
        paragraph(pdf, "None.")
    _how_to_verify(pdf, report)
    return pdf.to_bytes()


# ---------------------------------------------------------------------------------- title page


def _title_page(pdf: Document, report: dict[str, Any]) -> None:
    scope = _dict(report.get("scope"))
    checkpoint = _dict(scope.get("checkpoint"))
    ident = _dict(report.get("identification"))
    pdf.set_font(SANS, "B", 8)
    pdf.set_text_color(*MUTED)
    pdf.cell(CONTENT_WIDTH, 5, "TÉMOIN · PROOF-ARCHIVING LEDGER FOR E-COMMERCE DISPUTES")
    pdf.ln(12)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(SANS, "B", 26)
    pdf.cell(CONTENT_WIDTH, 12, "Relevé de valeur probante")
    pdf.ln(12)
    pdf.set_font(SANS, size=12)
    pdf.cell(CONTENT_WIDTH, 7, "Integrity report of one dispute case, in the manner of NF Z42-013")
    pdf.ln(12)
    key_values(
        pdf,
        [
            ("Case", (text(scope.get("case")), BOLD_STYLE)),
            ("Tenant (merchant)", text(scope.get("tenant"))),
            ("Log", text(ident.get("log"))),
            ("Checkpoint", _coverage(checkpoint.get("size"), scope.get("tree_size"))),
            ("Checkpoint root", (text(checkpoint.get("root")), MONO_STYLE)),
            ("Checkpoint signed", format_time_utc(checkpoint.get("signed_at"))),
            ("Entries of the case", text(scope.get("entries"))),
            ("Report generated", format_time_utc(report.get("generated_at"))),
            ("Software", text(ident.get("software"))),
        ],
    )
    pdf.ln(4)
    _verdict(pdf, report)


def _verdict(pdf: Document, report: dict[str, Any]) -> None:
    verdict = text(report.get("verdict"))
    ink, fill = STATUS_COLOURS.get(verdict, ((0, 0, 0), (233, 236, 239)))
    pdf.set_font(SANS, "B", 10)
    pdf.cell(CONTENT_WIDTH, 6, "Overall verdict")
    pdf.ln(7)
    pdf.set_fill_color(*fill)
    pdf.set_text_color(*ink)
    pdf.set_font(SANS, "B", 40)
    pdf.multi_cell(CONTENT_WIDTH, 22, verdict, fill=True, align="C")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(3)
    summary = _dict(report.get("summary"))
    anomalies = len(_list(report.get("anomalies")))
    pdf.set_font(SANS, "B", 11)
    pdf.cell(
        CONTENT_WIDTH, 6,
        f"{text(summary.get('ok'))} checks OK  ·  {text(summary.get('warning'))} WARNING  ·  "
        f"{text(summary.get('ko'))} KO  ·  {anomalies} anomalies",
        align="C",
    )
    pdf.ln(9)
    paragraph(pdf, VERDICT_MEANING.get(verdict, "Unknown verdict."))
    paragraph(
        pdf,
        "All times are UTC. This PDF is the human-readable form of the report's JSON (report.json "
        "in the case's evidence bundle); the JSON, the signed checkpoint and the bundle are what a "
        "verifier recomputes. Section 9 says how, without this software.",
        size=8,
        colour=MUTED,
    )


def _contents(pdf: FPDF, outline: list[OutlineSection]) -> None:
    """The sections and their pages, one line each, in the space left on the title page. Drawn
    with `text()`, which never breaks a page: if the space runs short, sub-sections go first."""
    pdf.ln(4)
    pdf.set_font(SANS, "B", 10)
    pdf.cell(CONTENT_WIDTH, 6, "Contents")
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
    heading(pdf, "1. Identification and scope")
    key_values(
        pdf,
        [
            ("Report format", text(report.get("format"))),
            ("Log (origin)", text(ident.get("log"))),
            ("Verifier key", (text(ident.get("verifier_key")), MONO_STYLE)),
            ("Software", text(ident.get("software"))),
            ("Tenant", text(scope.get("tenant"))),
            ("Case", text(scope.get("case"))),
            ("Entries of the case", text(scope.get("entries"))),
            ("Log size at report time", text(scope.get("tree_size"))),
            ("Checkpoint size", text(checkpoint.get("size"))),
            ("Checkpoint root", (text(checkpoint.get("root")), MONO_STYLE)),
            ("Checkpoint signed", format_time_utc(checkpoint.get("signed_at"))),
        ],
    )
    heading(pdf, "Algorithms", level=1)
    algorithms = _dict(ident.get("algorithms"))
    table(pdf, ("Use", "Algorithm"), (40, 140), ([k, text(v)] for k, v in algorithms.items()))
    heading(pdf, "Signed checkpoint (C2SP signed note), verbatim", level=1)
    mono_box(pdf, text(checkpoint.get("note")))


# ---------------------------------------------------------------------------------- the checks


def _checks(pdf: Document, checks: Sequence[dict[str, Any]]) -> None:
    heading(pdf, "5. Checks")
    paragraph(
        pdf,
        "Each row is one value computed from the stored bytes (\"found\") and compared with the "
        "value it must have (\"expected\"). Hashes are SHA-256 in hex, grouped by 8 digits.",
        size=8,
    )
    groups = _by_section(checks)
    if not groups:
        paragraph(pdf, "No check in this report.")
        return
    table(
        pdf,
        ("Section", "Checks", "OK", "WARNING", "KO"),
        (100, 20, 20, 20, 20),
        [_count_row(name, rows) for name, rows in groups.items()],
    )
    for name, rows in groups.items():
        heading(pdf, SECTIONS.get(name, name), level=1)
        table(
            pdf,
            ("Place", "Check", "Expected", "Found", "Status"),
            (26, 40, 48, 48, 18),
            ([
                text(c.get("place")),
                text(c.get("name")),
                (text(c.get("expected")), MONO_STYLE),
                (text(c.get("found")), MONO_STYLE),
                (text(c.get("status")), status_style(c.get("status"))),
            ] for c in rows),
        )


def _by_section(checks: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Checks grouped by section: known sections first in reading order, then any other in the
    order met. Within a section the report's own order is kept."""
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
    for check in checks:
        groups.setdefault(text(check.get("section")), []).append(check)
    return {name: rows for name, rows in groups.items() if rows}


def _count_row(name: str, rows: Sequence[dict[str, Any]]) -> list[Cell]:
    counts = {s: sum(c.get("status") == s for c in rows) for s in STATUSES}
    return [
        SECTIONS.get(name, name),
        str(len(rows)),
        *((str(counts[s]), status_style(s) if counts[s] else status_style("")) for s in STATUSES),
    ]


# ----------------------------------------------------------------- checkpoints, journal, how-to


def _checkpoint_history(pdf: Document, history: Sequence[Any]) -> None:
    heading(pdf, "6. Checkpoint history")
    if not history:
        paragraph(pdf, "No checkpoint history.")
        return
    paragraph(
        pdf,
        "Every checkpoint signed while the case's entries were in the log, up to the reference "
        "one. \"Consistency\" is the proof that each tree extends the previous one without "
        "changing it (append-only).",
        size=8,
    )
    table(
        pdf,
        ("Size", "Signed (UTC)", "Root (SHA-256, hex)", "Signature", "Consistency"),
        (14, 30, 96, 20, 20),
        (_checkpoint_row(_dict(c)) for c in history),
    )


def _checkpoint_row(cp: dict[str, Any]) -> list[Cell]:
    signature, consistency = text(cp.get("signature")), text(cp.get("consistency"))
    return [
        text(cp.get("size")),
        format_time(cp.get("signed_at")),
        (text(cp.get("root")), MONO_STYLE),
        (signature, status_style(signature)),
        (consistency, status_style(consistency)),
    ]


def _access_journal(pdf: Document, journal: Sequence[Any]) -> None:
    heading(pdf, "7. Access journal")
    if not journal:
        paragraph(pdf, "No access recorded.")
        return
    table(
        pdf,
        ("At (UTC)", "Who", "Role", "Action", "Index"),
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
    heading(pdf, "9. How to re-check")
    paragraph(
        pdf,
        "Nothing in this report needs to be taken on trust: every value above can be recomputed "
        "from the case's evidence bundle, with this software or with independent tools.",
        size=8,
    )
    mono_box(pdf, text(report.get("how_to_verify")))


# -------------------------------------------------------------------------------------- helpers


def _coverage(size: Any, tree_size: Any) -> str:
    if isinstance(size, int) and size > 0:
        covered = f"size {size}: signed over log entries 0 to {size - 1}"
    else:
        covered = f"size {text(size)}"
    return f"{covered} (the log held {text(tree_size)} entries when this report was made)"


def _has_evidence(entries: Sequence[Any]) -> bool:
    return any(_list(_dict(e).get("evidence")) for e in entries)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
