"""The page style shared by the timeline and report PDFs, and the text helpers they both use.

Fonts: DejaVu Sans, DejaVu Sans Bold and DejaVu Sans Mono, shipped in `fonts/` with their
licence (Bitstream Vera licence, DejaVu changes in the public domain) and embedded (subset) in
every PDF, as PDF/A requires: the output looks the same on every reader and on a fresh machine
with only pip packages. A character the fonts cannot draw is never dropped silently:
`safe_text` writes it as `[U+XXXX]`, so an emoji or an invisible bidi control shows up as what
it is. The JSON the PDF is rendered from stays the authoritative text.

Every PDF is PDF/A-3b (ISO 19005-3, level B): embedded fonts, an sRGB output intent (`icc/`,
the ICC's sRGB2014 profile with its licence), XMP metadata claiming part 3 conformance B, and
the JSON it was rendered from attached as an associated file (relationship Data).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import DocumentCompliance, OutputIntentSubType
from fpdf.output import PDFICCProfile

from projections.i18n import Translator, translator

SANS = "DejaVuSans"
MONO = "DejaVuSansMono"
FONT_DIR = Path(__file__).parent / "fonts"
ICC_PROFILE = Path(__file__).parent / "icc" / "sRGB2014.icc"
# (family, emphasis) -> file; the monospace face has no bold use, its bold is the regular file.
FONT_FILES = {
    (SANS, ""): "DejaVuSans.ttf",
    (SANS, "B"): "DejaVuSans-Bold.ttf",
    (MONO, ""): "DejaVuSansMono.ttf",
    (MONO, "B"): "DejaVuSansMono.ttf",
}

PAGE_MARGIN = 15.0  # mm, left and right; A4 is 210 mm wide
TOP_MARGIN = 16.0
BOTTOM_MARGIN = 16.0
CONTENT_WIDTH = 210.0 - 2 * PAGE_MARGIN

BODY_PT = 9.0
TABLE_PT = 7.0
MONO_PT = 6.0
KEY_MONO_PT = 7.5
LINE_MM = 3.0  # table line height: 7 pt text is 2.5 mm tall

RGB = tuple[int, int, int]
MM_PER_PT = 25.4 / 72

INK = (33, 37, 41)
WHITE = (255, 255, 255)
MUTED = (108, 117, 125)
RULE = (206, 212, 218)
HEAD_FILL = (52, 58, 64)
ZEBRA = (246, 247, 249)
BOX_FILL = (241, 243, 245)

# Text colour and background of each status; the same three colours serve the clocks.
STATUS_COLOURS: dict[str, tuple[RGB, RGB]] = {
    "OK": ((25, 110, 50), (223, 242, 228)),
    "WARNING": ((133, 85, 0), (255, 240, 204)),
    "KO": ((168, 20, 30), (250, 219, 219)),
}
# An unclaimed registered letter is grey: neither the sender's success nor their failure.
CLOCK_STATUS = {"met": "OK", "missed": "KO", "running": "WARNING", "unclaimed": "NEUTRAL"}
NEUTRAL = (INK, (233, 236, 239))


@dataclass(frozen=True, slots=True)
class Style:
    """How one table cell is drawn."""

    family: str = SANS
    emphasis: str = ""  # "", "B"
    size: float = TABLE_PT
    ink: RGB = INK
    fill: RGB | None = None


EMPTY = "—"  # printed for a missing value, so that a blank cell never hides one

# Characters that only differ from a common one in spacing or looks: French typography puts
# narrow no-break spaces before ":" and in "129,90 €", and a minus sign is a hyphen on paper.
# Kept simple so that the text extracted from a PDF compares with the JSON.
_EQUIVALENTS = str.maketrans(
    {
        **dict.fromkeys(range(0x2000, 0x200B), " "),
        0x202F: "\u00a0",
        0x205F: " ",
        0x3000: " ",
        0x2010: "-",
        0x2011: "-",
        0x2012: "-",
        0x2212: "-",
    }
)
# Unicode categories never printed as such: controls, format characters (bidi overrides such
# as U+202E, zero-width joiners), surrogates, private use, unassigned.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_PLAIN = re.compile(r"[\n\x20-\x7e]*")
_LONG_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
HEX_GROUP = 8


@functools.lru_cache(maxsize=1)
def _font_metrics() -> dict[tuple[str, str], dict[int, int]]:
    """Advance width of each character of each face, in thousandths of the font size: the
    same numbers fpdf2 uses to place the text, read once per process."""
    metrics: dict[tuple[str, str], dict[int, int]] = {}
    for key, name in FONT_FILES.items():
        font = TTFont(FONT_DIR / name, lazy=True)
        scale = 1000 / font["head"].unitsPerEm
        hmtx = font["hmtx"].metrics
        metrics[key] = {
            code: round(scale * hmtx[glyph][0] + 0.001)
            for code, glyph in font.getBestCmap().items()
        }
    return metrics


@functools.lru_cache(maxsize=1)
def _drawable() -> frozenset[int]:
    """The characters every face can draw: a value may be printed in any of them."""
    faces = [set(widths) for widths in _font_metrics().values()]
    return frozenset(set.intersection(*faces))


@functools.lru_cache(maxsize=8192)
def safe_text(value: str) -> str:
    """`value` as the embedded fonts can draw it: NFC, line ends made `\\n`, tabs made a space,
    and every other character the fonts lack (or invisible) written as `[U+XXXX]`."""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if _PLAIN.fullmatch(text):
        return text  # the common case: ASCII, nothing to look at
    text = unicodedata.normalize("NFC", text).translate(_EQUIVALENTS)
    return "".join(_safe_char(ch) for ch in text)


def _safe_char(ch: str) -> str:
    if ch == "\n":
        return ch
    if ch == "\t":
        return " "
    if unicodedata.category(ch) not in _HIDDEN and ord(ch) in _drawable():
        return ch
    return f"[U+{ord(ch):04X}]"


def text(value: Any) -> str:
    """Any JSON value as one string: None as an em dash, lists joined by "; ", objects as
    "key: value" pairs."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(text(item) for item in value) or EMPTY
    if isinstance(value, dict):
        return ", ".join(f"{k}: {text(v)}" for k, v in value.items()) or EMPTY
    return str(value)


