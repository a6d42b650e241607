"""The assessment pages: starting runs, following them, reviewing findings, approving."""

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assessments import engine, services
from assessments.models import (
    Assessment,
    AssessmentBatch,
    AssessmentStatus,
    Evidence,
    Finding,
    FindingStatus,
    ReviewState,
)
from assessments.models.runs import Source
from assessments.releases import compiled
from governance.catalogue.services import release_create_draft, release_publish
from governance.models import AuditEvent, Obligation, Role
from governance.registry import system_archive

from ..conftest import client_for
from ..factories import JAPAN_CHATBOT_ANSWERS, AISystemFactory, MembershipFactory, UserFactory

ART10 = "EU-AIA-ART10"


@pytest.fixture
def viewer(org):
    return MembershipFactory(organisation=org, role=Role.VIEWER)


@pytest.fixture
def officer(org):
    return MembershipFactory(organisation=org, role=Role.COMPLIANCE_OFFICER)


@pytest.fixture
def system(real_catalogue, org):
    return AISystemFactory(organisation=org, name="Hiring screener")


@pytest.fixture
def done(assess, system, owner) -> Assessment:
    return assess(system, owner)


@pytest.fixture
def finding(done) -> Finding:
    return Finding.objects.get(assessment=done, obligation_code=ART10)


@pytest.fixture
def evidence(finding, owner) -> Evidence:
    return services.evidence_add(
        finding=finding, actor=owner, title="Data sheet", url="https://docs.example/data.pdf"
    )


@pytest.fixture
def batch(done, org, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        batch = services.batch_start(org=org, actor=owner.user)
    return batch


def url(name: str, org, **codes) -> str:
    return reverse(name, kwargs={"org_code": org.code, **codes})


def world() -> tuple:
    """Everything a page could write."""
    return (
        list(Assessment.objects.order_by("pk").values_list("pk", "status", "review_state")),
        AssessmentBatch.objects.count(),
        list(Evidence.objects.order_by("pk").values_list("pk", "url")),
        list(Finding.objects.order_by("pk").values_list("pk", "status", "notes", "justification")),
    )


def field_html(page: str, name: str) -> str:
    """The form field group (label, errors, widget) of the field called `name`."""
    groups = [
        group.split("</form>")[0]
        for group in page.split('<div class="field')
        if f'name="{name}"' in group.split("</form>")[0]
    ]
    assert len(groups) == 1, name
    return groups[0]


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- Every page, every member, and nobody else ----------------------------------------------


@pytest.fixture
def pages(done, finding, batch, org):
    return {
        "assessment_list": url("assessment_list", org),
        "assess_all": url("assess_all", org),
        "assessment_detail": url("assessment_detail", org, assessment_code=done.code),
        "assessment_status": url("assessment_status", org, assessment_code=done.code),
        "batch_detail": url("batch_detail", org, batch_code=batch.code),
        "batch_status": url("batch_status", org, batch_code=batch.code),
        "finding_detail": url("finding_detail", org, finding_code=finding.code),
    }


@pytest.mark.parametrize("persona", ["owner", "member", "viewer"])
def test_it_shows_every_page_to_every_member(persona, pages, request):
    client = client_for(request.getfixturevalue(persona))

    for name, address in pages.items():
        response = client.get(address)
        assert response.status_code == 200, name


@pytest.fixture
def actions(done, finding, evidence, system, org):
    """Every POST of the assessment pages, with a form that would succeed."""
    return {
        "assessment_start": (url("assessment_start", org, system_code=system.code), {}),
        "assess_all": (url("assess_all", org), {}),
        "assessment_submit": (url("assessment_submit", org, assessment_code=done.code), {}),
        "assessment_approve": (url("assessment_approve", org, assessment_code=done.code), {}),
        "assessment_return": (url("assessment_return", org, assessment_code=done.code), {}),
        "finding_detail": (
            url("finding_detail", org, finding_code=finding.code),
            {"status": FindingStatus.MET, "notes": "Done."},
        ),
        "evidence_add": (
            url("evidence_add", org, finding_code=finding.code),
            {"title": "Policy", "url": "https://docs.example/policy.pdf"},
        ),
        "evidence_remove": (url("evidence_remove", org, evidence_code=evidence.code), {}),
    }


def test_it_lets_a_viewer_change_nothing(viewer, actions, django_capture_on_commit_callbacks):
    client = client_for(viewer)
    before = world()

    with django_capture_on_commit_callbacks(execute=True):
        for name, (address, data) in actions.items():
            assert client.post(address, data).status_code == 403, name

    assert world() == before


def test_it_lets_a_member_do_what_a_viewer_cannot(member, actions):
    """The same forms succeed for a contributor: the viewer's 403 is about the role."""
    client = client_for(member)
    for name in ("finding_detail", "evidence_add", "evidence_remove", "assessment_submit"):
        address, data = actions[name]
        assert client.post(address, data).status_code == 302, name


def test_it_hides_every_page_from_an_outsider(
    outsider, pages, actions, django_capture_on_commit_callbacks
):
    client = client_for(outsider)
    before = world()

    with django_capture_on_commit_callbacks(execute=True):
        for name, address in pages.items():
            assert client.get(address).status_code == 404, name
            assert client.post(address, {}).status_code in (404, 405), name
        for name, (address, data) in actions.items():
            assert client.post(address, data).status_code == 404, name
        assert client.get(actions["finding_detail"][0]).status_code == 404

    assert world() == before


def test_it_does_not_reach_another_organisations_objects_through_ones_own(
    outsider, pages, actions, org, django_capture_on_commit_callbacks
):
    """The outsider's own organisation code, with this organisation's object codes."""
    client = client_for(outsider)
    own = str(outsider.organisation.code)
    before = world()

    with django_capture_on_commit_callbacks(execute=True):
        for name, address in pages.items():
            if name in ("assessment_list", "assess_all"):
                continue  # the outsider's own lists
            assert client.get(address.replace(str(org.code), own)).status_code == 404, name
        for name, (address, data) in actions.items():
            if name == "assess_all":
                continue
            response = client.post(address.replace(str(org.code), own), data)
            assert response.status_code == 404, name

    assert world() == before


def test_it_sends_anonymous_visitors_to_log_in(pages, client):
    for name, address in pages.items():
        response = client.get(address)
        assert response.status_code == 302, name
        assert response["Location"].startswith("/accounts/login/")


# --- Starting and following runs ------------------------------------------------------------


def test_it_starts_an_assessment_and_shows_its_result(
    system, member, org, django_capture_on_commit_callbacks
):
    client = client_for(member)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("assessment_start", org, system_code=system.code))

    assessment = Assessment.objects.get(system=system)
    assert response.status_code == 302
    assert response["Location"] == url("assessment_detail", org, assessment_code=assessment.code)
    assert (assessment.status, assessment.source, assessment.requested_by) == (
        AssessmentStatus.COMPLETED,
        Source.WEB,
        member.user,
    )
    page = client.get(response["Location"]).content.decode()
    assert "66 applicable obligations" in page


