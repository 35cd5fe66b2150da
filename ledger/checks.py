"""One result type for every verifier: `temoin verify` of the log (ledger/audit.py) and its
erasure audit, `temoin verify BUNDLE.zip` (verifier/bundle.py, with its RFC 3161 and witness
checks), `temoin verify CERT` (ledger/retention/certificate.py).

A verifier returns a `Verdict`: the `Check`s it made, each naming its place (a member, `index
N`, `case C`, `checkpoint size N`, `node L/N`, `line N`) and, when it is not OK, what was found
against what was wanted. The commands print them (`Check.line()` with its status, or
`Check.message()` for a list of anomalies); the printed words are the commands' contract
(API.md, docs/BUNDLE.md), so they are those the verifiers printed before this type existed.
Pure: no database, no I/O, so the offline verifier can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Check", "Status", "Verdict"]

# OK: it holds. KO: it does not; the verdict fails. WARN: worth saying, fails nothing (a
# re-zipped bundle's folder entries). ERASED: nothing left to compare, nothing wrong (a
# personal value destroyed by a recorded erasure).
Status = Literal["OK", "KO", "WARN", "ERASED"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    place: str
    status: Status
    detail: str = ""  # what was found (and wanted) when not OK; a fact worth showing when OK

    def line(self) -> str:
        """`KO   index 3: inclusion proof — <detail>`: one printed line of a verifier."""
        line = f"{self.status:<5}{self.place}: {self.name}"
        return f"{line} — {self.detail}" if self.detail else line

    def message(self) -> str:
        """`index 3: <problem>`: the check without its status, as a list of anomalies says it."""
        text = f"{self.name} — {self.detail}" if self.detail else self.name
        return f"{self.place}: {text}" if self.place else text

    def __str__(self) -> str:
        return self.line()


@dataclass
class Verdict:
    """Every check a verifier made, in order; sound when none is KO."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "KO"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == "WARN"]

    def passed(self, place: str, name: str, detail: str = "") -> None:
        self.checks.append(Check(name, place, "OK", detail))

    def failed(self, place: str, name: str, detail: str = "") -> None:
        self.checks.append(Check(name, place, "KO", detail))

    def warned(self, place: str, name: str, detail: str) -> None:
        self.checks.append(Check(name, place, "WARN", detail))

    def check(self, place: str, name: str, problem: str | None, detail: str = "") -> bool:
        """Record OK when `problem` is None, else KO with it; return whether it passed."""
        if problem is None:
            self.passed(place, name, detail)
            return True
        self.failed(place, name, problem)
        return False
