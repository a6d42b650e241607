"""Keeping remediation actions and their Jira / ServiceNow tickets in step.

The outbox side: `mark_for_sync` runs in the transaction of an action's change and flags the
action's ticket in every enabled connection of its organisation (creating the row on first
change), except the connection the change came from. The sync task then pushes the action's
current state; it never trusts that it runs only once.

Pushing (`sync_due`): due rows are claimed with FOR UPDATE SKIP LOCKED and leased by moving
their `next_attempt_at` to the end of a lease; the HTTP calls run outside any transaction.
A row flagged again while it was being pushed (its `next_attempt_at` no longer the lease) stays
flagged, so the newer change goes out too. Nothing is sent when the content hash and the
remote status already match.

Coming back (`remote_status_changed`, called by the inbound webhooks): a status change in the
remote tool moves the action as a connector actor with `origin=<system>`, which emits the
usual webhook events but does not flag the ticket it came from (no echo). A connector never
verifies: "verified" cannot be an inbound target, as verifying needs a person.

`resync_all` flags every active action of the organisation for one connection; it runs when
a connection is created or re-enabled (changes made meanwhile were not flagged) and from the
"Sync all active actions" button. Closed actions get a ticket only once they change.
"""

import datetime as dt
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from governance.models import Organisation, Role

