"""Assessment runs, end to end through the services and tasks, on the shipped catalogue.

Celery runs eagerly, but runs are sent on commit: starts sit inside
`django_capture_on_commit_callbacks(execute=True)` and rows are re-read afterwards.
"""

import datetime as dt
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError
from django.utils import timezone

from assessments import engine, runner, selectors, services, tasks
from assessments.models import (
    Assessment,
    AssessmentBatch,
    AssessmentStatus,
    Evidence,
    Finding,
    FindingStatus,
    Notification,
    ReviewState,
    SystemImpact,
)
from assessments.models.runs import Source
from assessments.releases import compiled
from config.celery import app as celery_app
from governance.audit import audit_context
from governance.catalogue.services import release_create_draft, release_publish
from governance.models import AuditEvent, CatalogueRelease, Obligation, Role
from governance.registry import system_archive

from ..factories import (
    JAPAN_CHATBOT_ANSWERS,
    AISystemFactory,
    MembershipFactory,
    OrganisationFactory,
)

ART10 = "EU-AIA-ART10"  # crosswalked to JP-AIGB-P03, P04, DEV-01 and DEV-02
PURPOSE = "JP-APPI-PURPOSE"  # binding, in force since 2022-04-01
XBORDER = "JP-APPI-XBORDER"  # binding, in force since 2022-04-01
SECURITY = "JP-APPI-SECURITY"  # binding, in force since 2022-04-01
ART50 = "EU-AIA-ART50-1"  # binding from 2026-08-02
VOLUNTARY = "JP-AIGB-P01"  # voluntary guidance
LATER = "EU-AIA-ART14"  # binding from 2027-12-02 (the Annex III route)


@pytest.fixture
def officer(org):
    return MembershipFactory(organisation=org, role=Role.COMPLIANCE_OFFICER)


@pytest.fixture
def system(real_catalogue, org):
    return AISystemFactory(organisation=org, name="Hiring screener")


def findings_of(assessment) -> dict[str, Finding]:
    return {f.obligation_code: f for f in Finding.objects.filter(assessment=assessment)}


def add_evidence(finding, actor, url="https://docs.example/data-governance.pdf"):
    return services.evidence_add(finding=finding, actor=actor, title="Data governance", url=url)


def reviewed(assessment, actor, **statuses) -> None:
    for code, status in statuses.items():
        finding = Finding.objects.get(assessment=assessment, obligation_code=code)
        services.finding_update(finding=finding, actor=actor, status=status, notes=f"{code} ok")


def publish(base, actor, capture, code="2026-test", **changes) -> CatalogueRelease:
    """A new current release: `base` with some obligations changed ({code: {field: value}})."""
    draft = release_create_draft(
        base=base, code=code, title_en="Test release", title_ja="テスト版", actor=actor.user
    )
    for obligation, fields in changes.items():
        assert Obligation.objects.filter(release=draft, code=obligation).update(**fields) == 1
    with capture(execute=True):  # runs tasks.release_published
        release_publish(release=draft, actor=actor.user)
    draft.refresh_from_db()
    return draft


# --- Starting and running -------------------------------------------------------------------


def test_it_writes_one_finding_per_obligation_the_engine_finds_applicable(
    assess, system, owner, real_catalogue
):
    expected = engine.evaluate(compiled(real_catalogue), system.answers)

    assessment = assess(system, owner)

    assert assessment.status == AssessmentStatus.COMPLETED
    assert assessment.error == ""
    assert assessment.attempts == 1
    assert assessment.requested_by == owner.user
    assert assessment.release == real_catalogue
    assert assessment.source == Source.WEB
    assert assessment.dispatched_at is not None
    findings = findings_of(assessment)
    assert set(findings) == {a.code for a in expected.applicable}
    assert len(findings) == len(expected.applicable) == 66
    assert {f.organisation_id for f in findings.values()} == {owner.organisation_id}
    assert {f.obligation.release_id for f in findings.values()} == {real_catalogue.pk}
    assert {f.status for f in findings.values()} == {FindingStatus.OPEN}
    assert assessment.eu_tier == expected.eu_tier == "high_risk"
    assert assessment.summary["applicable"] == 66
    assert assessment.summary["by_jurisdiction"] == {"EU": 25, "JP": 41}
    assert assessment.summary["carried_forward"] == 0
    system.refresh_from_db()
    assert system.eu_tier == "high_risk"
    assert system.assessed_at == assessment.finished_at


def test_it_copies_each_runs_tier_to_the_system(assess, real_catalogue, org, owner):
    chatbot = AISystemFactory(organisation=org, answers=dict(JAPAN_CHATBOT_ANSWERS))

    assessment = assess(chatbot, owner)

    chatbot.refresh_from_db()
    assert assessment.eu_tier == chatbot.eu_tier == "not_in_scope"
    assert len(findings_of(assessment)) == 26


