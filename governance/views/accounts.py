from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language as django_set_language

from .. import rls, selectors, services
from ..forms import ProfileForm, RegistrationForm
from ..security import selectors as security_selectors


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Accept an invitation: signed-in users join; new people create their account first."""
    # Found by its signed token before anyone is a member: then this organisation only.
    with rls.everything():
        invitation = services.invitation_from_token(token)
    user = request.user if request.user.is_authenticated else None
    if invitation is not None:
        rls.enter_org(invitation.organisation_id, user_id=user.pk if user else None)
    try:
        services.invitation_check(invitation, user=user)
    except services.InvitationError as exc:
        return render(
            request, "governance/invitation_invalid.html", {"reason": str(exc)}, status=410
        )
    has_account = user is None and selectors.user_exists(invitation.email)
    form = None
    if user is None and not has_account:
        form = RegistrationForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and not has_account:
        try:
            if form is None:
                membership = services.invitation_accept(invitation=invitation, user=user)
            elif form.is_valid():
                membership = services.invitation_sign_up(
                    invitation=invitation,
                    full_name=form.cleaned_data["full_name"],
                    password=form.cleaned_data["password1"],
                    audit_ctx=request.audit_context,
                )
            else:
                membership = None
        except services.InvitationError as exc:
            return render(
                request, "governance/invitation_invalid.html", {"reason": str(exc)}, status=410
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            membership = None
        if membership is None:
            context = {"invitation": invitation, "form": form}
            return render(request, "governance/invitation_accept.html", context, status=400)
        if not request.user.is_authenticated:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to %(org)s.") % {"org": invitation.organisation.name})
        return redirect("org_dashboard", org_code=invitation.organisation.code)
    login_url = f"{reverse('login')}?next={request.path}"
    return render(
        request,
        "governance/invitation_accept.html",
        {
            "invitation": invitation,
            "form": form,
            "has_account": has_account,
            "login_url": login_url,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        services.user_update_preferences(user=request.user, **form.cleaned_data)
        messages.success(request, _("Profile saved."))
        return redirect("profile")
    context = {"form": form, "mfa": security_selectors.mfa_status(request.user)}
    return render(request, "governance/profile.html", context)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the interface language; for a signed-in user it is remembered on the account."""
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        messages.error(request, _("Unknown language."))
        return HttpResponseRedirect(reverse("home"))
    if request.user.is_authenticated:
        services.user_update_preferences(user=request.user, language=language)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        request.POST = request.POST.copy()
        request.POST["next"] = reverse("home")
    return django_set_language(request)
