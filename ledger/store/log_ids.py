"""Which log of the shared tables a recorder serves, carried through eventsourcing's env.

eventsourcing builds the recorder from the application's environment, so the log id travels
there (`Settings.persistence_env`) rather than as an argument: one `CaseLog` (and one
`AccessLog`) per log, each with its own recorder keyed by its log id.
"""

from __future__ import annotations

from collections.abc import Mapping

from ledger.store.migrations.v2 import LOG_ONE

LOG_ID_KEY = "TEMOIN_LOG_ID"


def log_id_from_env(env: Mapping[str, str] | None) -> int:
    text = (env or {}).get(LOG_ID_KEY) or ""
    if not text:
        return LOG_ONE
    value = int(text)
    if not 1 <= value < 2**31:
        raise ValueError(f"{LOG_ID_KEY} must be a log id between 1 and 2^31-1, got {text!r}")
    return value