def test_it_returns_the_run_in_flight_when_asked_again(
    system, owner, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        first, created = services.assessment_start(system=system, actor=owner.user)
        again, created_again = services.assessment_start(system=system, actor=member.user)

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Assessment.objects.filter(system=system).count() == 1
    assert len(sent) == 1  # one run task, not two

    Assessment.objects.filter(pk=first.pk).update(status=AssessmentStatus.RUNNING)
    still, created = services.assessment_start(system=system, actor=member.user)
    assert (still.pk, created) == (first.pk, False)


def test_it_starts_a_new_run_once_the_last_one_finished(assess, system, owner):
    first = assess(system, owner)
    second = assess(system, owner)

    assert second.pk != first.pk
    assert second.previous == first


def test_it_does_not_assess_an_archived_system(system, owner):
    system_archive(system=system, actor=owner.user)

    with pytest.raises(ValidationError, match="archived"):
        services.assessment_start(system=system, actor=owner.user)

    assert not Assessment.objects.exists()


def test_it_needs_a_published_release(system, owner, org):
    CatalogueRelease.objects.update(is_current=False)

    with pytest.raises(ValidationError, match="No catalogue release is published"):
        services.assessment_start(system=system, actor=owner.user)
    with pytest.raises(ValidationError, match="No catalogue release is published"):
        services.batch_start(org=org, actor=owner.user)

    assert not Assessment.objects.exists()
    assert not AssessmentBatch.objects.exists()


def test_it_writes_the_same_rows_when_a_run_repeats(assess, system, owner):
    first = assess(system, owner)
    reviewed(first, owner, **{ART10: FindingStatus.MET})
    add_evidence(findings_of(first)[ART10], owner)
    second = assess(system, owner)
    before = {
        code: (f.pk, f.code, f.status, f.carried_from_id, f.due_date, f.suggestions)
        for code, f in findings_of(second).items()
    }
    evidence_before = list(
        Evidence.objects.filter(finding__assessment=second).values_list("pk", "url")
    )
    assert len(evidence_before) == 1

    assert services.assessment_run(assessment_id=second.pk) == "skipped"  # already completed
    Assessment.objects.filter(pk=second.pk).update(status=AssessmentStatus.QUEUED)
    assert services.assessment_run(assessment_id=second.pk) == "completed"

    after = {
        code: (f.pk, f.code, f.status, f.carried_from_id, f.due_date, f.suggestions)
        for code, f in findings_of(second).items()
    }
    assert after == before
    assert Finding.objects.filter(assessment=second).count() == 66
    assert (
        list(Evidence.objects.filter(finding__assessment=second).values_list("pk", "url"))
        == evidence_before
    )
    second.refresh_from_db()
    assert second.status == AssessmentStatus.COMPLETED
    assert second.attempts == 2
    assert second.summary["carried_forward"] == 66


# --- Carrying the review forward ------------------------------------------------------------


def test_it_carries_status_notes_and_evidence_forward(assess, system, owner, officer):
    first = assess(system, owner)
    old = findings_of(first)
    services.finding_update(
        finding=old[ART10], actor=owner, status=FindingStatus.MET, notes="See the data sheet."
    )
    evidence = add_evidence(old[ART10], owner)
    services.finding_update(
        finding=old[PURPOSE],
        actor=owner,
        status=FindingStatus.NOT_APPLICABLE,
        justification="We process no personal data in this tool.",
    )
    services.finding_update(
        finding=old[LATER],
        actor=owner,
        status=FindingStatus.RISK_ACCEPTED,
        justification="Oversight is manual until 2027.",
        risk_approver=officer.user,
    )

    second = assess(system, owner)

    new = findings_of(second)
    assert second.previous == first
    assert second.summary["carried_forward"] == 66
    assert (new[ART10].status, new[ART10].notes) == (FindingStatus.MET, "See the data sheet.")
    assert new[ART10].carried_from_id == old[ART10].pk
    assert new[ART10].pk != old[ART10].pk
    copied = Evidence.objects.get(finding=new[ART10])
    assert (copied.title, copied.url, copied.carried_from_id) == (
        evidence.title,
        evidence.url,
        evidence.pk,
    )
    assert copied.organisation_id == owner.organisation_id
    assert copied.added_by == owner.user
    assert Evidence.objects.filter(finding=old[ART10]).count() == 1  # the original stays
    assert (new[PURPOSE].status, new[PURPOSE].justification) == (
        FindingStatus.NOT_APPLICABLE,
        "We process no personal data in this tool.",
    )
    assert (new[LATER].status, new[LATER].risk_approved_by) == (
        FindingStatus.RISK_ACCEPTED,
        officer.user,
    )
    assert new[XBORDER].status == FindingStatus.OPEN


def test_it_does_not_carry_a_finding_whose_obligation_changed(
    assess, system, owner, real_catalogue, django_capture_on_commit_callbacks
):
    with time_machine.travel(dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC), tick=False):
        first = assess(system, owner)
    reviewed(first, owner, **{ART10: FindingStatus.MET, XBORDER: FindingStatus.MET})
    add_evidence(findings_of(first)[ART10], owner)
    release = publish(
        real_catalogue,
        owner,
        django_capture_on_commit_callbacks,
        **{
            ART10: {"summary_en": "Data and data governance, now stricter."},
            XBORDER: {"summary_en": "Cross-border transfers, reworded."},
        },
    )

    with time_machine.travel(dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC), tick=False):
        second = assess(system, owner)

    assert second.release == release
    old, new = findings_of(first), findings_of(second)
    assert new[ART10].obligation_digest != old[ART10].obligation_digest
    for code in (ART10, XBORDER):
        assert (new[code].status, new[code].notes, new[code].carried_from) == (
            FindingStatus.OPEN,
            "",
            None,
        )
    assert not Evidence.objects.filter(finding=new[ART10]).exists()
    assert new[PURPOSE].carried_from_id == old[PURPOSE].pk
    assert second.summary["carried_forward"] == 64
    # The obligation changed but its date did not: the clock keeps running from the first run.
    assert new[XBORDER].due_date == old[XBORDER].due_date == dt.date(2026, 11, 30)


