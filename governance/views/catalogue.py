"""The regulatory catalogue, read-only, for every signed-in person (it is not per organisation).

Each page shows the current release, or the one named by `?release=<code>`.
"""

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from ..catalogue import queries
from ..models import ROLES, CatalogueRelease, Jurisdiction, Obligation


class RegulationFilterForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=[("", _("All")), *ROLES], required=False)
    legal_force = forms.ChoiceField(
        label=_("Legal force"),
        choices=[("", _("All")), *Obligation.LegalForce.choices],
        required=False,
    )


class ObligationFilterForm(RegulationFilterForm):
    """The obligations list filters; `from` and `to` bound the applies-from date, inclusive."""

    jurisdiction = forms.ChoiceField(
        label=_("Jurisdiction"), choices=[("", _("All")), *Jurisdiction.choices], required=False
    )
    regulation = forms.ChoiceField(label=_("Regulation"), required=False)
    q = forms.CharField(label=_("Code or title contains"), max_length=100, required=False)

    field_order = ["q", "jurisdiction", "regulation", "role", "legal_force", "from", "to"]

    def __init__(self, *args, regulations: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regulation"].choices = [("", _("All")), *regulations]
        date_input = forms.DateInput(attrs={"type": "date"})
        self.fields["from"] = forms.DateField(
            label=_("Applies from, on or after"), required=False, widget=date_input
        )
        self.fields["to"] = forms.DateField(
            label=_("Applies from, on or before"), required=False, widget=date_input
        )
        self.order_fields(self.field_order)

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("from"), data.get("to")
        if start and end and start > end:
            del data["from"]  # an empty range is a mistake: apply neither end
            self.add_error("to", _("This date is before the “on or after” date."))
        return data

    def filters(self) -> dict:
        """The valid filters as selector arguments; a filter with an error is left out."""
        data = self.cleaned_data
        return {
            "q": data.get("q", ""),
            "jurisdiction": data.get("jurisdiction", ""),
            "regulation": data.get("regulation", ""),
            "role": data.get("role", ""),
            "legal_force": data.get("legal_force", ""),
            "applies_from_after": data.get("from"),
            "applies_from_before": data.get("to"),
        }


def _release_context(release: CatalogueRelease, releases: list[CatalogueRelease]) -> dict:
    """What every catalogue page needs: the release, the switcher and the query to keep it."""
    return {
        "release": release,
        "releases": releases,
        "release_query": "" if release.is_current else "?" + urlencode({"release": release.code}),
        "release_param": "" if release.is_current else release.code,
    }


@login_required
def catalogue_index(request: HttpRequest) -> HttpResponse:
    release, releases = queries.get_release(request.user, request.GET.get("release", ""))
    context = {
        **_release_context(release, releases),
        "groups": queries.regulations_by_jurisdiction(release),
    }
    return render(request, "governance/catalogue/index.html", context)


@login_required
def regulation_detail(request: HttpRequest, code: str) -> HttpResponse:
    release, releases = queries.get_release(request.user, request.GET.get("release", ""))
    form = RegulationFilterForm(request.GET)
    form.is_valid()
    regulation, tree = queries.regulation_with_provisions(
        release,
        code,
        role=form.cleaned_data.get("role", ""),
        legal_force=form.cleaned_data.get("legal_force", ""),
    )
    context = {
        **_release_context(release, releases),
        "regulation": regulation,
        "tree": tree,
        "form": form,
        "filtered": any(form.cleaned_data.values()),
    }
    return render(
        request,
        "governance/catalogue/regulation.html",
        context,
        status=400 if form.errors else 200,
    )


@login_required
def obligation_list(request: HttpRequest) -> HttpResponse:
    release, releases = queries.get_release(request.user, request.GET.get("release", ""))
    form = ObligationFilterForm(request.GET, regulations=queries.regulation_codes(release))
    form.is_valid()
    page = Paginator(queries.obligations(release, **form.filters()), 50).get_page(
        request.GET.get("page")
    )
    page.object_list = queries.with_role_labels(page.object_list)
    context = {**_release_context(release, releases), "form": form, "page": page}
    return render(
        request,
        "governance/catalogue/obligation_list.html",
        context,
        status=400 if form.errors else 200,
    )


@login_required
def obligation_detail(request: HttpRequest, code: str) -> HttpResponse:
    release, releases = queries.get_release(request.user, request.GET.get("release", ""))
    obligation = queries.get_obligation(release, code)
    context = {
        **_release_context(release, releases),
        "obligation": obligation,
        "links": queries.obligation_links(obligation),
    }
    return render(request, "governance/catalogue/obligation.html", context)


@login_required
def crosswalk(request: HttpRequest) -> HttpResponse:
    release, releases = queries.get_release(request.user, request.GET.get("release", ""))
    columns, rows = queries.crosswalk_matrix(release)
    context = {
        **_release_context(release, releases),
        "columns": columns,
        "rows": rows,
    }
    return render(request, "governance/catalogue/crosswalk.html", context)


@login_required
def timeline(request: HttpRequest) -> HttpResponse:
    release, releases = queries.get_release(request.user, request.GET.get("release", ""))
    compare_code = request.GET.get("compare", "")
    compare = None
    if compare_code:
        compare = queries.pick_release(releases, compare_code)
        if compare is None:
            raise Http404
    context = {
        **_release_context(release, releases),
        "timeline": queries.timeline(release, today=timezone.localdate(), compare=compare),
        "compare_choices": [r for r in releases if r.pk != release.pk],
    }
    return render(request, "governance/catalogue/timeline.html", context)
