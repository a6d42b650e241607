"""The compliance dashboard and the organisation's findings list, against data with known counts.

The organisation (Europe/Brussels) is looked at on 10 March 2026. Current findings are those of
each system's latest assessment, archived systems left out:

    system        finding                      status          due         applies from
    Screener (A)  EU 1                         met             -           2025-08-02
                  EU 2                         partially met   2026-03-05  2025-08-02 (overdue)
                  EU 3                         not met         2026-03-20  2025-08-02
                  EU 4                         open            2026-05-15  2026-08-02
                  JP 1                         open            -           2025-08-02
                  JP 2                         not applicable  -           2025-08-02
                  INTL 1                       risk accepted   -           2025-08-02
    Chatbot (B)   EU 1                         open            2026-04-01  2027-12-02
                  EU 2                         not met         2028-01-01  2026-08-02
                  JP 1                         met             -           2025-08-02

Left out: Screener's previous assessment (three not met), an archived system (two not met) and
another organisation's system. A third active system has never been assessed.
"""

import datetime as dt
import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments import dashboard
from assessments.actions import today_for
from assessments.models import Assessment
from governance.models import Role
from tests.conftest import client_for
from tests.factories import (
    AISystemFactory,
    AssessmentFactory,
    FindingFactory,
    MembershipFactory,
    OrganisationFactory,
    RemediationActionFactory,
    UserFactory,
    obligations,
)

NOW = dt.datetime(2026, 3, 10, 11, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 3, 10)
PAST = dt.date(2025, 8, 2)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def add(assessment, obligation, status, *, due=None, applies=PAST, approver=None):
    extra = {}
    if status in ("not_applicable", "risk_accepted"):
        extra["justification"] = "Decided in the risk committee."
    if status == "risk_accepted":
        extra["risk_approved_by"] = approver
    return FindingFactory(
        assessment=assessment,
        obligation=obligation,
        regulation_code=obligation.regulation.code,
        jurisdiction=obligation.regulation.jurisdiction,
        legal_force=obligation.legal_force,
        status=status,
        due_date=due,
        applies_from=applies,
        **extra,
    )


