from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from .. import rls, selectors, services
from ..access import get_membership_for_user, last_used, organisations_for_user, require_role
from ..forms import OrganisationForm
from ..models import Role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send people to the organisation they used last, or let them choose."""
    organisations = organisations_for_user(request.user)
    org = last_used(request, organisations)
    if org is not None:
        return redirect("dashboard", org_code=org.code)
    return render(request, "governance/org_list.html", {"organisations": organisations})


@login_required
def org_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "governance/org_list.html",
        {"organisations": organisations_for_user(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def org_create(request: HttpRequest) -> HttpResponse:
    form = OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # A new tenant: no organisation scope can cover rows that do not exist yet.
        with rls.everything():
            org = services.organisation_create(creator=request.user, **form.cleaned_data)
        messages.success(request, _("Organisation created. You are its admin."))
        return redirect("dashboard", org_code=org.code)
    return render(request, "governance/org_form.html", {"form": form, "creating": True})


@login_required
def org_dashboard(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    context = {
        "membership": membership,
        "org": membership.organisation,
        "overview": selectors.organisation_overview(membership.organisation),
        "recent_events": (
            selectors.audit_events(membership.organisation)[:10] if membership.is_admin else []
        ),
    }
    return render(request, "governance/org_dashboard.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def org_settings(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    require_role(membership, Role.ADMIN)
    org = membership.organisation
    form = OrganisationForm(request.POST or None, instance=org)
    if request.method == "POST" and form.is_valid():
        services.organisation_update(org=org, **form.cleaned_data)
        messages.success(request, _("Settings saved."))
        return redirect("org_settings", org_code=org.code)
    return render(
        request,
        "governance/org_form.html",
        {"form": form, "membership": membership, "org": org, "creating": False},
    )
