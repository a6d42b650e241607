"""Remediation action pages: the board, one action, and the forms that change it.

Everyone in the organisation reads. Contributors work actions (status, comments, evidence);
compliance officers and admins open, edit, assign, verify, cancel and reopen them. The rules
live in assessments.actions; these views parse, authorise, call one service and render.
"""

import datetime as dt
import tempfile
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from governance.access import get_membership_for_user, require_editor, require_role
from governance.models import Membership
from governance.selectors import members as org_members

from .. import action_exports, action_selectors, actions
from ..access import get_action_for_member, get_attachment_for_member
from ..action_forms import (
    ActionBulkForm,
    ActionFilterForm,
    ActionForm,
    CancelForm,
    CommentForm,
    EvidenceFileForm,
    EvidenceLinkForm,
    TransitionForm,
    add_errors,
    finding_description,
    finding_title,
)
from ..integrations import tickets
from ..models import ActionStatus, EvidenceKind, RemediationAction

PAGE_SIZE = 50
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
S = ActionStatus

# Bookkeeping columns the history does not show, and columns that name a person.
HISTORY_HIDDEN = {
    "id", "code", "organisation_id", "action_id", "created_at", "added_at", "updated_at",
    "sha256", "file",
}  # fmt: skip
HISTORY_PEOPLE = {
    "owner_id", "created_by_id", "done_by_id", "verified_by_id", "author_id", "added_by_id",
}  # fmt: skip
# What the status buttons say.
MOVE_LABELS = {
    S.IN_PROGRESS: _("Start work"),
    S.BLOCKED: _("Mark blocked"),
    S.DONE: _("Mark done"),
    S.VERIFIED: _("Verify"),
    S.OPEN: _("Reopen"),
}


def _context(membership: Membership, **extra: Any) -> dict[str, Any]:
    return {
        "membership": membership,
        "org": membership.organisation,
        "is_manager": _is_manager(membership),
        **extra,
    }


def _is_manager(membership: Membership) -> bool:
    return membership.role in actions.MANAGER_ROLES


def _require_manager(membership: Membership) -> None:
    require_role(membership, *actions.MANAGER_ROLES)


def _detail_url(org_code: object, action: RemediationAction) -> str:
    return reverse("action_detail", kwargs={"org_code": org_code, "action_code": action.code})


# --- The list ----------------------------------------------------------------------------------


def _filtered(
    request: HttpRequest, membership: Membership
) -> tuple[ActionFilterForm, QuerySet[RemediationAction], dt.date]:
    """The list's filters from the query string, the actions they select, and today."""
    org = membership.organisation
    form = ActionFilterForm(
        request.GET or None,
        members=org_members(org),
        systems=action_selectors.action_systems(org),
        user=request.user,
    )
    today = actions.today_for(org)
    return form, action_selectors.actions_for_list(org, today=today, **form.filters()), today


