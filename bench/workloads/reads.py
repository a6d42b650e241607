"""The read paths people wait on: the API findings list, the system detail (page and API) and
the dashboard.

Each is timed in-process (django.test.Client, the full middleware stack, DEBUG off), and its SQL
is captured and compared: against the same request in a small organisation (the query count must
not grow with the data), and against the database's own time for the same SQL executed raw on
the same connection, in the same row-level-security scope as the request, so the ratio is the
cost of everything that is not that SQL (Python, serialising, middleware, the request's other
round trips). Request and raw samples alternate, so a shared machine's drifting load falls on
both sides alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Count
from django.urls import reverse

from bench.core import Bench, Goal, Outcome
from bench.measure import percentile, queries_of, raw_sql_ms, summary, timed

FINDINGS_PAGE = 100
# The findings list is read as a ticketing integration reads it: the open gaps of one
# jurisdiction, soonest due first, page after page.
FINDINGS_FILTER = {"status": "gap", "jurisdiction": "EU", "ordering": "due_date"}
DEEP_PAGES = 50  # `next` links followed before the deep page is timed
FINDINGS_RATIO = 3.0  # app time ÷ raw SQL of the same page
DASHBOARD_RATIO = 2.0  # dashboard p95 ÷ raw p95 of its aggregate queries
DASHBOARD_QUERIES = 10
TIMES = "×"  # noqa: RUF001 (the unit, as the report prints it)


def run(bench: Bench) -> list[Outcome]:
    return [findings_api(bench), system_detail(bench), dashboard(bench)]


# --- Helpers ---------------------------------------------------------------------------------


def _get(client, url: str) -> Callable[[], Any]:
    def call():
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {response.content[:300]!r}")
        return response

    return call


def _ms(prefix: str, values: list[float]) -> dict[str, float]:
    """{prefix_p50_ms, prefix_p95_ms, prefix_mean_ms}."""
    return {f"{prefix}_{k}_ms": v for k, v in summary(values).items() if k != "n"}


def _paired(call: Callable[[], Any], sql: list[str], samples: int, org) -> tuple[list, list]:
    """(request ms, raw SQL ms) per sample, taken in turn so that both see the same machine (a
    shared machine's load drifts between blocks of samples). The raw side runs the statements
    `sql` one after another with the raw cursor in `org`'s row-level-security scope (the scope
    its requests run in, so both sides pay for the same policies), all rows fetched; its
    sample is their sum."""
    for _ in range(3):
        call()
        for statement in sql:
            raw_sql_ms(statement, 1, warmup=0, org_id=org.pk)
    app, raw = [], []
    for _ in range(samples):
        app += timed(call, 1, warmup=0)
        raw.append(sum(raw_sql_ms(s, 1, warmup=0, org_id=org.pk)[0] for s in sql))
    return app, raw


def _count_goal(name: str, large: int, small: int) -> Goal:
    return Goal(name, float(large), "==", float(small), "queries")


# --- API findings list -----------------------------------------------------------------------


def _findings_url(org, **extra: str) -> str:
    from django.utils.http import urlencode

    path = reverse("api_findings", kwargs={"org_code": org.code})
    return f"{path}?{urlencode({**FINDINGS_FILTER, 'page_size': FINDINGS_PAGE, **extra})}"


def _page_query(sql: list[str]) -> str:
    """The statement that reads the page's rows: the last one over the findings table."""
    rows = [s for s in sql if 'FROM "assessments_finding"' in s]
    if not rows:
        raise RuntimeError("no query over assessments_finding in the request")
    return rows[-1]


