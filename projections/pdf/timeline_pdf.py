"""The timeline of one case (`temoin.timeline/v1`) as a PDF: a header, the entries in log order
with both times, the emitting system, the facts, the evidence and late-arrival flags, then the
legal clocks and the fingerprints (leaf hashes, evidence files).

The tables are public so that the integrity report prints the same timeline the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from projections.legal_calendar import PARIS, TIMEZONE, weekday_name
from projections.pdf.layout import (
    BODY_PT,
    CLOCK_STATUS,
    CONTENT_WIDTH,
    EMPTY,
    MONO_STYLE,
    SANS,
    Cell,
    Document,
    format_delay,
    format_size,
    format_time,
    format_time_utc,
    heading,
    key_values,
    paragraph,
    parse_time,
    short_hash,
    status_style,
    table,
    text,
)

FORMAT = "temoin.timeline/v1"

# Facts whose integer value is an amount in cents: printed also as money, for a reader who
# should not have to divide by 100 in their head.
_CENTS_SUFFIX = "_cents"


def render_timeline_pdf(timeline: dict[str, Any]) -> bytes:
    """The timeline as PDF bytes. Pure and deterministic: the creation date is `generated_at`."""
    case = text(timeline.get("case"))
    size = text(timeline.get("as_of_size"))
    pdf = Document(
        title=f"Timeline of case {case}",
        running_head=f"Témoin · Timeline · case {case} · as of tree size {size}",
        footer=f"Case {case} · as of tree size {size}",
        generated_at=timeline.get("generated_at"),
    )
    pdf.add_page()
    _title(pdf, timeline)
    heading(pdf, "Entries")
    write_entries(pdf, _list(timeline.get("entries")))
    heading(pdf, "Legal clocks")
    write_clocks(pdf, _list(timeline.get("clocks")))
    heading(pdf, "Fingerprints")
    write_fingerprints(pdf, _list(timeline.get("entries")))
    write_evidence_files(pdf, _list(timeline.get("entries")))
    return pdf.to_bytes()


def _title(pdf: Document, timeline: dict[str, Any]) -> None:
    pdf.set_font(SANS, "B", 18)
    pdf.multi_cell(CONTENT_WIDTH, 8, f"Timeline of case {text(timeline.get('case'))}", align="L")
    pdf.ln(2)
    write_case_header(pdf, timeline)
    paragraph(
        pdf,
        "Every entry of the case in the order the log recorded it. Times are UTC. "
        "\"Occurred\" is when the source system says it happened; \"recorded\" is when the "
        "ledger accepted it. An entry recorded long after it occurred is flagged LATE: it is "
        "kept, not rejected, and the gap is shown. Personal data is not printed: the entry "
        "holds only a commitment (HMAC) to each personal field.",
        size=8,
    )


def write_case_header(pdf: Document, timeline: dict[str, Any]) -> None:
    """Case, tenant, log, status and the tree size the timeline was read at."""
    status = text(timeline.get("status"))
    pairs: list[tuple[str, Cell]] = [
        ("Case", text(timeline.get("case"))),
        ("Tenant (merchant)", text(timeline.get("tenant"))),
        ("Log", text(timeline.get("log"))),
        ("Status", (status, status_style("OK" if status == "closed" else "WARNING", size=BODY_PT))),
        ("Opened", format_time_utc(timeline.get("opened_at"))),
        ("Closed", format_time_utc(timeline.get("closed_at"))),
        ("As of tree size", f"{text(timeline.get('as_of_size'))} (entries with index below it)"),
        ("Entries of the case", str(len(_list(timeline.get("entries"))))),
        ("Generated", format_time_utc(timeline.get("generated_at"))),
    ]
    key_values(pdf, pairs)


def write_entries(pdf: Document, entries: Sequence[dict[str, Any]]) -> None:
    """One row per entry: index, both times, type and source, facts, evidence, late flag."""
    if not entries:
        paragraph(pdf, "No entry.")
        return
    table(
        pdf,
        ("Index", "Occurred (UTC)", "Recorded (UTC)", "Type / source", "Facts", "Evidence",
         "Late"),
        (11, 22, 22, 33, 56, 22, 14),
        (_entry_row(entry) for entry in entries),
    )


def _entry_row(entry: dict[str, Any]) -> list[Cell]:
    late = entry.get("late") is True
    return [
        f"{text(entry.get('index'))}\nseq {text(entry.get('case_seq'))}",
        format_time(entry.get("occurred_at")),
        format_time(entry.get("recorded_at")),
        f"{text(entry.get('type'))}\nvia {text(entry.get('source'))}",
        facts(entry),
        _evidence_summary(_list(entry.get("evidence"))),
        _late_cell(late, entry.get("delay_seconds")),
    ]


def facts(entry: dict[str, Any]) -> str:
    """`key: value` lines of the entry's data, then the names of its personal fields."""
    data = entry.get("data")
    lines = [f"{key}: {_fact(key, value, data)}" for key, value in _items(data)]
    personal = _list(entry.get("personal_fields"))
    if personal:
        lines.append(f"personal (committed, not printed): {text(personal)}")
    # A line break inside a value would read as a new fact: show it as a pilcrow instead.
    return "\n".join(line.replace("\n", " ¶ ") for line in lines) or EMPTY


