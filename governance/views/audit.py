from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .. import selectors
from ..access import get_membership_for_user, require_role
from ..models import AuditEvent, Role


@login_required
def audit_log(request: HttpRequest, org_code) -> HttpResponse:
    """The organisation's audit trail, newest first; read-only, for admins."""
    membership = get_membership_for_user(request, org_code)
    require_role(membership, Role.ADMIN)
    org = membership.organisation
    table = request.GET.get("table", "")
    action = request.GET.get("action", "")
    events = selectors.audit_events(org, table=table, action=action)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    context = {
        "membership": membership,
        "org": org,
        "page": page,
        "tables": selectors.audit_tables(),
        "actions": AuditEvent.Action.choices,
        "table": table,
        "action": action,
    }
    return render(request, "governance/audit_log.html", context)