def test_it_points_to_the_run_already_under_way(system, member, org):
    client = client_for(member)
    first = client.post(url("assessment_start", org, system_code=system.code))  # never sent

    again = client.post(url("assessment_start", org, system_code=system.code))

    assert again["Location"] == first["Location"]
    assert Assessment.objects.filter(system=system).count() == 1
    assert "An assessment of this system is already under way." in messages_of(again)
    page = client.get(again["Location"]).content.decode()
    assessment = Assessment.objects.get(system=system)
    status = url("assessment_status", org, assessment_code=assessment.code)
    assert f'data-status-url="{status}"' in page


def test_it_explains_why_an_archived_system_is_not_assessed(system, member, owner, org):
    system_archive(system=system, actor=owner.user)

    response = client_for(member).post(url("assessment_start", org, system_code=system.code))

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "system_detail", kwargs={"org_code": org.code, "system_code": system.code}
    )
    assert messages_of(response) == ["An archived system is not assessed; restore it first."]
    assert not Assessment.objects.exists()


def test_it_reports_a_runs_progress_as_json(done, system, member, org):
    client = client_for(member)

    data = client.get(url("assessment_status", org, assessment_code=done.code)).json()

    assert data["status"] == "completed"
    assert data["status_label"] == "Completed"
    assert data["finished"] is True
    assert data["error"] == ""
    assert data["attempts"] == 1
    assert data["summary"]["applicable"] == 66

    queued, _ = services.assessment_start(system=system, actor=member.user)  # never sent
    data = client.get(url("assessment_status", org, assessment_code=queued.code)).json()
    assert (data["status"], data["finished"], data["summary"]) == ("queued", False, {})