def _fact(key: str, value: Any, data: Any) -> str:
    if key.endswith(_CENTS_SUFFIX) and isinstance(value, int) and not isinstance(value, bool):
        currency = data.get("currency") if isinstance(data, dict) else None
        return f"{value} ({_money(value, currency)})"
    return text(value)


def _money(cents: int, currency: Any) -> str:
    units, rest = divmod(abs(cents), 100)
    amount = f"{'-' if cents < 0 else ''}{units:,}".replace(",", "\u00a0") + f",{rest:02d}"
    if currency == "EUR":
        return f"{amount} €"
    return f"{amount} {currency}" if isinstance(currency, str) else amount


def _evidence_summary(evidence: Sequence[Any]) -> str:
    if not evidence:
        return EMPTY
    parts = []
    for item in (e if isinstance(e, dict) else {} for e in evidence):
        # The short hash finds the file in the evidence table, where it is printed in full.
        parts.append(
            f"{text(item.get('role'))}\n{text(item.get('media_type'))}\n"
            f"{short_hash(text(item.get('sha256')))}"
        )
    return "\n".join(parts)


def _late_cell(late: bool, delay: Any) -> Cell:
    if late:
        return (f"LATE\n+{format_delay(delay)}", status_style("WARNING"))
    if isinstance(delay, int) and delay < 0:
        # Occurred after it was recorded: the source's clock is ahead of the ledger's.
        return (f"skew\n{format_delay(delay)}", status_style("WARNING"))
    return "no"


def write_clocks(pdf: Document, clocks: Sequence[dict[str, Any]]) -> None:
    """The legal deadlines the timeline derives, each met, missed, still running or (a registered
    letter) unclaimed, with the deadline in Paris time and the articles it comes from."""
    if not clocks:
        paragraph(pdf, "No legal clock applies to the entries of this case.")
        return
    paragraph(
        pdf,
        "Deadlines derived from the entries, counted as French law counts them: whole days in "
        "Paris time from the day after the event, to the end (24:00) of the last day; a last day "
        "on a Saturday, Sunday or public holiday moves to the next working day, except for a "
        "registered letter (calendar days). \"running\" means the last day had not ended, and "
        "nothing had met the clock, when the timeline was read; \"unclaimed\" means the "
        "recipient did not claim a registered letter in time, which is not a failure of the "
        "sender.",
        size=8,
    )
    table(
        pdf,
        ("Clock", "Started by (UTC)", "Deadline (Paris time)", "Status", "Met / ended by (UTC)"),
        (52, 38, 32, 18, 40),
        (_clock_row(clock) for clock in clocks),
    )
    for clock in clocks:
        if clock.get("explanation"):
            paragraph(pdf, f"{text(clock.get('label'))}: {text(clock.get('explanation'))}",
                      size=7.5)


def _clock_row(clock: dict[str, Any]) -> list[Cell]:
    status = text(clock.get("status"))
    rule = f"\n{text(clock.get('rule'))}" if clock.get("rule") else ""
    return [
        f"{text(clock.get('label'))}\n({text(clock.get('name'))}){rule}",
        _event_ref(clock.get("started_by")),
        format_deadline(clock.get("deadline"), clock.get("timezone")),
        (status, status_style(CLOCK_STATUS.get(status, ""))),
        _event_ref(clock.get("met_by")),
    ]


def format_deadline(deadline: Any, timezone: Any) -> str:
    """The end of a clock's last day in its time zone (Europe/Paris), and the same instant in
    UTC; a clock without a known zone (an older timeline) is printed in UTC only."""
    moment = parse_time(deadline)
    if moment is None or timezone != TIMEZONE:
        return format_time_utc(deadline)
    local = moment.astimezone(PARIS)
    # The last day's end in Paris is on the same date in UTC (21:59:59 or 22:59:59).
    return (f"{weekday_name(local.date())}\n{local:%Y-%m-%d %H:%M:%S} {local:%Z}\n"
            f"= {moment:%H:%M:%S} UTC")


def _event_ref(ref: Any) -> str:
    if not isinstance(ref, dict):
        return EMPTY
    return f"{text(ref.get('type'))} (index {text(ref.get('index'))})\n{format_time(ref.get('at'))}"


def write_fingerprints(pdf: Document, entries: Sequence[dict[str, Any]]) -> None:
    """The leaf hash of each entry: SHA-256(0x00 || entry bytes), what the proofs start from."""
    if not entries:
        return
    paragraph(
        pdf,
        "Leaf hash of each entry, SHA-256(0x00 || entry bytes): the value the inclusion proofs "
        "of the evidence bundle start from.",
        size=8,
    )
    table(
        pdf,
        ("Index", "Seq", "Type", "Leaf hash (SHA-256, hex)"),
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
    files = list(_evidence_files(entries))
    if not files:
        return
    paragraph(pdf, "Evidence files, each listed once with the entries that reference it.", size=8)
    table(
        pdf,
        ("Role", "Media type", "Size", "Cited by index", "SHA-256 (hex)"),
        (24, 22, 20, 16, 98),
        files,
    )


def _evidence_files(entries: Sequence[dict[str, Any]]) -> Iterator[list[Cell]]:
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
            format_size(item.get("size")),
            ", ".join(text(i) for i in dict.fromkeys(indexes)),
            (sha, MONO_STYLE),
        ]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _items(value: Any) -> list[tuple[str, Any]]:
    return [(str(k), v) for k, v in value.items()] if isinstance(value, dict) else []
