"""The AI system registry: what an organisation builds or uses, and how it answered the
catalogue's questionnaire. Every edit bumps `version` and keeps a copy in AISystemVersion."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from .catalogue import CatalogueRelease
from .tenancy import Organisation, TenantQuerySet


class LifecycleStage(models.TextChoices):
    PLANNED = "planned", _("Planned")
    DEVELOPMENT = "development", _("In development")
    VALIDATION = "validation", _("Testing and validation")
    PRODUCTION = "production", _("In production")
    RETIRED = "retired", _("Retired")


class Sourcing(models.TextChoices):
    IN_HOUSE = "in_house", _("Built in house")
    THIRD_PARTY = "third_party", _("Bought from a vendor")
    OPEN_SOURCE = "open_source", _("Open-source model or system")
    HYBRID = "hybrid", _("Vendor model, adapted in house")


class EuTier(models.TextChoices):
    """The headline EU outcome of the latest completed assessment."""

    NOT_IN_SCOPE = "not_in_scope", _("Not offered or used in the EU")
    OUT_OF_SCOPE = "out_of_scope", _("Excluded from the AI Act")
    PROHIBITED = "prohibited", _("Prohibited practice")
    HIGH_RISK = "high_risk", _("High-risk")
    LIMITED = "limited", _("Transparency duties")
    MINIMAL = "minimal", _("Minimal risk")


class AISystemQuerySet(TenantQuerySet):
    def active(self) -> "AISystemQuerySet":
        return self.filter(archived_at__isnull=True)


class AISystem(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="systems")
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    intended_purpose = models.TextField(
        _("intended purpose"),
        blank=True,
        help_text=_("What the system is for, as its provider describes it (EU AI Act Art. 3(12))."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    business_unit = models.CharField(_("business unit"), max_length=120, blank=True)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"),
        max_length=16,
        choices=LifecycleStage.choices,
        default=LifecycleStage.DEVELOPMENT,
    )
    sourcing = models.CharField(
        _("sourcing"), max_length=16, choices=Sourcing.choices, default=Sourcing.IN_HOUSE
    )
    vendor = models.CharField(_("vendor"), max_length=200, blank=True)
    model_name = models.CharField(_("model or product"), max_length=200, blank=True)
    model_version = models.CharField(_("model version"), max_length=100, blank=True)
    # The questionnaire: answers as validated against `release`'s questions. Markets and roles
    # are copied out of the answers for filtering.
    release = models.ForeignKey(
        CatalogueRelease, on_delete=models.PROTECT, related_name="+", verbose_name=_("release")
    )
    answers = models.JSONField(_("answers"), default=dict)
    markets = ArrayField(models.CharField(max_length=8), default=list, blank=True)
    eu_roles = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    jp_roles = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    # Copied from the latest completed assessment, for the registry list and its filters.
    eu_tier = models.CharField(_("EU tier"), max_length=16, choices=EuTier.choices, blank=True)
    assessed_at = models.DateTimeField(_("last assessed"), null=True, blank=True)
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)
    # None when an API key registered it, or its creator's account is gone.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("registered"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = AISystemQuerySet.as_manager()

    class Meta:
        verbose_name = _("AI system")
        verbose_name_plural = _("AI systems")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                "organisation",
                Lower("name"),
                condition=models.Q(archived_at__isnull=True),
                name="aisystem_name_unique_while_active",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "archived_at", "name"], name="aisystem_org_list"),
            models.Index(fields=["organisation", "eu_tier"], name="aisystem_org_tier"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class AISystemVersion(models.Model):
    """A system as it stood after one edit: the registry fields and the answers."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    data = models.JSONField(_("data"))
    changed = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("AI system version")
        verbose_name_plural = _("AI system versions")
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["system", "number"], name="aisystemversion_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.system_id} v{self.number}"
