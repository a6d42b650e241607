"""The Stack that starts a command's children and stops all of them, and its two profiles."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Literal

from .base import KILL_TIMEOUT, POLL_INTERVAL, REPO, STOP_TIMEOUT, VAR, Abort, Interrupted
from .environment import write_private_file
from .output import emit, line_prefix, say, shown
from .postgres import Account
from .processes import (
    RegistryEntry,
    format_registry,
    group_alive,
    leftover_processes,
    parse_registry,
    scan_processes,
    terminate_processes,
)

Output = Literal["inherit", "prefix"] | Path
SignalHandler = Callable[[int, FrameType | None], object] | int | None


@dataclasses.dataclass(frozen=True)
class Profile:
    """Where one kind of run keeps its private servers and its bookkeeping."""

    name: str
    postgres_dir: Path
    redis_dir: Path
    durable: bool  # keep Redis data across restarts and let PostgreSQL fsync
    wait_when_busy: bool  # queue behind another run of this profile instead of refusing
    run_dir: Path = VAR / "run"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / f"{self.name}.lock"

    @property
    def registry_file(self) -> Path:
        return self.run_dir / f"{self.name}.children"

    @property
    def socket_dir(self) -> Path:
        return self.run_dir / self.postgres_dir.name


RUN = Profile("run", VAR / "postgres", VAR / "redis", durable=True, wait_when_busy=False)
TEST = Profile(
    "test", VAR / "test-postgres", VAR / "test-redis", durable=False, wait_when_busy=True
)


@dataclasses.dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stop_signal: int
    whole_group: bool  # False for PostgreSQL: its postmaster shuts its own processes down
    stop_timeout: float
    pump: threading.Thread | None = None

    @property
    def pgid(self) -> int:
        return self.proc.pid  # start_new_session: each child leads its own group


class Stack:
    """The children of one command: started in order, stopped in reverse, never left behind."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.children: list[Child] = []
        self.stop_requested: int | None = None
        self._unforwarded: list[int] = []
        self._stopping = False
        self._hurry = False
        self._cleanups: list[Callable[[], None]] = []
        self._lock_fd: int | None = None
        self._colour = sys.stdout.isatty()
        self._previous_handlers: dict[int, SignalHandler] = {}

    def __enter__(self) -> Stack:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            # Set explicitly: a shell starting us in the background may have ignored SIGINT.
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)
        try:
            self._acquire_lock()
            self._stop_leftovers()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.stop_all()
        finally:
            for cleanup in reversed(self._cleanups):
                with contextlib.suppress(OSError):
                    cleanup()
            if self._lock_fd is not None:
                self.profile.registry_file.unlink(missing_ok=True)
                os.close(self._lock_fd)
            for signum, handler in self._previous_handlers.items():
                if handler is not None:  # None: installed outside Python, cannot be restored
                    signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            self._hurry = True  # a second Ctrl-C: stop waiting politely
            return
        if self.stop_requested is None:
            self.stop_requested = signum
        self._unforwarded.append(signum)

    def check(self) -> None:
        if self.stop_requested is not None:
            raise Interrupted(self.stop_requested)

    def add_cleanup(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def _acquire_lock(self) -> None:
        path = self.profile.lock_file
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not self.profile.wait_when_busy:
                    os.close(fd)
                    raise Abort(
                        f"another `python -m scripts.devstack {self.profile.name}` is already "
                        f"running in this checkout (it holds {shown(path)}); stop it first"
                    ) from None
                if not announced:
                    say(f"waiting for another test/exec run in this checkout ({shown(path)})")
                    announced = True
                if self.stop_requested is not None:
                    os.close(fd)
                    raise Interrupted(self.stop_requested) from None
                time.sleep(0.5)
            else:
                self._lock_fd = fd
                return

    def _stop_leftovers(self) -> None:
        """Stop children an earlier run of this profile left running when it was killed."""
        registry = self.profile.registry_file
        try:
            entries = parse_registry(registry.read_text())
        except FileNotFoundError:
            return
        processes = scan_processes() if entries else []
        for entry in reversed(entries):
            # Only processes that still work in this checkout: the group id may have been reused.
            found = leftover_processes(processes, REPO, groups={entry.pgid}, exclude={os.getpid()})
            if not found:
                continue
            pids = ", ".join(str(p.pid) for p in found)
            say(f"stopping {entry.name}, left running by an earlier run (pids {pids})")
            targets = [p for p in found if entry.whole_group or p.pid == entry.pgid] or found
            terminate_processes(targets, found, entry.stop_signal, STOP_TIMEOUT)
        registry.unlink(missing_ok=True)

    def _save_registry(self) -> None:
        entries = [
            RegistryEntry(c.name, c.pgid, c.stop_signal, c.whole_group) for c in self.children
        ]
        write_private_file(self.profile.registry_file, format_registry(entries))

    # Starting and stopping children.

    def spawn(
        self,
        name: str,
        argv: Sequence[str | Path],
        *,
        env: Mapping[str, str],
        output: Output,
        stop_signal: int = signal.SIGTERM,
        whole_group: bool = True,
        stop_timeout: float = STOP_TIMEOUT,
        stdin_from_terminal: bool = False,
        account: Account | None = None,
    ) -> Child:
        log: IO[bytes] | None = None
        stdout: int | IO[bytes] | None = None
        if output == "prefix":
            stdout = subprocess.PIPE
        elif isinstance(output, Path):
            output.parent.mkdir(parents=True, exist_ok=True)
            log = stdout = output.open("ab")
        try:
            proc = subprocess.Popen(
                [str(argument) for argument in argv],
                cwd=REPO,
                env=dict(env),
                stdin=None if stdin_from_terminal else subprocess.DEVNULL,
                stdout=stdout,
                stderr=None if stdout is None else subprocess.STDOUT,
                start_new_session=True,
                user=account.uid if account else None,
                group=account.gid if account else None,
                extra_groups=[] if account else None,  # drop root's supplementary groups
            )
        except OSError as exc:
            raise Abort(f"could not start {name} ({argv[0]}): {exc}") from exc
        finally:
            if log is not None:
                log.close()
        child = Child(name, proc, stop_signal, whole_group, stop_timeout)
        if proc.stdout is not None:
            child.pump = threading.Thread(
                target=self._pump, args=(name, proc.stdout), name=f"pump-{name}", daemon=True
            )
            child.pump.start()
        self.children.append(child)
        self._save_registry()
        return child

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        prefix = line_prefix(name, colour=self._colour)
        for line in iter(stream.readline, b""):
            emit(prefix + (line if line.endswith(b"\n") else line + b"\n"))

    def _running(self, child: Child) -> bool:
        return child.proc.poll() is None or group_alive(child.pgid)

    def _signal(self, child: Child, signum: int, *, whole_group: bool) -> None:
        with contextlib.suppress(ProcessLookupError):
            if whole_group:
                os.killpg(child.pgid, signum)
            elif child.proc.poll() is None:
                child.proc.send_signal(signum)

    def _wait_gone(self, child: Child, timeout: float, *, hurry: bool = True) -> bool:
        deadline = time.monotonic() + timeout
        while self._running(child):
            if (hurry and self._hurry) or time.monotonic() > deadline:
                return False
            time.sleep(POLL_INTERVAL)
        return True

    def stop(self, child: Child) -> None:
        if child in self.children:
            self.children.remove(child)
        if self._running(child):
            self._signal(child, child.stop_signal, whole_group=child.whole_group)
            if not self._wait_gone(child, child.stop_timeout):
                say(f"{child.name} is still running; killing it")
                self._signal(child, signal.SIGKILL, whole_group=True)
                self._wait_gone(child, KILL_TIMEOUT, hurry=False)
        if child.pump is not None:
            child.pump.join(timeout=2)
        self._save_registry()

    def stop_all(self) -> None:
        self._stopping = True
        if self.children:
            say("stopping " + ", ".join(c.name for c in reversed(self.children)))
        for child in reversed(list(self.children)):
            self.stop(child)

    def run_foreground(
        self,
        name: str,
        argv: Sequence[str | Path],
        *,
        env: Mapping[str, str],
        output: Output = "inherit",
        stdin_from_terminal: bool = False,
        account: Account | None = None,
    ) -> int:
        """Run a command to completion and return its exit code, as if typed at the terminal.

        Signals are passed on to the command: a Ctrl-C interrupts it as it would without this
        script in between, and SIGTERM or SIGHUP get it killed if it has not ended 10 s later.
        """
        self.check()
        self._unforwarded.clear()
        child = self.spawn(
            name,
            argv,
            env=env,
            output=output,
            stop_signal=signal.SIGINT,
            stdin_from_terminal=stdin_from_terminal,
            account=account,
        )
        kill_at: float | None = None
        code = child.proc.poll()
        while code is None:
            while self._unforwarded:
                signum = self._unforwarded.pop(0)
                self._signal(child, signum, whole_group=True)
                if signum != signal.SIGINT and kill_at is None:
                    kill_at = time.monotonic() + STOP_TIMEOUT
            if kill_at is not None and time.monotonic() > kill_at:
                self._signal(child, signal.SIGKILL, whole_group=True)
            time.sleep(POLL_INTERVAL / 2)
            code = child.proc.poll()
        self.stop(child)  # whatever it left in its process group
        return code if code >= 0 else 128 - code

    def setup_step(self, name: str, argv: Sequence[str | Path], env: Mapping[str, str]) -> None:
        code = self.run_foreground(name, argv, env=env)
        self.check()
        if code != 0:
            raise Abort(f"{name} failed with exit code {code}", code=code)

    def supervise(self) -> int:
        """Wait for a signal or for a child to die; the exit code for this script."""
        while self.stop_requested is None:
            for child in self.children:
                code = child.proc.poll()
                if code is not None:
                    say(f"{child.name} exited unexpectedly (exit code {code}); stopping everything")
                    return code if code > 0 else 1
            time.sleep(POLL_INTERVAL * 2)
        say(f"got {signal.Signals(self.stop_requested).name}")
        return 0