class Known:
    """The data of the module docstring, with handles the tests need."""

    def __init__(self, org, owner, release):
        self.org = org
        eu = obligations(release, "EU", 4)
        jp = obligations(release, "JP", 2)
        intl = obligations(release, "INTL", 1)
        self.eu_code, self.jp_code, self.intl_code = (
            eu[0].regulation.code,
            jp[0].regulation.code,
            intl[0].regulation.code,
        )
        assert {o.regulation.code for o in eu} == {self.eu_code}
        assert {o.regulation.code for o in jp} == {self.jp_code}
        self.screener = AISystemFactory(organisation=org, name="Screener", eu_tier="high_risk")
        older = AssessmentFactory(system=self.screener)
        for obligation in eu[:3]:
            add(older, obligation, "not_met", due=dt.date(2026, 3, 1), applies=dt.date(2026, 8, 2))
        latest = AssessmentFactory(system=self.screener)
        older.refresh_from_db()
        assert not older.latest and latest.latest
        add(latest, eu[0], "met")
        add(latest, eu[1], "partially_met", due=dt.date(2026, 3, 5))
        add(latest, eu[2], "not_met", due=dt.date(2026, 3, 20))
        add(latest, eu[3], "open", due=dt.date(2026, 5, 15), applies=dt.date(2026, 8, 2))
        add(latest, jp[0], "open")
        add(latest, jp[1], "not_applicable")
        add(latest, intl[0], "risk_accepted", approver=owner.user)
        self.chatbot = AISystemFactory(organisation=org, name="Chatbot", eu_tier="limited")
        bot = AssessmentFactory(system=self.chatbot)
        add(bot, eu[0], "open", due=dt.date(2026, 4, 1), applies=dt.date(2027, 12, 2))
        add(bot, eu[1], "not_met", due=dt.date(2028, 1, 1), applies=dt.date(2026, 8, 2))
        add(bot, jp[0], "met")
        self.unassessed = AISystemFactory(organisation=org, name="Planner")
        archived = AISystemFactory(
            organisation=org, name="Old", eu_tier="high_risk", archived_at=timezone.now()
        )
        gone = AssessmentFactory(system=archived)
        add(gone, eu[0], "not_met", due=dt.date(2026, 3, 1), applies=dt.date(2026, 8, 2))
        add(gone, eu[1], "not_met", due=dt.date(2026, 4, 1), applies=dt.date(2026, 8, 2))
        rival = AISystemFactory(name="Rival", eu_tier="prohibited")
        add(AssessmentFactory(system=rival), eu[0], "not_met", due=dt.date(2026, 3, 1))
        RemediationActionFactory(system=rival, due_date=dt.date(2026, 1, 1))
        self.rival_org = rival.organisation

        # Actions: two overdue for Ada, one (done, awaiting verification) for Ben, one without
        # an owner; and some that are not overdue.
        self.ada = MembershipFactory(organisation=org, user__full_name="Ada Lovelace")
        self.ben = MembershipFactory(organisation=org, user__full_name="Ben Okri")
        verifier = MembershipFactory(organisation=org, role=Role.COMPLIANCE_OFFICER)

        def action(due, status="open", owner=None, **extra):
            return RemediationActionFactory(
                system=self.screener, owner=owner, due_date=due, status=status, **extra
            )

        action(dt.date(2026, 3, 1), owner=self.ada.user)
        action(dt.date(2026, 3, 9), "blocked", owner=self.ada.user)
        action(dt.date(2026, 2, 1), "done", owner=self.ben.user, done_by=self.ben.user)
        action(dt.date(2026, 3, 9))
        # Not overdue: closed, due today or later, or without a date.
        action(
            dt.date(2026, 1, 1),
            "verified",
            owner=self.ada.user,
            done_by=self.ada.user,
            verified_by=verifier.user,
        )
        action(dt.date(2026, 1, 1), "cancelled", owner=self.ben.user, cancel_reason="Duplicate")
        action(TODAY, owner=self.ada.user)  # due soon
        action(TODAY + dt.timedelta(days=30), owner=self.ben.user)  # due soon, the last day
        action(TODAY + dt.timedelta(days=31))
        action(None)


@pytest.fixture
def known(frozen, real_catalogue, org, owner):
    return Known(org, owner, real_catalogue)


def url(name, org, **query):
    path = reverse(name, kwargs={"org_code": org.code})
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def listed(client, href) -> int:
    """How many rows the list at `href` holds (all pages)."""
    response = client.get(href)
    assert response.status_code == 200, href
    return response.context["page"].paginator.count


def query(href) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}


def linked(page: str, href: str, count: int) -> bool:
    """The page shows `count` as a link to `href`."""
    pattern = rf'href="{re.escape(html.escape(href))}"[^>]*>\s*{count}\s*</a>'
    return re.search(pattern, page) is not None


# --- The numbers -------------------------------------------------------------------------------


def test_it_counts_the_headline_numbers(known, org):
    board = dashboard.dashboard(org, TODAY)

    numbers = {key: n.count for key, n in board.number.items()}
    assert numbers == {
        "active_systems": 3,
        "assessed_systems": 2,
        "open_gaps": 6,
        "overdue_actions": 4,
        "due_soon": 2,
    }
    assert board.stale.count == 0


