"""Assessment runs: one evaluation of one AI system against one catalogue release."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from governance.models import CatalogueRelease, Organisation, TenantQuerySet
from governance.models.registry import AISystem, EuTier


class AssessmentStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")


IN_FLIGHT = (AssessmentStatus.QUEUED, AssessmentStatus.RUNNING)


class ReviewState(models.TextChoices):
    DRAFT = "draft", _("In review")
    SUBMITTED = "submitted", _("Awaiting approval")
    APPROVED = "approved", _("Approved")


class Source(models.TextChoices):
    WEB = "web", _("Web")
    API = "api", _("API")
    BATCH = "batch", _("Assess all")
    RELEASE = "release", _("Catalogue release")


class AssessmentBatch(models.Model):
    """ "Assess all systems" (or re-assess those a release affects): progress is counted from
    the batch's assessments, so no counter can drift when a worker dies."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.BATCH)
    release = models.ForeignKey(CatalogueRelease, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return str(self.code)


class AssessmentQuerySet(TenantQuerySet):
    def completed(self) -> "AssessmentQuerySet":
        return self.filter(status=AssessmentStatus.COMPLETED)


class Assessment(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="assessments")
    release = models.ForeignKey(
        CatalogueRelease, on_delete=models.PROTECT, related_name="+", verbose_name=_("release")
    )
    batch = models.ForeignKey(
        AssessmentBatch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assessments",
    )
    previous = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=AssessmentStatus.choices, default="queued"
    )
    source = models.CharField(_("started from"), max_length=16, choices=Source.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    # What was assessed: the system's answers and version when the run was requested.
    answers = models.JSONField(default=dict)
    system_version = models.PositiveIntegerField()
    # What came out: the engine's result (labels, roles, trail) and the headline numbers.
    result = models.JSONField(default=dict, blank=True)
    eu_tier = models.CharField(_("EU tier"), max_length=16, choices=EuTier.choices, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)  # last sent to the broker
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    engine_ms = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField(null=True, blank=True)
    # A later catalogue release would change this assessment's findings.
    stale_since = models.ForeignKey(
        CatalogueRelease, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Four eyes: a preparer submits, a different compliance officer approves.
    review_state = models.CharField(
        _("review"), max_length=16, choices=ReviewState.choices, default=ReviewState.DRAFT
    )
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("prepared by"),
    )
    prepared_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # The system's most recent completed run: what dashboards, deadlines and exports count.
    latest = models.BooleanField(default=False, editable=False)

    objects = AssessmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("assessment")
        verbose_name_plural = _("assessments")
        ordering = ["-created_at", "-id"]
        constraints = [
            # One run in flight per system: starting twice returns the run already queued.
            models.UniqueConstraint(
                fields=["system"],
                condition=models.Q(status__in=["queued", "running"]),
                name="assessment_one_in_flight_per_system",
            ),
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True)
                | ~models.Q(approved_by=models.F("prepared_by")),
                name="assessment_four_eyes",
            ),
            models.UniqueConstraint(
                fields=["system"], condition=models.Q(latest=True), name="assessment_one_latest"
            ),
        ]
        indexes = [
            models.Index(fields=["system", "-created_at"], name="assessment_system_latest"),
            models.Index(fields=["status", "started_at"], name="assessment_status_started"),
            models.Index(fields=["organisation", "-created_at"], name="assessment_org_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.system_id} @ {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @property
    def is_approved(self) -> bool:
        return self.review_state == ReviewState.APPROVED

    @property
    def is_editable(self) -> bool:
        """Findings can be reviewed until the assessment is submitted for approval."""
        return self.status == AssessmentStatus.COMPLETED and self.review_state == ReviewState.DRAFT


class SystemImpact(models.Model):
    """What one published release changes for one system's latest assessment: the tier, the
    obligations added, removed or reworded, and the application dates that moved."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    release = models.ForeignKey(CatalogueRelease, on_delete=models.CASCADE, related_name="+")
    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="+")
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="+")
    tier_before = models.CharField(max_length=16, choices=EuTier.choices, blank=True)
    tier_after = models.CharField(max_length=16, choices=EuTier.choices, blank=True)
    added = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    removed = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    changed = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    # [{"code": ..., "from": "2026-08-02", "to": "2027-12-02"}]
    moved = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["system__name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["release", "system"], name="impact_once_per_system"),
        ]
        indexes = [models.Index(fields=["organisation", "release"], name="impact_org_release")]

    def __str__(self) -> str:
        return f"{self.release_id}:{self.system_id}"
