"""Retention classes: how long after a case's closure its personal data and evidence files are
kept (NF Z42-013 / ISO 14641 retention rules; GDPR art. 5(1)(e) storage limitation).

The defaults are a starting point to review with the data-protection officer, each with the
rule it follows. `TEMOIN_RETENTION_CLASSES` adds or overrides classes (`name=5y name=18m
name=90d`, whitespace separated) and `TEMOIN_RETENTION_DEFAULT` names the class of a case that
does not choose one. The `location` class applies to a delivery's position sent in `personal`
(latitude, longitude): it is erased sooner than the rest of the case.
"""

from __future__ import annotations

import calendar
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ledger.config import ConfigError

LOCATION = "location"
LOCATION_FIELDS = ("latitude", "longitude")


@dataclass(frozen=True, slots=True)
class RetentionClass:
    name: str
    years: int = 0
    months: int = 0
    days: int = 0
    basis: str = "configured by the operator"

    @property
    def duration(self) -> str:
        parts = [f"{n} {unit}{'s' if n > 1 else ''}" for n, unit in
                 ((self.years, "year"), (self.months, "month"), (self.days, "day")) if n]
        return ", ".join(parts) or "0 days"

    def expires(self, closed: datetime) -> datetime:
        """The moment the class runs out for a case closed at `closed`: the same day and time
        `years`/`months` later (31 → last day of a shorter month, 29 February → 28), plus
        `days`."""
        month0 = closed.month - 1 + self.months + 12 * self.years
        year, month = closed.year + month0 // 12, month0 % 12 + 1
        day = min(closed.day, calendar.monthrange(year, month)[1])
        return closed.replace(year=year, month=month, day=day) + timedelta(days=self.days)


DEFAULT_CLASSES: tuple[RetentionClass, ...] = (
    RetentionClass(
        "contract", years=5,
        basis="C. civ. art. 2224 and C. com. L110-4: claims between a merchant and a consumer "
              "are time-barred 5 years after the facts were known",
    ),
    RetentionClass(
        "distance-sale-120", years=10,
        basis="C. consom. L213-1 and D213-2: a contract concluded electronically for 120 EUR "
              "or more is kept 10 years",
    ),
    RetentionClass(
        LOCATION, years=1,
        basis="GDPR art. 5(1)(c) and (e): a delivery's position is needed for the dispute "
              "only, not for the 5 years of the rest of the file",
    ),
)
DEFAULT_CLASS = "contract"

_SPEC = re.compile(r"([a-z0-9][a-z0-9._-]{0,63})=(\d{1,4})([ymd])")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    classes: Mapping[str, RetentionClass]
    default: str = DEFAULT_CLASS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetentionPolicy:
        env = os.environ if environ is None else environ
        classes = {c.name: c for c in DEFAULT_CLASSES}
        for spec in env.get("TEMOIN_RETENTION_CLASSES", "").split():
            match = _SPEC.fullmatch(spec)
            if match is None:
                raise ConfigError(
                    f"TEMOIN_RETENTION_CLASSES: {spec!r} is not NAME=<number><y|m|d> "
                    f"(e.g. contract=5y location=6m)"
                )
            name, count, unit = match.group(1), int(match.group(2)), match.group(3)
            key = {"y": "years", "m": "months", "d": "days"}[unit]
            classes[name] = RetentionClass(name, **{key: count})
        default = env.get("TEMOIN_RETENTION_DEFAULT", DEFAULT_CLASS)
        if default not in classes or default == LOCATION:
            raise ConfigError(
                f"TEMOIN_RETENTION_DEFAULT must name a case class ({', '.join(sorted(classes))} "
                f"but not {LOCATION}), got {default!r}"
            )
        return cls(classes, default)

    def check(self, name: str) -> None:
        """Refuse a class a case cannot have, naming those it can."""
        if name not in self.classes or name == LOCATION:
            names = ", ".join(sorted(n for n in self.classes if n != LOCATION))
            raise ValueError(f"unknown retention class {name!r}; this deployment has: {names}")

    def of(self, name: str | None) -> RetentionClass:
        return self.classes.get(name or self.default) or self.classes[self.default]
