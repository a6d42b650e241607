"""Assessments and findings under /api/v1/orgs/<org_code>/.

Starting an assessment answers 202 Accepted at once with a Location header; the worker does the
work and the client polls the assessment until `status` is completed or failed. Findings are
reviewed with PATCH; each carries an ETag, and a PATCH whose If-Match no longer matches is a
412. `findings/` lists the organisation's current findings: those of each active system's
latest completed assessment.
"""

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Case, DateField, F, QuerySet, TextField, Value, When
from django.db.models.functions import Cast, Coalesce
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.access import get_system_for_member
from governance.api.auth import KeyScope
from governance.api.conventions import (
    IDEMPOTENCY_HEADER,
    IF_MATCH_HEADER,
    Conflict,
    KeysetPagination,
    OrgScoped,
    Params,
    StrictInput,
    check_if_match,
    etag_of,
    idempotent,
    parse_params,
    problems,
    require_editor,
)
from governance.models import Jurisdiction

from .. import dashboard, selectors, services
from ..access import get_assessment_for_member, get_finding_for_member
from ..actions import today_for
from ..models import Assessment, AssessmentStatus, Finding, FindingStatus
from ..models.runs import Source

ASSESSMENT_TAGS = ["Assessments"]
FINDING_TAGS = ["Findings"]
LOCATION_HEADER = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    description="The assessment: poll it until its status is completed or failed.",
    response=[202],
)
ETAG_HEADER = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Send it back as If-Match to change the finding only if nobody else has.",
    response=[200],
)
# Undated findings sort after every dated one (keyset pagination needs a value on every row).
NO_DUE_DATE = dt.date(9999, 12, 31)
# The same expression as the index finding_org_due_sort (assessments/models/findings.py), so a
# page is read from the index. A CASE, not COALESCE: under row-level security PostgreSQL only
# uses a condition in an index scan when it cannot leak rows, and it counts every COALESCE as
# possibly leaky (a CASE of leakproof parts is not).
DUE_DATE_SORT = Case(
    When(due_date__isnull=True, then=Value(NO_DUE_DATE)),
    default=F("due_date"),
    output_field=DateField(),
)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


# Output


class LabelOut(serializers.Serializer):
    label = serializers.CharField()
    detail = serializers.CharField()
    citation = serializers.CharField()


class AssessmentOut(serializers.ModelSerializer):
    system = serializers.UUIDField(source="system.code")
    release = serializers.CharField(source="release.code")
    stale_since = serializers.CharField(source="stale_since.code", default=None, allow_null=True)
    labels = serializers.SerializerMethodField()
    href = serializers.SerializerMethodField()
    findings_href = serializers.SerializerMethodField()

    class Meta:
        model = Assessment
        fields = [
            "code", "system", "release", "status", "error", "source", "eu_tier", "labels",
            "summary", "review_state", "latest", "stale_since", "created_at", "started_at",
            "finished_at", "engine_ms", "total_ms", "href", "findings_href",
        ]  # fmt: skip

    @extend_schema_field(LabelOut(many=True))
    def get_labels(self, assessment: Assessment) -> list[dict]:
        return [
            {"label": hit["label"], "detail": hit["detail"], "citation": hit["citation"]}
            for hit in (assessment.result or {}).get("labels", [])
        ]

    def _href(self, name: str, assessment: Assessment) -> str:
        kwargs = {"org_code": self.context["org"].code, "assessment_code": assessment.code}
        return reverse(name, kwargs=kwargs)

    def get_href(self, assessment: Assessment) -> str:
        return self._href("api_assessment", assessment)

    def get_findings_href(self, assessment: Assessment) -> str:
        return self._href("api_assessment_findings", assessment)


class TitleOut(serializers.Serializer):
    en = serializers.CharField()
    ja = serializers.CharField()


class FindingOut(serializers.ModelSerializer):
    assessment = serializers.UUIDField(source="assessment.code")
    system = serializers.UUIDField(source="system.code")
    obligation = serializers.CharField(source="obligation_code")
    title = serializers.SerializerMethodField()
    risk_approver = serializers.EmailField(
        source="risk_approved_by.email", default=None, allow_null=True
    )
    href = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = [
            "code", "assessment", "system", "obligation", "title", "regulation_code",
            "jurisdiction", "legal_force", "roles", "applies_from", "due_date", "status",
            "justification", "risk_approver", "notes", "created_at", "updated_at", "href",
        ]  # fmt: skip

    @extend_schema_field(TitleOut)
    def get_title(self, finding: Finding) -> dict:
        return {"en": finding.obligation.title_en, "ja": finding.obligation.title_ja}

    def get_href(self, finding: Finding) -> str:
        kwargs = {"org_code": self.context["org"].code, "finding_code": finding.code}
        return reverse("api_finding", kwargs=kwargs)


