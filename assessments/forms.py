from django import forms
from django.utils.translation import gettext_lazy as _

from governance.models import Membership

from .models import FindingStatus


class FindingReviewForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=FindingStatus.choices)
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    justification = forms.CharField(
        label=_("Justification"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required for “not applicable” and “risk accepted”."),
    )
    risk_approver = forms.ModelChoiceField(
        label=_("Risk accepted by"),
        queryset=Membership.objects.none(),
        required=False,
        help_text=_("A compliance officer or admin; for “risk accepted” only."),
    )

    def __init__(self, *args, approvers=None, **kwargs):
        super().__init__(*args, **kwargs)
        if approvers is not None:
            self.fields["risk_approver"].queryset = approvers
            self.fields["risk_approver"].label_from_instance = lambda m: m.user.email


class EvidenceForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    url = forms.URLField(label=_("Link"), max_length=500, assume_scheme="https")