def test_it_shows_a_failed_run_and_offers_to_try_again(
    system, owner, member, viewer, org, monkeypatch, assess
):
    def broken(release, answers):
        raise ValueError("no such question")

    monkeypatch.setattr(engine, "evaluate", broken)
    failed = assess(system, owner)
    address = url("assessment_detail", org, assessment_code=failed.code)
    retry = url("assessment_start", org, system_code=system.code)

    page = client_for(member).get(address).content.decode()
    assert "The assessment failed" in page
    assert "no such question" in page
    assert f'action="{retry}"' in page
    assert f'action="{retry}"' not in client_for(viewer).get(address).content.decode()
    status = client_for(member).get(url("assessment_status", org, assessment_code=failed.code))
    assert (status.json()["status"], status.json()["finished"]) == ("failed", True)


def test_it_shows_the_classification_and_why(done, member, org):
    page = client_for(member).get(url("assessment_detail", org, assessment_code=done.code))

    html = page.content.decode()
    assert '<span class="badge tier-high_risk">High-risk</span>' in html
    assert "High-risk use (Annex III)" in html
    assert "Art. 6(2), Annex III point 4(a)" in html  # the label's citation
    assert "Why: every classification rule, checked" in html
    trail = html.split("Why: every classification rule, checked")[1]
    assert "EU-AIA-R-ANX3-4A" in trail  # the rule that classified it, in the trail
    finding = Finding.objects.get(assessment=done, obligation_code=ART10)
    assert url("finding_detail", org, finding_code=finding.code) in html


def test_it_filters_findings_on_the_assessment_page(done, member, org):
    client = client_for(member)
    address = url("assessment_detail", org, assessment_code=done.code)

    japan = client.get(address, {"jurisdiction": "JP"}).content.decode()
    assert "JP-APPI-PURPOSE" in japan
    assert ART10 not in japan.split('id="findings-heading"')[1]
    met = client.get(address, {"status": "met"}).content.decode()
    assert "No finding matches these filters." in met


def test_it_renders_the_assessment_in_japanese_for_a_japanese_user(
    done, owner, org, real_catalogue
):
    obligation = Obligation.objects.get(release=real_catalogue, code=ART10)
    rule = next(r for r in compiled(real_catalogue).rules if r.code == "EU-AIA-R-ANX3-4A")
    address = url("assessment_detail", org, assessment_code=done.code)
    english = client_for(owner).get(address).content.decode()
    assert obligation.title_en in english
    assert obligation.title_ja not in english

    owner.user.language = "ja"
    owner.user.save()
    japanese = client_for(owner).get(address).content.decode()

    assert 'lang="ja"' in japanese
    assert obligation.title_ja in japanese
    assert obligation.title_en not in japanese
    assert rule.explanation["ja"] in japanese
    assert rule.explanation["en"] not in japanese
    finding = Finding.objects.get(assessment=done, obligation_code=ART10)
    page = client_for(owner).get(url("finding_detail", org, finding_code=finding.code))
    assert obligation.summary_ja in page.content.decode()


# --- Lists and query counts -----------------------------------------------------------------


def make_assessments(n, *, org, release, stale_since=None):
    """Completed assessment rows (no findings), each by another requester and system."""
    for _ in range(n):
        system = AISystemFactory(organisation=org)
        Assessment.objects.create(
            organisation=org,
            system=system,
            release=release,
            source=Source.WEB,
            requested_by=UserFactory(),
            answers=system.answers,
            system_version=system.version,
            status=AssessmentStatus.COMPLETED,
            eu_tier="high_risk",
            stale_since=stale_since,
            latest=True,
        )


def test_it_lists_assessments_in_a_constant_number_of_queries(
    real_catalogue, org, member, django_assert_num_queries
):
    client = client_for(member)
    address = url("assessment_list", org)
    make_assessments(1, org=org, release=real_catalogue)
    make_assessments(1, org=org, release=real_catalogue, stale_since=real_catalogue)
    client.get(address)  # the session remembers the organisation once
    with CaptureQueriesContext(connection) as two:
        page = client.get(address).content.decode()
    assert len(re.findall(r'href="/o/[^"]+/assessments/[0-9a-f-]{36}/"', page)) == 2
    assert "A new catalogue release changes the result for 1 system." in page

    make_assessments(5, org=org, release=real_catalogue)
    make_assessments(5, org=org, release=real_catalogue, stale_since=real_catalogue)
    with django_assert_num_queries(len(two)):
        page = client.get(address).content.decode()
    assert "A new catalogue release changes the result for 6 systems." in page
    assert len(re.findall(r'href="/o/[^"]+/assessments/[0-9a-f-]{36}/"', page)) == 12


