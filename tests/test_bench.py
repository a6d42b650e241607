"""The benchmark's pure parts: goals and outcomes, statistics, the report's Markdown, the choice
of database (never a non-bench one), the CLI's handling of workloads, and the answers the
dataset draws. No dataset is built here."""

import random
import sys
import time
import types
from pathlib import Path

import pytest

from bench import db, measure, report
from bench.__main__ import Log, parse, run_workload
from bench.core import SMOKE, Bench, Goal, Outcome

# --- Goals and outcomes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "op", "limit", "passed"),
    [
        (2.9, "<=", 3, True),
        (3.0, "<=", 3, True),
        (3.1, "<=", 3, False),
        (1500, ">=", 1000, True),
        (999, ">=", 1000, False),
        (7, "==", 7, True),
        (8, "==", 7, False),
    ],
)
def test_it_judges_a_goal(value, op, limit, passed):
    goal = Goal("ratio", value, op, limit, "x")
    assert goal.passed is passed
    assert goal.as_json() == {
        "name": "ratio",
        "value": value,
        "op": op,
        "limit": limit,
        "unit": "x",
        "passed": passed,
    }


def test_it_passes_an_outcome_only_when_every_goal_passes():
    outcome = Outcome("k", "Title", goals=[Goal("a", 1, "<=", 2), Goal("b", 5, "<=", 2)])
    assert not outcome.passed
    assert outcome.as_json()["passed"] is False
    assert [g["passed"] for g in outcome.as_json()["goals"]] == [True, False]
    assert Outcome("k", "No goals").passed


# --- Statistics -----------------------------------------------------------------------------------


def test_it_interpolates_percentiles_between_ranks():
    assert measure.percentile([1, 2, 3, 4], 50) == 2.5
    assert measure.percentile([4, 1, 3, 2], 0) == 1
    assert measure.percentile([4, 1, 3, 2], 100) == 4
    assert measure.percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert measure.percentile([7.0], 95) == 7.0


@pytest.mark.parametrize(("values", "p"), [([], 50), ([1, 2], -1), ([1, 2], 101)])
def test_it_refuses_a_percentile_it_cannot_give(values, p):
    with pytest.raises(ValueError):
        measure.percentile(values, p)


def test_it_summarises_timings():
    assert measure.summary([10, 20, 30, 40]) == {"p50": 25.0, "p95": 38.5, "mean": 25.0, "n": 4}


def test_it_times_after_warming_up():
    calls = []
    times = measure.timed(lambda: calls.append(1), 5, warmup=2)
    assert len(calls) == 7
    assert len(times) == 5
    assert all(t >= 0 for t in times)


def test_it_measures_python_allocations_in_a_block():
    with measure.python_peak() as peak:
        block = bytearray(8 * 1024 * 1024)
        del block
    assert peak.growth_mb >= 7.5


def test_it_measures_the_resident_peak_of_a_block():
    with measure.rss_peak(interval=0.005) as peak:
        block = b"x" * (64 * 1024 * 1024)
        time.sleep(0.05)
        del block
    assert peak.growth_mb >= 48
    assert measure.peak_rss_mb() >= peak.mb * 0.9


@pytest.mark.django_db
def test_it_captures_sql_and_times_it_raw(org, owner, outsider):
    from governance.models import Organisation

    statements = measure.queries_of(lambda: list(Organisation.objects.order_by("name")))
    assert len(statements) == 1
    assert statements[0].startswith("SELECT")
    assert "governance_organisation" in statements[0]
    assert len(measure.raw_sql_ms(statements[0], 4, warmup=1)) == 4
    # Row-level security applies to the raw cursor: in one organisation's scope it sees that
    # organisation's membership (a 50 ms sleep), in the bench's system scope both (100 ms).
    sleep = "SELECT pg_sleep(0.05 * count(*)) FROM governance_membership"
    assert max(measure.raw_sql_ms(sleep, 2, warmup=0, org_id=org.pk)) < 90
    assert min(measure.raw_sql_ms(sleep, 2, warmup=0)) >= 100


# --- The report -----------------------------------------------------------------------------------


def _results(**extra):
    outcome = Outcome(
        "findings_api",
        "API findings list",
        metrics={"p50_ms": 12.3456, "rows": 100, "first": {"p50": 1.5, "n": 20}},
        goals=[
            Goal("app ÷ raw SQL", 2.5, "<=", 3, "x"),
            Goal("queries", 11.0, "<=", 10, "queries"),
        ],
        notes=["a page of 100 | sorted by due date"],
    )
    results = {
        "started_at": "2026-11-21T10:00:00+00:00",
        "seconds": 321.0,
        "scale": {"name": "smoke", "systems": 200},
        "machine": {
            "cpu": "Test CPU",
            "cpus": 2,
            "memory_gb": 8.0,
            "os": "Linux",
            "python": "3.11.7",
            "git": "abc123",
            "postgresql": {"version": "15.20", "shared_buffers": "128 MB"},
            "redis": "7.0.15",
        },
        "database": {"name": "kakehashi_bench", "setup_seconds": 12.0},
        "dataset": {
            "reused": False,
            "built_at": "2026-11-21T10:00:05+00:00",
            "build_seconds": 7.4,
            "counts": {"tables": {"assessments_finding": 22067}, "large_org": {"systems": 200}},
        },
        "workloads": [
            {"name": "reads", "status": "ok", "seconds": 40.0, "outcomes": ["findings_api"]},
            {
                "name": "export",
                "status": "missing",
                "seconds": 0.0,
                "outcomes": [],
                "error": "bench/workloads/export.py does not exist yet",
            },
        ],
        "outcomes": [outcome.as_json()],
        "notes": ["no audit events"],
    }
    results.update(extra)
    return results


