"""Processes that work in the checkout: finding them, recording children on disk, ending them."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .base import KILL_TIMEOUT, POLL_INTERVAL

if TYPE_CHECKING:
    import psutil


@dataclasses.dataclass(frozen=True)
class ProcessInfo:
    pid: int
    pgid: int
    cwd: str | None  # None when it cannot be read
    cmdline: tuple[str, ...]


def is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def mentions_path(text: str, root: Path) -> bool:
    """Whether `text` names `root` or a path below it (`/repo-old` does not count for `/repo`)."""
    needle = str(root)
    start = text.find(needle)
    while start != -1:
        end = start + len(needle)
        before_ok = start == 0 or not (text[start - 1].isalnum() or text[start - 1] in "._-/~")
        after_ok = end == len(text) or text[end] == os.sep
        if before_ok and after_ok:
            return True
        start = text.find(needle, start + 1)
    return False


def touches(process: ProcessInfo, root: Path) -> bool:
    """Whether the process works in `root`: its cwd is there, or its command line names it."""
    if process.cwd is not None and is_within(Path(process.cwd), root):
        return True
    return any(mentions_path(argument, root) for argument in process.cmdline)


def leftover_processes(
    processes: Iterable[ProcessInfo],
    root: Path,
    *,
    groups: Collection[int] | None = None,
    exclude: Collection[int] = (),
) -> list[ProcessInfo]:
    """The processes that work in `root`, optionally only those in the given process groups."""
    return [
        process
        for process in processes
        if process.pid not in exclude
        and (groups is None or process.pgid in groups)
        and touches(process, root)
    ]


def scan_processes() -> list[ProcessInfo]:
    """Every live process this user may look at; zombies are left out."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            pgid = os.getpgid(process.pid)
            cmdline = tuple(process.cmdline())
        except (psutil.Error, ProcessLookupError):
            continue
        try:
            cwd: str | None = process.cwd()
        except psutil.Error:
            cwd = None
        found.append(ProcessInfo(process.pid, pgid, cwd, cmdline))
    return found


def group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process remains in the process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg also reaches zombies, and in some containers nothing reaps orphans promptly.
    import psutil

    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                return True
        except (psutil.Error, ProcessLookupError):
            continue
    return False


def process_cwd(pid: int) -> str | None:
    """The working directory of `pid`, None if there is no such process.

    Raises PermissionError when the process exists but may not be inspected.
    """
    import psutil

    try:
        cwd: str = psutil.Process(pid).cwd()
    except (psutil.NoSuchProcess, ValueError):  # ZombieProcess is a NoSuchProcess
        return None
    except psutil.AccessDenied as exc:
        raise PermissionError(f"cannot inspect process {pid}") from exc
    return cwd


@dataclasses.dataclass(frozen=True)
class RegistryEntry:
    """A child recorded on disk, so that the next start can stop it if this script dies first."""

    name: str
    pgid: int
    stop_signal: int
    whole_group: bool


def format_registry(entries: Iterable[RegistryEntry]) -> str:
    return "".join(f"{e.pgid} {e.stop_signal} {int(e.whole_group)} {e.name}\n" for e in entries)


def parse_registry(text: str) -> list[RegistryEntry]:
    entries = []
    for line in text.splitlines():
        fields = line.split(maxsplit=3)
        if len(fields) != 4 or not all(f.isdigit() for f in fields[:3]):
            continue  # a line torn by a crash mid-write
        pgid, signum, whole_group, name = fields
        entries.append(RegistryEntry(name, int(pgid), int(signum), whole_group == "1"))
    return entries


def terminate_processes(
    targets: Sequence[ProcessInfo], everyone: Sequence[ProcessInfo], signum: int, timeout: float
) -> None:
    """Signal `targets`, wait for all of `everyone` to end, and kill whatever has not."""
    import psutil

    handles = []
    for process in everyone:
        with contextlib.suppress(psutil.NoSuchProcess):
            handles.append(psutil.Process(process.pid))  # remembers its start time
    for process in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signum)
    if wait_for_exit(handles, timeout):
        return
    for handle in handles:
        with contextlib.suppress(psutil.NoSuchProcess):
            handle.kill()  # checks the start time too, so never hits a reused pid
    wait_for_exit(handles, KILL_TIMEOUT)


def wait_for_exit(handles: Sequence[psutil.Process], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(process_alive(handle) for handle in handles):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_INTERVAL)
    return True


def process_alive(handle: psutil.Process) -> bool:
    import psutil

    try:
        return bool(handle.is_running() and handle.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
