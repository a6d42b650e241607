"""The AI system registry under /api/v1/orgs/<org_code>/systems/.

Everyone in the organisation (and any of its keys) reads; members who can edit and write keys
register, change, archive and restore. Answers are validated by the catalogue's questionnaire
(`registry.clean_answers`): a bad answer is a 400 whose pointer names the question,
`/answers/<key>`. Deleting a system archives it; archived systems stay readable.
"""

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assessments.selectors import system_panel

from .. import registry
from ..access import get_system_for_member
from ..models import ROLES, AISystem, EuTier, LifecycleStage, Sourcing
from .auth import KeyScope
from .conventions import (
    IDEMPOTENCY_HEADER,
    Conflict,
    KeysetPagination,
    OrgScoped,
    Params,
    StrictInput,
    idempotent,
    parse_params,
    problems,
    require_editor,
)

TAGS = ["Systems"]
LOCATION_HEADER = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    description="The new resource.",
    response=[201, 202],
)


def body_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    """A registry error as body errors: registry fields by name, answers under `answers`."""
    if not hasattr(exc, "error_dict"):
        return serializers.ValidationError(exc.messages)
    fields: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    for key, messages in exc.message_dict.items():
        if key == NON_FIELD_ERRORS or key in registry.FIELDS:
            fields[key] = messages
        else:
            answers[key] = messages
    if answers:
        fields["answers"] = answers
    return serializers.ValidationError(fields)


# Output


class LatestAssessmentOut(serializers.Serializer):
    code = serializers.UUIDField()
    status = serializers.CharField()
    href = serializers.CharField()


class SystemOut(serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", default=None, allow_null=True)
    release = serializers.CharField(source="release.code")
    archived = serializers.BooleanField(source="is_archived")
    latest_assessment = serializers.SerializerMethodField()
    href = serializers.SerializerMethodField()

    class Meta:
        model = AISystem
        fields = [
            "code", "name", "description", "intended_purpose", "owner", "business_unit",
            "lifecycle_stage", "sourcing", "vendor", "model_name", "model_version", "markets",
            "eu_roles", "jp_roles", "eu_tier", "assessed_at", "version", "release", "archived",
            "archived_at", "created_at", "updated_at", "latest_assessment", "href",
        ]  # fmt: skip

    def _latest(self, system: AISystem) -> tuple[Any, str] | None:
        """(code, status) of the system's most recent assessment, from the list's annotations."""
        code = getattr(system, "latest_code", None)
        return (code, system.latest_status) if code else None

    @extend_schema_field(LatestAssessmentOut(allow_null=True))
    def get_latest_assessment(self, system: AISystem) -> dict | None:
        latest = self._latest(system)
        if latest is None:
            return None
        code, state = latest
        href = reverse(
            "api_assessment",
            kwargs={"org_code": self.context["org"].code, "assessment_code": code},
        )
        return {"code": code, "status": state, "href": href}

    def get_href(self, system: AISystem) -> str:
        return system_href(self.context["org"], system)


class FindingCountsOut(serializers.Serializer):
    total = serializers.IntegerField()
    gaps = serializers.IntegerField()
    open = serializers.IntegerField()
    met = serializers.IntegerField()
    partially_met = serializers.IntegerField()
    not_met = serializers.IntegerField()
    not_applicable = serializers.IntegerField()
    risk_accepted = serializers.IntegerField()


class SystemDetailOut(SystemOut):
    """A system with its answers, the run that counts (its latest completed assessment), that
    run's findings by status and the system's open remediation actions."""

    latest_completed_assessment = serializers.SerializerMethodField()
    findings = serializers.SerializerMethodField()
    open_actions = serializers.SerializerMethodField()

    class Meta(SystemOut.Meta):
        fields = [
            *SystemOut.Meta.fields,
            "answers",
            "latest_completed_assessment",
            "findings",
            "open_actions",
        ]

    def _latest(self, system: AISystem) -> tuple[Any, str] | None:
        latest = self.context["panel"]["latest"]
        return (latest.code, latest.status) if latest else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))  # null until one completes
    def get_latest_completed_assessment(self, system: AISystem) -> Any:
        done = self.context["panel"]["latest_completed"]
        return done.code if done else None

    @extend_schema_field(FindingCountsOut(allow_null=True))
    def get_findings(self, system: AISystem) -> dict | None:
        return self.context["panel"]["counts"]

    def get_open_actions(self, system: AISystem) -> int:
        return self.context["panel"]["open_actions"]