def test_it_counts_the_posture_by_jurisdiction_and_regulation(known, org):
    board = dashboard.dashboard(org, TODAY)

    def counts(chart):
        return {
            row.key: [c.count for c in row.cells] + [c.count for c in row.extra] + [row.total.count]
            for row in chart.rows
        }

    # met, partially met, not met, open | not applicable, risk accepted | total
    assert counts(board.posture_jurisdiction) == {
        "EU": [1, 1, 2, 2, 0, 0, 6],
        "JP": [1, 0, 0, 1, 1, 0, 3],
        "INTL": [0, 0, 0, 0, 0, 1, 1],
    }
    assert counts(board.posture_regulation) == {
        known.eu_code: [1, 1, 2, 2, 0, 0, 6],
        known.jp_code: [1, 0, 0, 1, 1, 0, 3],
        known.intl_code: [0, 0, 0, 0, 0, 1, 1],
    }
    eu = board.posture_regulation.rows[0]
    assert eu.title == board.regulations[known.eu_code].short_title
    # Bars share one scale: the longest (EU: 6 counted in the bar) fills the width.
    assert [(s.key, s.x, s.width) for s in eu.segments] == [
        ("met", "0.000", "16.667"),
        ("partially_met", "16.667", "16.667"),
        ("not_met", "33.333", "33.333"),
        ("open", "66.667", "33.333"),
    ]
    # Not applicable and risk accepted close the bar, after the four posture statuses.
    jp = board.posture_jurisdiction.rows[1]
    assert [(s.key, s.x) for s in jp.segments] == [
        ("met", "0.000"),
        ("open", "16.667"),
        ("not_applicable", "33.333"),
    ]
    assert jp.describe == "Japan — Met: 1; Open: 1; Not applicable: 1"


def test_it_counts_systems_by_tier(known, org):
    board = dashboard.dashboard(org, TODAY)

    tiers = {row.key: row.total.count for row in board.tiers.rows}
    assert tiers == {
        "prohibited": 0,
        "high_risk": 1,
        "limited": 1,
        "minimal": 0,
        "out_of_scope": 0,
        "not_in_scope": 0,
        "unassessed": 1,
    }


def test_it_counts_open_gaps_by_due_month(known, org):
    board = dashboard.dashboard(org, TODAY)

    buckets = [(row.label, row.total.count) for row in board.gaps.rows]
    assert buckets[0] == ("Overdue", 1)
    assert buckets[1:4] == [("2026-03", 1), ("2026-04", 1), ("2026-05", 1)]
    assert [label for label, _ in buckets[1:13]][-1] == "2027-02"
    assert all(n == 0 for _, n in buckets[4:13])
    assert buckets[13:] == [("Later", 1), ("No due date", 1)]
    assert sum(n for _, n in buckets) == board.number["open_gaps"].count


def test_it_counts_overdue_actions_by_owner(known, org):
    board = dashboard.dashboard(org, TODAY)

    rows = [(row.label, row.total.count, query(row.total.href)) for row in board.owners.rows]
    assert rows == [
        ("Unassigned", 1, {"owner": "unassigned", "due": "overdue"}),
        ("Ada Lovelace", 2, {"owner": str(known.ada.code), "due": "overdue"}),
        ("Ben Okri", 1, {"owner": str(known.ben.code), "due": "overdue"}),
    ]


def test_it_names_an_owner_who_has_left(known, org):
    RemediationActionFactory(
        system=known.screener, owner=UserFactory(full_name="Cy Twombly"), due_date=PAST
    )

    board = dashboard.dashboard(org, TODAY)

    former = next(row for row in board.owners.rows if row.key == "former")
    assert former.label == "Cy Twombly (no longer a member)"
    assert query(former.total.href) == {"due": "overdue"}
    assert board.number["overdue_actions"].count == 5


def test_it_lists_the_upcoming_legal_dates(known, org):
    board = dashboard.dashboard(org, TODAY)

    dates = [(d.day, d.systems, d.findings, d.regulations) for d in board.dates]
    assert dates == [
        (dt.date(2026, 8, 2), 2, 2, [known.eu_code]),
        (dt.date(2027, 12, 2), 1, 1, [known.eu_code]),
    ]


def test_it_counts_stale_systems(known, org, real_catalogue):
    Assessment.objects.filter(system=known.chatbot, latest=True).update(stale_since=real_catalogue)

    board = dashboard.dashboard(org, TODAY)

    assert board.stale.count == 1
    assert query(board.stale.href) == {"stale": "1"}


# --- Every number links to the list that shows exactly those rows ------------------------------


