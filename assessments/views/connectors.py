"""Settings → Ticketing: an admin connects Jira Cloud and ServiceNow.

Only admins see the page (other members get a 403, anyone outside the organisation a 404).
An inbound secret is shown once, on the response that created or rotated it. Testing the
connection and syncing run in the worker; the page only queues them.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from governance.access import get_membership_for_user, require_role
from governance.models import Membership, Role

from ..connector_forms import ConnectionForm
from ..integrations import tickets
from ..models import TicketingConnection, TicketSystem


def _admin(request: HttpRequest, org_code) -> Membership:
    membership = get_membership_for_user(request, org_code)
    require_role(membership, Role.ADMIN)
    return membership


def _system(system: str) -> str:
    if system not in TicketSystem.values:
        raise Http404
    return system


def _connection(membership: Membership, system: str) -> TicketingConnection:
    connection = tickets.connection_for(membership.organisation, _system(system))
    if connection is None:
        raise Http404
    return connection


def _page(
    request: HttpRequest,
    membership: Membership,
    *,
    forms: dict[str, ConnectionForm] | None = None,
    new_secret: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    org = membership.organisation
    connections = tickets.connections_for(org)
    forms = forms or {}
    sections = []
    for system, label in TicketSystem.choices:
        connection = connections.get(system)
        form = forms.get(system) or ConnectionForm(system=system, connection=connection)
        sections.append(
            {
                "system": system,
                "label": label,
                "connection": connection,
                "form": form,
                "inbound_url": tickets.inbound_url(connection) if connection else "",
                "new_secret": (new_secret or {}).get(system, ""),
            }
        )
    context = {
        "membership": membership,
        "org": org,
        "sections": sections,
        "tickets": tickets.recent_tickets(org),
        "systems": dict(TicketSystem.choices),
    }
    return render(request, "assessments/connectors/settings.html", context, status=status)


@login_required
@require_GET
def ticketing_settings(request: HttpRequest, org_code) -> HttpResponse:
    return _page(request, _admin(request, org_code))


@login_required
@require_POST
def ticketing_save(request: HttpRequest, org_code, system: str) -> HttpResponse:
    membership = _admin(request, org_code)
    system = _system(system)
    connection = tickets.connection_for(membership.organisation, system)
    form = ConnectionForm(request.POST, system=system, connection=connection)
    if form.is_valid():
        try:
            connection, created = tickets.connection_save(
                actor=membership, system=system, **form.service_fields()
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            label = TicketSystem(system).label
            if created:
                messages.success(
                    request,
                    _("%(system)s is connected. Copy the webhook secret now: it is shown once.")
                    % {"system": label},
                )
                return _page(request, membership, new_secret={system: connection.inbound_secret})
            messages.success(request, _("%(system)s settings are saved.") % {"system": label})
            return redirect("ticketing_settings", org_code=membership.organisation.code)
    return _page(request, membership, forms={system: form}, status=400)


def _confirm(request: HttpRequest, membership: Membership, connection, *, deleting: bool):
    context = {
        "membership": membership,
        "org": membership.organisation,
        "connection": connection,
        "deleting": deleting,
    }
    return render(request, "assessments/connectors/confirm.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def ticketing_rotate(request: HttpRequest, org_code, system: str) -> HttpResponse:
    """Asks first (GET); POST makes the new secret and shows it once."""
    membership = _admin(request, org_code)
    connection = _connection(membership, system)
    if request.method == "GET":
        return _confirm(request, membership, connection, deleting=False)
    secret = tickets.connection_rotate_secret(actor=membership, connection=connection)
    messages.success(
        request,
        _("The webhook secret is new; the old one no longer works. Copy it now: it is shown once."),
    )
    return _page(request, membership, new_secret={connection.system: secret})


@login_required
@require_POST
def ticketing_test(request: HttpRequest, org_code, system: str) -> HttpResponse:
    membership = _admin(request, org_code)
    connection = _connection(membership, system)
    tickets.connection_test(actor=membership, connection=connection)
    messages.info(
        request,
        _("The connection is being tested; reload the page in a moment to see any error."),
    )
    return redirect("ticketing_settings", org_code=membership.organisation.code)


@login_required
@require_POST
def ticketing_sync(request: HttpRequest, org_code, system: str) -> HttpResponse:
    membership = _admin(request, org_code)
    connection = _connection(membership, system)
    count = tickets.connection_resync(actor=membership, connection=connection)
    if connection.enabled:
        messages.success(request, _("%(count)s active actions will be synced.") % {"count": count})
    else:
        messages.error(request, _("Enable the connection first."))
    return redirect("ticketing_settings", org_code=membership.organisation.code)


@login_required
@require_http_methods(["GET", "POST"])
def ticketing_delete(request: HttpRequest, org_code, system: str) -> HttpResponse:
    """Asks first (GET), disconnects on POST."""
    membership = _admin(request, org_code)
    connection = _connection(membership, system)
    if request.method == "GET":
        return _confirm(request, membership, connection, deleting=True)
    tickets.connection_delete(actor=membership, connection=connection)
    messages.success(
        request,
        _("The connection is removed. Its tickets stay in %(system)s.")
        % {"system": connection.get_system_display()},
    )
    return redirect("ticketing_settings", org_code=membership.organisation.code)


urlpatterns = [
    path("", ticketing_settings, name="ticketing_settings"),
    path("<str:system>/", ticketing_save, name="ticketing_save"),
    path("<str:system>/secret/", ticketing_rotate, name="ticketing_rotate"),
    path("<str:system>/test/", ticketing_test, name="ticketing_test"),
    path("<str:system>/sync/", ticketing_sync, name="ticketing_sync"),
    path("<str:system>/delete/", ticketing_delete, name="ticketing_delete"),
]
