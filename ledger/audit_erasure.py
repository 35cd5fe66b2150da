"""Erasures as `temoin verify` reports them: each recorded erasure, and any opening or case key
that outlived the erasure that should have destroyed it (issue 12).

Runs after either verification pass, from two narrow queries (the erasure entries, then the
vault rows they cover), so it costs nothing on logs without erasures.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.canonical import CanonicalError, strict_loads
from ledger.checks import Check
from ledger.store.protocols import VaultReader


@dataclass(frozen=True, slots=True)
class ErasureNote:
    index: int
    case: str
    case_id: str  # hex of the case aggregate id, as the vault keys its rows
    case_seq: int
    recorded_at: str
    fields: tuple[str, ...] | None  # None: every personal field of the case
    evidence_destroyed: tuple[str, ...] = ()
    legal_basis: str = ""

    def __str__(self) -> str:
        what = "all personal fields" if self.fields is None else ", ".join(self.fields)
        files = (f" and {len(self.evidence_destroyed)} evidence file"
                 f"{'s' if len(self.evidence_destroyed) != 1 else ''}"
                 if self.evidence_destroyed else "")
        return (
            f"index {self.index}: case {self.case}: {what}{files} erased on "
            f"{self.recorded_at} by entry {self.index} ({self.legal_basis}), "
            f"commitments intact"
        )


def check_erasures(
    store: VaultReader, tree_size: int
) -> tuple[list[ErasureNote], list[Check]]:
    """(the erasures of the log's first `tree_size` entries, the KO checks of what outlived
    them)."""
    notes: list[ErasureNote] = []
    anomalies: list[Check] = []
    for index, case_hex, raw in store.iter_erasure_entries(tree_size):
        try:
            obj = strict_loads(raw)
            fields = obj["data"].get("fields")
            note = ErasureNote(
                index, obj["case"], case_hex, obj["case_seq"], obj["recorded_at"],
                None if fields is None else tuple(fields),
                tuple(obj["data"].get("evidence_destroyed", ())), obj["data"]["legal_basis"],
            )
        except (CanonicalError, KeyError, TypeError, AttributeError):
            continue  # an unreadable entry is reported by the verification passes
        notes.append(note)
        place = f"case {note.case}"
        for seq, name in store.openings_before(case_hex, note.case_seq, note.fields):
            anomalies.append(Check(
                f"personal field {name} of case_seq {seq} is still in the vault although "
                f"entry {note.index} erased it on {note.recorded_at}: run `temoin erasure "
                f"finish` to destroy it", place, "KO",
            ))
        if note.fields is None and store.case_key(case_hex) is not None:
            # A later entry may have brought a new key only if the case took personal data
            # again, which the ledger refuses after a whole-case erasure.
            anomalies.append(Check(
                f"the case key is still in the vault although entry {note.index} erased the "
                f"case on {note.recorded_at}: run `temoin erasure finish` to destroy it",
                place, "KO",
            ))
    return notes, anomalies