def test_it_keeps_the_due_date_unless_the_application_date_moves(
    assess, system, owner, real_catalogue, django_capture_on_commit_callbacks
):
    with time_machine.travel(dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC), tick=False):
        first = assess(system, owner)
    publish(
        real_catalogue,
        owner,
        django_capture_on_commit_callbacks,
        **{SECURITY: {"applies_from": dt.date(2027, 6, 1)}},
    )

    with time_machine.travel(dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC), tick=False):
        second = assess(system, owner)

    old, new = findings_of(first), findings_of(second)
    assert old[PURPOSE].due_date == new[PURPOSE].due_date == dt.date(2026, 11, 30)
    assert old[SECURITY].due_date == dt.date(2026, 11, 30)
    assert new[SECURITY].due_date == new[SECURITY].applies_from == dt.date(2027, 6, 1)


def test_it_follows_a_changed_due_date_policy_on_the_next_run(assess, system, owner, org):
    """A voluntary finding had no due date; once the organisation tracks voluntary guidance,
    the next run dates it (an old "no date" is not a clock to keep)."""
    with time_machine.travel(dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC), tick=False):
        first = assess(system, owner)
    assert findings_of(first)[VOLUNTARY].due_date is None
    org.voluntary_due_dates = True
    org.save()

    with time_machine.travel(dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC), tick=False):
        second = assess(system, owner)
    assert findings_of(second)[VOLUNTARY].due_date == dt.date(2026, 12, 30)

    org.voluntary_due_dates = False
    org.save()
    with time_machine.travel(dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC), tick=False):
        third = assess(system, owner)
    assert findings_of(third)[VOLUNTARY].due_date is None
    assert findings_of(third)[PURPOSE].due_date == dt.date(2026, 11, 30)


# --- Due dates ------------------------------------------------------------------------------

TODAY = dt.date(2026, 9, 1)


@pytest.mark.parametrize(
    ("legal_force", "applies_from", "voluntary_due_dates", "expected"),
    [
        ("binding", dt.date(2027, 12, 2), False, dt.date(2027, 12, 2)),
        ("binding", dt.date(2022, 4, 1), False, TODAY + timedelta(days=30)),
        ("binding", TODAY, False, TODAY + timedelta(days=30)),  # applies today: in force
        ("binding", TODAY + timedelta(days=1), False, TODAY + timedelta(days=1)),
        ("cooperation_duty", dt.date(2025, 6, 4), False, TODAY + timedelta(days=30)),
        ("voluntary", dt.date(2024, 4, 19), False, None),
        ("voluntary", dt.date(2027, 1, 1), False, None),
        ("voluntary", dt.date(2024, 4, 19), True, TODAY + timedelta(days=30)),
        ("voluntary", dt.date(2027, 1, 1), True, dt.date(2027, 1, 1)),
    ],
)
def test_it_dates_a_gap_by_the_organisations_policy(
    legal_force, applies_from, voluntary_due_dates, expected
):
    org = OrganisationFactory.build(gap_due_days=30, voluntary_due_dates=voluntary_due_dates)

    due = services.due_date(
        org=org, legal_force=legal_force, applies_from=applies_from, today=TODAY
    )

    assert due == expected


def test_it_dates_findings_by_the_organisations_grace_period(assess, system, owner, org):
    org.gap_due_days = 30
    org.save()

    with time_machine.travel(dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC), tick=False):
        findings = findings_of(assess(system, owner))

    assert findings[PURPOSE].due_date == dt.date(2026, 10, 1)  # in force: today + 30 days
    assert findings[ART50].due_date == dt.date(2026, 10, 1)  # applied since 2026-08-02
    assert findings[LATER].due_date == dt.date(2027, 12, 2)  # applies later: that date
    assert findings[VOLUNTARY].due_date is None
    assert findings["JP-AIPA-ART7"].due_date == dt.date(2026, 10, 1)  # duty to cooperate


def test_it_judges_today_in_the_organisations_time_zone(assess, real_catalogue):
    """At 15:30 UTC on 1 August it is already 2 August in Tokyo, the day Art. 50 applies."""
    tokyo = OrganisationFactory(time_zone="Asia/Tokyo")
    brussels = OrganisationFactory(time_zone="Europe/Brussels")
    tokyo_admin = MembershipFactory(organisation=tokyo, role=Role.ADMIN)
    brussels_admin = MembershipFactory(organisation=brussels, role=Role.ADMIN)

    with time_machine.travel(dt.datetime(2026, 8, 1, 15, 30, tzinfo=dt.UTC), tick=False):
        in_tokyo = findings_of(assess(AISystemFactory(organisation=tokyo), tokyo_admin))
        in_brussels = findings_of(assess(AISystemFactory(organisation=brussels), brussels_admin))

    assert in_tokyo[ART50].due_date == dt.date(2026, 8, 2) + timedelta(days=90)
    assert in_brussels[ART50].due_date == dt.date(2026, 8, 2)
    assert in_tokyo[PURPOSE].due_date == dt.date(2026, 10, 31)
    assert in_brussels[PURPOSE].due_date == dt.date(2026, 10, 30)