from ..models import (
    ActionStatus,
    ExternalTicket,
    Finding,
    Priority,
    RemediationAction,
    SyncState,
    TicketingConnection,
    TicketSystem,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = dt.timedelta(minutes=5)
RECENT_TICKETS = 20

DEFAULT_OUTBOUND = {
    TicketSystem.JIRA: {
        "open": "To Do",
        "in_progress": "In Progress",
        "blocked": "In Progress",
        "done": "Done",
        "verified": "Done",
        "cancelled": "Done",
    },
    # Incident states: 1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed, 8 Canceled.
    TicketSystem.SERVICENOW: {
        "open": "1",
        "in_progress": "2",
        "blocked": "3",
        "done": "6",
        "verified": "7",
        "cancelled": "8",
    },
}
DEFAULT_INBOUND = {
    TicketSystem.JIRA: {"To Do": "open", "In Progress": "in_progress", "Done": "done"},
    TicketSystem.SERVICENOW: {"2": "in_progress", "3": "blocked", "6": "done", "7": "done"},
}
INBOUND_TARGETS = [s for s in ActionStatus.values if s != ActionStatus.VERIFIED]


class RemoteError(Exception):
    """A ticketing call that failed: `status` is the HTTP status (None: no answer);
    `ticket` what is known of the remote ticket so far (created before the failure)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status
        self.ticket: RemoteTicket | None = None

    @property
    def refused_credentials(self) -> bool:
        return self.status in (401, 403)


@dataclass
class RemoteTicket:
    id: str
    key: str
    url: str
    status: str = ""
    updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class Content:
    """What a ticket shows of its action (the status travels separately)."""

    code: str
    title: str
    description: str
    findings: list[tuple[str, str]] = field(default_factory=list)
    due_date: dt.date | None = None
    priority: str = Priority.MEDIUM
    url: str = ""

    @property
    def priority_label(self) -> str:
        return str(Priority(self.priority).label)

    def digest(self) -> str:
        raw = json.dumps(asdict(self), sort_keys=True, default=str).encode()
        return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class ConnectorActor:
    """A ticketing connection moving actions, shaped like a Membership for the services: a
    compliance officer without a person, so it can never verify."""

    connection: TicketingConnection
    user = None
    user_id = None
    role = Role.COMPLIANCE_OFFICER
    can_edit = True
    can_manage = True
    is_admin = False

    @property
    def organisation(self) -> Organisation:
        return self.connection.organisation

    @property
    def organisation_id(self) -> int:
        return self.connection.organisation_id


# --- Marking -----------------------------------------------------------------------------------


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
    return _flag(actions, connections)


def _flag(actions: list[RemediationAction], connections: list[TicketingConnection]) -> int:
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


def resync_all(connection: TicketingConnection) -> int:
    """Flag every active action of the connection's organisation for it."""
    if not connection.enabled:
        return 0
    actions = list(
        RemediationAction.objects.for_org(connection.organisation)
        .active()
        .only("pk", "organisation_id")
    )
    return _flag(actions, [connection]) if actions else 0


# --- What a ticket says ------------------------------------------------------------------------


def action_url(action: RemediationAction) -> str:
    path = reverse(
        "action_detail",
        kwargs={"org_code": action.organisation.code, "action_code": action.code},
    )
    return settings.BASE_URL + path


def content_for(action: RemediationAction) -> Content:
    findings = (
        Finding.objects.filter(actions=action, assessment__latest=True)
        .select_related("obligation")
        .order_by("obligation_code")
    )
    gaps = {f.obligation_code: f.obligation.title_en for f in findings}
    return Content(
        code=str(action.code),
        title=action.title,
        description=action.description,
        findings=sorted(gaps.items()),
        due_date=action.due_date,
        priority=action.priority,
        url=action_url(action),
    )


def _casefold_get(mapping: dict, key: str) -> str:
    wanted = key.casefold()
    for k, v in (mapping or {}).items():
        if str(k).casefold() == wanted:
            return str(v)
    return ""


def inbound_status(connection: TicketingConnection, remote_status: str) -> str:
    """Our action status for a remote status name (or ServiceNow state), or ''."""
    return _casefold_get(connection.inbound_statuses, remote_status)


def target_for(connection: TicketingConnection, action_status: str, remote_status: str) -> str:
    """The remote status to move a ticket to, or '' when it already stands for the action's
    status (mapped outbound, or a remote status that maps back to it)."""
    target = str((connection.outbound_statuses or {}).get(action_status) or "")
    if not target or remote_status.casefold() == target.casefold():
        return ""
    if remote_status and inbound_status(connection, remote_status) == action_status:
        return ""
    return target


# --- Pushing -----------------------------------------------------------------------------------


def _client(system: str):
    from . import jira, servicenow

    return jira if system == TicketSystem.JIRA else servicenow


def _claim(now: dt.datetime, limit: int) -> tuple[list[int], dt.datetime]:
    lease = now + LEASE
    with transaction.atomic():
        ids = list(
            ExternalTicket.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(needs_sync=True, next_attempt_at__lte=now, connection__enabled=True)
            .order_by("next_attempt_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        ExternalTicket.objects.filter(pk__in=ids).update(next_attempt_at=lease)
    return ids, lease


def backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(seconds=30 * 2 ** (attempts - 1)), dt.timedelta(hours=6))


def sync_due(*, now: dt.datetime | None = None, limit: int = 50) -> dict[str, int]:
    """Push every flagged ticket whose next attempt is due (up to `limit`)."""
    now = now or timezone.now()
    ids, lease = _claim(now, limit)
    counts = {"synced": 0, "unchanged": 0, "retrying": 0, "failed": 0}
    for pk in ids:
        counts[_sync_one(pk, lease=lease, now=now)] += 1
    return counts


def _sync_one(pk: int, *, lease: dt.datetime, now: dt.datetime) -> str:
    ticket = (
        ExternalTicket.objects.select_related("connection__organisation", "action__organisation")
        .filter(pk=pk)
        .first()
    )
    if ticket is None or ticket.connection is None:
        return "unchanged"
    connection, action = ticket.connection, ticket.action
    content = content_for(action)
    digest = content.digest()

    def move_to(remote_status: str) -> str:
        return target_for(connection, action.status, remote_status)

    ref = None
    if ticket.external_id:
        ref = RemoteTicket(
            id=ticket.external_id,
            key=ticket.external_key,
            url=ticket.url,
            status=ticket.remote_status,
            updated_at=ticket.remote_updated_at,
        )
        if digest == ticket.pushed_hash and not move_to(ticket.remote_status):
            _finish(pk, lease=lease, now=now, ref=ref, digest=digest)
            return "unchanged"
    try:
        ref = _client(connection.system).push(
            connection,
            ref=ref,
            content=content,
            changed=digest != ticket.pushed_hash,
            move_to=move_to,
        )
    except RemoteError as exc:
        return _failed(pk, lease=lease, now=now, error=exc, connection=connection)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("ticket %s: unexpected answer from %s: %r", pk, connection.system, exc)
        error = RemoteError(
            _("%(system)s answered in a shape the connector does not understand.")
            % {"system": connection.get_system_display()}
        )
        return _failed(pk, lease=lease, now=now, error=error, connection=connection)
    _finish(pk, lease=lease, now=now, ref=ref, digest=digest)
    if connection.last_error:
        TicketingConnection.objects.filter(pk=connection.pk).update(last_error="")
    return "synced"


def _store_ref(row: ExternalTicket, ref: RemoteTicket) -> None:
    row.external_id, row.external_key, row.url = ref.id, ref.key[:100], ref.url[:500]
    row.remote_status = ref.status[:100]
    if ref.updated_at and (row.remote_updated_at is None or ref.updated_at > row.remote_updated_at):
        row.remote_updated_at = ref.updated_at


def _finish(
    pk: int, *, lease: dt.datetime, now: dt.datetime, ref: RemoteTicket, digest: str
) -> None:
    with transaction.atomic():
        row = ExternalTicket.objects.select_for_update().filter(pk=pk).first()
        if row is None:
            return
        _store_ref(row, ref)
        row.pushed_hash = digest
        row.last_synced_at = now
        row.last_error = ""
        if row.next_attempt_at == lease:  # not flagged again meanwhile
            row.needs_sync = False
            row.attempts = 0
            row.sync_state = SyncState.SYNCED
            row.next_attempt_at = now
        row.save()


def _failed(
    pk: int,
    *,
    lease: dt.datetime,
    now: dt.datetime,
    error: RemoteError,
    connection: TicketingConnection,
) -> str:
    message = str(error)[:500]
    outcome = "retrying"
    with transaction.atomic():
        row = ExternalTicket.objects.select_for_update().filter(pk=pk).first()
        if row is None:
            return "failed"
        if error.ticket is not None and not row.external_id:
            _store_ref(row, error.ticket)
        row.last_error = message
        if row.next_attempt_at == lease:
            row.attempts += 1
            if row.attempts >= MAX_ATTEMPTS:
                row.needs_sync = False
                row.sync_state = SyncState.FAILED
                outcome = "failed"
            else:
                row.next_attempt_at = now + backoff(row.attempts)
        row.save()
        if error.refused_credentials:
            TicketingConnection.objects.filter(pk=connection.pk).update(last_error=message)
    return outcome


# --- Coming back -------------------------------------------------------------------------------


def connection_by_code(system: str, code: object) -> TicketingConnection | None:
    """The connection an inbound webhook names (any organisation: the secret decides)."""
    return (
        TicketingConnection.objects.select_related("organisation")
        .filter(system=system, code=code)
        .first()
    )


def ticket_for_remote(
    connection: TicketingConnection, *, external_id: str = "", key: str = "", action_code=None
) -> ExternalTicket | None:
    rows = ExternalTicket.objects.filter(connection=connection).select_related("action")
    if external_id and (row := rows.filter(external_id=external_id).first()):
        return row
    if key and (row := rows.filter(external_key=key).first()):
        return row
    if action_code:
        return rows.filter(action__code=action_code).first()
    return None


@dataclass(frozen=True)
class InboundResult:
    outcome: str  # moved | ignored | refused
    detail: str


def remote_status_changed(
    *,
    connection: TicketingConnection,
    ticket: ExternalTicket,
    remote_status: str,
    at: dt.datetime | None,
) -> InboundResult:
    """Apply a status change made in the remote tool to the ticket's action.

    Out-of-order events (older than the last one seen) and repeats are ignored; a move the
    workflow does not allow is recorded on the ticket and reported, not raised, so the sender
    does not retry it forever."""
    from .. import actions

    with transaction.atomic():
        row = ExternalTicket.objects.select_for_update().get(pk=ticket.pk)
        if at is not None and row.remote_updated_at is not None and at < row.remote_updated_at:
            return InboundResult("ignored", _("An older change than one already applied."))
        if remote_status.casefold() == row.remote_status.casefold():
            return InboundResult("ignored", _("The ticket already had this status."))
        row.remote_status = remote_status[:100]
        if at is not None:
            row.remote_updated_at = at
        action = RemediationAction.objects.get(pk=row.action_id)
        target = inbound_status(connection, remote_status)
        detail = ""
        if not target:
            detail = _("“%(status)s” is not mapped to an action status.") % {
                "status": remote_status
            }
        elif (
            target == action.status
            or str((connection.outbound_statuses or {}).get(action.status, "")).casefold()
            == remote_status.casefold()
        ):
            detail = _("The action is already in this status.")
        elif target == ActionStatus.VERIFIED:
            detail = _("A person must verify the work, not a connector.")
        elif action.status == ActionStatus.VERIFIED:
            detail = _("A verified action is reopened in Kakehashi, by a person.")
        if detail:
            row.save(update_fields=["remote_status", "remote_updated_at"])
            return InboundResult("ignored", detail)
        where = f"{connection.get_system_display()} {row.external_key}".strip()
        reason = (
            _("Cancelled in %(where)s.") % {"where": where}
            if target == ActionStatus.CANCELLED
            else ""
        )
        try:
            with transaction.atomic():
                actions.action_transition(
                    action=action,
                    actor=ConnectorActor(connection),
                    status=target,
                    reason=reason,
                    origin=connection.system,
                )
        except ValidationError as exc:
            row.last_error = ("; ".join(exc.messages))[:500]
            row.save(update_fields=["remote_status", "remote_updated_at", "last_error"])
            return InboundResult("refused", row.last_error)
        row.last_error = ""
        row.save(update_fields=["remote_status", "remote_updated_at", "last_error"])
    return InboundResult("moved", _("The action is now %(status)s.") % {"status": target})


# --- Connections (the settings page) -----------------------------------------------------------


def _require_admin(actor) -> None:
    if not getattr(actor, "is_admin", False):
        raise PermissionDenied(_("Only an admin can manage ticketing connections."))


CONNECTION_FIELDS = (
    "enabled",
    "base_url",
    "username",
    "token",
    "project_key",
    "issue_type",
    "table",
    "outbound_statuses",
    "inbound_statuses",
)
PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,39}$")
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,79}$")


