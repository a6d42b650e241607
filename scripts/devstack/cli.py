"""The commands `make` runs, as `python -m scripts.devstack COMMAND` from the repository's root.

    run                  migrate, seed the demo, then run web, worker and beat
    test [PYTEST ARGS]   run the test suite
    exec -- COMMAND...   run any command with the services up
    bootstrap-pip VENV   install pip into a virtualenv made with --without-pip

`test` and `exec` share one set of servers and wait for each other; a second `run` is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from .base import BIN_DIR, ENV_FILE, REPO, VAR, Abort, Interrupted
from .environment import (
    HOST,
    env_file_text,
    port_is_free,
    shared_settings,
    web_port,
    write_private_file,
)
from .output import say
from .servers import prepare
from .stack import RUN, TEST, Stack


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
        env = prepare(stack, base_url=base_url)
        # config/settings.py reads var/env for what the environment does not set, so that
        # manage.py run by hand in another terminal sees what the children see.
        write_private_file(ENV_FILE, env_file_text(shared_settings(env)))
        stack.add_cleanup(lambda: ENV_FILE.unlink(missing_ok=True))
        stack.setup_step("migrate", manage("migrate", "--noinput"), env)
        if (REPO / "governance" / "management" / "commands" / "load_catalogue.py").exists():
            stack.setup_step("load_catalogue", manage("load_catalogue"), env)
        stack.setup_step("seed_demo", manage("seed_demo"), env)
        celery: list[str | Path] = [BIN_DIR / "celery", "-A", "config"]
        schedule = VAR / "celerybeat-schedule"
        for name, argv in [
            ("web", manage("runserver", f"{HOST}:{port}", "--noreload")),
            ("worker", [*celery, "worker", "--loglevel=INFO", "--concurrency=2"]),
            ("beat", [*celery, "beat", "--loglevel=INFO", "--schedule", schedule]),
        ]:
            stack.spawn(name, argv, env=env, output="prefix")
        say(f"Kakehashi is starting on {base_url}/ — Ctrl-C stops everything")
        return stack.supervise()


def command_foreground(name: str, argv: Sequence[str | Path]) -> int:
    with Stack(TEST) as stack:
        env = prepare(stack)
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


COMMANDS = __doc__.split("\n\n")[1] if __doc__ else ""
USAGE = f"usage: python -m scripts.devstack COMMAND\n{COMMANDS}"


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(USAGE)
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
        print(USAGE, file=sys.stderr)
        return 2
    except Interrupted as interrupted:
        return 0 if command == "run" else 128 + interrupted.signum
    except Abort as abort:
        print(f"devstack: {abort}", file=sys.stderr)
        return abort.code