# --- Crosswalk suggestions ------------------------------------------------------------------


def test_it_suggests_evidence_to_crosswalked_findings_on_the_next_run(assess, system, owner):
    first = assess(system, owner)
    assert first.summary["suggested"] == 0
    reviewed(first, owner, **{ART10: FindingStatus.MET})
    add_evidence(findings_of(first)[ART10], owner)

    second = assess(system, owner)

    findings = findings_of(second)
    assert findings["JP-AIGB-P03"].suggestions == [
        {
            "code": ART10,
            "finding": str(findings[ART10].code),
            "relationship": "intersect",
            "status": FindingStatus.MET,
            "evidence": [
                {"title": "Data governance", "url": "https://docs.example/data-governance.pdf"}
            ],
        }
    ]
    assert findings["JP-AIGB-DEV-02"].suggestions[0]["relationship"] == "subset"
    assert findings["JP-AIGB-DEV-03"].suggestions == []  # not linked to Art. 10
    assert findings[ART10].suggestions == []  # its JP peers have nothing to offer
    assert second.summary["suggested"] == 4  # P03, P04, DEV-01, DEV-02


# --- Failures -------------------------------------------------------------------------------


def test_it_fails_a_run_the_engine_cannot_evaluate(assess, system, owner, monkeypatch):
    def broken(release, answers):
        raise ValueError("unknown question 'colour'")

    monkeypatch.setattr(engine, "evaluate", broken)

    assessment = assess(system, owner)

    assert assessment.status == AssessmentStatus.FAILED
    assert assessment.error == (
        "The answers could not be evaluated against release 2026-amended: unknown question 'colour'"
    )
    assert assessment.finished_at is not None
    assert not Finding.objects.filter(assessment=assessment).exists()
    system.refresh_from_db()
    assert (system.eu_tier, system.assessed_at) == ("", None)


def test_it_fails_a_run_that_breaks_unexpectedly_with_a_readable_error(
    assess, system, owner, monkeypatch
):
    def broken(*args, **kwargs):
        raise IntegrityError('new row violates check constraint "finding_risk_accepted"')

    monkeypatch.setattr(runner, "_write_findings", broken)

    assessment = assess(system, owner)

    assert assessment.status == AssessmentStatus.FAILED
    assert "finding_risk_accepted" in assessment.error
    assert not Finding.objects.filter(assessment=assessment).exists()


@pytest.fixture
def retries_like_a_worker():
    """Eager tasks retry inline instead of raising `Retry` to the caller."""
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = True


@pytest.mark.usefixtures("retries_like_a_worker")
def test_it_retries_a_run_after_a_transient_database_error(system, owner, monkeypatch):
    real = runner._write_findings
    seen = []

    def flaky(runs):
        seen.append(Assessment.objects.get(pk=runs[0].assessment.pk).status)
        if len(seen) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(runs)

    monkeypatch.setattr(runner, "_write_findings", flaky)
    assessment = Assessment.objects.create(
        organisation=system.organisation,
        system=system,
        release=system.release,
        source=Source.WEB,
        requested_by=owner.user,
        answers=system.answers,
        system_version=system.version,
    )

    result = tasks.run_assessment.apply(args=[assessment.pk])

    assert result.get() == "completed"
    assert seen == [AssessmentStatus.RUNNING, AssessmentStatus.RUNNING]
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.COMPLETED
    assert assessment.attempts == 2
    assert Finding.objects.filter(assessment=assessment).count() == 66


@pytest.mark.usefixtures("retries_like_a_worker")
def test_it_requeues_the_run_between_transient_retries(system, owner, monkeypatch):
    def down(*args):
        raise OperationalError("the database is starting up")

    monkeypatch.setattr(runner, "_write_findings", down)
    statuses = []
    real_requeue = services.assessment_requeue

    def requeue(*, assessment_id):
        done = real_requeue(assessment_id=assessment_id)
        statuses.append(Assessment.objects.get(pk=assessment_id).status)
        return done

    monkeypatch.setattr(services, "assessment_requeue", requeue)
    assessment = Assessment.objects.create(
        organisation=system.organisation,
        system=system,
        release=system.release,
        source=Source.WEB,
        answers=system.answers,
        system_version=system.version,
    )

    result = tasks.run_assessment.apply(args=[assessment.pk])

    assert result.get() == "failed"
    assert statuses == [AssessmentStatus.QUEUED] * tasks.run_assessment.max_retries
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.FAILED
    assert assessment.attempts == tasks.run_assessment.max_retries + 1
    assert assessment.error == "The database was unavailable; the run was given up after 4 tries."


@pytest.mark.usefixtures("retries_like_a_worker")
def test_it_retries_a_run_whose_task_starts_while_the_database_is_away(system, owner, monkeypatch):
    """Found by the chaos run (scripts/chaos): the task's first query failed outside the retry
    logic, so the message was dropped and the run waited for the sweep."""
    real, calls = tasks._requester, []

    def away_once(assessment_id):
        calls.append(assessment_id)
        if len(calls) == 1:
            raise OperationalError("connection refused")
        return real(assessment_id)

    monkeypatch.setattr(tasks, "_requester", away_once)
    assessment = Assessment.objects.create(
        organisation=system.organisation,
        system=system,
        release=system.release,
        source=Source.WEB,
        requested_by=owner.user,
        answers=system.answers,
        system_version=system.version,
    )

    result = tasks.run_assessment.apply(args=[assessment.pk])

    assert result.get() == "completed"
    assert len(calls) == 2
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.COMPLETED
    assert assessment.attempts == 1  # never claimed while the database was away


