"""Webhook endpoints and their deliveries under /api/v1/orgs/<org_code>/webhooks/.

Organisation admins (by session) and API keys read them; admins and write keys change them
(see integrations/webhooks.py). The signing secret is in the create and rotate responses only.
A delivery can be replayed: it goes out again, soon, with the same `webhook-id`.

The events themselves are documented as OpenAPI webhooks (`EVENT_WEBHOOKS`, listed in
SPECTACULAR_SETTINGS["WEBHOOKS"]).
"""

from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    OpenApiWebhook,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.auth import KeyScope
from governance.api.conventions import (
    IDEMPOTENCY_HEADER,
    KeysetPagination,
    OrgScoped,
    Params,
    StrictInput,
    idempotent,
    parse_params,
    problems,
)

from ..integrations import webhooks
from ..models import DeliveryStatus, EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint

TAGS = ["Webhooks"]
LOCATION_HEADER = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    description="The new endpoint.",
    response=[201],
)


def _href(name: str, org_code, **kwargs) -> str:
    return reverse(name, kwargs={"org_code": org_code, **kwargs})


# Output


class EndpointOut(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        help_text="The event types sent; empty means every type.",
    )
    rotating_until = serializers.SerializerMethodField(
        help_text="While a rotated-out secret still signs beside the new one: until when."
    )
    last_status = serializers.ChoiceField(
        choices=DeliveryStatus.choices,
        allow_null=True,
        read_only=True,
        help_text="The status of the newest delivery.",
    )
    failed = serializers.IntegerField(read_only=True, help_text="Deliveries out of retries.")
    retrying = serializers.IntegerField(
        read_only=True, help_text="Deliveries waiting to be tried again after a failure."
    )
    href = serializers.SerializerMethodField()
    deliveries_href = serializers.SerializerMethodField()

    class Meta:
        model = WebhookEndpoint
        fields = [
            "code", "url", "description", "event_types", "enabled", "disabled_reason",
            "rotating_until", "last_status", "failed", "retrying", "created_at", "updated_at",
            "href", "deliveries_href",
        ]  # fmt: skip

    @extend_schema_field(serializers.DateTimeField(allow_null=True))  # null when not rotating
    def get_rotating_until(self, endpoint: WebhookEndpoint):
        expires = endpoint.previous_secret_expires_at
        return expires if expires and expires > timezone.now() else None

    def get_href(self, endpoint: WebhookEndpoint) -> str:
        return _href("api_webhook", self.context["org"].code, webhook_code=endpoint.code)

    def get_deliveries_href(self, endpoint: WebhookEndpoint) -> str:
        return _href("api_webhook_deliveries", self.context["org"].code, webhook_code=endpoint.code)


class EndpointCreatedOut(EndpointOut):
    secret = serializers.CharField(
        help_text="The signing secret (whsec_…). Store it now: it is not shown again."
    )

    class Meta(EndpointOut.Meta):
        fields = [*EndpointOut.Meta.fields, "secret"]


class SecretOut(serializers.Serializer):
    secret = serializers.CharField(
        help_text="The new signing secret (whsec_…). Store it now: it is not shown again."
    )
    rotating_until = serializers.DateTimeField(
        help_text="Until then the previous secret signs too (a second signature)."
    )


class DeliveryOut(serializers.ModelSerializer):
    endpoint = serializers.UUIDField(source="endpoint.code")
    event_type = serializers.ChoiceField(source="event.type", choices=EventType.choices)
    webhook_id = serializers.CharField(
        source="event.message_id", help_text="The webhook-id header: the same on every attempt."
    )
    next_attempt_at = serializers.SerializerMethodField()
    href = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "code", "endpoint", "event_type", "webhook_id", "status", "attempts",
            "next_attempt_at", "last_attempt_at", "response_status", "last_error",
            "delivered_at", "created_at", "href",
        ]  # fmt: skip

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_next_attempt_at(self, delivery: WebhookDelivery):
        return delivery.next_attempt_at if delivery.status == DeliveryStatus.PENDING else None

    def get_href(self, delivery: WebhookDelivery) -> str:
        return _href(
            "api_webhook_delivery",
            self.context["org"].code,
            webhook_code=delivery.endpoint.code,
            delivery_code=delivery.code,
        )


class AttemptOut(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "at", "response_status", "duration_ms", "error", "response_excerpt"]


