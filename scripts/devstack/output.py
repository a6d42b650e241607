"""Everything devstack writes to the terminal, and the excerpts of logs it quotes there."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from .base import REPO

_output_lock = threading.Lock()
_COLOURS = {"web": "32", "worker": "36", "beat": "35"}


def emit(data: bytes) -> None:
    with _output_lock:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except (BrokenPipeError, ValueError):
            pass  # nobody is reading any more; the processes must still be stopped


def say(message: str) -> None:
    emit(f"devstack: {message}\n".encode())


def line_prefix(name: str, *, colour: bool) -> bytes:
    label = f"{name:<6} | "
    if colour and name in _COLOURS:
        label = f"\033[{_COLOURS[name]}m{label}\033[0m"
    return label.encode()


def tail(path: Path, offset: int = 0, lines: int = 25) -> str:
    """The last lines written to `path` after byte `offset`, indented for an error message."""
    try:
        with path.open("rb") as stream:
            stream.seek(offset)
            text = stream.read().decode(errors="replace")
    except FileNotFoundError:
        return "    (no log written)"
    kept = text.splitlines()[-lines:] or ["(empty)"]
    return "\n".join(f"    {line}" for line in kept)


def shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it, for shorter messages."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def log_size(path: Path) -> int:
    """The size of the log at `path`, 0 if there is none: where what is written next begins."""
    return path.stat().st_size if path.exists() else 0


def log_excerpt(path: Path, offset: int) -> str:
    """The end of the log at `path`, as written since byte `offset`, for an error message."""
    return f"the end of {shown(path)}:\n{tail(path, offset)}"