def test_it_records_the_run_in_the_audit_trail_as_its_requester(assess, system, owner):
    assessment = assess(system, owner)

    event = AuditEvent.objects.filter(
        table="assessments_assessment", object_pk=str(assessment.pk), action="update"
    ).latest("id")
    assert event.after["status"] == AssessmentStatus.COMPLETED
    assert event.actor_user_id == owner.user.pk
    assert event.context["source"] == "task:run_assessment"
    assert event.organisation_id == owner.organisation_id
    # The findings it created: one event for the run, naming every one of them.
    created = AuditEvent.objects.get(
        table="assessments_finding", object_pk=f"assessment:{assessment.pk}", action="insert"
    )
    assert created.actor_user_id == owner.user.pk
    assert created.organisation_id == owner.organisation_id
    findings = Finding.objects.filter(assessment=assessment)
    assert sorted((f["id"], f["obligation_code"]) for f in created.after["findings"]) == sorted(
        findings.values_list("pk", "obligation_code")
    )
    # Each later change of a finding is an event of its own.
    finding = findings.first()
    trail = AuditEvent.objects.filter(table="assessments_finding", object_pk=str(finding.pk))
    Finding.objects.filter(pk=finding.pk).update(notes="Checked with legal")
    assert trail.get().action == "update"


# --- The sweep ------------------------------------------------------------------------------


@pytest.fixture
def runs(real_catalogue, org):
    """Assessment rows in a given state, each of a system of its own."""

    def make(status, *, started=None, dispatched=None, created=None, attempts=0):
        system = AISystemFactory(organisation=org)
        assessment = Assessment.objects.create(
            organisation=org,
            system=system,
            release=real_catalogue,
            source=Source.WEB,
            answers=system.answers,
            system_version=system.version,
            status=status,
            started_at=started,
            dispatched_at=dispatched,
            attempts=attempts,
        )
        if created is not None:
            Assessment.objects.filter(pk=assessment.pk).update(created_at=created)
        return assessment

    return make


@pytest.fixture
def sweep_settings(settings):
    settings.ASSESSMENT_STUCK_AFTER = 600
    settings.ASSESSMENT_RESEND_AFTER = 300
    settings.ASSESSMENT_MAX_ATTEMPTS = 3
    return settings


def test_it_requeues_and_resends_a_run_a_dead_worker_left_running(
    runs, sweep_settings, django_capture_on_commit_callbacks
):
    now = timezone.now()
    stuck = runs(
        AssessmentStatus.RUNNING,
        started=now - timedelta(seconds=601),
        dispatched=now - timedelta(seconds=700),
        created=now - timedelta(seconds=700),
        attempts=1,
    )

    with django_capture_on_commit_callbacks(execute=False) as sent:
        counts = services.sweep_stuck(now=now)

    assert counts == {"requeued": 1, "resent": 0, "failed": 0}
    stuck.refresh_from_db()
    assert stuck.status == AssessmentStatus.QUEUED
    for send in sent:
        send()
    stuck.refresh_from_db()
    assert stuck.status == AssessmentStatus.COMPLETED
    assert stuck.attempts == 2
    assert stuck.dispatched_at > now - timedelta(seconds=5)


def test_it_gives_up_on_a_run_that_keeps_dying(
    runs, sweep_settings, django_capture_on_commit_callbacks
):
    now = timezone.now()
    dying = runs(AssessmentStatus.RUNNING, started=now - timedelta(hours=1), attempts=3)

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.sweep_stuck(now=now)

    assert counts == {"requeued": 0, "resent": 0, "failed": 1}
    dying.refresh_from_db()
    assert dying.status == AssessmentStatus.FAILED
    assert dying.error == "The run stopped 3 times before finishing; it was given up."
    assert dying.finished_at == now


def test_it_resends_queued_runs_whose_message_was_lost(
    runs, sweep_settings, django_capture_on_commit_callbacks
):
    now = timezone.now()
    long_ago = now - timedelta(seconds=301)
    lost = runs(AssessmentStatus.QUEUED, dispatched=long_ago, created=long_ago)
    never_sent = runs(AssessmentStatus.QUEUED, created=long_ago)

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.sweep_stuck(now=now)

    assert counts == {"requeued": 0, "resent": 2, "failed": 0}
    for assessment in (lost, never_sent):
        assessment.refresh_from_db()
        assert (assessment.status, assessment.attempts) == (AssessmentStatus.COMPLETED, 1)


def test_it_leaves_runs_that_are_still_on_time_alone(
    runs, sweep_settings, django_capture_on_commit_callbacks
):
    now = timezone.now()
    fresh_running = runs(AssessmentStatus.RUNNING, started=now - timedelta(seconds=599), attempts=1)
    fresh_queued = runs(AssessmentStatus.QUEUED, dispatched=now - timedelta(seconds=60))
    just_created = runs(AssessmentStatus.QUEUED)  # its on-commit send may not have run yet
    failed = runs(AssessmentStatus.FAILED, started=now - timedelta(hours=2), attempts=1)

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.sweep_stuck(now=now)

    assert counts == {"requeued": 0, "resent": 0, "failed": 0}
    for assessment, status in [
        (fresh_running, AssessmentStatus.RUNNING),
        (fresh_queued, AssessmentStatus.QUEUED),
        (just_created, AssessmentStatus.QUEUED),
        (failed, AssessmentStatus.FAILED),
    ]:
        assessment.refresh_from_db()
        assert assessment.status == status
        assert not Finding.objects.filter(assessment=assessment).exists()


