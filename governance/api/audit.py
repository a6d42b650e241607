"""The organisation's audit trail under /api/v1/orgs/<org_code>/audit-events/ (read-only).

People read it when they are admins or compliance officers; any key of the organisation reads
it, read-only keys included: a key is an organisation-level credential only an admin creates.
Newest first, keyset-paginated by time.
"""

from typing import Any

from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import apikeys, selectors
from ..models import ApiKey, AuditEvent
from .auth import KeyScope, is_key
from .conventions import KeysetPagination, OrgScoped, Params, parse_params, problems

TAGS = ["Audit"]


class AuditParams(Params):
    table = serializers.CharField(required=False, max_length=63, help_text="A table name.")
    action = serializers.ChoiceField(choices=AuditEvent.Action.choices, required=False)
    since = serializers.DateTimeField(required=False, help_text="At or after this time.")
    until = serializers.DateTimeField(required=False, help_text="Before this time.")
    actor = serializers.CharField(
        required=False,
        max_length=254,
        help_text="A person's e-mail address, or an API key's prefix (kk_<prefix>).",
    )

    def validate_table(self, table: str) -> str:
        if table not in selectors.tracked_tables():
            raise serializers.ValidationError(
                _("No audited table is called “%(table)s”.") % {"table": table}
            )
        return table

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since >= until:
            raise serializers.ValidationError({"until": [_("Give a time after “since”.")]})
        return attrs


class ApiKeyRefOut(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField()


class ActorOut(serializers.Serializer):
    email = serializers.EmailField(allow_null=True)
    api_key = ApiKeyRefOut(allow_null=True)


class ObjectOut(serializers.Serializer):
    table = serializers.CharField()
    label = serializers.CharField()
    pk = serializers.CharField()


@extend_schema_field({"type": ["object", "null"], "additionalProperties": True})
class RowField(serializers.JSONField):
    """A row as it was before or after the change (null for an insert's before)."""


class AuditEventOut(serializers.ModelSerializer):
    before = RowField(read_only=True)
    after = RowField(read_only=True)
    object = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    source = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["object", "action", "before", "after", "actor", "source", "created_at"]

    @extend_schema_field(ObjectOut)
    def get_object(self, event: AuditEvent) -> dict:
        return {"table": event.table, "label": event.object_label, "pk": event.object_pk}

    @extend_schema_field(ActorOut)
    def get_actor(self, event: AuditEvent) -> dict:
        key = self.context["keys"].get(event.actor_api_key_id)
        return {
            "email": event.actor_user.email if event.actor_user_id else None,
            "api_key": {"name": key.name, "prefix": key.prefix} if key else None,
        }

    def get_source(self, event: AuditEvent) -> str:
        return (event.context or {}).get("source", "")


def _events(org, keys: dict[int, ApiKey], params: dict[str, Any]):
    events = selectors.audit_events(
        org, table=params.get("table", ""), action=params.get("action", "")
    )
    if "since" in params:
        events = events.filter(created_at__gte=params["since"])
    if "until" in params:
        events = events.filter(created_at__lt=params["until"])
    actor = params.get("actor", "").strip()
    if "@" in actor:
        events = events.filter(actor_user__email__iexact=actor)
    elif actor:
        prefix = actor.removeprefix(apikeys.TOKEN_PREFIX)
        ids = [pk for pk, key in keys.items() if key.prefix == prefix]
        events = events.filter(actor_api_key_id__in=ids)
    return events


class AuditEventList(OrgScoped, APIView):
    permission_classes = [IsAuthenticated, KeyScope]
    pagination_class = KeysetPagination
    orderings = {"created_at": "created_at"}
    default_ordering = "-created_at"

    @extend_schema(
        operation_id="audit_events_list",
        summary="List the audit trail",
        description="Every recorded change to the organisation's data, newest first. For "
        "admins and compliance officers, and for the organisation's API keys.",
        tags=TAGS,
        parameters=[AuditParams],
        responses={200: AuditEventOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code) -> Response:
        if not (is_key(request) or self.actor.can_manage):
            raise exceptions.PermissionDenied(
                _("Only admins and compliance officers read the audit trail.")
            )
        org = self.actor.organisation
        params = parse_params(AuditParams, request)
        keys = {key.pk: key for key in apikeys.keys_for(org)}
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(_events(org, keys, params), request, view=self)
        data = AuditEventOut(page, many=True, context={"keys": keys}).data
        return paginator.get_paginated_response(data)


urlpatterns = [
    path("audit-events/", AuditEventList.as_view(), name="api_audit_events"),
]
