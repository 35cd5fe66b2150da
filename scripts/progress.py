"""A dependency-free progress bar on stderr, silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, label: str, *, force: bool = False, width: int = 30) -> None:
        self.label = label
        self.width = width
        self.enabled = force or sys.stderr.isatty()
        self._last = 0.0
        self._start = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.2 and done < total):
            return
        self._last = now
        frac = 1.0 if total <= 0 else min(done / total, 1.0)
        filled = int(frac * self.width)
        rate = done / max(now - self._start, 1e-9)
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done:,}/{total:,} ({rate:,.0f}/s)"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