def findings_api(bench: Bench) -> Outcome:
    n = bench.scale.samples
    client = bench.api_client()
    first_url = _findings_url(bench.org)
    first = _get(client, first_url)
    body = first().json()
    rows_first = len(body["results"])

    url, followed = first_url, 0
    while followed < DEEP_PAGES and body["next"]:
        url = body["next"]
        body = _get(client, url)().json()
        followed += 1
    deep = _get(client, url)

    first_sql = queries_of(first)
    deep_sql = queries_of(deep)
    first_ms, first_raw = _paired(first, [_page_query(first_sql)], n, bench.org)
    deep_ms, deep_raw = _paired(deep, [_page_query(deep_sql)], n, bench.org)

    small = bench.api_client(bench.small_api_token)
    small_call = _get(small, _findings_url(bench.small_org))
    small_call()
    small_sql = queries_of(small_call)

    deep_ratio = percentile(deep_ms, 50) / max(percentile(deep_raw, 50), 1e-6)
    first_ratio = percentile(first_ms, 50) / max(percentile(first_raw, 50), 1e-6)
    metrics = {
        "page_size": FINDINGS_PAGE,
        "rows_first_page": rows_first,
        "pages_followed": followed,
        "rows_deep_page": len(deep().json()["results"]),
        **_ms("first", first_ms),
        **_ms("first_raw", first_raw),
        **_ms("deep", deep_ms),
        **_ms("deep_raw", deep_raw),
        "first_ratio_p50": round(first_ratio, 2),
        "deep_ratio_p50": round(deep_ratio, 2),
        "queries": len(first_sql),
        "queries_deep": len(deep_sql),
        "queries_small_org": len(small_sql),
        "samples": n,
    }
    return Outcome(
        key="findings_api",
        title="API findings list",
        metrics=metrics,
        goals=[
            Goal(
                "deep page: app ÷ raw SQL (p50)", round(deep_ratio, 2), "<=", FINDINGS_RATIO, TIMES
            ),
            Goal(
                "first page: app ÷ raw SQL (p50)",
                round(first_ratio, 2),
                "<=",
                FINDINGS_RATIO,
                TIMES,
            ),
            _count_goal("queries: large org == small org", len(first_sql), len(small_sql)),
            _count_goal("queries: deep page == first page", len(deep_sql), len(first_sql)),
        ],
        notes=[
            f"GET {first_url} with the large organisation's API key (page of {FINDINGS_PAGE}), "
            f"and the page reached by following `next` {followed} times; {n} timed requests "
            "each after 3 untimed, each followed by one raw run of its page's SQL.",
            "Raw SQL: the request's statement over assessments_finding (the page's rows, "
            "captured from the same request), run with the raw psycopg cursor of the same "
            "connection, all rows fetched, in the organisation's row-level-security scope. The "
            "ratio is the request's p50 over that statement's p50; the request's other query "
            "(the API key) and its scope and audit settings are not in the raw time.",
            "Query counts: the same filter and page size with the small organisation's key.",
        ],
    )


# --- System detail ---------------------------------------------------------------------------


def _busiest_system(org):
    """The organisation's active system with the most findings in its latest assessment."""
    from assessments.models import Finding

    row = (
        Finding.objects.filter(organisation=org, assessment__latest=True)
        .filter(system__archived_at__isnull=True)
        .values("system")
        .annotate(n=Count("id"))
        .order_by("-n", "system")
        .first()
    )
    if row is None:
        raise RuntimeError(f"no assessed system in {org}")
    from governance.models import AISystem

    return AISystem.objects.get(pk=row["system"]), row["n"]


