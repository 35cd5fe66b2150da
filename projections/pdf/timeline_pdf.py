"""The timeline of one case (`temoin.timeline/v1`) as a PDF that tells the story: a header, the
parties (only for a reader entitled to the openings), one plain sentence per event in the order
things happened with Paris time beside UTC, thumbnails of the photos and signatures, the legal
clocks with their articles, and the fingerprints (leaf hashes, evidence files).

The tables are public so that the integrity report prints the same timeline the same way.
Names from the openings are printed here only: they are never written into an entry, a
report.json or any other hashed document.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from PIL import Image

from projections.legal_calendar import PARIS, TIMEZONE
from projections.pdf.layout import (
    BODY_PT,
    CLOCK_STATUS,
    CONTENT_WIDTH,
    EMPTY,
    MONO_STYLE,
    MUTED,
    PAGE_MARGIN,
    SANS,
    TABLE_PT,
    Cell,
    Document,
    Style,
    format_delay,
    format_time,
    heading,
    key_values,
    paragraph,
    parse_time,
    short_hash,
    status_style,
    table,
    text,
    wrap,
)
from projections.pdf.story import (
    Openings,
    clock_explanation,
    clock_label,
    clock_status,
    event_name,
    in_story_order,
    parties,
    personal_lines,
    sentence,
)

FORMAT = "temoin.timeline/v1"
# Reads an evidence file by its SHA-256; None when it is not available.
EvidenceReader = Callable[[str], bytes | None]

THUMB_W, THUMB_H = 54.0, 40.0  # mm: three per row
THUMB_PX = 480  # longest side kept of a photo: sharp at that size, small in the file
CAPTION = Style(size=6.5)


def render_timeline_pdf(
    timeline: dict[str, Any],
    *,
    lang: str | None = None,
    openings: Openings | None = None,
    evidence: EvidenceReader | None = None,
) -> bytes:
    """The timeline as PDF/A-3b bytes, with the timeline JSON attached. Pure and
    deterministic: the creation date is `generated_at`. `openings` (entry index -> clear
    personal values) only for a reader entitled to them; `evidence` reads the files to show
    photos and signatures as thumbnails."""
    case = text(timeline.get("case"))
    size = text(timeline.get("as_of_size"))
    pdf = Document(title="", running_head="", footer="", generated_at=timeline.get("generated_at"),
                   lang=lang)
    t = pdf.t
    pdf.set_title(t("Timeline of case {case}").format(case=case))
    pdf.running_head = t("Témoin · Timeline · case {case} · as of tree size {size}").format(
        case=case, size=size)
    pdf.footer_text = t("Case {case} · as of tree size {size}").format(case=case, size=size)
    entries = _list(timeline.get("entries"))
    pdf.add_page()
    _title(pdf, timeline)
    if openings is not None:
        heading(pdf, t("Parties"))
        write_parties(pdf, entries, openings)
    heading(pdf, t("The story"))
    write_entries(pdf, entries, openings)
    if evidence is not None and _images(entries):
        heading(pdf, t("Photos and signatures"))
        write_thumbnails(pdf, entries, evidence)
    heading(pdf, t("Legal clocks"))
    write_clocks(pdf, _list(timeline.get("clocks")), entries)
    heading(pdf, t("Fingerprints"))
    write_fingerprints(pdf, entries)
    write_evidence_files(pdf, entries)
    pdf.attach_json("timeline.json",
                    json.dumps(timeline, ensure_ascii=False, indent=2).encode("utf-8"),
                    t("The timeline this PDF was rendered from (temoin.timeline/v1)"))
    return pdf.to_bytes()


def _title(pdf: Document, timeline: dict[str, Any]) -> None:
    t = pdf.t
    pdf.set_font(SANS, "B", 18)
    pdf.multi_cell(CONTENT_WIDTH, 8, t("Timeline of case {case}").format(
        case=text(timeline.get("case"))), align="L")
    pdf.ln(2)
    write_case_header(pdf, timeline)
    paragraph(
        pdf,
        t("Every event of the case in the order it happened, in Paris time with UTC beside "
          "it. \"Recorded\" is when the ledger accepted the entry, and the log index is the "
          "order of recording: an event recorded more than a day after it happened is flagged "
          "LATE; it is kept, not rejected, and the gap is shown. Personal data is printed only "
          "for a reader entitled to the openings; the entries themselves hold only a "
          "commitment (HMAC) to each personal field."),
        size=8,
    )


def write_case_header(pdf: Document, timeline: dict[str, Any]) -> None:
    """Case, tenant, log, status and the tree size the timeline was read at."""
    t = pdf.t
    status = text(timeline.get("status"))
    shown = {"open": t("open"), "closed": t("closed")}.get(status, status)
    pairs: list[tuple[str, Cell]] = [
        (t("Case"), text(timeline.get("case"))),
        (t("Tenant (merchant)"), text(timeline.get("tenant"))),
        (t("Log"), text(timeline.get("log"))),
        (t("Status"), (shown, status_style("OK" if status == "closed" else "WARNING",
                                           size=BODY_PT))),
        (t("Opened"), long_time(pdf, timeline.get("opened_at"))),
        (t("Closed"), long_time(pdf, timeline.get("closed_at"))),
        (t("As of tree size"), t("{size} (entries with index below it)").format(
            size=text(timeline.get("as_of_size")))),
        (t("Entries of the case"), str(len(_list(timeline.get("entries"))))),
        (t("Generated"), long_time(pdf, timeline.get("generated_at"))),
    ]
    key_values(pdf, pairs)


def long_time(pdf: Document, value: Any) -> str:
    """`7 décembre 2026 à 23:59:59 (heure de Paris) — 22:59:59 UTC`."""
    moment = parse_time(value)
    if moment is None:
        return text(value)
    return pdf.t("{when} (Paris time) — {utc} UTC").format(
        when=pdf.tr.paris_time(moment), utc=format_time(value))


def both_times(pdf: Document, value: Any) -> str:
    """A table cell: the Paris time on top (dd/mm/yyyy), the UTC time below."""
    moment = parse_time(value)
    if moment is None:
        return text(value)
    local = moment.astimezone(PARIS)
    paris = pdf.t("Paris")
    return f"{local:%d/%m/%Y %H:%M:%S}\n{paris}\n{format_time(value)} UTC"


def write_parties(pdf: Document, entries: Sequence[dict[str, Any]], openings: Openings) -> None:
    """Each person and contact the openings name, with the entries that name them."""
    t = pdf.t
    rows = parties(pdf.tr, entries, openings)
    if not rows:
        paragraph(pdf, t("No personal data is left to open in this case (none was recorded, "
                         "or it was erased)."))
        return
    paragraph(pdf, t("From the openings of this bundle: the personal values the entries "
                     "commit to. They appear in this PDF only, never in the hashed files."),
              size=8)
    table(pdf, (t("Name or contact"), t("Named by index")), (150, 30),
          ([(f"{value} ({role})", Style(size=BODY_PT - 1)), where]
           for value, role, where in rows))


def write_entries(pdf: Document, entries: Sequence[dict[str, Any]],
                  openings: Openings | None = None) -> None:
    """One row per event in the order it happened: when, what, evidence, when recorded."""
    t = pdf.t
    if not entries:
        paragraph(pdf, t("No entry."))
        return
    table(
        pdf,
        (t("When (Paris / UTC)"), t("Event"), t("What happened"), t("Evidence"),
         t("Recorded (Paris)"), t("Index")),
        (27, 31, 67, 20, 24, 11),
        (_entry_row(pdf, entry, openings) for entry in in_story_order(entries)),
    )


def _entry_row(pdf: Document, entry: dict[str, Any], openings: Openings | None) -> list[Cell]:
    t = pdf.t
    what = sentence(pdf.tr, entry)
    personal = personal_lines(pdf.tr, entry, openings)
    if personal:
        what += "\n" + personal
    what += "\n" + t("via {source}").format(source=text(entry.get("source")))
    seq = t("seq")
    return [
        both_times(pdf, entry.get("occurred_at")),
        (event_name(pdf.tr, entry.get("type")), Style(emphasis="B", size=TABLE_PT)),
        what,
        _evidence_summary(pdf, _list(entry.get("evidence"))),
        _recorded(pdf, entry),
        f"{text(entry.get('index'))}\n{seq} {text(entry.get('case_seq'))}",
    ]


def facts(entry: dict[str, Any]) -> str:
    """`key: value` lines of the entry's data (kept for callers that print raw facts)."""
    data = entry.get("data")
    lines = [f"{key}: {text(value)}" for key, value in _items(data)]
    return "\n".join(line.replace("\n", " ¶ ") for line in lines) or EMPTY


