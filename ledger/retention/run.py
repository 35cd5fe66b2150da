"""`temoin retention apply`: carry out a plan, in chunks, so that a crash loses nothing.

Each chunk appends one `PersonalDataErased` entry per due case in ONE group commit (the entry
deletes the vault rows in its own transaction), then deletes the evidence files the entries
name. A run stopped anywhere is finished by the next one: committed entries are not planned
again, and files they name that are still on disk are deleted then. Every entry carries the
run's id, so the run's certificate is rebuilt from the log alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ledger.errors import LedgerError
from ledger.events.validate import ValidEvent, validate_append
from ledger.ledger import AppendGroup, AppendRequest, Ledger
from ledger.retention.facts import read_facts
from ledger.retention.plan import Due, Plan, plan
from ledger.store.protocols import LogReader

SOURCE = "temoin-retention"
# Cases per group commit: 2,000 was 16% faster than 500 on 20,000 cases (SQLite, here).
CHUNK = 2000


@dataclass(slots=True)
class RunResult:
    run: str
    planned: int = 0
    erased: int = 0  # entries appended
    files_deleted: int = 0
    skipped: list[str] = field(default_factory=list)  # "tenant/case: why"


def new_run_id(now: datetime) -> str:
    return "ret-" + now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def current_plan(ledger: Ledger, now: datetime,
                 progress: Callable[[int, int], None] | None = None,
                 others: Sequence[LogReader] = ()) -> Plan:
    """The plan of `ledger`'s log; `others`: the other logs of the database, read only for
    the evidence files their cases still cite (the evidence folder is shared)."""
    facts = read_facts(ledger.store, progress)
    elsewhere = [f for store in others for f in read_facts(store).values()]
    return plan(facts, ledger.retention, now, ledger.files.exists, elsewhere)


def _request(item: Due, run: str, now: datetime,
             events: dict[tuple[object, ...], ValidEvent]) -> AppendRequest:
    # One validation per distinct content: most due cases share theirs (validation was a
    # sixth of a run in the profile).
    shape = (item.basis, item.retention_class, item.fields, item.files)
    event = events.get(shape)
    if event is None:
        event = events[shape] = _event(item, run, now)
    return AppendRequest(item.facts.tenant, SOURCE, item.facts.case, event)


def _event(item: Due, run: str, now: datetime) -> ValidEvent:
    data: dict[str, object] = {
        "legal_basis": item.basis, "retention_class": item.retention_class,
        "retention_run": run,
    }
    if item.fields is not None:
        data["fields"] = list(item.fields)
    if item.files:
        data["evidence_destroyed"] = list(item.files)
    return validate_append("PersonalDataErased", now.strftime("%Y-%m-%dT%H:%M:%SZ"), data,
                           None, None, now=now)


def _chunks(items: list[Due]) -> Iterator[list[Due]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def apply(
    ledger: Ledger, the_plan: Plan, run: str, *,
    progress: Callable[[int, int], None] | None = None,
    after_commit: Callable[[list[Due]], None] | None = None,
) -> RunResult:
    """Carry out `the_plan`; `after_commit` is called between a chunk's commit and its file
    deletions (the tests stop the run there)."""
    result = RunResult(run, planned=len(the_plan.due))
    for sha in the_plan.leftover_files:
        result.files_deleted += ledger.files.delete(sha)
    done = 0
    for chunk in _chunks(the_plan.due):
        now = datetime.now(UTC)
        events: dict[tuple[object, ...], ValidEvent] = {}
        groups = [AppendGroup([_request(item, run, now, events)]) for item in chunk]
        ledger.prefetch([(item.facts.tenant, item.facts.case) for item in chunk])
        answers = ledger.commit(groups)
        committed = []
        for item, answer in zip(chunk, answers, strict=True):
            if isinstance(answer, LedgerError):
                # A hold placed or an erasure made since the plan was read: skip, say why.
                result.skipped.append(f"{item.facts.tenant}/{item.facts.case}: {answer}")
            else:
                committed.append(item)
        result.erased += len(committed)
        if after_commit is not None:
            after_commit(committed)
        for item in committed:
            for sha in item.files:
                result.files_deleted += ledger.files.delete(sha)
        done += len(chunk)
        if progress is not None:
            progress(done, len(the_plan.due))
    return result
