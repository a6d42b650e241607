"""The processes of a chaos run: its PostgreSQL and Redis, a Celery worker, beat and gunicorn,
started on devstack's Stack (so a stop, Ctrl-C or a crash of this script stops them all), and
the ways they are broken: SIGKILL, a fast shutdown, a restart on the same port and data."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import time
import urllib.request
from collections import Counter
from pathlib import Path

from scripts.devstack.base import BIN_DIR, REPO, VAR, Abort
from scripts.devstack.environment import HOST, child_environment, pick_free_port
from scripts.devstack.output import say
from scripts.devstack.servers import start_postgres, start_redis
from scripts.devstack.stack import Child, Profile, Stack

CHAOS_DIR = VAR / "chaos"
LOG_DIR = CHAOS_DIR / "log"
# Directory names differ from make run's (postgres, redis): devstack names server logs after them.
PROFILE = Profile(
    "chaos",
    CHAOS_DIR / "chaos-postgres",
    CHAOS_DIR / "chaos-redis",
    durable=True,  # Redis with its append-only file, PostgreSQL with fsync: as in production
    wait_when_busy=False,
    run_dir=CHAOS_DIR / "run",
)
QUEUE = "chaos"
WORKER_CONCURRENCY = 2

# Short clocks, so that recovery happens within a CI job. The order the settings demand still
# holds: soft < hard time limit < stuck-after; the visibility timeout is twice the hard limit.
TIMINGS = {
    "CELERY_TASK_SOFT_TIME_LIMIT": "8",
    "CELERY_TASK_TIME_LIMIT": "10",
    "ASSESSMENT_STUCK_AFTER": "12",
    "ASSESSMENT_RESEND_AFTER": "15",
    "ASSESSMENT_SWEEP_EVERY": "2",
    # Small chunks, so that a batch is still under way when Redis or PostgreSQL goes down:
    # a chunk of runs completes in one transaction.
    "ASSESSMENT_RUN_CHUNK": "4",
    "WEBHOOK_SWEEP_EVERY": "2",
    # Webhook retry waits a thousandth of production's: 5 ms, 0.3 s, 1.8 s, 7.2 s, 18 s, …
    "WEBHOOK_RETRY_SCALE": "0.001",
    "OUTBOUND_TIMEOUT": "3",
}


def _read(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as stream:
            stream.seek(offset)
            return stream.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(_read(path, 0).splitlines()[-lines:])


class Cluster:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.env: dict[str, str] = {}
        self.postgres_port = 0
        self.redis_port = 0
        self.web_port = 0
        self.worker: Child | None = None
        self.workers_started = 0
        self.restarts: Counter[str] = Counter()

    # --- Servers ---------------------------------------------------------------------------

    def fresh(self) -> None:
        """Start from nothing: the last run's servers' data, schedule and logs go."""
        for path in (PROFILE.postgres_dir, PROFILE.redis_dir):
            shutil.rmtree(path, ignore_errors=True)
        (CHAOS_DIR / "celerybeat-schedule").unlink(missing_ok=True)
        shutil.rmtree(LOG_DIR, ignore_errors=True)
        LOG_DIR.mkdir(parents=True, exist_ok=True)

    def _child(self, name: str) -> Child:
        for child in reversed(self.stack.children):
            if child.name == name:
                return child
        raise Abort(f"no {name} is running")

    def start_servers(self) -> None:
        database_url = start_postgres(self.stack)
        self.postgres_port = int(database_url.rsplit(":", 1)[1].split("/", 1)[0])
        redis_url = start_redis(self.stack)
        self.redis_port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
        self.web_port = pick_free_port()
        self.env = child_environment(
            {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            {
                "DJANGO_SETTINGS_MODULE": "scripts.chaos.settings",
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "CELERY_QUEUE": QUEUE,
                # Production settings, less what needs TLS in front: the error pages and the
                # static files are the ones production serves.
                "DEBUG": "false",
                "SECRET_KEY": secrets.token_urlsafe(50),
                "ALLOWED_HOSTS": f"{HOST},localhost",
                "SECURE_SSL_REDIRECT": "false",
                "SESSION_COOKIE_SECURE": "false",
                "CSRF_COOKIE_SECURE": "false",
                "SECURE_HSTS_SECONDS": "0",
                "TRUSTED_PROXY_COUNT": "0",
                "KAKEHASHI_BASE_URL": f"http://{HOST}:{self.web_port}",
                "MEDIA_ROOT": str(CHAOS_DIR / "media"),
                "EMAIL_URL": "dummymail://",
                "OUTBOUND_ALLOW_PRIVATE": "true",
                "API_RATE": "100000/min",
                "LOG_LEVEL": "INFO",
                **TIMINGS,
            },
        )

    def kill_redis(self) -> None:
        """SIGKILL: no shutdown, no last write; what it acknowledged is in its append-only file."""
        child = self._child("redis")
        os.killpg(child.pgid, signal.SIGKILL)
        self.stack.stop(child)

    def start_redis(self) -> None:
        start_redis(self.stack, port=self.redis_port)

    def stop_postgres(self) -> None:
        """A fast shutdown (SIGINT): sessions are cut off, in-flight transactions roll back."""
        self.stack.stop(self._child("postgres"))

    def start_postgres(self) -> None:
        start_postgres(self.stack, port=self.postgres_port)

    def redis_version(self) -> str:
        import redis

        client = redis.Redis(host=HOST, port=self.redis_port, socket_timeout=2)
        try:
            info = client.info("server")
            persistence = client.config_get("append*")
        finally:
            client.close()
        return (
            f"Redis {info.get('redis_version')} (appendonly {persistence.get('appendonly')}, "
            f"appendfsync {persistence.get('appendfsync')})"
        )

    # --- Setup commands ----------------------------------------------------------------------

    def manage(self, *arguments: str) -> None:
        name = arguments[0]
        code = self.stack.run_foreground(
            name,
            [str(Path(BIN_DIR) / "python"), str(REPO / "manage.py"), *arguments],
            env=self.env,
            output=LOG_DIR / "setup.log",
        )
        self.stack.check()
        if code != 0:
            raise Abort(f"manage.py {name} failed ({code}):\n{log_tail(LOG_DIR / 'setup.log')}")

    # --- The app's processes -----------------------------------------------------------------

    def start_worker(self) -> Child:
        self.workers_started += 1
        argv = [
            BIN_DIR / "celery", "-A", "config", "worker", "--queues", QUEUE,
            "--concurrency", str(WORKER_CONCURRENCY), "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--hostname", f"chaos{self.workers_started}@%h",
        ]  # fmt: skip
        self.worker = self.stack.spawn("worker", argv, env=self.env, output=LOG_DIR / "worker.log")
        return self.worker

    def kill_worker(self) -> None:
        """SIGKILL the worker's whole process group, as the machine's OOM killer or a lost VM
        would: no task gets to finish, acknowledge or roll anything back itself."""
        if self.worker is None:
            return
        child, self.worker = self.worker, None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pgid, signal.SIGKILL)
        self.stack.stop(child)

    def start_beat(self) -> None:
        argv = [
            BIN_DIR / "celery", "-A", "config", "beat", "--loglevel", "INFO",
            "--schedule", CHAOS_DIR / "celerybeat-schedule",
        ]  # fmt: skip
        self.stack.spawn("beat", argv, env=self.env, output=LOG_DIR / "beat.log")

    def start_web(self, timeout: float = 60.0) -> None:
        argv = [
            BIN_DIR / "gunicorn", "config.wsgi", "--workers", "2",
            "--bind", f"{HOST}:{self.web_port}", "--timeout", "30", "--graceful-timeout", "5",
        ]  # fmt: skip
        child = self.stack.spawn("web", argv, env=self.env, output=LOG_DIR / "web.log")
        url = f"http://{HOST}:{self.web_port}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.stack.check()
            if child.proc.poll() is not None:
                raise Abort(f"gunicorn exited:\n{log_tail(LOG_DIR / 'web.log')}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise Abort(f"gunicorn did not answer {url}:\n{log_tail(LOG_DIR / 'web.log')}")

    def stop_app(self) -> None:
        """Stop web, beat and worker before the servers they talk to (the stack would stop a
        restarted server first: it stops children newest first)."""
        self.worker = None
        for child in reversed(list(self.stack.children)):
            if child.name in ("worker", "beat", "web"):
                self.stack.stop(child)

    def supervise(self) -> None:
        """Start again a worker, beat or web process that exited on its own, as systemd's
        Restart=always or Kubernetes would; each restart is counted (`restarts`)."""
        for child in list(self.stack.children):
            if child.name not in ("worker", "beat", "web") or child.proc.poll() is None:
                continue
            code = child.proc.returncode
            say(f"{child.name} exited on its own (exit code {code}); starting it again")
            self.stack.stop(child)
            self.restarts[child.name] += 1
            if child.name == "worker":
                self.start_worker()
            elif child.name == "beat":
                self.start_beat()
            else:
                self.start_web()
