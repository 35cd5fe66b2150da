"""How French law counts the days of a legal period (docs/CLOCKS.md): pure functions of dates.

Day D is the Europe/Paris date of the triggering event; D itself does not count (Regulation
(EEC, Euratom) 1182/71 art. 3(1), C. consom. L221-19), and the period ends at the end of its last
day, 24:00 Paris time (art. 3(2)). A last day that is a Saturday, a Sunday or a French public
holiday moves to the next working day (art. 3(4), L221-19), except for rules counted in calendar
days (CPCE R53-3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from dateutil.easter import easter

TIMEZONE = "Europe/Paris"
PARIS = ZoneInfo(TIMEZONE)
# The day ends at 24:00; the deadline is given to the second, so as 23:59:59 (any instant of
# that last second is still in time: see `in_time`).
END_OF_DAY = time(23, 59, 59)
REGULATION = "Reg. 1182/71 art. 3(4)"


@dataclass(frozen=True, slots=True)
class Rule:
    """A legal period: its length and whether a last day that is not a working day moves."""

    name: str
    articles: str
    days: int = 0
    years: int = 0
    moves: bool = True


RULES: dict[str, Rule] = {
    rule.name: rule for rule in (
        Rule("withdrawal", "C. consom. L221-18, L221-19", days=14),
        Rule("refund", f"C. consom. L221-24; {REGULATION}", days=14),
        # R53-3: "quinze jours à compter du lendemain de l'envoi de la notification", calendar days.
        Rule("lre_acceptance", "CPCE R53-3", days=15, moves=False),
        Rule("mediation", f"C. consom. L612-2; {REGULATION}", years=1),
    )
}


@lru_cache(maxsize=64)
def public_holidays(year: int) -> frozenset[date]:
    """The eleven public holidays of metropolitan France (Code du travail L3133-1): 1 January,
    Easter Monday, 1 May, 8 May, Ascension, Whit Monday, 14 July, 15 August, 1 November,
    11 November, 25 December. From the `holidays` package's national calendar, which applies a
    subdivision's extra days (Alsace-Moselle's Good Friday and 26 December, the overseas
    departments' abolition days) only when a subdivision is asked for: none is, on purpose.
    The package drops Whit Monday in 2005-2007 (the *journée de solidarité* was worked on it);
    it stayed a public holiday in law, so it is put back."""
    days = set(holidays.France(years=year, categories=(holidays.PUBLIC,)))
    days.add(easter(year) + timedelta(days=50))  # Whit Monday
    return frozenset(days)


# English day names, not `%A` (which follows the process locale).
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def weekday_name(day: date) -> str:
    return WEEKDAYS[day.weekday()]


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year)


def _add_years(day: date, years: int) -> date:
    """The same date `years` later; 29 February becomes 28 February (art. 3(2)(c): the last day
    of the month when the month has no such date)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def unmoved_last_day(rule: str, d: date) -> date:
    """The last day before any move to a working day: D + days, or the same date years later."""
    r = RULES[rule]
    return _add_years(d, r.years) + timedelta(days=r.days)


def last_day(rule: str, d: date) -> date:
    """The last day of the period `rule` started on day D (Paris date of the triggering event)."""
    day = unmoved_last_day(rule, d)
    if RULES[rule].moves:
        while not is_working_day(day):
            day += timedelta(days=1)
    return day


def paris_date(at: datetime) -> date:
    """The Europe/Paris calendar date of an aware instant."""
    return at.astimezone(PARIS).date()


def deadline(last: date) -> datetime:
    """The end of the last day, 23:59:59 Europe/Paris, as an aware UTC instant."""
    return datetime.combine(last, END_OF_DAY, PARIS).astimezone(UTC)


def in_time(at: datetime, last: date) -> bool:
    """An act is in time when it happens on or before the last day, Paris time: at or before
    `deadline(last)`, including the fraction of that last second (the day ends at 24:00)."""
    return paris_date(at) <= last
