"""Mixed load: locust, in a process of its own, against gunicorn, with a real Celery worker.

API clients and signed-in browser users (bench/locustfile.py) work on the large organisation
for `scale.load_seconds` with `scale.load_users` users; the outcome is the request count and
rate, p50/p95/p99 overall and per endpoint group, and the errors, listed.

The browser users' members sign in through the login form before the clock starts, one after
the other (timed and reported apart): started together inside the load, their sign-ins (PBKDF2,
about half a second of CPU each) would all land in its first seconds, far more often than
people sign in, and the requests queued behind them would dominate a short run's p95. Each
browser user then carries one member's session cookie; the members are contributors,
compliance officers, viewers and admins taken in turn, none with MFA or staff status, and sign
in with the dataset's members' password (`sign_in_password`). The login throttle counts failed
sign-ins only. What the users need goes to locust in a file only its owner can read, deleted
after the run.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import itertools
import json
import math
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import processes
from bench.core import Bench, Goal, Outcome

KEY = "mixed_load"
TITLE = "Mixed load (locust against gunicorn)"
LOCUSTFILE = Path(__file__).resolve().parent.parent / "locustfile.py"
DATA_FILE = "load-data.json"
RESULT_FILE = "locust-result.json"
CSV_PREFIX = "locust"  # locust's own CSV files, left in the workdir for reading
WORKER_CONCURRENCY = 2
SYSTEMS_SAMPLE = 1000  # system codes handed to the users
MAX_ERROR_RATE = 0.001
MAX_P95_MS = 500
STOP_TIMEOUT_S = 5  # locust lets a user finish its task this long after the time is up
SETTLE_S = 30  # after the load, how long queued assessments get to finish before counting
ROLE_ORDER = ("contributor", "compliance_officer", "viewer", "admin")
SHARED_PASSWORD = "BENCH_PASSWORD"  # noqa: S105 (the bench.env variable that holds it)
MAX_LISTED_ERRORS = 10
PERCENTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run(bench: Bench) -> list[Outcome]:
    from django.conf import settings
    from django.utils import timezone

    from governance import rls

    users = bench.scale.load_users
    seconds = bench.scale.load_seconds
    web_workers = cores()
    result_file = bench.workdir / RESULT_FILE
    result_file.unlink(missing_ok=True)
    data_file = bench.workdir / DATA_FILE
    with rls.everything():
        data, members = prepare(bench, users)
        password, restore_passwords, whose = sign_in_password(
            bench.env.get(SHARED_PASSWORD, ""), members
        )
    started_at = timezone.now()
    try:
        with (
            processes.worker(bench, concurrency=WORKER_CONCURRENCY),
            processes.gunicorn(bench, workers=web_workers) as base_url,
        ):
            warm_up(base_url, api_requests(data), web_workers)
            sessions, sign_in_ms = sign_in_all(base_url, members, password)
            data["session_cookie"] = settings.SESSION_COOKIE_NAME
            data["sessions"] = sessions
            warm_up(base_url, page_requests(data), web_workers)
            write_private(data_file, data)
            run_locust(bench, base_url, data_file, result_file, users=users, seconds=seconds)
            with rls.everything():
                runs = assessments_since(bench.org, started_at, settle=SETTLE_S)
    finally:
        data_file.unlink(missing_ok=True)
        with rls.everything():
            restore_passwords()
    if not result_file.exists():
        raise RuntimeError(f"locust wrote no {result_file}: see locust.log in the workdir")
    context = {
        "users": users,
        "seconds": seconds,
        "web_workers": web_workers,
        "roles": [session["role"] for session in sessions],
        "sign_in_ms": sign_in_ms,
        "passwords": whose,
        "api_rate": bench.env.get("API_RATE", "the default (600/min)"),
        "settings": processes.app_settings(bench.env),
    }
    return [outcome(json.loads(result_file.read_text()), runs=runs, context=context)]


# --- Before: what the users need ---------------------------------------------------------------


def prepare(bench: Bench, users: int) -> tuple[dict[str, Any], list[Any]]:
    """The data file's content so far, and the members the browser users will be."""
    from assessments.dashboard import current_regulations
    from governance.models import AISystem, Membership
    from governance.security.models import TotpDevice

    org = bench.org
    systems = list(
        AISystem.objects.for_org(org)
        .active()
        .order_by("?")
        .values_list("code", flat=True)[:SYSTEMS_SAMPLE]
    )
    with_mfa = TotpDevice.objects.values("user_id")
    memberships = (
        Membership.objects.for_org(org)
        .filter(user__is_active=True, user__is_staff=False)
        .exclude(user_id__in=with_mfa)
        .select_related("user")
        .order_by("user__email")
    )
    # locust runs as many browser users as API clients (their weights are equal), give or take one.
    members = pick_members(list(memberships), max(1, math.ceil(users / 2)))
    if not systems or not members:
        raise RuntimeError(
            f"the large organisation has {len(systems)} active systems and {len(members)} members "
            "who can sign in without MFA; the mixed load needs both"
        )
    data = {
        "org": str(org.code),
        "api_token": bench.api_token,
        "systems": [str(code) for code in systems],
        "regulations": list(current_regulations()),
        "users": users,
        "seed": 7,
    }
    return data, members


