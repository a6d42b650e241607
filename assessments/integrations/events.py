"""Domain events, written to the webhook outbox in the transaction of the change they report.

`emit` inserts one WebhookEvent and a pending WebhookDelivery per enabled endpoint that wants
the type; nothing is sent here. After commit a task delivers them (and beat retries). Action
events also flag the action's tickets for the ticketing connectors (`tickets.mark_for_sync`).

Payloads follow Standard Webhooks' shape: `{"type", "timestamp", "data"}`. `data` is a compact
snapshot with the ids a receiver needs and an `href` to the API resource for the rest.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from governance.models import CatalogueRelease, Organisation

from ..models import (
    Assessment,
    EventType,
    Finding,
    RemediationAction,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from . import tickets


def _endpoints(org_id: int, event_type: str) -> list[WebhookEndpoint]:
    return list(
        WebhookEndpoint.objects.filter(organisation_id=org_id, enabled=True).filter(
            Q(event_types=[]) | Q(event_types__contains=[event_type])
        )
    )


def _deliver_soon() -> None:
    from .. import tasks

    transaction.on_commit(lambda: tasks.deliver_webhooks.delay(), robust=True)


Items = Sequence[tuple[str, dict]]


def emit_many(org_id: int, event_type: str, items: Items | Callable[[], Items]) -> int:
    """Write events of one type for one organisation: items are (key, data), or a function
    giving them (called only when some endpoint wants the type); an item whose non-empty key
    was emitted before is skipped. Returns how many events were written."""
    endpoints = _endpoints(org_id, event_type)
    if not endpoints:
        return 0
    if callable(items):
        items = items()
    if not items:
        return 0
    now = timezone.now()
    events = [
        WebhookEvent(
            organisation_id=org_id,
            type=event_type,
            key=key,
            created_at=now,
            payload={"type": event_type, "timestamp": now.isoformat(), "data": data},
        )
        for key, data in items
    ]
    keyed = [e for e in events if e.key]
    plain = [e for e in events if not e.key]
    written = WebhookEvent.objects.bulk_create(plain)
    if keyed:
        # ON CONFLICT DO NOTHING leaves the ids of skipped rows unset: re-read what is new.
        WebhookEvent.objects.bulk_create(keyed, ignore_conflicts=True)
        written += list(
            WebhookEvent.objects.filter(
                organisation_id=org_id, key__in=[e.key for e in keyed], created_at=now
            )
        )
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                organisation_id=org_id, event=event, endpoint=endpoint, next_attempt_at=now
            )
            for event in written
            for endpoint in endpoints
        ],
        ignore_conflicts=True,
    )
    if written:
        _deliver_soon()
    return len(written)


def emit(org_id: int, event_type: str, data: Callable[[], dict], *, key: str = "") -> int:
    return emit_many(org_id, event_type, lambda: [(key, data())])


def _href(name: str, **kwargs) -> str:
    return reverse(name, kwargs=kwargs)


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


# --- Snapshots ---------------------------------------------------------------------------------


def action_data(action: RemediationAction) -> dict:
    org_code = action.organisation.code
    return {
        "organisation": str(org_code),
        "action": {
            "code": str(action.code),
            "system": str(action.system.code),
            "title": action.title,
            "status": action.status,
            "priority": action.priority,
            "owner": action.owner.email if action.owner_id else None,
            "due_date": _date(action.due_date),
            "origin": action.origin,
            "updated_at": action.updated_at,
            "href": _href("api_action", org_code=org_code, action_code=action.code),
        },
    }


def finding_data(finding: Finding) -> dict:
    org_code = finding.organisation.code
    return {
        "organisation": str(org_code),
        "finding": {
            "code": str(finding.code),
            "assessment": str(finding.assessment.code),
            "system": str(finding.system.code),
            "obligation": finding.obligation_code,
            "jurisdiction": finding.jurisdiction,
            "status": finding.status,
            "due_date": _date(finding.due_date),
            "href": _href("api_finding", org_code=org_code, finding_code=finding.code),
        },
    }


def assessment_data(assessment: Assessment) -> dict:
    org_code = assessment.organisation.code
    return {
        "organisation": str(org_code),
        "assessment": {
            "code": str(assessment.code),
            "system": str(assessment.system.code),
            "release": assessment.release.code,
            "status": assessment.status,
            "eu_tier": assessment.eu_tier,
            "summary": assessment.summary,
            "finished_at": assessment.finished_at,
            "href": _href("api_assessment", org_code=org_code, assessment_code=assessment.code),
        },
    }


# --- The events --------------------------------------------------------------------------------


def actions_changed(
    actions: Iterable[RemediationAction], *, created: bool = False, origin: str = ""
) -> None:
    """action.created / action.updated for these actions, and their tickets flagged for sync
    (except in the system the change came from, `origin`, so a sync never echoes back)."""
    actions = list(actions)
    if not actions:
        return
    org_id = actions[0].organisation_id
    event_type = EventType.ACTION_CREATED if created else EventType.ACTION_UPDATED
    emit_many(org_id, event_type, lambda: [("", action_data(a)) for a in actions])
    tickets.mark_for_sync(actions, origin=origin)


def finding_updated(finding: Finding) -> None:
    emit(finding.organisation_id, EventType.FINDING_UPDATED, lambda: finding_data(finding))


def findings_updated(findings: Iterable[Finding]) -> None:
    findings = list(findings)
    if findings:
        emit_many(
            findings[0].organisation_id,
            EventType.FINDING_UPDATED,
            lambda: [("", finding_data(f)) for f in findings],
        )


def assessments_completed(assessments: Iterable[Assessment]) -> None:
    by_org: dict[int, list[Assessment]] = {}
    for assessment in assessments:
        by_org.setdefault(assessment.organisation_id, []).append(assessment)
    for org_id, runs in by_org.items():
        emit_many(
            org_id,
            EventType.ASSESSMENT_COMPLETED,
            lambda runs=runs: [
                (f"assessment.completed:{a.code}", assessment_data(a)) for a in runs
            ],
        )


def actions_overdue(org: Organisation, today: dt.date) -> int:
    """action.overdue once per action and due date (a new date missed again fires again)."""
    from ..actions import overdue_q

    late = (
        RemediationAction.objects.for_org(org)
        .filter(overdue_q(today))
        .select_related("organisation", "system", "owner")
    )
    return emit_many(
        org.pk,
        EventType.ACTION_OVERDUE,
        lambda: [
            (
                f"action.overdue:{a.code}:{a.due_date.isoformat()}",
                {**action_data(a), "days_late": (today - a.due_date).days},
            )
            for a in late
        ],
    )


def release_published(release: CatalogueRelease, systems_by_org: dict[int, int]) -> None:
    """catalogue.release_published to every organisation with an endpoint that wants it, with
    the number of its systems the release affects."""
    org_ids = set(
        WebhookEndpoint.objects.filter(enabled=True)
        .filter(Q(event_types=[]) | Q(event_types__contains=[EventType.RELEASE_PUBLISHED]))
        .values_list("organisation_id", flat=True)
    )
    for org_id in sorted(org_ids):
        code = Organisation.objects.values_list("code", flat=True).get(pk=org_id)
        data = {
            "organisation": str(code),
            "release": {
                "code": release.code,
                "published_at": release.published_at,
                "systems_affected": systems_by_org.get(org_id, 0),
            },
        }
        emit(
            org_id,
            EventType.RELEASE_PUBLISHED,
            lambda data=data: data,
            key=f"catalogue.release_published:{release.code}",
        )
