"""The destruction certificate for people: what a retention run destroyed, under which class
and rule, and how to check it. The JSON Lines certificate stays authoritative and is what
`temoin verify CERT` checks; the PDF lists the first `MAX_ROWS` cases and says so."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from projections.pdf.layout import (
    MONO_STYLE,
    Document,
    bullets,
    heading,
    mono_box,
    paragraph,
    table,
    text,
)

MAX_ROWS = 2_000


def render_certificate_pdf(
    header: dict[str, Any], items: Iterable[dict[str, Any]], summary: dict[str, Any],
    certificate_name: str,
) -> bytes:
    run = text(header.get("run"))
    pdf = Document(
        title=f"Certificat de destruction - {run}",
        running_head=f"Témoin · Certificat de destruction · run {run}",
        footer=f"Retention run {run} · {text(header.get('log'))}",
        generated_at=header.get("generated_at"),
    )
    pdf.add_page()
    heading(pdf, "Certificat de destruction / Destruction certificate")
    paragraph(pdf, (
        f"Retention run {run} of log {text(header.get('log'))}, generated "
        f"{text(header.get('generated_at'))}. It destroyed the personal data of "
        f"{summary.get('cases', 0)} case(s) (crypto-shredding: the case keys and sealed values "
        f"were deleted; the commitments in the log stay, and prove nothing about a person "
        f"without the destroyed values) and deleted {summary.get('evidence_files', 0)} "
        f"evidence file(s). Every destruction is an entry of the log, listed below with its "
        f"index; the entries and their proofs stay."
    ))
    heading(pdf, "Retention classes applied", level=1)
    classes = header.get("classes") or {}
    table(pdf, ("Class", "Kept after closure", "Rule"), (30, 30, 120),
          ([text(name), text(c.get("duration")), text(c.get("basis"))]
           for name, c in sorted(classes.items())))
    heading(pdf, "How to check this certificate", level=1)
    bullets(pdf, [
        f"temoin verify {certificate_name} --key '<the log's verifier key>' checks, offline, "
        "the signature of the certificate, the signed checkpoint, and that every entry "
        "listed is in the log (RFC 9162 inclusion proof).",
        "The verifier key must come from somewhere else than this file (the operator's "
        "published key, a bundle, a witness).",
    ])
    mono_box(pdf, text(header.get("checkpoint")))
    heading(pdf, "Cases", level=1)
    rows: list[Sequence[Any]] = []
    more = 0
    for item in items:
        if len(rows) >= MAX_ROWS:
            more += 1
            continue
        fields = item.get("fields")
        rows.append([
            text(item.get("index")),
            f"{text(item.get('tenant'))} / {text(item.get('case'))}",
            text(item.get("retention_class")),
            "all personal data" if fields == "all" else ", ".join(map(str, fields or [])),
            text(len(item.get("evidence_destroyed") or [])),
            (text(item.get("erased_at")), MONO_STYLE),
        ])
    table(pdf, ("Entry", "Tenant / case", "Class", "Erased", "Files", "At"),
          (16, 52, 26, 40, 12, 34), rows)
    if more:
        paragraph(pdf, f"… and {more} more case(s): the full list is in {certificate_name}.")
    return pdf.to_bytes()
