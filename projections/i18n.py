"""The languages people read Témoin in: French (the default) and English.

Strings are marked in the code in English, `tr.t("...")` (and `tr.tn(singular, plural, n)` for
counts), and translated by GNU gettext catalogues: `projections/locale/<lang>/LC_MESSAGES/
temoin.po`. The .po files are read at run time with Babel and compiled in memory, so a fresh
clone needs no build step and a translator edits one text file. English needs no catalogue:
its messages are the msgids themselves.

Dates, numbers and money come from Babel's CLDR data for the language: "7 décembre 2026 à
23:59:59", "129,90 €" in French; "December 7, 2026 at 23:59:59", "€129.90" in English.

Only what a person reads is translated. JSON documents (timeline, report, bundle manifest)
keep their keys and values as they are: machines read those.
"""

from __future__ import annotations

import functools
import gettext
import io
import os
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

from ledger.errors import ValidationError
from projections.legal_calendar import PARIS

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
DOMAIN = "temoin"
LOCALE_DIR = Path(__file__).parent / "locale"
# The Babel locale of each language: France's French, and English with day-month-year dates
# (the reader of an English report about a French case is more likely British than American).
_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


class UnsupportedLanguageError(ValidationError, ValueError):
    """A language that Témoin has no catalogue for; the message names the accepted ones."""

    def __init__(self, value: str) -> None:
        super().__init__(
            f"language {value!r} is not available: use one of {', '.join(LANGUAGES)} "
            f"(default {DEFAULT_LANGUAGE})"
        )
        self.value = value


def checked_language(value: str | None) -> str:
    """`value` as a supported language code; None means the default (French)."""
    if value is None:
        return DEFAULT_LANGUAGE
    code = value.strip().lower()
    if code not in LANGUAGES:
        raise UnsupportedLanguageError(value)
    return code


def negotiate(accept_language: str | None) -> str:
    """The language an `Accept-Language` header asks for (RFC 9110 section 12.5.4): the
    supported primary tag with the highest quality, ties in the header's order. A header that
    names no supported language (or is malformed) falls back to French rather than failing:
    browsers send such headers on their own, and the reader still gets a document."""
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, val = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > best_q:
            best, best_q = primary, q
    return best


@functools.lru_cache(maxsize=len(LANGUAGES))
def _catalogue(lang: str) -> gettext.NullTranslations:
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang == "en" or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@dataclass(frozen=True, slots=True)
class Translator:
    """Messages, dates and money in one language."""

    lang: str

    @property
    def locale(self) -> Locale:
        return Locale.parse(_LOCALES[self.lang])

    def t(self, message: str) -> str:
        return _catalogue(self.lang).gettext(message)

    def tn(self, singular: str, plural: str, n: int) -> str:
        return _catalogue(self.lang).ngettext(singular, plural, n)

    def paris_time(self, moment: datetime, *, seconds: bool = True) -> str:
        """`7 décembre 2026 à 23:59:59` / `7 December 2026 at 23:59:59`, in Paris time."""
        local = moment.astimezone(PARIS)
        day = format_date(local.date(), format="long", locale=self.locale)
        clock = format_time(local.timetz(), "HH:mm:ss" if seconds else "HH:mm",
                            locale=self.locale)
        return self.t("{day} at {time}").format(day=day, time=clock)

    def number(self, value: int | float | Decimal) -> str:
        return format_decimal(value, locale=self.locale)

    def money(self, cents: int, currency: str | None) -> str:
        """`129,90 €` / `€129.90`; without a currency, the amount alone."""
        amount = Decimal(cents) / 100
        if isinstance(currency, str) and len(currency) == 3 and currency.isalpha():
            return format_currency(amount, currency.upper(), locale=self.locale)
        return format_decimal(amount, format="#,##0.00", locale=self.locale)


def cli_language(flag: str | None) -> str:
    """The CLI's language: `--lang`, else the environment variable TEMOIN_LANG, else French."""
    return checked_language(flag or os.environ.get("TEMOIN_LANG") or None)


def translator(lang: str | None = None) -> Translator:
    return Translator(checked_language(lang))
