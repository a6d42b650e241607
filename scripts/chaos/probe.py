"""The 5xx probe: a thread asking the web app for a few URLs, round after round, counting the
answers by phase (`<scenario>:<stage>`, set by the runner) and status. Standard library only."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field

ERROR = "error"  # no HTTP answer at all: refused, reset or timed out


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None  # a redirect is an answer too (a lost session shows as 302)


class Probe:
    def __init__(self, targets: list[Target], *, pause: float = 0.2, timeout: float = 10.0):
        self.targets = targets
        self.pause = pause
        self.timeout = timeout
        self.phase = "setup"
        self.counts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.samples: list[tuple[float, str, str, str]] = []  # (time, phase, target, status)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opener = urllib.request.build_opener(_NoRedirect())

    def ask(self, target: Target) -> str:
        request = urllib.request.Request(target.url, headers=target.headers)  # noqa: S310
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read()
                return str(response.status)
        except urllib.error.HTTPError as exc:
            exc.read()
            return str(exc.code)
        except (OSError, ValueError):  # URLError, refused, reset, timeout
            return ERROR

    def _run(self) -> None:
        while not self._stop.is_set():
            for target in self.targets:
                if self._stop.is_set():
                    break
                began = self.phase
                status = self.ask(target)
                ended = self.phase
                # A request that overlaps an outage counts as the outage's, at either end.
                phase = began if began.endswith(":outage") else ended
                with self._lock:
                    self.counts[phase][target.name][status] += 1
                    self.samples.append((time.time(), phase, target.name, status))
            self._stop.wait(self.pause)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)

    def phase_counts(self, prefix: str) -> dict[str, dict[str, dict[str, int]]]:
        """{stage: {target: {status: n}}} for the phases `prefix:<stage>`."""
        with self._lock:
            return {
                phase.split(":", 1)[1]: {t: dict(c) for t, c in targets.items()}
                for phase, targets in self.counts.items()
                if phase.startswith(prefix + ":")
            }
