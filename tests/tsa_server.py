"""A real local Time-Stamp Authority process for tests (scripts/local_tsa.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LocalTsa:
    process: subprocess.Popen[str]
    url: str
    roots: Path
    dir: Path

    def mode(self, mode: str) -> None:
        httpx.post(self.url + "admin/mode", content=mode, timeout=5).raise_for_status()

    def requests(self) -> dict[str, int]:
        stats = httpx.get(self.url + "admin/stats", timeout=5).json()
        return {k: int(v) for k, v in stats["requests"].items()}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextmanager
def local_tsa(folder: Path, mode: str = "ok") -> Iterator[LocalTsa]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "local_tsa.py"), "--dir", str(folder),
         "--mode", mode],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        try:
            info = json.loads(line)
        except json.JSONDecodeError:
            output = line + process.stdout.read()
            raise RuntimeError(f"local_tsa.py did not start: {output}") from None
        yield LocalTsa(process, info["url"], Path(info["roots"]), Path(info["dir"]))
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
