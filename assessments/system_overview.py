"""The system page: one AI system as its compliance team reads it, from its latest completed
assessment — classification, obligations by jurisdiction, gaps, remediation and history.

The number of queries is fixed: it does not grow with the findings, actions or versions."""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Prefetch, Q
from django.utils.translation import gettext_lazy as _

from governance.models import AISystem, Membership, Regulation
from governance.registry import versions as registry_versions
from governance.registry_forms import field_label

from .actions import overdue_q, today_for
from .models import Assessment, AssessmentStatus, Finding, FindingStatus, RemediationAction
from .models.actions import ACTIVE_STATUSES, CLOSED_STATUSES, PRIORITY_RANK
from .models.findings import GAP_STATUSES
from .selectors import Classification, classification

JURISDICTIONS = (
    ("EU", _("European Union")),
    ("JP", _("Japan")),
    ("INTL", _("International")),
)
RECENT_RUNS = 10  # assessments read for the status panel and the history
HISTORY = 5  # entries of the history shown on the page
GAPS_SHOWN = 10  # open gaps listed, soonest due first; the rest are a link away
ACTIVE_SHOWN = 25  # active actions listed; the board has them all
CLOSED_SHOWN = 5  # recently closed actions listed


@dataclass
class RegulationRows:
    code: str
    title: str
    findings: list[Finding]


@dataclass
class JurisdictionGroup:
    code: str
    title: str
    regulations: list[RegulationRows] = field(default_factory=list)
    applicable: int = 0
    gaps: int = 0
    met: int = 0


@dataclass
class ActionRow:
    action: RemediationAction
    overdue: bool
    due_today: bool


@dataclass
class HistoryEntry:
    kind: str  # "version" or "assessment"
    at: dt.datetime
    item: Any  # an AISystemVersion or an Assessment
    changed: list[str] = field(default_factory=list)


@dataclass
class SystemOverview:
    # What the status panel reads (the same names as `selectors.system_panel`).
    latest: Assessment | None
    latest_completed: Assessment | None
    recent: list[Assessment]
    classification: Classification | None
    counts: dict[str, int] | None
    can_assess: bool
    open_actions: int
    # The sections.
    today: dt.date
    jurisdictions: list[JurisdictionGroup]
    gaps: list[Finding]
    statuses: list[tuple[str, str, int]]
    actions: list[ActionRow]
    closed_actions: list[ActionRow]
    overdue_actions: int
    closed_count: int
    can_create_action: bool
    history: list[HistoryEntry]
    more_history: bool


def _latest_completed(
    membership: Membership, system: AISystem, recent: list[Assessment]
) -> Assessment | None:
    done = next((a for a in recent if a.status == AssessmentStatus.COMPLETED), None)
    if done is not None or len(recent) < RECENT_RUNS:
        return done
    # Ten runs since the last one that completed (failures, say): look further back.
    return (
        Assessment.objects.for_org(membership.organisation)
        .completed()
        .filter(system=system)
        .select_related("requested_by", "release", "stale_since")
        .order_by("-created_at", "-id")
        .first()
    )


def _findings(assessment: Assessment) -> list[Finding]:
    """The assessment's findings with their obligation and the active actions that work on
    them: two queries."""
    active = RemediationAction.objects.filter(status__in=ACTIVE_STATUSES).order_by("due_date", "id")
    rows = list(
        Finding.objects.filter(assessment=assessment)
        .select_related("obligation", "obligation__provision")
        .prefetch_related(Prefetch("actions", queryset=active, to_attr="active_actions"))
        .order_by("jurisdiction", "regulation_code", "obligation__provision__position", "id")
    )
    titles = dict(JURISDICTIONS)
    for finding in rows:
        finding.jurisdiction_title = str(titles.get(finding.jurisdiction, finding.jurisdiction))
    return rows


def _status_counts(assessment: Assessment) -> dict[tuple[str, str], int]:
    """(jurisdiction, status) → number of findings, counted by the database: one query."""
    rows = (
        Finding.objects.filter(assessment=assessment)
        .order_by()
        .values("jurisdiction", "status")
        .annotate(n=Count("id"))
    )
    return {(row["jurisdiction"], row["status"]): row["n"] for row in rows}


def _jurisdictions(
    assessment: Assessment, findings: list[Finding], counts: dict[tuple[str, str], int]
) -> list[JurisdictionGroup]:
    titles = {
        r.code: r.short_title for r in Regulation.objects.filter(release_id=assessment.release_id)
    }
    groups = {code: JurisdictionGroup(code, str(title)) for code, title in JURISDICTIONS}
    for finding in findings:
        group = groups.get(finding.jurisdiction)
        if group is None:  # a jurisdiction the catalogue may add later
            group = groups[finding.jurisdiction] = JurisdictionGroup(
                finding.jurisdiction, finding.jurisdiction
            )
        if not group.regulations or group.regulations[-1].code != finding.regulation_code:
            title = titles.get(finding.regulation_code, finding.regulation_code)
            group.regulations.append(RegulationRows(finding.regulation_code, title, []))
        group.regulations[-1].findings.append(finding)
    for (jurisdiction, status), n in counts.items():
        group = groups.get(jurisdiction)
        if group is None:
            continue
        group.applicable += n
        if status in GAP_STATUSES:
            group.gaps += n
        elif status == FindingStatus.MET:
            group.met += n
    return [g for g in groups.values() if g.applicable]


