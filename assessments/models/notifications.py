"""Notifications: in the app and by e-mail, each created once per recipient and event."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from governance.models import CatalogueRelease, Organisation, TenantQuerySet

from .actions import RemediationAction
from .runs import Assessment


class NotificationKind(models.TextChoices):
    ASSIGNED = "assigned", _("An action is assigned to me")
    MENTIONED = "mentioned", _("Someone mentions me in a comment")
    DUE_SOON = "due_soon", _("An action of mine is due in 14, 7 or 1 days")
    OVERDUE = "overdue", _("An action of mine is overdue")
    ASSESSMENT_COMPLETED = "assessment_completed", _("An assessment I follow has completed")
    RELEASE_PUBLISHED = "release_published", _("A catalogue release is published")


class EmailChoice(models.TextChoices):
    OFF = "off", _("No e-mail")
    IMMEDIATE = "immediate", _("E-mail at once")
    DIGEST = "digest", _("Daily digest")


class EmailState(models.TextChoices):
    NONE = "none", _("Not e-mailed")
    PENDING = "pending", _("Waiting to be sent")
    DIGEST = "digest", _("Waiting for the digest")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Notification(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    # One notification per recipient and event: "due_soon:<action>:<due date>:7". Creating it
    # again is a no-op, which is what keeps reminders from going out twice.
    key = models.CharField(max_length=200)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.ForeignKey(
        RemediationAction, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    assessment = models.ForeignKey(
        Assessment, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    release = models.ForeignKey(
        CatalogueRelease, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    in_app = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_state = models.CharField(
        max_length=16, choices=EmailState.choices, default=EmailState.NONE
    )
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "key"], name="notification_once"),
        ]
        indexes = [
            models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_inbox"),
            models.Index(fields=["email_state", "created_at"], name="notification_outbox"),
        ]

    def __str__(self) -> str:
        return self.key


class NotificationPreference(models.Model):
    """How one user wants one kind of notification. No row means the default for the kind."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    in_app = models.BooleanField(_("in the app"), default=True)
    email = models.CharField(
        _("e-mail"), max_length=16, choices=EmailChoice.choices, default=EmailChoice.IMMEDIATE
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.kind}"


# What a user gets before choosing: everything in the app; e-mail at once for what needs
# attention today, and in the daily digest for the rest.
DEFAULT_EMAIL_CHOICES = {
    NotificationKind.ASSIGNED: EmailChoice.IMMEDIATE,
    NotificationKind.MENTIONED: EmailChoice.IMMEDIATE,
    NotificationKind.DUE_SOON: EmailChoice.DIGEST,
    NotificationKind.OVERDUE: EmailChoice.IMMEDIATE,
    NotificationKind.ASSESSMENT_COMPLETED: EmailChoice.DIGEST,
    NotificationKind.RELEASE_PUBLISHED: EmailChoice.DIGEST,
}


class DigestRun(models.Model):
    """One digest per user per day, whatever beat and the workers do."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="digest_once_a_day"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.day}"
