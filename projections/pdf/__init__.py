"""PDF renderings of the case timeline and the integrity report, for people.

Pure functions, dict in and bytes out, deterministic for a given input (the PDF's creation date
is the input's `generated_at`, never the clock):

- `render_timeline_pdf(timeline)` for a `temoin.timeline/v1` document;
- `render_report_pdf(report)` for a `temoin.report/v1` document.

The JSON documents stay authoritative; see `layout` for the font and character choices.
"""

from projections.pdf.report_pdf import render_report_pdf
from projections.pdf.timeline_pdf import render_timeline_pdf

__all__ = ["render_report_pdf", "render_timeline_pdf"]