class AnswersOut(serializers.Serializer):
    release = serializers.CharField(source="release.code")
    version = serializers.IntegerField()
    answers = serializers.DictField()


def system_href(org, system: AISystem) -> str:
    return reverse("api_system", kwargs={"org_code": org.code, "system_code": system.code})


def _detail(actor, system: AISystem) -> dict:
    context = {"org": actor.organisation, "panel": system_panel(actor, system)}
    return SystemDetailOut(system, context=context).data


# Input


class SystemParams(Params):
    q = serializers.CharField(required=False, max_length=100, help_text="Name, description…")
    stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    tier = serializers.ChoiceField(
        choices=[("assessed", "assessed"), ("unassessed", "unassessed"), *EuTier.choices],
        required=False,
        help_text="An EU tier, or assessed / unassessed.",
    )
    market = serializers.CharField(required=False, max_length=8)
    role = serializers.ChoiceField(choices=ROLES, required=False)
    owner = serializers.CharField(
        required=False, max_length=254, help_text="The owner's e-mail address, or none."
    )
    unit = serializers.CharField(required=False, max_length=120, help_text="Business unit.")
    archived = serializers.BooleanField(
        required=False, default=False, help_text="true: archived systems only."
    )


def _filters(data: dict) -> dict[str, Any]:
    """Arguments for `registry.api_systems`."""
    return {
        "archived": data["archived"],
        "search": data.get("q", "").strip(),
        "lifecycle_stage": data.get("stage", ""),
        "eu_tier": data.get("tier", ""),
        "market": data.get("market", ""),
        "role": data.get("role", ""),
        "owner": data.get("owner", "").strip(),
        "business_unit": data.get("unit", "").strip(),
    }


class SystemIn(StrictInput):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    intended_purpose = serializers.CharField(required=False, allow_blank=True)
    owner = serializers.EmailField(
        required=False, allow_null=True, help_text="A member's e-mail address, or null."
    )
    business_unit = serializers.CharField(required=False, allow_blank=True, max_length=120)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    sourcing = serializers.ChoiceField(choices=Sourcing.choices, required=False)
    vendor = serializers.CharField(required=False, allow_blank=True, max_length=200)
    model_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    model_version = serializers.CharField(required=False, allow_blank=True, max_length=100)
    answers = serializers.DictField(help_text="Questionnaire answers by question key.")

    def validate_owner(self, email: str | None):
        if email is None:
            return None
        user = registry.member_user(self.context["org"], email)
        if user is None:
            raise serializers.ValidationError(_("No member of the organisation has this address."))
        return user


class AnswersIn(StrictInput):
    answers = serializers.DictField(help_text="Every answer; the set replaces the current one.")


# Views


class SystemView(OrgScoped, APIView):
    permission_classes = [IsAuthenticated, KeyScope]


class SystemList(SystemView):
    pagination_class = KeysetPagination
    orderings = {"name": "name", "created_at": "created_at", "updated_at": "updated_at"}
    default_ordering = "name"

    @extend_schema(
        operation_id="systems_list",
        summary="List AI systems",
        tags=TAGS,
        parameters=[SystemParams],
        responses={200: SystemOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code) -> Response:
        org = self.actor.organisation
        rows = registry.api_systems(org, **_filters(parse_params(SystemParams, request)))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        data = SystemOut(page, many=True, context={"org": org}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="systems_create",
        summary="Register an AI system",
        tags=TAGS,
        request=SystemIn,
        parameters=[IDEMPOTENCY_HEADER, LOCATION_HEADER],
        responses={201: SystemDetailOut, **problems(409, 422)},
    )
    @idempotent
    def post(self, request: Request, org_code) -> Response:
        require_editor(self.actor)
        org = self.actor.organisation
        body = SystemIn(data=request.data, context={"org": org})
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        answers = fields.pop("answers")
        try:
            system = registry.system_create(
                org=org, actor=self.actor.user, answers=answers, **fields
            )
        except DjangoValidationError as exc:
            raise body_errors(exc) from exc
        system = get_system_for_member(self.actor, system.code)
        return Response(
            _detail(self.actor, system),
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(system_href(org, system))},
        )


