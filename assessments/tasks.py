"""Assessment work in the worker. Tasks take ids, claim their row, and are safe to repeat."""

import contextlib
import logging

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils.translation import gettext as _

from governance.audit import audit_context
from governance.models import CatalogueRelease

from . import notify, services
from .models import Assessment

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError)


def _requester(assessment_id: int) -> int | None:
    return (
        Assessment.objects.filter(pk=assessment_id)
        .values_list("requested_by_id", flat=True)
        .first()
    )


@shared_task(bind=True, max_retries=3)
def run_assessment(self, assessment_id: int) -> str:
    """Claim, evaluate and complete one assessment; a transient database error retries with
    backoff, anything else (or the last retry) fails it with a readable error."""
    try:
        # Inside the try: a database that is away when the task starts is as transient as one
        # that goes away mid-run. Outside it, every message taken during an outage was dropped,
        # leaving its run queued until the sweep re-sent it (scripts/chaos found this).
        requested_by = _requester(assessment_id)
        with audit_context(user_id=requested_by, source="task:run_assessment"):
            return services.assessment_run(assessment_id=assessment_id)
    except services.RunError as exc:
        services.assessment_fail(assessment_id=assessment_id, error=str(exc))
        return "failed"
    except TRANSIENT as exc:
        log.warning("assessment %s: transient error, attempt %s: %s", assessment_id,
                    self.request.retries + 1, exc)  # fmt: skip
        if self.request.retries >= self.max_retries:
            try:
                services.assessment_fail(
                    assessment_id=assessment_id,
                    error=_("The database was unavailable; the run was given up after %(n)s tries.")
                    % {"n": self.max_retries + 1},
                )
            except DatabaseError:
                log.exception("assessment %s: could not record the failure", assessment_id)
            return "failed"
        with contextlib.suppress(DatabaseError):  # if not now, the sweep re-queues it
            services.assessment_requeue(assessment_id=assessment_id)
        raise self.retry(exc=exc, countdown=min(60, 2 ** (self.request.retries + 1))) from exc
    except Exception as exc:
        # A bug or data the run cannot write: retrying will not help, and leaving the run in
        # `running` would only have the sweep retry it blindly and fail it without a reason.
        log.exception("assessment %s failed", assessment_id)
        services.assessment_fail(
            assessment_id=assessment_id,
            error=_("The run failed unexpectedly: %(error)s") % {"error": exc},
        )
        return "failed"


@shared_task(bind=True, max_retries=3)
def run_assessments(self, assessment_ids: list[int]) -> dict[str, int]:
    """Claim, evaluate and complete a chunk of assessments together (runner.py). A transient
    database error puts the chunk back in the queue and retries it; any other error splits it
    into single runs, so that only the assessment that breaks fails."""
    try:
        requesters = set(
            Assessment.objects.filter(pk__in=assessment_ids).values_list(
                "requested_by_id", flat=True
            )
        )
        requested_by = requesters.pop() if len(requesters) == 1 else None
        with audit_context(user_id=requested_by, source="task:run_assessments"):
            outcome = services.assessments_run(assessment_ids=assessment_ids)
    except TRANSIENT as exc:
        log.warning("assessments %s..: transient error, attempt %s: %s", assessment_ids[:3],
                    self.request.retries + 1, exc)  # fmt: skip
        if self.request.retries >= self.max_retries:
            with contextlib.suppress(DatabaseError):
                services.assessments_fail(
                    assessment_ids=assessment_ids,
                    error=_("The database was unavailable; the run was given up after %(n)s tries.")
                    % {"n": self.max_retries + 1},
                )
            return {"failed": len(assessment_ids)}
        with contextlib.suppress(DatabaseError):  # if not now, the sweep re-queues them
            services.assessments_requeue(assessment_ids=assessment_ids)
        raise self.retry(exc=exc, countdown=min(60, 2 ** (self.request.retries + 1))) from exc
    except Exception:
        log.exception(
            "assessments %s..: the chunk failed; running them one by one", assessment_ids[:3]
        )
        services.assessments_requeue(assessment_ids=assessment_ids)
        for pk in assessment_ids:
            run_assessment.delay(pk)
        return {"split": len(assessment_ids)}
    counts: dict[str, int] = {}
    for what in outcome.values():
        counts[what] = counts.get(what, 0) + 1
    return counts


@shared_task
def queue_batch(batch_id: int, system_ids: list[int]) -> int:
    with audit_context(source="task:queue_batch"):
        return services.batch_queue(batch_id=batch_id, system_ids=system_ids)


@shared_task
def sweep_assessments() -> dict[str, int]:
    """Beat: recover runs left behind by dead workers or lost messages."""
    with audit_context(source="task:sweep_assessments"):
        return services.sweep_stuck()


@shared_task(autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def release_published(release_id: int) -> int:
    """Mark the assessments a newly published release would change as stale."""
    release = CatalogueRelease.objects.filter(pk=release_id).first()
    if release is None:
        return 0
    with audit_context(source="task:release_published"):
        return services.mark_stale_after_release(release=release)


@shared_task(autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def send_reminders() -> dict[str, int]:
    """Beat: due-in-14/7/1-days and overdue reminders, judged in each organisation's time
    zone; keyed so that no reminder is created twice."""
    with audit_context(source="task:send_reminders"):
        return notify.send_reminders()


@shared_task(autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def send_notification_emails() -> int:
    """Beat and after commit: e-mail the notifications waiting to go out at once."""
    with audit_context(source="task:send_notification_emails"):
        return notify.send_pending_emails()


@shared_task(autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def send_digests() -> int:
    """Beat: one daily digest per user of the notifications they want bundled."""
    with audit_context(source="task:send_digests"):
        return notify.send_digests()


@shared_task(autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def deliver_webhooks() -> dict:
    """Beat and after commit: send the webhook deliveries that are due (new and retries)."""
    from .integrations import webhooks

    with audit_context(source="task:deliver_webhooks"):
        return webhooks.deliver_due()


@shared_task(autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def sync_tickets() -> dict:
    """Beat and after commit: push flagged actions to their Jira / ServiceNow tickets."""
    from .integrations import tickets

    with audit_context(source="task:sync_tickets"):
        return tickets.sync_due()


@shared_task(autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def check_ticketing_connection(connection_id: int) -> str:
    """Try a ticketing connection's credentials; the outcome lands in its `last_error`."""
    from .integrations import tickets

    with audit_context(source="task:check_ticketing_connection"):
        return tickets.connection_check(connection_id=connection_id)