def group_hex(value: str) -> str:
    """Split every long hex run (a hash) into groups of 8, so that it wraps between groups and a
    reader can compare two hashes group by group. The digits themselves are all kept."""
    return _LONG_HEX.sub(
        lambda m: " ".join(m[0][i : i + HEX_GROUP] for i in range(0, len(m[0]), HEX_GROUP)),
        value,
    )


def short_hash(value: str) -> str:
    """`1d6c0a3d…`: the first group, enough to find the hash printed in full elsewhere."""
    if not _LONG_HEX.fullmatch(value):
        return value
    return f"{value[:HEX_GROUP]}…"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 text as an aware UTC datetime; None if it is not one (never a guess)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def format_time(value: Any) -> str:
    """How the PDFs print a time: UTC, `2025-03-04 19:41:27` with `.ffffff` when the source gave
    sub-second digits. A value that is not an RFC 3339 time is printed as it is."""
    moment = parse_time(value)
    if moment is None:
        return text(value)
    day = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    clock = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    if moment.microsecond:
        clock += f".{moment.microsecond:06d}"
    return f"{day} {clock}"


def format_time_utc(value: Any) -> str:
    """`format_time` with " UTC" after it, for a time printed outside a table headed "(UTC)"."""
    return f"{format_time(value)} UTC" if parse_time(value) else text(value)


