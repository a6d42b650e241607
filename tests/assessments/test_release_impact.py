"""What a catalogue release changes for an organisation, on the shipped catalogue: systems
assessed on 2024-original (Annex III duties from 2 August 2026) meet 2026-amended (from
2 December 2027)."""

import datetime as dt

import pytest
import time_machine

from assessments import deadlines, services
from assessments.models import (
    ActionOrigin,
    Assessment,
    AssessmentBatch,
    Finding,
    RemediationAction,
    SystemImpact,
)
from assessments.models.runs import Source
from governance.models import CatalogueRelease, Role
from governance.registry import system_archive

from ..conftest import client_for
from ..factories import AISystemFactory, MembershipFactory, RemediationActionFactory

ORIGINAL, AMENDED = "2024-original", "2026-amended"
ART14 = "EU-AIA-ART14"  # human oversight: Annex III route, 2026-08-02 then 2027-12-02
ART14_EN = "Design for effective human oversight"
ART14_JA = "効果的な人間による監視を可能にする設計とすること"
# When 2024-original was the current release and its Annex III date still ahead.
MARCH = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def make_current(code: str) -> CatalogueRelease:
    CatalogueRelease.objects.update(is_current=False)
    CatalogueRelease.objects.filter(code=code).update(is_current=True)
    return CatalogueRelease.objects.get(code=code)


@pytest.fixture
def amended(real_catalogue) -> CatalogueRelease:
    assert real_catalogue.code == AMENDED
    return real_catalogue


@pytest.fixture
def on_original(amended, assess):
    """Assess the systems while 2024-original is current, then publish 2026-amended again
    and let it record what it changes."""

    def run(*assessments) -> list[Assessment]:
        make_current(ORIGINAL)
        with time_machine.travel(MARCH, tick=False):
            done = [assess(system, actor) for system, actor in assessments]
        assert {a.release.code for a in done} == {ORIGINAL}
        make_current(AMENDED)
        services.mark_stale_after_release(release=amended)
        return done

    return run


def url_of(org, code: str = AMENDED) -> str:
    return f"/o/{org.code}/releases/{code}/impact/"


def list_url(org) -> str:
    return f"/o/{org.code}/releases/"


@pytest.fixture
def officer(org):
    return MembershipFactory(organisation=org, role=Role.COMPLIANCE_OFFICER)


# --- The impact page ----------------------------------------------------------------------------


def test_it_shows_the_dates_a_release_moves_for_a_high_risk_system(
    on_original, org, owner, owner_client
):
    hiring = AISystemFactory(organisation=org, name="Hiring screener")
    (assessment,) = on_original((hiring, owner))
    row = SystemImpact.objects.get(system=hiring, release__code=AMENDED)
    assert {"code": ART14, "from": "2026-08-02", "to": "2027-12-02"} in row.moved

    response = owner_client.get(url_of(org))

    assert response.status_code == 200
    impact = response.context["impact"]
    (change,) = impact.systems
    assert change.system == hiring
    assert (change.impact.tier_before, change.impact.tier_after) == ("high_risk", "high_risk")
    moved = {m.code: (m.before, m.after) for m in change.moved}
    assert moved[ART14] == (dt.date(2026, 8, 2), dt.date(2027, 12, 2))
    assert len(moved) == len(row.moved)
    # Every Annex III date of 2 August 2026 moves to 2 December 2027.
    assert {after for before, after in moved.values() if before == dt.date(2026, 8, 2)} == {
        dt.date(2027, 12, 2)
    }
    # The findings on moved obligations, with their status.
    findings = {f.finding.obligation_code: f for f in change.findings}
    assert set(findings) == set(moved) | set(row.changed) | set(row.removed)
    assert findings[ART14].finding.assessment == assessment
    assert findings[ART14].finding.status == "open"
    # The digest covers the dates, so a moved obligation is also a changed one.
    assert findings[ART14].reasons == ["changed", "moved"]
    # The action the run opened for the gap, still due on the old date.
    auto = RemediationAction.objects.get(
        system=hiring, origin=ActionOrigin.AUTO, findings__obligation_code=ART14
    )
    assert auto.due_date == dt.date(2026, 8, 2)
    actions = {a.action: a for a in change.actions}
    assert [(m.move.code, m.flag) for m in actions[auto].moves] == [(ART14, "earlier")]
    # The summary.
    assert impact.findings == len(change.findings)
    assert impact.actions == len(change.actions) == len(findings)  # one auto action per gap
    assert next(m for m in impact.moves if m.code == ART14).systems == 1
    html = response.content.decode()
    assert "Hiring screener" in html
    assert ART14_EN in html
    assert "<del>2 Aug 2026</del> → <ins>2 Dec 2027</ins>" in html
    assert "due earlier than needed" in html
    assert f'data-action="{auto.code}"' in html
    assert 'data-figure="systems">1<' in html
    assert f'data-figure="actions">{impact.actions}<' in html