def _totals(counts: dict[tuple[str, str], int]) -> dict[str, int]:
    """The same numbers as `selectors.finding_counts`, from the per-jurisdiction counts."""
    totals = {status.value: 0 for status in FindingStatus}
    for (_jurisdiction, status), n in counts.items():
        totals[status] = totals.get(status, 0) + n
    totals["total"] = sum(counts.values())
    totals["gaps"] = sum(totals[s] for s in GAP_STATUSES)
    return totals


def _gaps(findings: list[Finding]) -> list[Finding]:
    """Open gaps, soonest due first, undated last, then in catalogue order."""
    gaps = [f for f in findings if f.is_gap]
    return sorted(gaps, key=lambda f: (f.due_date is None, f.due_date or dt.date.min))


def _actions(
    membership: Membership, system: AISystem, today: dt.date
) -> tuple[list[ActionRow], list[ActionRow], dict[str, int]]:
    """(active rows, recently closed rows, aggregate counts): three queries."""
    org = membership.organisation
    rows = RemediationAction.objects.for_org(org).filter(system=system).select_related("owner")
    active = sorted(
        rows.filter(status__in=ACTIVE_STATUSES).order_by(F("due_date").asc(nulls_last=True), "id")[
            :ACTIVE_SHOWN
        ],
        key=lambda a: (a.due_date is None, a.due_date or dt.date.min, PRIORITY_RANK[a.priority]),
    )
    closed = rows.filter(status__in=CLOSED_STATUSES).order_by("-updated_at", "-id")[:CLOSED_SHOWN]
    counts = (
        RemediationAction.objects.for_org(org)
        .filter(system=system)
        .aggregate(
            active=Count("id", filter=Q(status__in=ACTIVE_STATUSES)),
            overdue=Count("id", filter=overdue_q(today)),
            closed=Count("id", filter=Q(status__in=CLOSED_STATUSES)),
        )
    )

    def row(action: RemediationAction) -> ActionRow:
        due = action.due_date
        live = action.is_active
        return ActionRow(
            action, overdue=bool(live and due and due < today), due_today=live and due == today
        )

    return [row(a) for a in active], [row(a) for a in closed], counts


def _history(system: AISystem, recent: list[Assessment]) -> tuple[list[HistoryEntry], bool]:
    """The latest registry versions and assessments, newest first: one query."""
    entries = [
        HistoryEntry("version", v.changed_at, v, [field_label(n) for n in v.changed])
        for v in registry_versions(system)[: HISTORY + 1]
    ]
    entries += [HistoryEntry("assessment", a.created_at, a) for a in recent]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:HISTORY], len(entries) > HISTORY


def system_overview(membership: Membership, system: AISystem) -> SystemOverview:
    """Everything the system page shows, in a fixed number of queries."""
    org = membership.organisation
    today = today_for(org)
    recent = list(
        Assessment.objects.for_org(org)
        .filter(system=system)
        .select_related("requested_by", "release", "stale_since")
        .order_by("-created_at", "-id")[:RECENT_RUNS]
    )
    done = _latest_completed(membership, system, recent)
    findings: list[Finding] = []
    jurisdictions: list[JurisdictionGroup] = []
    totals: dict[str, int] | None = None
    if done is not None:
        findings = _findings(done)
        counts = _status_counts(done)
        jurisdictions = _jurisdictions(done, findings, counts)
        totals = _totals(counts)
    active, closed, action_counts = _actions(membership, system, today)
    history, more_history = _history(system, recent)
    statuses = [(s.value, str(s.label), totals[s.value]) for s in FindingStatus] if totals else []
    return SystemOverview(
        latest=recent[0] if recent else None,
        latest_completed=done,
        recent=recent,
        classification=classification(done) if done is not None else None,
        counts=totals,
        can_assess=membership.can_edit and not system.is_archived,
        open_actions=action_counts["active"],
        today=today,
        jurisdictions=jurisdictions,
        gaps=_gaps(findings)[:GAPS_SHOWN],
        statuses=statuses,
        actions=active,
        closed_actions=closed,
        overdue_actions=action_counts["overdue"],
        closed_count=action_counts["closed"],
        can_create_action=bool(
            membership.can_manage
            and done is not None
            and done.latest
            and totals
            and totals["gaps"]
            and not system.is_archived
        ),
        history=history,
        more_history=more_history,
    )