def format_delay(seconds: Any) -> str:
    """A duration in the largest two units: `2 d 19 h`, `3 h 05 min`, `42 s`."""
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        return text(seconds)
    sign, rest = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(rest, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min {secs:02d} s"
    return f"{sign}{secs} s"


def format_size(size: Any) -> str:
    if not isinstance(size, int) or isinstance(size, bool):
        return text(size)
    return f"{size:,} bytes".replace(",", "\u00a0")


def creation_date(generated_at: Any) -> datetime:
    """The PDF's creation date: the input's `generated_at`, so that the same input always gives
    the same bytes. Without a usable one, the Unix epoch: a fixed value, never the clock."""
    return parse_time(generated_at) or datetime(1970, 1, 1, tzinfo=UTC)


class Document(FPDF):
    """A PDF/A-3b A4 page in one language, with a running head (from page 2), and a footer
    naming the case and the tree size on every page, with `page X / Y`."""

    def __init__(self, *, title: str, running_head: str, footer: str, generated_at: Any,
                 lang: str | None = None) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4",
                         enforce_compliance=DocumentCompliance.PDFA_3B)
        self.tr: Translator = translator(lang)
        for (family, emphasis), name in FONT_FILES.items():
            self.add_font(family, emphasis, FONT_DIR / name)
        self.running_head = running_head
        self.footer_text = footer
        self.set_margins(PAGE_MARGIN, TOP_MARGIN, PAGE_MARGIN)
        self.set_auto_page_break(True, margin=BOTTOM_MARGIN)
        self.created = creation_date(generated_at)
        self.set_creation_date(self.created)
        self.set_title(title)
        self.set_author("Témoin")
        self.set_creator("Témoin (projections.pdf)")
        self.set_producer("Témoin (fpdf2)")
        self.set_lang(self.tr.lang)
        self.add_output_intent(
            OutputIntentSubType.PDFA,
            output_condition_identifier="sRGB",
            output_condition="IEC 61966-2-1:1999",
            registry_name="http://www.color.org",
            dest_output_profile=PDFICCProfile(
                contents=ICC_PROFILE.read_bytes(), n=3, alternate="DeviceRGB"),
            info="sRGB2014 (ICC, v2)",
        )
        self.set_text_color(*INK)
        self.set_draw_color(*RULE)

    def t(self, message: str) -> str:
        """`message` (English, the msgid) in the document's language."""
        return self.tr.t(message)

    def attach_json(self, name: str, data: bytes, description: str) -> None:
        """Attach the JSON this PDF was rendered from, as PDF/A-3 lets a document carry its
        machine-readable source: an associated file with the relationship Data."""
        self.embed_file(bytes=data, basename=name, mime_type="application/json",
                        associated_file_relationship="Data", desc=description,
                        creation_date=self.created, modification_date=self.created)

    def normalize_text(self, text: str) -> str:
        # Every string fpdf2 draws or measures passes here first: the [U+XXXX] fallback can
        # therefore never be forgotten by a caller, whatever the input holds.
        return super().normalize_text(safe_text(text))

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font(SANS, size=7)
        self.set_text_color(*MUTED)
        self.set_xy(PAGE_MARGIN, 8)
        self.cell(CONTENT_WIDTH, 4, fit(self.running_head, CONTENT_WIDTH, HEAD_LINE), align="L")
        self.set_draw_color(*RULE)
        self.line(PAGE_MARGIN, 12.5, PAGE_MARGIN + CONTENT_WIDTH, 12.5)
        self.set_text_color(*INK)
        self.set_y(TOP_MARGIN)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(SANS, size=7)
        self.set_text_color(*MUTED)
        page = self.t("page {number} / {total}").format(number=self.page_no(), total="{nb}")
        page_width = 22.0
        footer = fit(self.footer_text, CONTENT_WIDTH - page_width - 2, HEAD_LINE)
        self.cell(CONTENT_WIDTH - page_width, 4, footer, align="L")
        self.cell(page_width, 4, page, align="R")
        self.set_text_color(*INK)

    def to_bytes(self) -> bytes:
        self.set_xmp_metadata(self._xmp())
        return bytes(self.output())

    def _xmp(self) -> str:
        """The XMP packet with the PDF/A-3b claim. Written here rather than left to fpdf2,
        whose own packet stamps the current time as the modification date: this one uses the
        creation date throughout, so the same input gives the same bytes."""
        when = self.created.isoformat(timespec="seconds")
        return "\n".join([
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
            ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
            '  <rdf:Description rdf:about=""',
            '    xmlns:dc="http://purl.org/dc/elements/1.1/"',
            '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
            '    xmlns:pdf="http://ns.adobe.com/pdf/1.3/"',
            '    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"',
            f'    xmp:CreatorTool="{escape(str(self.creator))}"',
            f'    xmp:CreateDate="{when}" xmp:ModifyDate="{when}" xmp:MetadataDate="{when}"',
            f'    pdf:Producer="{escape(str(self.producer))}"',
            '    pdfaid:part="3" pdfaid:conformance="B">',
            '   <dc:format>application/pdf</dc:format>',
            f'   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(str(self.title))}'
            '</rdf:li></rdf:Alt></dc:title>',
            f'   <dc:creator><rdf:Seq><rdf:li>{escape(str(self.author))}</rdf:li></rdf:Seq>'
            '</dc:creator>',
            f'   <dc:language><rdf:Bag><rdf:li>{self.tr.lang}</rdf:li></rdf:Bag></dc:language>',
            '  </rdf:Description>',
            ' </rdf:RDF>',
            '</x:xmpmeta>',
        ])


