"""Assessment endpoints under /api/v1/orgs/<org_code>/ for API clients (session auth for now;
API keys arrive with the REST API issue).

Starting an assessment answers 202 Accepted at once with a Location header; the worker does the
work and the client polls the assessment until `status` is completed or failed.
"""

from django.core.exceptions import ValidationError
from django.urls import path, reverse
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from governance.access import get_membership_for_user, get_system_for_member

from .. import selectors, services
from ..access import get_assessment_for_member
from ..models import Assessment, Finding
from ..models.runs import Source


class AssessmentOut(serializers.ModelSerializer):
    system = serializers.UUIDField(source="system.code")
    release = serializers.CharField(source="release.code")
    stale_since = serializers.CharField(source="stale_since.code", default=None)
    labels = serializers.SerializerMethodField()

    class Meta:
        model = Assessment
        fields = [
            "code", "system", "release", "status", "error", "eu_tier", "labels", "summary",
            "review_state", "stale_since", "created_at", "started_at", "finished_at",
            "engine_ms", "total_ms",
        ]  # fmt: skip

    def get_labels(self, assessment: Assessment) -> list[dict]:
        return [
            {"label": hit["label"], "detail": hit["detail"], "citation": hit["citation"]}
            for hit in (assessment.result or {}).get("labels", [])
        ]


class FindingOut(serializers.ModelSerializer):
    obligation = serializers.CharField(source="obligation_code")
    title = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = [
            "code", "obligation", "title", "regulation_code", "jurisdiction", "legal_force",
            "roles", "applies_from", "due_date", "status", "justification", "notes",
        ]  # fmt: skip

    def get_title(self, finding: Finding) -> dict:
        return {"en": finding.obligation.title_en, "ja": finding.obligation.title_ja}


def _location(request: Request, org_code, assessment: Assessment) -> str:
    return request.build_absolute_uri(
        reverse(
            "api_assessment",
            kwargs={"org_code": org_code, "assessment_code": assessment.code},
        )
    )


@api_view(["POST"])
def assessment_create(request: Request, org_code, system_code) -> Response:
    membership = get_membership_for_user(request, org_code)
    system = get_system_for_member(membership, system_code)
    if not membership.can_edit:
        raise PermissionDenied
    try:
        assessment, _ = services.assessment_start(
            system=system, actor=request.user, source=Source.API
        )
    except ValidationError as exc:
        return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
    return Response(
        AssessmentOut(assessment).data,
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": _location(request, org_code, assessment)},
    )


@api_view(["GET"])
def assessment_detail(request: Request, org_code, assessment_code) -> Response:
    membership = get_membership_for_user(request, org_code)
    assessment = get_assessment_for_member(membership, assessment_code)
    return Response(AssessmentOut(assessment).data)


class FindingPages(PageNumberPagination):
    page_size = 100


@api_view(["GET"])
def finding_list(request: Request, org_code, assessment_code) -> Response:
    membership = get_membership_for_user(request, org_code)
    assessment = get_assessment_for_member(membership, assessment_code)
    rows = selectors.findings_for_api(assessment)
    paginator = FindingPages()
    page = paginator.paginate_queryset(rows, request)
    return paginator.get_paginated_response(FindingOut(page, many=True).data)


urlpatterns = [
    path(
        "systems/<uuid:system_code>/assessments/",
        assessment_create,
        name="api_assessment_create",
    ),
    path("assessments/<uuid:assessment_code>/", assessment_detail, name="api_assessment"),
    path(
        "assessments/<uuid:assessment_code>/findings/",
        finding_list,
        name="api_assessment_findings",
    ),
]