def test_it_writes_the_report_as_markdown():
    text = report.markdown(_results())
    assert text.startswith("# Kakehashi benchmark: smoke scale")
    assert "| CPU | Test CPU, 2 CPUs |" in text
    assert "|   shared_buffers | 128 MB |" in text
    assert "| assessments_finding | 22,067 |" in text
    assert "## API findings list (`findings_api`)" in text
    assert "| p50_ms | 12.35 |" in text
    assert "| first | p50 1.50 · n 20 |" in text
    assert "| app ÷ raw SQL | 2.50 x <= 3 x | pass |" in text
    assert "| findings_api | queries | 11 queries <= 10 queries | MISS |" in text
    assert "- a page of 100 | sorted by due date" in text
    assert "| export | missing | 0 | — | bench/workloads/export.py does not exist yet |" in text
    assert "- no audit events" in text


def test_it_escapes_table_cells():
    results = _results()
    results["outcomes"][0]["metrics"] = {"filter": "status=gap|jurisdiction=EU\nsecond line"}
    assert "| filter | status=gap\\|jurisdiction=EU second line |" in report.markdown(results)


def test_it_says_when_nothing_was_measured():
    text = report.markdown(_results(outcomes=[], workloads=[]))
    assert "No goals were measured." in text
    assert "## Workloads" not in text


def test_it_writes_json_and_markdown_files(tmp_path):
    json_path, md_path, text = report.write(tmp_path / "out", _results())
    assert json_path.read_text().startswith("{")
    assert md_path.read_text() == text + "\n"


# --- Which database -------------------------------------------------------------------------------


def test_it_derives_the_bench_database_from_database_url():
    url = db.bench_database_url(
        database_url="postgres://app:secret@db.internal:5433/kakehashi?sslmode=require"
    )
    assert url == "postgres://app:secret@db.internal:5433/kakehashi_bench?sslmode=require"


@pytest.mark.parametrize("name", ["kakehashi_bench", "kakehashi_bench_h1", "kakehashi_bench_ci_2"])
def test_it_accepts_a_bench_database_by_name(name):
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    assert db.bench_database_url(database_url=None, explicit=url) == url


@pytest.mark.parametrize(
    "name", ["kakehashi", "test_kakehashi", "kakehashi_benchmark", "kakehashi_bench-1", "postgres"]
)
def test_it_refuses_a_database_that_is_not_a_bench_database(name):
    with pytest.raises(db.NotABenchDatabase, match="refusing"):
        db.bench_database_url(
            database_url="postgres://postgres@127.0.0.1:5432/kakehashi",
            explicit=f"postgres://postgres@127.0.0.1:5432/{name}",
        )


def test_it_refuses_to_drop_a_database_that_is_not_a_bench_database():
    with pytest.raises(db.NotABenchDatabase):
        db.recreate("postgres://postgres@127.0.0.1:1/kakehashi")


def test_it_needs_a_database_url():
    with pytest.raises(db.NotABenchDatabase):
        db.bench_database_url(database_url=None)
    with pytest.raises(db.NotABenchDatabase):
        db.bench_database_url(database_url=None, explicit="mysql://root@localhost/kakehashi_bench")


def test_it_uses_redis_database_13_unless_told_otherwise():
    assert db.bench_redis_url(redis_url="redis://:pw@127.0.0.1:6380/0") == (
        "redis://:pw@127.0.0.1:6380/13"
    )
    assert db.bench_redis_url(redis_url="redis://127.0.0.1:6379") == "redis://127.0.0.1:6379/13"
    assert db.bench_redis_url(redis_url="redis://x/0", override="redis://y/4") == "redis://y/4"


def test_it_keeps_each_bench_database_in_its_own_workdir():
    assert db.default_workdir("postgres://h/kakehashi_bench", "full").parts[-2:] == (
        "bench",
        "full",
    )
    assert db.default_workdir("postgres://h/kakehashi_bench_h1", "smoke").name == "smoke-h1"


def test_it_runs_the_app_with_production_settings_fit_for_loopback(tmp_path):
    env = db.environment(
        {"PATH": "/bin", "DEBUG": "true"},
        database_url="postgres://h/kakehashi_bench",
        redis_url="redis://h/13",
        workdir=tmp_path,
    )
    assert env["PATH"] == "/bin"
    assert env["DEBUG"] == "false"
    assert env["DATABASE_URL"] == "postgres://h/kakehashi_bench"
    assert env["REDIS_URL"] == "redis://h/13"
    assert len(env["SECRET_KEY"]) >= 50
    assert "testserver" in env["ALLOWED_HOSTS"].split(",")
    for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        assert env[name] == "false"
    assert env["TRUSTED_PROXY_COUNT"] == "0"