# What a list of findings reads: FindingOut's sources, as columns. Codes come as text: the
# database formats a UUID far faster than Python does, and the JSON needs the text.
FINDING_COLUMNS = (
    "id", "obligation_code", "obligation__title_en", "obligation__title_ja", "regulation_code",
    "jurisdiction", "legal_force", "roles", "applies_from", "due_date", "status",
    "justification", "risk_approved_by__email", "notes", "created_at", "updated_at",
)  # fmt: skip
FINDING_CODES = {
    "code_text": Cast("code", TextField()),
    "assessment_text": Cast("assessment__code", TextField()),
    "system_text": Cast("system__code", TextField()),
}
_DATE = serializers.DateField()
_DATETIME = serializers.DateTimeField()


def finding_values(rows: QuerySet[Finding]) -> QuerySet:
    """`rows` as the plain rows `finding_rows_out` reads."""
    return rows.values(*FINDING_COLUMNS, **FINDING_CODES)


def finding_rows_out(org, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """FindingOut's representation of `finding_values` rows, key for key and format for
    format (dates and times through the same DRF fields), built without a serializer; the
    href is reversed once and each code put in."""
    marker = "00000000-0000-0000-0000-000000000000"
    before, after = reverse(
        "api_finding", kwargs={"org_code": org.code, "finding_code": marker}
    ).split(marker)
    date, moment = _DATE.to_representation, _DATETIME.to_representation
    return [
        {
            "code": row["code_text"],
            "assessment": row["assessment_text"],
            "system": row["system_text"],
            "obligation": row["obligation_code"],
            "title": {"en": row["obligation__title_en"], "ja": row["obligation__title_ja"]},
            "regulation_code": row["regulation_code"],
            "jurisdiction": row["jurisdiction"],
            "legal_force": row["legal_force"],
            "roles": list(row["roles"]),
            "applies_from": date(row["applies_from"]),
            "due_date": date(row["due_date"]),
            "status": row["status"],
            "justification": row["justification"],
            "risk_approver": row["risk_approved_by__email"],
            "notes": row["notes"],
            "created_at": moment(row["created_at"]),
            "updated_at": moment(row["updated_at"]),
            "href": f"{before}{row['code_text']}{after}",
        }
        for row in rows
    ]


def _finding_data(actor, finding: Finding) -> dict:
    return FindingOut(finding, context={"org": actor.organisation}).data


def _finding_response(actor, finding: Finding) -> Response:
    data = _finding_data(actor, finding)
    return Response(data, headers={"ETag": etag_of(data)})


# Input


class AssessmentParams(Params):
    system = serializers.UUIDField(required=False, help_text="A system's code.")
    status = serializers.ChoiceField(choices=AssessmentStatus.choices, required=False)
    latest = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only each system's latest completed run; false: only the others.",
    )


class SystemAssessmentParams(AssessmentParams):
    system = None  # the path names the system


class FindingParams(Params):
    jurisdiction = serializers.ChoiceField(choices=Jurisdiction.choices, required=False)
    regulation = serializers.CharField(required=False, max_length=40)
    status = serializers.ChoiceField(
        choices=[(dashboard.GAP, "gap"), *FindingStatus.choices],
        required=False,
        help_text="A finding status, or gap (open, partially met or not met).",
    )
    due_month = serializers.CharField(
        required=False, max_length=7, help_text="Due in this month, YYYY-MM."
    )
    due = serializers.ChoiceField(
        choices=[("overdue", "overdue"), ("none", "none")],
        required=False,
        help_text="overdue: due before today; none: no due date.",
    )
    due_from = serializers.DateField(required=False, help_text="Due on or after this day.")
    applies_from = serializers.DateField(required=False)
    system = serializers.UUIDField(required=False, help_text="A system's code.")
    q = serializers.CharField(required=False, max_length=60, help_text="Obligation code.")

    def validate_due_month(self, value: str) -> dt.date:
        match = _MONTH.match(value.strip())
        year, month = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
        if not (1 <= month <= 12 and 1900 <= year < 2200):
            raise serializers.ValidationError(_("Enter a month as YYYY-MM, for example 2026-08."))
        return dt.date(year, month, 1)


