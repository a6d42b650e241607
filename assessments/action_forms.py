"""Forms of the remediation pages. They parse and check input; the rules live in
assessments.actions."""

from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from governance.models import AISystem, Membership, Organisation, User

from .models import ActionOrigin, ActionStatus, Priority, RemediationAction

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

DUE_CHOICES = [
    ("", _("Any time")),
    ("overdue", _("Overdue")),
    ("week", _("Due within 7 days")),
    ("month", _("Due within 30 days")),
    ("none", _("No due date")),
]


def add_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's errors next to the form's fields; errors about anything the form does
    not show (the findings, say) go at the top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _member_label(membership: Membership) -> str:
    user = membership.user
    return f"{user.full_name} <{user.email}>" if user.full_name else user.email


class MemberChoiceField(forms.ModelChoiceField):
    """A member of the organisation, chosen by membership code (never a user id)."""

    def label_from_instance(self, obj: Membership) -> str:
        return _member_label(obj)


class MembersChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Membership) -> str:
        return _member_label(obj)


class ActionFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("Active")), ("all", _("All")), *ActionStatus.choices],
        required=False,
    )
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    priority = forms.ChoiceField(
        label=_("Priority"), choices=[("", _("Any")), *Priority.choices], required=False
    )
    system = forms.ChoiceField(label=_("AI system"), required=False)
    due = forms.ChoiceField(label=_("Due"), choices=DUE_CHOICES, required=False)
    origin = forms.ChoiceField(
        label=_("Origin"), choices=[("", _("Any")), *ActionOrigin.choices], required=False
    )

    def __init__(
        self,
        *args: Any,
        members: Iterable[Membership],
        systems: Iterable[AISystem],
        user: User,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self._user = user
        self._owners = {str(m.code): m.user for m in members}
        self._systems = {str(s.code): s for s in systems}
        self.fields["owner"].choices = [
            ("", _("Anyone")),
            ("mine", _("Mine")),
            ("unassigned", _("Unassigned")),
            *((code, user.full_name or user.email) for code, user in self._owners.items()),
        ]
        self.fields["system"].choices = [
            ("", _("All")),
            *((code, system.name) for code, system in self._systems.items()),
        ]

    def filters(self) -> dict[str, Any]:
        """Arguments for `action_selectors.actions_for_list` (unclear filters are dropped)."""
        data: dict[str, Any] = {}
        if self.is_bound:
            self.is_valid()
            data = self.cleaned_data
        owner = data.get("owner") or ""
        return {
            "status": data.get("status") or "",
            "owner": self._user if owner == "mine" else self._owners.get(owner),
            "unassigned": owner == "unassigned",
            "priority": data.get("priority") or "",
            "system": self._systems.get(data.get("system") or ""),
            "due": data.get("due") or "",
            "search": (data.get("q") or "").strip(),
            "origin": data.get("origin") or "",
        }


class ActionForm(forms.Form):
    """Opening an action by hand, and editing one."""

    title = forms.CharField(label=_("Title"), max_length=300)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    owner = MemberChoiceField(
        label=_("Owner"),
        queryset=Membership.objects.none(),
        to_field_name="code",
        required=False,
        empty_label=_("Unassigned"),
    )
    due_date = forms.DateField(label=_("Due"), required=False, widget=DATE_INPUT)
    priority = forms.ChoiceField(label=_("Priority"), required=False)

    def __init__(self, *args: Any, members: QuerySet[Membership], derived: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = members
        label = dict(Priority.choices).get(derived)
        self.fields["priority"].choices = [
            (
                "",
                _("Derived (%(priority)s)") % {"priority": label} if label else _("Derived"),
            ),
            *Priority.choices,
        ]
        self.fields["priority"].help_text = _(
            "Derived from the legal force, the penalty tier and the due date, and kept up to "
            "date; choose one to fix it."
        )


class TransitionForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=ActionStatus.choices)
    reason = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=5_000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Optional; it is added to the comments."),
    )


class CancelForm(forms.Form):
    """Cancelling is destructive: it needs a reason and an explicit confirmation."""

    status = forms.CharField(widget=forms.HiddenInput, initial=ActionStatus.CANCELLED)
    reason = forms.CharField(
        label=_("Why is the action cancelled?"),
        max_length=5_000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    confirm = forms.BooleanField(
        label=_("Yes, cancel this action. Its gaps stay open and no new action is opened for them.")
    )

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("auto_id", "cancel_%s")  # it shares the page with TransitionForm
        super().__init__(*args, **kwargs)


class CommentForm(forms.Form):
    body = forms.CharField(
        label=_("Comment"),
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Mention a member with @ and their e-mail address to notify them."),
    )
    mention = MembersChoiceField(
        label=_("Notify"),
        queryset=Membership.objects.none(),
        to_field_name="code",
        required=False,
    )

    def __init__(self, *args: Any, members: QuerySet[Membership], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["mention"].queryset = members


class EvidenceFileForm(forms.Form):
    title = forms.CharField(
        label=_("Title"), max_length=200, required=False, help_text=_("The file name if empty.")
    )
    file = forms.FileField(label=_("File"))

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("auto_id", "file_%s")
        super().__init__(*args, **kwargs)


class EvidenceLinkForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    url = forms.URLField(label=_("Link"), max_length=500, assume_scheme="https")

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("auto_id", "link_%s")
        super().__init__(*args, **kwargs)


class ActionBulkForm(forms.Form):
    actions = forms.ModelMultipleChoiceField(
        queryset=RemediationAction.objects.none(),
        to_field_name="code",
        error_messages={"required": _("Tick the actions to change.")},
    )
    owner = MemberChoiceField(
        label=_("Assign to"),
        queryset=Membership.objects.none(),
        to_field_name="code",
        required=False,
        empty_label=_("(unchanged)"),
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("(unchanged)")), *ActionStatus.choices], required=False
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=5_000,
        required=False,
        help_text=_("Needed to cancel; otherwise added to the comments."),
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=[("", _("(unchanged)")), *Priority.choices], required=False
    )
    due_date = forms.DateField(label=_("Due"), required=False, widget=DATE_INPUT)

    def __init__(self, *args: Any, org: Organisation, members: QuerySet[Membership], **kwargs: Any):
        kwargs.setdefault("auto_id", "bulk_%s")  # it shares the page with the filters
        super().__init__(*args, **kwargs)
        self.fields["actions"].queryset = RemediationAction.objects.for_org(org).select_related(
            "organisation"
        )
        self.fields["owner"].queryset = members

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not any(data.get(name) for name in ("owner", "status", "priority", "due_date")):
            raise ValidationError(_("Choose what to change."))
        return data


def finding_title(findings: Sequence[Any]) -> str:
    """The title an action opened for these findings starts with."""
    if len(findings) == 1:
        finding = findings[0]
        return f"{finding.obligation_code}: {finding.obligation.title}"[:300]
    return ", ".join(f.obligation_code for f in findings)[:300]


def finding_description(findings: Sequence[Any]) -> str:
    if len(findings) == 1:
        return findings[0].obligation.summary
    return "\n\n".join(f"{f.obligation_code}: {f.obligation.summary}" for f in findings)
