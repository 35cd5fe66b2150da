"""What the PDFs read from the ledger besides the JSON they render: the evidence files (for
thumbnails) and, for a reader entitled to them, the openings (to name the parties)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from ledger.ledger import Ledger
from projections.pdf.story import Openings
from projections.pdf.timeline_pdf import EvidenceReader

MAX_THUMBNAIL_SOURCE = 32 * 1024 * 1024  # a larger file is listed by hash, not decoded


def evidence_reader(ledger: Ledger) -> EvidenceReader:
    """Reads an evidence file by SHA-256; None when it is missing, too large to decode for a
    thumbnail, or no longer has that hash (a thumbnail must show the file the entry names)."""

    def read(sha: str) -> bytes | None:
        try:
            if ledger.files.path(sha).stat().st_size > MAX_THUMBNAIL_SOURCE:
                return None
            data = ledger.files.read(sha)
        except (OSError, ValueError):
            return None
        return data if hashlib.sha256(data).hexdigest() == sha else None

    return read


def case_openings(ledger: Ledger, tenant: str, case: str,
                  entries: Sequence[dict[str, Any]]) -> Openings:
    """The clear personal values of the case, by log index of the entry that commits to them.
    Call it only for a reader entitled to the openings (the bundle's include_openings rule)."""
    by_seq = ledger.openings(tenant, case)
    return {
        entry["index"]: {field: opening.value for field, opening in by_seq[seq].items()}
        for entry in entries
        if (seq := entry.get("case_seq")) in by_seq and isinstance(entry.get("index"), int)
    }