def test_it_flags_an_action_due_after_the_new_date(on_original, org, owner, owner_client):
    hiring = AISystemFactory(organisation=org)
    on_original((hiring, owner))
    auto = RemediationAction.objects.get(system=hiring, findings__obligation_code=ART14)
    RemediationAction.objects.filter(pk=auto.pk).update(due_date=dt.date(2028, 1, 31))

    response = owner_client.get(url_of(org))

    (change,) = response.context["impact"].systems
    (action,) = [a for a in change.actions if a.action == auto]
    assert [(m.move.after, m.flag) for m in action.moves] == [(dt.date(2027, 12, 2), "later")]
    assert "due after the obligation applies" in response.content.decode()


def test_it_aggregates_the_moved_dates_over_the_organisations_systems_only(
    on_original, org, owner, owner_client, outsider
):
    first = AISystemFactory(organisation=org, name="Hiring screener")
    second = AISystemFactory(organisation=org, name="Promotion ranker")
    theirs = AISystemFactory(organisation=outsider.organisation, name="Rival screener")
    on_original((first, owner), (second, owner), (theirs, outsider))
    assert SystemImpact.objects.filter(system=theirs).exists()

    response = owner_client.get(url_of(org))

    impact = response.context["impact"]
    assert [c.system for c in impact.systems] == [first, second]
    art14 = next(m for m in impact.moves if m.code == ART14)
    assert (art14.before, art14.after, art14.systems) == (
        dt.date(2026, 8, 2),
        dt.date(2027, 12, 2),
        2,
    )
    html = response.content.decode()
    assert "Rival screener" not in html
    assert str(theirs.code) not in html


def test_it_shows_obligation_titles_in_the_users_language(on_original, org, owner):
    hiring = AISystemFactory(organisation=org)
    on_original((hiring, owner))
    owner.user.language = "ja"
    owner.user.save()

    html = client_for(owner).get(url_of(org)).content.decode()

    # Obligation titles follow the reader; action titles were written in the org's language.
    assert f'<span class="code">{ART14}</span> {ART14_JA}</th>' in html
    assert f'<span class="code">{ART14}</span> {ART14_EN}' not in html


def test_it_leaves_out_archived_systems(on_original, org, owner, owner_client):
    kept = AISystemFactory(organisation=org, name="Kept")
    gone = AISystemFactory(organisation=org, name="Gone")
    on_original((kept, owner), (gone, owner))
    system_archive(system=gone, actor=owner.user)

    response = owner_client.get(url_of(org))

    assert [c.system for c in response.context["impact"].systems] == [kept]
    (row,) = [r for r in owner_client.get(list_url(org)).context["rows"] if r.systems]
    assert row.systems == 1


def test_it_says_so_when_a_release_changes_nothing(amended, org, owner_client):
    response = owner_client.get(url_of(org))
    assert response.status_code == 200
    assert response.context["impact"].systems == []
    assert "This release changes nothing" in response.content.decode()
    assert "Re-assess these systems" not in response.content.decode()


# --- The list of releases -----------------------------------------------------------------------


def test_it_lists_the_releases_that_changed_something_newest_first(
    on_original, org, owner, owner_client, other_org, outsider
):
    hiring = AISystemFactory(organisation=org)
    (assessment,) = on_original((hiring, owner))
    # An older release that once changed something too (its row made by hand).
    original = CatalogueRelease.objects.get(code=ORIGINAL)
    SystemImpact.objects.create(
        organisation=org, release=original, system=hiring, assessment=assessment
    )
    expected = deadlines.release_impact(org, CatalogueRelease.objects.get(code=AMENDED))

    response = owner_client.get(list_url(org))

    rows = response.context["rows"]
    assert [r.release.code for r in rows] == [AMENDED, ORIGINAL]
    assert (rows[0].systems, rows[0].findings, rows[0].actions) == (
        1,
        expected.findings,
        expected.actions,
    )
    assert rows[0].findings > 0 and rows[0].actions > 0
    assert (rows[1].systems, rows[1].findings, rows[1].actions) == (1, 0, 0)
    html = response.content.decode()
    assert url_of(org) in html
    assert url_of(org, ORIGINAL) in html

    # Another organisation sees the current release, and nothing of ours.
    theirs = client_for(outsider).get(list_url(other_org)).context["rows"]
    assert [(r.release.code, r.systems, r.findings, r.actions) for r in theirs] == [
        (AMENDED, 0, 0, 0)
    ]


# --- Re-assessing -------------------------------------------------------------------------------