# ------------------------------------------------------------------------------ building blocks


def heading(pdf: Document, title: str, *, level: int = 0) -> None:
    """A section title, also a bookmark in the reader's outline. Never the last line of a page."""
    if pdf.will_page_break(30 if level == 0 else 20):
        pdf.add_page()
    pdf.start_section(title, level=level, strict=False)
    pdf.ln(3 if level == 0 else 1.5)
    pdf.set_font(SANS, "B", 13 if level == 0 else 10)
    pdf.multi_cell(CONTENT_WIDTH, 6 if level == 0 else 5, title, align="L")
    if level == 0:
        pdf.set_draw_color(*RULE)
        pdf.line(PAGE_MARGIN, pdf.get_y() + 0.5, PAGE_MARGIN + CONTENT_WIDTH, pdf.get_y() + 0.5)
    pdf.ln(2.5)
    pdf.set_font(SANS, size=BODY_PT)


def paragraph(pdf: Document, body: str, *, size: float = BODY_PT, colour: RGB = INK) -> None:
    pdf.set_font(SANS, size=size)
    pdf.set_text_color(*colour)
    pdf.multi_cell(CONTENT_WIDTH, size * 0.45, body, align="L")
    pdf.set_text_color(*INK)
    pdf.ln(1.5)


def mono_box(pdf: Document, body: str, *, size: float = 7.5) -> None:
    """Verbatim text (a signed note, commands) in a grey box; long lines wrap at any character
    because they are tokens (base64, paths) rather than words."""
    pdf.set_font(MONO, size=size)
    pdf.set_fill_color(*BOX_FILL)
    pdf.multi_cell(
        CONTENT_WIDTH, size * 0.45, body.rstrip("\n"), fill=True, align="L",
        wrapmode="CHAR", padding=2,
    )
    pdf.ln(2)
    pdf.set_font(SANS, size=BODY_PT)


def bullets(pdf: Document, items: Iterable[str]) -> None:
    pdf.set_font(SANS, size=BODY_PT - 0.5)
    for item in items:
        pdf.set_x(PAGE_MARGIN)
        pdf.cell(5, 4, "•")
        pdf.multi_cell(CONTENT_WIDTH - 5, 4, group_hex(item), align="L")
        pdf.ln(0.6)
    pdf.ln(1)


def status_style(status: Any, *, size: float = TABLE_PT) -> Style:
    """The coloured cell of a status: OK green, WARNING amber, KO red, anything else grey."""
    ink, fill = STATUS_COLOURS.get(str(status), NEUTRAL)
    return Style(emphasis="B", size=size, ink=ink, fill=fill)


MONO_STYLE = Style(family=MONO, size=MONO_PT)
BOLD_STYLE = Style(emphasis="B", size=BODY_PT)
LABEL_STYLE = Style(emphasis="B", size=BODY_PT, ink=MUTED)
HEAD_STYLE = Style(emphasis="B", ink=WHITE, fill=HEAD_FILL)
HEAD_LINE = Style(size=7)  # running head and footer

Cell = str | tuple[str, Style]

