import uuid
import zoneinfo

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class Jurisdiction(models.TextChoices):
    EU = "EU", _("European Union")
    JP = "JP", _("Japan")
    INTERNATIONAL = "INTL", _("International")


def default_jurisdictions() -> list[str]:
    return [Jurisdiction.EU, Jurisdiction.JP]


class Organisation(models.Model):
    """A tenant: every piece of registry and assessment data belongs to exactly one."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text=_("Deadlines are judged and dates are shown in this time zone."),
    )
    default_language = models.CharField(
        _("default language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    jurisdictions = ArrayField(
        models.CharField(max_length=8, choices=Jurisdiction.choices),
        verbose_name=_("jurisdictions of interest"),
        default=default_jurisdictions,
    )
    gap_due_days = models.PositiveSmallIntegerField(
        _("days to close a gap in force"),
        default=90,
        help_text=_(
            "A finding on an obligation that already applies is due this many days after the "
            "assessment; one that applies later is due on its application date."
        ),
    )
    voluntary_due_dates = models.BooleanField(
        _("set due dates for voluntary guidance"),
        default=False,
        help_text=_(
            "Guidelines and codes of conduct carry no legal deadline; set this to track them "
            "with due dates like binding duties."
        ),
    )
    auto_actions = models.BooleanField(
        _("open remediation actions for binding gaps"),
        default=True,
        help_text=_(
            "After each assessment, every open gap in a binding obligation that has no action "
            "yet gets one, owned by the system's owner."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_jurisdictions_display(self) -> list[str]:
        labels = dict(Jurisdiction.choices)
        return [str(labels.get(code, code)) for code in self.jurisdictions]


class TenantQuerySet(models.QuerySet):
    """Every tenant model's queryset: the one way to scope rows to an organisation."""

    def for_org(self, org: Organisation) -> "TenantQuerySet":
        return self.filter(organisation=org)


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    COMPLIANCE_OFFICER = "compliance_officer", _("Compliance officer")
    CONTRIBUTOR = "contributor", _("Contributor")
    VIEWER = "viewer", _("Viewer")


class Membership(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(_("joined"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_manage(self) -> bool:
        """Compliance officers and admins approve, assign and verify."""
        return self.role in (Role.ADMIN, Role.COMPLIANCE_OFFICER)

    @property
    def can_edit(self) -> bool:
        """Everyone but a viewer may change the organisation's compliance data."""
        return self.role != Role.VIEWER


class InvitationQuerySet(TenantQuerySet):
    def pending(self) -> "InvitationQuerySet":
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )


class Invitation(models.Model):
    """An organisation admin's invitation to one e-mail address, expiring and single use.

    The link carries a signed reference to `code` (see governance.services.invitations), so no
    secret is stored here or passed through the broker.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.VIEWER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            # At most one open invitation per address and organisation.
            models.UniqueConstraint(
                "organisation",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.organisation}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_pending(self) -> bool:
        return not (self.accepted_at or self.revoked_at or self.is_expired)
