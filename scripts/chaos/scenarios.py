"""The four scenarios. Each takes the run's Context and returns its result dict (see report.py);
each is bounded in time: past its bound it stops waiting and reports what it has."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import psycopg

from . import app
from .cluster import LOG_DIR, QUEUE, Cluster
from .probe import Probe
from .receiver import Receiver
from .report import OUTAGE, RECOVERY, check, count_5xx

DONE = ("completed", "failed")


@dataclass
class Settings:
    """How hard a run pushes; `--long` doubles the outages and raises the kills."""

    kills: int = 20
    systems: int = 60
    redis_down_s: float = 3.0
    postgres_down_s: float = 4.0
    receiver_refusing_s: float = 5.0
    receiver_unavailable_s: float = 5.0
    events_per_phase: int = 10
    bounds: dict[str, float] = field(
        default_factory=lambda: {
            "worker_kill": 240.0,
            "redis_restart": 60.0,
            "postgres_restart": 75.0,
            "receiver_down": 75.0,
        }
    )


@dataclass
class Context:
    cluster: Cluster
    probe: Probe
    receiver: Receiver
    seed: app.Seed
    settings: Settings
    rng: random.Random = field(default_factory=random.Random)

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            self.cluster.stack.check()  # Ctrl-C
            self.cluster.supervise()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))

    def wait(self, predicate: Callable[[], object], *, until: float, every: float = 0.25):
        """predicate()'s first true value, or None once the monotonic time `until` has passed."""
        while True:
            self.cluster.stack.check()
            self.cluster.supervise()
            value = predicate()
            if value or time.monotonic() > until:
                return value or None
            time.sleep(every)

    def superuser(self, *, autocommit: bool = False) -> psycopg.Connection:
        """A direct connection as the cluster's superuser, for locks and pg_stat_activity."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.cluster.postgres_port,
            user="postgres",
            dbname="kakehashi",
            connect_timeout=5,
            autocommit=autocommit,
        )


def _blocked_on_system_update(db: psycopg.Connection) -> int:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query ILIKE 'UPDATE%%governance_aisystem%%'"
    ).fetchone()
    return int(row[0]) if row else 0


def _all_done(ids: list[int]) -> bool:
    states = app.with_database(lambda: app.statuses(ids))
    return len(states) == len(ids) and all(s in DONE for s in states.values())


# --- 1. Worker killed ------------------------------------------------------------------------


def worker_kill(ctx: Context) -> dict:
    """SIGKILL the worker mid-run `kills` times, alternating two kinds of kill:

    - mid-write: we hold a lock on every system's row (FOR NO KEY UPDATE: the findings'
      foreign-key checks still pass), so each run blocks on its last write, the system's tier,
      after inserting its findings in its open transaction; we kill once a worker waits there;
    - mid-run: we let the worker work for a random 0.5-2.5 s and kill it the moment the database
      shows a run it claimed still `running`.

    A kill counts only if some run claimed by that worker is still `running` afterwards (it
    was interrupted, not finished). Then a last worker and beat's sweep must finish every run.
    """
    s, cluster = ctx.settings, ctx.cluster
    deadline = time.monotonic() + s.bounds["worker_kill"]
    cluster.kill_worker()  # from here on only the worker this scenario starts
    ids: set[int] = set()
    kills: list[dict] = []
    misses = 0
    db, monitor = ctx.superuser(), ctx.superuser(autocommit=True)
    try:
        while len(kills) < s.kills and time.monotonic() < deadline - 45:
            ids.update(app.start_assessments(ctx.seed.system_ids, ctx.seed.user_id))
            mid_write = len(kills) % 2 == 0
            if mid_write:
                db.execute(
                    "SELECT 1 FROM governance_aisystem WHERE organisation_id = %s "
                    "FOR NO KEY UPDATE",
                    [ctx.seed.org_id],
                )
            since = time.time()
            cluster.start_worker()
            try:
                claimed = partial(app.running_since, since)
                if mid_write:
                    blocked = partial(_blocked_on_system_update, monitor)
                    hit = ctx.wait(blocked, until=deadline, every=0.05)
                else:
                    hit = ctx.wait(claimed, until=deadline, every=0.02)
                    if hit:
                        ctx.sleep(ctx.rng.uniform(0.5, 2.5))
                        hit = ctx.wait(
                            claimed,
                            until=min(deadline, time.monotonic() + 5),
                            every=0.01,
                        )
            finally:
                cluster.kill_worker()
                db.rollback()  # the blocked backends of the dead worker go on, then roll back
            interrupted = app.running_since(since) if hit else []
            if interrupted:
                kills.append(
                    {"kind": "mid-write" if mid_write else "mid-run", "runs": len(interrupted)}
                )
            else:
                misses += 1
                if misses > s.kills:
                    break
    finally:
        db.close()
        monitor.close()
    ids.update(app.start_assessments(ctx.seed.system_ids, ctx.seed.user_id))
    drain_started = time.monotonic()
    cluster.start_worker()
    finished = ctx.wait(lambda: _all_done(sorted(ids)), until=deadline, every=0.5)
    drained_s = round(time.monotonic() - drain_started, 1)
    figures = app.with_database(lambda: app.run_figures(ids))
    mid_write_kills = sum(1 for k in kills if k["kind"] == "mid-write")
    result = {
        "tries": len(kills),
        "losses": figures["lost"],
        "duplicates": figures["duplicate_findings"] + figures["duplicate_auto_actions"],
        "figures": {
            "kills (SIGKILL of the worker's process group)": len(kills),
            "kills mid-write (findings inserted, transaction open)": mid_write_kills,
            "kills mid-run (a claimed run still running)": len(kills) - mid_write_kills,
            "runs interrupted by the kills": sum(k["runs"] for k in kills),
            "tries that caught no run in flight (not counted)": misses,
            "assessments": figures["assessments"],
            "completed": figures["completed"],
            "failed": figures["failed"],
            "lost (neither completed nor failed)": figures["lost"],
            "attempts per assessment": figures["attempts"],
            "findings": figures["findings"],
            "duplicate findings (same assessment and obligation)": figures["duplicate_findings"],
            "unique constraint on (assessment, obligation)": figures["unique_constraint"],
            "completed runs whose findings do not match their summary": figures["incomplete_runs"],
            "duplicate automatic actions (same system and obligation)": figures[
                "duplicate_auto_actions"
            ],
            "seconds to finish every run after the last kill": drained_s,
            "errors of failed runs": figures["errors"] or "—",
        },
        "checks": [
            check(f"{s.kills} real mid-run kills", len(kills) >= s.kills, f"{len(kills)} kills"),
            check(
                "every run completed",
                bool(finished) and figures["failed"] == 0,
                f"{figures['completed']} of {figures['assessments']}",
            ),
            check("no run completed half-written", figures["incomplete_runs"] == 0),
            check("the database refuses a duplicate finding", figures["unique_constraint"]),
        ],
    }
    return result


# --- 2. Redis restarted -------------------------------------------------------------------


def _broker_messages(port: int) -> int | None:
    """Messages in the broker: waiting in the queue plus delivered but unacknowledged."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)
    try:
        return int(client.llen(QUEUE)) + int(client.hlen("unacked"))
    except redis.RedisError:
        return None
    finally:
        client.close()


