"""The read paths at scale: the findings list, the system page and API, and the dashboard run
the same queries for an organisation of 2 systems as for one of 12; a deep page of the findings
list is read from its index under row-level security; and the list's rows, built without a
serializer, are exactly FindingOut's."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments import dashboard
from assessments.api.runs import FindingList
from assessments.models import Finding, FindingStatus, RemediationAction
from governance import rls
from governance.models import Obligation

from ..conftest import client_for
from ..factories import (
    JAPAN_CHATBOT_ANSWERS,
    AISystemFactory,
    AssessmentFactory,
    FindingFactory,
    RemediationActionFactory,
)
from .conftest import api, make_key

pytestmark = pytest.mark.usefixtures("real_catalogue")


def findings_url(org, **query) -> str:
    path = reverse("api_findings", kwargs={"org_code": org.code})
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def statements(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return [query["sql"] for query in captured.captured_queries]


@pytest.fixture
def grow(org, owner, assess):
    """Add `n` assessed systems (real runs: findings, remediation actions) to the organisation."""
    made = []

    def add(n: int) -> None:
        for _ in range(n):
            answers = dict(JAPAN_CHATBOT_ANSWERS) if len(made) % 3 == 2 else None
            extra = {"answers": answers} if answers else {}
            system = AISystemFactory(organisation=org, name=f"System {len(made)}", **extra)
            assess(system, owner)
            made.append(system)

    add.systems = made
    return add


@pytest.fixture
def reader(owner):
    return api(make_key(owner))


def test_it_lists_findings_in_the_same_queries_at_2_and_12_systems(org, grow, reader):
    grow(2)
    url = findings_url(org, status="gap", jurisdiction="EU", page_size=5)
    reader.get(url)  # the key's last use is recorded once a minute
    small = statements(reader, url)
    grow(10)
    large = statements(reader, url)
    deep = statements(reader, reader.get(reader.get(url).json()["next"]).json()["next"])
    assert len(small) == len(large) == len(deep) == 2, large  # the key, the page


def test_it_shows_a_system_in_the_same_queries_at_2_and_12_systems(org, owner, grow, reader):
    grow(2)
    system = grow.systems[0]
    kwargs = {"org_code": org.code, "system_code": system.code}
    page, detail = reverse("system_detail", kwargs=kwargs), reverse("api_system", kwargs=kwargs)
    browser = client_for(owner)
    browser.get(page)  # compiles the release once
    reader.get(detail)
    small = (statements(browser, page), statements(reader, detail))
    grow(10)
    RemediationActionFactory(system=system, owner=owner.user)
    large = (statements(browser, page), statements(reader, detail))
    assert [len(s) for s in small] == [len(s) for s in large], large


def test_it_shows_the_dashboard_in_the_same_ten_queries_at_2_and_12_systems(org, owner, grow):
    grow(2)
    url = reverse("dashboard", kwargs={"org_code": org.code})
    browser = client_for(owner)
    browser.get(url)
    small = statements(browser, url)
    grow(10)
    assert RemediationAction.objects.filter(organisation=org).exists()
    large = statements(browser, url)
    assert len(small) == len(large) <= 10, large


def test_it_counts_stale_systems_with_the_tiers(org, grow):
    from assessments import services

    grow(3)
    done = grow.systems[1].assessments.get(latest=True)
    done.stale_since = done.release
    done.save()
    tiers, stale = dashboard.system_counts(org)
    assert stale == services.stale_system_count(org) == 1
    assert sum(tiers.values()) == 3


# The rows


@pytest.fixture
def complete(org, owner):
    """A current finding with every field the API shows set."""
    assessment = AssessmentFactory(system=AISystemFactory(organisation=org, name="Hiring"))
    finding = FindingFactory(
        assessment=assessment,
        obligation=Obligation.objects.get(release=assessment.release, code="EU-AIA-ART10"),
        status=FindingStatus.RISK_ACCEPTED,
        justification="Mitigated by a manual review of every rejection.",
        risk_approved_by=owner.user,
        notes="Reviewed with the works council — 2026-09.",
        due_date=dt.date(2026, 10, 1),
        roles=["eu.provider", "eu.deployer"],
    )
    Finding.objects.filter(pk=finding.pk).update(
        updated_at=timezone.now().replace(microsecond=0), updated_by=owner.user
    )
    return finding


def test_it_lists_a_finding_exactly_as_it_reads_one(org, reader, complete):
    detail = reader.get(
        reverse("api_finding", kwargs={"org_code": org.code, "finding_code": complete.code})
    )
    listed = reader.get(findings_url(org)).json()["results"]
    of_run = reader.get(
        reverse(
            "api_assessment_findings",
            kwargs={"org_code": org.code, "assessment_code": complete.assessment.code},
        )
    ).json()["results"]
    expected = list(detail.json().items())
    assert (
        expected[-1][0] == "href"
        and dict(expected)["risk_approver"] == complete.risk_approved_by.email
    )
    assert dict(expected)["updated_at"] is not None and dict(expected)["notes"]
    assert [list(row.items()) for row in listed] == [expected]
    assert [list(row.items()) for row in of_run] == [expected]


# The index


def test_it_sorts_by_the_expression_the_index_holds():
    index = next(i for i in Finding._meta.indexes if i.name == "finding_org_due_sort")
    assert index.expressions[1] == FindingList.orderings["due_date"]


@pytest.mark.parametrize("ordering", ["due_date", "-due_date"])
def test_it_reads_a_deep_page_from_the_index_under_row_level_security(
    org, reader, complete, ordering
):
    # Ties and undated findings, so the cursor has to break ties by id.
    for n in range(4):
        FindingFactory(
            assessment=AssessmentFactory(system=AISystemFactory(organisation=org, name=f"S{n}")),
            due_date=None if n % 2 else complete.due_date,
        )
    url = findings_url(org, page_size=2, ordering=ordering)
    seen, next_url = [], url
    while next_url:
        body = reader.get(next_url).json()
        seen += [row["code"] for row in body["results"]]
        next_url, last = body["next"], next_url
    assert len(seen) == len(set(seen)) == 5

    page = next(s for s in statements(reader, last) if 'FROM "assessments_finding"' in s)
    with rls.scoped(rls.Scope(org_id=org.pk)), connection.cursor() as cursor:
        # A table this small is read whole otherwise; what matters is that the index can
        # start at the cursor for the app's role, whose policies hide other organisations.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + page)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "finding_org_due_sort" in plan, plan
    condition = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert "ROW(CASE WHEN (due_date IS NULL)" in condition, plan
