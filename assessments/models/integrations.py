"""Outbound webhooks (an outbox of events, delivered per endpoint) and ticketing connectors."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.crypto import EncryptedTextField
from governance.models import Organisation, TenantQuerySet

from .actions import RemediationAction


class EventType(models.TextChoices):
    ASSESSMENT_COMPLETED = "assessment.completed", _("Assessment completed")
    FINDING_UPDATED = "finding.updated", _("Finding updated")
    ACTION_CREATED = "action.created", _("Action created")
    ACTION_UPDATED = "action.updated", _("Action updated")
    ACTION_OVERDUE = "action.overdue", _("Action overdue")
    RELEASE_PUBLISHED = "catalogue.release_published", _("Catalogue release published")


class WebhookEndpoint(models.Model):
    """A receiver URL subscribed to some (or, with no types chosen, all) event types.

    Signing secrets are `whsec_` + base64 of 24 random bytes. While a secret is being rotated,
    the previous one keeps signing too (two signatures in `webhook-signature`) until
    `previous_secret_expires_at`.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = ArrayField(
        models.CharField(max_length=40, choices=EventType.choices),
        verbose_name=_("events"),
        default=list,
        blank=True,
        help_text=_("Leave empty to receive every event."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    secret = EncryptedTextField(editable=False)
    previous_secret = EncryptedTextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # None when an API key created it.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookEvent(models.Model):
    """One event in the outbox, written in the transaction of the change it reports.

    `code` is the message id receivers deduplicate on (`webhook-id: msg_<hex>`); every delivery
    and replay of the event carries the same id.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=40, choices=EventType.choices)
    # Events that must go out once per fact (an action overdue for a due date, a run completed)
    # carry a key; emitting one again is a no-op.
    key = models.CharField(max_length=200, blank=True)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organisation", "-created_at"], name="webhookevent_org")]
        constraints = [
            models.UniqueConstraint(
                "organisation", "key", condition=~models.Q(key=""), name="webhookevent_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"

    @property
    def message_id(self) -> str:
        return f"msg_{self.code.hex}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(models.Model):
    """An event on its way to one endpoint: pending until delivered or out of retries."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint("event", "endpoint", name="webhookdelivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhookdelivery_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: the log the delivery page shows."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"


class TicketSystem(models.TextChoices):
    JIRA = "jira", "Jira Cloud"
    SERVICENOW = "servicenow", "ServiceNow"


class TicketingConnection(models.Model):
    """An organisation's connection to Jira Cloud or ServiceNow (one of each at most).

    `username` is the Atlassian account e-mail or the ServiceNow user; `token` the API token or
    password (encrypted). Jira uses `project_key` and `issue_type`; ServiceNow uses `table`.
    `outbound_statuses` maps our action statuses to remote status names (Jira transitions to
    that status; ServiceNow writes the `state` value); `inbound_statuses` maps remote status
    names (or ServiceNow state values) to our action statuses. Inbound webhooks authenticate
    with `inbound_secret`.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    system = models.CharField(_("system"), max_length=16, choices=TicketSystem.choices)
    enabled = models.BooleanField(_("enabled"), default=True)
    base_url = models.URLField(_("site URL"), max_length=300)
    username = models.CharField(_("account"), max_length=200)
    token = EncryptedTextField(_("API token"))
    project_key = models.CharField(_("project key"), max_length=40, blank=True)
    issue_type = models.CharField(_("issue type"), max_length=60, blank=True, default="Task")
    table = models.CharField(_("table"), max_length=80, blank=True, default="incident")
    outbound_statuses = models.JSONField(_("status mapping (outbound)"), default=dict, blank=True)
    inbound_statuses = models.JSONField(_("status mapping (inbound)"), default=dict, blank=True)
    inbound_secret = EncryptedTextField(editable=False)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint("organisation", "system", name="ticketing_one_per_system"),
        ]

    def __str__(self) -> str:
        return f"{self.get_system_display()} {self.base_url}"


class SyncState(models.TextChoices):
    PENDING = "pending", _("Waiting to sync")
    SYNCED = "synced", _("In sync")
    FAILED = "failed", _("Sync failed")
    MANUAL = "manual", _("Linked by a client")


class ExternalTicket(models.Model):
    """A remediation action's ticket in another tool.

    Rows with a `connection` are kept in sync by the connector (`needs_sync` is the outbox flag,
    set in the transaction of the action's change). Rows without one are references an API
    client recorded itself (`system` is then any short name, e.g. "github").
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    action = models.ForeignKey(RemediationAction, on_delete=models.CASCADE, related_name="tickets")
    connection = models.ForeignKey(
        TicketingConnection, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    system = models.CharField(_("system"), max_length=32)
    external_id = models.CharField(max_length=100, blank=True)
    external_key = models.CharField(_("ticket"), max_length=100, blank=True)
    url = models.URLField(_("URL"), max_length=500, blank=True)
    remote_status = models.CharField(max_length=100, blank=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    sync_state = models.CharField(
        max_length=10, choices=SyncState.choices, default=SyncState.PENDING
    )
    needs_sync = models.BooleanField(default=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=500, blank=True)
    pushed_hash = models.CharField(max_length=64, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint("action", "system", name="externalticket_one_per_system"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="externalticket_due",
                condition=models.Q(needs_sync=True),
            ),
            models.Index(fields=["system", "external_id"], name="externalticket_remote"),
        ]

    def __str__(self) -> str:
        return f"{self.system} {self.external_key or self.external_id or '(not created yet)'}"