# --- The command line -----------------------------------------------------------------------------


def test_it_runs_the_workloads_in_order_by_default():
    args = parse([])
    assert args.scale == "full"
    assert args.only == ["reads", "assess_one", "export", "load", "reassess"]
    assert parse(["--only", "load, reads", "--scale", "smoke"]).only == ["load", "reads"]


def test_it_refuses_an_unknown_workload(capsys):
    with pytest.raises(SystemExit):
        parse(["--only", "reads,nonsense"])
    assert "nonsense" in capsys.readouterr().err


def _bench(tmp_path: Path) -> Bench:
    return Bench(
        scale=SMOKE,
        org=None,
        small_org=None,
        small_orgs=[],
        admin=None,
        small_admin=None,
        api_token="",
        small_api_token="",
        env={},
        workdir=tmp_path,
    )


def test_it_reports_a_missing_workload_and_goes_on(tmp_path):
    entry = run_workload("not_written_yet", _bench(tmp_path), Log(tmp_path / "bench.log"))
    assert entry["status"] == "missing"
    assert entry["error"] == "bench/workloads/not_written_yet.py does not exist yet"
    assert entry["_outcomes"] == []


@pytest.fixture
def workload(monkeypatch):
    """Install bench.workloads.<name> with the given run function."""

    def install(name, run):
        module = types.ModuleType(f"bench.workloads.{name}")
        module.run = run
        monkeypatch.setitem(sys.modules, module.__name__, module)

    return install


def test_it_reports_a_failing_workload_with_its_traceback_in_the_log(tmp_path, workload):
    def run(bench):
        raise RuntimeError("the worker did not answer\nmore detail")

    workload("explodes", run)
    log = Log(tmp_path / "bench.log")
    entry = run_workload("explodes", _bench(tmp_path), log)
    assert entry["status"] == "error"
    assert entry["error"] == ("RuntimeError: the worker did not answer (traceback in bench.log)")
    assert "Traceback" in (tmp_path / "bench.log").read_text()


def test_it_reports_a_workload_that_returns_something_else(tmp_path, workload):
    workload("sloppy", lambda bench: {"p50": 1})
    entry = run_workload("sloppy", _bench(tmp_path), Log(tmp_path / "bench.log"))
    assert entry["status"] == "error"
    assert "not a list of Outcome" in entry["error"]


def test_it_collects_a_workloads_outcomes(tmp_path, workload):
    workload("fine", lambda bench: [Outcome("fine", "Fine", metrics={"n": bench.scale.samples})])
    entry = run_workload("fine", _bench(tmp_path), Log(tmp_path / "bench.log"))
    assert entry["status"] == "ok"
    assert entry["outcomes"] == ["fine"]
    assert entry["_outcomes"][0].metrics == {"n": SMOKE.samples}


# --- The dataset's answers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def releases():
    from assessments.engine import compile_release
    from governance.catalogue.loader import DATA_DIR, read_files

    snapshots = read_files(DATA_DIR).snapshots
    return {code: compile_release(snapshot) for code, snapshot in snapshots.items()}


def test_it_draws_valid_and_varied_answers(releases):
    """Raw draws are mostly distinct (the builder redraws the few repeats) and span tiers."""
    from assessments.engine import evaluate
    from bench.dataset import answers

    current = releases["2026-amended"]
    older = releases["2024-original"]
    rng = random.Random(1)
    seen = set()
    tiers = set()
    for _ in range(150):
        profile = answers.profile(rng)
        cleaned = answers.valid(current, answers.raw_answers(rng, current, profile))
        assert cleaned is not None
        seen.add(repr(sorted(cleaned.items())))
        before = answers.earlier(rng, older, cleaned)
        assert answers.valid(older, before) == before
        tiers.add(evaluate(current, cleaned).eu_tier)
    assert len(seen) >= 140
    assert {"high_risk", "limited", "minimal"} <= tiers


def test_it_fills_every_required_column_of_the_tables_it_loads():
    from bench.dataset.loading import Table, models

    for name, (model, fields) in models().items():
        Table(name, model, fields)  # raises when a NOT NULL column is left out


def test_it_trims_an_older_result_to_part_of_the_engines_json(releases):
    from assessments.engine import evaluate
    from bench.dataset.builder import trimmed
    from tests.factories import HIRING_TOOL_ANSWERS, JAPAN_CHATBOT_ANSWERS

    for answers in (HIRING_TOOL_ANSWERS, JAPAN_CHATBOT_ANSWERS):
        result = evaluate(releases["2026-amended"], answers)
        full = result.to_json()
        assert trimmed(result) == {key: full[key] for key in trimmed(result)}
        assert set(trimmed(result)) == set(full) - {
            "answers",
            "applicable",
            "not_applicable",
            "trail",
        }