class DeliveryDetailOut(DeliveryOut):
    payload = serializers.JSONField(source="event.payload", help_text="The body sent.")
    attempt_log = serializers.SerializerMethodField()

    class Meta(DeliveryOut.Meta):
        fields = [*DeliveryOut.Meta.fields, "payload", "attempt_log"]

    @extend_schema_field(AttemptOut(many=True))
    def get_attempt_log(self, delivery: WebhookDelivery) -> list[dict]:
        return AttemptOut(webhooks.attempts(delivery), many=True).data


# Input


class EndpointIn(StrictInput):
    url = serializers.CharField(max_length=500, help_text="https:// (http:// in development).")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        required=False,
        help_text="The event types to send; leave empty (or out) for every type.",
    )


class EndpointPatchIn(EndpointIn):
    url = serializers.CharField(max_length=500, required=False)
    enabled = serializers.BooleanField(
        required=False, help_text="false stops deliveries; true sends the ones held back."
    )


class NoBody(StrictInput):
    """The operation takes no fields."""


class DeliveryParams(Params):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)


# Views


class OrgView(OrgScoped, APIView):
    permission_classes = [IsAuthenticated, KeyScope]

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if not webhooks.can_view(self.actor):
            raise exceptions.PermissionDenied(_("Only organisation admins manage webhooks."))

    @property
    def out(self) -> dict:
        return {"org": self.actor.organisation}


class EndpointList(OrgView):
    pagination_class = KeysetPagination
    orderings = {"created_at": "created_at"}
    default_ordering = "created_at"

    @extend_schema(
        operation_id="webhooks_list",
        summary="List webhook endpoints",
        tags=TAGS,
        responses={200: EndpointOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code) -> Response:
        parse_params(Params, request)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            webhooks.endpoints(self.actor.organisation), request, view=self
        )
        return paginator.get_paginated_response(EndpointOut(page, many=True, context=self.out).data)

    @extend_schema(
        operation_id="webhooks_create",
        summary="Add a webhook endpoint",
        description="Answers with the endpoint and its signing secret, which is not shown again. "
        "Deliveries are signed per Standard Webhooks (webhook-id, webhook-timestamp, "
        "webhook-signature). The URL must be https:// and reach a public address.",
        tags=TAGS,
        request=EndpointIn,
        parameters=[IDEMPOTENCY_HEADER, LOCATION_HEADER],
        responses={201: EndpointCreatedOut, **problems(409, 422)},
    )
    @idempotent
    def post(self, request: Request, org_code) -> Response:
        data = _valid(EndpointIn, request)
        endpoint, secret = webhooks.endpoint_create(actor=self.actor, **data)
        endpoint = webhooks.get_endpoint(self.actor.organisation, endpoint.code)
        body = {**EndpointOut(endpoint, context=self.out).data, "secret": secret}
        return Response(
            body,
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(body["href"])},
        )


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    serializer = serializer_class(data=request.data if request.data is not None else {})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class EndpointDetail(OrgView):
    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="Read a webhook endpoint",
        tags=TAGS,
        responses={200: EndpointOut, **problems()},
    )
    def get(self, request: Request, org_code, webhook_code) -> Response:
        endpoint = webhooks.get_endpoint(self.actor.organisation, webhook_code)
        return Response(EndpointOut(endpoint, context=self.out).data)

    @extend_schema(
        operation_id="webhooks_partial_update",
        summary="Change a webhook endpoint",
        description="Fields not sent keep their values. `enabled: true` turns a disabled "
        "endpoint (say, after its receiver answered 410 Gone) back on.",
        tags=TAGS,
        request=EndpointPatchIn,
        responses={200: EndpointOut, **problems()},
    )
    def patch(self, request: Request, org_code, webhook_code) -> Response:
        org = self.actor.organisation
        endpoint = webhooks.get_endpoint(org, webhook_code)
        data = _valid(EndpointPatchIn, request)
        enabled = data.pop("enabled", None)
        if data:
            webhooks.endpoint_update(actor=self.actor, endpoint=endpoint, **data)
        if enabled is True:
            webhooks.endpoint_enable(actor=self.actor, endpoint=endpoint)
        elif enabled is False:
            webhooks.endpoint_disable(actor=self.actor, endpoint=endpoint)
        endpoint = webhooks.get_endpoint(org, webhook_code)
        return Response(EndpointOut(endpoint, context=self.out).data)

    @extend_schema(
        operation_id="webhooks_destroy",
        summary="Delete a webhook endpoint",
        description="Its deliveries and their log go too.",
        tags=TAGS,
        responses={204: None, **problems()},
    )
    def delete(self, request: Request, org_code, webhook_code) -> Response:
        endpoint = webhooks.get_endpoint(self.actor.organisation, webhook_code)
        webhooks.endpoint_delete(actor=self.actor, endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotate(OrgView):
    @extend_schema(
        operation_id="webhooks_rotate_secret",
        summary="Rotate an endpoint's signing secret",
        description="Answers with the new secret. For 24 hours the previous secret signs "
        "too (webhook-signature then holds two signatures), so the receiver can switch over.",
        tags=TAGS,
        request=NoBody,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: SecretOut, **problems(409, 422)},
    )
    @idempotent
    def post(self, request: Request, org_code, webhook_code) -> Response:
        endpoint = webhooks.get_endpoint(self.actor.organisation, webhook_code)
        _valid(NoBody, request)
        secret = webhooks.endpoint_rotate_secret(actor=self.actor, endpoint=endpoint)
        return Response({"secret": secret, "rotating_until": endpoint.previous_secret_expires_at})


