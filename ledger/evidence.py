"""Content-addressed evidence files (photos, PDFs, signatures) on disk: `<dir>/<sha256>`.

Files are streamed to a temporary file while hashed, fsynced, then renamed into place: a
crash never leaves a partial file under a hash name, and the same bytes are stored once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import ValidationError
from ledger.filemodes import private_dir

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Files are read and written 1 MiB at a time: memory stays flat whatever their size.
CHUNK = 1 << 20


class EvidenceTooLargeError(ValidationError, ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"evidence file exceeds the limit of {limit:,} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int


class EvidenceFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._ready = False

    def path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
        return self.directory / sha256

    def _begin(self) -> tuple[int, str]:
        if not self._ready:
            # Owner-only (evidence holds personal data); mkstemp makes each file 0600.
            private_dir(self.directory)
            self._ready = True
        return tempfile.mkstemp(dir=self.directory, prefix=".upload-")

    def _commit(self, fd: int, tmp: str, digest: hashlib._Hash, size: int) -> StoredFile:
        os.fsync(fd)
        os.close(fd)
        sha = digest.hexdigest()
        final = self.path(sha)
        if final.exists():
            os.unlink(tmp)
        else:
            os.replace(tmp, final)
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return StoredFile(sha, size)

    def put(self, chunks: Iterable[bytes], *, max_size: int) -> StoredFile:
        fd, tmp = self._begin()
        digest, size = hashlib.sha256(), 0
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > max_size:
                    raise EvidenceTooLargeError(max_size)
                digest.update(chunk)
                os.write(fd, chunk)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        return self._commit(fd, tmp, digest, size)

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> int:
        """Delete a file (retention); 1 if it was there, 0 if it was already gone. The folder
        is synced, so that a deletion reported is a deletion done."""
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return 0
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return 1
    def digest(self, sha256: str) -> StoredFile:
        """The SHA-256 and size of the stored file, read in chunks (files may be large:
        reading one whole would grow the process by its size). OSError if it is missing."""
        digest, size = hashlib.sha256(), 0
        with self.path(sha256).open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return StoredFile(digest.hexdigest(), size)
