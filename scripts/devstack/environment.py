"""Ports, service URLs and the environments of the children; the secret key and var/env."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import tempfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from .base import BIN_DIR, Abort

HOST = "127.0.0.1"
# The machine's own PostgreSQL and Redis live on the standard ports; never take them.
RESERVED_PORTS = frozenset({5432, 6379})
DEFAULT_WEB_PORT = 8000
DATABASE_NAME = "kakehashi"


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