def _batch_mid_way(batch_id: int, total: int) -> tuple[int, int] | None:
    """(runs done, runs in the batch) once some but not all of the batch's runs are done."""
    runs = app.with_database(lambda: app.batch_assessments(batch_id))
    done = sum(1 for _, status, _ in runs.values() if status in DONE)
    return (done, len(runs)) if len(runs) == total and done >= 1 else None


def _batch_result(ctx: Context, batch_id: int, deadline: float) -> tuple[bool, dict, dict]:
    systems = set(ctx.seed.system_ids)

    def finished() -> bool:
        runs = app.with_database(lambda: app.batch_assessments(batch_id))
        return len(runs) == len(systems) and all(status in DONE for _, status, _ in runs.values())

    ok = bool(ctx.wait(finished, until=deadline, every=0.5))
    runs = app.with_database(lambda: app.batch_assessments(batch_id))
    figures = app.with_database(lambda: app.run_figures(runs))
    completed_systems = {system for system, status, _ in runs.values() if status == "completed"}
    figures["systems without a completed run"] = len(systems - completed_systems)
    return ok, runs, figures


def redis_restart(ctx: Context) -> dict:
    """Assess all systems; once the batch is under way, SIGKILL Redis, keep it down a few
    seconds, start it again on the same port and append-only file; every run must complete."""
    s, cluster = ctx.settings, ctx.cluster
    deadline = time.monotonic() + s.bounds["redis_restart"]
    if cluster.worker is None:
        cluster.start_worker()
    total = len(ctx.seed.system_ids)
    batch_id = app.with_database(lambda: app.start_batch(ctx.seed.org_id, ctx.seed.user_id))
    mid_way = ctx.wait(lambda: _batch_mid_way(batch_id, total), until=deadline, every=0.05)
    before = _broker_messages(cluster.redis_port)
    ctx.probe.phase = "redis_restart:" + OUTAGE
    down_at = time.monotonic()
    cluster.kill_redis()
    ctx.sleep(s.redis_down_s)
    cluster.start_redis()
    after = _broker_messages(cluster.redis_port)
    down_s = round(time.monotonic() - down_at, 1)
    ctx.probe.phase = "redis_restart:" + RECOVERY
    ok, runs, figures = _batch_result(ctx, batch_id, deadline)
    done_at_kill, _ = mid_way or (total, total)
    lost = figures["systems without a completed run"]
    return {
        "tries": 1,
        "losses": lost,
        "duplicates": figures["duplicate_findings"],
        "figures": {
            "restarts (SIGKILL, then a start on the same append-only file)": 1,
            "seconds Redis was down": down_s,
            "batch runs done when Redis was killed": f"{done_at_kill} of {total}",
            "broker messages before the kill (queued + unacknowledged)": before,
            "broker messages after the restart": after,
            "assessments in the batch": len(runs),
            "completed": figures["completed"],
            "failed": figures["failed"],
            "systems without a completed run": lost,
            "attempts per assessment": figures["attempts"],
            "duplicate findings": figures["duplicate_findings"],
            "errors of failed runs": figures["errors"] or "—",
        },
        "checks": [
            check(
                "Redis was killed mid-batch",
                mid_way is not None and done_at_kill < total,
                f"{done_at_kill} of {total} done",
            ),
            check(
                "the broker kept its messages (append-only file)",
                before is not None and after is not None and after >= before - 2,
                f"{before} → {after} (a worker may ack one run per process meanwhile)",
            ),
            check(
                "every run of the batch completed",
                ok and figures["failed"] == 0,
                f"{figures['completed']} of {total}",
            ),
        ],
    }