class DeliveryList(OrgView):
    pagination_class = KeysetPagination
    orderings = {"created_at": "created_at"}
    default_ordering = "-created_at"

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        summary="List an endpoint's deliveries",
        tags=TAGS,
        parameters=[DeliveryParams],
        responses={200: DeliveryOut(many=True), **problems()},
    )
    def get(self, request: Request, org_code, webhook_code) -> Response:
        org = self.actor.organisation
        endpoint = webhooks.get_endpoint(org, webhook_code)
        params = parse_params(DeliveryParams, request)
        rows = webhooks.deliveries(org, endpoint=endpoint, status=params.get("status"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(DeliveryOut(page, many=True, context=self.out).data)


class DeliveryDetail(OrgView):
    @extend_schema(
        operation_id="webhooks_deliveries_retrieve",
        summary="Read a delivery, with its payload and attempts",
        tags=TAGS,
        responses={200: DeliveryDetailOut, **problems()},
    )
    def get(self, request: Request, org_code, webhook_code, delivery_code) -> Response:
        org = self.actor.organisation
        endpoint = webhooks.get_endpoint(org, webhook_code)
        delivery = webhooks.get_delivery(org, delivery_code, endpoint=endpoint)
        return Response(DeliveryDetailOut(delivery, context=self.out).data)


class DeliveryReplay(OrgView):
    @extend_schema(
        operation_id="webhooks_deliveries_replay",
        summary="Send a delivery again",
        description="Queues the delivery at once with a fresh count of attempts and answers "
        "202; it keeps its webhook-id, so a receiver that has it already can ignore it. The "
        "endpoint must be enabled.",
        tags=TAGS,
        request=NoBody,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: DeliveryOut, **problems(409, 422)},
    )
    @idempotent
    def post(self, request: Request, org_code, webhook_code, delivery_code) -> Response:
        org = self.actor.organisation
        endpoint = webhooks.get_endpoint(org, webhook_code)
        delivery = webhooks.get_delivery(org, delivery_code, endpoint=endpoint)
        _valid(NoBody, request)
        webhooks.delivery_replay(actor=self.actor, delivery=delivery)
        return Response(
            DeliveryOut(delivery, context=self.out).data, status=status.HTTP_202_ACCEPTED
        )


urlpatterns = [
    path("webhooks/", EndpointList.as_view(), name="api_webhooks"),
    path("webhooks/<uuid:webhook_code>/", EndpointDetail.as_view(), name="api_webhook"),
    path(
        "webhooks/<uuid:webhook_code>/rotate/",
        EndpointRotate.as_view(),
        name="api_webhook_rotate",
    ),
    path(
        "webhooks/<uuid:webhook_code>/deliveries/",
        DeliveryList.as_view(),
        name="api_webhook_deliveries",
    ),
    path(
        "webhooks/<uuid:webhook_code>/deliveries/<uuid:delivery_code>/",
        DeliveryDetail.as_view(),
        name="api_webhook_delivery",
    ),
    path(
        "webhooks/<uuid:webhook_code>/deliveries/<uuid:delivery_code>/replay/",
        DeliveryReplay.as_view(),
        name="api_webhook_delivery_replay",
    ),
]


# The events, as OpenAPI webhooks (documentation only)


class ActionSnapshot(serializers.Serializer):
    code = serializers.UUIDField()
    system = serializers.UUIDField()
    title = serializers.CharField()
    status = serializers.CharField()
    priority = serializers.CharField()
    owner = serializers.EmailField(allow_null=True)
    due_date = serializers.DateField(allow_null=True)
    origin = serializers.CharField()
    updated_at = serializers.DateTimeField()
    href = serializers.CharField(help_text="The action in this API.")


class ActionEventData(serializers.Serializer):
    organisation = serializers.UUIDField()
    action = ActionSnapshot()


class ActionOverdueData(ActionEventData):
    days_late = serializers.IntegerField()


class FindingSnapshot(serializers.Serializer):
    code = serializers.UUIDField()
    assessment = serializers.UUIDField()
    system = serializers.UUIDField()
    obligation = serializers.CharField()
    jurisdiction = serializers.CharField()
    status = serializers.CharField()
    due_date = serializers.DateField(allow_null=True)
    href = serializers.CharField(help_text="The finding in this API.")


class FindingEventData(serializers.Serializer):
    organisation = serializers.UUIDField()
    finding = FindingSnapshot()


class AssessmentSnapshot(serializers.Serializer):
    code = serializers.UUIDField()
    system = serializers.UUIDField()
    release = serializers.CharField()
    status = serializers.CharField()
    eu_tier = serializers.CharField()
    summary = serializers.JSONField()
    finished_at = serializers.DateTimeField(allow_null=True)
    href = serializers.CharField(help_text="The assessment in this API.")


class AssessmentEventData(serializers.Serializer):
    organisation = serializers.UUIDField()
    assessment = AssessmentSnapshot()


class ReleaseSnapshot(serializers.Serializer):
    code = serializers.CharField()
    published_at = serializers.DateTimeField()
    systems_affected = serializers.IntegerField(
        help_text="How many of the organisation's systems the release affects."
    )


class ReleaseEventData(serializers.Serializer):
    organisation = serializers.UUIDField()
    release = ReleaseSnapshot()


_HEADERS_DOC = (
    "Sent as a POST with `webhook-id` (the same on every retry and replay: deduplicate on "
    "it), `webhook-timestamp` (unix seconds) and `webhook-signature` (`v1,<base64>` HMAC-"
    "SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` with the endpoint's secret; two "
    "space-separated signatures while a secret is being rotated), per Standard Webhooks. "
    "Answer 2xx within 10 seconds; anything else is retried for about three days, and 410 "
    "Gone disables the endpoint."
)


def _event(event_type: EventType, data: type[serializers.Serializer], summary: str):
    envelope = type(
        "".join(part.title() for part in event_type.value.replace("_", ".").split(".")) + "Event",
        (serializers.Serializer,),
        {
            "type": serializers.ChoiceField(choices=[(event_type.value, event_type.label)]),
            "timestamp": serializers.DateTimeField(),
            "data": data(),
            "__module__": __name__,
        },
    )
    return OpenApiWebhook(
        name=event_type.value,
        decorator=extend_schema(
            summary=summary,
            description=_HEADERS_DOC,
            tags=TAGS,
            request=envelope,
            responses={
                200: OpenApiResponse(description="Received."),
                410: OpenApiResponse(description="Gone: stop sending (disables the endpoint)."),
            },
        ),
    )


action_created_webhook = _event(
    EventType.ACTION_CREATED, ActionEventData, "A remediation action was opened"
)
action_updated_webhook = _event(
    EventType.ACTION_UPDATED, ActionEventData, "A remediation action changed"
)
action_overdue_webhook = _event(
    EventType.ACTION_OVERDUE, ActionOverdueData, "A remediation action is past its due date"
)
finding_updated_webhook = _event(
    EventType.FINDING_UPDATED, FindingEventData, "A finding was reviewed or closed"
)
assessment_completed_webhook = _event(
    EventType.ASSESSMENT_COMPLETED, AssessmentEventData, "An assessment completed"
)
release_published_webhook = _event(
    EventType.RELEASE_PUBLISHED, ReleaseEventData, "A catalogue release was published"
)
EVENT_WEBHOOKS = [
    action_created_webhook,
    action_updated_webhook,
    action_overdue_webhook,
    finding_updated_webhook,
    assessment_completed_webhook,
    release_published_webhook,
]