# --- Assess all -----------------------------------------------------------------------------


def test_it_assesses_every_active_system_in_one_batch(
    real_catalogue, org, owner, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "BATCH_CHUNK", 2)
    busy, idle, other = AISystemFactory.create_batch(3, organisation=org)
    archived = AISystemFactory(organisation=org)
    system_archive(system=archived, actor=owner.user)
    AISystemFactory(organisation=OrganisationFactory())  # another organisation's
    with django_capture_on_commit_callbacks(execute=False):  # queued, never sent
        in_flight, _ = services.assessment_start(system=busy, actor=owner.user)

    with django_capture_on_commit_callbacks(execute=True):
        batch = services.batch_start(org=org, actor=owner.user)

    batch.refresh_from_db()
    assert batch.total == 3
    assert batch.queued_at is not None
    assert batch.source == Source.BATCH
    rows = Assessment.objects.filter(batch=batch)
    assert {a.system_id for a in rows} == {busy.pk, idle.pk, other.pk}
    assert rows.get(system=busy).pk == in_flight.pk  # joined the batch, not queued twice
    assert Assessment.objects.filter(system=busy).count() == 1
    progress = selectors.batch_progress(batch)
    assert progress == {
        "queued": 1,
        "running": 0,
        "completed": 2,
        "failed": 0,
        "total": 3,
        "done": 2,
        "percent": 67,
        "finished": False,
    }

    with django_capture_on_commit_callbacks(execute=True):
        assert services.batch_queue(batch_id=batch.pk, system_ids=[busy.pk, idle.pk, other.pk]) == 0
    assert Assessment.objects.filter(batch=batch).count() == 3

    assert services.assessment_run(assessment_id=in_flight.pk) == "completed"
    progress = selectors.batch_progress(batch)
    assert (progress["done"], progress["percent"], progress["finished"]) == (3, 100, True)


def test_it_finishes_a_batch_whose_system_was_archived_before_it_was_queued(
    real_catalogue, org, owner, django_capture_on_commit_callbacks
):
    first, second = AISystemFactory.create_batch(2, organisation=org)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        batch = services.batch_start(org=org, actor=owner.user)
    system_archive(system=second, actor=owner.user)

    with django_capture_on_commit_callbacks(execute=True):
        for send in sent:
            send()

    batch.refresh_from_db()
    assert list(Assessment.objects.filter(batch=batch).values_list("system_id", flat=True)) == [
        first.pk
    ]
    progress = selectors.batch_progress(batch)
    assert (progress["total"], progress["done"], progress["finished"]) == (1, 1, True)


def test_it_refuses_a_batch_with_nothing_to_assess(real_catalogue, org, owner):
    with pytest.raises(ValidationError, match="no system to assess"):
        services.batch_start(org=org, actor=owner.user)
    assert not AssessmentBatch.objects.exists()


# --- A new catalogue release ----------------------------------------------------------------


def test_it_marks_the_assessments_a_new_release_changes_as_stale(
    assess, real_catalogue, org, owner, outsider, django_capture_on_commit_callbacks
):
    hiring = AISystemFactory(organisation=org)
    chatbot = AISystemFactory(organisation=org, answers=dict(JAPAN_CHATBOT_ANSWERS))
    theirs = AISystemFactory(organisation=outsider.organisation)
    older = assess(hiring, owner)
    latest = assess(hiring, owner)
    untouched = assess(chatbot, owner)
    assess(theirs, outsider)
    assert services.stale_systems(org) == []

    release = publish(
        real_catalogue,
        owner,
        django_capture_on_commit_callbacks,
        **{ART10: {"summary_en": "Data governance, reworded."}},
    )

    latest.refresh_from_db()
    older.refresh_from_db()
    untouched.refresh_from_db()
    assert latest.stale_since == release
    assert older.stale_since is None  # only each system's latest assessment
    assert untouched.stale_since is None  # Art. 10 does not apply to the chatbot
    assert release.impact["systems_affected"] == 2
    assert release.impact["organisations_affected"] == 2
    assert services.stale_systems(org) == [hiring]

    fresh = assess(hiring, owner)
    assert fresh.release == release
    assert fresh.stale_since is None
    assert services.stale_systems(org) == []
    assert services.mark_stale_after_release(release=release) == 1  # only the other org's


