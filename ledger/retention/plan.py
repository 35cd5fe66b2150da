"""What a retention run must do now: pure, from the cases' facts, the policy and a time.

- A closed case whose class has run out (counted from its closure) and that no legal hold
  suspends: its personal data is crypto-shredded and its evidence files deleted, recorded by
  one `PersonalDataErased` entry (basis `retention`). A file several cases cite is deleted
  only once every one of them is due or already destroyed.
- A delivery position sent in `personal` runs out sooner (the `location` class): its fields
  are erased alone.
- The evidence folder is the database's, shared by every log (content-addressed): a file that
  a case of another log still needs (`elsewhere`: not itself past its retention and free of
  holds) is kept, so that one log's run never deletes another log's evidence. Once that case
  runs out too, the run of either log that comes first deletes the file.
- Files an earlier run recorded as destroyed but that are still on disk (the run stopped
  between its commit and the deletion) are deleted without a new entry: the entry is there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ledger.retention.classes import LOCATION, RetentionPolicy
from ledger.retention.facts import CaseFacts, parse_time


@dataclass(frozen=True, slots=True)
class Due:
    facts: CaseFacts
    retention_class: str
    due_since: datetime
    fields: tuple[str, ...] | None  # None: the whole case
    files: tuple[str, ...]  # evidence files this entry destroys

    @property
    def basis(self) -> str:
        return "retention" if self.fields is None else "retention-location"


@dataclass(frozen=True, slots=True)
class Held:
    facts: CaseFacts
    retention_class: str
    due_since: datetime
    holds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    due: list[Due]
    held: list[Held]
    leftover_files: list[str]  # recorded as destroyed, still on disk


def plan(
    cases: Mapping[str, CaseFacts],
    policy: RetentionPolicy,
    now: datetime,
    file_exists: Callable[[str], bool],
    elsewhere: Iterable[CaseFacts] = (),
) -> Plan:
    """`cases`: the facts of one log's cases; `elsewhere`: those of the other logs of the
    database, whose files this log's run must not take from them."""
    needed = {sha for facts in elsewhere if not _runs_out(facts, policy, now)
              for sha in facts.evidence - facts.destroyed}
    due: list[Due] = []
    held: list[Held] = []
    whole: set[str] = set()
    for facts in cases.values():
        if facts.closed_at is None:
            continue  # retention counts from closure
        closed = parse_time(facts.closed_at)
        klass = policy.of(facts.retention_class)
        since = klass.expires(closed)
        if now >= since and (not facts.erased or facts.evidence - facts.destroyed):
            if facts.holds:
                held.append(Held(facts, klass.name, since, tuple(sorted(facts.holds))))
                continue
            whole.add(facts.case_id)
            due.append(Due(facts, klass.name, since, None, ()))
            continue
        location = policy.classes[LOCATION]
        since = location.expires(closed)
        if facts.live_location and now >= since and not facts.holds:
            due.append(Due(facts, LOCATION, since, tuple(sorted(facts.live_location)), ()))
    # Which files may go: every case citing one must be going now or gone already.
    gone = {c.case_id for c in cases.values() if c.erased and not c.evidence - c.destroyed}
    citing: dict[str, set[str]] = {}
    for facts in cases.values():
        for sha in facts.evidence:
            citing.setdefault(sha, set()).add(facts.case_id)
    done = {sha for facts in cases.values() for sha in facts.destroyed}
    leaving = whole | gone
    result = []
    taken = set(done)  # a file shared by several going cases is destroyed by one entry
    for item in due:
        if item.fields is None:
            files = tuple(sorted(
                sha for sha in item.facts.evidence - item.facts.destroyed
                if citing[sha] <= leaving and sha not in taken and sha not in needed
            ))
            taken.update(files)
            item = Due(item.facts, item.retention_class, item.due_since, None, files)
        result.append(item)
    # A case already erased (say, on request) with no file left to destroy has nothing due.
    result = [d for d in result if not (d.fields is None and d.facts.erased and not d.files)]
    leftover = sorted(sha for sha in done if sha not in needed and file_exists(sha))
    return Plan(result, held, leftover)


def _runs_out(facts: CaseFacts, policy: RetentionPolicy, now: datetime) -> bool:
    """The whole case is past its retention and no hold keeps it: its files may go."""
    if facts.closed_at is None or facts.holds:
        return False
    return now >= policy.of(facts.retention_class).expires(parse_time(facts.closed_at))


def describe(items: Iterable[Due]) -> list[str]:
    return [
        f"{d.facts.tenant}/{d.facts.case}: class {d.retention_class}, due since "
        f"{d.due_since:%Y-%m-%d}: "
        + ("personal data" if d.fields is None else ", ".join(d.fields))
        + (f" and {len(d.files)} evidence file{'s' if len(d.files) != 1 else ''}"
           if d.files else "")
        for d in items
    ]