def pick_members(memberships: list[Any], count: int) -> list[Any]:
    """Up to `count` members, the roles taken in turn (ROLE_ORDER), so a few browser users
    already see the app as different roles do."""
    by_role: dict[str, list[Any]] = {}
    for membership in memberships:
        by_role.setdefault(membership.role, []).append(membership)
    queues = [by_role.get(role, []) for role in ROLE_ORDER]
    queues += [rows for role, rows in by_role.items() if role not in ROLE_ORDER]
    ordered = [m for row in itertools.zip_longest(*queues) for m in row if m is not None]
    return ordered[:count]


def sign_in_password(shared: str, members: list[Any]) -> tuple[str, Callable[[], None], str]:
    """The password the members sign in with, what undoes any change made for it, and a note
    on which it is.

    The dataset gives every member one password (bench.env BENCH_PASSWORD); when it does not
    open every chosen member's account (a dataset built otherwise), the members get a random
    one for the run, hashed as production hashes (PBKDF2), and their old hashes back after.
    """
    from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password

    from governance.models import User

    hashes = {m.user.password for m in members}  # the dataset's members share one hash
    if shared and all(check_password(shared, encoded) for encoded in hashes):
        return shared, lambda: None, "the dataset's members' password"
    password = secrets.token_urlsafe(24)
    hasher = PBKDF2PasswordHasher()  # production's; the bench process may run test settings
    encoded = hasher.encode(password, hasher.salt())
    previous = dict(
        User.objects.filter(pk__in=[m.user_id for m in members]).values_list("pk", "password")
    )
    User.objects.filter(pk__in=previous).update(password=encoded)

    def restore() -> None:
        for pk, old in previous.items():
            User.objects.filter(pk=pk).update(password=old)

    note = "a random password set for the run (PBKDF2), their old hashes put back afterwards"
    return password, restore, note


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 302 itself is the answer


def sign_in(base_url: str, email: str, password: str) -> tuple[dict[str, str], float]:
    """Sign in through the login form as a browser does (the form, its CSRF cookie, the POST);
    the session's cookies and the POST's time in milliseconds."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirects())
    login = f"{base_url}/accounts/login/"
    with opener.open(login, timeout=30) as response:
        response.read()
    cookies = {cookie.name: cookie.value or "" for cookie in jar}
    form = urllib.parse.urlencode(
        {
            "username": email,
            "password": password,
            "csrfmiddlewaretoken": cookies.get("csrftoken", ""),
        }
    ).encode()
    started = time.perf_counter()
    try:
        with opener.open(login, data=form, timeout=60) as response:
            status, location = response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as exc:  # the 302, unfollowed, and any error
        status, location = exc.code, exc.headers.get("Location", "")
    elapsed = (time.perf_counter() - started) * 1000
    if status != 302 or "/accounts/" in location:
        raise RuntimeError(
            f"signing in as {email} failed: HTTP {status}, to {location or '-'} (the password, "
            "MFA or a lockout; see gunicorn.log)"
        )
    return {cookie.name: cookie.value or "" for cookie in jar}, elapsed


def sign_in_all(
    base_url: str, members: list[Any], password: str
) -> tuple[list[dict[str, str]], list[float]]:
    """Each member signed in, one after the other: their session cookies, and the times."""
    from django.conf import settings

    sessions, times = [], []
    for member in members:
        cookies, elapsed = sign_in(base_url, member.user.email, password)
        sessions.append({"role": member.role, "cookie": cookies[settings.SESSION_COOKIE_NAME]})
        times.append(elapsed)
    return sessions, times


def write_private(path: Path, data: dict[str, Any]) -> None:
    """The data file holds an API key and session cookies: readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as stream:
        json.dump(data, stream)


# --- During: locust ----------------------------------------------------------------------------


Request = tuple[str, dict[str, str]]  # a path, and headers


