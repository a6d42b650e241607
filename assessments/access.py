"""Access helpers for assessment objects: found inside the caller's organisation, or 404."""

from django.http import Http404

from governance.access import _as_uuid
from governance.models import Membership

from .models import (
    ActionEvidence,
    Assessment,
    AssessmentBatch,
    Evidence,
    Finding,
    RemediationAction,
)


def get_assessment_for_member(membership: Membership, code: object) -> Assessment:
    try:
        return (
            Assessment.objects.for_org(membership.organisation)
            .select_related(
                "system", "release", "requested_by", "prepared_by", "approved_by", "stale_since"
            )
            .get(code=_as_uuid(code))
        )
    except Assessment.DoesNotExist as exc:
        raise Http404 from exc


def get_finding_for_member(membership: Membership, code: object, *, lock: bool = False) -> Finding:
    """A finding of the caller's organisation; with `lock`, its row is locked until the
    transaction ends (a conditional update that compares, then writes)."""
    rows = Finding.objects.for_org(membership.organisation)
    if lock:
        rows = rows.select_for_update(of=("self",))
    try:
        return rows.select_related(
            "assessment",
            "assessment__release",
            "system",
            "obligation",
            "obligation__provision",
            "obligation__regulation",
            "obligation__penalty",
            "risk_approved_by",
            "updated_by",
        ).get(code=_as_uuid(code))
    except Finding.DoesNotExist as exc:
        raise Http404 from exc


def get_evidence_for_member(membership: Membership, code: object) -> Evidence:
    try:
        return (
            Evidence.objects.for_org(membership.organisation)
            .select_related("finding")
            .get(code=_as_uuid(code))
        )
    except Evidence.DoesNotExist as exc:
        raise Http404 from exc


def get_batch_for_member(membership: Membership, code: object) -> AssessmentBatch:
    try:
        return (
            AssessmentBatch.objects.for_org(membership.organisation)
            .select_related("release", "requested_by")
            .get(code=_as_uuid(code))
        )
    except AssessmentBatch.DoesNotExist as exc:
        raise Http404 from exc


def get_action_for_member(membership: Membership, code: object) -> RemediationAction:
    try:
        action = (
            RemediationAction.objects.for_org(membership.organisation)
            .select_related("system", "owner", "created_by", "done_by", "verified_by")
            .get(code=_as_uuid(code))
        )
    except RemediationAction.DoesNotExist as exc:
        raise Http404 from exc
    action.organisation = membership.organisation  # the same row, already loaded
    return action


def get_attachment_for_member(membership: Membership, code: object) -> ActionEvidence:
    """Evidence attached to a remediation action (a file or a link)."""
    try:
        evidence = (
            ActionEvidence.objects.for_org(membership.organisation)
            .select_related("action", "added_by")
            .get(code=_as_uuid(code))
        )
    except ActionEvidence.DoesNotExist as exc:
        raise Http404 from exc
    evidence.organisation = evidence.action.organisation = membership.organisation
    return evidence
