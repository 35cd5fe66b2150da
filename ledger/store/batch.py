"""What one group commit writes besides the stored events, and what it learns back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SealedOpening:
    case_id: str  # hex of the case aggregate id
    case_seq: int
    field: str
    sealed: bytes


@dataclass(frozen=True, slots=True)
class Erasure:
    """Crypto-shredding done by a `PersonalDataErased` entry, in that entry's transaction.

    Openings of the case sealed before the entry (`case_seq` < `before_seq`) are deleted, all of
    them or those of `fields`; a whole-case erasure also deletes the case's wrapped key, so
    that no copy of a sealed row (a backup, a page not yet reused) can be opened again.
    """

    case_id: str  # hex of the case aggregate id
    before_seq: int
    fields: tuple[str, ...] | None  # None: every personal field of the case

    def statements(self, mark: str, case_no: str) -> list[tuple[str, tuple[object, ...]]]:
        """The DELETEs, with `mark` as the driver's placeholder ("?" or "%s") and `case_no`
        the subquery that turns the case id bound there into its case number (the vault's
        key since schema version 4)."""
        where = f"case_no = {case_no} AND case_seq < {mark}"
        # The Idempotency-Key records of the case's requests go too, whatever was erased.
        forget = [
            (f"DELETE FROM idempotency WHERE EXISTS (SELECT 1 FROM idempotency_cases c WHERE "
             f"c.case_id = {mark} AND c.tenant = idempotency.tenant AND c.key = idempotency.key)",
             (self.case_id,)),
            (f"DELETE FROM idempotency_cases WHERE case_id = {mark}", (self.case_id,)),
        ]
        if self.fields is None:
            return [
                *forget,
                (f"DELETE FROM vault_openings WHERE {where}", (self.case_id, self.before_seq)),
                (f"DELETE FROM vault_keys WHERE case_no = {case_no}", (self.case_id,)),
            ]
        return [
            *forget,
            *((f"DELETE FROM vault_openings WHERE {where} AND field = {mark}",
               (self.case_id, self.before_seq, name)) for name in self.fields),
        ]


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """An Idempotency-Key answer, rendered inside the transaction once indices are known."""

    tenant: str
    key: str
    request_hash: str
    created_at: str
    start: int  # position of the request's first event in the batch
    count: int
    cases: tuple[str, ...]  # hex ids of the cases it appended to: erasing one forgets it
    render: Callable[[list[int]], str]


def erasure_statements(
    erasures: list[Erasure], mark: str, case_no: str
) -> list[tuple[str, list[tuple[object, ...]]]]:
    """Every erasure's DELETEs, grouped by statement, for one executemany each."""
    grouped: dict[str, list[tuple[object, ...]]] = {}
    for erasure in erasures:
        for sql, params in erasure.statements(mark, case_no):
            grouped.setdefault(sql, []).append(params)
    return list(grouped.items())


@dataclass(slots=True)
class AppendBatch:
    """Side rows committed in the same transaction as the events (DESIGN §4, §6).

    `indices` and `tree_size` are filled by the recorder once the transaction has committed.
    """

    case_keys: list[tuple[str, bytes]] = field(default_factory=list)
    openings: list[SealedOpening] = field(default_factory=list)
    idempotency: list[IdempotencyRecord] = field(default_factory=list)
    erasures: list[Erasure] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    tree_size: int = 0
    # Seconds the callers of this commit can still wait for the database lock (they may
    # have waited in the sequencer's queue already); None: the configured lock timeout.
    lock_wait: float | None = None

    def extend(self, other: AppendBatch) -> None:
        self.case_keys.extend(other.case_keys)
        self.openings.extend(other.openings)
        self.idempotency.extend(other.idempotency)
        self.erasures.extend(other.erasures)

    def idempotency_case_rows(self) -> list[tuple[str, str, str]]:
        return [(c, r.tenant, r.key) for r in self.idempotency for c in r.cases]

    def idempotency_rows(self, first_index: int) -> list[tuple[str, str, str, str, str]]:
        return [
            (
                r.tenant,
                r.key,
                r.request_hash,
                r.render(list(range(first_index + r.start, first_index + r.start + r.count))),
                r.created_at,
            )
            for r in self.idempotency
        ]
