"""`python -m bench`: build the dataset, run the workloads, write the report.

    python -m bench [--scale full|smoke] [--only reads,export,...] [--reuse]
                    [--database-url URL] [--strict] [--workdir DIR]

The bench database is DATABASE_URL's server with the database `kakehashi_bench` (or the bench
database --database-url names); Redis is REDIS_URL's server, database 13 (or BENCH_REDIS_URL).
Results go to var/bench/<scale>/results.json and results.md, the log to bench.log beside them.

The exit code is 1 when a workload is missing or fails (the others still run and are
reported), and, with --strict, when a goal is missed; 2 when the bench could not start.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import sys
import time
import traceback
import urllib.parse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import db, report
from .core import SCALES, Bench, Outcome

# In this order: reassess publishes a release and re-assesses everything, so it runs last.
WORKLOADS = ("reads", "assess_one", "export", "load", "reassess")
# Workloads after which the dataset is no longer the one built: --reuse then rebuilds it.
CHANGES_DATASET = ("reassess",)

NOTES = [
    "The app runs with DEBUG off, as in production, minus what loopback cannot satisfy: no "
    "HTTPS redirect, HSTS or secure cookies, no trusted proxy, and API and login throttles "
    "raised for the load generator.",
    "Static files are collected without the admin's, DRF's and the API docs' (compressing "
    "them takes a minute): the admin site and /api/v1/docs/ are not served in the bench.",
]


class Log:
    """Progress on stdout and, with tracebacks, in workdir/bench.log."""

    def __init__(self, path: Path):
        self.path = path
        self.started = time.perf_counter()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def __call__(self, message: str) -> None:
        line = f"[bench {time.perf_counter() - self.started:7.1f}s] {message}"
        print(line, flush=True)
        with self.path.open("a") as out:
            out.write(line + "\n")

    def detail(self, text: str) -> None:
        with self.path.open("a") as out:
            out.write(text.rstrip("\n") + "\n")


def _workloads(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown workload {', '.join(unknown) or '(none)'}; choose from {', '.join(WORKLOADS)}"
        )
    return names


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument(
        "--only", type=_workloads, default=list(WORKLOADS), help="workloads, comma-separated"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the dataset if the database holds this scale's"
    )
    parser.add_argument(
        "--database-url", help="the bench database (its name must start with kakehashi_bench)"
    )
    parser.add_argument("--strict", action="store_true", help="a missed goal fails the run")
    parser.add_argument("--workdir", type=Path, help="logs and results (default var/bench/…)")
    return parser.parse_args(argv)


def _safe(url: str) -> str:
    """The URL without its password."""
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


def run_workload(name: str, bench: Bench, say: Log) -> dict[str, Any]:
    """Import and run one workload; an error is recorded, never raised."""
    from django.db import connections

    from governance import rls

    started = time.perf_counter()
    entry: dict[str, Any] = {"name": name, "status": "ok", "outcomes": []}
    outcomes: list[Outcome] = []
    say(f"workload {name}: starting")
    try:
        module = importlib.import_module(f"bench.workloads.{name}")
        produced = module.run(bench)
        if not isinstance(produced, list) or not all(isinstance(o, Outcome) for o in produced):
            raise TypeError(f"run() returned {type(produced).__name__}, not a list of Outcome")
        outcomes = produced
    except ModuleNotFoundError as exc:
        if exc.name == f"bench.workloads.{name}":
            entry["status"] = "missing"
            entry["error"] = f"bench/workloads/{name}.py does not exist yet"
        else:  # something the workload imports
            _record_error(entry, exc, say)
    except Exception as exc:
        _record_error(entry, exc, say)
    finally:
        # Each workload starts afresh: its own connection, in the system scope.
        connections.close_all()
        rls.restore(rls.EVERYTHING)
    entry["seconds"] = round(time.perf_counter() - started, 1)
    entry["outcomes"] = [o.key for o in outcomes]
    entry["_outcomes"] = outcomes
    state = entry["status"] if entry["status"] != "ok" else f"{len(outcomes)} outcome(s)"
    say(f"workload {name}: {state} in {entry['seconds']} s")
    if entry.get("error"):
        say(f"  {entry['error']}")
    return entry


def _record_error(entry: dict[str, Any], exc: BaseException, say: Log) -> None:
    entry["status"] = "error"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    entry["error"] = f"{type(exc).__name__}: {first}"[:300] + " (traceback in bench.log)"
    say.detail(f"--- workload {entry['name']} failed ---\n{traceback.format_exc()}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    scale = SCALES[args.scale]
    try:
        url = db.bench_database_url(
            database_url=os.environ.get("DATABASE_URL"), explicit=args.database_url
        )
        redis_url = db.bench_redis_url(
            redis_url=os.environ.get("REDIS_URL"), override=os.environ.get("BENCH_REDIS_URL")
        )
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    workdir = (args.workdir or db.default_workdir(url, scale.name)).resolve()
    say = Log(workdir / "bench.log")
    started_at = dt.datetime.now(dt.UTC)
    say(f"{scale.name} scale, database {_safe(url)}, Redis {_safe(redis_url)}, in {workdir}")
    env = db.environment(os.environ, database_url=url, redis_url=redis_url, workdir=workdir)
    try:
        from .dataset import BENCH_PASSWORD

        env["BENCH_PASSWORD"] = BENCH_PASSWORD
        db.apply_environment(env)
        setup_started = time.perf_counter()
        marker = db.prepare(url, scale=scale.name, reuse=args.reuse, say=say)
        manage_log = workdir / "manage.log"
        manage_log.write_text("")
        say("migrate")
        db.manage(env, "migrate", "--noinput", log=manage_log)
        if marker is None:
            say("load_catalogue")
            db.manage(env, "load_catalogue", log=manage_log)
        db.manage(
            env, "collectstatic", "--noinput", "--ignore", "admin", "--ignore",
            "drf_spectacular_sidecar", "--ignore", "rest_framework", log=manage_log,
        )  # fmt: skip
        setup_seconds = time.perf_counter() - setup_started
        db.flush_redis(redis_url)

        import django

        django.setup()
        from governance import rls

        # Like a management command: the bench itself sees every organisation; the requests
        # it makes are scoped by the app's middleware.
        rls.set_process_default(rls.EVERYTHING)
        from . import dataset

        if marker is not None:
            data = dataset.existing(scale, counted=marker.counts, built_at=marker.built_at, say=say)
        else:
            data = dataset.build(scale, url=url, say=say)
            db.write_marker(url, scale=scale.name, counts=data.counts)
    except Exception:
        say.detail(traceback.format_exc())
        traceback.print_exc()
        say("the bench could not build its database or dataset; nothing was measured")
        return 2

    bench = Bench(
        scale=scale,
        org=data.org,
        small_org=data.small_org,
        small_orgs=data.small_orgs,
        admin=data.admin,
        small_admin=data.small_admin,
        api_token=data.api_token,
        small_api_token=data.small_api_token,
        env=env,
        workdir=workdir,
    )
    runs = []
    for name in WORKLOADS:
        if name not in args.only:
            continue
        if name in CHANGES_DATASET:
            db.clear_marker(url)
            say(f"{name} changes the dataset: the next --reuse will build a new one")
        runs.append(run_workload(name, bench, say))
    outcomes = [o for r in runs for o in r.pop("_outcomes")]
    missed = [(o.key, g.name) for o in outcomes for g in o.goals if not g.passed]
    errors = [r["name"] for r in runs if r["status"] != "ok"]

    results = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round((dt.datetime.now(dt.UTC) - started_at).total_seconds(), 1),
        "scale": asdict(scale),
        "machine": report.machine(redis_url=redis_url),
        "database": {
            "name": db.database_name(url),
            "setup_seconds": round(setup_seconds, 1),
            "reused": data.reused,
        },
        "dataset": {
            "reused": data.reused,
            "built_at": data.built_at.isoformat(timespec="seconds") if data.built_at else None,
            "build_seconds": round(data.build_seconds, 1) if data.build_seconds else None,
            "counts": data.counts,
        },
        "workloads": runs,
        "outcomes": [o.as_json() for o in outcomes],
        "summary": {
            "goals": sum(len(o.goals) for o in outcomes),
            "missed": len(missed),
            "workload_errors": errors,
            "strict": args.strict,
        },
        "notes": data.notes + NOTES,
    }
    json_path, md_path, text = report.write(workdir, results)
    print()
    print(text)
    say(f"results: {json_path} and {md_path}")
    code = 0
    if errors:
        say(f"workloads missing or failed: {', '.join(errors)}")
        code = 1
    if missed:
        say(f"{len(missed)} goal(s) missed" + ("" if args.strict else " (not --strict)"))
        if args.strict:
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