def api_requests(data: dict[str, Any]) -> list[Request]:
    api = f"/api/v1/orgs/{data['org']}/"
    key = {"Authorization": f"Bearer {data['api_token']}"}
    return [
        ("/accounts/login/", {}),
        (f"{api}findings/?page_size=1", key),
        (f"{api}actions/?page_size=1", key),
        (f"{api}systems/{data['systems'][0]}/", key),
    ]


def page_requests(data: dict[str, Any]) -> list[Request]:
    web = f"/o/{data['org']}/"
    cookie = {"Cookie": f"{data['session_cookie']}={data['sessions'][0]['cookie']}"}
    return [
        (f"{web}dashboard/", cookie),
        (f"{web}findings/", cookie),
        (f"{web}systems/", cookie),
        (f"{web}systems/{data['systems'][0]}/", cookie),
    ]


def warm_up(base_url: str, requests: list[Request], web_workers: int) -> None:
    """The requests, several at a time so that every gunicorn worker gets some, before the
    clock starts: a fresh process's first page or API call imports and compiles what later
    ones reuse (measured: 200 ms against 20 ms for the login page)."""

    def fetch(request: Request) -> None:
        path, headers = request
        # Failures are the load's to count, not the warm-up's.
        with contextlib.suppress(OSError):
            req = urllib.request.Request(base_url + path, headers=headers)  # noqa: S310
            with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310 (loopback)
                response.read()

    with ThreadPoolExecutor(max_workers=2 * web_workers) as pool:
        list(pool.map(fetch, requests * 2 * web_workers))


def run_locust(
    bench: Bench, base_url: str, data_file: Path, result_file: Path, *, users: int, seconds: int
) -> None:
    """locust, headless, in a process of its own; the locustfile writes `result_file`."""
    spawn_rate = max(1, math.ceil(users / 2))  # every user running within about two seconds
    argv = [
        str(processes.BIN_DIR / "locust"), "-f", str(LOCUSTFILE), "--headless",
        "-u", str(users), "-r", str(spawn_rate), "-t", f"{seconds}s",
        "--host", base_url, "--csv", str(bench.workdir / CSV_PREFIX), "--only-summary",
        "--stop-timeout", str(STOP_TIMEOUT_S), "--exit-code-on-error", "0",
    ]  # fmt: skip
    log = bench.workdir / "locust.log"
    proc, offset = processes.spawn(
        argv,
        env={
            **bench.env,
            "KAKEHASHI_LOAD_DATA": str(data_file),
            "KAKEHASHI_LOAD_RESULT": str(result_file),
        },
        log=log,
    )
    try:
        code = proc.wait(timeout=seconds + STOP_TIMEOUT_S + 120)
    except subprocess.TimeoutExpired:
        raise RuntimeError(
            f"locust did not finish in time; {log}:\n{processes.log_tail(log, offset)}"
        ) from None
    finally:
        processes.stop(proc)  # anything it left in its group
    if code != 0:
        raise RuntimeError(
            f"locust failed (exit code {code}); {log}:\n{processes.log_tail(log, offset)}"
        )


def assessments_since(org: Any, started_at: Any, *, settle: float) -> Counter[str]:
    """The statuses of the runs asked for since `started_at`, once none is queued or running
    (or `settle` seconds have passed)."""
    from assessments.models import Assessment

    deadline = time.monotonic() + settle
    while True:
        rows = Assessment.objects.for_org(org).filter(created_at__gte=started_at)
        statuses = Counter(rows.values_list("status", flat=True))
        if not statuses.keys() & {"queued", "running"} or time.monotonic() > deadline:
            return statuses
        time.sleep(1)


# --- After: the numbers ------------------------------------------------------------------------


def percentile(histogram: dict[int, int], count: int, p: float) -> float | None:
    """As locust computes it (stats.calculate_response_time_percentile), so that the numbers
    match its own reports: the response time within which `p` (0-1) of `count` requests
    finished, from {milliseconds, rounded by locust: requests}."""
    if count == 0:
        return None
    within = int(count * p)
    processed = 0
    for ms in sorted(histogram, reverse=True):
        processed += histogram[ms]
        if count - processed <= within:
            return float(ms)
    return 0.0


