"""PDF renderings of the case timeline and the integrity report, for people.

Pure functions, dict in and bytes out, deterministic for a given input (the PDF's creation date
is the input's `generated_at`, never the clock):

- `render_timeline_pdf(timeline, lang=, openings=, evidence=)` for a `temoin.timeline/v1`
  document;
- `render_report_pdf(report, lang=, openings=, evidence=, report_json=)` for a
  `temoin.report/v1` document.

French by default, English with `lang="en"` (`projections.i18n`); `openings` names the parties
(only for a reader entitled to them), `evidence` reads files for thumbnails. Every PDF is
PDF/A-3b with its JSON attached. The JSON documents stay authoritative; see `layout` for the
fonts and PDF/A, `story` for the sentences, and docs/REPORTS.md.
"""

from projections.pdf.report_pdf import render_report_pdf
from projections.pdf.timeline_pdf import render_timeline_pdf

__all__ = ["render_report_pdf", "render_timeline_pdf"]
