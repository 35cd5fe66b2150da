"""Personal data kept out of entries: commitments in the log, openings sealed per case."""

from ledger.vault.commitments import Opening, check_opening, commit, new_opening
from ledger.vault.sealing import CaseKey, MasterKey, VaultError

__all__ = [
    "CaseKey",
    "MasterKey",
    "Opening",
    "VaultError",
    "check_opening",
    "commit",
    "new_opening",
]
