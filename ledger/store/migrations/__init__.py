"""Schema versions of the database and the migrations between them (docs/STORAGE.md).

One module per migration step (`mNNNN_*.py`), one frozen module per layout (`v1.py`, `v2.py`,
`v3.py`), the version table (`version.py`), the runner (`runner.py`) behind `temoin migrate`.
"""

from ledger.store.migrations.version import LATEST, SchemaVersionError

__all__ = ["LATEST", "SchemaVersionError"]