class StartIn(StrictInput):
    """Starting an assessment takes no fields: the run uses the system's current answers."""


class FindingPatchIn(StrictInput):
    status = serializers.ChoiceField(choices=FindingStatus.choices, required=False)
    notes = serializers.CharField(required=False, allow_blank=True)
    justification = serializers.CharField(required=False, allow_blank=True)
    risk_approver = serializers.EmailField(
        required=False,
        allow_null=True,
        help_text="For risk accepted: a compliance officer or admin of the organisation "
        "(default: you, when you are one).",
    )

    def validate_risk_approver(self, email: str | None):
        if email is None:
            return None
        approver = selectors.approvers(self.context["org"]).filter(user__email__iexact=email)
        membership = approver.first()
        if membership is None:
            raise serializers.ValidationError(
                _("A compliance officer or admin of the organisation must accept the risk.")
            )
        return membership.user


# Views


class OrgView(OrgScoped, APIView):
    permission_classes = [IsAuthenticated, KeyScope]


def _assessment_rows(actor, params: dict, system=None):
    rows = selectors.assessments(actor.organisation, status=params.get("status", ""))
    if system is not None:
        rows = rows.filter(system=system)
    elif params.get("system"):
        rows = rows.filter(system__code=params["system"])
    if params.get("latest") is not None:
        rows = rows.filter(latest=params["latest"])
    return rows


class AssessmentPages(OrgView):
    pagination_class = KeysetPagination
    orderings = {"created_at": "created_at", "finished_at": Coalesce("finished_at", "created_at")}
    default_ordering = "-created_at"

    def page(self, request: Request, rows) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        data = AssessmentOut(page, many=True, context={"org": self.actor.organisation}).data
        return paginator.get_paginated_response(data)


