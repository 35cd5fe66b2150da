"""Keep the French catalogue in step with the code: `python -m scripts.i18n_catalog` lists the
messages marked in the code (`t(...)`, `tn(...)`, `N_(...)`) that projections/locale/fr/
LC_MESSAGES/temoin.po lacks or leaves untranslated, and exits 1 if there is any. Used by the
tests; translators edit the .po file itself (no compile step: it is read at run time)."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (
    "projections/pdf/layout.py",
    "projections/pdf/report_pdf.py",
    "projections/pdf/story.py",
    "projections/pdf/timeline_pdf.py",
    "projections/i18n.py",
    "scripts/read_commands.py",
    "scripts/verify_bundle.py",
)
KEYWORDS = {"t": None, "tn": (1, 2), "N_": None}
CATALOGUE = ROOT / "projections/locale/fr/LC_MESSAGES/temoin.po"


def marked() -> list[str | tuple[str, str]]:
    """Every message marked in the sources, singular or (singular, plural), in order met."""
    found: dict[str | tuple[str, str], None] = {}
    for source in SOURCES:
        for _line, message, _comments, _context in extract_from_file(
                "python", str(ROOT / source), keywords=KEYWORDS):
            found[message if isinstance(message, str) else tuple(message)] = None
    return list(found)


def missing() -> list[str]:
    with CATALOGUE.open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    lacking = []
    for message in marked():
        key = message if isinstance(message, str) else message[0]
        entry = catalog.get(key)
        strings = entry.string if entry is not None else None
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            lacking.append(key)
    return lacking


if __name__ == "__main__":
    lacking = missing()
    for key in lacking:
        print(f"untranslated: {key!r}")
    sys.exit(1 if lacking else 0)
