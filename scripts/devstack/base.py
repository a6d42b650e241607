"""What every part of devstack shares: the checkout's layout, time limits and exceptions."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VAR = REPO / "var"
LOG_DIR = VAR / "log"
ENV_FILE = VAR / "env"
SECRET_KEY_FILE = VAR / "secret_key"
BIN_DIR = Path(sys.executable).parent  # the virtualenv's bin/, deliberately not symlink-resolved

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
POSTGRES_STOP_TIMEOUT = 60.0
KILL_TIMEOUT = 5.0
POLL_INTERVAL = 0.1


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