# --- 3. PostgreSQL restarted ----------------------------------------------------------------


def postgres_restart(ctx: Context) -> dict:
    """Assess all systems; mid-batch, shut PostgreSQL down (fast), keep it down a few seconds,
    start it again. Runs retry (or the sweep re-queues them) and complete; while the database
    is away the web app answers 503, never 500; once it is back, no 5xx at all."""
    s, cluster = ctx.settings, ctx.cluster
    deadline = time.monotonic() + s.bounds["postgres_restart"]
    if cluster.worker is None:
        cluster.start_worker()
    total = len(ctx.seed.system_ids)
    batch_id = app.with_database(lambda: app.start_batch(ctx.seed.org_id, ctx.seed.user_id))
    mid_way = ctx.wait(lambda: _batch_mid_way(batch_id, total), until=deadline, every=0.05)
    ctx.probe.phase = "postgres_restart:" + OUTAGE
    down_at = time.monotonic()
    cluster.stop_postgres()
    ctx.sleep(s.postgres_down_s)
    cluster.start_postgres()
    down_s = round(time.monotonic() - down_at, 1)
    ctx.probe.phase = "postgres_restart:" + RECOVERY
    ok, runs, figures = _batch_result(ctx, batch_id, deadline)
    done_at_stop, _ = mid_way or (total, total)
    lost = figures["systems without a completed run"]
    retried = sum(1 for _, _, attempts in runs.values() if attempts > 1)
    outage = ctx.probe.phase_counts("postgres_restart").get(OUTAGE, {})
    five_hundreds = sum(statuses.get("500", 0) for statuses in outage.values())
    return {
        "tries": 1,
        "losses": lost,
        "duplicates": figures["duplicate_findings"],
        "figures": {
            "restarts (fast shutdown, then a start)": 1,
            "seconds PostgreSQL was down": down_s,
            "batch runs done when PostgreSQL stopped": f"{done_at_stop} of {total}",
            "assessments in the batch": len(runs),
            "completed": figures["completed"],
            "failed": figures["failed"],
            "systems without a completed run": lost,
            "runs that took more than one attempt": retried,
            "attempts per assessment": figures["attempts"],
            "duplicate findings": figures["duplicate_findings"],
            "errors of failed runs": figures["errors"] or "—",
        },
        "checks": [
            check(
                "PostgreSQL stopped mid-batch",
                mid_way is not None and done_at_stop < total,
                f"{done_at_stop} of {total} done",
            ),
            check(
                "every run of the batch completed",
                ok and figures["failed"] == 0,
                f"{figures['completed']} of {total}",
            ),
            check(
                "503, not 500, while the database was away",
                five_hundreds == 0,
                f"{five_hundreds} answers 500",
            ),
        ],
    }