class SystemDetail(SystemView):
    @extend_schema(
        operation_id="systems_retrieve",
        summary="Read an AI system",
        tags=TAGS,
        responses={200: SystemDetailOut, **problems()},
    )
    def get(self, request: Request, org_code, system_code) -> Response:
        system = get_system_for_member(self.actor, system_code)
        return Response(_detail(self.actor, system))

    @extend_schema(
        operation_id="systems_partial_update",
        summary="Change an AI system",
        description="Only the fields sent change; `answers`, when sent, replace all answers. "
        "An archived system cannot be changed (409): restore it first.",
        tags=TAGS,
        request=SystemIn(partial=True),
        responses={200: SystemDetailOut, **problems(409)},
    )
    def patch(self, request: Request, org_code, system_code) -> Response:
        system = get_system_for_member(self.actor, system_code)
        require_editor(self.actor)
        body = SystemIn(data=request.data, partial=True, context={"org": self.actor.organisation})
        body.is_valid(raise_exception=True)
        if system.is_archived:
            raise Conflict(_("An archived system cannot be changed; restore it first."))
        fields = dict(body.validated_data)
        answers = fields.pop("answers", None)
        try:
            registry.system_update(system=system, actor=self.actor.user, answers=answers, **fields)
        except DjangoValidationError as exc:
            raise body_errors(exc) from exc
        system = get_system_for_member(self.actor, system.code)
        return Response(_detail(self.actor, system))

    @extend_schema(
        operation_id="systems_archive",
        summary="Archive an AI system",
        description="The system leaves the registry list; it, its history and its assessments "
        "stay readable. Archiving an archived system changes nothing.",
        tags=TAGS,
        responses={204: None, **problems()},
    )
    def delete(self, request: Request, org_code, system_code) -> Response:
        system = get_system_for_member(self.actor, system_code)
        require_editor(self.actor)
        registry.system_archive(system=system, actor=self.actor.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SystemRestore(SystemView):
    @extend_schema(
        operation_id="systems_restore",
        summary="Restore an archived AI system",
        description="A 409 when an active system has the same name.",
        tags=TAGS,
        request=None,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: SystemDetailOut, **problems(409, 422)},
    )
    @idempotent
    def post(self, request: Request, org_code, system_code) -> Response:
        system = get_system_for_member(self.actor, system_code)
        require_editor(self.actor)
        StrictInput(data=request.data or {}).is_valid(raise_exception=True)
        try:
            registry.system_restore(system=system, actor=self.actor.user)
        except DjangoValidationError as exc:
            raise Conflict(" ".join(exc.messages)) from exc
        system = get_system_for_member(self.actor, system.code)
        return Response(_detail(self.actor, system))


class SystemAnswers(SystemView):
    @extend_schema(
        operation_id="systems_answers_retrieve",
        summary="Read a system's questionnaire answers",
        tags=TAGS,
        responses={200: AnswersOut, **problems()},
    )
    def get(self, request: Request, org_code, system_code) -> Response:
        system = get_system_for_member(self.actor, system_code)
        return Response(AnswersOut(system).data)

    @extend_schema(
        operation_id="systems_answers_update",
        summary="Replace a system's questionnaire answers",
        description="The answers are checked against the current catalogue release; a bad "
        "answer is a 400 whose pointer is `/answers/<question key>`.",
        tags=TAGS,
        request=AnswersIn,
        responses={200: AnswersOut, **problems(409)},
    )
    def put(self, request: Request, org_code, system_code) -> Response:
        system = get_system_for_member(self.actor, system_code)
        require_editor(self.actor)
        body = AnswersIn(data=request.data)
        body.is_valid(raise_exception=True)
        if system.is_archived:
            raise Conflict(_("An archived system cannot be changed; restore it first."))
        try:
            system = registry.system_update(
                system=system, actor=self.actor.user, answers=body.validated_data["answers"]
            )
        except DjangoValidationError as exc:
            raise body_errors(exc) from exc
        return Response(AnswersOut(system).data)


urlpatterns = [
    path("systems/", SystemList.as_view(), name="api_systems"),
    path("systems/<uuid:system_code>/", SystemDetail.as_view(), name="api_system"),
    path("systems/<uuid:system_code>/restore/", SystemRestore.as_view(), name="api_system_restore"),
    path(
        "systems/<uuid:system_code>/answers/",
        SystemAnswers.as_view(),
        name="api_system_answers",
    ),
]