def test_it_links_each_headline_number_to_its_list(known, org, owner_client):
    page = owner_client.get(url("dashboard", org))

    assert page.status_code == 200
    content = page.content.decode()
    board = page.context["board"]
    for number in [*board.headline, board.stale]:
        assert linked(content, number.href, number.count), number.key
    assert board.number["open_gaps"].href == url("finding_list", org, status="gap")
    assert listed(owner_client, board.number["open_gaps"].href) == 6
    assert listed(owner_client, board.number["active_systems"].href) == 3
    assert listed(owner_client, board.number["assessed_systems"].href) == 2
    assert query(board.number["overdue_actions"].href) == {"due": "overdue"}
    assert listed(owner_client, board.number["overdue_actions"].href) == 4
    assert query(board.number["due_soon"].href) == {"due": "month"}
    assert listed(owner_client, board.number["due_soon"].href) == 2
    assert board.stale.href.startswith(reverse("assessment_list", kwargs={"org_code": org.code}))


def test_it_links_every_posture_number_to_the_findings_behind_it(known, org, owner_client):
    content = owner_client.get(url("dashboard", org)).content.decode()
    board = dashboard.dashboard(org, TODAY)

    checked = 0
    for chart in (board.posture_jurisdiction, board.posture_regulation):
        for row in chart.rows:
            for number in [*row.cells, *row.extra, row.total]:
                assert linked(content, number.href, number.count), (row.key, number.key)
                assert listed(owner_client, number.href) == number.count, number.href
                checked += 1
            for segment in row.segments:
                assert f'<rect class="seg seg-{segment.key}" x="{segment.x}"' in content
    assert checked == 2 * 3 * 7
    eu = board.posture_regulation.rows[0]
    assert query(eu.cells[2].href) == {"regulation": known.eu_code, "status": "not_met"}


def test_it_links_every_due_month_to_exactly_its_gaps(known, org, owner_client):
    content = owner_client.get(url("dashboard", org)).content.decode()
    board = dashboard.dashboard(org, TODAY)

    for row in board.gaps.rows:
        assert linked(content, row.total.href, row.total.count), row.label
        assert listed(owner_client, row.total.href) == row.total.count, row.total.href
    hrefs = {row.label: query(row.total.href) for row in board.gaps.rows}
    assert hrefs["Overdue"] == {"status": "gap", "due": "overdue"}
    # This month counts what is due from today on: the rest is overdue.
    assert hrefs["2026-03"] == {"status": "gap", "due_month": "2026-03", "due_from": "2026-03-10"}
    assert hrefs["2026-04"] == {"status": "gap", "due_month": "2026-04"}
    assert hrefs["Later"] == {"status": "gap", "due_from": "2027-03-01"}
    assert hrefs["No due date"] == {"status": "gap", "due": "none"}


def test_it_links_every_tier_to_the_filtered_systems_list(known, org, owner_client):
    content = owner_client.get(url("dashboard", org)).content.decode()
    board = dashboard.dashboard(org, TODAY)

    for row in board.tiers.rows:
        assert query(row.total.href) == {"tier": row.key}
        assert linked(content, row.total.href, row.total.count)
        assert listed(owner_client, row.total.href) == row.total.count, row.key


def test_it_links_every_legal_date_to_its_findings(known, org, owner_client):
    content = owner_client.get(url("dashboard", org)).content.decode()
    board = dashboard.dashboard(org, TODAY)

    for day in board.dates:
        assert query(day.href) == {"applies_from": day.day.isoformat()}
        assert linked(content, day.href, day.findings)
        assert linked(content, day.href, day.systems)
        assert listed(owner_client, day.href) == day.findings


def test_it_links_the_owner_numbers_to_the_actions_list(known, org, owner_client):
    content = owner_client.get(url("dashboard", org)).content.decode()

    for owner, n in ((known.ada.code, 2), (known.ben.code, 1), ("unassigned", 1)):
        href = url("action_list", org, owner=owner, due="overdue")
        assert linked(content, href, n)
        assert listed(owner_client, href) == n, owner


def test_it_draws_charts_without_scripts_or_inline_styles(known, org, owner_client):
    content = owner_client.get(url("dashboard", org)).content.decode()

    assert "<script" not in content
    assert "style=" not in content
    assert "/static/css/dashboard.css" in content
    assert content.count('role="img"') == content.count('class="chart-bar"') > 0
    # An image holds no link: assistive technology cannot reach one inside it.
    assert not re.search(r'role="img"[^>]*>(?:(?!</svg>).)*<a ', content, re.S)
    assert content.count("<caption>") >= 4
    assert "Posture report (PDF)" in content
    assert url("posture_report_pdf", org, lang="ja") in content


