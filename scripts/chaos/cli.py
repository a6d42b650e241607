"""`python -m scripts.chaos [--long] [--kills N] [--systems N]`: the run, its report, its exit code.

Exit codes: 0 every guarantee held; 1 one was broken (or the run could not be set up);
128 + signal when interrupted (the report so far is still written).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import traceback
from collections.abc import Sequence

from scripts.devstack.base import Abort, Interrupted
from scripts.devstack.output import say, shown
from scripts.devstack.stack import Stack

from . import report
from .cluster import CHAOS_DIR, LOG_DIR, PROFILE, Cluster
from .probe import Probe, Target
from .receiver import Receiver


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.chaos", description=__doc__)
    parser.add_argument(
        "--long", action="store_true", help="50 kills and outages twice as long (not for CI)"
    )
    parser.add_argument("--kills", type=int, help="worker kills in scenario 1 (default 20)")
    parser.add_argument("--systems", type=int, help="AI systems to assess (default 60)")
    parser.add_argument(
        "--only", action="append", help="run only this scenario (repeatable): worker_kill, …"
    )
    return parser.parse_args(list(argv))


def settings_for(args: argparse.Namespace):
    from .scenarios import Settings

    s = Settings()
    if args.long:
        s.kills, s.redis_down_s, s.postgres_down_s = 50, 8.0, 10.0
        s.receiver_refusing_s, s.receiver_unavailable_s = 15.0, 15.0
        s.bounds = {
            "worker_kill": 600.0,
            "redis_restart": 120.0,
            "postgres_restart": 150.0,
            "receiver_down": 150.0,
        }
    if args.kills is not None:
        s.kills = max(1, args.kills)
    if args.systems is not None:
        s.systems = max(2, args.systems)
    return s


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    mode = "long" if args.long else "quick"
    results: list[dict] = []
    versions: dict[str, str] = {}
    code = 1
    probes: list[Probe] = []
    receiver = Receiver()
    try:
        with Stack(PROFILE) as stack:
            try:
                code = _run(stack, args, results, versions, receiver, probes)
            finally:
                for probe in probes:
                    probe.stop()
                receiver.stop()
    except Interrupted as interrupted:
        say(f"interrupted ({interrupted}); everything it started is stopped")
        code = 128 + interrupted.signum
    except Abort as abort:
        print(f"chaos: {abort}", file=sys.stderr)
        code = abort.code or 1
    if results or code == 0:
        built = report.build(
            mode=mode,
            started_at=started.isoformat(timespec="seconds"),
            duration_s=time.monotonic() - clock,
            machine_info=report.machine(**versions),
            scenarios=results,
        )
        as_json, as_markdown = report.write(built, CHAOS_DIR)
        print(as_markdown.read_text())
        say(f"report in {shown(as_json)} and {shown(as_markdown)}; logs in {shown(LOG_DIR)}")
        if code == 0 and not built["ok"]:
            code = 1
    return code


def _run(
    stack: Stack,
    args: argparse.Namespace,
    results: list[dict],
    versions: dict[str, str],
    receiver: Receiver,
    probes: list[Probe],
) -> int:
    """Set up, run the scenarios, append their results; the caller stops what is started."""
    from .scenarios import SCENARIOS, Context

    settings = settings_for(args)
    cluster = Cluster(stack)
    cluster.fresh()
    say("starting PostgreSQL and Redis under var/chaos/")
    cluster.start_servers()
    for step in (("migrate", "--noinput"), ("load_catalogue",)):
        began = time.monotonic()
        cluster.manage(*step)
        say(f"manage.py {' '.join(step)}: {time.monotonic() - began:.0f} s")

    from . import app

    app.configure(cluster.env)
    seed = app.seed(settings.systems)
    versions["postgres"] = app.database_version()
    versions["redis"] = cluster.redis_version()
    say(f"seeded {len(seed.system_ids)} systems; starting gunicorn, beat and a worker")
    cluster.start_web()
    cluster.start_beat()
    cluster.start_worker()
    base = f"http://127.0.0.1:{cluster.web_port}"
    probe = Probe(
        [
            Target("healthz", f"{base}/healthz"),
            Target(
                "api systems",
                f"{base}/api/v1/orgs/{seed.org_code}/systems/",
                {"Authorization": f"Bearer {seed.api_token}"},
            ),
            Target(
                "dashboard page",
                f"{base}/o/{seed.org_code}/",
                {"Cookie": f"sessionid={seed.session_key}"},
            ),
        ]
    )
    probes.append(probe)
    probe.start()
    ctx = Context(cluster, probe, receiver, seed, settings)
    for name, title, scenario in SCENARIOS:
        if args.only and name not in args.only:
            continue
        say(f"scenario {title}")
        probe.phase = f"{name}:{report.STEADY}"
        began, restarts = time.monotonic(), dict(cluster.restarts)
        result: dict = {"name": name, "title": title, "bound_s": settings.bounds[name]}
        try:
            result.update(scenario(ctx))
        except (Interrupted, Abort):
            raise
        except Exception as exc:  # a broken scenario is a failed one; the next may still run
            traceback.print_exc()
            result["error"] = f"{type(exc).__name__}: {exc}"
            result.setdefault("checks", []).append(report.check("ran to the end", False, str(exc)))
        result["duration_s"] = round(time.monotonic() - began, 1)
        exited = {k: n - restarts.get(k, 0) for k, n in cluster.restarts.items()}
        result.setdefault("figures", {})[
            "processes that exited on their own (started again, as a supervisor would)"
        ] = {k: n for k, n in exited.items() if n} or 0
        probe.phase = "between"
        result["probe"] = probe.phase_counts(name)
        results.append(report.finish(result))
        say(f"{title}: {'ok' if result['ok'] else 'FAILED'} in {result['duration_s']} s")
    probe.stop()
    cluster.stop_app()
    return 0