PAD_X = 1.0  # mm inside a cell, left and right
PAD_Y = 0.8  # mm inside a cell, top and bottom
MIN_SPLIT_LINES = 3  # a row is split over two pages only when it cannot fit on one anyway


def table(
    pdf: Document,
    headings: Sequence[str],
    widths: Sequence[float],
    rows: Iterable[Sequence[Cell]],
    *,
    size: float = TABLE_PT,
    line_height: float = LINE_MM,
    zebra: bool = True,
    rules: bool = True,
) -> None:
    """A table from the left margin, headings repeated on each page it spans; a row taller than
    a page continues on the next. A cell is a string, or (string, Style) for monospace hashes and
    coloured statuses. Long hex runs are grouped by 8 so they wrap between groups.

    Drawn here rather than with fpdf2's `table()`, which measures every character of every cell
    several times: a report of 1,000 checks took seconds there and takes a fraction here.
    """
    grid = _Grid(pdf, list(widths), line_height, rules)
    base = Style(size=size)
    grid.set_head([(title, replace(HEAD_STYLE, size=size)) for title in headings])
    for number, values in enumerate(rows):
        cells = [value if isinstance(value, tuple) else (value, base) for value in values]
        grid.place(cells, ZEBRA if zebra and number % 2 else None)
    pdf.set_y(pdf.get_y() + 3)
    pdf.set_text_color(*INK)
    pdf.set_font(SANS, size=BODY_PT)


def key_values(pdf: Document, pairs: Sequence[tuple[str, Cell]], *, key_width: float = 42) -> None:
    """Label / value lines without rules (title page, identification, case header)."""
    rows = [[(label, LABEL_STYLE), _sized(value, BODY_PT)] for label, value in pairs]
    table(pdf, (), (key_width, CONTENT_WIDTH - key_width), rows, size=BODY_PT, line_height=4.2,
          zebra=False, rules=False)


def _sized(value: Cell, size: float) -> Cell:
    if not isinstance(value, tuple):
        return (value, Style(size=size))
    content, style = value
    # Hashes beside 9 pt labels: larger than in the dense tables, still one line for 64 digits.
    return (content, replace(style, size=KEY_MONO_PT)) if style.family == MONO else value


