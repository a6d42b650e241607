"""Reviewing findings and approving assessments (four eyes)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from governance.access import get_membership_for_user, require_editor

from .. import selectors, services
from ..access import get_assessment_for_member, get_evidence_for_member, get_finding_for_member
from ..forms import EvidenceForm, FindingReviewForm
from ..releases import compiled


def _finding_page(request, membership, finding, form, evidence_form, status=200):
    links = compiled(finding.assessment.release).links.get(finding.obligation_code, ())
    context = {
        "membership": membership,
        "org": membership.organisation,
        "finding": finding,
        "assessment": finding.assessment,
        "obligation": finding.obligation,
        "evidence": selectors.finding_evidence(finding),
        "links": links,
        "form": form,
        "evidence_form": evidence_form,
        "editable": finding.assessment.is_editable and membership.can_edit,
    }
    return render(request, "assessments/finding_detail.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def finding_detail(request: HttpRequest, org_code, finding_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    finding = get_finding_for_member(membership, finding_code)
    approvers = selectors.approvers(membership.organisation)
    initial = {
        "status": finding.status,
        "notes": finding.notes,
        "justification": finding.justification,
        "risk_approver": approvers.filter(user_id=finding.risk_approved_by_id).first(),
    }
    form = FindingReviewForm(request.POST or None, initial=initial, approvers=approvers)
    if request.method == "POST":
        require_editor(membership)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.finding_update(
                    finding=finding,
                    actor=membership,
                    status=data["status"],
                    notes=data["notes"],
                    justification=data["justification"],
                    risk_approver=data["risk_approver"].user if data["risk_approver"] else None,
                )
            except ValidationError as exc:
                form.add_error(None, exc)  # field errors land next to their fields
            else:
                messages.success(request, _("Finding updated."))
                return redirect("finding_detail", org_code=org_code, finding_code=finding.code)
        return _finding_page(request, membership, finding, form, EvidenceForm(), status=400)
    return _finding_page(request, membership, finding, form, EvidenceForm())


@login_required
@require_POST
def evidence_add(request: HttpRequest, org_code, finding_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    finding = get_finding_for_member(membership, finding_code)
    require_editor(membership)
    form = EvidenceForm(request.POST)
    if form.is_valid():
        try:
            services.evidence_add(finding=finding, actor=membership, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Evidence added."))
            return redirect("finding_detail", org_code=org_code, finding_code=finding.code)
    review = FindingReviewForm(
        initial={"status": finding.status, "notes": finding.notes},
        approvers=selectors.approvers(membership.organisation),
    )
    return _finding_page(request, membership, finding, review, form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def evidence_remove(request: HttpRequest, org_code, evidence_code) -> HttpResponse:
    """Asks first (GET), removes on POST."""
    membership = get_membership_for_user(request, org_code)
    evidence = get_evidence_for_member(membership, evidence_code)
    require_editor(membership)
    finding = get_finding_for_member(membership, evidence.finding.code)
    if request.method == "GET":
        context = {
            "membership": membership,
            "org": membership.organisation,
            "finding": finding,
            "evidence": evidence,
        }
        return render(request, "assessments/evidence_remove.html", context)
    try:
        services.evidence_remove(evidence=evidence, actor=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Evidence removed."))
    return redirect("finding_detail", org_code=org_code, finding_code=finding.code)


def _review_action(request, org_code, assessment_code, action, done_message):
    membership = get_membership_for_user(request, org_code)
    assessment = get_assessment_for_member(membership, assessment_code)
    require_editor(membership)
    try:
        action(assessment=assessment, actor=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done_message)
    return redirect("assessment_detail", org_code=org_code, assessment_code=assessment.code)


@login_required
@require_POST
def assessment_submit(request: HttpRequest, org_code, assessment_code) -> HttpResponse:
    return _review_action(
        request, org_code, assessment_code, services.assessment_submit,
        _("Submitted for approval."),
    )  # fmt: skip


@login_required
@require_POST
def assessment_approve(request: HttpRequest, org_code, assessment_code) -> HttpResponse:
    return _review_action(
        request, org_code, assessment_code, services.assessment_approve,
        _("Assessment approved; it is now read-only."),
    )  # fmt: skip


@login_required
@require_POST
def assessment_return(request: HttpRequest, org_code, assessment_code) -> HttpResponse:
    return _review_action(
        request, org_code, assessment_code, services.assessment_return,
        _("Returned to review."),
    )  # fmt: skip