# --- 4. Webhook receiver down ---------------------------------------------------------------


def receiver_down(ctx: Context) -> dict:
    """Register the receiver for action.updated; send events while it is up, while it refuses
    connections, while it answers 503; bring it back and wait until the outbox is drained. It
    must have accepted every event once, and never have been sent one it had acknowledged."""
    s, receiver = ctx.settings, ctx.receiver
    deadline = time.monotonic() + s.bounds["receiver_down"]
    if ctx.cluster.worker is None:
        ctx.cluster.start_worker()
    receiver.start()
    endpoint_id, secret = app.with_database(
        lambda: app.webhook_endpoint(
            ctx.seed.org_id, ctx.seed.user_id, receiver.url, ["action.updated"]
        )
    )
    receiver.secret = secret
    actions = app.with_database(lambda: app.action_ids(ctx.seed.org_id, s.events_per_phase))
    sent = 0

    def send_events() -> None:
        nonlocal sent
        for action_id in actions:
            app.with_database(partial(app.touch_action, action_id, ctx.seed.user_id, sent))
            sent += 1
            ctx.sleep(0.05)

    send_events()
    ctx.wait(lambda: len(receiver.ledger.accepted) >= sent, until=deadline, every=0.2)
    ctx.probe.phase = "receiver_down:" + OUTAGE
    receiver.stop()
    send_events()
    ctx.sleep(s.receiver_refusing_s)
    receiver.unavailable()
    send_events()
    ctx.sleep(s.receiver_unavailable_s)
    receiver.start()
    ctx.probe.phase = "receiver_down:" + RECOVERY

    def drained() -> dict | None:
        box = app.with_database(lambda: app.outbox(endpoint_id))
        waiting = {k: v for k, v in box["by_status"].items() if k != "succeeded"}
        return box if box["deliveries"] >= sent and not waiting else None

    ok = bool(ctx.wait(drained, until=deadline, every=0.5))
    box = app.with_database(lambda: app.outbox(endpoint_id))
    ledger = receiver.ledger.snapshot()
    events = box["message_ids"]
    accepted = set(receiver.ledger.accepted)
    lost = len(events - accepted)
    refused = box["attempt_rows"] - ledger["requests"]
    probe = ctx.probe.phase_counts("receiver_down")
    web_5xx = sum(count_5xx(stage) for stage in probe.values())
    return {
        "tries": 1,
        "losses": lost,
        "duplicates": ledger["duplicates_after_2xx"],
        "figures": {
            "events (action.updated)": len(events),
            "changes made": sent,
            "deliveries": box["deliveries"],
            "deliveries by status": box["by_status"],
            "attempts made by the worker": box["attempt_rows"],
            "attempts refused (receiver down)": refused,
            "requests the receiver got": ledger["requests"],
            "receiver's answers": ledger["answers"],
            "webhook-ids accepted": ledger["accepted"],
            "webhook-ids sent again after a 2xx": ledger["duplicates_after_2xx"],
            "bad signatures": ledger["bad_signatures"],
            "events never accepted": lost,
            "seconds refusing / answering 503": f"{s.receiver_refusing_s} / "
            f"{s.receiver_unavailable_s}",
        },
        "checks": [
            check("the outbox drained", ok, f"{box['by_status']}"),
            check(
                "the outage was felt (refusals and 503s)",
                refused > 0 and ledger["answers"].get("503", 0) > 0,
                f"{refused} refused, {ledger['answers'].get('503', 0)} 503s",
            ),
            check("every signature verified", ledger["bad_signatures"] == 0),
            check(
                "every event accepted exactly once",
                lost == 0 and len(accepted - events) == 0,
                f"{len(accepted)} of {len(events)}",
            ),
            check("the web app unaffected (no 5xx)", web_5xx == 0, f"{web_5xx}"),
        ],
    }


SCENARIOS = [
    ("worker_kill", "1. Worker killed mid-assessment", worker_kill),
    ("redis_restart", "2. Redis restarted mid-batch (AOF)", redis_restart),
    ("postgres_restart", "3. PostgreSQL restarted mid-batch", postgres_restart),
    ("receiver_down", "4. Webhook receiver down, then back", receiver_down),
]

__all__ = ["LOG_DIR", "SCENARIOS", "Context", "Settings"]