def test_it_judges_overdue_in_the_organisations_time_zone(real_catalogue):
    """At 20:00 UTC on 21 November it is already the 22nd in Tokyo, still the 21st in Brussels."""
    evening = dt.datetime(2026, 11, 21, 20, 0, tzinfo=dt.UTC)
    tokyo = OrganisationFactory(time_zone="Asia/Tokyo")
    brussels = OrganisationFactory(time_zone="Europe/Brussels")
    for org in (tokyo, brussels):
        RemediationActionFactory(
            system=AISystemFactory(organisation=org), due_date=dt.date(2026, 11, 21)
        )

    with time_machine.travel(evening, tick=False):
        overdue = {
            org.time_zone: dashboard.dashboard(org, today_for(org)).number["overdue_actions"].count
            for org in (tokyo, brussels)
        }
        member = MembershipFactory(organisation=tokyo)
        page = client_for(member).get(url("dashboard", tokyo)).context["board"]

    assert overdue == {"Asia/Tokyo": 1, "Europe/Brussels": 0}
    assert page.today == dt.date(2026, 11, 22)
    assert page.number["overdue_actions"].count == 1


def test_it_shows_an_empty_dashboard_before_any_assessment(real_catalogue, org, owner_client):
    page = owner_client.get(url("dashboard", org))

    assert page.status_code == 200
    content = page.content.decode()
    assert "No findings yet." in content
    assert "No action is overdue." in content
    assert page.context["board"].number["active_systems"].count == 0


# --- Query counts ------------------------------------------------------------------------------


def systems_with_findings(release, org, owner, n: int) -> None:
    eu = obligations(release, "EU", 2)
    for i in range(n):
        system = AISystemFactory(organisation=org, eu_tier="high_risk" if i % 2 else "")
        assessment = AssessmentFactory(system=system)
        add(assessment, eu[0], "open", due=TODAY + dt.timedelta(days=i * 20))
        add(assessment, eu[1], "met", applies=TODAY + dt.timedelta(days=i))
        RemediationActionFactory(
            system=system, owner=owner.user, due_date=TODAY - dt.timedelta(days=i + 1)
        )


def queries(client, path: str) -> int:
    client.get(path)  # the first request stores the organisation in the session
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


@pytest.mark.parametrize("name", ["dashboard", "finding_list"])
def test_it_runs_a_fixed_number_of_queries(frozen, real_catalogue, org, owner, name):
    client = client_for(owner)
    path = url(name, org)

    systems_with_findings(real_catalogue, org, owner, 2)
    few = queries(client, path)
    systems_with_findings(real_catalogue, org, owner, 10)
    many = queries(client, path)

    assert few == many
    assert many <= 12


def test_it_filters_the_findings_list_in_a_fixed_number_of_queries(
    frozen, real_catalogue, org, owner
):
    client = client_for(owner)
    systems_with_findings(real_catalogue, org, owner, 2)
    system = AISystemFactory(organisation=org)
    path = url("finding_list", org, status="gap", jurisdiction="EU", system=system.code)

    few = queries(client, path)
    systems_with_findings(real_catalogue, org, owner, 10)

    assert queries(client, path) == few


# --- The findings list -------------------------------------------------------------------------


