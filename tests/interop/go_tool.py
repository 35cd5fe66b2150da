"""Build and drive tests/interop/main.go, the Go reference oracle.

The oracle is compiled in GOPATH mode against Debian's packaged sources of
golang.org/x/mod (sumdb/note and sumdb/tlog), so it needs neither network nor a
go.mod. Install them with::

    apt-get install -y golang-go golang-golang-x-mod-dev

Set TEMOIN_GOPATH to use another GOPATH holding src/golang.org/x/mod.

Reusable by other tests (e.g. the Merkle package's) through run_go() and the
check_inclusion()/check_consistency() wrappers; hashes are passed as bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = [
    "INSTALL_HINT",
    "GoToolError",
    "build_go_tool",
    "check_consistency",
    "check_inclusion",
    "go_unavailable_reason",
    "run_go",
]

SOURCE_DIR = Path(__file__).resolve().parent
DEFAULT_GOPATH = "/usr/share/gocode"
INSTALL_HINT = (
    "install Go and the reference x/mod sources with "
    "`apt-get update && apt-get install -y golang-go golang-golang-x-mod-dev` "
    "(or point TEMOIN_GOPATH at a GOPATH holding src/golang.org/x/mod)"
)
# Go 1.19 builds this in a few seconds; the limit only guards against a hang.
_BUILD_TIMEOUT = 300
_RUN_TIMEOUT = 60


class GoToolError(RuntimeError):
    """The oracle could not be built or did not answer (not a verdict)."""


def _gopath() -> Path:
    return Path(os.environ.get("TEMOIN_GOPATH", DEFAULT_GOPATH))


def go_unavailable_reason() -> str | None:
    """Why the oracle cannot be built here, or None if it can."""
    if shutil.which("go") is None:
        return f"the `go` command is not on PATH; {INSTALL_HINT}"
    mod = _gopath() / "src" / "golang.org" / "x" / "mod" / "sumdb"
    for pkg in ("note/note.go", "tlog/tlog.go"):
        if not (mod / pkg).is_file():
            return f"{mod / pkg} is missing; {INSTALL_HINT}"
    return None


def _go_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            # GOPATH mode: imports resolve from the packaged sources, no proxy.
            "GO111MODULE": "off",
            "GOPATH": str(_gopath()),
            "GOCACHE": str(workdir / "gocache"),
            "GOFLAGS": "",
            # Ignore any user go.env (it could turn modules or a proxy back on).
            "GOENV": "off",
            # Pure Go: no C compiler needed on the machine.
            "CGO_ENABLED": "0",
            "GOTOOLCHAIN": "local",
        }
    )
    return env


def build_go_tool(tmpdir: Path) -> Path:
    """Compile the oracle into tmpdir and return the binary's path."""
    tmpdir = Path(tmpdir)
    tmpdir.mkdir(parents=True, exist_ok=True)
    binary = tmpdir / "temoin-interop"
    proc = subprocess.run(
        ["go", "build", "-o", str(binary), "main.go"],
        cwd=SOURCE_DIR,
        env=_go_env(tmpdir),
        capture_output=True,
        text=True,
        timeout=_BUILD_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0 or not binary.is_file():
        raise GoToolError(
            f"building the Go interop oracle failed (exit {proc.returncode}):\n"
            f"{proc.stdout}{proc.stderr}\n{INSTALL_HINT}"
        )
    return binary


def run_go(binary: Path, cmd: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send one JSON request to the oracle and return its JSON answer."""
    proc = subprocess.run(
        [str(binary), cmd],
        input=json.dumps(payload).encode("utf-8"),
        capture_output=True,
        timeout=_RUN_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise GoToolError(
            f"Go oracle `{cmd}` exited {proc.returncode}: "
            f"{proc.stderr.decode('utf-8', 'replace').strip()}"
        )
    answer = json.loads(proc.stdout)
    if not isinstance(answer, dict):
        raise GoToolError(f"Go oracle `{cmd}` answered {answer!r}, expected a JSON object")
    return answer


def check_inclusion(
    binary: Path, index: int, size: int, leaf_hash: bytes, root: bytes, proof: list[bytes]
) -> dict[str, Any]:
    """Go's tlog.CheckRecord verdict on an RFC 9162 inclusion proof: {ok, error}."""
    return run_go(
        binary,
        "tlog-inclusion",
        {
            "index": index,
            "size": size,
            "leaf_hash": leaf_hash.hex(),
            "root": root.hex(),
            "proof": [h.hex() for h in proof],
        },
    )


def check_consistency(
    binary: Path, size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> dict[str, Any]:
    """Go's tlog.CheckTree verdict on an RFC 9162 consistency proof: {ok, error}."""
    return run_go(
        binary,
        "tlog-consistency",
        {
            "size1": size1,
            "size2": size2,
            "root1": root1.hex(),
            "root2": root2.hex(),
            "proof": [h.hex() for h in proof],
        },
    )