def _clean_mapping(value: object, *, keys: list[str] | None, values: list[str] | None) -> dict:
    if not isinstance(value, dict):
        raise ValidationError(_("Give the mapping as pairs of statuses."))
    out = {}
    for k, v in value.items():
        k, v = str(k).strip(), str(v or "").strip()
        if not k or not v:
            continue
        if len(k) > 100 or len(v) > 100:
            raise ValidationError(_("Keep status names under 100 characters."))
        if keys is not None and k not in keys:
            raise ValidationError(_("“%(status)s” is not an action status.") % {"status": k})
        if values is not None and v not in values:
            raise ValidationError(
                _("“%(status)s” is not an action status a connector may set.") % {"status": v}
            )
        out[k] = v
    return out


def _check_base_url(url: str) -> str:
    from . import outbound

    url = url.strip().rstrip("/")
    if not url:
        raise ValidationError({"base_url": _("Give the site's address.")})
    lax = settings.OUTBOUND_ALLOW_PRIVATE
    if not url.startswith("https://") and not (lax or settings.DEBUG):
        raise ValidationError({"base_url": _("Use an https:// address.")})
    if not lax:
        try:
            outbound.check_url(url)
        except outbound.BlockedDestination as exc:
            raise ValidationError({"base_url": str(exc)}) from exc
    return url