def _list_page(
    request: HttpRequest,
    membership: Membership,
    *,
    bulk_form: ActionBulkForm | None = None,
    bulk_errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    org = membership.organisation
    form, rows, today = _filtered(request, membership)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    bulk_errors = bulk_errors or {}
    selected = set(request.POST.getlist("actions")) if request.method == "POST" else set()
    items = [
        {
            "action": action,
            "overdue": action.is_active and action.due_date and action.due_date < today,
            "due_today": action.is_active and action.due_date == today,
            "error": bulk_errors.get(str(action.code), ""),
            "selected": str(action.code) in selected,
        }
        for action in page.object_list
    ]
    if _is_manager(membership) and bulk_form is None:
        bulk_form = ActionBulkForm(org=org, members=org_members(org))
    query = request.GET.copy()
    query.pop("page", None)
    context = _context(
        membership,
        form=form,
        page=page,
        items=items,
        bulk_form=bulk_form,
        bulk_errors=bulk_errors,
        # "Nothing yet" and "nothing matches" teach different things.
        any_action=bool(items)
        or action_selectors.actions_for_list(org, today=today, status="all").exists(),
        query=query.urlencode(),
    )
    return render(request, "assessments/actions/list.html", context, status=status)


@login_required
@require_GET
def action_list(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    return _list_page(request, membership)


@login_required
@require_POST
def action_bulk(request: HttpRequest, org_code) -> HttpResponse:
    """Change the ticked actions of the list, all or none. The list's filters travel in the
    query string, so the list comes back as it was, with each refusal next to its action."""
    membership = get_membership_for_user(request, org_code)
    _require_manager(membership)
    org = membership.organisation
    form = ActionBulkForm(request.POST, org=org, members=org_members(org))
    errors: dict[str, str] = {}
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = actions.actions_bulk_update(
                org=org,
                actor=membership,
                actions=data["actions"],
                owner=data["owner"].user if data["owner"] else None,
                status=data["status"],
                priority=data["priority"],
                due_date=data["due_date"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            if not result.errors:
                messages.success(
                    request,
                    _("%(n)s actions changed.") % {"n": result.updated},
                )
                query = request.GET.urlencode()
                return redirect(
                    reverse("action_list", kwargs={"org_code": org.code})
                    + (f"?{query}" if query else "")
                )
            errors = result.errors
            form.add_error(
                None,
                _("Nothing was changed: %(n)s of the chosen actions cannot take the change.")
                % {"n": len(errors)},
            )
    return _list_page(request, membership, bulk_form=form, bulk_errors=errors, status=400)


@login_required
@require_GET
def action_export(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    kind = request.GET.get("format", "csv")
    if kind not in ("csv", "xlsx"):
        return HttpResponseBadRequest(
            _("Unknown export format. Use format=csv or format=xlsx."),
            content_type="text/plain; charset=utf-8",
        )
    _form, rows, today = _filtered(request, membership)
    rows = action_selectors.actions_for_export(rows)
    filename = f"kakehashi-actions-{today:%Y-%m-%d}.{kind}"
    if kind == "csv":
        return StreamingHttpResponse(
            action_exports.actions_csv(rows, today),
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": content_disposition_header(
                    as_attachment=True, filename=filename
                )
            },
        )
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 (FileResponse closes it)
    action_exports.actions_xlsx(rows, today, handle)
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX_TYPE)


# --- Opening and editing -----------------------------------------------------------------------


def _finding_codes(request: HttpRequest) -> list[uuid.UUID]:
    source = request.POST if request.method == "POST" else request.GET
    try:
        return list(dict.fromkeys(uuid.UUID(code) for code in source.getlist("finding")))
    except ValueError as exc:
        raise Http404 from exc


def _findings_problem(findings: list) -> str:
    if len({f.system_id for f in findings}) > 1:
        return _("An action covers findings of one AI system; choose findings of one system.")
    if not all(f.assessment.latest for f in findings):
        return _("Choose findings of the system's latest assessment: a newer one replaces these.")
    if not all(f.is_gap for f in findings):
        return _("Choose open gaps: findings that are met, not applicable or accepted need none.")
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def action_create(request: HttpRequest, org_code) -> HttpResponse:
    """Open an action for one or several gap findings (?finding=<code>, repeated)."""
    membership = get_membership_for_user(request, org_code)
    org = membership.organisation
    codes = _finding_codes(request)
    findings = action_selectors.findings_by_codes(org, codes)
    if len(findings) != len(codes):
        raise Http404  # a code of another organisation, or of nothing
    _require_manager(membership)
    if not findings:
        return render(request, "assessments/actions/create_help.html", _context(membership))
    problem = _findings_problem(findings)
    if problem:
        return render(
            request,
            "assessments/actions/create.html",
            _context(membership, findings=findings, problem=problem),
            status=400,
        )
    system = findings[0].system
    due = actions.default_due(findings)
    derived = action_selectors.suggested_priority(findings, due, org)
    members = org_members(org)
    initial = {
        "title": finding_title(findings),
        "description": finding_description(findings),
        "due_date": due,
        "owner": next((m for m in members if m.user_id == system.owner_id), None),
    }
    form = ActionForm(request.POST or None, initial=initial, members=members, derived=derived)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            action = actions.action_create(
                org=org,
                actor=membership,
                findings=findings,
                title=data["title"],
                description=data["description"],
                owner=data["owner"].user if data["owner"] else None,
                due_date=data["due_date"],
                priority=data["priority"] or None,
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Action opened."))
            return redirect("action_detail", org_code=org.code, action_code=action.code)
    context = _context(
        membership, findings=findings, system=system, form=form, derived=derived, due=due
    )
    status = 400 if form.is_bound else 200
    return render(request, "assessments/actions/create.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def action_edit(request: HttpRequest, org_code, action_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    action = get_action_for_member(membership, action_code)
    _require_manager(membership)
    org = membership.organisation
    members = org_members(org)
    initial = {
        "title": action.title,
        "description": action.description,
        "owner": next((m for m in members if m.user_id == action.owner_id), None),
        "due_date": action.due_date,
        "priority": action.priority if action.priority_manual else "",
    }
    derived = ""
    if not action.priority_manual:
        derived = action.priority
    form = ActionForm(request.POST or None, initial=initial, members=members, derived=derived)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            actions.action_update(
                action=action,
                actor=membership,
                title=data["title"],
                description=data["description"],
                owner=data["owner"].user if data["owner"] else None,
                due_date=data["due_date"],
                priority=data["priority"] or None,
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Action saved."))
            return redirect("action_detail", org_code=org.code, action_code=action.code)
    context = _context(membership, action=action, form=form)
    status = 400 if form.is_bound else 200
    return render(request, "assessments/actions/edit.html", context, status=status)


# --- One action --------------------------------------------------------------------------------


def _detail_page(
    request: HttpRequest,
    membership: Membership,
    action: RemediationAction,
    *,
    status: int = 200,
    **forms: Any,
) -> HttpResponse:
    org = membership.organisation
    today = actions.today_for(org)
    members = org_members(org)
    moves = actions.allowed_moves(action, membership)
    links = action_selectors.action_links(action)
    context = _context(
        membership,
        action=action,
        today=today,
        overdue=action.is_active and action.due_date and action.due_date < today,
        due_today=action.is_active and action.due_date == today,
        links=[link for link in links if link.finding.assessment.latest],
        earlier_links=[link for link in links if not link.finding.assessment.latest],
        comments=action_selectors.action_comments(action),
        evidence=action_selectors.action_evidence(action),
        tickets=tickets.tickets_for_action(action),
        history=_history(action_selectors.action_history(action), members),
        moves=[(move, MOVE_LABELS[move]) for move in moves if move != S.CANCELLED],
        can_cancel=S.CANCELLED in moves,
        verify_elsewhere=(
            action.status == S.DONE
            and _is_manager(membership)
            and S.VERIFIED not in moves
            and action.done_by_id == membership.user_id
        ),
        transition_form=forms.get("transition_form") or TransitionForm(),
        cancel_form=forms.get("cancel_form") or CancelForm(),
        comment_form=forms.get("comment_form") or CommentForm(members=members),
        file_form=forms.get("file_form") or EvidenceFileForm(),
        link_form=forms.get("link_form") or EvidenceLinkForm(),
    )
    return render(request, "assessments/actions/detail.html", context, status=status)


def _history(events: list, members) -> list[tuple[Any, list[tuple[str, Any, Any]]]]:
    """Each audit event with the changes worth reading: people by e-mail address, and a new
    row's empty columns left out."""
    emails = {m.user_id: m.user.email for m in members}

    def person(value: Any) -> Any:
        return emails.get(value, value)

    rows = []
    for event in events:
        changes = []
        for field, before, after in event.changes():
            if field in HISTORY_HIDDEN or (event.action == "insert" and after in ("", None)):
                continue
            if field in HISTORY_PEOPLE:
                before, after = person(before), person(after)
            changes.append((field, before, after))
        rows.append((event, changes))
    return rows


@login_required
@require_GET
def action_detail(request: HttpRequest, org_code, action_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    action = get_action_for_member(membership, action_code)
    return _detail_page(request, membership, action)


@login_required
@require_POST
def action_transition(request: HttpRequest, org_code, action_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    action = get_action_for_member(membership, action_code)
    require_editor(membership)
    cancelling = request.POST.get("status") == S.CANCELLED
    form = CancelForm(request.POST) if cancelling else TransitionForm(request.POST)
    if form.is_valid():
        try:
            moved = actions.action_transition(
                action=action,
                actor=membership,
                status=form.cleaned_data["status"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(
                request,
                _("The action is now %(status)s.") % {"status": moved.get_status_display()},
            )
            return redirect(_detail_url(org_code, action))
    name = "cancel_form" if cancelling else "transition_form"
    return _detail_page(request, membership, action, status=400, **{name: form})


@login_required
@require_POST
def action_comment(request: HttpRequest, org_code, action_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    action = get_action_for_member(membership, action_code)
    require_editor(membership)
    form = CommentForm(request.POST, members=org_members(membership.organisation))
    if form.is_valid():
        try:
            actions.comment_add(
                action=action,
                actor=membership,
                body=form.cleaned_data["body"],
                mention=[m.user for m in form.cleaned_data["mention"]],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Comment added."))
            return redirect(_detail_url(org_code, action) + "#comments")
    return _detail_page(request, membership, action, status=400, comment_form=form)


@login_required
@require_POST
def action_evidence_add(request: HttpRequest, org_code, action_code) -> HttpResponse:
    """A file (multipart, with an optional title) or a link with its title."""
    membership = get_membership_for_user(request, org_code)
    action = get_action_for_member(membership, action_code)
    require_editor(membership)
    if "url" in request.POST:
        form: EvidenceFileForm | EvidenceLinkForm = EvidenceLinkForm(request.POST)
        name = "link_form"
    else:
        form = EvidenceFileForm(request.POST, request.FILES)
        name = "file_form"
    if form.is_valid():
        data = form.cleaned_data
        try:
            if name == "link_form":
                actions.evidence_add_link(
                    action=action, actor=membership, url=data["url"], title=data["title"]
                )
            else:
                actions.evidence_add_file(
                    action=action, actor=membership, upload=data["file"], title=data["title"]
                )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Evidence added."))
            return redirect(_detail_url(org_code, action) + "#evidence")
    return _detail_page(request, membership, action, status=400, **{name: form})


@login_required
@require_GET
def action_evidence_download(request: HttpRequest, org_code, attachment_code) -> HttpResponse:
    """A stored file, always as a download with the type it was checked to be. A link has no
    file here: the page links to it directly."""
    membership = get_membership_for_user(request, org_code)
    evidence = get_attachment_for_member(membership, attachment_code)
    if evidence.kind != EvidenceKind.FILE or not evidence.file:
        raise Http404
    try:
        handle = evidence.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=evidence.file_name or evidence.code.hex,
        content_type=evidence.content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def action_evidence_delete(request: HttpRequest, org_code, attachment_code) -> HttpResponse:
    """Asks first (GET), removes on POST."""
    membership = get_membership_for_user(request, org_code)
    evidence = get_attachment_for_member(membership, attachment_code)
    require_editor(membership)
    action = evidence.action
    if request.method == "POST":
        try:
            actions.evidence_delete(evidence=evidence, actor=membership)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("“%(title)s” removed.") % {"title": evidence.title})
        return redirect(_detail_url(org_code, action) + "#evidence")
    context = _context(membership, action=action, evidence=evidence)
    return render(request, "assessments/actions/evidence_delete.html", context)
