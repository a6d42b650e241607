"""The bench's own processes (bench/processes.py): a real Celery worker and a real gunicorn,
started on the test database and Redis, ready when handed over and gone afterwards; and the
mixed load (bench/workloads/load.py) run end to end for a few seconds, when locust is there.

The processes get the environment the bench gives them (DEBUG off, production settings) and a
queue of their own, so they never take a development worker's tasks.
"""

import dataclasses
import importlib.util
import secrets
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from bench import processes
from bench.core import SMOKE, Bench
from governance import apikeys
from governance.models import Role, User

from .factories import PASSWORD, AISystemFactory, MembershipFactory, OrganisationFactory
from .worker import database_url, new_queue

needs_locust = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None,
    reason="locust is not installed (requirements-bench.txt)",
)


def bench_env(static_root: Path, **extra: str) -> dict[str, str]:
    """What bench.env holds for a run: production settings without TLS on loopback."""
    return {
        "PATH": str(processes.BIN_DIR),
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": new_queue(),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "TRUSTED_PROXY_COUNT": "0",
        "API_RATE": "1000000/min",
        "EMAIL_URL": "dummymail://",
        "STATIC_ROOT": str(static_root),
        **extra,
    }


def make_bench(tmp_path: Path, env: dict[str, str], **fields) -> Bench:
    values = {
        "scale": SMOKE,
        "org": None,
        "small_org": None,
        "small_orgs": [],
        "admin": None,
        "small_admin": None,
        "api_token": "",
        "small_api_token": "",
        "env": env,
        "workdir": tmp_path / "work",
        **fields,
    }
    return Bench(**values)