class _Grid:
    """Places the rows of one table, breaking pages as it goes. The heading row is drawn with
    the first row that follows it on a page, so it never stands alone at the foot of a page."""

    def __init__(self, pdf: Document, widths: list[float], line_height: float, rules: bool):
        self.pdf = pdf
        self.widths = widths
        self.line_height = line_height
        self.rules = rules
        self.head: list[tuple[str, Style]] = []
        self.head_lines: list[list[str]] = []
        self.head_pending = False

    def set_head(self, head: list[tuple[str, Style]]) -> None:
        self.head = head
        self.head_lines = self._wrap(head)
        self.head_pending = bool(head)

    def place(self, cells: list[tuple[str, Style]], fill: RGB | None) -> None:
        lines = self._wrap(cells)
        styles = [style for _, style in cells]
        fresh = False  # on a page this row's own overflow opened: draw now, whatever fits
        while True:
            room = self._room(self.pdf.get_y())
            need = max([1, *(len(cell) for cell in lines)])
            if need <= room:
                self._draw_head_if_pending()
                self._draw(lines, styles, fill)
                return
            if not fresh and (need <= self._room(TOP_MARGIN) or room < MIN_SPLIT_LINES):
                self._new_page()
                fresh = True
                continue
            # Taller than a page: what fits here, the rest on the next page. At least one line
            # each time, so that this always ends.
            cut = max(room, 1)
            self._draw_head_if_pending()
            self._draw([cell[:cut] for cell in lines], styles, fill)
            lines = [cell[cut:] for cell in lines]
            self._new_page()
            fresh = True

    def _wrap(self, cells: list[tuple[str, Style]]) -> list[list[str]]:
        return [
            wrap(group_hex(content), width - 2 * PAD_X, style)
            for (content, style), width in zip(cells, self.widths, strict=False)
        ]

    def _height(self, lines: list[list[str]]) -> float:
        return max([1, *(len(cell) for cell in lines)]) * self.line_height + 2 * PAD_Y

    def _room(self, top: float) -> int:
        """How many lines of a row fit between `top` and the foot of the page (after the
        heading row, if it is still to be drawn there)."""
        free = self.pdf.page_break_trigger - top - 2 * PAD_Y
        if self.head_pending:
            free -= self._height(self.head_lines)
        return max(0, int(free // self.line_height))

    def _new_page(self) -> None:
        self.pdf.add_page()
        self.head_pending = bool(self.head)

    def _draw_head_if_pending(self) -> None:
        if self.head_pending:
            self.head_pending = False
            self._draw(self.head_lines, [style for _, style in self.head], None)

    def _draw(self, lines: list[list[str]], styles: list[Style], fill: RGB | None) -> None:
        pdf, top, left = self.pdf, self.pdf.get_y(), self.pdf.l_margin
        height = self._height(lines)
        if fill is not None:
            pdf.set_fill_color(*fill)
            pdf.rect(left, top, sum(self.widths), height, style="F")
        x = left
        for cell, style, width in zip(lines, styles, self.widths, strict=False):
            if style.fill is not None:
                pdf.set_fill_color(*style.fill)
                pdf.rect(x, top, width, height, style="F")
            pdf.set_font(style.family, style.emphasis, style.size)
            pdf.set_text_color(*style.ink)
            # Baseline of the first line: centred in its line box, as fpdf2's cells do.
            baseline = top + PAD_Y + 0.5 * self.line_height + 0.3 * style.size * MM_PER_PT
            for number, line in enumerate(cell):
                if line:
                    pdf.text(x + PAD_X, baseline + number * self.line_height, line)
            x += width
        if self.rules:
            pdf.set_draw_color(*RULE)
            pdf.line(left, top + height, left + sum(self.widths), top + height)
        pdf.set_y(top + height)


# ---------------------------------------------------------------------------- measuring text


@functools.lru_cache(maxsize=65536)
def _units(word: str, family: str, emphasis: str) -> int:
    """Width of a safe string in thousandths of the font size."""
    widths = _font_metrics()[(family, emphasis)]
    return sum(widths.get(ord(ch), 0) for ch in word)


def wrap(value: str, width: float, style: Style) -> list[str]:
    """The lines of `value` that fit `width` mm in `style`: broken at spaces and line ends, and
    inside a word only when the word alone is wider than the line (hashes, URLs, hostile input).
    Runs of spaces collapse to one."""
    limit = width * 1000 / (style.size * MM_PER_PT)
    space = _units(" ", style.family, style.emphasis)
    lines: list[str] = []
    for paragraph_text in safe_text(value).split("\n"):
        line, used = "", 0
        for word in filter(None, paragraph_text.split(" ")):
            size = _units(word, style.family, style.emphasis)
            if line and used + space + size <= limit:
                line, used = f"{line} {word}", used + space + size
                continue
            if line:
                lines.append(line)
            if size <= limit:
                line, used = word, size
                continue
            *full, line = _break_word(word, limit, style)
            lines.extend(full)
            used = _units(line, style.family, style.emphasis)
        lines.append(line)
    return lines


def fit(value: str, width: float, style: Style) -> str:
    """`value` on one line of `width` mm, cut with an ellipsis if it is longer (running heads and
    footers, where a hostile case id must not run over the page number)."""
    line = " ".join(safe_text(value).split("\n"))
    limit = width * 1000 / (style.size * MM_PER_PT)
    if _units(line, style.family, style.emphasis) <= limit:
        return line
    return _break_word(line, limit - _units("…", style.family, style.emphasis), style)[0] + "…"


def _break_word(word: str, limit: float, style: Style) -> list[str]:
    pieces, start, used = [], 0, 0
    for end, ch in enumerate(word):
        size = _units(ch, style.family, style.emphasis)
        if used + size > limit and end > start:
            pieces.append(word[start:end])
            start, used = end, 0
        used += size
    pieces.append(word[start:])
    return pieces
