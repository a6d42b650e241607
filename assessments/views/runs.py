"""Starting assessments, following their progress, and reading their results."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from governance.access import get_membership_for_user, get_system_for_member, require_editor
from governance.registry import systems as registry_systems

from .. import selectors, services
from ..access import get_assessment_for_member, get_batch_for_member
from ..models import AssessmentStatus, FindingStatus, ReviewState
from ..models.runs import Source


@login_required
@require_POST
def assessment_start(request: HttpRequest, org_code, system_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    system = get_system_for_member(membership, system_code)
    require_editor(membership)
    try:
        assessment, created = services.assessment_start(
            system=system, actor=request.user, source=Source.WEB
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("system_detail", org_code=org_code, system_code=system.code)
    if not created:
        messages.info(request, _("An assessment of this system is already under way."))
    return redirect("assessment_detail", org_code=org_code, assessment_code=assessment.code)


@login_required
@require_GET
def assessment_list(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    status = request.GET.get("status", "")
    review = request.GET.get("review", "")
    status = status if status in AssessmentStatus.values else ""
    review = review if review in ReviewState.values else ""
    stale = request.GET.get("stale") == "1"
    rows = selectors.assessments(membership.organisation, status=status, review=review, stale=stale)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    context = {
        "membership": membership,
        "org": membership.organisation,
        "page": page,
        "statuses": AssessmentStatus.choices,
        "reviews": ReviewState.choices,
        "filters": {"status": status, "review": review, "stale": stale},
        "stale_systems": services.stale_system_count(membership.organisation),
    }
    return render(request, "assessments/assessment_list.html", context)


@login_required
@require_GET
def assessment_detail(request: HttpRequest, org_code, assessment_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    assessment = get_assessment_for_member(membership, assessment_code)
    status = request.GET.get("status", "")
    status = status if status in FindingStatus.values else ""
    jurisdiction = request.GET.get("jurisdiction", "")
    jurisdiction = jurisdiction if jurisdiction in ("EU", "JP", "INTL") else ""
    done = assessment.status == AssessmentStatus.COMPLETED
    context = {
        "membership": membership,
        "org": membership.organisation,
        "assessment": assessment,
        "system": assessment.system,
        "classification": selectors.classification(assessment) if done else None,
        "groups": (
            selectors.findings_by_regulation(assessment, status=status, jurisdiction=jurisdiction)
            if done
            else []
        ),
        "counts": selectors.finding_counts(assessment) if done else None,
        "statuses": FindingStatus.choices,
        "filters": {"status": status, "jurisdiction": jurisdiction},
        "can_approve": membership.role in services.APPROVER_ROLES
        and assessment.prepared_by_id != request.user.pk,
        "status_url": reverse(
            "assessment_status", kwargs={"org_code": org_code, "assessment_code": assessment.code}
        ),
    }
    return render(request, "assessments/assessment_detail.html", context)


@login_required
@require_GET
def assessment_status(request: HttpRequest, org_code, assessment_code) -> JsonResponse:
    """Polled by the assessment page (static/js/progress.js) until the run finishes."""
    membership = get_membership_for_user(request, org_code)
    assessment = get_assessment_for_member(membership, assessment_code)
    return JsonResponse(
        {
            "status": assessment.status,
            "status_label": assessment.get_status_display(),
            "finished": not assessment.is_in_flight,
            "error": assessment.error,
            "attempts": assessment.attempts,
            "summary": assessment.summary,
        }
    )


@login_required
@require_http_methods(["GET", "POST"])
def assess_all(request: HttpRequest, org_code) -> HttpResponse:
    """Queue an assessment of every active system, or (?stale=1) of those a new release
    changes."""
    membership = get_membership_for_user(request, org_code)
    org = membership.organisation
    stale_only = request.GET.get("stale") == "1" or request.POST.get("stale") == "1"
    if request.method == "POST":
        require_editor(membership)
        systems = services.stale_systems(org) if stale_only else None
        try:
            batch = services.batch_start(
                org=org,
                actor=request.user,
                systems=systems,
                source=Source.RELEASE if stale_only else Source.BATCH,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("assessment_list", org_code=org_code)
        return redirect("batch_detail", org_code=org_code, batch_code=batch.code)
    count = services.stale_system_count(org) if stale_only else registry_systems(org).count()
    context = {
        "membership": membership,
        "org": org,
        "count": count,
        "stale_only": stale_only,
    }
    return render(request, "assessments/assess_all.html", context)


@login_required
@require_GET
def batch_detail(request: HttpRequest, org_code, batch_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    batch = get_batch_for_member(membership, batch_code)
    context = {
        "membership": membership,
        "org": membership.organisation,
        "batch": batch,
        "progress": selectors.batch_progress(batch),
        "status_url": reverse(
            "batch_status", kwargs={"org_code": org_code, "batch_code": batch.code}
        ),
    }
    return render(request, "assessments/batch_detail.html", context)


@login_required
@require_GET
def batch_status(request: HttpRequest, org_code, batch_code) -> JsonResponse:
    membership = get_membership_for_user(request, org_code)
    batch = get_batch_for_member(membership, batch_code)
    return JsonResponse(selectors.batch_progress(batch))