def test_it_lists_only_current_findings_with_their_columns(known, org, owner_client):
    page = owner_client.get(url("finding_list", org))

    assert page.status_code == 200
    findings = list(page.context["page"].object_list)
    assert len(findings) == 10
    assert {f.system.name for f in findings} == {"Screener", "Chatbot"}
    # Soonest due first, undated last.
    assert [f.due_date for f in findings][:3] == [
        dt.date(2026, 3, 5),
        dt.date(2026, 3, 20),
        dt.date(2026, 4, 1),
    ]
    assert findings[-1].due_date is None
    content = page.content.decode()
    first = findings[0]
    assert (
        reverse("finding_detail", kwargs={"org_code": org.code, "finding_code": first.code})
        in content
    )
    assert first.obligation.title in content
    assert "overdue" in content


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"jurisdiction": "JP"}, 3),
        ({"status": "gap"}, 6),
        ({"status": "met"}, 2),
        ({"status": "gap", "due": "overdue"}, 1),
        ({"due": "none"}, 5),
        ({"due_month": "2026-03"}, 2),
        ({"due_from": "2026-04-01"}, 3),
        ({"applies_from": "2026-08-02"}, 2),
        ({"q": "jp-"}, 3),
    ],
)
def test_it_filters_the_findings(known, org, owner_client, filters, expected):
    assert listed(owner_client, url("finding_list", org, **filters)) == expected


def test_it_filters_the_findings_by_regulation_and_system(known, org, owner_client):
    assert listed(owner_client, url("finding_list", org, regulation=known.jp_code)) == 3
    page = owner_client.get(url("finding_list", org, system=known.chatbot.code))
    assert page.context["page"].paginator.count == 3
    assert "Only the findings of Chatbot." in page.content.decode()


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"due_month": "2026-13"}, "Enter a month as YYYY-MM"),
        ({"due_month": "March"}, "Enter a month as YYYY-MM"),
        ({"due_month": "9999-12"}, "Enter a month as YYYY-MM"),  # no month after it
        ({"status": "closed"}, "Select a valid choice"),
        ({"applies_from": "2026-02-30"}, "Enter a valid date"),
        ({"system": "not-a-code"}, "Enter a valid UUID"),
        ({"regulation": "<script>"}, "Enter a regulation code"),
    ],
)
def test_it_explains_a_filter_it_does_not_understand_and_ignores_it(
    known, org, owner_client, filters, message
):
    page = owner_client.get(url("finding_list", org, **filters))

    assert page.status_code == 200
    content = page.content.decode()
    assert "Some filters were not understood and are not applied" in content
    assert message in content
    assert page.context["page"].paginator.count == 10


def test_it_keeps_the_valid_filters_next_to_an_invalid_one(known, org, owner_client):
    assert listed(owner_client, url("finding_list", org, status="gap", due_month="2026-13")) == 6


def test_it_shows_nothing_for_another_organisations_system(known, org, owner_client):
    rival = AISystemFactory(name="Elsewhere")

    page = owner_client.get(url("finding_list", org, system=rival.code))

    assert page.context["page"].paginator.count == 0
    assert "Elsewhere" not in page.content.decode()
    assert "No current finding matches these filters." in page.content.decode()


def test_it_pages_the_findings_by_fifty(frozen, real_catalogue, org, owner, owner_client):
    eu = obligations(real_catalogue, "EU", 2)
    for _ in range(26):
        assessment = AssessmentFactory(system=AISystemFactory(organisation=org))
        add(assessment, eu[0], "open")
        add(assessment, eu[1], "open")

    first = owner_client.get(url("finding_list", org, status="open"))
    second = owner_client.get(url("finding_list", org, status="open", page=2))

    assert len(first.context["page"].object_list) == 50
    assert len(second.context["page"].object_list) == 2
    assert "status=open&amp;page=2" in first.content.decode()


# --- Who sees what -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dashboard", "finding_list"])
def test_it_shows_the_pages_to_every_member(known, org, name):
    viewer = MembershipFactory(organisation=org, role=Role.VIEWER)
    assert client_for(viewer).get(url(name, org)).status_code == 200


@pytest.mark.parametrize("name", ["dashboard", "finding_list"])
def test_it_hides_the_pages_from_another_organisation(known, org, outsider_client, name):
    assert outsider_client.get(url(name, org)).status_code == 404


def test_it_counts_each_organisations_data_apart(known):
    board = dashboard.dashboard(known.rival_org, TODAY)

    numbers = {key: n.count for key, n in board.number.items()}
    assert numbers == {
        "active_systems": 1,
        "assessed_systems": 1,
        "open_gaps": 1,
        "overdue_actions": 1,
        "due_soon": 0,
    }
    assert [row.total.count for row in board.tiers.rows if row.key == "prohibited"] == [1]
