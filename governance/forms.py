import datetime as dt
import zoneinfo

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import PasswordResetForm
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from .models import ApiScope, Jurisdiction, Organisation, Role, User


def time_zone_choices() -> list[tuple[str, str]]:
    return [(tz, tz) for tz in sorted(zoneinfo.available_timezones()) if "/" in tz or tz == "UTC"]


class OrganisationForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=time_zone_choices)
    jurisdictions = forms.MultipleChoiceField(
        label=_("Jurisdictions of interest"),
        choices=Jurisdiction.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Organisation
        fields = [
            "name", "time_zone", "default_language", "jurisdictions", "gap_due_days",
            "voluntary_due_dates", "auto_actions",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Left empty, the due-date policy keeps its current value (90 days for a new one).
        self.fields["gap_due_days"].required = False
        self.fields["gap_due_days"].validators += [MinValueValidator(1), MaxValueValidator(3650)]

    def clean_gap_due_days(self) -> int:
        value = self.cleaned_data.get("gap_due_days")
        if value is None:
            return self.instance.gap_due_days
        return value


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.CONTRIBUTOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class RegistrationForm(forms.Form):
    """Creates an account for an invited address; the address comes from the invitation."""

    full_name = forms.CharField(label=_("Full name"), max_length=200)
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords do not match."))
        elif p1:
            probe = User(email=self.email, full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(p1, probe)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class ProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        required=False,
        choices=lambda: [("", _("Each organisation's own")), *time_zone_choices()],
        help_text=_("Leave as is to see each organisation's times in its own time zone."),
    )

    class Meta:
        model = User
        fields = ["full_name", "language", "time_zone"]


class QueuedPasswordResetForm(PasswordResetForm):
    """Hands the reset e-mail to the worker, which makes the one-time link itself: the link
    never travels through the broker (or sits in its append-only file)."""

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        from .tasks import send_password_reset

        send_password_reset.delay(
            context["user"].pk,
            email=to_email,
            domain=context["domain"],
            site_name=context["site_name"],
            protocol=context["protocol"],
            language=translation.get_language() or settings.LANGUAGE_CODE,
        )


EXPIRY_CHOICES = [
    ("30", _("In 30 days")),
    ("90", _("In 90 days")),
    ("365", _("In a year")),
    ("never", _("Never")),
]


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("Say who uses it, e.g. “Jira automation” or “Quarterly export script”."),
    )
    scope = forms.ChoiceField(
        label=_("Access"), choices=ApiScope.choices, initial=ApiScope.READ, widget=forms.RadioSelect
    )
    expires = forms.ChoiceField(label=_("Expires"), choices=EXPIRY_CHOICES, initial="90")

    def expires_at(self) -> dt.datetime | None:
        days = self.cleaned_data["expires"]
        return None if days == "never" else timezone.now() + dt.timedelta(days=int(days))