def latencies(entries: list[dict[str, Any]]) -> dict[str, float | None]:
    histogram: Counter[int] = Counter()
    for entry in entries:
        histogram.update({int(ms): n for ms, n in entry["response_times"].items()})
    count = sum(histogram.values())
    return {name: percentile(histogram, count, p) for name, p in PERCENTILES}


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def outcome(result: dict[str, Any], *, runs: Counter[str], context: dict[str, Any]) -> Outcome:
    entries = result["entries"]
    requests = sum(entry["requests"] for entry in entries)
    if requests == 0:
        raise RuntimeError("locust recorded no request: see locust.log in the workdir")
    exceptions = sum(row["count"] for row in result["exceptions"])
    errors = sum(entry["failures"] for entry in entries) + exceptions
    error_rate = errors / requests
    duration = max((result["last_request"] or 0) - result["started"], 1e-9)
    overall = latencies(entries)
    sign_ins = sorted(context["sign_in_ms"])
    metrics: dict[str, Any] = {
        "users": context["users"],
        "seconds": context["seconds"],
        "gunicorn workers": context["web_workers"],
        "worker processes": WORKER_CONCURRENCY,
        "requests": requests,
        "requests/s": round(requests / duration, 1),
        "p50 ms": overall["p50"],
        "p95 ms": overall["p95"],
        "p99 ms": overall["p99"],
        "max ms": round(max((entry["max_ms"] or 0) for entry in entries), 1),
        "errors": errors,
        "error rate": round(error_rate, 5),
        "sign-ins before the load": len(sign_ins),
        "sign-in ms (median, max)": (
            f"{sign_ins[len(sign_ins) // 2]:.0f}, {sign_ins[-1]:.0f}" if sign_ins else "n/a"
        ),
        "assessments started": sum(runs.values()),
        "assessments completed": runs.get("completed", 0),
    }
    for entry in sorted(entries, key=lambda e: (e["name"], e["method"])):
        group = latencies([entry])
        metrics[f"{entry['method']} {entry['name']}"] = (
            f"n={entry['requests']} p50/p95/p99={_ms(group['p50'])}/{_ms(group['p95'])}/"
            f"{_ms(group['p99'])} ms, errors {entry['failures']}"
        )
    p95 = overall["p95"] if overall["p95"] is not None else math.inf
    goals = [
        Goal("error rate", round(error_rate, 5), "<=", MAX_ERROR_RATE),
        Goal("p95, all requests", p95, "<=", MAX_P95_MS, "ms"),
    ]
    return Outcome(
        key=KEY, title=TITLE, metrics=metrics, goals=goals, notes=notes(result, runs, context)
    )


def notes(result: dict[str, Any], runs: Counter[str], context: dict[str, Any]) -> list[str]:
    settings = context["settings"]
    lines = [
        f"locust in a process of its own: {context['users']} users for {context['seconds']} s, "
        "half API clients with the organisation's read-write key (think time 0.5-2 s), half "
        "browser users (2-6 s); gunicorn with one sync worker per core "
        f"({context['web_workers']}), warmed up by a few requests each before the clock starts; "
        f"a Celery worker of {WORKER_CONCURRENCY} processes.",
        f"The machine's {cores()} cores run gunicorn, PostgreSQL, Redis, the Celery worker and "
        "locust at once: the latencies include that contention.",
        "Browser users carry the sessions of members who signed in through the login form "
        "before the load, one at a time (the sign-in times above: PBKDF2 takes most of them), "
        f"with {context['passwords']}; roles in turn: {', '.join(context['roles'])}.",
        f"API rate limit (API_RATE): {context['api_rate']}. Writes during the load: reviews of "
        "findings whose assessment is still in review (its review state read first) and "
        "priority changes of active actions (PATCH with If-Match after a read; each user "
        "changes only its own share of codes, so no 412 races), and assessment starts (runs "
        f"asked for: {sum(runs.values())}; their statuses after up to {SETTLE_S} s: "
        + (", ".join(f"{status} {n}" for status, n in sorted(runs.items())) or "none")
        + ").",
        "Percentiles as locust computes them (it rounds times above 100 ms to 10 ms and above "
        f"1 s to 100 ms). gunicorn and the worker ran {settings}"
        + (
            ", production's settings less the static files storage (STATIC_ROOT holds no "
            "collectstatic manifest; the load fetches no static file)."
            if settings == processes.PLAIN_STATIC_SETTINGS
            else "."
        ),
    ]
    errors = sorted(result["errors"], key=lambda e: -e["count"])
    lines += [
        f"error: {e['count']}x {e['method']} {e['name']}: {e['error']}"
        for e in errors[:MAX_LISTED_ERRORS]
    ]
    if len(errors) > MAX_LISTED_ERRORS:
        lines.append(f"... and {len(errors) - MAX_LISTED_ERRORS} more kinds of error")
    lines += [
        f"locustfile exception (counted as an error): {row['count']}x {row['message']}"
        for row in result["exceptions"]
    ]
    return lines