def test_it_records_what_a_release_changes_for_each_system_and_tells_the_officers(
    assess, real_catalogue, org, owner, member, outsider, django_capture_on_commit_callbacks
):
    hiring = AISystemFactory(organisation=org, name="Hiring screener")
    assessment = assess(hiring, owner)
    assess(AISystemFactory(organisation=outsider.organisation), outsider)
    before = findings_of(assessment)[LATER].applies_from

    release = publish(
        real_catalogue,
        owner,
        django_capture_on_commit_callbacks,
        **{
            ART10: {"summary_en": "Data governance, reworded."},
            LATER: {"applies_from": dt.date(2029, 1, 1), "applies_from_rules": []},
        },
    )

    impact = SystemImpact.objects.get(release=release, system=hiring)
    assert impact.organisation == org and impact.assessment == assessment
    assert (impact.tier_before, impact.tier_after) == ("high_risk", "high_risk")
    assert ART10 in impact.changed and LATER in impact.changed
    assert impact.moved == [{"code": LATER, "from": before.isoformat(), "to": "2029-01-01"}]
    assert impact.added == [] and impact.removed == []
    assert SystemImpact.objects.filter(release=release).count() == 2  # the outsider's too

    # Recomputing (a redelivered task) writes the same rows once.
    assert services.mark_stale_after_release(release=release) == 2
    assert SystemImpact.objects.filter(release=release).count() == 2

    told = Notification.objects.filter(kind="release_published", release=release)
    # Admins and compliance officers of each organisation, with their own count; not the
    # contributor.
    assert {(n.recipient_id, n.organisation_id) for n in told} == {
        (owner.user_id, org.pk),
        (outsider.user_id, outsider.organisation_id),
    }
    assert told.get(recipient=owner.user).data["systems_affected"] == 1


def test_it_marks_only_the_newest_completed_run_of_a_system_as_latest(
    assess, system, owner, monkeypatch
):
    first = assess(system, owner)
    second = assess(system, owner)
    first.refresh_from_db()
    assert (first.latest, second.latest) == (False, True)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "evaluate", broken)
    failed = assess(system, owner)
    assert failed.status == AssessmentStatus.FAILED
    second.refresh_from_db()
    assert (failed.latest, second.latest) == (False, True)
    assert Assessment.objects.filter(system=system, latest=True).count() == 1


def test_it_counts_no_system_when_a_release_changes_nothing_that_applies(
    assess, real_catalogue, org, owner, django_capture_on_commit_callbacks
):
    chatbot = AISystemFactory(organisation=org, answers=dict(JAPAN_CHATBOT_ANSWERS))
    assessment = assess(chatbot, owner)

    release = publish(
        real_catalogue,
        owner,
        django_capture_on_commit_callbacks,
        **{ART10: {"summary_en": "Data governance, reworded."}},
    )

    assessment.refresh_from_db()
    assert assessment.stale_since is None
    assert release.impact["systems_affected"] == 0
    assert release.impact["organisations_affected"] == 0


# --- Review ---------------------------------------------------------------------------------


@pytest.fixture
def done(assess, system, owner) -> Assessment:
    return assess(system, owner)


def snapshot(finding) -> tuple:
    finding.refresh_from_db()
    return (
        finding.status,
        finding.notes,
        finding.justification,
        finding.risk_approved_by_id,
        finding.updated_by_id,
        Evidence.objects.filter(finding=finding).count(),
    )


def test_it_needs_a_justification_for_not_applicable(done, member):
    finding = findings_of(done)[ART10]
    before = snapshot(finding)

    with pytest.raises(ValidationError) as error:
        services.finding_update(
            finding=finding, actor=member, status=FindingStatus.NOT_APPLICABLE, justification="  "
        )

    assert list(error.value.message_dict) == ["justification"]
    assert snapshot(finding) == before

    services.finding_update(
        finding=finding,
        actor=member,
        status=FindingStatus.NOT_APPLICABLE,
        justification="We only deploy it.",
    )
    finding.refresh_from_db()
    assert (finding.status, finding.justification, finding.updated_by) == (
        FindingStatus.NOT_APPLICABLE,
        "We only deploy it.",
        member.user,
    )


def test_it_needs_an_approver_with_authority_to_accept_a_risk(done, owner, member, outsider):
    finding = findings_of(done)[ART10]
    before = snapshot(finding)

    for actor, approver in [(member, None), (owner, member.user), (owner, outsider.user)]:
        with pytest.raises(ValidationError) as error:
            services.finding_update(
                finding=finding,
                actor=actor,
                status=FindingStatus.RISK_ACCEPTED,
                justification="Low impact.",
                risk_approver=approver,
            )
        assert list(error.value.message_dict) == ["risk_approver"]
    with pytest.raises(ValidationError) as error:
        services.finding_update(
            finding=finding, actor=owner, status=FindingStatus.RISK_ACCEPTED, justification=""
        )
    assert set(error.value.message_dict) == {"justification"}
    assert snapshot(finding) == before


def test_it_records_a_risk_accepted_by_a_compliance_officer(done, member, officer, owner):
    finding = findings_of(done)[ART10]

    services.finding_update(
        finding=finding,
        actor=member,
        status=FindingStatus.RISK_ACCEPTED,
        justification="Low impact.",
        risk_approver=officer.user,
    )
    finding.refresh_from_db()
    assert (finding.status, finding.risk_approved_by) == (
        FindingStatus.RISK_ACCEPTED,
        officer.user,
    )

    other = findings_of(done)[PURPOSE]
    services.finding_update(
        finding=other, actor=owner, status=FindingStatus.RISK_ACCEPTED, justification="Minor."
    )
    other.refresh_from_db()
    assert other.risk_approved_by == owner.user  # an admin accepts it themselves

    services.finding_update(finding=finding, actor=member, status=FindingStatus.MET)
    finding.refresh_from_db()
    assert (finding.status, finding.justification, finding.risk_approved_by) == (
        FindingStatus.MET,
        "",
        None,
    )