def system_detail(bench: Bench) -> Outcome:
    n = bench.scale.samples
    system, findings = _busiest_system(bench.org)
    small_system, _ = _busiest_system(bench.small_org)

    def urls(org, code) -> tuple[str, str]:
        kwargs = {"org_code": org.code, "system_code": code}
        return reverse("system_detail", kwargs=kwargs), reverse("api_system", kwargs=kwargs)

    page_url, api_url = urls(bench.org, system.code)
    small_page_url, small_api_url = urls(bench.small_org, small_system.code)
    page = _get(bench.web_client(), page_url)
    api = _get(bench.api_client(), api_url)
    small_page = _get(bench.web_client(bench.small_admin), small_page_url)
    small_api = _get(bench.api_client(bench.small_api_token), small_api_url)
    for call in (page, api, small_page, small_api):
        call()

    page_ms, api_ms = timed(page, n), timed(api, n)
    counts = {
        name: len(queries_of(call))
        for name, call in (
            ("page", page),
            ("api", api),
            ("page_small", small_page),
            ("api_small", small_api),
        )
    }
    metrics = {
        "findings_of_system": findings,
        **_ms("page", page_ms),
        **_ms("api", api_ms),
        "queries_page": counts["page"],
        "queries_page_small_org": counts["page_small"],
        "queries_api": counts["api"],
        "queries_api_small_org": counts["api_small"],
        "samples": n,
    }
    return Outcome(
        key="system_detail",
        title="System detail (page and API)",
        metrics=metrics,
        goals=[
            _count_goal(
                "page queries: large org == small org", counts["page"], counts["page_small"]
            ),
            _count_goal("API queries: large org == small org", counts["api"], counts["api_small"]),
        ],
        notes=[
            f"The system page and GET {api_url} of the large organisation's system with the "
            f"most current findings ({findings}), as its admin and with its API key; {n} timed "
            "requests each after 3 untimed.",
            "Query counts compared with the small organisation's busiest system, as its admin "
            "and with its key. No time goal: p50 and p95 are reported.",
        ],
    )


# --- Dashboard -------------------------------------------------------------------------------


def dashboard(bench: Bench) -> Outcome:
    from assessments import dashboard as board
    from assessments.actions import today_for

    n = bench.scale.samples
    url = reverse("dashboard", kwargs={"org_code": bench.org.code})
    page = _get(bench.web_client(), url)
    page()
    page_sql = queries_of(page)
    # The aggregates: the statements of the `dashboard()` call the page makes.
    today = today_for(bench.org)
    aggregate_sql = queries_of(lambda: board.dashboard(bench.org, today))
    missing = [s for s in aggregate_sql if s not in page_sql]
    page_ms, raw = _paired(page, aggregate_sql, n, bench.org)

    small_url = reverse("dashboard", kwargs={"org_code": bench.small_org.code})
    small = _get(bench.web_client(bench.small_admin), small_url)
    small()
    small_sql = queries_of(small)

    ratio = percentile(page_ms, 95) / max(percentile(raw, 95), 1e-6)
    metrics = {
        **_ms("page", page_ms),
        **_ms("aggregates_raw", raw),
        "ratio_p95": round(ratio, 2),
        "queries": len(page_sql),
        "aggregate_queries": len(aggregate_sql),
        "queries_small_org": len(small_sql),
        "samples": n,
    }
    notes = [
        f"GET {url} as the large organisation's admin; {n} timed requests after 3 untimed, "
        "each followed by one raw run of the aggregates.",
        f"Raw SQL: the {len(aggregate_sql)} statements assessments.dashboard.dashboard() runs "
        "(the page's other queries are the session, user, membership, organisation switcher "
        "and notification badge), run one after another with the raw psycopg cursor in the "
        "organisation's row-level-security scope, all rows fetched; a sample is their sum. "
        "The ratio is the page's p95 over that sum's p95.",
    ]
    if missing:
        shown = "; ".join(s[:200] for s in missing)
        notes.append(f"{len(missing)} aggregate statements are not the page's: {shown}")
    return Outcome(
        key="dashboard",
        title="Dashboard",
        metrics=metrics,
        goals=[
            Goal("page p95 ÷ raw aggregates p95", round(ratio, 2), "<=", DASHBOARD_RATIO, TIMES),
            Goal("queries", float(len(page_sql)), "<=", float(DASHBOARD_QUERIES), "queries"),
            _count_goal("queries: large org == small org", len(page_sql), len(small_sql)),
        ],
        notes=notes,
    )