def test_it_reassesses_the_affected_systems_in_a_batch(
    on_original, org, owner, officer, outsider, django_capture_on_commit_callbacks
):
    hiring = AISystemFactory(organisation=org)
    theirs = AISystemFactory(organisation=outsider.organisation)
    on_original((hiring, owner), (theirs, outsider))
    client = client_for(officer)
    assert "Re-assess these systems" in client.get(url_of(org)).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url_of(org))

    batch = AssessmentBatch.objects.get(organisation=org)
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.code}/batches/{batch.code}/"
    assert (batch.source, batch.release.code, batch.total) == (Source.RELEASE, AMENDED, 1)
    latest = Assessment.objects.get(system=hiring, latest=True)
    assert (latest.batch, latest.release.code, latest.status) == (batch, AMENDED, "completed")
    assert Assessment.objects.get(system=theirs, latest=True).release.code == ORIGINAL
    # The new run's findings carry the new date; the page now says the system is done.
    assert Finding.objects.get(assessment=latest, obligation_code=ART14).applies_from == dt.date(
        2027, 12, 2
    )
    page = client.get(url_of(org))
    assert page.context["impact"].pending == 0
    assert "Re-assess these systems" not in page.content.decode()
    assert "re-assessed on the current release" in page.content.decode()

    again = client.post(url_of(org), follow=True)
    assert "already assessed on the current release" in again.content.decode()
    assert AssessmentBatch.objects.count() == 1


def test_it_lets_only_managers_reassess(on_original, org, owner, member):
    hiring = AISystemFactory(organisation=org)
    on_original((hiring, owner))
    client = client_for(member)

    assert "Re-assess these systems" not in client.get(url_of(org)).content.decode()
    assert client.post(url_of(org)).status_code == 403
    assert not AssessmentBatch.objects.exists()
    viewer = MembershipFactory(organisation=org, role=Role.VIEWER)
    assert client_for(viewer).post(url_of(org)).status_code == 403
    assert not AssessmentBatch.objects.exists()


def test_it_reassesses_only_by_post(amended, org, owner_client):
    assert owner_client.put(url_of(org)).status_code == 405


# --- Queries and access -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 6])
def test_it_reads_the_impact_in_a_fixed_number_of_queries(
    n, on_original, org, owner, owner_client, django_assert_num_queries
):
    systems = [AISystemFactory(organisation=org, name=f"Screener {i}") for i in range(n)]
    on_original(*[(s, owner) for s in systems])
    owner_client.get(url_of(org))  # the session settles on this organisation

    # session, user, membership, release; impacts, latest assessments, findings, action
    # links, titles; the menu's organisations and unread notifications
    with django_assert_num_queries(11):
        response = owner_client.get(url_of(org))
    assert len(response.context["impact"].systems) == n

    # session, user, membership; impacts, releases, findings, action links; the menu's
    with django_assert_num_queries(9):
        response = owner_client.get(list_url(org))
    assert response.context["rows"][0].systems == n


def test_it_hides_the_impact_from_an_outsider(on_original, org, owner, outsider_client):
    on_original((AISystemFactory(organisation=org), owner))
    assert outsider_client.get(url_of(org)).status_code == 404
    assert outsider_client.post(url_of(org)).status_code == 404
    assert outsider_client.get(list_url(org)).status_code == 404
    assert not AssessmentBatch.objects.exists()


def test_it_gives_404_for_an_unknown_or_unpublished_release(amended, org, owner_client):
    assert owner_client.get(url_of(org, "1999-nothing")).status_code == 404
    assert owner_client.post(url_of(org, "1999-nothing")).status_code == 404
    CatalogueRelease.objects.filter(code=ORIGINAL).update(status=CatalogueRelease.Status.DRAFT)
    assert owner_client.get(url_of(org, ORIGINAL)).status_code == 404


def test_it_counts_an_action_covering_several_affected_findings_once(
    on_original, org, owner, owner_client
):
    hiring = AISystemFactory(organisation=org)
    (assessment,) = on_original((hiring, owner))
    RemediationAction.objects.filter(system=hiring).update(status="cancelled", cancel_reason="x")
    both = list(
        Finding.objects.filter(assessment=assessment, obligation_code__in=[ART14, "EU-AIA-ART10"])
    )
    manual = RemediationActionFactory(system=hiring, due_date=dt.date(2027, 12, 2), findings=both)

    page = owner_client.get(url_of(org)).context["impact"]
    (row,) = [r for r in owner_client.get(list_url(org)).context["rows"] if r.systems]

    assert page.actions == row.actions == 1
    (action,) = page.systems[0].actions
    assert action.action == manual
    assert sorted(action.codes) == ["EU-AIA-ART10", ART14]
    assert {(m.move.code, m.flag) for m in action.moves} == {("EU-AIA-ART10", ""), (ART14, "")}
