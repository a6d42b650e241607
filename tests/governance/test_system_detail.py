"""The system page: classification, obligations by jurisdiction, gaps, actions and history of
one AI system, from its latest completed assessment."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assessments.models import (
    ActionStatus,
    Assessment,
    Finding,
    FindingStatus,
    RemediationAction,
)
from assessments.models.findings import GAP_STATUSES
from governance.models import AISystemVersion, Role
from governance.registry import system_archive

from ..conftest import client_for
from ..factories import (
    JAPAN_CHATBOT_ANSWERS,
    AISystemFactory,
    MembershipFactory,
    RemediationActionFactory,
    UserFactory,
)


@pytest.fixture
def officer(org):
    return MembershipFactory(organisation=org, role=Role.COMPLIANCE_OFFICER)


@pytest.fixture
def viewer(org):
    return MembershipFactory(organisation=org, role=Role.VIEWER)


@pytest.fixture
def system(real_catalogue, org, owner):
    return AISystemFactory(organisation=org, name="Hiring screener", owner=owner.user)


@pytest.fixture
def done(assess, system, owner) -> Assessment:
    return assess(system, owner)


def page_of(membership, system) -> str:
    address = reverse(
        "system_detail", kwargs={"org_code": system.organisation.code, "system_code": system.code}
    )
    response = client_for(membership).get(address)
    assert response.status_code == 200
    return response.content.decode()


def url(name: str, org, **codes) -> str:
    return reverse(name, kwargs={"org_code": org.code, **codes})


def section(page: str, anchor: str) -> str:
    """The HTML of the page's <section id=anchor>, up to the next top-level section."""
    start = page.index(f'id="{anchor}"')
    end = page.find('class="system-section"', page.index(">", start))
    return page[start : end if end != -1 else len(page)]


# --- Not assessed yet ----------------------------------------------------------------------------


def test_it_explains_an_unassessed_system_and_offers_to_assess_it(system, member, viewer, org):
    page = page_of(member, system)

    assert "This system has not been assessed yet." in page
    assert f'action="{url("assessment_start", org, system_code=system.code)}"' in page
    assert ">Assess now<" in page
    assert 'id="obligations"' not in page and 'href="#obligations"' not in page
    assert "Why: every classification rule, checked" not in page
    assert "No remediation actions for this system." in page
    assert 'href="#actions"' in page and 'href="#registry"' in page

    read_only = page_of(viewer, system)
    assert "This system has not been assessed yet." in read_only
    assert ">Assess now<" not in read_only


def test_it_says_when_the_last_run_failed(system, owner, member, org):
    failed = Assessment.objects.create(
        organisation=org,
        system=system,
        release=system.release,
        status="failed",
        source="web",
        answers=system.answers,
        system_version=system.version,
        error="boom",
    )

    page = page_of(member, system)

    assert "The last assessment failed." in page
    assert url("assessment_detail", org, assessment_code=failed.code) in page
    assert "This system has not been assessed yet." not in page


# --- Classification and obligations --------------------------------------------------------------


def test_it_shows_the_classification_with_its_citation_trail(done, system, member):
    page = page_of(member, system)

    classification = section(page, "classification")
    assert "High-risk AI system" in classification
    assert "High-risk use (Annex III)" in classification
    assert "Why: every classification rule, checked" in classification
    assert "Annex III" in classification  # a citation of the trail
    assert "Provider (EU)" in classification  # our roles
    # The sections read top to bottom in the order of the table of contents.
    order = ["classification", "obligations", "findings", "actions", "history", "registry"]
    positions = [page.index(f'id="{anchor}"') for anchor in order]
    assert positions == sorted(positions)
    toc = page[page.index('id="toc-heading"') : page.index("</nav>", page.index("toc-heading"))]
    assert re.findall(r'href="#([a-z]+)"', toc) == [*order, "answers"]


def test_it_groups_obligations_by_jurisdiction_with_their_counts(done, system, member):
    met = Finding.objects.filter(assessment=done, jurisdiction="EU").order_by("id").first()
    Finding.objects.filter(pk=met.pk).update(status=FindingStatus.MET)

    page = page_of(member, system)

    obligations = section(page, "obligations")
    findings = Finding.objects.filter(assessment=done)
    jurisdictions = [j for j in ("EU", "JP", "INTL") if findings.filter(jurisdiction=j).exists()]
    assert len(jurisdictions) >= 2
    headings = re.findall(r'<h3 id="jurisdiction-([A-Z]+)-heading"', obligations)
    assert headings == jurisdictions
    rows = re.findall(
        r'<a href="#jurisdiction-([A-Z]+)">.*?data-count="applicable">(\d+)<.*?'
        r'data-count="gaps">(?:<a [^>]*>)?(\d+).*?data-count="met">(\d+)<',
        obligations,
        re.S,
    )
    expected = [
        (
            j,
            str(findings.filter(jurisdiction=j).count()),
            str(findings.filter(jurisdiction=j, status__in=GAP_STATUSES).count()),
            str(findings.filter(jurisdiction=j, status=FindingStatus.MET).count()),
        )
        for j in jurisdictions
    ]
    assert rows == expected
    assert expected[0][3] == "1"  # the EU finding just marked met


