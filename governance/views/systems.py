"""The AI system registry: list, register, read, edit, history, archive and export.

Everyone in the organisation reads; viewers cannot change anything.
"""

import csv
import tempfile
from collections.abc import Iterable, Iterator
from copy import copy
from typing import Any

import xlsxwriter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from assessments.models import AssessmentStatus
from assessments.releases import compiled, current_release
from assessments.system_overview import system_overview

from .. import registry, selectors
from ..access import get_membership_for_user, get_system_for_member, require_editor
from ..models import AISystem, CatalogueRelease, Membership
from ..registry_forms import (
    EXPORT_COLUMNS,
    QuestionnaireForm,
    SystemFilterForm,
    SystemForm,
    answer_changes,
    answer_sections,
    attach_errors,
    export_row,
    field_changes,
    field_label,
    field_name,
    market_choices,
    market_labels,
    question_keys,
    role_labels,
)

PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _context(membership: Membership, **extra: Any) -> dict[str, Any]:
    return {"membership": membership, "org": membership.organisation, **extra}


def _no_release(request: HttpRequest, membership: Membership) -> HttpResponse:
    return render(request, "governance/systems/no_release.html", _context(membership))


def _filtered(
    request: HttpRequest, membership: Membership
) -> tuple[SystemFilterForm, QuerySet[AISystem], dict[str, str]]:
    """The list's filters from the query string, and the systems they select."""
    org = membership.organisation
    release = current_release()
    markets = market_choices(compiled(release) if release else None)
    form = SystemFilterForm(
        request.GET or None,
        members=selectors.members(org),
        units=registry.business_units(org),
        markets=markets,
    )
    return form, registry.systems(org, **form.filters()), dict(markets)


