"""The ticketing connection form: one per system on the settings page.

The token is write-only: never rendered back, and left blank it keeps the current one. Status
mappings are a text box per action status (outbound) and a few rows of remote status → action
status (inbound), turned into the dicts `tickets.connection_save` takes.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .integrations.tickets import DEFAULT_INBOUND, DEFAULT_OUTBOUND, INBOUND_TARGETS
from .models import ActionStatus, TicketingConnection, TicketSystem

EXTRA_INBOUND_ROWS = 3
SERVICE_FIELDS = {"enabled", "base_url", "username", "token", "project_key", "issue_type", "table"}


class ConnectionForm(forms.Form):
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    base_url = forms.URLField(label=_("Site URL"), max_length=300, assume_scheme="https")
    username = forms.CharField(label=_("Account"), max_length=200)
    token = forms.CharField(
        label=_("API token"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, system: str, connection: TicketingConnection | None, **kwargs):
        self.system = system
        self.connection = connection
        initial = kwargs.pop("initial", {}) or {}
        if connection is not None:
            initial.update(
                enabled=connection.enabled,
                base_url=connection.base_url,
                username=connection.username,
                project_key=connection.project_key,
                issue_type=connection.issue_type,
                table=connection.table,
            )
        outbound = connection.outbound_statuses if connection else DEFAULT_OUTBOUND[system]
        inbound = connection.inbound_statuses if connection else DEFAULT_INBOUND[system]
        super().__init__(*args, prefix=system, initial=initial, **kwargs)
        self.fields["token"].help_text = (
            _("Leave blank to keep the current token.") if connection else ""
        )
        if system == TicketSystem.JIRA:
            self.fields["base_url"].help_text = _("e.g. https://your-company.atlassian.net")
            self.fields["username"].help_text = _("The Atlassian account's e-mail address.")
            self.fields["project_key"] = forms.CharField(label=_("Project key"), max_length=40)
            self.fields["issue_type"] = forms.CharField(
                label=_("Issue type"), max_length=60, initial="Task"
            )
        else:
            self.fields["base_url"].help_text = _("e.g. https://your-company.service-now.com")
            self.fields["token"].label = _("Password")
            self.fields["table"] = forms.CharField(
                label=_("Table"), max_length=80, initial="incident"
            )
        self.outbound_names = []
        for value, label in ActionStatus.choices:
            name = f"out_{value}"
            self.fields[name] = forms.CharField(
                label=label, max_length=100, required=False, initial=outbound.get(value, "")
            )
            self.outbound_names.append(name)
        choices = [("", "—")] + [
            (value, label) for value, label in ActionStatus.choices if value in INBOUND_TARGETS
        ]
        rows = list(inbound.items())
        self.inbound_names = []
        for i in range(len(rows) + EXTRA_INBOUND_ROWS):
            remote, ours = rows[i] if i < len(rows) else ("", "")
            self.fields[f"in_remote_{i}"] = forms.CharField(
                label=_("Remote status %(n)s") % {"n": i + 1},
                max_length=100,
                required=False,
                initial=remote,
            )
            self.fields[f"in_status_{i}"] = forms.ChoiceField(
                label=_("Action status %(n)s") % {"n": i + 1},
                choices=choices,
                required=False,
                initial=ours,
            )
            self.inbound_names.append((f"in_remote_{i}", f"in_status_{i}"))
        if connection is None:
            self.fields["token"].required = True

    @property
    def main_fields(self) -> list:
        return [self[name] for name in self.fields if name in SERVICE_FIELDS]

    @property
    def outbound_rows(self) -> list:
        return [self[name] for name in self.outbound_names]

    @property
    def inbound_rows(self) -> list:
        return [(self[remote], self[ours]) for remote, ours in self.inbound_names]

    def clean(self) -> dict:
        data = super().clean()
        seen = set()
        for remote, ours in self.inbound_names:
            name = (data.get(remote) or "").strip().casefold()
            if name and not data.get(ours):
                self.add_error(ours, _("Choose the action status for this remote status."))
            if name and name in seen:
                self.add_error(remote, _("Map each remote status once."))
            seen.add(name)
        return data

    def service_fields(self) -> dict:
        data = self.cleaned_data
        out = {name: data[name] for name in self.fields if name in SERVICE_FIELDS}
        out["outbound_statuses"] = {
            name.removeprefix("out_"): data[name] for name in self.outbound_names if data[name]
        }
        out["inbound_statuses"] = {
            data[remote].strip(): data[ours]
            for remote, ours in self.inbound_names
            if (data.get(remote) or "").strip() and data.get(ours)
        }
        return out

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, messages in error.message_dict.items():
            self.add_error(field if field in self.fields else None, messages)
