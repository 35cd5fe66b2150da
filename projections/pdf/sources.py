"""What the PDFs read besides the JSON they render: the evidence files (for thumbnails) and,
for a reader entitled to them, the openings (to name the parties); from a case file, read
once (ledger/case_file.py)."""

from __future__ import annotations

import hashlib

from ledger.case_file import CaseFile
from projections.pdf.story import Openings
from projections.pdf.timeline_pdf import EvidenceReader

MAX_THUMBNAIL_SOURCE = 32 * 1024 * 1024  # a larger file is listed by hash, not decoded


def case_file_evidence(file: CaseFile) -> EvidenceReader:
    """Reads an evidence file by SHA-256 for a thumbnail; None when it is missing, too large
    to decode, or no longer has that hash (a thumbnail must show the file the entry names).
    A small file's bytes are those the case file already hashed; a larger one (up to
    MAX_THUMBNAIL_SOURCE) is read and hashed at most once for all the PDFs of this reader."""
    larger: dict[str, bytes | None] = {}

    def read(sha: str) -> bytes | None:
        state = file.evidence.get(sha)
        if state is None or not state.sound:
            return None
        if state.data is not None:
            return state.data
        if state.size is None or state.size > MAX_THUMBNAIL_SOURCE:
            return None
        if sha not in larger:
            try:
                data = state.path.read_bytes()
            except OSError:
                data = None
            larger[sha] = data if data is not None and hashlib.sha256(
                data).hexdigest() == sha else None
        return larger[sha]

    return read


def case_file_openings(file: CaseFile) -> Openings:
    """The clear personal values of the case, by log index of the entry that commits to them.
    Call it only for a reader entitled to the openings (the bundle's include_openings rule)."""
    by_seq = file.openings or {}
    return {
        item.index: {field: opening.value for field, opening in by_seq[item.entry.case_seq].items()}
        for item in file.entries
        if item.entry.case_seq in by_seq
    }
