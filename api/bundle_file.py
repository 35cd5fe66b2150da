"""Bundle downloads: the ZIP is written to an unnamed temporary file, then streamed.

Why a file and not straight to the socket: an error while writing (an evidence file altered
on disk, a full disk) must reach the client as a problem+json, not as a 200 cut short that
looks like a download. Why unnamed: `tempfile.TemporaryFile` (O_TMPFILE on Linux) has no
name in the data folder, so its space returns to the disk as soon as it is closed — after the
download, when the client leaves mid-way, and even when the server is killed (the kernel
closes it). Memory stays flat: `write_bundle` copies evidence in chunks, and the response
reads the file back 1 MiB at a time.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from anyio import to_thread
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.problems import ProblemError
from projections.bundle import BundlePlan, write_bundle

CHUNK = 1 << 20
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskBudget:
    """Bytes promised to bundles this process is writing right now, so that two large
    downloads started together do not both count the same free space."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claimed = 0

    @contextmanager
    def claim(self, directory: Path, size: int, keep_free: int) -> Iterator[None]:
        with self._lock:
            free = shutil.disk_usage(directory).free - self._claimed
            if free - size < keep_free:
                raise no_space(
                    f"the bundle needs up to {size:,} bytes of temporary space and the server "
                    f"has {max(free, 0):,} free, of which it keeps {keep_free:,} "
                    "(TEMOIN_BUNDLE_DISK_RESERVE)"
                )
            self._claimed += size
        try:
            yield
        finally:
            with self._lock:
                self._claimed -= size


BUDGET = DiskBudget()


def no_space(why: str) -> ProblemError:
    return ProblemError(
        507, f"{why}; nothing was sent. Retry later, or ask the operator to free disk space "
        "on the server's data folder", slug="insufficient-storage",
        headers={"Retry-After": "60"},
    )


def write_temporary(plan: BundlePlan, directory: Path, keep_free: int) -> BinaryIO:
    """The bundle's ZIP in an unnamed temporary file in `directory`, positioned at 0.

    Raises ProblemError 507 when the disk cannot hold it (checked before, and if the disk
    fills up meanwhile), and BundleBuildError when an evidence file was altered on disk.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with BUDGET.claim(directory, plan.max_size, keep_free):
        # Not a `with`: on success the open file is handed to the response, which closes it.
        fh = tempfile.TemporaryFile(dir=directory, prefix=".bundle-")  # noqa: SIM115
        try:
            write_bundle(plan, fh)
            fh.flush()
            fh.seek(0)
        except OSError as exc:
            fh.close()
            if exc.errno in _DISK_FULL:
                raise no_space(
                    "the server's disk filled up while the bundle was written"
                ) from None
            raise
        except BaseException:
            fh.close()
            raise
    return fh


class TemporaryFileResponse(StreamingResponse):
    """Streams an open temporary file with its Content-Length, and closes it (releasing its
    disk space) however the response ends: sent, client gone, or cancelled."""

    def __init__(self, fh: BinaryIO, *, media_type: str, filename: str,
                 headers: dict[str, str] | None = None) -> None:
        self.file = fh
        size = fh.seek(0, 2)
        fh.seek(0)
        super().__init__(
            self._chunks(), media_type=media_type,
            headers={**(headers or {}), "Content-Length": str(size),
                     "Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := await to_thread.run_sync(self.file.read, CHUNK):
            yield chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.file.close()
