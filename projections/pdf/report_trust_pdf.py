"""The report PDF's "Trusted time and witnesses" part: the `trusted_time` and `witnesses`
sections of `temoin.report/v1` (issue 11), kept apart so the rest of the PDF is untouched."""

from __future__ import annotations

from typing import Any

from projections.pdf.layout import (
    Document,
    format_time,
    heading,
    paragraph,
    status_style,
    table,
    text,
)


def _rows(report: dict[str, Any], key: str) -> list[dict[str, Any]]:
    found = report.get(key)
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def _verified(row: dict[str, Any]) -> tuple[str, Any]:
    word = "verified" if row.get("verified") is True else "not verified"
    return word, status_style("OK" if row.get("verified") is True else "WARNING")


def write_trust(pdf: Document, report: dict[str, Any]) -> None:
    """Each RFC 3161 token and witness cosignature of the reference checkpoint, re-checked."""
    heading(pdf, "Trusted time and witnesses", level=1)
    tokens, witnesses = _rows(report, "trusted_time"), _rows(report, "witnesses")
    paragraph(
        pdf,
        "A time-stamp token from an independent Time-Stamp Authority (RFC 3161) proves that the "
        "reference checkpoint, and every entry it includes, existed no later than its time. A "
        "witness cosignature (C2SP cosignature/v1) proves that an independent witness checked, "
        "at its time, that this checkpoint extends every one of the log it saw before.",
        size=8,
    )
    if tokens:
        table(
            pdf, ("TSA (certificate subject)", "No later than (UTC)", "Serial", "Check"),
            (86, 34, 30, 30),
            ([text(r.get("tsa_subject") or r.get("tsa")), format_time(r.get("time")),
              text(r.get("serial")), _verified(r)] for r in tokens),
        )
    else:
        paragraph(pdf, "No time-stamp token: the checkpoint's time is only the log's own claim.")
    if witnesses:
        table(
            pdf, ("Witness", "Cosigned at (UTC)", "Check"), (116, 34, 30),
            ([text(r.get("witness")), format_time(r.get("time")), _verified(r)]
             for r in witnesses),
        )
    else:
        paragraph(pdf, "No witness cosignature.")
