"""Assessment workflows: start, run (in the worker), review, approve.

A run is safe to repeat: it is claimed with a conditional update, and everything it writes —
findings, carried evidence, suggestions, the summary and the completed status — is one
transaction of upserts, so a worker killed half-way leaves nothing behind and the next attempt
writes the same rows once.
"""

import datetime as dt
import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from governance.models import (
    AISystem,
    CatalogueRelease,
    Membership,
    Organisation,
    Role,
    User,
)

from . import engine, notify, runner
from .integrations import events
from .models import (
    Assessment,
    AssessmentBatch,
    AssessmentStatus,
    Evidence,
    Finding,
    FindingStatus,
    ReviewState,
    SystemImpact,
)
from .models.runs import IN_FLIGHT, Source
from .releases import compiled, current_release

log = logging.getLogger(__name__)

APPROVER_ROLES = (Role.COMPLIANCE_OFFICER, Role.ADMIN)
# Statuses whose evidence is worth offering to a crosswalked obligation.
_EVIDENCED = (FindingStatus.MET, FindingStatus.PARTIALLY_MET)


# --- Starting --------------------------------------------------------------------------------


def _dispatch(assessment_ids: list[int]) -> None:
    """Send run tasks once the creating transaction has committed: one task per run, or one
    per ASSESSMENT_RUN_CHUNK runs when there are many."""
    from .tasks import run_assessment, run_assessments

    def send() -> None:
        Assessment.objects.filter(pk__in=assessment_ids).update(dispatched_at=timezone.now())
        if len(assessment_ids) == 1:
            run_assessment.delay(assessment_ids[0])
            return
        size = settings.ASSESSMENT_RUN_CHUNK
        for start in range(0, len(assessment_ids), size):
            run_assessments.delay(assessment_ids[start : start + size])

    if assessment_ids:
        transaction.on_commit(send)


def assessment_start(
    *,
    system: AISystem,
    actor: User | None,
    source: str = Source.WEB,
    batch: AssessmentBatch | None = None,
) -> tuple[Assessment, bool]:
    """Queue an assessment of the system on the current release; (assessment, created).

    A system has at most one run in flight: asking again returns that run.
    """
    if system.is_archived:
        raise ValidationError(_("An archived system is not assessed; restore it first."))
    release = current_release()
    if release is None:
        raise ValidationError(_("No catalogue release is published yet; ask a curator."))
    in_flight = Assessment.objects.filter(system=system, status__in=IN_FLIGHT).first()
    if in_flight is not None:
        return in_flight, False
    try:
        with transaction.atomic():
            assessment = Assessment.objects.create(
                organisation_id=system.organisation_id,
                system=system,
                release=release,
                batch=batch,
                source=source,
                requested_by=actor,
                answers=system.answers,
                system_version=system.version,
            )
            _dispatch([assessment.pk])
    except IntegrityError:
        # Someone else queued one between our check and our insert.
        return Assessment.objects.get(system=system, status__in=IN_FLIGHT), False
    return assessment, True


def batch_start(
    *,
    org: Organisation,
    actor: User | None,
    systems: Iterable[AISystem] | None = None,
    source: str = Source.BATCH,
) -> AssessmentBatch:
    """Queue an assessment of every active system (or of `systems`) with a progress row.

    The fan-out itself runs in the worker (`queue_batch`), so the request returns at once.
    """
    release = current_release()
    if release is None:
        raise ValidationError(_("No catalogue release is published yet; ask a curator."))
    ids = (
        [s.pk for s in systems]
        if systems is not None
        else list(AISystem.objects.for_org(org).active().values_list("pk", flat=True))
    )
    if not ids:
        raise ValidationError(_("There is no system to assess."))
    with transaction.atomic():
        batch = AssessmentBatch.objects.create(
            organisation=org, source=source, release=release, requested_by=actor, total=len(ids)
        )
        from .tasks import queue_batch

        transaction.on_commit(lambda: queue_batch.delay(batch.pk, ids))
    return batch


BATCH_CHUNK = 200