def test_it_filters_the_list(real_catalogue, org, member, system, assess):
    assess(system, member)
    make_assessments(2, org=org, release=real_catalogue, stale_since=real_catalogue)
    client = client_for(member)

    stale = client.get(url("assessment_list", org), {"stale": "1"}).content.decode()
    failed = client.get(url("assessment_list", org), {"status": "failed"}).content.decode()
    everything = client.get(url("assessment_list", org), {"status": "bogus"}).content.decode()

    assert "Hiring screener" not in stale
    assert stale.count("stale</span>") == 2
    assert "No assessment matches these filters." in failed
    assert "Hiring screener" in everything


def test_it_shows_an_assessment_in_a_constant_number_of_queries(
    assess, real_catalogue, org, owner, officer, member, django_assert_num_queries
):
    chatbot = AISystemFactory(organisation=org, answers=dict(JAPAN_CHATBOT_ANSWERS))
    small = assess(chatbot, owner)
    first = assess(AISystemFactory(organisation=org), owner)
    for code in (ART10, "EU-AIA-ART11", "JP-APPI-PURPOSE"):
        found = Finding.objects.get(assessment=first, obligation_code=code)
        services.finding_update(
            finding=found,
            actor=owner,
            status=FindingStatus.RISK_ACCEPTED,
            justification="Accepted.",
            risk_approver=officer.user,
        )
        services.evidence_add(
            finding=found, actor=owner, title=code, url=f"https://docs.example/{code}.pdf"
        )
    large = assess(first.system, owner)  # carried: evidence, approvers, suggestions
    assert Finding.objects.filter(assessment=large).count() == 66
    assert Finding.objects.filter(assessment=small).count() == 26
    assert large.summary["suggested"] > 0
    services.assessment_submit(assessment=large, actor=member)
    client = client_for(owner)
    client.get(url("assessment_detail", org, assessment_code=small.code))  # warm the caches

    with CaptureQueriesContext(connection) as queries:
        assert (
            client.get(url("assessment_detail", org, assessment_code=small.code)).status_code == 200
        )
    with django_assert_num_queries(len(queries)):
        page = client.get(url("assessment_detail", org, assessment_code=large.code))
    assert "evidence suggested" in page.content.decode()


# --- Reviewing findings ---------------------------------------------------------------------


def test_it_saves_a_review_and_records_who_made_it(finding, member, org):
    client = client_for(member)
    address = url("finding_detail", org, finding_code=finding.code)

    response = client.post(address, {"status": FindingStatus.MET, "notes": "  Reviewed.  "})

    assert response.status_code == 302
    assert response["Location"] == address
    finding.refresh_from_db()
    assert (finding.status, finding.notes, finding.updated_by) == (
        FindingStatus.MET,
        "Reviewed.",
        member.user,
    )
    event = AuditEvent.objects.filter(
        table="assessments_finding", object_pk=str(finding.pk), action="update"
    ).last()
    assert (event.actor_user_id, event.context["source"]) == (member.user.pk, "web")
    assert event.after["status"] == "met"
    assert "Finding updated." in client.get(address).content.decode()


def test_it_shows_the_error_next_to_the_field(finding, member, org):
    before = world()
    address = url("finding_detail", org, finding_code=finding.code)

    response = client_for(member).post(
        address, {"status": FindingStatus.NOT_APPLICABLE, "justification": ""}
    )

    assert response.status_code == 400
    page = response.content.decode()
    justification = field_html(page, "justification")
    assert justification.startswith(" field-invalid")
    assert "Explain why; an auditor will ask." in justification
    assert "Explain why" not in field_html(page, "status")
    assert "field-invalid" not in field_html(page, "status")
    assert world() == before


def test_it_shows_why_a_contributor_cannot_accept_a_risk(finding, member, officer, org):
    before = world()
    address = url("finding_detail", org, finding_code=finding.code)
    client = client_for(member)

    response = client.post(
        address, {"status": FindingStatus.RISK_ACCEPTED, "justification": "Low impact."}
    )

    assert response.status_code == 400
    assert "must accept the risk" in field_html(response.content.decode(), "risk_approver")
    assert world() == before

    response = client.post(
        address,
        {
            "status": FindingStatus.RISK_ACCEPTED,
            "justification": "Low impact.",
            "risk_approver": officer.pk,
        },
    )
    assert response.status_code == 302
    finding.refresh_from_db()
    assert (finding.status, finding.risk_approved_by) == (
        FindingStatus.RISK_ACCEPTED,
        officer.user,
    )
    page = client.get(address).content.decode()
    assert f'<option value="{officer.pk}" selected>' in page


