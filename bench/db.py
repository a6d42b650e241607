"""The bench database and the environment the bench runs in.

The bench never touches the development or test database: its database is named
`kakehashi_bench` (derived from DATABASE_URL by swapping the name), or whatever
`--database-url` names, provided that name starts with `kakehashi_bench`. It is dropped and
created for every run, unless `--reuse` finds a dataset of the same scale in it (the
`bench_dataset` marker table, written once a build has committed).

Everything here runs before `django.setup()`: the environment decides which database and Redis
Django connects to, and that DEBUG is off.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "kakehashi_bench"
BENCH_REDIS_DB = 13
MARKER_TABLE = "bench_dataset"
# kakehashi_bench, or kakehashi_bench_<suffix> (one per developer or CI job).
_BENCH_NAME = re.compile(r"kakehashi_bench(_[a-z0-9_]+)?")


class NotABenchDatabase(ValueError):
    """The URL names a database the bench must not drop."""


def database_name(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))


def with_database(url: str, name: str) -> str:
    """`url` with its database name replaced (host, credentials and options kept)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise NotABenchDatabase(f"not a PostgreSQL URL: {parts.scheme}://…")
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(name)))


def is_bench_name(name: str) -> bool:
    return bool(_BENCH_NAME.fullmatch(name))


def default_workdir(url: str, scale: str) -> Path:
    """var/bench/<scale>/ for kakehashi_bench; var/bench/<scale>-<suffix>/ for
    kakehashi_bench_<suffix>, so that runs against different bench databases keep their own
    logs and results."""
    suffix = database_name(url).removeprefix(BENCH_DATABASE).lstrip("_")
    return REPO / "var" / "bench" / (f"{scale}-{suffix}" if suffix else scale)


def bench_database_url(*, database_url: str | None, explicit: str | None = None) -> str:
    """The bench database's URL: `explicit` (--database-url) when given, else DATABASE_URL with
    the name `kakehashi_bench`. Refuses any database whose name is not a bench name."""
    if explicit:
        url = explicit
    elif database_url:
        url = with_database(database_url, BENCH_DATABASE)
    else:
        raise NotABenchDatabase(
            "set DATABASE_URL (the bench uses its server, database kakehashi_bench) "
            "or pass --database-url"
        )
    name = database_name(url)
    with_database(url, name)  # checks the scheme
    if not is_bench_name(name):
        raise NotABenchDatabase(
            f"refusing to use database {name!r}: the bench drops its database, so its name "
            f"must be {BENCH_DATABASE} or start with {BENCH_DATABASE}_"
        )
    return url


def bench_redis_url(*, redis_url: str | None, override: str | None = None) -> str:
    """BENCH_REDIS_URL when set, else REDIS_URL with database number 13 (flushed at start)."""
    if override:
        return override
    if not redis_url:
        raise ValueError("set REDIS_URL (the bench uses its server, database 13)")
    parts = urllib.parse.urlsplit(redis_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{BENCH_REDIS_DB}"))


def environment(
    base: Mapping[str, str], *, database_url: str, redis_url: str, workdir: Path
) -> dict[str, str]:
    """The process environment of the bench and of every process it starts (worker, gunicorn,
    locust): production settings (DEBUG off) minus what a loopback benchmark cannot satisfy."""
    env = dict(base)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
            # No TLS on loopback: no redirect to https, no HSTS, cookies sent over http.
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": "false",
            "SECURE_HSTS_PRELOAD": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            # No proxy in front: the client address is REMOTE_ADDR.
            "TRUSTED_PROXY_COUNT": "0",
            # The load generator is one client address making many requests and logins.
            "API_RATE": "1000000/min",
            "LOGIN_FAILURE_LIMIT": "1000000",
            "LOGIN_IP_FAILURE_LIMIT": "1000000",
            # With DEBUG off, static files come from the collected manifest (collectstatic).
            "STATIC_ROOT": str(workdir / "static"),
            "MEDIA_ROOT": str(workdir / "media"),
            # Notification mails would go to the console and drown the logs.
            "EMAIL_URL": "dummymail://",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _connect(url: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(url, connect_timeout=10, **kwargs)


@dataclass(frozen=True)
class Marker:
    scale: str
    built_at: datetime
    counts: dict


def read_marker(url: str) -> Marker | None:
    """The dataset marker of the bench database, or None (no database, no marker)."""
    try:
        with _connect(url) as conn:
            row = conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL", [f"public.{MARKER_TABLE}"]
            ).fetchone()
            if not row or not row[0]:
                return None
            found = conn.execute(
                sql.SQL(
                    "SELECT scale, built_at, counts FROM {} ORDER BY built_at DESC LIMIT 1"
                ).format(sql.Identifier(MARKER_TABLE))
            ).fetchone()
    except psycopg.OperationalError:
        return None
    if found is None:
        return None
    return Marker(scale=found[0], built_at=found[1], counts=found[2] or {})


def write_marker(url: str, *, scale: str, counts: Mapping[str, int]) -> None:
    with _connect(url) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} "
                "(scale text NOT NULL, built_at timestamptz NOT NULL, counts jsonb NOT NULL)"
            ).format(sql.Identifier(MARKER_TABLE))
        )
        conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(MARKER_TABLE)))
        conn.execute(
            sql.SQL("INSERT INTO {} (scale, built_at, counts) VALUES (%s, now(), %s)").format(
                sql.Identifier(MARKER_TABLE)
            ),
            [scale, json.dumps(dict(counts))],
        )


def clear_marker(url: str) -> None:
    """Forget the dataset (a workload is about to change it): the next --reuse rebuilds."""
    with _connect(url) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(MARKER_TABLE)))


def recreate(url: str) -> None:
    """Drop the bench database (closing its other sessions) and create it empty."""
    name = database_name(url)
    if not is_bench_name(name):  # never reached through bench_database_url; a second fence
        raise NotABenchDatabase(f"refusing to drop {name!r}")
    with _connect(with_database(url, "postgres"), autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))


def prepare(url: str, *, scale: str, reuse: bool, say) -> Marker | None:
    """Make the database ready for a build; returns the marker when an existing dataset of
    `scale` is kept (--reuse), else None (the database is new and empty)."""
    if reuse:
        marker = read_marker(url)
        if marker is not None and marker.scale == scale:
            say(f"reusing the {scale} dataset built at {marker.built_at:%Y-%m-%d %H:%M:%S %Z}")
            return marker
        say(f"--reuse: no {scale} dataset in {database_name(url)}; building one")
    say(f"recreating database {database_name(url)}")
    recreate(url)
    return None


def manage(env: Mapping[str, str], *arguments: str, log: Path) -> None:
    """Run `manage.py <arguments>` with the bench environment; its output goes to `log`."""
    with log.open("a") as out:
        out.write(f"\n$ manage.py {' '.join(arguments)}\n")
        out.flush()
        done = subprocess.run(
            [sys.executable, str(REPO / "manage.py"), *arguments],
            env=dict(env),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise RuntimeError(
            f"manage.py {' '.join(arguments)} failed (exit code {done.returncode}); "
            f"the end of {log}:\n{tail}"
        )


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=10)
    try:
        client.flushdb()
    finally:
        client.close()


def apply_environment(env: Mapping[str, str]) -> None:
    """Make `env` this process's environment (before django.setup())."""
    for key in list(os.environ):
        if key not in env:
            del os.environ[key]
    os.environ.update(env)