def test_it_links_each_obligation_to_its_finding_and_the_catalogue(done, system, member, org):
    page = page_of(member, system)

    obligations = section(page, "obligations")
    finding = Finding.objects.get(assessment=done, obligation_code="EU-AIA-ART10")
    assert url("finding_detail", org, finding_code=finding.code) in obligations
    catalogue = reverse("catalogue_obligation", kwargs={"code": "EU-AIA-ART10"})
    assert f'href="{catalogue}?release={done.release.code}"' in obligations
    assert finding.obligation.title in obligations
    assert str(finding.obligation.get_legal_force_display()) in obligations
    assert f'datetime="{finding.applies_from.isoformat()}"' in obligations
    linked = re.findall(r"/findings/([0-9a-f-]{36})/", obligations)
    assert sorted(linked) == sorted(
        str(code) for code in Finding.objects.filter(assessment=done).values_list("code", flat=True)
    )


# --- Findings ------------------------------------------------------------------------------------


def test_it_lists_the_open_gaps_and_links_to_their_review(done, system, member, officer, org):
    page = page_of(member, system)

    findings = section(page, "findings")
    gaps = Finding.objects.filter(assessment=done, status__in=GAP_STATUSES).count()
    assert gaps > 10
    assert f"{url('finding_list', org)}?system={system.code}&amp;status=gap" in findings
    review = url("assessment_detail", org, assessment_code=done.code)
    assert f'href="{review}#findings-heading"' in findings
    assert f'href="{review}?status=open#findings-heading"' in findings
    assert f"10 of {gaps} open gaps shown." in findings
    assert 'form="new-action"' not in findings  # a contributor cannot open actions

    managed = section(page_of(officer, system), "findings")
    assert f'action="{url("action_create", org)}" id="new-action"' in managed
    assert managed.count('name="finding"') == 10


def test_it_says_when_no_gap_is_left(done, system, member):
    Finding.objects.filter(assessment=done).update(status=FindingStatus.MET)

    page = page_of(member, system)

    assert "No open gap: every applicable obligation is met" in section(page, "findings")


# --- Actions -------------------------------------------------------------------------------------


def test_it_lists_the_actions_active_first_then_recently_closed(done, system, member, org):
    RemediationAction.objects.filter(system=system).delete()  # those the assessment opened
    today = dt.date.today()
    late = RemediationActionFactory(
        system=system, title="Late plan", due_date=today - dt.timedelta(days=30), owner=member.user
    )
    soon = RemediationActionFactory(
        system=system, title="Soon plan", due_date=today + dt.timedelta(days=30)
    )
    closed = RemediationActionFactory(
        system=system, title="Dropped plan", status=ActionStatus.CANCELLED, cancel_reason="moot"
    )
    other = RemediationActionFactory(
        system=AISystemFactory(organisation=org, name="Other"), title="Someone else's"
    )

    page = page_of(member, system)

    actions = section(page, "actions")
    assert actions.index("Late plan") < actions.index("Soon plan") < actions.index("Dropped plan")
    assert actions.index("Active") < actions.index("Soon plan")
    assert actions.index("Recently closed") < actions.index("Dropped plan")
    for action in (late, soon, closed):
        assert url("action_detail", org, action_code=action.code) in actions
    assert other.title not in page
    late_row = actions[
        actions.index("Late plan") : actions.index("</tr>", actions.index("Late plan"))
    ]
    assert "action-overdue" in late_row
    assert (member.user.full_name or member.user.email) in late_row
    soon_row = actions[
        actions.index("Soon plan") : actions.index("</tr>", actions.index("Soon plan"))
    ]
    assert "action-overdue" not in soon_row and "Unassigned" in soon_row
    assert "2 open remediation actions" in actions
    assert "1 overdue" in actions
    board = f"{url('action_list', org)}?system={system.code}"
    assert f'href="{board}"' in actions
    assert f'href="{board}&amp;status=all"' in actions


