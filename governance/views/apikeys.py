"""Organisation settings: API keys for machine clients (admins only)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from .. import apikeys
from ..access import get_api_key_for_member, get_membership_for_user, require_role
from ..forms import ApiKeyForm
from ..models import Role


@login_required
@never_cache
def api_key_list(request: HttpRequest, org_code) -> HttpResponse:
    """The organisation's keys, and a form for a new one. The new key's token is shown on the
    response to the POST only: it is never stored and cannot be shown again."""
    membership = get_membership_for_user(request, org_code)
    require_role(membership, Role.ADMIN)
    org = membership.organisation
    form = ApiKeyForm(request.POST or None)
    created = token = None
    if request.method == "POST" and form.is_valid():
        try:
            created, token = apikeys.api_key_create(
                actor=membership,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=form.expires_at(),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form = ApiKeyForm()
    keys = apikeys.keys_for(org)
    return render(
        request,
        "governance/api_keys.html",
        {
            "membership": membership,
            "org": org,
            "form": form,
            "keys": keys,
            "created": created,
            "token": token,
        },
    )


@login_required
def api_key_revoke(request: HttpRequest, org_code, key_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    require_role(membership, Role.ADMIN)
    key = get_api_key_for_member(membership, key_code)
    org = membership.organisation
    if request.method == "POST":
        apikeys.api_key_revoke(actor=membership, key=key)
        messages.success(request, _("The key “%(name)s” was revoked.") % {"name": key.name})
        return redirect("api_key_list", org_code=org.code)
    return render(
        request,
        "governance/api_key_revoke.html",
        {"membership": membership, "org": org, "key": key},
    )
