"""Read-only catalogue endpoints under /api/v1/catalogue/.

Anyone signed in and any organisation's API key reads them: the catalogue is global, not per
organisation. Lists are paginated by page number (`?page=`, 100 per page) and ordered by code:
unlike the organisation's lists, a release's rows never change once published and number a few
hundred, so numbered pages are stable and cheap here. Every endpoint takes `release=<code>`
(default: the current release). Query parameters are checked by an input serializer: an unknown
parameter or value is a 400 problem whose `errors[].pointer` names the parameter, e.g.
`/role`. Texts come in both languages, `{"en": …, "ja": …}`.
"""

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from ..catalogue import queries
from ..models import (
    ROLES,
    CatalogueRelease,
    CrosswalkLink,
    Jurisdiction,
    Obligation,
    PenaltyTier,
    Regulation,
)
from .auth import KeyScope
from .conventions import problems

# Input


class Params(serializers.Serializer):
    """Query parameters. A parameter the endpoint does not know is an error, not ignored."""

    ALWAYS_ALLOWED = frozenset({"page", "format"})

    def validate(self, attrs: dict) -> dict:
        unknown = sorted(set(self.initial_data) - set(self.fields) - self.ALWAYS_ALLOWED)
        if unknown:
            known = ", ".join(sorted({*self.fields, "page"}))
            message = _("Unknown parameter. This endpoint takes: %(known)s.") % {"known": known}
            raise serializers.ValidationError({unknown[0]: [message]})
        return attrs


class ReleaseParams(Params):
    release = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)

    def validate_release(self, code: str) -> CatalogueRelease:
        releases = queries.visible_releases(self.context["request"].user)
        release = queries.pick_release(releases, code)
        if release is None and code:
            raise serializers.ValidationError(_("Unknown release “%(code)s”.") % {"code": code})
        if release is None:
            raise NotFound(_("No catalogue release has been published yet."))
        return release


def _choice(label, choices, message) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=choices, required=False, label=label, error_messages={"invalid_choice": message}
    )


class RegulationParams(ReleaseParams):
    jurisdiction = _choice(
        _("jurisdiction"), Jurisdiction.choices, _("“{input}” is not a known jurisdiction.")
    )


class ObligationParams(RegulationParams):
    regulation = serializers.CharField(required=False, max_length=40)
    role = _choice(_("role"), ROLES, _("“{input}” is not a known role."))
    legal_force = _choice(
        _("legal force"), Obligation.LegalForce.choices, _("“{input}” is not a known legal force.")
    )
    applies_from_after = serializers.DateField(required=False)
    applies_from_before = serializers.DateField(required=False)
    q = serializers.CharField(required=False, max_length=100)

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        code = attrs.get("regulation")
        if code and not queries.regulation_exists(attrs["release"], code):
            raise serializers.ValidationError(
                {"regulation": [_("No regulation “%(code)s” in this release.") % {"code": code}]}
            )
        after, before = attrs.get("applies_from_after"), attrs.get("applies_from_before")
        if after and before and after > before:
            raise serializers.ValidationError(
                {"applies_from_before": [_("This date is before applies_from_after.")]}
            )
        return attrs


def _params(serializer_class: type[Params], request: Request) -> dict:
    params = serializer_class(data=request.query_params, context={"request": request})
    params.is_valid(raise_exception=True)
    return dict(params.validated_data)


# Output


class BilingualOut(serializers.Serializer):
    en = serializers.CharField()
    ja = serializers.CharField()


class ProvisionOut(serializers.Serializer):
    code = serializers.CharField()
    reference = serializers.CharField()


@extend_schema_field(BilingualOut)
class BilingualField(serializers.Field):
    """`{"en": …, "ja": …}` from the model's `<name>_en` / `<name>_ja` pair."""

    def __init__(self, name: str = "", **kwargs):
        self.name = name
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value) -> dict:
        name = self.name or self.field_name
        return {"en": getattr(value, f"{name}_en"), "ja": getattr(value, f"{name}_ja")}


class ReleaseSerializer(serializers.ModelSerializer):
    title = BilingualField()
    description = BilingualField()
    current = serializers.BooleanField(source="is_current", read_only=True)

    class Meta:
        model = CatalogueRelease
        fields = [
            "code",
            "title",
            "description",
            "status",
            "current",
            "effective_on",
            "published_at",
        ]


class RegulationSerializer(serializers.ModelSerializer):
    release = serializers.CharField(source="release.code", read_only=True)
    title = BilingualField()
    short_title = BilingualField()
    summary = BilingualField()

    class Meta:
        model = Regulation
        fields = [
            "code",
            "release",
            "jurisdiction",
            "kind",
            "title",
            "short_title",
            "reference",
            "url",
            "in_force_from",
            "summary",
            "source",
        ]


class PenaltyTierSerializer(serializers.ModelSerializer):
    title = BilingualField()
    max_turnover_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, coerce_to_string=False, read_only=True
    )

    class Meta:
        model = PenaltyTier
        fields = ["code", "title", "max_eur", "max_turnover_percent", "sme_rule"]


class CrosswalkLinkSerializer(serializers.ModelSerializer):
    from_ = serializers.CharField(source="source.code", read_only=True)
    to = serializers.CharField(source="target.code", read_only=True)
    rationale = BilingualField()

    class Meta:
        model = CrosswalkLink
        fields = ["from_", "to", "relationship", "rationale", "origin", "publisher", "reference"]

    def get_fields(self) -> dict:
        return {("from" if k == "from_" else k): f for k, f in super().get_fields().items()}