def test_it_offers_a_new_action_to_those_who_may_open_one(done, system, member, officer):
    assert ">New action<" in section(page_of(officer, system), "actions")
    assert ">New action<" not in section(page_of(member, system), "actions")


def test_it_says_when_a_system_has_no_action(done, system, member):
    RemediationAction.objects.filter(system=system).delete()

    page = page_of(member, system)

    assert "No remediation actions for this system." in section(page, "actions")


# --- History -------------------------------------------------------------------------------------


def test_it_shows_the_five_latest_history_entries_and_links_to_the_history(
    done, system, member, owner, org
):
    for number in range(2, 8):
        AISystemVersion.objects.create(
            organisation=org, system=system, number=number, data={}, changed=["description"]
        )

    page = page_of(member, system)

    history = section(page, "history")
    assert history.count("<li>") == 5
    assert "Version 7" in history and "Version 3" in history and "Version 2" not in history
    assert "description" in history
    assert url("system_history", org, system_code=system.code) in history
    # The assessment came before these versions: it is in the full history, not here.
    assert url("assessment_detail", org, assessment_code=done.code) not in history


def test_it_lists_assessments_in_the_history(done, system, member, org):
    history = section(page_of(member, system), "history")

    assert url("assessment_detail", org, assessment_code=done.code) in history
    assert "Completed" in history and "High-risk" in history


# --- Registry entry, answers, access -------------------------------------------------------------


def test_it_keeps_the_registry_entry_and_the_answers(done, system, member):
    page = page_of(member, system)

    assert "Intended purpose" in section(page, "registry")
    answers = page[page.index('id="answers"') :]
    assert "<details" in answers and "Scope and markets" in answers


def test_it_shows_an_archived_system_without_offering_changes(done, system, owner, officer):
    system_archive(system=system, actor=owner.user)

    page = page_of(officer, system)

    assert ">Assess again<" not in page
    assert ">New action<" not in page
    assert 'id="new-action"' not in page


def test_it_hides_the_page_from_an_outsider(done, system, outsider, org):
    response = client_for(outsider).get(url("system_detail", org, system_code=system.code))
    assert response.status_code == 404
    theirs = url("system_detail", outsider.organisation, system_code=system.code)
    assert client_for(outsider).get(theirs).status_code == 404


# --- Queries -------------------------------------------------------------------------------------


def _busy(system, org, owner, assess) -> None:
    """Many findings, actions and versions."""
    assess(system, owner)
    for n in range(30):
        RemediationActionFactory(
            system=system, owner=UserFactory(), status=ActionStatus.CANCELLED, cancel_reason="x"
        )
        RemediationActionFactory(
            system=system, owner=UserFactory(), due_date=dt.date(2026, 1, n % 28 + 1)
        )
    for number in range(2, 20):
        AISystemVersion.objects.create(
            organisation=org, system=system, number=number, data={}, changed=["name"]
        )
    assess(system, owner)  # a second run: the history holds several


def _quiet(system, owner, assess) -> None:
    """One finding, one action, one version."""
    done = assess(system, owner)
    keep = Finding.objects.filter(assessment=done).order_by("id").first()
    Finding.objects.filter(assessment=done).exclude(pk=keep.pk).delete()
    RemediationAction.objects.filter(system=system).delete()
    RemediationActionFactory(system=system, owner=owner.user, findings=[keep])


def test_it_shows_the_page_in_constant_queries(org, owner, member, real_catalogue, assess):
    quiet = AISystemFactory(organisation=org, name="Quiet", answers=dict(JAPAN_CHATBOT_ANSWERS))
    busy = AISystemFactory(organisation=org, name="Busy", owner=owner.user)
    _quiet(quiet, owner, assess)
    _busy(busy, org, owner, assess)
    assert Finding.objects.filter(assessment__system=busy, assessment__latest=True).count() > 50
    client = client_for(member)
    client.get(url("system_detail", org, system_code=quiet.code))  # compiles the release once

    counts = []
    for system in (quiet, busy):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url("system_detail", org, system_code=system.code))
        assert response.status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1]
    assert counts[1] <= 20, [q["sql"][:120] for q in queries.captured_queries]


def test_it_counts_the_queries_of_the_page(
    org, owner, member, system, done, django_assert_num_queries
):
    client = client_for(member)
    client.get(url("system_detail", org, system_code=system.code))

    # session, user, membership, system; assessments, findings, their active actions, counts
    # per jurisdiction and status, regulation titles; active actions, action counts, closed
    # actions; versions; the organisation switcher, the notifications badge
    with django_assert_num_queries(15):
        client.get(url("system_detail", org, system_code=system.code))