def batch_queue(*, batch_id: int, system_ids: list[int]) -> int:
    """Create the batch's assessments (skipping systems already in flight, which join the
    batch instead) in chunks, and dispatch them. Idempotent: a repeat queues nothing new."""
    batch = AssessmentBatch.objects.filter(pk=batch_id).select_related("release").first()
    if batch is None:
        return 0
    created = 0
    for start in range(0, len(system_ids), BATCH_CHUNK):
        chunk = system_ids[start : start + BATCH_CHUNK]
        with transaction.atomic():
            systems = list(
                AISystem.objects.for_org(batch.organisation)
                .active()
                .filter(pk__in=chunk)
                .select_for_update(of=("self",))
            )
            busy = dict(
                Assessment.objects.filter(system__in=systems, status__in=IN_FLIGHT).values_list(
                    "system_id", "pk"
                )
            )
            done = set(
                Assessment.objects.filter(batch=batch, system__in=systems).values_list(
                    "system_id", flat=True
                )
            )
            Assessment.objects.filter(pk__in=busy.values(), batch__isnull=True).update(batch=batch)
            rows = Assessment.objects.bulk_create(
                Assessment(
                    organisation_id=batch.organisation_id,
                    system=system,
                    release_id=batch.release_id,
                    batch=batch,
                    source=batch.source,
                    requested_by_id=batch.requested_by_id,
                    answers=system.answers,
                    system_version=system.version,
                )
                for system in systems
                if system.pk not in busy and system.pk not in done
            )
            created += len(rows)
            _dispatch([row.pk for row in rows])
    AssessmentBatch.objects.filter(pk=batch.pk, queued_at__isnull=True).update(
        queued_at=timezone.now()
    )
    # Progress counts the batch's assessments: a system archived since the batch was asked for,
    # or already running in another batch, has none here and must not be waited for.
    tracked = Assessment.objects.filter(batch=batch).count()
    AssessmentBatch.objects.filter(pk=batch.pk).exclude(total=tracked).update(total=tracked)
    return created


# --- Running (in the worker) -----------------------------------------------------------------

# The run itself lives in runner.py (many assessments per task); these names stay here for
# the callers that know them.
RunError = runner.RunError
due_date = runner.due_date


def assessment_run(*, assessment_id: int) -> str:
    """Evaluate one queued assessment and write its findings. Returns what happened."""
    return runner.run([assessment_id])[assessment_id]


def assessments_run(*, assessment_ids: list[int]) -> dict[int, str]:
    """Evaluate queued assessments together (see runner.py). Returns what happened to each."""
    return runner.run(assessment_ids)


def assessment_fail(*, assessment_id: int, error: str) -> None:
    Assessment.objects.filter(pk=assessment_id, status__in=IN_FLIGHT).update(
        status=AssessmentStatus.FAILED, finished_at=timezone.now(), error=error[:2000]
    )


def assessment_requeue(*, assessment_id: int) -> bool:
    """Put a run that failed for a transient reason back in the queue (the task retries)."""
    return bool(
        Assessment.objects.filter(pk=assessment_id, status=AssessmentStatus.RUNNING).update(
            status=AssessmentStatus.QUEUED
        )
    )


def assessments_fail(*, assessment_ids: list[int], error: str) -> None:
    runner.fail(assessment_ids, error)


def assessments_requeue(*, assessment_ids: list[int]) -> int:
    """Put runs of a chunk that failed for a transient reason back in the queue."""
    return Assessment.objects.filter(pk__in=assessment_ids, status=AssessmentStatus.RUNNING).update(
        status=AssessmentStatus.QUEUED
    )


