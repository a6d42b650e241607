"""Remediation action services: the workflow, verification and the findings it closes, actions
opened by assessments, priorities, bulk changes, comments, evidence, and the audit trail."""

import datetime as dt
import hashlib
import itertools

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from assessments import action_selectors, actions, services
from assessments.actions import TRANSITIONS, derive_priority
from assessments.models import (
    ActionComment,
    ActionEvidence,
    ActionFinding,
    ActionOrigin,
    ActionStatus,
    Assessment,
    Finding,
    FindingStatus,
    Notification,
    Priority,
    RemediationAction,
    ReviewState,
)
from governance.audit import audit_context
from governance.models import AuditEvent, Obligation, Role

from ..factories import (
    AISystemFactory,
    AssessmentFactory,
    FindingFactory,
    MembershipFactory,
    RemediationActionFactory,
    UserFactory,
)

S = ActionStatus
PURPOSE = "JP-APPI-PURPOSE"  # binding, in force since 2022-04-01
ART9 = "EU-AIA-ART9"  # binding, Annex III high-risk
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def officer(org):
    return MembershipFactory(
        organisation=org, role=Role.COMPLIANCE_OFFICER, user__email="officer@acme.example"
    )


@pytest.fixture
def viewer(org):
    return MembershipFactory(organisation=org, role=Role.VIEWER, user__email="viewer@acme.example")


@pytest.fixture
def system(real_catalogue, org, owner):
    return AISystemFactory(organisation=org, name="Hiring screener", owner=owner.user)


@pytest.fixture
def assessment(system):
    """A completed draft assessment: the system's latest."""
    return AssessmentFactory(system=system)


@pytest.fixture
def gap(assessment):
    return FindingFactory(
        assessment=assessment, status=FindingStatus.NOT_MET, due_date=dt.date(2026, 8, 2)
    )


@pytest.fixture
def action(gap, officer):
    return actions.action_create(
        org=gap.organisation, actor=officer, findings=[gap], title="Write the risk plan"
    )


