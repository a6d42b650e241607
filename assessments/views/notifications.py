"""In-app notifications and how each person wants to be told.

Everyone sees only their own notifications, and inside an organisation only that
organisation's; anyone else's notification is a 404.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from governance.access import _as_uuid, get_membership_for_user

from .. import notify
from ..models import Notification
from ..notification_forms import PreferencesForm

PAGE_SIZE = 50


@login_required
@require_GET
def notification_list(request: HttpRequest, org_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    org = membership.organisation
    unread_only = request.GET.get("unread") == "1"
    notes = notify.inbox(org, request.user).select_related(
        "actor", "action", "assessment", "release"
    )
    if unread_only:
        notes = notes.filter(read_at__isnull=True)
    page = Paginator(notes, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {"n": n, "text": notify.summary(n), "url": notify.target_path(n, org.code)}
        for n in page.object_list
    ]
    context = {
        "membership": membership,
        "org": org,
        "page": page,
        "rows": rows,
        "unread_only": unread_only,
    }
    return render(request, "assessments/notifications/list.html", context)


def _get_own(request: HttpRequest, org, code: str) -> Notification:
    try:
        return notify.inbox(org, request.user).get(code=_as_uuid(code))
    except Notification.DoesNotExist as exc:
        raise Http404 from exc


@login_required
@require_POST
def notification_read(request: HttpRequest, org_code) -> HttpResponse:
    """Mark one notification (`code`) or all of them (`all`) as read."""
    membership = get_membership_for_user(request, org_code)
    org = membership.organisation
    if request.POST.get("code"):
        notification = _get_own(request, org, request.POST["code"])
        notify.mark_read(org=org, user=request.user, notification=notification)
    elif request.POST.get("all"):
        notify.mark_read(org=org, user=request.user)
        messages.success(request, _("All notifications are marked as read."))
    else:
        return HttpResponseBadRequest(_("Say which notification to mark as read."))
    return redirect("notification_list", org_code=org.code)


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request: HttpRequest) -> HttpResponse:
    form = PreferencesForm(request.POST or None, current=notify.preferences_for(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            notify.preferences_save(user=request.user, choices=form.choices())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Notification settings saved."))
            return redirect("notification_preferences")
    status = 400 if form.errors else 200
    return render(
        request, "assessments/notifications/preferences.html", {"form": form}, status=status
    )
