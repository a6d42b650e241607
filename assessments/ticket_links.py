"""Ticket references API clients record on an action themselves ("this is GitHub issue #42").

They are `ExternalTicket` rows without a connection: nothing syncs them (`sync_state` manual,
`needs_sync` off). Rows a Jira or ServiceNow connection keeps belong to the connector and are
read-only here, and so is a connected system's name, which the connector's row will take.
"""

import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from governance.access import _as_uuid
from governance.models import Membership

from .models import ExternalTicket, RemediationAction, SyncState, TicketSystem

SYSTEM_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
EDITABLE_FIELDS = ("external_key", "url", "remote_status")


def tickets_for_action(action: RemediationAction) -> QuerySet[ExternalTicket]:
    return ExternalTicket.objects.for_org(action.organisation_id).filter(action=action)


def get_ticket_for_action(action: RemediationAction, code: object) -> ExternalTicket:
    """One of the action's tickets, or 404 (also for another action's or organisation's)."""
    try:
        ticket = tickets_for_action(action).get(code=_as_uuid(code))
    except ExternalTicket.DoesNotExist as exc:
        raise Http404 from exc
    ticket.action = action
    return ticket


def _require_editor(actor: Membership) -> None:
    if not actor.can_edit:
        raise PermissionDenied(_("Viewers cannot change remediation actions."))


def _require_manual(ticket: ExternalTicket) -> None:
    if ticket.connection_id is not None:
        raise ValidationError(
            _("This ticket is kept in step by the %(system)s connection; change it there.")
            % {"system": ticket.system},
            code="managed",
        )


def _check(ticket: ExternalTicket) -> None:
    if not (ticket.external_key or ticket.url):
        raise ValidationError({"external_key": _("Give the ticket's key, its link, or both.")})
    ticket.full_clean(
        exclude=["organisation", "action", "connection"],
        validate_unique=False,
        validate_constraints=False,
    )


def ticket_link_create(
    *,
    action: RemediationAction,
    actor: Membership,
    system: str,
    external_key: str = "",
    url: str = "",
    remote_status: str = "",
) -> ExternalTicket:
    """Record a ticket of another tool on the action (one per tool and action)."""
    _require_editor(actor)
    system = (system or "").strip().lower()
    if not SYSTEM_SLUG.match(system):
        raise ValidationError(
            {"system": _("Name the tool with up to 32 lower-case letters, digits, - or _.")}
        )
    ticket = ExternalTicket(
        organisation_id=action.organisation_id,
        action=action,
        connection=None,
        system=system,
        external_key=(external_key or "").strip(),
        url=(url or "").strip(),
        remote_status=(remote_status or "").strip(),
        sync_state=SyncState.MANUAL,
        needs_sync=False,
    )
    _check(ticket)
    with transaction.atomic():
        RemediationAction.objects.select_for_update().get(pk=action.pk)
        # The connectors' names are theirs even before a connection exists: a row recorded by
        # hand would otherwise take the (action, system) slot the connector needs later.
        if system in TicketSystem.values:
            raise ValidationError(
                _("Tickets in %(system)s are kept by its connection, not recorded by hand.")
                % {"system": system},
                code="managed",
            )
        if tickets_for_action(action).filter(system=system).exists():
            raise ValidationError(
                {
                    "system": _("This action already has a ticket in %(system)s.")
                    % {"system": system}
                }
            )
        ticket.save()
    return ticket


def ticket_link_update(
    *, ticket: ExternalTicket, actor: Membership, **changes: str
) -> ExternalTicket:
    """Change a recorded ticket's key, link or status text."""
    _require_editor(actor)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    _require_manual(ticket)
    with transaction.atomic():
        locked = ExternalTicket.objects.select_for_update().get(pk=ticket.pk)
        _require_manual(locked)
        for field, value in changes.items():
            setattr(locked, field, (value or "").strip())
        _check(locked)
        locked.save(update_fields=list(changes))
    return locked


def ticket_link_delete(*, ticket: ExternalTicket, actor: Membership) -> None:
    """Forget a recorded ticket (the ticket itself lives on in its tool)."""
    _require_editor(actor)
    _require_manual(ticket)
    ticket.delete()