@login_required
def system_list(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    form, systems, markets = _filtered(request, membership)
    page = Paginator(systems, PAGE_SIZE).get_page(request.GET.get("page"))
    statuses = dict(AssessmentStatus.choices)
    rows = [
        {
            "system": system,
            "markets": market_labels(system, markets),
            "roles": role_labels(system),
            "tier": system.get_eu_tier_display() if system.eu_tier else _("Not assessed"),
            "status": statuses.get(system.latest_status, ""),
            "stale": system.latest_stale is not None,
        }
        for system in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    filters = form.filters()
    context = _context(
        membership,
        form=form,
        page=page,
        rows=rows,
        filtered=any(value for name, value in filters.items() if name != "archived"),
        archived=filters["archived"],
        query=query.urlencode(),
    )
    return render(request, "governance/systems/list.html", context)


def _form_page(
    request: HttpRequest,
    membership: Membership,
    system_form: SystemForm,
    questions: QuestionnaireForm,
    system: AISystem | None = None,
) -> HttpResponse:
    invalid = bool(system_form.errors or questions.errors)
    return render(
        request,
        "governance/systems/form.html",
        _context(membership, form=system_form, questions=questions, system=system),
        status=400 if invalid else 200,
    )


def _valid(*forms: Any) -> bool:
    return all([form.is_valid() for form in forms])  # every form, so every error shows at once


@login_required
@require_http_methods(["GET", "POST"])
def system_create(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    require_editor(membership)
    org = membership.organisation
    release = current_release()
    if release is None:
        return _no_release(request, membership)
    data = request.POST if request.method == "POST" else None
    system_form = SystemForm(data, org=org)
    questions = QuestionnaireForm(data, release=compiled(release))
    if data is not None and _valid(system_form, questions):
        try:
            system = registry.system_create(
                org=org,
                actor=request.user,
                answers=questions.answers,
                **system_form.registry_fields(),
            )
        except ValidationError as exc:
            attach_errors(exc, system_form, questions)
        else:
            messages.success(request, _("“%(name)s” is registered.") % {"name": system.name})
            return redirect("system_detail", org_code=org.code, system_code=system.code)
    return _form_page(request, membership, system_form, questions)


@login_required
def system_detail(request: HttpRequest, org_code, system_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    system = get_system_for_member(membership, system_code)
    release = compiled(system.release)
    context = _context(
        membership,
        system=system,
        sections=answer_sections(release, system.answers),
        markets=market_labels(system, dict(market_choices(release))),
        roles=role_labels(system),
        tier=system.get_eu_tier_display() if system.eu_tier else _("Not assessed"),
        overview=system_overview(membership, system),
    )
    return render(request, "governance/systems/detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def system_edit(request: HttpRequest, org_code, system_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    system = get_system_for_member(membership, system_code)
    require_editor(membership)
    org = membership.organisation
    if system.is_archived:
        messages.error(request, _("An archived system cannot be changed; restore it first."))
        return redirect("system_detail", org_code=org.code, system_code=system.code)
    release = current_release()
    if release is None:
        return _no_release(request, membership)
    data = request.POST if request.method == "POST" else None
    # A copy: the form writes its values into its instance, and the page keeps the saved name.
    system_form = SystemForm(data, org=org, instance=copy(system))
    questions = QuestionnaireForm(data, release=compiled(release), answers=system.answers)
    if data is not None and _valid(system_form, questions):
        try:
            saved = registry.system_update(
                system=system,
                actor=request.user,
                answers=questions.answers,
                **system_form.registry_fields(),
            )
        except ValidationError as exc:
            attach_errors(exc, system_form, questions)
        else:
            if saved.version == system.version:
                messages.info(request, _("Nothing changed."))
            else:
                messages.success(
                    request, _("Saved as version %(version)s.") % {"version": saved.version}
                )
            return redirect("system_detail", org_code=org.code, system_code=system.code)
    return _form_page(request, membership, system_form, questions, system)


@login_required
def system_history(request: HttpRequest, org_code, system_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    system = get_system_for_member(membership, system_code)
    release = compiled(system.release)
    versions = registry.versions(system)
    page = Paginator(versions, PAGE_SIZE).get_page(request.GET.get("page"))
    shown = list(page.object_list)
    # The version before the last one on the page, to diff that one against.
    before_page = list(versions[page.end_index() : page.end_index() + 1]) if shown else []
    entries = []
    for version, previous in zip(shown, [*shown[1:], *before_page, None], strict=False):
        entry = {"version": version, "changed": [field_label(n) for n in version.changed]}
        if previous is not None:
            entry["fields"] = field_changes(previous.data, version.data)
            entry["answers"] = answer_changes(
                release, previous.data.get("answers") or {}, version.data.get("answers") or {}
            )
        entries.append(entry)
    context = _context(membership, system=system, page=page, entries=entries)
    return render(request, "governance/systems/history.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def system_archive(request: HttpRequest, org_code, system_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    system = get_system_for_member(membership, system_code)
    require_editor(membership)
    org = membership.organisation
    if system.is_archived:
        messages.info(request, _("This system is already archived."))
        return redirect("system_detail", org_code=org.code, system_code=system.code)
    if request.method == "POST":
        registry.system_archive(system=system, actor=request.user)
        messages.success(
            request,
            _("“%(name)s” is archived; its history and assessments are kept.")
            % {"name": system.name},
        )
        return redirect("system_list", org_code=org.code)
    return render(request, "governance/systems/archive.html", _context(membership, system=system))


@login_required
@require_POST
def system_restore(request: HttpRequest, org_code, system_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    system = get_system_for_member(membership, system_code)
    require_editor(membership)
    try:
        registry.system_restore(system=system, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("“%(name)s” is back in the registry.") % {"name": system.name})
    return redirect("system_detail", org_code=membership.organisation.code, system_code=system.code)


# --- Export --------------------------------------------------------------------------------


class _Echo:
    """A file that hands back what is written, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def _safe(value: Any) -> Any:
    # A cell starting like a formula would run as one in a spreadsheet: make it plain text.
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value


def _csv(header: list[str], rows: Iterable[list[Any]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield "\ufeff"  # so that spreadsheet programs read the file as UTF-8 (Japanese text)
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_safe(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def _xlsx(header: list[str], rows: Iterable[list[Any]], filename: str) -> FileResponse:
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 (FileResponse closes it)
    workbook = xlsxwriter.Workbook(handle, {"constant_memory": True})
    sheet = workbook.add_worksheet(_("AI systems")[:31])
    bold = workbook.add_format({"bold": True})
    sheet.freeze_panes(1, 2)
    for col, name in enumerate(header):
        sheet.write_string(0, col, name, bold)
    for r, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if isinstance(value, int | float):
                sheet.write_number(r, col, value)
            elif value != "":
                # write_string, never write: text is never taken for a formula.
                sheet.write_string(r, col, str(value))
    workbook.close()
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=f"{filename}.xlsx", content_type=XLSX)


@login_required
def system_export(request: HttpRequest, org_code) -> HttpResponse:
    """The list as CSV or XLSX, with the list's filters: the registry fields, then one column
    per question (`q_<key>`) of the current release and of every release the systems were
    answered on."""
    membership = get_membership_for_user(request, org_code)
    kind = request.GET.get("format", "csv")
    if kind not in ("csv", "xlsx"):
        return HttpResponseBadRequest(_("Choose the format csv or xlsx."))
    _form, systems, _markets = _filtered(request, membership)
    releases = CatalogueRelease.objects.filter(
        Q(pk__in=systems.values("release"))
        | Q(is_current=True, status=CatalogueRelease.Status.PUBLISHED)
    ).order_by("-is_current", "-effective_on", "-id")
    keys = question_keys(compiled(release) for release in releases)
    # Answer columns are named like the form's fields, so "markets" the registry column and
    # "q_markets" the answer stay apart.
    header = [*EXPORT_COLUMNS, *(field_name(key) for key in keys)]
    rows = (
        export_row(system, keys)
        for system in systems.select_related("release").iterator(chunk_size=500)
    )
    filename = f"ai-systems-{timezone.localdate():%Y-%m-%d}"
    if kind == "csv":
        return _csv(header, rows, filename)
    return _xlsx(header, rows, filename)
