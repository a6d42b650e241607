"""Access helpers for assessment objects: found inside the caller's organisation, or 404."""

from django.http import Http404

from governance.access import _as_uuid
from governance.models import Membership

from .models import Assessment, AssessmentBatch, Evidence, Finding


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


def get_finding_for_member(membership: Membership, code: object) -> Finding:
    try:
        return (
            Finding.objects.for_org(membership.organisation)
            .select_related(
                "assessment",
                "assessment__release",
                "system",
                "obligation",
                "obligation__provision",
                "obligation__regulation",
                "obligation__penalty",
                "risk_approved_by",
                "updated_by",
            )
            .get(code=_as_uuid(code))
        )
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