def test_it_refuses_an_unknown_status(done, member):
    finding = findings_of(done)[ART10]
    with pytest.raises(ValidationError):
        services.finding_update(finding=finding, actor=member, status="done")
    assert snapshot(finding)[0] == FindingStatus.OPEN


def test_it_refuses_duplicate_or_malformed_evidence(done, member):
    finding = findings_of(done)[ART10]
    add_evidence(finding, member)

    with pytest.raises(ValidationError) as error:
        add_evidence(finding, member)
    assert list(error.value.message_dict) == ["url"]
    with pytest.raises(ValidationError):
        add_evidence(finding, member, url="not a link")
    assert Evidence.objects.filter(finding=finding).count() == 1


def test_it_removes_evidence(done, member):
    finding = findings_of(done)[ART10]
    evidence = add_evidence(finding, member)

    services.evidence_remove(evidence=evidence, actor=member)

    assert not Evidence.objects.filter(finding=finding).exists()


def test_it_approves_with_four_eyes(done, member, officer):
    submitted = services.assessment_submit(assessment=done, actor=member)
    assert (submitted.review_state, submitted.prepared_by) == (ReviewState.SUBMITTED, member.user)

    approved = services.assessment_approve(assessment=done, actor=officer)

    done.refresh_from_db()
    assert approved.review_state == done.review_state == ReviewState.APPROVED
    assert (done.prepared_by, done.approved_by) == (member.user, officer.user)
    assert done.approved_at is not None


def review_state(assessment) -> tuple:
    assessment.refresh_from_db()
    return (
        assessment.review_state,
        assessment.prepared_by_id,
        assessment.approved_by_id,
        assessment.approved_at,
    )


def test_it_refuses_approval_by_the_preparer_or_a_contributor(done, owner, member, officer):
    with pytest.raises(ValidationError, match="awaiting approval"):
        services.assessment_approve(assessment=done, actor=owner)  # still a draft
    services.assessment_submit(assessment=done, actor=officer)
    before = review_state(done)

    with pytest.raises(ValidationError, match="other than the preparer"):
        services.assessment_approve(assessment=done, actor=officer)
    with pytest.raises(ValidationError, match="compliance officer or an admin"):
        services.assessment_approve(assessment=done, actor=member)

    assert review_state(done) == before


def test_it_returns_a_submitted_assessment_to_review(done, owner, member, officer):
    other_contributor = MembershipFactory(organisation=member.organisation)
    services.assessment_submit(assessment=done, actor=member)

    with pytest.raises(ValidationError, match="preparer or an approver"):
        services.assessment_return(assessment=done, actor=other_contributor)
    assert review_state(done)[0] == ReviewState.SUBMITTED

    services.assessment_return(assessment=done, actor=member)
    assert review_state(done) == (ReviewState.DRAFT, None, None, None)
    services.assessment_submit(assessment=done, actor=member)
    services.assessment_return(assessment=done, actor=officer)
    assert review_state(done)[0] == ReviewState.DRAFT
    with pytest.raises(ValidationError, match="awaiting approval can be returned"):
        services.assessment_return(assessment=done, actor=owner)


@pytest.mark.parametrize("state", [ReviewState.SUBMITTED, ReviewState.APPROVED])
def test_it_keeps_a_submitted_or_approved_assessment_read_only(state, done, member, officer):
    finding = findings_of(done)[ART10]
    evidence = add_evidence(finding, member)
    services.assessment_submit(assessment=done, actor=member)
    if state == ReviewState.APPROVED:
        services.assessment_approve(assessment=done, actor=officer)
    message = "approved" if state == ReviewState.APPROVED else "awaiting approval"
    before = snapshot(finding)

    with pytest.raises(ValidationError, match=message):
        services.finding_update(finding=finding, actor=member, status=FindingStatus.MET)
    with pytest.raises(ValidationError, match=message):
        add_evidence(finding, member, url="https://docs.example/another.pdf")
    with pytest.raises(ValidationError, match=message):
        services.evidence_remove(evidence=evidence, actor=member)
    with pytest.raises(ValidationError, match=message):
        services.assessment_submit(assessment=done, actor=member)

    assert snapshot(finding) == before
    assert review_state(done)[0] == state


def test_it_refuses_to_review_a_run_that_has_not_finished(system, owner, member):
    assessment, _ = services.assessment_start(system=system, actor=owner.user)  # never sent

    with pytest.raises(ValidationError, match="not completed"):
        services.assessment_submit(assessment=assessment, actor=member)
    assessment.refresh_from_db()
    assert assessment.review_state == ReviewState.DRAFT


def test_it_records_who_updated_a_finding_in_the_audit_trail(done, member):
    finding = findings_of(done)[ART10]

    with audit_context(user_id=member.user.pk, source="test"):
        services.finding_update(
            finding=finding, actor=member, status=FindingStatus.MET, notes="Checked."
        )

    event = AuditEvent.objects.filter(
        table="assessments_finding", object_pk=str(finding.pk), action="update"
    ).last()
    assert event.actor_user_id == member.user.pk
    assert event.organisation_id == member.organisation_id
    assert (event.before["status"], event.after["status"]) == ("open", "met")
    assert event.after["notes"] == "Checked."
