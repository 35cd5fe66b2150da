"""The `Case` aggregate (DESIGN §3).

Every domain event of a case carries exactly one thing: the verbatim bytes of its log entry.
The entry *is* the event, so what eventsourcing stores and what the Merkle leaf commits to can
never drift apart. The aggregate enforces the append-time rules that depend on the case's own
history (chain, sequence, closure); field validation happens before, in `ledger.events`.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.entry import Entry, build_entry, parse_entry
from ledger.events.types import EVENT_TYPES

# Fixed forever: case aggregate ids are derived from (tenant, case), so that a case id is
# scoped to its tenant and two processes opening the same case collide on the same id.
_CASE_NAMESPACE = UUID("6c0d3f52-4f2e-4b51-9a55-3c1b2f7e9d10")


def case_uuid(tenant: str, case: str) -> UUID:
    return uuid5(_CASE_NAMESPACE, f"{tenant}\x00{case}")


class CaseExistsError(Exception):
    """`CaseOpened` for a case that already exists."""


class CaseClosedError(Exception):
    """An event other than `PersonalDataErased` after `CaseClosed`."""


class HoldError(Exception):
    """A legal hold suspends the act, or a hold reference does not match."""


class ErasedError(Exception):
    """Erasing what is already erased, or personal data for a case whose data was erased."""


class CaseEvent(Aggregate.Event):
    """Base of every case event: the entry bytes, nothing else."""

    entry: bytes

    def apply(self, aggregate: Case) -> None:
        aggregate._apply_entry(parse_entry(self.entry, trusted=True))


class CaseCreated(CaseEvent, Aggregate.Created):
    """Base of the one creation event, `CaseOpened`."""


_EVENT_CLASSES: dict[str, type[CaseEvent]] = {}


def _define_event_classes() -> None:
    # One class per event type, so topics name the dispute action (e.g. ...:OtpVerified).
    for name in EVENT_TYPES:
        base: type[CaseEvent] = CaseCreated if name == "CaseOpened" else CaseEvent
        cls = type(name, (base,), {"__module__": __name__, "__qualname__": name})
        globals()[name] = cls
        _EVENT_CLASSES[name] = cls


_define_event_classes()


def event_class(type_name: str) -> type[CaseEvent]:
    return _EVENT_CLASSES[type_name]


class Case(Aggregate):
    """A dispute case: its chain head, its sequence and whether it is closed."""

    # A closed case keeps its archive life: retention counts from closure, so holds and the
    # retention class must still be settable, and erasure is what retention does.
    CLOSED_ALLOWS: ClassVar[frozenset[str]] = frozenset(
        {"PersonalDataErased", "LegalHoldPlaced", "LegalHoldReleased", "RetentionClassSet"}
    )

    def __init__(self) -> None:
        self.tenant = ""
        self.case = ""
        self.status = "open"
        self.head: bytes | None = None
        self.opened_at = ""
        self.closed_at: str | None = None
        # Crypto-shredding state. Values are replaced, never mutated in place: the ledger
        # decides on shallow copies of cached cases.
        self.erased = False  # every personal field, and the case key, destroyed
        self.erased_by: tuple[int, str] | None = None  # (case_seq, recorded_at) of that entry
        self.personal_seq: dict[str, int] = {}  # field -> last case_seq that committed it
        self.field_erased: dict[str, tuple[int, str]] = {}  # field -> (case_seq, recorded_at)
        self.holds: dict[str, str] = {}  # active legal holds: reference -> placed (occurred_at)
        self.retention_class: str | None = None  # None: the deployment's default class

    @classmethod
    def open(cls, *, case_id: UUID, timestamp: Any, **fields: Any) -> Case:
        entry = build_entry(case_seq=1, prev=None, type="CaseOpened", **fields)
        return cls._create(
            event_class("CaseOpened"), id=case_id, timestamp=timestamp, entry=entry
        )

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
        live = [f for f in fields if self.personal_seq.get(f, 0) > self._erased_seq(f)]
        if live:
            return
        reasons = []
        for name in fields:
            if name in self.field_erased and self.personal_seq.get(name, 0) <= self._erased_seq(
                name
            ):
                seq, at = self.field_erased[name]
                reasons.append(f"{name} was erased by the case's entry {seq} (recorded {at})")
            else:
                reasons.append(f"{name} was never recorded in this case")
        raise ErasedError(
            f"nothing to erase in case {self.case!r}: " + "; ".join(reasons)
        )

    def _erased_seq(self, name: str) -> int:
        found = self.field_erased.get(name)
        return found[0] if found is not None else 0

    def append(self, *, type: str, timestamp: Any, **fields: Any) -> None:
        self.check_can_append(type)
        entry = build_entry(
            case_seq=self.version + 1, prev=self.head, type=type, **fields
        )
        self.trigger_event(event_class(type), timestamp=timestamp, entry=entry)

    def _apply_entry(self, entry: Entry) -> None:
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
