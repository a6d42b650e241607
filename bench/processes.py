"""The app's own processes for a bench run: a Celery worker and gunicorn.

Each starts with the bench's environment (`Bench.env`: its database and Redis, DEBUG off), in a
session of its own, writing to a log in the bench's workdir; it is used only once it answers
(a control ping, /healthz), and on leaving the block it is stopped: SIGTERM to its main process
for a graceful stop, then SIGKILL to whatever of its process tree and group is still there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import psutil

from scripts.devstack.output import tail

from .core import Bench

REPO = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent  # the virtualenv's bin/, not symlink-resolved
HOST = "127.0.0.1"
START_TIMEOUT = 90.0  # each starts in a few seconds; a busy 2-core machine takes longer
STOP_TIMEOUT = 15.0  # between SIGTERM and SIGKILL
KILL_TIMEOUT = 5.0
POLL_INTERVAL = 0.25
# Both run with production's settings. Production's static files storage (compressed manifest)
# needs `collectstatic` first, about a minute of CPU compressing Swagger UI and friends; when
# STATIC_ROOT holds no manifest, they run with the plain storage instead (the chaos run's
# settings module, which differs in that alone): the load never asks for a static file, and
# pages render alike. Chosen here, whatever bench.env says: a test's environment names the
# test settings.
PRODUCTION_SETTINGS = "config.settings"
PLAIN_STATIC_SETTINGS = "scripts.chaos.settings"
MANIFEST = "staticfiles.json"


class ProcessError(RuntimeError):
    """A bench process did not start, or died; the message quotes its log."""


def app_settings(env: Mapping[str, str]) -> str:
    """The settings module the app's processes run with (see PRODUCTION_SETTINGS)."""
    root = env.get("STATIC_ROOT")
    if root and (Path(root) / MANIFEST).is_file():
        return PRODUCTION_SETTINGS
    return PLAIN_STATIC_SETTINGS


def app_environment(env: Mapping[str, str]) -> dict[str, str]:
    return {**env, "DJANGO_SETTINGS_MODULE": app_settings(env)}


# --- Starting and stopping ---------------------------------------------------------------------


def log_tail(path: Path, offset: int = 0, lines: int = 30) -> str:
    """The last lines written to `path` after byte `offset`, indented."""
    return tail(path, offset, lines)


def spawn(argv: list[str], *, env: Mapping[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    """Start `argv` in its own session (so its whole group can be signalled), output appended
    to `log`; the process and the log's offset where its output starts."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as stream:
        offset = stream.tell()
        stream.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        stream.flush()
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, offset


def _tree(pid: int) -> list[psutil.Process]:
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _group(pgid: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if process.pid != os.getpid() and os.getpgid(process.pid) == pgid:
                found.append(process)
    return found


def stop(proc: subprocess.Popen, *, grace: float = STOP_TIMEOUT) -> None:
    """SIGTERM to the main process (gunicorn and Celery stop their own workers gracefully),
    then SIGKILL to every process of its tree and its group still alive after `grace`."""
    pgid = proc.pid  # start_new_session: the process leads its own group
    known = {p.pid: p for p in [*_tree(proc.pid), *_group(pgid)]}
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    _gone, alive = psutil.wait_procs(list(known.values()), timeout=grace)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=0.1)
    # Children started after the first look (a pool restarting a process) are in the group.
    alive = list({p.pid: p for p in [*alive, *_group(pgid)]}.values())
    if alive or proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=KILL_TIMEOUT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_TIMEOUT)


def wait_ready(
    proc: subprocess.Popen,
    probe: Callable[[], str | None],
    *,
    what: str,
    log: Path,
    offset: int,
    timeout: float,
) -> None:
    """Poll `probe` (None when ready, else why not yet) until it succeeds, the process exits
    or `timeout` passes; the last two raise ProcessError with the log's tail."""
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            raise ProcessError(
                f"{what} exited with code {code} while starting; {log}:\n{log_tail(log, offset)}"
            )
        why = probe()
        if why is None:
            return
        if time.monotonic() > deadline:
            raise ProcessError(
                f"{what} did not become ready within {timeout:.0f} s ({why}); {log}:\n"
                f"{log_tail(log, offset)}"
            )
        time.sleep(POLL_INTERVAL)


# --- The Celery worker -------------------------------------------------------------------------


@contextlib.contextmanager
def worker(bench: Bench, concurrency: int = 2, *, timeout: float = START_TIMEOUT) -> Iterator[str]:
    """A Celery worker (prefork, `concurrency` processes) on the queue the app sends to
    (CELERY_QUEUE in bench.env, else the app's default), answering pings; yields its node
    name. Logs to workdir/worker.log."""
    from celery import Celery

    log = bench.workdir / "worker.log"
    node = f"bench-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    argv = [
        str(BIN_DIR / "celery"), "-A", "config", "worker", "-P", "prefork",
        "-c", str(concurrency), "--loglevel", "INFO", "--hostname", node,
        "--without-heartbeat", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    proc, offset = spawn(argv, env=app_environment(bench.env), log=log)
    # A client of its own on the bench's broker: this process's Celery app may be configured
    # otherwise (eager in tests).
    # Not the current app: the bench process's own tasks (assessment starts) must keep going
    # through config.celery's app, with its queue.
    control = Celery("bench-control", broker=bench.env["REDIS_URL"], set_as_current=False)
    control.conf.broker_connection_retry_on_startup = True

    def answers() -> str | None:
        try:
            replies = control.control.ping(destination=[node], timeout=1.0)
        except Exception as exc:  # the broker not answering yet is worth another try
            return f"ping failed: {exc!r}"
        return None if any(node in reply for reply in replies) else "no pong yet"

    try:
        wait_ready(proc, answers, what="the Celery worker", log=log, offset=offset, timeout=timeout)
        yield node
    finally:
        try:
            stop(proc)
        finally:
            control.close()


# --- gunicorn ----------------------------------------------------------------------------------


def free_port() -> int:
    """A port the kernel considers free on HOST now (taken by gunicorn a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def _health(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http to HOST)
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read()[:200].decode(errors='replace')}"
    except OSError as exc:
        return repr(exc)


@contextlib.contextmanager
def gunicorn(
    bench: Bench, workers: int = 2, threads: int = 1, *, timeout: float = START_TIMEOUT
) -> Iterator[str]:
    """gunicorn serving config.wsgi on HOST and a free port with `workers` processes of
    `threads` threads, once /healthz answers 200; yields the base URL (no trailing slash).
    Logs to workdir/gunicorn.log (errors only: an access log would cost the load time)."""
    log = bench.workdir / "gunicorn.log"
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    argv = [
        str(BIN_DIR / "gunicorn"), "config.wsgi", "--bind", f"{HOST}:{port}",
        "--workers", str(workers), "--threads", str(threads),
        "--timeout", "60", "--graceful-timeout", "10", "--log-level", "info",
    ]  # fmt: skip
    proc, offset = spawn(argv, env=app_environment(bench.env), log=log)
    try:
        wait_ready(
            proc,
            lambda: _health(f"{base_url}/healthz"),
            what="gunicorn",
            log=log,
            offset=offset,
            timeout=timeout,
        )
        yield base_url
    finally:
        stop(proc)
