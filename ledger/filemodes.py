"""Owner-only modes for what Témoin keeps on disk: the data folder, the SQLite files, evidence.

Modes are set with chmod after creation, never left to the umask: a deployment with umask 022
would otherwise get a world-readable database next to the keys. Existing folders and files are
never changed behind the operator's back (a backup group may read them on purpose); a looser
mode is reported once per process with the command that tightens it.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

logger = logging.getLogger("temoin.files")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def private_dir(path: Path, *, warn: bool = True) -> None:
    """Create `path` (and missing parents) with the last one exactly 0700; if it exists with
    permissions for group or others, warn (unless `warn` is false: a folder that only holds
    files that are themselves 0600 exposes nothing but their names)."""
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True)
    except FileExistsError:
        if warn:
            warn_if_loose(path)
    else:
        os.chmod(path, PRIVATE_DIR)


def private_file(path: Path) -> None:
    """Create an empty file with mode exactly 0600 unless it exists (then warn if looser).

    SQLite creates its -wal and -shm files with the database file's mode, so creating the
    database this way before SQLite opens it makes all three owner-only.
    """
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, PRIVATE_FILE)
    except FileExistsError:
        warn_if_loose(path)
        for suffix in ("-wal", "-shm", "-journal"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                warn_if_loose(side)
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def warn_if_loose(path: Path) -> bool:
    """Log a warning (once per process and path) if group or others may access `path`."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return False
    if not mode & 0o077:
        return False
    want = PRIVATE_DIR if path.is_dir() else PRIVATE_FILE
    key = (str(path), oct(mode))
    with _warned_lock:
        if key in _warned:
            return True
        _warned.add(key)
    logger.warning(
        "%s has mode %s: group or others may read it; it holds keys or personal data, "
        "expected %s: run `chmod %s %s`", path, f"{mode:04o}", f"{want:04o}",
        f"{want:o}", path,
    )
    return True
