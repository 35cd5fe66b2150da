"""What the ledger knows of a case when it decides on an append: the rules of DESIGN §3.

A plain object the project owns, apart from eventsourcing's aggregate: the ledger caches it,
copies it, and puts a copy back when a group fails, without touching any attribute of
eventsourcing's. The `Case` aggregate keeps one of these as its state, so that a case
replayed by eventsourcing and a case decided on by the ledger follow the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import UUID

from ledger.entry import Entry
from ledger.errors import ConflictError


class CaseExistsError(ConflictError):
    """`CaseOpened` for a case that already exists."""


class CaseClosedError(ConflictError):
    """An event other than `PersonalDataErased` after `CaseClosed`."""


class HoldError(ConflictError):
    """A legal hold suspends the act, or a hold reference does not match."""


class ErasedError(ConflictError):
    """Erasing what is already erased, or personal data for a case whose data was erased."""


@dataclass(slots=True)
class CaseState:
    """A case as of its entry `version`. Values are replaced, never mutated in place, so a
    `copy` shares them safely."""

    # A closed case keeps its archive life: retention counts from closure, so holds and the
    # retention class must still be settable, and erasure is what retention does.
    CLOSED_ALLOWS: ClassVar[frozenset[str]] = frozenset(
        {"PersonalDataErased", "LegalHoldPlaced", "LegalHoldReleased", "RetentionClassSet"}
    )

    id: UUID
    version: int = 0  # the case_seq of the last entry applied
    # Entries applied since the case was last loaded or saved: the ledger's pending count.
    unsaved: int = 0
    tenant: str = ""
    case: str = ""
    status: str = "open"
    head: bytes | None = None  # leaf hash of the last entry: the next entry's `prev`
    opened_at: str = ""
    closed_at: str | None = None
    # Crypto-shredding state.
    erased: bool = False  # every personal field, and the case key, destroyed
    erased_by: tuple[int, str] | None = None  # (case_seq, recorded_at) of that entry
    personal_seq: dict[str, int] = field(default_factory=dict)  # field -> last case_seq
    field_erased: dict[str, tuple[int, str]] = field(default_factory=dict)  # -> (seq, at)
    holds: dict[str, str] = field(default_factory=dict)  # active holds: reference -> placed
    retention_class: str | None = None  # None: the deployment's default class

    def copy(self) -> CaseState:
        """A private copy to decide on (the dicts are shared: they are only ever replaced)."""
        return CaseState(
            self.id, self.version, self.unsaved, self.tenant, self.case, self.status,
            self.head, self.opened_at, self.closed_at, self.erased, self.erased_by,
            self.personal_seq, self.field_erased, self.holds, self.retention_class,
        )

    # -- rules ------------------------------------------------------------------------------
    def check_can_append(self, type: str) -> None:
        if type == "CaseOpened":
            raise CaseExistsError(f"case {self.case!r} already exists")
        if self.status == "closed" and type not in self.CLOSED_ALLOWS:
            raise CaseClosedError(
                f"case {self.case!r} is closed: only "
                f"{', '.join(sorted(self.CLOSED_ALLOWS))} may follow CaseClosed"
            )

    def check_personal(self, personal: dict[str, Any]) -> None:
        if personal and self.erased and self.erased_by is not None:
            seq, at = self.erased_by
            raise ErasedError(
                f"the personal data of case {self.case!r} was erased by its entry {seq} "
                f"({at}) and its key destroyed: it takes no new personal data; open a new case"
            )

    def check_hold(self, type: str, reference: str) -> None:
        if type == "LegalHoldPlaced" and reference in self.holds:
            raise HoldError(f"legal hold {reference!r} is already active on case {self.case!r} "
                            f"(placed {self.holds[reference]})")
        if type == "LegalHoldReleased" and reference not in self.holds:
            active = ", ".join(sorted(self.holds)) or "none"
            raise HoldError(f"case {self.case!r} has no active legal hold {reference!r} "
                            f"(active: {active})")

    def check_erasure(
        self, fields: list[str] | None, override: list[str] | None = None,
        destroys_files: bool = False,
    ) -> None:
        """Refuse an erasure that a legal hold suspends (unless it names every active hold to
        override it) or that would erase nothing, saying what erased it before."""
        held = sorted(set(self.holds) - set(override or ()))
        if held:
            placed = "; ".join(f"{r!r} placed {self.holds[r]}" for r in held)
            raise HoldError(
                f"case {self.case!r} is under legal hold ({placed}): erasure is suspended; "
                f"release the hold, or an admin may override it by listing it in "
                f"data.override_holds"
            )
        unknown = sorted(set(override or ()) - set(self.holds))
        if unknown:
            raise HoldError(f"override_holds names no active hold of case {self.case!r}: "
                            f"{', '.join(unknown)}")
        if destroys_files:
            return  # retention destroying evidence files of a case erased before
        if self.erased and self.erased_by is not None:
            seq, at = self.erased_by
            raise ErasedError(
                f"the personal data of case {self.case!r} was already erased by its entry "
                f"{seq} ({at})"
            )
        if fields is None:
            return
        live = [f for f in fields if self.personal_seq.get(f, 0) > self.erased_seq(f)]
        if live:
            return
        reasons = []
        for name in fields:
            if name in self.field_erased and self.personal_seq.get(name, 0) <= self.erased_seq(
                name
            ):
                seq, at = self.field_erased[name]
                reasons.append(f"{name} was erased by the case's entry {seq} (recorded {at})")
            else:
                reasons.append(f"{name} was never recorded in this case")
        raise ErasedError(
            f"nothing to erase in case {self.case!r}: " + "; ".join(reasons)
        )

    def erased_seq(self, name: str) -> int:
        found = self.field_erased.get(name)
        return found[0] if found is not None else 0

    # -- evolution --------------------------------------------------------------------------
    def apply_entry(self, entry: Entry) -> None:
        self.version = entry.case_seq
        self.head = entry.leaf_hash
        if entry.case_seq == 1:
            self.tenant, self.case, self.opened_at = entry.tenant, entry.case, entry.occurred_at
        if entry.type == "CaseClosed":
            self.status, self.closed_at = "closed", entry.occurred_at
        elif entry.type == "PersonalDataErased":
            listed = entry.data.get("fields")
            if listed is None:
                if not self.erased:  # a later one only destroys files (retention)
                    self.erased, self.erased_by = True, (entry.case_seq, entry.recorded_at)
            else:
                self.field_erased = {
                    **self.field_erased,
                    **{name: (entry.case_seq, entry.recorded_at) for name in listed},
                }
        elif entry.type == "LegalHoldPlaced":
            self.holds = {**self.holds, entry.data["reference"]: entry.occurred_at}
        elif entry.type == "LegalHoldReleased":
            self.holds = {r: at for r, at in self.holds.items() if r != entry.data["reference"]}
        elif entry.type == "RetentionClassSet":
            self.retention_class = entry.data["retention_class"]
        if entry.case_seq == 1 and "retention_class" in entry.data:
            self.retention_class = entry.data["retention_class"]
        if entry.personal:
            self.personal_seq = {
                **self.personal_seq, **dict.fromkeys(entry.personal, entry.case_seq)
            }
