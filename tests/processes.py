"""What /proc says about a server's processes (its children, their children, and whether they
still run), for tests that check that a stopped or killed server leaves nothing behind."""

from __future__ import annotations

from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    try:
        text = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces; the fields we want follow its closing parenthesis.
    return text.rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Children, grandchildren... of `pid` (uvicorn workers and their projection children)."""
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running, or at least not yet a zombie."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def spawned_children(pid: int) -> list[int]:
    """`pid`'s children started by multiprocessing's spawn (the projection follower), not its
    resource tracker (which ignores SIGTERM and leaves when `pid` closes its pipe)."""
    return [c for c in children(pid) if "spawn_main" in command_line(c) and alive(c)]
