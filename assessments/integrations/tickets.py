"""Keeping remediation actions and their Jira / ServiceNow tickets in step.

The outbox side: `mark_for_sync` runs in the transaction of an action's change and flags the
action's ticket in every enabled connection of its organisation (creating the row on first
change), except the connection the change came from. The sync task then pushes the action's
current state; it never trusts that it runs only once.
"""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ..models import ExternalTicket, RemediationAction, SyncState, TicketingConnection


def _sync_soon() -> None:
    from .. import tasks

    transaction.on_commit(lambda: tasks.sync_tickets.delay(), robust=True)


def mark_for_sync(actions: Iterable[RemediationAction], *, origin: str = "") -> int:
    """Flag these actions' tickets for every enabled connection but `origin` (a TicketSystem)."""
    actions = list(actions)
    if not actions:
        return 0
    connections = list(
        TicketingConnection.objects.filter(
            organisation_id=actions[0].organisation_id, enabled=True
        ).exclude(system=origin)
    )
    if not connections:
        return 0
    now = timezone.now()
    ExternalTicket.objects.bulk_create(
        [
            ExternalTicket(
                organisation_id=a.organisation_id,
                action=a,
                connection=c,
                system=c.system,
                needs_sync=True,
                next_attempt_at=now,
            )
            for a in actions
            for c in connections
        ],
        ignore_conflicts=True,
    )
    flagged = ExternalTicket.objects.filter(action__in=actions, connection__in=connections).update(
        needs_sync=True,
        attempts=0,
        next_attempt_at=now,
        sync_state=SyncState.PENDING,
        last_error="",
    )
    _sync_soon()
    return flagged


def sync_due(*, now=None, limit: int = 50) -> dict[str, int]:
    """Push every flagged ticket whose next attempt is due. Implemented with the connectors."""
    raise NotImplementedError
