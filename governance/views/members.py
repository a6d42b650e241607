from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .. import selectors, services
from ..access import (
    get_invitation_for_member,
    get_member_for_member,
    get_membership_for_user,
    require_role,
)
from ..forms import InvitationForm, RoleForm
from ..models import Role


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@login_required
@require_http_methods(["GET", "POST"])
def member_list(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    org = membership.organisation
    form = InvitationForm(request.POST or None)
    if request.method == "POST":
        require_role(membership, Role.ADMIN)
        if form.is_valid():
            try:
                services.invitation_create(actor=membership, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _("Invitation sent to %(email)s.") % {"email": form.cleaned_data["email"]},
                )
                return redirect("member_list", org_code=org.code)
    context = {
        "membership": membership,
        "org": org,
        "members": selectors.members(org),
        "invitations": selectors.pending_invitations(org) if membership.is_admin else [],
        "form": form,
        "roles": Role.choices,
        "invitation_ttl_days": settings.INVITATION_TTL_DAYS,
    }
    return render(
        request, "governance/member_list.html", context, status=400 if form.errors else 200
    )


@login_required
@require_POST
def member_role(request: HttpRequest, org_code, member_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    member = get_member_for_member(membership, member_code)
    require_role(membership, Role.ADMIN)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
    else:
        try:
            services.membership_change_role(
                actor=membership, member=member, role=form.cleaned_data["role"]
            )
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(
                request,
                _("The role of %(name)s is now: %(role)s.")
                % {"name": member.user.get_full_name(), "role": member.get_role_display()},
            )
    return redirect("member_list", org_code=membership.organisation.code)


@login_required
@require_http_methods(["GET", "POST"])
def member_remove(request: HttpRequest, org_code, member_code) -> HttpResponse:
    """Admins remove anyone; every member may remove themselves (leave)."""
    membership = get_membership_for_user(request, org_code)
    member = get_member_for_member(membership, member_code)
    leaving = member.pk == membership.pk
    if not leaving:
        require_role(membership, Role.ADMIN)
    org = membership.organisation
    if request.method == "POST":
        try:
            services.membership_remove(actor=membership, member=member)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
            return redirect("member_list", org_code=org.code)
        if leaving:
            messages.success(request, _("You have left %(org)s.") % {"org": org.name})
            return redirect("org_list")
        messages.success(
            request, _("%(name)s was removed.") % {"name": member.user.get_full_name()}
        )
        return redirect("member_list", org_code=org.code)
    return render(
        request,
        "governance/member_remove.html",
        {"membership": membership, "org": org, "member": member, "leaving": leaving},
    )


@login_required
@require_http_methods(["GET", "POST"])
def invitation_revoke(request: HttpRequest, org_code, invitation_code) -> HttpResponse:
    """Asks first (GET), withdraws the invitation on POST."""
    membership = get_membership_for_user(request, org_code)
    invitation = get_invitation_for_member(membership, invitation_code)
    require_role(membership, Role.ADMIN)
    org = membership.organisation
    if request.method == "GET":
        return render(
            request,
            "governance/invitation_revoke.html",
            {"membership": membership, "org": org, "invitation": invitation},
        )
    try:
        services.invitation_revoke(invitation=invitation)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request, _("The invitation to %(email)s was withdrawn.") % {"email": invitation.email}
        )
    return redirect("member_list", org_code=org.code)