class ObligationSerializer(serializers.ModelSerializer):
    release = serializers.CharField(source="release.code", read_only=True)
    regulation = serializers.CharField(source="regulation.code", read_only=True)
    jurisdiction = serializers.CharField(source="regulation.jurisdiction", read_only=True)
    provision = serializers.SerializerMethodField()
    penalty = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    title = BilingualField()
    summary = BilingualField()
    guidance = BilingualField()

    class Meta:
        model = Obligation
        fields = [
            "code",
            "release",
            "regulation",
            "jurisdiction",
            "provision",
            "title",
            "summary",
            "roles",
            "applies_when",
            "applies_from",
            "applies_from_rules",
            "legal_force",
            "penalty",
            "guidance",
            "evidence",
            "source",
        ]

    @extend_schema_field(ProvisionOut)
    def get_provision(self, obligation: Obligation) -> dict:
        return {"code": obligation.provision.code, "reference": obligation.provision.reference}


class ObligationDetailSerializer(ObligationSerializer):
    """An obligation with its penalty tier and its crosswalk links, both directions."""

    penalty_tier = PenaltyTierSerializer(source="penalty", read_only=True, allow_null=True)
    crosswalk = serializers.SerializerMethodField()

    class Meta(ObligationSerializer.Meta):
        fields = [*ObligationSerializer.Meta.fields, "penalty_tier", "crosswalk"]

    @extend_schema_field(CrosswalkLinkSerializer(many=True))
    def get_crosswalk(self, obligation: Obligation) -> list[dict]:
        return CrosswalkLinkSerializer(self.context["links"], many=True).data


# Views

TAGS = ["Catalogue"]
PAGE = OpenApiParameter("page", OpenApiTypes.INT, description="A page number, from 1.")
PERMISSIONS = [IsAuthenticated, KeyScope]


class CataloguePagination(PageNumberPagination):
    page_size = 100


def _paginated(name: str, serializer_class) -> serializers.Serializer:
    return inline_serializer(
        name=f"Paginated{name}List",
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


def _page(request: Request, rows, serializer_class) -> Response:
    paginator = CataloguePagination()
    page = paginator.paginate_queryset(rows, request)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


@extend_schema(
    operation_id="catalogue_releases_list",
    summary="List catalogue releases",
    tags=TAGS,
    parameters=[PAGE],
    responses={200: _paginated("Release", ReleaseSerializer), **problems()},
)
@api_view(["GET"])
@permission_classes(PERMISSIONS)
def release_list(request: Request) -> Response:
    """The releases you may read (drafts only for staff), by code."""
    _params(Params, request)
    releases = sorted(queries.visible_releases(request.user), key=lambda r: r.code)
    return _page(request, releases, ReleaseSerializer)


@extend_schema(
    operation_id="catalogue_regulations_list",
    summary="List a release's regulations",
    tags=TAGS,
    parameters=[RegulationParams, PAGE],
    responses={200: _paginated("Regulation", RegulationSerializer), **problems()},
)
@api_view(["GET"])
@permission_classes(PERMISSIONS)
def regulation_list(request: Request) -> Response:
    """The regulations of a release; filter: jurisdiction."""
    params = _params(RegulationParams, request)
    return _page(request, queries.regulations(**params), RegulationSerializer)


@extend_schema(
    operation_id="catalogue_obligations_list",
    summary="List a release's obligations",
    tags=TAGS,
    parameters=[ObligationParams, PAGE],
    responses={200: _paginated("Obligation", ObligationSerializer), **problems()},
)
@api_view(["GET"])
@permission_classes(PERMISSIONS)
def obligation_list(request: Request) -> Response:
    """The obligations of a release; filters: jurisdiction, regulation, role, legal_force,
    applies_from_after and applies_from_before (inclusive dates, YYYY-MM-DD), q (code or title).
    """
    params = _params(ObligationParams, request)
    rows = queries.obligations(params.pop("release"), **params).order_by("code")
    return _page(request, rows, ObligationSerializer)


@extend_schema(
    operation_id="catalogue_obligations_retrieve",
    summary="Read an obligation",
    description="With its penalty tier and its crosswalk links in both directions.",
    tags=TAGS,
    parameters=[ReleaseParams],
    responses={200: ObligationDetailSerializer, **problems()},
)
@api_view(["GET"])
@permission_classes(PERMISSIONS)
def obligation_detail(request: Request, code: str) -> Response:
    params = _params(ReleaseParams, request)
    try:
        obligation = queries.get_obligation(params["release"], code)
    except Http404 as exc:
        raise NotFound(_("No obligation “%(code)s” in this release.") % {"code": code}) from exc
    links = [view.link for view in queries.obligation_links(obligation)]
    return Response(ObligationDetailSerializer(obligation, context={"links": links}).data)


@extend_schema(
    operation_id="catalogue_crosswalk_list",
    summary="List a release's crosswalk links",
    tags=TAGS,
    parameters=[ReleaseParams, PAGE],
    responses={200: _paginated("CrosswalkLink", CrosswalkLinkSerializer), **problems()},
)
@api_view(["GET"])
@permission_classes(PERMISSIONS)
def crosswalk_list(request: Request) -> Response:
    """The crosswalk links of a release, by source then target code."""
    params = _params(ReleaseParams, request)
    return _page(request, queries.crosswalk_links(params["release"]), CrosswalkLinkSerializer)