def test_it_offers_only_approvers_of_the_organisation(finding, member, officer, outsider, org):
    page = client_for(member).get(url("finding_detail", org, finding_code=finding.code))

    approvers = field_html(page.content.decode(), "risk_approver")
    assert officer.user.email in approvers
    assert member.user.email not in approvers
    assert outsider.user.email not in approvers


def test_it_adds_and_removes_evidence(finding, member, org):
    client = client_for(member)

    response = client.post(
        url("evidence_add", org, finding_code=finding.code),
        {"title": "Data sheet", "url": "docs.example/data.pdf"},
    )

    assert response.status_code == 302
    evidence = Evidence.objects.get(finding=finding)
    assert (evidence.url, evidence.added_by) == ("https://docs.example/data.pdf", member.user)
    page = client.get(url("finding_detail", org, finding_code=finding.code)).content.decode()
    assert 'href="https://docs.example/data.pdf"' in page

    response = client.post(url("evidence_remove", org, evidence_code=evidence.code))
    assert response["Location"] == url("finding_detail", org, finding_code=finding.code)
    assert not Evidence.objects.exists()


def test_it_shows_evidence_errors_next_to_the_field(finding, evidence, member, org):
    client = client_for(member)
    address = url("evidence_add", org, finding_code=finding.code)

    bad = client.post(address, {"title": "Broken", "url": "not a link"})
    duplicate = client.post(address, {"title": "Again", "url": evidence.url})

    assert bad.status_code == duplicate.status_code == 400
    assert "Enter a valid URL." in field_html(bad.content.decode(), "url")
    assert "This link is already attached." in field_html(duplicate.content.decode(), "url")
    assert Evidence.objects.count() == 1


def test_it_shows_suggested_evidence_from_the_other_jurisdiction(assess, done, owner, org):
    art10 = Finding.objects.get(assessment=done, obligation_code=ART10)
    services.finding_update(finding=art10, actor=owner, status=FindingStatus.MET)
    services.evidence_add(
        finding=art10, actor=owner, title="Data sheet", url="https://docs.example/data.pdf"
    )
    again = assess(done.system, owner)
    p03 = Finding.objects.get(assessment=again, obligation_code="JP-AIGB-P03")

    page = client_for(owner).get(url("finding_detail", org, finding_code=p03.code))

    html = page.content.decode()
    assert "Evidence from the other jurisdiction" in html
    art10_again = Finding.objects.get(assessment=again, obligation_code=ART10)
    assert url("finding_detail", org, finding_code=art10_again.code) in html
    assert 'href="https://docs.example/data.pdf"' in html


# --- Submitting and approving ---------------------------------------------------------------


def test_it_submits_and_approves_with_four_eyes(done, member, officer, org):
    submit = url("assessment_submit", org, assessment_code=done.code)
    approve = url("assessment_approve", org, assessment_code=done.code)
    detail = url("assessment_detail", org, assessment_code=done.code)

    assert client_for(member).post(submit)["Location"] == detail
    done.refresh_from_db()
    assert (done.review_state, done.prepared_by) == (ReviewState.SUBMITTED, member.user)

    refused = client_for(member).post(approve)
    assert messages_of(refused) == ["Only a compliance officer or an admin can approve."]
    done.refresh_from_db()
    assert done.review_state == ReviewState.SUBMITTED
    assert 'action="' + approve not in client_for(member).get(detail).content.decode()
    assert 'action="' + approve in client_for(officer).get(detail).content.decode()

    response = client_for(officer).post(approve)

    assert messages_of(response) == ["Assessment approved; it is now read-only."]
    done.refresh_from_db()
    assert (done.review_state, done.approved_by) == (ReviewState.APPROVED, officer.user)
    page = client_for(member).get(detail).content.decode()
    assert f"approved by {officer.user.email}" in page


def test_it_refuses_approval_by_the_preparer(done, officer, org):
    client = client_for(officer)
    client.post(url("assessment_submit", org, assessment_code=done.code))

    response = client.post(url("assessment_approve", org, assessment_code=done.code))

    assert messages_of(response)[-1] == "Someone other than the preparer must approve."
    done.refresh_from_db()
    assert (done.review_state, done.approved_by) == (ReviewState.SUBMITTED, None)
    page = client.get(url("assessment_detail", org, assessment_code=done.code)).content.decode()
    assert "A compliance officer other than the preparer approves it." in page