def _evidence_summary(pdf: Document, evidence: Sequence[Any]) -> str:
    if not evidence:
        return EMPTY
    parts = []
    for item in (e if isinstance(e, dict) else {} for e in evidence):
        # The short hash finds the file in the evidence table, where it is printed in full.
        parts.append(f"{text(item.get('role'))}\n{short_hash(text(item.get('sha256')))}")
    return "\n".join(parts)


def _recorded(pdf: Document, entry: dict[str, Any]) -> Cell:
    moment = parse_time(entry.get("recorded_at"))
    when = f"{moment.astimezone(PARIS):%d/%m/%Y %H:%M:%S}" if moment else text(
        entry.get("recorded_at"))
    delay = entry.get("delay_seconds")
    if entry.get("late") is True:
        late = pdf.t("LATE")
        return (f"{when}\n{late} +{format_delay(delay)}", status_style("WARNING"))
    if isinstance(delay, int) and delay < 0:
        # Occurred after it was recorded: the source's clock is ahead of the ledger's.
        skew = pdf.t("clock skew")
        return (f"{when}\n{skew} {format_delay(delay)}", status_style("WARNING"))
    return when


# ------------------------------------------------------------------------------- thumbnails


def _images(entries: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(entry, evidence item) for each image file, once per file, in story order."""
    found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for entry in in_story_order(entries):
        for item in _list(entry.get("evidence")):
            if isinstance(item, dict) and str(item.get("media_type", "")).startswith("image/"):
                found.setdefault(text(item.get("sha256")), (entry, item))
    return list(found.values())


def write_thumbnails(pdf: Document, entries: Sequence[dict[str, Any]],
                     evidence: EvidenceReader) -> None:
    """The photos and signatures as thumbnails, three a row, each with its event, index and
    hash; a file that is missing or not a decodable image is shown as its hash with a note."""
    shown = _images(entries)
    if not shown:
        return
    gap = (CONTENT_WIDTH - 3 * THUMB_W) / 2
    row_h = THUMB_H + 13
    top = pdf.get_y()
    for number, (entry, item) in enumerate(shown):
        column = number % 3
        if column == 0:
            if number:
                pdf.set_y(top + row_h)
            if pdf.will_page_break(row_h):
                pdf.add_page()
            top = pdf.get_y()
        x = PAGE_MARGIN + column * (THUMB_W + gap)
        sha = text(item.get("sha256"))
        note = _draw_image(pdf, evidence(sha) if sha != EMPTY else None, x, top)
        index = pdf.t("index")
        caption = (f"{event_name(pdf.tr, entry.get('type'))} · {index} "
                   f"{text(entry.get('index'))}\n{text(item.get('role'))} · {short_hash(sha)}")
        if note:
            caption += f"\n{note}"
        pdf.set_font(SANS, size=CAPTION.size)
        pdf.set_text_color(*MUTED)
        for line_no, line in enumerate(
                [ln for part in caption.split("\n") for ln in wrap(part, THUMB_W, CAPTION)][:4]):
            pdf.text(x, top + THUMB_H + 3 + 2.8 * line_no, line)
        pdf.set_text_color(0, 0, 0)
    pdf.set_y(top + row_h + 2)
    pdf.set_font(SANS, size=BODY_PT)


def _draw_image(pdf: Document, data: bytes | None, x: float, y: float) -> str:
    """Draw the image fitted in the thumbnail box; the note to print when it cannot be."""
    pdf.set_draw_color(206, 212, 218)
    pdf.rect(x, y, THUMB_W, THUMB_H)
    if data is None:
        return pdf.t("file not available here: only its hash is shown")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = opened.convert("RGB")  # PDF/A: no alpha surprises, one colour space
    except Exception:  # any decoder error: hostile or damaged bytes are a note, not a crash
        return pdf.t("not a decodable image: only its hash is shown")
    image.thumbnail((THUMB_PX, THUMB_PX))
    scale = min(THUMB_W / image.width, THUMB_H / image.height)
    w, h = image.width * scale, image.height * scale
    pdf.image(image, x=x + (THUMB_W - w) / 2, y=y + (THUMB_H - h) / 2, w=w, h=h)
    return ""


# ----------------------------------------------------------------------------------- clocks


def write_clocks(pdf: Document, clocks: Sequence[dict[str, Any]],
                 entries: Sequence[dict[str, Any]] = ()) -> None:
    """The legal deadlines the timeline derives, each met, missed, still running or (a registered
    letter) unclaimed, with the deadline in Paris time and the articles it comes from."""
    t = pdf.t
    if not clocks:
        paragraph(pdf, t("No legal clock applies to the entries of this case."))
        return
    paragraph(
        pdf,
        t("Deadlines derived from the entries, counted as French law counts them: whole days "
          "in Paris time from the day after the event, to the end (24:00) of the last day; a "
          "last day on a Saturday, Sunday or public holiday moves to the next working day, "
          "except for a registered letter (calendar days). \"running\" means the last day had "
          "not ended, and nothing had met the clock, when the timeline was read; \"unclaimed\" "
          "means the recipient did not claim a registered letter in time, which is not a "
          "failure of the sender."),
        size=8,
    )
    table(
        pdf,
        (t("Clock"), t("Started by"), t("Deadline (Paris time)"), t("Status"),
         t("Met / ended by")),
        (50, 36, 38, 18, 38),
        (_clock_row(pdf, clock, entries) for clock in clocks),
    )
    for clock in clocks:
        paragraph(pdf, f"{clock_label(pdf.tr, clock, entries)}: "
                       f"{clock_explanation(pdf.tr, clock)}", size=7.5)


def _clock_row(pdf: Document, clock: dict[str, Any],
               entries: Sequence[dict[str, Any]]) -> list[Cell]:
    status = text(clock.get("status"))
    rule = f"\n{text(clock.get('rule'))}" if clock.get("rule") else ""
    return [
        f"{clock_label(pdf.tr, clock, entries)}\n({text(clock.get('name'))}){rule}",
        _event_ref(pdf, clock.get("started_by")),
        format_deadline(pdf, clock.get("deadline"), clock.get("timezone")),
        (clock_status(pdf.tr, status), status_style(CLOCK_STATUS.get(status, ""))),
        _event_ref(pdf, clock.get("met_by")),
    ]


def format_deadline(pdf: Document, deadline: Any, timezone: Any) -> str:
    """The end of a clock's last day in Paris time, in words, and the same instant in UTC; a
    clock without a known zone (an older timeline) is printed in UTC only."""
    moment = parse_time(deadline)
    if moment is None or timezone != TIMEZONE:
        return f"{format_time(deadline)} UTC" if moment else text(deadline)
    paris = pdf.t("(Paris time)")
    return f"{pdf.tr.paris_time(moment)}\n{paris}\n= {format_time(deadline)} UTC"


def _event_ref(pdf: Document, ref: Any) -> str:
    if not isinstance(ref, dict):
        return EMPTY
    moment = parse_time(ref.get("at"))
    paris, index = pdf.t("Paris"), pdf.t("index")
    when = f"{moment.astimezone(PARIS):%d/%m/%Y %H:%M:%S} ({paris})" if moment else (
        text(ref.get("at")))
    return (f"{event_name(pdf.tr, ref.get('type'))} ({index} "
            f"{text(ref.get('index'))})\n{when}")


# ------------------------------------------------------------------------------ fingerprints


def write_fingerprints(pdf: Document, entries: Sequence[dict[str, Any]]) -> None:
    """The leaf hash of each entry: SHA-256(0x00 || entry bytes), what the proofs start from."""
    t = pdf.t
    if not entries:
        return
    paragraph(
        pdf,
        t("Leaf hash of each entry, SHA-256(0x00 || entry bytes): the value the inclusion "
          "proofs of the evidence bundle start from. In log order."),
        size=8,
    )
    table(
        pdf,
        (t("Index"), t("Seq"), t("Type"), t("Leaf hash (SHA-256, hex)")),
        (14, 10, 40, 116),
        (
            [
                text(entry.get("index")),
                text(entry.get("case_seq")),
                text(entry.get("type")),
                (text(entry.get("leaf_hash")), MONO_STYLE),
            ]
            for entry in entries
        ),
    )


def write_evidence_files(pdf: Document, entries: Sequence[dict[str, Any]]) -> None:
    """Each evidence file once, with its full SHA-256 and the entries that cite it."""
    t = pdf.t
    files = list(_evidence_files(pdf, entries))
    if not files:
        return
    paragraph(pdf, t("Evidence files, each listed once with the entries that reference it."),
              size=8)
    table(
        pdf,
        (t("Role"), t("Media type"), t("Size"), t("Cited by index"), t("SHA-256 (hex)")),
        (24, 22, 20, 16, 98),
        files,
    )


def _evidence_files(pdf: Document, entries: Sequence[dict[str, Any]]) -> Iterator[list[Cell]]:
    seen: dict[str, list[Any]] = {}
    first: dict[str, dict[str, Any]] = {}
    for entry in entries:
        for item in _list(entry.get("evidence")):
            if not isinstance(item, dict):
                continue
            sha = text(item.get("sha256"))
            seen.setdefault(sha, []).append(entry.get("index"))
            first.setdefault(sha, item)
    for sha, indexes in seen.items():
        item = first[sha]
        yield [
            text(item.get("role")),
            text(item.get("media_type")),
            format_size(pdf, item.get("size")),
            ", ".join(text(i) for i in dict.fromkeys(indexes)),
            (sha, MONO_STYLE),
        ]


def format_size(pdf: Document, size: Any) -> str:
    if not isinstance(size, int) or isinstance(size, bool):
        return text(size)
    return pdf.t("{size} bytes").format(size=pdf.tr.number(size))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _items(value: Any) -> list[tuple[str, Any]]:
    return [(str(k), v) for k, v in value.items()] if isinstance(value, dict) else []
