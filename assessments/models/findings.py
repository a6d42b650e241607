"""Findings: one applicable obligation for one assessment, and the evidence that meets it."""

import datetime as dt
import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from governance.models import ROLES, Obligation, Organisation, TenantQuerySet
from governance.models.registry import AISystem

from .runs import Assessment


class FindingStatus(models.TextChoices):
    OPEN = "open", _("Open")
    MET = "met", _("Met")
    PARTIALLY_MET = "partially_met", _("Partially met")
    NOT_MET = "not_met", _("Not met")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")
    RISK_ACCEPTED = "risk_accepted", _("Risk accepted")


# Statuses that leave work to do: the gaps.
GAP_STATUSES = (FindingStatus.OPEN, FindingStatus.PARTIALLY_MET, FindingStatus.NOT_MET)


class Finding(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="findings")
    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="+")
    obligation = models.ForeignKey(Obligation, on_delete=models.PROTECT, related_name="+")
    # Copied from the obligation so findings compare across releases and filter without joins.
    obligation_code = models.CharField(_("obligation"), max_length=40)
    obligation_digest = models.CharField(max_length=16)
    regulation_code = models.CharField(_("regulation"), max_length=40)
    jurisdiction = models.CharField(_("jurisdiction"), max_length=8)
    legal_force = models.CharField(_("legal force"), max_length=20)
    roles = ArrayField(models.CharField(max_length=40), default=list)
    applies_from = models.DateField(_("applies from"))
    route = models.TextField(blank=True)
    due_date = models.DateField(_("due"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=FindingStatus.choices, default=FindingStatus.OPEN
    )
    justification = models.TextField(_("justification"), blank=True)
    risk_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("risk accepted by"),
    )
    notes = models.TextField(_("notes"), blank=True)
    carried_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Evidence offered by crosswalked findings of the same assessment: [{code, relationship,
    # status, evidence: [{title, url}]}].
    suggestions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        ordering = ["jurisdiction", "regulation_code", "obligation_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "obligation_code"], name="finding_one_per_obligation"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="not_applicable") | ~models.Q(justification=""),
                name="finding_not_applicable_justified",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="risk_accepted")
                | models.Q(risk_approved_by__isnull=False),
                name="finding_risk_accepted_approved",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "status", "due_date"], name="finding_org_status"),
            models.Index(fields=["system", "obligation_code"], name="finding_system_obligation"),
            # The findings list's pages, soonest due first, undated last, from any cursor: the
            # sort expression of assessments/api/runs.py (DUE_DATE_SORT), which must match.
            models.Index(
                models.F("organisation"),
                models.Case(
                    models.When(due_date__isnull=True, then=models.Value(dt.date(9999, 12, 31))),
                    default=models.F("due_date"),
                    output_field=models.DateField(),
                ),
                models.F("id"),
                name="finding_org_due_sort",
            ),
            # The dashboard's counts of current findings, read from the index alone: found by
            # their (latest) assessment, with every column the counts group and filter by.
            models.Index(
                fields=["assessment"],
                include=[
                    "organisation",
                    "system",
                    "jurisdiction",
                    "regulation_code",
                    "status",
                    "due_date",
                    "applies_from",
                    "id",
                ],
                name="finding_assessment_counts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.obligation_code} ({self.status})"

    @property
    def is_gap(self) -> bool:
        return self.status in GAP_STATUSES

    @property
    def role_labels(self) -> list[str]:
        """The roles this finding applies in, as readers know them ("Provider (EU)")."""
        labels = dict(ROLES)
        return [str(labels.get(role, role)) for role in self.roles]


class Evidence(models.Model):
    """A link to a document that supports a finding. (Files arrive with remediation.)"""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="evidence")
    title = models.CharField(_("title"), max_length=200)
    url = models.URLField(_("link"), max_length=500)
    carried_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
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
            models.UniqueConstraint(fields=["finding", "url"], name="evidence_url_per_finding"),
        ]

    def __str__(self) -> str:
        return self.title
