"""Deadlines and the impact of catalogue releases."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from governance.access import get_membership_for_user, require_role
from governance.models import CatalogueRelease

from .. import deadlines as selectors
from .. import services
from ..actions import MANAGER_ROLES, today_for
from ..models.runs import Source


@login_required
@require_GET
def deadlines(request: HttpRequest, org_code) -> HttpResponse:
    """Legal application dates, action due dates and catalogue milestones, by month; with
    ?format=ics the same entries as an iCalendar file."""
    membership = get_membership_for_user(request, org_code)
    org = membership.organisation
    systems = selectors.active_systems(org)
    filters, errors = selectors.read_filters(request.GET, today=today_for(org), systems=systems)
    ics = request.GET.get("format") == "ics"
    if ics and errors:
        return HttpResponseBadRequest(" ".join(errors), content_type="text/plain; charset=utf-8")
    calendar = selectors.calendar(org, filters, systems)
    if ics:
        response = HttpResponse(
            selectors.to_ics(org, calendar), content_type="text/calendar; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="deadlines.ics"'
        return response
    for error in errors:
        messages.error(request, error)
    query = filters.query()
    other_zones = {k: v for k, v in query.items() if k != "zones"}
    if not filters.both_zones:
        other_zones["zones"] = "both"
    context = {
        "membership": membership,
        "org": org,
        "calendar": calendar,
        "filters": filters,
        "systems": systems,
        "zones": selectors.BOTH_ZONES,
        "ics_query": urlencode(query | {"format": "ics"}),
        "zones_query": urlencode(other_zones),
        "earlier_query": urlencode(
            query | {"from": calendar.overdue_since.isoformat()} if calendar.overdue_since else {}
        ),
    }
    return render(request, "assessments/deadlines.html", context)


@login_required
@require_GET
def impact_list(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    context = {
        "membership": membership,
        "org": membership.organisation,
        "rows": selectors.impact_releases(membership.organisation),
    }
    return render(request, "assessments/impact_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def release_impact(request: HttpRequest, org_code, release_code) -> HttpResponse:
    """What a published release changes for this organisation; POST re-assesses the systems
    it affects that are not yet on the current release (compliance officers and admins)."""
    membership = get_membership_for_user(request, org_code)
    org = membership.organisation
    # A release is global; only the organisation's own impact is ever read below.
    release = get_object_or_404(
        CatalogueRelease, code=release_code, status=CatalogueRelease.Status.PUBLISHED
    )
    if request.method == "POST":
        require_role(membership, *MANAGER_ROLES)
        systems = selectors.systems_to_reassess(org, release)
        if not systems:
            messages.info(
                request,
                _("Every system this release affects is already assessed on the current release."),
            )
            return redirect("release_impact", org_code=org.code, release_code=release.code)
        try:
            batch = services.batch_start(
                org=org, actor=request.user, systems=systems, source=Source.RELEASE
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("release_impact", org_code=org.code, release_code=release.code)
        return redirect("batch_detail", org_code=org.code, batch_code=batch.code)
    context = {
        "membership": membership,
        "org": org,
        "release": release,
        "impact": selectors.release_impact(org, release),
        "can_reassess": membership.role in MANAGER_ROLES,
    }
    return render(request, "assessments/release_impact.html", context)