def sweep_stuck(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Re-queue runs a dead worker left in `running`, re-send runs whose message was lost,
    and give up on runs that keep dying."""
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.ASSESSMENT_STUCK_AFTER)
    resend_before = now - timedelta(seconds=settings.ASSESSMENT_RESEND_AFTER)
    stuck = Assessment.objects.filter(status=AssessmentStatus.RUNNING, started_at__lt=stuck_before)
    failed = stuck.filter(attempts__gte=settings.ASSESSMENT_MAX_ATTEMPTS).update(
        status=AssessmentStatus.FAILED,
        finished_at=now,
        error=_("The run stopped %(n)s times before finishing; it was given up.")
        % {"n": settings.ASSESSMENT_MAX_ATTEMPTS},
    )
    requeued = list(
        stuck.filter(attempts__lt=settings.ASSESSMENT_MAX_ATTEMPTS).values_list("pk", flat=True)
    )
    Assessment.objects.filter(pk__in=requeued, status=AssessmentStatus.RUNNING).update(
        status=AssessmentStatus.QUEUED
    )
    lost = list(
        Assessment.objects.filter(status=AssessmentStatus.QUEUED)
        .filter(Q(dispatched_at__lt=resend_before) | Q(dispatched_at__isnull=True))
        .filter(created_at__lt=resend_before)
        .exclude(pk__in=requeued)
        .values_list("pk", flat=True)[:1000]
    )
    with transaction.atomic():
        _dispatch(requeued + lost)
    return {"requeued": len(requeued), "resent": len(lost), "failed": failed}


# --- Catalogue releases ------------------------------------------------------------------------


def _fingerprint(result) -> tuple:
    return (
        result.eu_tier,
        frozenset((a.code, a.digest, a.applies_from) for a in result.applicable),
        frozenset((label.label, label.detail) for label in result.labels),
    )


def _impact(assessment: Assessment, old, new, release: CatalogueRelease) -> SystemImpact:
    before = {a.code: a for a in old.applicable}
    after = {a.code: a for a in new.applicable}
    both = sorted(before.keys() & after.keys())
    return SystemImpact(
        organisation_id=assessment.organisation_id,
        release=release,
        system_id=assessment.system_id,
        assessment=assessment,
        tier_before=old.eu_tier,
        tier_after=new.eu_tier,
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
        changed=[code for code in both if before[code].digest != after[code].digest],
        moved=[
            {
                "code": code,
                "from": before[code].applies_from.isoformat(),
                "to": after[code].applies_from.isoformat(),
            }
            for code in both
            if before[code].applies_from != after[code].applies_from
        ],
    )


def mark_stale_after_release(*, release: CatalogueRelease) -> int:
    """After `release` is published: compare each system's latest completed assessment with what
    the new release would give, record the difference as the system's impact and mark the
    assessment stale. Safe to repeat. Returns the number of systems affected."""
    new = compiled(release)
    impacts: list[SystemImpact] = []
    rows = (
        Assessment.objects.filter(latest=True)
        .exclude(release=release)
        .select_related("release")
        .iterator(chunk_size=500)
    )
    for assessment in rows:
        old_result = engine.evaluate(compiled(assessment.release), assessment.answers)
        new_result = engine.evaluate(new, assessment.answers)
        if _fingerprint(old_result) != _fingerprint(new_result):
            impacts.append(_impact(assessment, old_result, new_result, release))
    by_org: dict[int, int] = {}
    for impact in impacts:
        by_org[impact.organisation_id] = by_org.get(impact.organisation_id, 0) + 1
    with transaction.atomic():
        affected = [impact.assessment_id for impact in impacts]
        for start in range(0, len(affected), 1000):
            Assessment.objects.filter(pk__in=affected[start : start + 1000]).update(
                stale_since=release
            )
        SystemImpact.objects.bulk_create(
            impacts,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["release", "system"],
            update_fields=[
                "assessment", "tier_before", "tier_after", "added", "removed", "changed", "moved",
            ],
        )  # fmt: skip
        impact = dict(release.impact or {})
        impact["systems_affected"] = len(impacts)
        impact["organisations_affected"] = len(by_org)
        CatalogueRelease.objects.filter(pk=release.pk).update(impact=impact)
        notify.release_published(release=release, systems_by_org=by_org)
        events.release_published(release, by_org)
    return len(impacts)


def _stale_systems(org: Organisation) -> QuerySet[AISystem]:
    return (
        AISystem.objects.for_org(org)
        .active()
        .filter(assessments__latest=True, assessments__stale_since__isnull=False)
        .distinct()
    )


def stale_systems(org: Organisation) -> list[AISystem]:
    """Active systems whose latest assessment a later release would change."""
    return list(_stale_systems(org))


def stale_system_count(org: Organisation) -> int:
    return _stale_systems(org).count()


# --- Review ------------------------------------------------------------------------------------


def _editable(assessment: Assessment) -> None:
    if assessment.status != AssessmentStatus.COMPLETED:
        raise ValidationError(_("The assessment has not completed yet."))
    if assessment.review_state == ReviewState.APPROVED:
        raise ValidationError(_("This assessment is approved and can no longer change."))
    if assessment.review_state == ReviewState.SUBMITTED:
        raise ValidationError(
            _("This assessment is awaiting approval; return it to review to change it.")
        )


def finding_update(
    *,
    finding: Finding,
    actor: Membership,
    status: str,
    notes: str = "",
    justification: str = "",
    risk_approver: User | None = None,
) -> Finding:
    """Set a finding's status. Not applicable needs a justification; risk accepted needs a
    justification and an approver who is a compliance officer or admin of the organisation."""
    if status not in FindingStatus.values:
        raise ValidationError({"status": _("Choose a valid status.")})
    justification = (justification or "").strip()
    errors = {}
    if status in (FindingStatus.NOT_APPLICABLE, FindingStatus.RISK_ACCEPTED) and not justification:
        errors["justification"] = _("Explain why; an auditor will ask.")
    approver_id = None
    if status == FindingStatus.RISK_ACCEPTED:
        approver = risk_approver or actor.user
        is_approver = (
            Membership.objects.for_org(actor.organisation)
            .filter(user=approver, role__in=APPROVER_ROLES)
            .exists()
        )
        if not is_approver:
            errors["risk_approver"] = _(
                "A compliance officer or admin of the organisation must accept the risk."
            )
        approver_id = approver.pk if approver is not None else None
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = (
            Finding.objects.select_for_update(of=("self",))
            .select_related("assessment", "organisation", "system")
            .get(pk=finding.pk)
        )
        _editable(locked.assessment)
        locked.status = status
        locked.notes = notes.strip()
        locked.justification = justification
        locked.risk_approved_by_id = approver_id
        locked.updated_by = actor.user
        locked.updated_at = timezone.now()
        locked.save(
            update_fields=[
                "status", "notes", "justification", "risk_approved_by", "updated_by",
                "updated_at",
            ]
        )  # fmt: skip
        events.finding_updated(locked)
    return locked


def evidence_add(*, finding: Finding, actor: Membership, title: str, url: str) -> Evidence:
    evidence = Evidence(
        organisation=finding.organisation,
        finding=finding,
        title=title.strip(),
        url=url.strip(),
        added_by=actor.user,
    )
    evidence.full_clean(exclude=["finding", "organisation"])
    with transaction.atomic():
        locked = Finding.objects.select_for_update().select_related("assessment").get(pk=finding.pk)
        _editable(locked.assessment)
        if Evidence.objects.filter(finding=finding, url=evidence.url).exists():
            raise ValidationError({"url": _("This link is already attached.")})
        evidence.save()
    return evidence


def evidence_remove(*, evidence: Evidence, actor: Membership) -> None:
    with transaction.atomic():
        finding = (
            Finding.objects.select_for_update()
            .select_related("assessment")
            .get(pk=evidence.finding_id)
        )
        _editable(finding.assessment)
        evidence.delete()


def assessment_submit(*, assessment: Assessment, actor: Membership) -> Assessment:
    """The preparer hands the reviewed assessment over for approval."""
    with transaction.atomic():
        locked = Assessment.objects.select_for_update().get(pk=assessment.pk)
        _editable(locked)
        locked.review_state = ReviewState.SUBMITTED
        locked.prepared_by = actor.user
        locked.prepared_at = timezone.now()
        locked.save(update_fields=["review_state", "prepared_by", "prepared_at"])
    return locked


def assessment_approve(*, assessment: Assessment, actor: Membership) -> Assessment:
    """Four eyes: a compliance officer (or admin) other than the preparer approves."""
    if actor.role not in APPROVER_ROLES:
        raise ValidationError(_("Only a compliance officer or an admin can approve."))
    with transaction.atomic():
        locked = Assessment.objects.select_for_update().get(pk=assessment.pk)
        if locked.review_state != ReviewState.SUBMITTED:
            raise ValidationError(_("Only an assessment awaiting approval can be approved."))
        if locked.prepared_by_id == actor.user_id:
            raise ValidationError(_("Someone other than the preparer must approve."))
        locked.review_state = ReviewState.APPROVED
        locked.approved_by = actor.user
        locked.approved_at = timezone.now()
        locked.save(update_fields=["review_state", "approved_by", "approved_at"])
    return locked


def assessment_return(*, assessment: Assessment, actor: Membership) -> Assessment:
    """Send a submitted assessment back to review (by its preparer or an approver)."""
    with transaction.atomic():
        locked = Assessment.objects.select_for_update().get(pk=assessment.pk)
        if locked.review_state != ReviewState.SUBMITTED:
            raise ValidationError(_("Only an assessment awaiting approval can be returned."))
        if actor.role not in APPROVER_ROLES and locked.prepared_by_id != actor.user_id:
            raise ValidationError(_("Only the preparer or an approver can return it."))
        locked.review_state = ReviewState.DRAFT
        locked.prepared_by = None
        locked.prepared_at = None
        locked.save(update_fields=["review_state", "prepared_by", "prepared_at"])
    return locked
