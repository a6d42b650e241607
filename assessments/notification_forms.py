"""The notification preferences form: for each kind, in the app or not, and how to e-mail."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import EmailChoice, NotificationKind


class PreferencesForm(forms.Form):
    """Two fields per kind: `<kind>_in_app` (a checkbox) and `<kind>_email` (a choice)."""

    def __init__(self, *args, current: dict[str, tuple[bool, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for kind, label in NotificationKind.choices:
            in_app, email = current[kind]
            self.fields[f"{kind}_in_app"] = forms.BooleanField(
                label=_("In the app: %(kind)s") % {"kind": label}, required=False, initial=in_app
            )
            self.fields[f"{kind}_email"] = forms.ChoiceField(
                label=_("E-mail: %(kind)s") % {"kind": label},
                choices=EmailChoice.choices,
                initial=email,
            )

    def rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        """(kind label, in-app field, e-mail field) per kind, for the table."""
        return [
            (label, self[f"{kind}_in_app"], self[f"{kind}_email"])
            for kind, label in NotificationKind.choices
        ]

    def choices(self) -> dict[str, tuple[bool, str]]:
        data = self.cleaned_data
        return {
            kind: (data[f"{kind}_in_app"], data[f"{kind}_email"])
            for kind in NotificationKind.values
        }