def processes_with(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


def alive(found: list[psutil.Process]) -> list[psutil.Process]:
    # is_running() also checks the start time, so a reused pid does not count.
    return [p for p in found if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.worker
def test_it_starts_a_worker_that_answers_and_leaves_nothing_behind(tmp_path):
    bench = make_bench(tmp_path, bench_env(tmp_path / "static"))

    with processes.worker(bench, concurrency=2) as node:
        running = processes_with(node)
        # The main process and its two pool processes (forks: the same command line).
        assert len(running) == 3
        assert "ready" in (bench.workdir / "worker.log").read_text()

    assert alive(running) == []
    assert processes_with(node) == []
    assert "Warm shutdown" in (bench.workdir / "worker.log").read_text()


@pytest.mark.worker
def test_it_says_why_a_worker_did_not_start(tmp_path):
    env = bench_env(tmp_path / "static")
    del env["SECRET_KEY"]  # DEBUG off: the settings refuse to load
    bench = make_bench(tmp_path, env)

    with pytest.raises(processes.ProcessError) as raised, processes.worker(bench):
        pytest.fail("the worker cannot have started")

    message = str(raised.value)
    assert "exited with code" in message
    assert "SECRET_KEY must be set" in message  # the log's tail


@pytest.mark.worker
def test_it_serves_the_app_with_gunicorn_and_stops_it(db, tmp_path):
    bench = make_bench(tmp_path, bench_env(tmp_path / "static"))

    with processes.gunicorn(bench, workers=2) as base_url:
        port = base_url.rsplit(":", 1)[1]
        running = processes_with(f"127.0.0.1:{port}")
        assert len(running) == 3  # the master and two workers
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=10) as response:  # noqa: S310
            assert response.status == 200
        # A page renders with DEBUG off (no collectstatic manifest: the plain storage).
        with urllib.request.urlopen(f"{base_url}/accounts/login/", timeout=10) as response:  # noqa: S310
            assert response.status == 200
            assert b'name="password"' in response.read()

    assert alive(running) == []
    assert processes_with(f"127.0.0.1:{port}") == []


def test_it_runs_production_settings_when_static_files_are_collected(tmp_path):
    static = tmp_path / "static"
    assert processes.app_settings({"STATIC_ROOT": str(static)}) == "scripts.chaos.settings"
    static.mkdir()
    (static / "staticfiles.json").write_text("{}")
    assert processes.app_settings({"STATIC_ROOT": str(static)}) == "config.settings"


@pytest.mark.worker
@needs_locust
def test_it_runs_the_mixed_load_end_to_end(committed_catalogue, assess, tmp_path):
    from bench.workloads import load

    owner = MembershipFactory(role=Role.ADMIN)
    org = owner.organisation
    for role in (Role.CONTRIBUTOR, Role.VIEWER):
        MembershipFactory(organisation=org, role=role)
    systems = [AISystemFactory(organisation=org) for _ in range(2)]
    for system in systems:
        assert assess(system, owner).status == "completed"
    _key, token = apikeys.api_key_create(actor=owner, name="bench", scope="write")
    MembershipFactory(organisation=OrganisationFactory(), role=Role.ADMIN)  # never signed in as
    passwords_before = dict(User.objects.values_list("pk", "password"))
    scale = dataclasses.replace(SMOKE, load_users=2, load_seconds=4)
    bench = make_bench(
        tmp_path, bench_env(tmp_path / "static"), scale=scale, org=org, api_token=token
    )

    [outcome] = load.run(bench)

    assert outcome.key == "mixed_load"
    metrics = outcome.metrics
    assert metrics["requests"] > 0
    assert metrics["errors"] == 0, outcome.notes
    # One browser user and one API client: one member signed in before the load.
    assert metrics["sign-ins before the load"] == 1
    assert any(name.startswith("GET web ") for name in metrics)
    assert any(name.startswith("GET API ") for name in metrics)
    assert metrics["p95 ms"] is not None
    assert [goal.name for goal in outcome.goals] == ["error rate", "p95, all requests"]
    # The members' passwords are theirs again, the data file is gone, nothing is left running.
    assert dict(User.objects.values_list("pk", "password")) == passwords_before
    assert not (bench.workdir / load.DATA_FILE).exists()
    assert processes_with(str(bench.workdir)) == []


# --- The mixed load's arithmetic (no process started) --------------------------------------


def entry(name: str, times: dict[int, int], failures: int = 0, method: str = "GET") -> dict:
    return {
        "method": method,
        "name": name,
        "requests": sum(times.values()),
        "failures": failures,
        "max_ms": float(max(times)),
        "response_times": {str(ms): n for ms, n in times.items()},
    }


def test_it_computes_percentiles_as_locust_does():
    from bench.workloads.load import percentile

    # Never import locust here: it monkey-patches the test process (gevent). By its definition
    # (stats.calculate_response_time_percentile) p95 of these 100 is the 96th time: 400 ms.
    histogram = {10: 50, 20: 30, 90: 15, 400: 4, 2000: 1}
    expected = {0.5: 20, 0.8: 90, 0.95: 400, 0.99: 2000, 1.0: 2000}
    assert {p: percentile(histogram, 100, p) for p in expected} == expected
    assert percentile({}, 0, 0.95) is None


def test_it_sums_up_the_load_overall_and_per_group_and_lists_the_errors():
    from bench.workloads.load import outcome

    result = {
        "started": 1000.0,
        "last_request": 1010.0,
        "entries": [
            entry("API findings list", {40: 95, 60: 5}),
            entry("web dashboard", {100: 98}, failures=2),
            entry("API finding PATCH", {1800: 15}, failures=1, method="PATCH"),
        ],
        "errors": [
            {"method": "GET", "name": "web dashboard", "error": "HTTP 500", "count": 2},
            {"method": "PATCH", "name": "API finding PATCH", "error": "HTTP 412", "count": 1},
        ],
        "exceptions": [{"message": "KeyError('results')", "count": 1}],
    }
    context = {
        "users": 4,
        "seconds": 10,
        "web_workers": 2,
        "roles": ["contributor", "viewer"],
        "sign_in_ms": [900.0, 400.0, 500.0],
        "passwords": "the dataset's members' password",
        "api_rate": "1000000/min",
        "settings": "config.settings",
    }

    result_outcome = outcome(result, runs=Counter(completed=2, queued=1), context=context)

    metrics = result_outcome.metrics
    assert metrics["requests"] == 213
    assert metrics["requests/s"] == 21.3
    assert metrics["p50 ms"] == 100.0
    assert metrics["p95 ms"] == 1800.0  # the 15 slowest of 213 are more than 5 %
    assert metrics["max ms"] == 1800.0
    assert metrics["errors"] == 4  # 2 + 1 failures and the locustfile's exception
    assert metrics["error rate"] == round(4 / 213, 5)
    assert metrics["sign-ins before the load"] == 3
    assert metrics["sign-in ms (median, max)"] == "500, 900"
    assert metrics["assessments started"] == 3
    assert metrics["assessments completed"] == 2
    assert metrics["GET web dashboard"] == "n=98 p50/p95/p99=100/100/100 ms, errors 2"
    assert metrics["PATCH API finding PATCH"] == "n=15 p50/p95/p99=1800/1800/1800 ms, errors 1"
    error_rate, p95 = result_outcome.goals
    assert (error_rate.name, error_rate.passed) == ("error rate", False)
    assert (p95.name, p95.value, p95.passed) == ("p95, all requests", 1800.0, False)
    notes = "\n".join(result_outcome.notes)
    assert "error: 2x GET web dashboard: HTTP 500" in notes
    assert "error: 1x PATCH API finding PATCH: HTTP 412" in notes
    assert "exception (counted as an error): 1x KeyError('results')" in notes
    assert "completed 2, queued 1" in notes


def test_it_takes_the_roles_in_turn_when_choosing_members():
    from bench.workloads.load import pick_members

    class Member:
        def __init__(self, role: str, n: int):
            self.role, self.n = role, n

    members = [Member("contributor", n) for n in range(5)] + [
        Member("admin", 0),
        Member("viewer", 0),
        Member("compliance_officer", 0),
    ]

    picked = pick_members(members, 6)

    assert [(m.role, m.n) for m in picked] == [
        ("contributor", 0),
        ("compliance_officer", 0),
        ("viewer", 0),
        ("admin", 0),
        ("contributor", 1),
        ("contributor", 2),
    ]


def test_it_signs_in_with_the_datasets_password_without_changing_anyone(db):
    from bench.workloads.load import sign_in_password

    members = [MembershipFactory(role=Role.CONTRIBUTOR) for _ in range(2)]
    before = dict(User.objects.values_list("pk", "password"))

    password, _restore, whose = sign_in_password(PASSWORD, members)

    assert (password, whose) == (PASSWORD, "the dataset's members' password")
    assert dict(User.objects.values_list("pk", "password")) == before


def test_it_gives_members_a_password_for_the_run_and_takes_it_back(db):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from bench.workloads.load import sign_in_password

    members = [MembershipFactory(role=Role.CONTRIBUTOR) for _ in range(2)]
    bystander = MembershipFactory(role=Role.CONTRIBUTOR)
    before = dict(User.objects.values_list("pk", "password"))

    password, restore, whose = sign_in_password("not the password", members)

    assert password != "not the password"
    assert "random password" in whose
    for member in members:
        member.user.refresh_from_db()
        assert PBKDF2PasswordHasher().verify(password, member.user.password)
    bystander.user.refresh_from_db()
    assert bystander.user.password == before[bystander.user.pk]
    restore()
    assert dict(User.objects.values_list("pk", "password")) == before
