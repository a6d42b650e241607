"""Remediation: the work that closes gaps, with its comments and evidence."""

import uuid

from django.conf import settings
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from governance.models import Organisation, TenantQuerySet
from governance.models.registry import AISystem

from .findings import Finding


class ActionStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("action status", "Open")
    IN_PROGRESS = "in_progress", _("In progress")
    BLOCKED = "blocked", _("Blocked")
    DONE = "done", _("Done")
    VERIFIED = "verified", _("Verified")
    CANCELLED = "cancelled", _("Cancelled")


# Work still to do: what reminders, "overdue" and the dashboard count.
ACTIVE_STATUSES = (
    ActionStatus.OPEN,
    ActionStatus.IN_PROGRESS,
    ActionStatus.BLOCKED,
    ActionStatus.DONE,
)
CLOSED_STATUSES = (ActionStatus.VERIFIED, ActionStatus.CANCELLED)


class Priority(models.TextChoices):
    CRITICAL = "critical", _("Critical")
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


PRIORITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


class ActionOrigin(models.TextChoices):
    AUTO = "auto", _("Opened by an assessment")
    MANUAL = "manual", _("Opened by hand")


class ActionQuerySet(TenantQuerySet):
    def active(self) -> "ActionQuerySet":
        return self.filter(status__in=ACTIVE_STATUSES)


class RemediationAction(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    system = models.ForeignKey(
        AISystem, on_delete=models.CASCADE, related_name="actions", verbose_name=_("AI system")
    )
    title = models.CharField(_("title"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    due_date = models.DateField(_("due"), null=True, blank=True)
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.MEDIUM
    )
    # Set once someone chooses the priority by hand; derived priorities are then left alone.
    priority_manual = models.BooleanField(default=False)
    status = models.CharField(
        _("status"), max_length=16, choices=ActionStatus.choices, default=ActionStatus.OPEN
    )
    origin = models.CharField(
        _("origin"), max_length=8, choices=ActionOrigin.choices, default=ActionOrigin.MANUAL
    )
    cancel_reason = models.TextField(_("reason for cancelling"), blank=True)
    findings = models.ManyToManyField(Finding, through="ActionFinding", related_name="actions")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("completed by"),
    )
    done_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("verified by"),
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)

    objects = ActionQuerySet.as_manager()

    class Meta:
        verbose_name = _("remediation action")
        verbose_name_plural = _("remediation actions")
        ordering = ["due_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="cancelled") | ~models.Q(cancel_reason=""),
                name="action_cancel_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="verified") | models.Q(verified_by__isnull=False),
                name="action_verified_has_verifier",
            ),
            # Four eyes: whoever completed the work cannot be the one who verifies it.
            models.CheckConstraint(
                condition=models.Q(verified_by__isnull=True)
                | models.Q(done_by__isnull=True)
                | ~models.Q(verified_by=models.F("done_by")),
                name="action_four_eyes",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "status", "due_date"], name="action_org_status"),
            models.Index(fields=["organisation", "owner", "status"], name="action_org_owner"),
            models.Index(fields=["system", "status"], name="action_system_status"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class ActionFinding(models.Model):
    """An action closes these findings. A re-assessment links the action to the new findings
    of the same obligations, so an action follows its gap from run to run."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    action = models.ForeignKey(RemediationAction, on_delete=models.CASCADE, related_name="links")
    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="action_links")
    # What verification changed the finding from, so reopening can put it back.
    status_before_verify = models.CharField(max_length=16, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["action", "finding"], name="action_finding_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.action_id}:{self.finding_id}"


class ActionComment(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    action = models.ForeignKey(RemediationAction, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField(_("comment"))
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:60]


class EvidenceKind(models.TextChoices):
    FILE = "file", _("File")
    LINK = "link", _("Link")


def evidence_path(instance: "ActionEvidence", filename: str) -> str:
    # The stored name never reuses the uploader's file name: it is shown, never trusted.
    return f"evidence/{instance.organisation_id}/{instance.code}"


class ActionEvidence(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    action = models.ForeignKey(RemediationAction, on_delete=models.CASCADE, related_name="evidence")
    kind = models.CharField(max_length=8, choices=EvidenceKind.choices)
    title = models.CharField(_("title"), max_length=200)
    url = models.URLField(_("link"), max_length=500, blank=True)
    file = models.FileField(_("file"), upload_to=evidence_path, max_length=300, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("evidence")
        verbose_name_plural = _("evidence")
        ordering = ["added_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind="link") & ~models.Q(url=""))
                | (models.Q(kind="file") & ~models.Q(file="")),
                name="action_evidence_file_or_link",
            ),
        ]

    def __str__(self) -> str:
        return self.title


def delete_stored_file(sender, instance: ActionEvidence, **kwargs) -> None:
    """Once a deletion commits (one row, or a cascade from its action, system or organisation),
    remove the stored file too; a rolled-back deletion keeps it."""
    if instance.file:
        storage, name = instance.file.storage, instance.file.name
        transaction.on_commit(lambda: storage.delete(name))