class AssessmentList(AssessmentPages):
    @extend_schema(
        operation_id="assessments_list",
        summary="List assessments",
        description="Ordering by finished_at puts unfinished runs by their request time.",
        tags=ASSESSMENT_TAGS,
        parameters=[AssessmentParams],
        responses={200: AssessmentOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code) -> Response:
        params = parse_params(AssessmentParams, request)
        return self.page(request, _assessment_rows(self.actor, params))


class SystemAssessments(AssessmentPages):
    @extend_schema(
        operation_id="systems_assessments_list",
        summary="List a system's assessments",
        tags=ASSESSMENT_TAGS,
        parameters=[SystemAssessmentParams],
        responses={200: AssessmentOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code, system_code) -> Response:
        system = get_system_for_member(self.actor, system_code)
        params = parse_params(SystemAssessmentParams, request)
        return self.page(request, _assessment_rows(self.actor, params, system))

    @extend_schema(
        operation_id="systems_assessments_create",
        summary="Assess a system",
        description="Queues a run on the current catalogue release and answers 202 at once; "
        "poll the Location until the status is completed or failed. A system has one run in "
        "flight at most: asking again answers with that run.",
        tags=ASSESSMENT_TAGS,
        request=StartIn,
        parameters=[IDEMPOTENCY_HEADER, LOCATION_HEADER],
        responses={202: AssessmentOut, **problems(409, 422)},
    )
    @idempotent
    def post(self, request: Request, org_code, system_code) -> Response:
        system = get_system_for_member(self.actor, system_code)
        require_editor(self.actor)
        StartIn(data=request.data or {}).is_valid(raise_exception=True)
        assessment, _created = services.assessment_start(
            system=system, actor=self.actor.user, source=Source.API
        )
        data = AssessmentOut(assessment, context={"org": self.actor.organisation}).data
        return Response(
            data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": request.build_absolute_uri(data["href"])},
        )


class AssessmentDetail(OrgView):
    @extend_schema(
        operation_id="assessments_retrieve",
        summary="Read an assessment",
        tags=ASSESSMENT_TAGS,
        responses={200: AssessmentOut, **problems()},
    )
    def get(self, request: Request, org_code, assessment_code) -> Response:
        assessment = get_assessment_for_member(self.actor, assessment_code)
        return Response(AssessmentOut(assessment, context={"org": self.actor.organisation}).data)


class FindingPages(OrgView):
    # A page of findings as FindingOut shows them, read as plain rows (no model instances, no
    # serializer per row, which were most of the request's time). No docstring: the schema
    # would take it for the operations' description.
    pagination_class = KeysetPagination

    def page(self, request: Request, rows) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(finding_values(rows), request, view=self)
        data = finding_rows_out(self.actor.organisation, page)
        return paginator.get_paginated_response(data)


class AssessmentFindings(FindingPages):
    orderings = {"obligation": "obligation_code", "created_at": "created_at"}
    default_ordering = "obligation"

    @extend_schema(
        operation_id="assessments_findings_list",
        summary="List an assessment's findings",
        tags=FINDING_TAGS,
        responses={200: FindingOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code, assessment_code) -> Response:
        assessment = get_assessment_for_member(self.actor, assessment_code)
        parse_params(Params, request)
        return self.page(request, selectors.findings_for_api(assessment))


class FindingList(FindingPages):
    orderings = {
        "due_date": DUE_DATE_SORT,
        "applies_from": "applies_from",
        "created_at": "created_at",
    }
    default_ordering = "due_date"

    @extend_schema(
        operation_id="findings_list",
        summary="List the organisation's current findings",
        description="The findings of each active system's latest completed assessment. "
        "Ordered by due_date, undated findings come last (first with -due_date).",
        tags=FINDING_TAGS,
        parameters=[FindingParams],
        responses={200: FindingOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code) -> Response:
        org = self.actor.organisation
        params = parse_params(FindingParams, request)
        return self.page(request, dashboard.finding_rows(org, today=today_for(org), **params))


class FindingDetail(OrgView):
    @extend_schema(
        operation_id="findings_retrieve",
        summary="Read a finding",
        tags=FINDING_TAGS,
        parameters=[ETAG_HEADER],
        responses={200: FindingOut, **problems()},
    )
    def get(self, request: Request, org_code, finding_code) -> Response:
        finding = get_finding_for_member(self.actor, finding_code)
        return _finding_response(self.actor, finding)

    @extend_schema(
        operation_id="findings_partial_update",
        summary="Review a finding",
        description="Fields not sent keep their values. Not applicable needs a justification; "
        "risk accepted needs a justification and an approver. With If-Match, the change is "
        "made only if the finding still has that ETag (412 otherwise). A finding of an "
        "assessment submitted for approval or approved cannot change (409).",
        tags=FINDING_TAGS,
        request=FindingPatchIn,
        parameters=[IF_MATCH_HEADER, ETAG_HEADER],
        responses={200: FindingOut, **problems(409, 412)},
    )
    def patch(self, request: Request, org_code, finding_code) -> Response:
        actor = self.actor
        finding = get_finding_for_member(actor, finding_code)
        require_editor(actor)
        body = FindingPatchIn(data=request.data, context={"org": actor.organisation})
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            # Re-read and lock inside the transaction, so the ETag compared is the one replaced
            # and no other change slips in between.
            finding = get_finding_for_member(actor, finding_code, lock=True)
            check_if_match(request, _finding_data(actor, finding))
            if not finding.assessment.is_editable:
                raise Conflict(
                    _("The assessment is not in review (not completed, submitted or approved).")
                )
            changes = _review(actor, finding, body.validated_data)
            services.finding_update(finding=finding, actor=actor, **changes)
        return _finding_response(actor, get_finding_for_member(actor, finding_code))


def _review(actor, finding: Finding, data: dict[str, Any]) -> dict[str, Any]:
    """The finding's review with the PATCH's fields applied: what `finding_update` takes."""
    changes = {
        "status": data.get("status", finding.status),
        "notes": data.get("notes", finding.notes),
        "justification": data.get("justification", finding.justification),
        "risk_approver": data.get("risk_approver", finding.risk_approved_by),
    }
    if (
        changes["status"] == FindingStatus.RISK_ACCEPTED
        and changes["risk_approver"] is None
        and actor.user is None
    ):
        # The service would take the caller as the approver; a key is no person.
        raise serializers.ValidationError(
            {"risk_approver": [_("Name the compliance officer or admin who accepts the risk.")]}
        )
    return changes


urlpatterns = [
    path("assessments/", AssessmentList.as_view(), name="api_assessments"),
    path(
        "systems/<uuid:system_code>/assessments/",
        SystemAssessments.as_view(),
        name="api_assessment_create",
    ),
    path("assessments/<uuid:assessment_code>/", AssessmentDetail.as_view(), name="api_assessment"),
    path(
        "assessments/<uuid:assessment_code>/findings/",
        AssessmentFindings.as_view(),
        name="api_assessment_findings",
    ),
    path("findings/", FindingList.as_view(), name="api_findings"),
    path("findings/<uuid:finding_code>/", FindingDetail.as_view(), name="api_finding"),
]