@pytest.fixture
def media(settings, tmp_path):
    """Stored files go to a temporary directory, never into the repository."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def reread(obj):
    obj.refresh_from_db()
    return obj


def action_in(status: str, system, *, done_by=None, verified_by=None) -> RemediationAction:
    """An action already in `status`, with what the database asks of that status: done by
    and verified by two other people unless said otherwise."""
    fields: dict = {"system": system, "status": status}
    if status in (S.DONE, S.VERIFIED):
        fields |= {"done_by": done_by or UserFactory(), "done_at": timezone.now()}
    if status == S.VERIFIED:
        fields |= {"verified_by": verified_by or UserFactory(), "verified_at": timezone.now()}
    if status == S.CANCELLED:
        fields["cancel_reason"] = "Superseded by the vendor's fix."
    return RemediationActionFactory(**fields)


def events(obj, **filters):
    return AuditEvent.objects.filter(
        table=obj._meta.db_table, object_pk=str(obj.pk), **filters
    ).order_by("id")


# --- The status workflow -----------------------------------------------------------------------

ALLOWED = [(current, target) for current, targets in TRANSITIONS.items() for target in targets]
FORBIDDEN = [
    (current, target)
    for current, target in itertools.product(S.values, S.values)
    if (current, target) not in ALLOWED
]


@pytest.mark.parametrize(("current", "target"), ALLOWED, ids=[f"{c}->{t}" for c, t in ALLOWED])
def test_it_makes_every_allowed_move(current, target, system, owner, member):
    action = action_in(current, system, done_by=member.user, verified_by=owner.user)
    offered = actions.allowed_moves(action, owner)

    moved = actions.action_transition(
        action=action, actor=owner, status=target, reason="Because the auditor asked."
    )

    assert moved.status == reread(action).status == target
    assert target in offered


@pytest.mark.parametrize(("current", "target"), FORBIDDEN, ids=[f"{c}->{t}" for c, t in FORBIDDEN])
def test_it_refuses_every_other_move(current, target, system, owner, member):
    action = action_in(current, system, done_by=member.user, verified_by=owner.user)

    with pytest.raises(ValidationError, match="cannot become"):
        actions.action_transition(action=action, actor=owner, status=target, reason="Why not.")

    assert reread(action).status == current
    assert target not in actions.allowed_moves(action, owner)


def test_it_forbids_the_shortcuts_the_issue_names():
    for current, target in [(S.OPEN, S.VERIFIED), (S.BLOCKED, S.DONE), (S.VERIFIED, S.DONE)]:
        assert (current, target) in FORBIDDEN


def test_it_records_who_completed_the_work_and_who_verified_it(action, member, owner):
    actions.action_transition(action=action, actor=member, status=S.IN_PROGRESS)
    done = actions.action_transition(action=action, actor=member, status=S.DONE)
    assert (done.done_by, done.verified_by) == (member.user, None)
    assert done.done_at is not None

    verified = actions.action_transition(action=action, actor=owner, status=S.VERIFIED)

    assert (verified.done_by, verified.verified_by) == (member.user, owner.user)
    assert verified.verified_at >= verified.done_at


def test_it_forgets_the_completion_when_done_work_goes_back_in_progress(action, member):
    actions.action_transition(action=action, actor=member, status=S.DONE)

    back = actions.action_transition(action=action, actor=member, status=S.IN_PROGRESS)

    assert (back.done_by, back.done_at) == (None, None)


def test_it_refuses_to_let_whoever_did_the_work_verify_it(action, officer, owner):
    actions.action_transition(action=action, actor=officer, status=S.DONE)

    assert S.VERIFIED not in actions.allowed_moves(reread(action), officer)
    with pytest.raises(ValidationError, match="Someone other than"):
        actions.action_transition(action=action, actor=officer, status=S.VERIFIED)
    assert reread(action).status == S.DONE

    assert S.VERIFIED in actions.allowed_moves(action, owner)
    actions.action_transition(action=action, actor=owner, status=S.VERIFIED)
    assert reread(action).status == S.VERIFIED


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.DONE, S.VERIFIED), (S.OPEN, S.CANCELLED), (S.VERIFIED, S.OPEN), (S.CANCELLED, S.OPEN)],
)
def test_it_leaves_verifying_cancelling_and_reopening_to_managers(
    current, target, system, member, owner
):
    action = action_in(current, system, done_by=owner.user)

    assert target not in actions.allowed_moves(action, member)
    with pytest.raises(ValidationError, match="compliance officer or an admin"):
        actions.action_transition(action=action, actor=member, status=target, reason="Please.")

    assert reread(action).status == current


def test_it_offers_a_contributor_the_moves_of_the_work(system, member, owner):
    expected = {
        S.OPEN: [S.IN_PROGRESS, S.BLOCKED, S.DONE],
        S.IN_PROGRESS: [S.BLOCKED, S.DONE],
        S.BLOCKED: [S.IN_PROGRESS],
        S.DONE: [S.IN_PROGRESS],
        S.VERIFIED: [],
        S.CANCELLED: [],
    }
    for status, moves in expected.items():
        action = action_in(status, system)
        assert actions.allowed_moves(action, member) == moves, status


def test_it_lets_a_viewer_change_nothing(action, viewer, member, media):
    assert actions.allowed_moves(action, viewer) == []
    attempts = [
        lambda: actions.action_transition(action=action, actor=viewer, status=S.IN_PROGRESS),
        lambda: actions.action_update(action=action, actor=viewer, title="Mine now"),
        lambda: actions.comment_add(action=action, actor=viewer, body="Looks fine"),
        lambda: actions.evidence_add_link(
            action=action, actor=viewer, url="https://docs.example/plan", title="Plan"
        ),
        lambda: actions.evidence_add_file(
            action=action, actor=viewer, upload=SimpleUploadedFile("plan.pdf", PDF)
        ),
        lambda: actions.actions_bulk_update(
            org=action.organisation, actor=viewer, actions=[action], priority=Priority.LOW
        ),
        lambda: actions.action_create(
            org=action.organisation,
            actor=viewer,
            findings=list(action.findings.all()),
            title="Another",
        ),
    ]
    before = AuditEvent.objects.count()
    for attempt in attempts:
        with pytest.raises(ValidationError):
            attempt()
    assert AuditEvent.objects.count() == before
    assert reread(action).status == S.OPEN
    assert not ActionComment.objects.exists()
    assert not ActionEvidence.objects.exists()
    assert list(media.iterdir()) == []


def test_it_needs_a_reason_to_cancel_and_changes_nothing_without_one(action, officer):
    before = events(action).count()

    for reason in ("", "   "):
        with pytest.raises(ValidationError) as error:
            actions.action_transition(
                action=action, actor=officer, status=S.CANCELLED, reason=reason
            )
        assert "reason" in error.value.message_dict

    action = reread(action)
    assert (action.status, action.cancel_reason) == (S.OPEN, "")
    assert events(action).count() == before


def test_it_keeps_the_reason_for_cancelling_and_clears_it_on_reopening(action, officer, owner):
    cancelled = actions.action_transition(
        action=action, actor=officer, status=S.CANCELLED, reason="The system is retired."
    )
    assert (cancelled.status, cancelled.cancel_reason) == (S.CANCELLED, "The system is retired.")
    assert not ActionComment.objects.filter(action=action).exists()  # the reason is the field

    reopened = actions.action_transition(
        action=action, actor=owner, status=S.OPEN, reason="It is back."
    )

    assert (reopened.status, reopened.cancel_reason) == (S.OPEN, "")
    assert reread(action).cancel_reason == ""
    # A reason given with any other move becomes a comment.
    assert ActionComment.objects.get(action=action).body == "It is back."


# --- Verification and the findings it closes --------------------------------------------------


def test_it_marks_the_gaps_of_a_draft_assessment_met_and_puts_them_back_on_reopening(
    action, gap, member, officer, owner
):
    other = FindingFactory(
        assessment=gap.assessment,
        obligation=Obligation.objects.get(release=gap.assessment.release, code="EU-AIA-ART10"),
        status=FindingStatus.PARTIALLY_MET,
    )
    ActionFinding.objects.create(organisation=gap.organisation, action=action, finding=other)
    actions.action_transition(action=action, actor=member, status=S.DONE)

    actions.action_transition(action=action, actor=officer, status=S.VERIFIED)

    assert reread(gap).status == reread(other).status == FindingStatus.MET
    assert gap.updated_by == officer.user
    assert ActionFinding.objects.get(action=action, finding=gap).status_before_verify == "not_met"

    actions.action_transition(action=action, actor=owner, status=S.OPEN)

    assert reread(gap).status == FindingStatus.NOT_MET
    assert reread(other).status == FindingStatus.PARTIALLY_MET
    assert set(
        ActionFinding.objects.filter(action=action).values_list("status_before_verify", flat=True)
    ) == {""}
    action = reread(action)
    assert (action.status, action.done_by, action.verified_by) == (S.OPEN, None, None)


@pytest.mark.parametrize("state", [ReviewState.SUBMITTED, ReviewState.APPROVED])
def test_it_leaves_the_findings_of_a_submitted_or_approved_assessment_alone(
    state, action, gap, member, officer
):
    Assessment.objects.filter(pk=gap.assessment_id).update(review_state=state)
    actions.action_transition(action=action, actor=member, status=S.DONE)

    actions.action_transition(action=action, actor=officer, status=S.VERIFIED)

    assert reread(action).status == S.VERIFIED
    assert reread(gap).status == FindingStatus.NOT_MET
    assert ActionFinding.objects.get(action=action).status_before_verify == ""


def test_it_only_closes_findings_of_the_latest_assessment(action, gap, system, member, officer):
    AssessmentFactory(system=system)  # a newer run, without this obligation
    actions.action_transition(action=action, actor=member, status=S.DONE)

    actions.action_transition(action=action, actor=officer, status=S.VERIFIED)

    assert reread(gap).status == FindingStatus.NOT_MET


def _verify(action, worker, verifier):
    actions.action_transition(action=action, actor=worker, status=S.DONE)
    return actions.action_transition(action=action, actor=verifier, status=S.VERIFIED)


def test_it_follows_its_gap_to_the_next_assessment_and_closes_it_there(
    assess, system, owner, member, officer
):
    first = assess(system, owner)
    finding = Finding.objects.get(assessment=first, obligation_code=PURPOSE)
    action = RemediationAction.objects.get(findings=finding)
    services.assessment_submit(assessment=first, actor=member)
    _verify(action, member, officer)
    assert reread(finding).status == FindingStatus.OPEN  # awaiting approval: not rewritten

    second = assess(system, owner)

    new = Finding.objects.get(assessment=second, obligation_code=PURPOSE)
    assert new.status == FindingStatus.MET
    assert set(action.findings.all()) == {finding, new}
    assert ActionFinding.objects.get(action=action, finding=new).status_before_verify == "open"
    assert not RemediationAction.objects.filter(findings=new).exclude(pk=action.pk).exists()

    actions.action_transition(action=action, actor=owner, status=S.OPEN)

    assert reread(new).status == FindingStatus.OPEN  # the new run is a draft: put back


def test_it_carries_what_verification_changed_to_the_next_assessment(
    assess, system, owner, member, officer
):
    first = assess(system, owner)
    finding = Finding.objects.get(assessment=first, obligation_code=PURPOSE)
    action = RemediationAction.objects.get(findings=finding)
    _verify(action, member, officer)
    assert reread(finding).status == FindingStatus.MET

    second = assess(system, owner)
    new = Finding.objects.get(assessment=second, obligation_code=PURPOSE)
    assert new.status == FindingStatus.MET  # carried forward
    assert ActionFinding.objects.get(action=action, finding=new).status_before_verify == "open"

    actions.action_transition(action=action, actor=owner, status=S.OPEN)

    assert reread(new).status == FindingStatus.OPEN
    assert reread(finding).status == FindingStatus.MET  # an earlier run is history


def test_it_puts_a_gap_back_on_the_next_run_when_reopened_after_submission(
    assess, system, owner, member, officer
):
    first = assess(system, owner)
    finding = Finding.objects.get(assessment=first, obligation_code=PURPOSE)
    action = RemediationAction.objects.get(findings=finding)
    _verify(action, member, officer)
    assert reread(finding).status == FindingStatus.MET
    services.assessment_submit(assessment=first, actor=member)

    actions.action_transition(action=action, actor=owner, status=S.OPEN)

    # The submitted assessment is not rewritten, but the link remembers what to put back ...
    assert reread(finding).status == FindingStatus.MET
    assert ActionFinding.objects.get(action=action, finding=finding).status_before_verify == "open"
    second = assess(system, owner)
    # ... which the next run does, since the action is no longer verified.
    new = Finding.objects.get(assessment=second, obligation_code=PURPOSE)
    assert new.status == FindingStatus.OPEN
    assert list(new.actions.all()) == [action]


def test_it_opens_new_work_when_a_verified_actions_obligation_changes(
    assess, system, owner, member, officer, monkeypatch
):
    first = assess(system, owner)
    finding = Finding.objects.get(assessment=first, obligation_code=PURPOSE)
    action = RemediationAction.objects.get(findings=finding)
    services.assessment_submit(assessment=first, actor=member)
    _verify(action, member, officer)
    # The next run sees the obligation reworded (its digest differs).
    Finding.objects.filter(pk=finding.pk).update(obligation_digest="f" * 16)

    second = assess(system, owner)

    new = Finding.objects.get(assessment=second, obligation_code=PURPOSE)
    assert new.status == FindingStatus.OPEN
    fresh = RemediationAction.objects.get(findings=new)
    assert fresh != action and fresh.status == S.OPEN and fresh.origin == ActionOrigin.AUTO


def test_it_gives_no_work_to_a_system_owner_who_has_left(assess, system, owner, officer, org):
    from governance.services import membership_remove

    leaver = MembershipFactory(organisation=org, role=Role.CONTRIBUTOR)
    system.owner = leaver.user
    system.save(update_fields=["owner"])
    first = assess(system, owner)
    theirs = RemediationAction.objects.filter(findings__assessment=first)
    assert theirs.exists() and not theirs.exclude(owner=leaver.user).exists()

    membership_remove(actor=owner, member=leaver)

    assert not RemediationAction.objects.filter(owner=leaver.user).exists()
    assert reread(system).owner is None
    Notification.objects.all().delete()
    second = assess(system, owner)
    assert Assessment.objects.filter(pk=second.pk, status="completed").exists()
    assert not RemediationAction.objects.filter(owner=leaver.user).exists()
    assert not Notification.objects.filter(recipient=leaver.user).exists()


def test_it_never_notifies_someone_outside_the_organisation(action, officer, outsider):
    from assessments import notify

    created = notify.create(
        org=action.organisation,
        kind="assigned",
        recipients=[outsider.user],
        key="test:outsider",
        action=action,
    )
    assert created == 0
    assert not Notification.objects.filter(recipient=outsider.user).exists()


@pytest.mark.parametrize("due", [dt.date(1999, 12, 31), dt.date(2200, 1, 1), dt.date(9999, 12, 31)])
def test_it_refuses_a_due_date_that_can_only_be_a_typing_error(action, gap, officer, due):
    with pytest.raises(ValidationError) as error:
        actions.action_update(action=action, actor=officer, due_date=due)
    assert "due_date" in error.value.message_dict
    with pytest.raises(ValidationError):
        actions.action_create(
            org=gap.organisation, actor=officer, findings=[gap], title="X", due_date=due
        )
    with pytest.raises(ValidationError):
        actions.actions_bulk_update(
            org=gap.organisation, actor=officer, actions=[action], due_date=due
        )
    assert reread(action).due_date != due


def test_it_removes_stored_files_when_their_action_is_deleted(
    action, member, media, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile("plan.pdf", PDF, content_type="application/pdf")
    evidence = actions.evidence_add_file(action=action, actor=member, upload=upload)
    name = evidence.file.name
    assert default_storage.exists(name)

    with django_capture_on_commit_callbacks(execute=True):
        RemediationAction.objects.filter(pk=action.pk).delete()  # a cascade, not the service

    assert not ActionEvidence.objects.filter(pk=evidence.pk).exists()
    assert not default_storage.exists(name)


def test_it_finds_an_actions_history_through_the_audit_index(action, member):
    with audit_context(user_id=member.user_id, source="test"):
        actions.comment_add(action=action, actor=member, body="Started on the plan")
    history = action_selectors.action_history(action)
    tables = {event.table for event in history}
    assert {"assessments_remediationaction", "assessments_actioncomment"} <= tables
    assert all(
        event.object_pk == str(action.pk)
        or (event.after or event.before).get("action_id") == action.pk
        for event in history
    )


# --- Opened by assessments ---------------------------------------------------------------------


def test_it_opens_one_action_per_binding_gap_for_the_system_owner(assess, system, owner):
    assessment = assess(system, owner)

    gaps = Finding.objects.filter(
        assessment=assessment, legal_force=Obligation.LegalForce.BINDING, status="open"
    )
    opened = RemediationAction.objects.for_org(system.organisation)
    assert gaps.count() > 10
    assert opened.count() == gaps.count() == assessment.summary["actions_opened"]
    for finding in gaps:
        action = opened.get(findings=finding)
        assert action.owner == owner.user
        assert action.due_date == finding.due_date
        assert action.origin == ActionOrigin.AUTO
        assert action.status == S.OPEN
        assert action.title.startswith(f"{finding.obligation_code}: ")
        assert action.priority in Priority.values
    assert not opened.filter(findings__legal_force=Obligation.LegalForce.VOLUNTARY).exists()
    assert not opened.filter(findings__legal_force=Obligation.LegalForce.COOPERATION_DUTY).exists()
    assert Finding.objects.filter(
        assessment=assessment, legal_force=Obligation.LegalForce.VOLUNTARY, status="open"
    ).exists()  # the voluntary gaps exist, they just get no action


def test_it_opens_no_duplicates_when_assessing_again(assess, system, owner):
    assess(system, owner)
    before = set(RemediationAction.objects.values_list("pk", flat=True))

    second = assess(system, owner)

    assert set(RemediationAction.objects.values_list("pk", flat=True)) == before
    assert second.summary.get("actions_opened", 0) == 0
    binding_gaps = Finding.objects.filter(
        assessment=second, legal_force=Obligation.LegalForce.BINDING, status="open"
    )
    for finding in binding_gaps:
        assert finding.action_links.count() == 1


def test_it_opens_none_when_the_organisation_turned_it_off(assess, system, owner, org):
    org.auto_actions = False
    org.save(update_fields=["auto_actions"])

    assessment = assess(system, owner)

    assert Finding.objects.filter(assessment=assessment, status="open").exists()
    assert not RemediationAction.objects.exists()


def test_it_keeps_a_cancelled_action_covering_its_gap(assess, system, owner, officer):
    first = assess(system, owner)
    action = RemediationAction.objects.get(
        findings__assessment=first, findings__obligation_code=PURPOSE
    )
    actions.action_transition(
        action=action, actor=officer, status=S.CANCELLED, reason="Done elsewhere"
    )

    second = assess(system, owner)

    new = Finding.objects.get(assessment=second, obligation_code=PURPOSE)
    assert list(new.actions.all()) == [action]
    assert (
        RemediationAction.objects.filter(findings__obligation_code=PURPOSE).distinct().count() == 1
    )


# --- Opening by hand and editing ---------------------------------------------------------------


def test_it_opens_an_action_by_hand_for_gaps_of_one_system(gap, officer, member, org):
    action = actions.action_create(
        org=org,
        actor=officer,
        findings=[gap],
        title="  Write the risk plan  ",
        description="Per Art. 9.",
        owner=member.user,
    )

    assert (action.title, action.origin, action.status) == ("Write the risk plan", "manual", "open")
    assert action.due_date == gap.due_date
    assert action.created_by == officer.user
    assert list(action.findings.all()) == [gap]
    assert not action.priority_manual


def test_it_takes_the_findings_due_date_or_the_one_given(assessment, officer, org):
    soon = FindingFactory(assessment=assessment, due_date=dt.date(2026, 3, 1))
    later = FindingFactory(
        assessment=assessment,
        obligation=Obligation.objects.get(release=assessment.release, code="EU-AIA-ART10"),
        due_date=dt.date(2026, 9, 1),
    )

    derived = actions.action_create(org=org, actor=officer, findings=[later, soon], title="Both")
    chosen = actions.action_create(
        org=org, actor=officer, findings=[soon], title="Mine", due_date=dt.date(2027, 1, 1)
    )

    assert derived.due_date == dt.date(2026, 3, 1)
    assert chosen.due_date == dt.date(2027, 1, 1)


def test_it_refuses_findings_an_action_cannot_close(system, assessment, officer, org, other_org):
    met = FindingFactory(
        assessment=assessment,
        obligation=Obligation.objects.get(release=assessment.release, code="EU-AIA-ART10"),
        status=FindingStatus.MET,
    )
    gap = FindingFactory(assessment=assessment)
    elsewhere = FindingFactory(assessment__system__organisation=org)
    foreign = FindingFactory(assessment__system__organisation=other_org)
    AssessmentFactory(system=elsewhere.system)  # `elsewhere` is now an earlier run's
    cases = {
        "no finding": [],
        "a met finding": [met],
        "two systems": [gap, elsewhere],
        "another organisation": [foreign],
        "an earlier run": [elsewhere],
    }
    for name, findings in cases.items():
        with pytest.raises(ValidationError) as error:
            actions.action_create(org=org, actor=officer, findings=findings, title="Fix")
        assert "findings" in error.value.message_dict, name
    with pytest.raises(ValidationError) as error:
        actions.action_create(org=org, actor=officer, findings=[gap], title=" ")
    assert "title" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        actions.action_create(
            org=org, actor=officer, findings=[gap], title="Fix", owner=UserFactory()
        )
    assert "owner" in error.value.message_dict
    assert not RemediationAction.objects.exists()


def test_it_lets_only_managers_open_and_edit(gap, action, member, org):
    with pytest.raises(ValidationError, match="compliance officer or an admin"):
        actions.action_create(org=org, actor=member, findings=[gap], title="Fix")
    with pytest.raises(ValidationError, match="compliance officer or an admin"):
        actions.action_update(action=action, actor=member, title="Renamed")
    assert reread(action).title == "Write the risk plan"


def test_it_refuses_to_edit_a_closed_action(action, officer):
    actions.action_transition(action=action, actor=officer, status=S.CANCELLED, reason="No")

    with pytest.raises(ValidationError, match="Reopen"):
        actions.action_update(action=action, actor=officer, title="Renamed")

    assert reread(action).title == "Write the risk plan"


# --- Priority ----------------------------------------------------------------------------------

TODAY = dt.date(2026, 1, 15)
M35, M15, M7 = 35_000_000, 15_000_000, 7_500_000


@pytest.mark.parametrize(
    ("legal_force", "penalty", "days", "expected"),
    [
        ("binding", M35, 10, "critical"),  # 2 + 2 + 2
        ("binding", M35, 60, "critical"),  # 2 + 2 + 1
        ("binding", M15, 30, "critical"),  # 2 + 1 + 2: 30 days is still "soon"
        ("binding", M15, 31, "high"),  # 2 + 1 + 1
        ("binding", M15, 90, "high"),
        ("binding", M15, 91, "high"),  # 2 + 1 + 0
        ("binding", M7, 91, "medium"),  # a small fine scores nothing
        ("binding", None, None, "medium"),
        ("binding", None, -3, "high"),  # overdue counts as soon: 2 + 2
        ("cooperation_duty", None, 10, "high"),  # 1 + 2
        ("cooperation_duty", None, None, "low"),
        ("voluntary", None, -1, "medium"),  # 0 + 2
        ("voluntary", None, 60, "low"),
        ("voluntary", M35, None, "medium"),
    ],
)
def test_it_derives_the_priority(legal_force, penalty, days, expected):
    due = None if days is None else TODAY + dt.timedelta(days=days)

    priority = derive_priority(legal_force=legal_force, penalty_eur=penalty, due=due, today=TODAY)

    assert priority == expected


def test_it_keeps_a_priority_set_by_hand_and_derives_it_again_once_cleared(gap, officer, org):
    action = actions.action_create(
        org=org, actor=officer, findings=[gap], title="Fix", priority=Priority.LOW
    )
    assert (action.priority, action.priority_manual) == (Priority.LOW, True)
    far = dt.date(2030, 1, 1)

    actions.action_update(action=action, actor=officer, due_date=far)
    assert actions.refresh_priorities(org=org) == 0
    assert reread(action).priority == Priority.LOW

    cleared = actions.action_update(action=action, actor=officer, priority=None)

    derived = derive_priority(
        legal_force="binding",
        penalty_eur=gap.obligation.penalty.max_eur if gap.obligation.penalty else None,
        due=far,
        today=actions.today_for(org),
    )
    assert (cleared.priority, cleared.priority_manual) == (derived, False)
    assert cleared.priority != Priority.LOW


def test_it_raises_derived_priorities_as_deadlines_come_closer(gap, officer, org):
    action = actions.action_create(
        org=org, actor=officer, findings=[gap], title="Fix", due_date=dt.date(2031, 1, 1)
    )
    before = action.priority

    with time_machine.travel(dt.datetime(2030, 12, 20, 12, tzinfo=dt.UTC), tick=False):
        assert actions.refresh_priorities(org=org) == 1

    action = reread(action)
    assert action.priority != before
    assert action.updated_at.year == 2030


# --- Bulk --------------------------------------------------------------------------------------


def test_it_changes_all_the_actions_or_none(system, officer, member):
    first, second = action_in(S.OPEN, system), action_in(S.IN_PROGRESS, system)
    closed = action_in(S.VERIFIED, system, done_by=member.user, verified_by=officer.user)

    result = actions.actions_bulk_update(
        org=system.organisation,
        actor=officer,
        actions=[first, second, closed],
        owner=member.user,
        priority=Priority.CRITICAL,
    )

    assert result.updated == 0
    assert set(result.errors) == {str(closed.code)}
    assert "Reopen" in result.errors[str(closed.code)]
    for action in (first, second, closed):
        action = reread(action)
        assert (action.owner, action.priority) == (None, Priority.MEDIUM)
    assert not Notification.objects.exists()

    result = actions.actions_bulk_update(
        org=system.organisation,
        actor=officer,
        actions=[first, second],
        owner=member.user,
        status=S.BLOCKED,
        due_date=dt.date(2026, 12, 1),
    )

    assert (result.updated, result.errors) == (2, {})
    for action in (first, second):
        action = reread(action)
        assert (action.owner, action.status, action.due_date) == (
            member.user,
            S.BLOCKED,
            dt.date(2026, 12, 1),
        )
    assert Notification.objects.filter(recipient=member.user, kind="assigned").count() == 2


def test_it_says_which_actions_refuse_a_bulk_move(system, officer):
    first, second = action_in(S.OPEN, system), action_in(S.BLOCKED, system)

    result = actions.actions_bulk_update(
        org=system.organisation, actor=officer, actions=[first, second], status=S.DONE
    )
    assert set(result.errors) == {str(second.code)}

    result = actions.actions_bulk_update(
        org=system.organisation, actor=officer, actions=[first, second], status=S.CANCELLED
    )
    assert set(result.errors) == {str(first.code), str(second.code)}  # no reason
    assert {reread(first).status, reread(second).status} == {S.OPEN, S.BLOCKED}


def test_it_refuses_a_bulk_change_of_nothing_or_for_another_organisation(
    system, officer, other_org, real_catalogue
):
    mine = action_in(S.OPEN, system)
    theirs = RemediationActionFactory(system=AISystemFactory(organisation=other_org))

    with pytest.raises(ValidationError, match="what to change"):
        actions.actions_bulk_update(org=system.organisation, actor=officer, actions=[mine])
    with pytest.raises(ValidationError, match="this organisation"):
        actions.actions_bulk_update(
            org=system.organisation, actor=officer, actions=[mine, theirs], priority="low"
        )
    with pytest.raises(ValidationError):
        actions.actions_bulk_update(
            org=system.organisation, actor=officer, actions=[mine], owner=UserFactory()
        )
    assert reread(mine).priority == reread(theirs).priority == Priority.MEDIUM


# --- Comments and notifications ----------------------------------------------------------------


def test_it_notifies_members_mentioned_by_their_email(action, officer, member, viewer):
    comment = actions.comment_add(
        action=action,
        actor=officer,
        body="@MEMBER@acme.example please attach the plan; cc @someone@elsewhere.example "
        "and @officer@acme.example.",
        mention=[viewer.user],
    )

    assert set(comment.mentions.all()) == {member.user, viewer.user, officer.user}
    notified = Notification.objects.filter(kind="mentioned")
    assert set(notified.values_list("recipient__email", flat=True)) == {
        "member@acme.example",
        "viewer@acme.example",
    }  # never the author, never a stranger
    assert {n.action_id for n in notified} == {action.pk}
    assert notified.first().data["excerpt"].startswith("@MEMBER")


def test_it_refuses_to_notify_someone_outside_the_organisation(action, officer, outsider):
    with pytest.raises(ValidationError) as error:
        actions.comment_add(action=action, actor=officer, body="Look", mention=[outsider.user])

    assert "mention" in error.value.message_dict
    assert not ActionComment.objects.exists()
    assert not Notification.objects.exists()


def test_it_refuses_an_empty_comment(action, member):
    with pytest.raises(ValidationError) as error:
        actions.comment_add(action=action, actor=member, body="  \n ")
    assert "body" in error.value.message_dict


def test_it_notifies_a_member_given_an_action(gap, action, officer, member, org):
    assert not Notification.objects.exists()  # opened without an owner

    actions.action_update(action=action, actor=officer, owner=member.user)

    note = Notification.objects.get()
    assert (note.kind, note.recipient, note.actor, note.action) == (
        "assigned",
        member.user,
        officer.user,
        action,
    )
    actions.action_update(action=action, actor=officer, owner=member.user, title="Same owner")
    assert Notification.objects.count() == 1  # not given it again
    actions.action_create(org=org, actor=officer, findings=[gap], title="Self", owner=officer.user)
    assert Notification.objects.count() == 1  # taking one oneself notifies nobody


# --- Evidence ----------------------------------------------------------------------------------


def test_it_stores_a_file_under_an_opaque_name(action, member, media):
    upload = SimpleUploadedFile("Risk plan.pdf", PDF, content_type="text/html")

    evidence = actions.evidence_add_file(action=action, actor=member, upload=upload, title="")

    assert (evidence.kind, evidence.title, evidence.file_name) == (
        "file",
        "Risk plan.pdf",
        "Risk plan.pdf",
    )
    assert evidence.content_type == "application/pdf"  # what we checked, not what was claimed
    assert (evidence.size, evidence.sha256) == (len(PDF), hashlib.sha256(PDF).hexdigest())
    assert "Risk plan" not in evidence.file.name
    assert evidence.file.name.startswith(f"evidence/{action.organisation_id}/")
    assert default_storage.open(evidence.file.name).read() == PDF
    assert (media / evidence.file.name).is_file()


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("plan.pdf", b"just some text pretending", "content is not PDF"),
        ("photo.png", PDF, "content is not PNG"),
        ("notes.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "content is not TXT"),
        ("notes.txt", b"caf\xe9 au lait", "content is not TXT"),  # Latin-1, not UTF-8
        ("setup.exe", b"MZ\x90\x00", "one of these types"),
        ("no-extension", b"hello", "one of these types"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_it_refuses_a_file_whose_type_or_content_is_wrong(
    name, content, error, action, member, media
):
    with pytest.raises(ValidationError, match=error) as refused:
        actions.evidence_add_file(
            action=action, actor=member, upload=SimpleUploadedFile(name, content)
        )

    assert "file" in refused.value.message_dict
    assert not ActionEvidence.objects.exists()
    assert list(media.iterdir()) == []


def test_it_accepts_text_in_any_script(action, member, media):
    text = "リスク管理計画\n".encode() * 2000  # multi-byte characters across the 4 KiB read

    evidence = actions.evidence_add_file(
        action=action, actor=member, upload=SimpleUploadedFile("plan.md", text)
    )

    assert evidence.content_type == "text/markdown"


def test_it_refuses_a_file_over_the_size_limit(action, member, media, settings):
    settings.EVIDENCE_MAX_BYTES = 16

    with pytest.raises(ValidationError, match="up to 16"):
        actions.evidence_add_file(
            action=action, actor=member, upload=SimpleUploadedFile("plan.pdf", PDF)
        )

    assert not ActionEvidence.objects.exists()
    assert list(media.iterdir()) == []


def test_it_attaches_links_once_and_only_web_links(action, member):
    actions.evidence_add_link(
        action=action, actor=member, url="https://docs.example/plan", title="Plan"
    )

    with pytest.raises(ValidationError) as error:
        actions.evidence_add_link(
            action=action, actor=member, url="https://docs.example/plan", title="Again"
        )
    assert "url" in error.value.message_dict
    for url in ("javascript:alert(1)", "not a link", ""):
        with pytest.raises(ValidationError):
            actions.evidence_add_link(action=action, actor=member, url=url, title="Bad")
    with pytest.raises(ValidationError) as error:
        actions.evidence_add_link(action=action, actor=member, url="https://x.example", title="")
    assert "title" in error.value.message_dict
    assert ActionEvidence.objects.count() == 1


def test_it_deletes_the_stored_file_once_the_removal_commits(
    action, member, media, django_capture_on_commit_callbacks
):
    evidence = actions.evidence_add_file(
        action=action, actor=member, upload=SimpleUploadedFile("plan.pdf", PDF)
    )
    stored = evidence.file.name

    with django_capture_on_commit_callbacks(execute=True):
        actions.evidence_delete(evidence=evidence, actor=member)

    assert not ActionEvidence.objects.exists()
    assert not default_storage.exists(stored)


def test_it_lets_only_the_adder_or_a_manager_remove_evidence(action, member, officer, org):
    other = MembershipFactory(organisation=org, role=Role.CONTRIBUTOR)
    evidence = actions.evidence_add_link(
        action=action, actor=member, url="https://docs.example/plan", title="Plan"
    )

    with pytest.raises(ValidationError, match="whoever added it"):
        actions.evidence_delete(evidence=evidence, actor=other)
    assert ActionEvidence.objects.exists()

    actions.evidence_delete(evidence=evidence, actor=officer)
    assert not ActionEvidence.objects.exists()


def test_it_keeps_the_evidence_a_verified_action_rests_on(action, member, officer, owner):
    evidence = actions.evidence_add_link(
        action=action, actor=member, url="https://docs.example/plan", title="Plan"
    )
    _verify(action, member, officer)

    with pytest.raises(ValidationError, match="Reopen"):
        actions.evidence_delete(evidence=evidence, actor=owner)

    assert ActionEvidence.objects.filter(pk=evidence.pk).exists()


# --- The audit trail ---------------------------------------------------------------------------


def test_it_audits_every_change_with_its_actor(gap, org, officer, member, owner, media):
    with audit_context(user_id=officer.user.pk, source="test"):
        action = actions.action_create(org=org, actor=officer, findings=[gap], title="Fix")
        actions.action_update(action=action, actor=officer, owner=member.user)
    with audit_context(user_id=member.user.pk, source="test"):
        actions.action_transition(action=action, actor=member, status=S.DONE)
        comment = actions.comment_add(action=action, actor=member, body="Attached the plan")
        evidence = actions.evidence_add_file(
            action=action, actor=member, upload=SimpleUploadedFile("plan.pdf", PDF)
        )
        link = actions.evidence_add_link(
            action=action, actor=member, url="https://docs.example/a", title="A"
        )
        link_pk = link.pk
        actions.evidence_delete(evidence=link, actor=member)
    with audit_context(user_id=owner.user.pk, source="test"):
        actions.action_transition(action=action, actor=owner, status=S.VERIFIED)
        actions.action_transition(action=action, actor=owner, status=S.OPEN, reason="Redo it")

    trail = [(e.action, e.actor_user_id, e.after and e.after.get("status")) for e in events(action)]
    assert trail == [
        ("insert", officer.user.pk, "open"),
        ("update", officer.user.pk, "open"),  # the owner
        ("update", member.user.pk, "done"),
        ("update", owner.user.pk, "verified"),
        ("update", owner.user.pk, "open"),  # reopened
    ]
    assert events(action)[1].changes()[0][0] == "owner_id"
    assert events(comment).get().actor_user_id == member.user.pk
    assert events(evidence).get().actor_user_id == member.user.pk
    link_events = AuditEvent.objects.filter(
        table="assessments_actionevidence", object_pk=str(link_pk)
    ).order_by("id")
    assert [(e.action, e.actor_user_id) for e in link_events] == [
        ("insert", member.user.pk),
        ("delete", member.user.pk),
    ]
    finding_changes = [(e.actor_user_id, e.after["status"]) for e in events(gap, action="update")]
    assert finding_changes == [(owner.user.pk, "met"), (owner.user.pk, "not_met")]
    # The page's history finds them all.
    history = action_selectors.action_history(action)
    assert {e.table for e in history} >= {
        "assessments_remediationaction",
        "assessments_actioncomment",
        "assessments_actionevidence",
        "assessments_actionfinding",
    }
