"""Reads for the remediation pages and exports."""

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db.models import Case, F, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce

from governance.models import AISystem, AuditEvent, Organisation, User

from . import actions
from .models import (
    ActionComment,
    ActionEvidence,
    ActionFinding,
    ActionStatus,
    Finding,
    Priority,
    RemediationAction,
)
from .models.actions import PRIORITY_RANK

PRIORITY_ORDER = Case(
    *[When(priority=p, then=Value(rank)) for p, rank in PRIORITY_RANK.items()],
    default=Value(len(PRIORITY_RANK)),
    output_field=IntegerField(),
)
# "due" filters: how far ahead, in days, from today in the organisation's time zone.
DUE_WITHIN = {"week": 7, "month": 30}
# Rows of other tables whose audit events belong to an action's history.
HISTORY_TABLES = (
    ActionComment._meta.db_table,
    ActionEvidence._meta.db_table,
    ActionFinding._meta.db_table,
)


def suggested_priority(findings: Sequence[Finding], due: dt.date | None, org: Organisation) -> str:
    """The priority `action_create` derives for these findings (with obligation__penalty)."""
    return (
        actions.priority_for(findings, due, actions.today_for(org)) if findings else Priority.MEDIUM
    )


def actions_for_list(
    org: Organisation,
    *,
    today: dt.date,
    status: str = "",
    owner: User | None = None,
    unassigned: bool = False,
    priority: str = "",
    system: AISystem | None = None,
    due: str = "",
    search: str = "",
    origin: str = "",
) -> QuerySet[RemediationAction]:
    """The remediation list, soonest due first (no date last), then the most urgent.

    `status` is a status, "all", or "" for the active ones; `due` is "overdue", "week",
    "month" or "none"."""
    rows = RemediationAction.objects.for_org(org).select_related("system", "owner")
    if status == "all":
        pass
    elif status in ActionStatus.values:
        rows = rows.filter(status=status)
    else:
        rows = rows.active()
    if unassigned:
        rows = rows.filter(owner__isnull=True)
    elif owner is not None:
        rows = rows.filter(owner=owner)
    if priority:
        rows = rows.filter(priority=priority)
    if system is not None:
        rows = rows.filter(system=system)
    if due == "overdue":
        rows = rows.filter(actions.overdue_q(today))
    elif due in DUE_WITHIN:
        rows = rows.active().filter(
            due_date__gte=today, due_date__lte=today + dt.timedelta(days=DUE_WITHIN[due])
        )
    elif due == "none":
        rows = rows.filter(due_date__isnull=True)
    if search:
        rows = rows.filter(title__icontains=search)
    if origin:
        rows = rows.filter(origin=origin)
    return rows.order_by(F("due_date").asc(nulls_last=True), PRIORITY_ORDER, "id")


def actions_for_export(rows: QuerySet[RemediationAction]) -> QuerySet[RemediationAction]:
    """The list's rows with what the spreadsheet shows: who completed and verified them, and
    the codes of the obligations they close."""
    return rows.select_related("done_by", "verified_by").prefetch_related(
        Prefetch("findings", queryset=Finding.objects.only("id", "obligation_code"))
    )


def action_systems(org: Organisation) -> QuerySet[AISystem]:
    """The systems the list can be filtered by: the registered ones and any with actions."""
    return (
        AISystem.objects.for_org(org)
        .filter(
            Q(archived_at__isnull=True)
            | Q(pk__in=RemediationAction.objects.for_org(org).values("system_id"))
        )
        .only("id", "code", "name")
        .order_by("name", "id")
    )


def findings_by_codes(org: Organisation, codes: Iterable[object]) -> list[Finding]:
    """Findings of the organisation, with what an action needs to be opened for them."""
    return list(
        Finding.objects.for_org(org)
        .filter(code__in=list(codes))
        .select_related("assessment", "system", "obligation", "obligation__penalty")
        .order_by("obligation_code", "id")
    )


def action_links(action: RemediationAction) -> list[ActionFinding]:
    """The findings an action closes, the latest assessment's first."""
    return list(
        ActionFinding.objects.for_org(action.organisation_id)
        .filter(action=action)
        .select_related("finding__assessment", "finding__obligation")
        .order_by("-finding__assessment__latest", "finding__obligation_code", "-finding_id")
    )


def action_comments(action: RemediationAction) -> QuerySet[ActionComment]:
    return (
        ActionComment.objects.for_org(action.organisation_id)
        .filter(action=action)
        .select_related("author")
        .prefetch_related("mentions")
    )


def action_evidence(action: RemediationAction) -> QuerySet[ActionEvidence]:
    return (
        ActionEvidence.objects.for_org(action.organisation_id)
        .filter(action=action)
        .select_related("added_by")
    )


def action_history(action: RemediationAction, limit: int = 200) -> list[AuditEvent]:
    """The audit trail of the action and of its comments, evidence and links, newest first."""
    return list(
        AuditEvent.objects.for_org(action.organisation_id)
        # The same expression as the index audit_action_children (migration 0005).
        .alias(parent_action=KeyTextTransform("action_id", Coalesce("after", "before")))
        .filter(
            Q(table=RemediationAction._meta.db_table, object_pk=str(action.pk))
            | Q(table__in=HISTORY_TABLES, parent_action=str(action.pk))
        )
        .select_related("actor_user")[:limit]
    )