def connection_save(*, actor, system: str, **fields: object) -> tuple[TicketingConnection, bool]:
    """Create or change the organisation's connection to `system`; returns it and whether it
    was created (then its inbound secret is new, to show once). A blank token keeps the
    current one. Creating or re-enabling flags every active action for a first sync."""
    _require_admin(actor)
    if system not in TicketSystem.values:
        raise ValidationError(_("Choose Jira or ServiceNow."))
    unknown = set(fields) - set(CONNECTION_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    org = actor.organisation
    with transaction.atomic():
        conn = (
            TicketingConnection.objects.select_for_update()
            .filter(organisation=org, system=system)
            .first()
        )
        created = conn is None
        was_enabled = bool(conn and conn.enabled)
        if created:
            conn = TicketingConnection(
                organisation=org,
                system=system,
                outbound_statuses=dict(DEFAULT_OUTBOUND[system]),
                inbound_statuses=dict(DEFAULT_INBOUND[system]),
                inbound_secret=new_secret(),
            )
        errors: dict[str, str] = {}
        for name, value in fields.items():
            if name == "token" and not value:
                continue
            if name in ("outbound_statuses", "inbound_statuses"):
                try:
                    value = _clean_mapping(
                        value,
                        keys=ActionStatus.values if name == "outbound_statuses" else None,
                        values=INBOUND_TARGETS if name == "inbound_statuses" else None,
                    )
                except ValidationError as exc:
                    errors[name] = exc.messages[0]
                    continue
            elif isinstance(value, str):
                value = value.strip()
            setattr(conn, name, value)
        try:
            conn.base_url = _check_base_url(conn.base_url or "")
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if not conn.username:
            errors["username"] = _("Give the account the connector signs in with.")
        if not conn.token:
            errors["token"] = _("Give the API token or password.")
        if system == TicketSystem.JIRA:
            if not PROJECT_KEY.match(conn.project_key or ""):
                errors["project_key"] = _("Give the project key in capitals, e.g. COMP.")
            if not conn.issue_type:
                errors["issue_type"] = _("Give the issue type, e.g. Task.")
        elif not TABLE_NAME.match(conn.table or ""):
            errors["table"] = _("Give the table name, e.g. incident.")
        if errors:
            raise ValidationError(errors)
        conn.full_clean(exclude=["organisation", "inbound_secret", "token"])
        conn.save()
        if conn.enabled and not was_enabled:
            resync_all(conn)
    return conn, created


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def connection_rotate_secret(*, actor, connection: TicketingConnection) -> str:
    """A new inbound secret; the old one stops working at once."""
    _require_admin(actor)
    secret = new_secret()
    with transaction.atomic():
        connection.inbound_secret = secret
        connection.save(update_fields=["inbound_secret", "updated_at"])
    return secret


def connection_delete(*, actor, connection: TicketingConnection) -> None:
    """Remove the connection and its ticket links (the remote tickets stay where they are)."""
    _require_admin(actor)
    with transaction.atomic():
        connection.delete()


def connection_resync(*, actor, connection: TicketingConnection) -> int:
    _require_admin(actor)
    with transaction.atomic():
        return resync_all(connection)


def connection_test(*, actor, connection: TicketingConnection) -> None:
    """Queue a check of the credentials; the result lands in `last_error`."""
    _require_admin(actor)
    from .. import tasks

    pk = connection.pk
    transaction.on_commit(lambda: tasks.check_ticketing_connection.delay(pk), robust=True)


def connection_check(*, connection_id: int) -> str:
    """Call the remote with the connection's credentials and record the outcome."""
    connection = TicketingConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return "gone"
    try:
        _client(connection.system).check(connection)
    except RemoteError as exc:
        TicketingConnection.objects.filter(pk=connection_id).update(last_error=str(exc)[:500])
        return "failed"
    TicketingConnection.objects.filter(pk=connection_id).update(last_error="")
    return "ok"


# --- Selectors ---------------------------------------------------------------------------------


def connections_for(org: Organisation) -> dict[str, TicketingConnection]:
    return {c.system: c for c in TicketingConnection.objects.for_org(org)}


def connection_for(org: Organisation, system: str) -> TicketingConnection | None:
    return TicketingConnection.objects.for_org(org).filter(system=system).first()


def recent_tickets(org: Organisation, limit: int = RECENT_TICKETS) -> list[ExternalTicket]:
    """The organisation's connector tickets, waiting and failed ones first, then by last sync."""
    return list(
        ExternalTicket.objects.for_org(org)
        .filter(connection__isnull=False)
        .select_related("action")
        .order_by(F("last_synced_at").desc(nulls_first=True), "-id")[:limit]
    )


def tickets_for_action(action: RemediationAction) -> list[ExternalTicket]:
    return list(ExternalTicket.objects.for_org(action.organisation).filter(action=action))


def inbound_url(connection: TicketingConnection) -> str:
    name = "inbound_jira" if connection.system == TicketSystem.JIRA else "inbound_servicenow"
    return settings.BASE_URL + reverse(name, kwargs={"connection_code": connection.code})