def test_it_returns_a_submitted_assessment_to_review(done, member, org):
    client = client_for(member)
    client.post(url("assessment_submit", org, assessment_code=done.code))

    response = client.post(url("assessment_return", org, assessment_code=done.code))

    assert messages_of(response)[-1] == "Returned to review."
    done.refresh_from_db()
    assert (done.review_state, done.prepared_by) == (ReviewState.DRAFT, None)


@pytest.mark.parametrize("state", [ReviewState.SUBMITTED, ReviewState.APPROVED])
def test_it_keeps_the_findings_read_only_after_submission(
    state, done, finding, evidence, member, officer, org
):
    services.assessment_submit(assessment=done, actor=member)
    if state == ReviewState.APPROVED:
        services.assessment_approve(assessment=done, actor=officer)
    client = client_for(member)
    address = url("finding_detail", org, finding_code=finding.code)
    before = world()

    page = client.get(address).content.decode()
    review = client.post(address, {"status": FindingStatus.MET, "notes": "Too late."})
    added = client.post(
        url("evidence_add", org, finding_code=finding.code),
        {"title": "Late", "url": "https://docs.example/late.pdf"},
    )
    removed = client.post(url("evidence_remove", org, evidence_code=evidence.code))

    assert 'name="status"' not in page  # no review form
    assert "Add evidence" not in page
    assert review.status_code == added.status_code == 400
    if state == ReviewState.APPROVED:
        shown, told = "The assessment is approved: its findings are read-only.", "approved"
    else:
        shown, told = "The assessment awaits approval: return it to review", "awaiting approval"
    assert shown in page
    assert shown in review.content.decode()
    assert shown in added.content.decode()
    assert removed.status_code == 302
    assert any(told in m for m in messages_of(removed))
    assert world() == before


# --- Assess all -----------------------------------------------------------------------------


def test_it_assesses_all_systems_and_shows_the_progress(
    real_catalogue, org, member, django_capture_on_commit_callbacks
):
    AISystemFactory.create_batch(2, organisation=org)
    client = client_for(member)
    assert "This queues an assessment of 2 systems" in (
        client.get(url("assess_all", org)).content.decode()
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("assess_all", org))

    batch = AssessmentBatch.objects.get()
    assert response["Location"] == url("batch_detail", org, batch_code=batch.code)
    assert (batch.source, batch.requested_by) == (Source.BATCH, member.user)
    progress = client.get(url("batch_status", org, batch_code=batch.code)).json()
    assert (progress["total"], progress["completed"], progress["finished"]) == (2, 2, True)
    page = client.get(response["Location"]).content.decode()
    assert "2 / 2" in page


def test_it_reassesses_only_the_systems_a_new_release_changes(
    assess, real_catalogue, org, owner, member, django_capture_on_commit_callbacks
):
    hiring = assess(AISystemFactory(organisation=org), owner)
    assess(AISystemFactory(organisation=org, answers=dict(JAPAN_CHATBOT_ANSWERS)), owner)
    draft = release_create_draft(
        base=real_catalogue, code="2026-test", title_en="Test", title_ja="テスト", actor=owner.user
    )
    Obligation.objects.filter(release=draft, code=ART10).update(summary_en="Reworded.")
    with django_capture_on_commit_callbacks(execute=True):
        release_publish(release=draft, actor=owner.user)
    client = client_for(member)
    assert "changes the result for 1 system." in (
        client.get(url("assessment_list", org)).content.decode()
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("assess_all", org), {"stale": "1"})

    batch = AssessmentBatch.objects.get()
    assert response["Location"] == url("batch_detail", org, batch_code=batch.code)
    assert batch.source == Source.RELEASE
    assert list(Assessment.objects.filter(batch=batch).values_list("system_id", flat=True)) == [
        hiring.system_id
    ]
    assert "changes the result for" not in (
        client.get(url("assessment_list", org)).content.decode()
    )


def test_it_explains_that_there_is_nothing_to_assess(real_catalogue, org, member):
    response = client_for(member).post(url("assess_all", org))

    assert response["Location"] == url("assessment_list", org)
    assert messages_of(response) == ["There is no system to assess."]
    assert not AssessmentBatch.objects.exists()
