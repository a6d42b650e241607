"""The compliance dashboard, the organisation's findings and its posture report.

Every member reads them. The dashboard and the list run a fixed number of aggregate queries
whatever the number of systems; the list's export (CSV or XLSX, every page) is streamed while
its rows are read; the posture report (a few pages of tables) is rendered in the request like
the assessment report.
"""

import datetime as dt
import re
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.core.validators import RegexValidator
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils import translation
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from governance.access import get_membership_for_user
from governance.models import Jurisdiction, Organisation, Regulation

from .. import dashboard as board
from .. import reports
from ..actions import today_for
from ..models import FindingStatus
from .reports import EXPORT_FORMATS, XLSX_TYPE

PAGE_SIZE = 50
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@login_required
@require_GET
def dashboard(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    org = membership.organisation
    context = {
        "membership": membership,
        "org": org,
        "board": board.dashboard(org, today_for(org)),
    }
    return render(request, "assessments/dashboard.html", context)


# --- The organisation's findings ---------------------------------------------------------------


class FindingFilterForm(forms.Form):
    jurisdiction = forms.ChoiceField(
        label=gettext_lazy("Jurisdiction"),
        choices=[("", gettext_lazy("All")), *Jurisdiction.choices],
        required=False,
    )
    regulation = forms.CharField(
        label=gettext_lazy("Regulation"),
        max_length=40,
        required=False,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", gettext_lazy("Enter a regulation code.")
            )
        ],
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        choices=[
            ("", gettext_lazy("Any")),
            (board.GAP, gettext_lazy("Any gap (open, partially met, not met)")),
            *FindingStatus.choices,
        ],
        required=False,
    )
    due = forms.ChoiceField(
        label=gettext_lazy("Due"),
        choices=[
            ("", gettext_lazy("Any")),
            ("overdue", gettext_lazy("Overdue")),
            ("none", gettext_lazy("No due date")),
        ],
        required=False,
    )
    due_month = forms.CharField(
        label=gettext_lazy("Due in month"),
        required=False,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"}),
    )
    due_from = forms.DateField(
        label=gettext_lazy("Due on or after"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    applies_from = forms.DateField(
        label=gettext_lazy("Applies from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    q = forms.CharField(label=gettext_lazy("Obligation code"), max_length=60, required=False)
    system = forms.UUIDField(
        label=gettext_lazy("AI system"), required=False, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, regulations: dict[str, Regulation], **kwargs: Any):
        super().__init__(*args, **kwargs)
        choices = [("", _("All")), *((code, code) for code in regulations)]
        chosen = self.data.get("regulation", "") if self.is_bound else ""
        if chosen and chosen not in regulations:
            choices.append((chosen, chosen))  # a regulation the current release has dropped
        self.fields["regulation"].widget = forms.Select(choices=choices)

    def clean_due_month(self) -> dt.date | None:
        value = self.cleaned_data["due_month"].strip()
        if not value:
            return None
        match = _MONTH.match(value)
        year, month = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
        if not (1 <= month <= 12 and 1900 <= year < 2200):
            raise forms.ValidationError(_("Enter a month as YYYY-MM, for example 2026-08."))
        return dt.date(int(match.group(1)), int(match.group(2)), 1)

    def filters(self) -> dict[str, Any]:
        """Arguments for `dashboard.finding_rows`; a filter that was not understood is left out
        (the page says which)."""
        data: dict[str, Any] = {}
        if self.is_bound:
            self.is_valid()  # cleaned_data then holds the filters that are valid
            data = self.cleaned_data
        return {
            "jurisdiction": data.get("jurisdiction") or "",
            "regulation": (data.get("regulation") or "").strip(),
            "status": data.get("status") or "",
            "due_month": data.get("due_month"),
            "due": data.get("due") or "",
            "due_from": data.get("due_from"),
            "applies_from": data.get("applies_from"),
            "system": data.get("system"),
            "q": (data.get("q") or "").strip(),
        }


def _filter_form(
    request: HttpRequest, regulations: dict[str, Regulation]
) -> tuple[FindingFilterForm, QueryDict]:
    """The list's filters from the query string (without the page and the export format),
    and that query string."""
    query = request.GET.copy()
    for name in ("page", "format"):
        query.pop(name, None)
    return FindingFilterForm(query or None, regulations=regulations), query


@login_required
@require_GET
def finding_list(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    org = membership.organisation
    regulations = board.current_regulations()
    form, query = _filter_form(request, regulations)
    filters = form.filters()
    today = today_for(org)
    rows = board.finding_rows(org, today=today, **filters)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    titles = {code: regulation.short_title for code, regulation in regulations.items()}
    for finding in page.object_list:
        finding.regulation_title = titles.get(finding.regulation_code, "")
    context = {
        "membership": membership,
        "org": org,
        "form": form,
        "page": page,
        "filtered": any(filters.values()),
        "system": board.system_named(org, filters["system"]) if filters["system"] else None,
        "without_system": _without(query, "system"),
        "query": query.urlencode(),
        "today": today,
    }
    return render(request, "assessments/finding_list.html", context)


@login_required
@require_GET
def finding_export(request: HttpRequest, org_code) -> HttpResponse:
    """The findings list as filtered, every page of it, as CSV or XLSX: streamed while the
    rows are read, so its size is bounded by the client's patience, not the server's memory."""
    membership = get_membership_for_user(request, org_code)
    org = membership.organisation
    kind = request.GET.get("format", "csv")
    if kind not in EXPORT_FORMATS:
        return HttpResponseBadRequest(
            _("Unknown export format. Use format=csv or format=xlsx."),
            content_type="text/plain; charset=utf-8",
        )
    form, _query = _filter_form(request, board.current_regulations())
    today = today_for(org)
    rows = board.finding_rows(org, today=today, **form.filters())
    slug = slugify(org.name, allow_unicode=True) or "organisation"
    filename = f"kakehashi-findings-{slug}-{today:%Y-%m-%d}.{kind}"
    if kind == "csv":
        content, content_type = reports.finding_list_csv(rows), "text/csv; charset=utf-8"
    else:
        content, content_type = reports.finding_list_xlsx(rows), XLSX_TYPE
    return StreamingHttpResponse(
        content,
        content_type=content_type,
        headers={
            "Content-Disposition": content_disposition_header(as_attachment=True, filename=filename)
        },
    )


def _without(query: QueryDict, name: str) -> str:
    """The query string without the filter `name` (and without the page)."""
    rest = query.copy()
    rest.pop(name, None)
    return rest.urlencode()


# --- The posture report ------------------------------------------------------------------------


def _report_filename(org: Organisation, day: dt.date, language: str) -> str:
    slug = slugify(org.name, allow_unicode=True) or "organisation"
    return f"kakehashi-posture-{slug}-{day:%Y-%m-%d}-{language}.pdf"


@login_required
@require_GET
def posture_report_pdf(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    org = membership.organisation
    languages = dict(settings.LANGUAGES)
    language = request.GET.get("lang") or (translation.get_language() or "en")[:2]
    if language not in languages:
        return HttpResponseBadRequest(
            _("Unknown language. Use lang=en or lang=ja."),
            content_type="text/plain; charset=utf-8",
        )
    today = today_for(org)
    with translation.override(language):
        pdf = board.posture_report_pdf(org, today, base_url=request.build_absolute_uri("/"))
    return HttpResponse(
        pdf,
        content_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition_header(
                as_attachment=True, filename=_report_filename(org, today, language)
            )
        },
    )
