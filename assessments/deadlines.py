"""Reads for the deadlines calendar and for what a catalogue release changes.

Dates and instants. Every entry is dated by a calendar date, but a date only becomes a moment
in a time zone, so each entry also says which instant it means:

- an action's due date ends at 24:00 of that date in the organisation's time zone: the deadline
  is the start of the next day there, and the action is overdue from then on (`overdue_q`);
- a legal application date (and a catalogue milestone) starts at 00:00 of that date in the
  jurisdiction's time zone: Europe/Brussels for the EU, Asia/Tokyo for Japan, and the
  organisation's own zone for international instruments.

Relative states ("overdue", "due today", "in 12 days", "in force") are judged in the
organisation's time zone, with `actions.today_for`.
"""

import datetime as dt
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, Min, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from governance.models import (
    AISystem,
    CatalogueRelease,
    Milestone,
    Obligation,
    Organisation,
    Regulation,
)

from . import actions
from .actions import overdue_q, today_for
from .models import (
    ACTIVE_STATUSES,
    GAP_STATUSES,
    ActionFinding,
    Assessment,
    Finding,
    RemediationAction,
    SystemImpact,
)

BRUSSELS = "Europe/Brussels"
TOKYO = "Asia/Tokyo"
# Where each jurisdiction's dates begin; anything else (international) in the org's zone.
JURISDICTION_ZONES = {"EU": BRUSSELS, "JP": TOKYO}
BOTH_ZONES = (BRUSSELS, TOKYO)

LEGAL, ACTION, MILESTONE = "legal", "action", "milestone"
KINDS = ("all", "legal", "actions")
DEFAULT_PAST_DAYS = 30
DEFAULT_FUTURE_DAYS = 2 * 365
MAX_RANGE_DAYS = 10 * 366


# --- Time zones --------------------------------------------------------------------------------


def zone_for(jurisdiction: str, org: Organisation) -> str:
    return JURISDICTION_ZONES.get(jurisdiction, org.time_zone)


def start_of(day: dt.date, zone: str) -> dt.datetime:
    """00:00 of `day` in `zone`, as an aware datetime in UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC)


def end_of(day: dt.date, zone: str) -> dt.datetime:
    """24:00 of `day` in `zone` (the start of the next day), in UTC."""
    return start_of(day + dt.timedelta(days=1), zone)


def zones_to_show(org: Organisation, defining: str, *, both: bool) -> list[str]:
    """The zones an entry's instant is shown in: the one that defines it and the org's, or
    (both) Brussels and Tokyo side by side, plus the org's own if it is neither."""
    zones = list(BOTH_ZONES) if both else [defining]
    if org.time_zone not in zones:
        zones.append(org.time_zone)
    return zones


# --- Filters -----------------------------------------------------------------------------------


@dataclass
class Filters:
    start: dt.date
    end: dt.date
    kind: str = "all"
    system: AISystem | None = None
    both_zones: bool = False

    @property
    def legal(self) -> bool:
        return self.kind in ("all", "legal")

    @property
    def actions(self) -> bool:
        return self.kind in ("all", "actions")

    def query(self, **changes: str) -> dict[str, str]:
        """The filters as query parameters (for links that keep them)."""
        params = {"from": self.start.isoformat(), "to": self.end.isoformat(), "kind": self.kind}
        if self.system is not None:
            params["system"] = str(self.system.code)
        if self.both_zones:
            params["zones"] = "both"
        params.update(changes)
        return params


def _date(value: str) -> dt.date | None:
    # Only YYYY-MM-DD: fromisoformat would also take "20261122" or week dates.
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    # Dates this far out are typing errors, and a day after 9999-12-31 does not exist.
    return day if actions.DUE_DATE_MIN <= day <= actions.DUE_DATE_MAX else None


def read_filters(
    params: Mapping[str, str], *, today: dt.date, systems: Iterable[AISystem]
) -> tuple[Filters, list[str]]:
    """The page's filters from the query string, and a message for each value that was not
    understood (its default is used instead)."""
    errors = []
    start = today - dt.timedelta(days=DEFAULT_PAST_DAYS)
    end = today + dt.timedelta(days=DEFAULT_FUTURE_DAYS)
    given_start = given_end = None
    if params.get("from"):
        given_start = _date(params["from"])
        if given_start is None:
            errors.append(
                _("“%(value)s” is not a date like 2026-08-02; the calendar starts on %(date)s.")
                % {"value": params["from"], "date": start.isoformat()}
            )
    if params.get("to"):
        given_end = _date(params["to"])
        if given_end is None:
            errors.append(
                _("“%(value)s” is not a date like 2026-08-02; the calendar ends on %(date)s.")
                % {"value": params["to"], "date": end.isoformat()}
            )
    new_start, new_end = given_start or start, given_end or end
    if new_start > new_end:
        errors.append(
            _("The start date comes after the end date; showing %(start)s to %(end)s.")
            % {"start": start.isoformat(), "end": end.isoformat()}
        )
    elif (new_end - new_start).days > MAX_RANGE_DAYS:
        errors.append(
            _("Choose a range of at most ten years; showing %(start)s to %(end)s.")
            % {"start": start.isoformat(), "end": end.isoformat()}
        )
    else:
        start, end = new_start, new_end
    kind = params.get("kind") or "all"
    if kind not in KINDS:
        errors.append(_("Show legal dates, actions or all; showing all."))
        kind = "all"
    system = None
    if params.get("system"):
        system = next((s for s in systems if str(s.code) == params["system"]), None)
        if system is None:
            errors.append(_("There is no such active system; showing every system."))
    zones = params.get("zones") or ""
    if zones not in ("", "both"):
        errors.append(_("Unknown time-zone choice; showing the organisation's time zone."))
    return Filters(start, end, kind, system, both_zones=zones == "both"), errors


# --- The calendar ------------------------------------------------------------------------------


@dataclass
class ZoneTime:
    zone: str
    local: dt.datetime


@dataclass
class Entry:
    kind: str  # legal, action or milestone
    date: dt.date
    instant: dt.datetime  # what the date means, in UTC (see the module's docstring)
    zone: str  # the zone that defines the instant
    state: str  # overdue, today, tomorrow, upcoming or in_force
    days: int  # from today in the org's zone (negative: past)
    uid: str  # stable per entry (iCalendar)
    times: list[ZoneTime] = field(default_factory=list)
    # Legal dates: one entry per date and jurisdiction.
    jurisdiction: str = ""
    regulations: list[tuple[str, str]] = field(default_factory=list)  # (code, short title)
    obligations: list[str] = field(default_factory=list)
    systems: list[AISystem] = field(default_factory=list)
    gaps: int = 0
    action: RemediationAction | None = None
    milestone: Milestone | None = None

    @property
    def overdue_by(self) -> int:
        return -self.days


@dataclass
class Month:
    month: dt.date  # its first day
    entries: list[Entry]


@dataclass
class Calendar:
    today: dt.date
    now: dt.datetime
    months: list[Month]
    count: int
    overdue: int  # overdue actions in the range
    overdue_before: int  # overdue actions due before the range starts
    overdue_since: dt.date | None  # the earliest of those

    @property
    def entries(self) -> list[Entry]:
        return [e for m in self.months for e in m.entries]


def active_systems(org: Organisation) -> list[AISystem]:
    return list(AISystem.objects.for_org(org).active().only("id", "code", "name").order_by("name"))


def _legal_state(instant: dt.datetime, now: dt.datetime, today: dt.date, org_zone) -> tuple:
    days = (instant.astimezone(org_zone).date() - today).days
    if instant <= now:
        return "in_force", days
    return ("today" if days == 0 else "tomorrow" if days == 1 else "upcoming"), days


def _legal_entries(
    org: Organisation,
    filters: Filters,
    systems: dict[int, AISystem],
    now: dt.datetime,
    today: dt.date,
) -> list[Entry]:
    findings = Finding.objects.for_org(org).filter(
        assessment__latest=True,
        system__archived_at__isnull=True,
        applies_from__range=(filters.start, filters.end),
    )
    if filters.system is not None:
        findings = findings.filter(system=filters.system)
    rows = list(
        findings.values("applies_from", "jurisdiction", "regulation_code")
        .annotate(
            codes=ArrayAgg("obligation_code", distinct=True),
            system_ids=ArrayAgg("system_id", distinct=True),
            gaps=Count("id", filter=Q(status__in=GAP_STATUSES)),
        )
        .order_by("applies_from", "jurisdiction", "regulation_code")
    )
    if not rows:
        return []
    titles = {
        r.code: r.short_title
        for r in Regulation.objects.filter(
            release__is_current=True, code__in={row["regulation_code"] for row in rows}
        ).only("code", "short_title_en", "short_title_ja")
    }
    org_zone = zoneinfo.ZoneInfo(org.time_zone)
    grouped: dict[tuple[dt.date, str], list[dict]] = defaultdict(list)
    for row in rows:
        grouped[(row["applies_from"], row["jurisdiction"])].append(row)
    entries = []
    for (day, jurisdiction), group in grouped.items():
        zone = zone_for(jurisdiction, org)
        instant = start_of(day, zone)
        state, days = _legal_state(instant, now, today, org_zone)
        system_ids = {pk for row in group for pk in row["system_ids"]}
        regulations = [row["regulation_code"] for row in group]
        entries.append(
            Entry(
                kind=LEGAL,
                date=day,
                instant=instant,
                zone=zone,
                state=state,
                days=days,
                uid=f"legal-{day.isoformat()}-{jurisdiction}-{org.code}",
                jurisdiction=jurisdiction,
                regulations=[(code, titles.get(code, "")) for code in regulations],
                obligations=sorted({code for row in group for code in row["codes"]}),
                systems=sorted(
                    (systems[pk] for pk in system_ids if pk in systems), key=lambda s: s.name
                ),
                gaps=sum(row["gaps"] for row in group),
            )
        )
    return entries


def _action_entries(
    org: Organisation, filters: Filters, now: dt.datetime, today: dt.date
) -> list[Entry]:
    actions = (
        RemediationAction.objects.for_org(org)
        .filter(
            status__in=ACTIVE_STATUSES,
            due_date__range=(filters.start, filters.end),
            system__archived_at__isnull=True,
        )
        .annotate(is_overdue=ExpressionWrapper(overdue_q(today), output_field=BooleanField()))
        .select_related("system", "owner")
        .order_by("due_date", "id")
    )
    if filters.system is not None:
        actions = actions.filter(system=filters.system)
    entries = []
    for action in actions:
        days = (action.due_date - today).days
        if action.is_overdue:
            state = "overdue"
        else:
            state = "today" if days == 0 else "tomorrow" if days == 1 else "upcoming"
        entries.append(
            Entry(
                kind=ACTION,
                date=action.due_date,
                instant=end_of(action.due_date, org.time_zone),
                zone=org.time_zone,
                state=state,
                days=days,
                uid=f"action-{action.code}",
                action=action,
            )
        )
    return entries


def _overdue_before(org: Organisation, filters: Filters, today: dt.date) -> dict:
    """Overdue actions the range leaves out because they fell due before it starts."""
    rows = RemediationAction.objects.for_org(org).filter(
        overdue_q(today), due_date__lt=filters.start, system__archived_at__isnull=True
    )
    if filters.system is not None:
        rows = rows.filter(system=filters.system)
    return rows.aggregate(count=Count("id"), since=Min("due_date"))


def _milestone_entries(
    org: Organisation, filters: Filters, now: dt.datetime, today: dt.date
) -> list[Entry]:
    """The current release's dates for the organisation's jurisdictions of interest."""
    milestones = Milestone.objects.filter(
        release__is_current=True,
        release__status=CatalogueRelease.Status.PUBLISHED,
        regulation__jurisdiction__in=org.jurisdictions,
        date__range=(filters.start, filters.end),
    ).select_related("regulation", "release")
    org_zone = zoneinfo.ZoneInfo(org.time_zone)
    entries = []
    for milestone in milestones:
        jurisdiction = milestone.regulation.jurisdiction
        zone = zone_for(jurisdiction, org)
        instant = start_of(milestone.date, zone)
        state, days = _legal_state(instant, now, today, org_zone)
        entries.append(
            Entry(
                kind=MILESTONE,
                date=milestone.date,
                instant=instant,
                zone=zone,
                state=state,
                days=days,
                uid=f"milestone-{milestone.code}-{org.code}",
                jurisdiction=jurisdiction,
                regulations=[(milestone.regulation.code, milestone.regulation.short_title)],
                milestone=milestone,
            )
        )
    return entries


_KIND_ORDER = {MILESTONE: 0, LEGAL: 1, ACTION: 2}


def calendar(
    org: Organisation,
    filters: Filters,
    systems: Iterable[AISystem],
    *,
    now: dt.datetime | None = None,
) -> Calendar:
    """The organisation's dated entries in the range, by month and date. A fixed number of
    queries: legal dates (and their regulations' titles), milestones, actions, and the overdue
    actions before the range."""
    now = now or timezone.now()
    today = today_for(org, now)
    by_id = {s.pk: s for s in systems}
    entries: list[Entry] = []
    overdue_before: dict = {"count": 0, "since": None}
    if filters.legal:
        entries += _legal_entries(org, filters, by_id, now, today)
        if filters.system is None:  # catalogue dates concern no system in particular
            entries += _milestone_entries(org, filters, now, today)
    if filters.actions:
        entries += _action_entries(org, filters, now, today)
        overdue_before = _overdue_before(org, filters, today)
    entries.sort(key=lambda e: (e.date, _KIND_ORDER[e.kind], e.instant, e.uid))
    months: list[Month] = []
    for entry in entries:
        entry.times = [
            ZoneTime(zone, entry.instant.astimezone(zoneinfo.ZoneInfo(zone)))
            for zone in zones_to_show(org, entry.zone, both=filters.both_zones)
        ]
        first = entry.date.replace(day=1)
        if not months or months[-1].month != first:
            months.append(Month(first, []))
        months[-1].entries.append(entry)
    return Calendar(
        today=today,
        now=now,
        months=months,
        count=len(entries),
        overdue=sum(1 for e in entries if e.state == "overdue"),
        overdue_before=overdue_before["count"],
        overdue_since=overdue_before["since"],
    )


# --- What a release changes --------------------------------------------------------------------


def _reasons(changed: list[str], removed: list[str], moved: list[dict]) -> dict[str, list[str]]:
    """The obligation codes whose findings a release affects, with why."""
    reasons: dict[str, list[str]] = defaultdict(list)
    for code in changed:
        reasons[code].append("changed")
    for code in removed:
        reasons[code].append("removed")
    for move in moved:
        reasons[move["code"]].append("moved")
    return reasons


@dataclass
class ReleaseRow:
    release: CatalogueRelease
    systems: int = 0
    findings: int = 0
    actions: int = 0


def impact_releases(org: Organisation) -> list[ReleaseRow]:
    """Releases that changed something for the organisation (and the current one), newest
    first, with how many of its systems, current findings and active actions each affects."""
    impacts = list(
        SystemImpact.objects.for_org(org)
        .filter(system__archived_at__isnull=True)
        .values("release_id", "system_id", "changed", "removed", "moved")
    )
    releases = CatalogueRelease.objects.filter(status=CatalogueRelease.Status.PUBLISHED).filter(
        Q(is_current=True) | Q(pk__in={i["release_id"] for i in impacts})
    )
    rows = {r.pk: ReleaseRow(r) for r in releases.order_by("-effective_on", "-id")}
    codes = {code for i in impacts for code in _reasons(i["changed"], i["removed"], i["moved"])}
    findings: dict[tuple[int, str], int] = {}
    actions: dict[int, set[int]] = defaultdict(set)
    if codes:
        findings = {
            (f["system_id"], f["obligation_code"]): f["id"]
            for f in Finding.objects.for_org(org)
            .filter(
                assessment__latest=True,
                system_id__in={i["system_id"] for i in impacts},
                obligation_code__in=codes,
            )
            .values("id", "system_id", "obligation_code")
        }
        for finding_id, action_id in (
            ActionFinding.objects.for_org(org)
            .filter(finding_id__in=list(findings.values()), action__status__in=ACTIVE_STATUSES)
            .values_list("finding_id", "action_id")
        ):
            actions[finding_id].add(action_id)
    covered: dict[int, set[int]] = defaultdict(set)  # release -> actions
    for impact in impacts:
        row = rows.get(impact["release_id"])
        if row is None:  # a draft's impact is nobody's business yet
            continue
        row.systems += 1
        for code in _reasons(impact["changed"], impact["removed"], impact["moved"]):
            finding_id = findings.get((impact["system_id"], code))
            if finding_id is not None:
                row.findings += 1
                covered[row.release.pk] |= actions[finding_id]
    for row in rows.values():
        row.actions = len(covered[row.release.pk])
    return list(rows.values())


@dataclass
class Move:
    code: str
    title: str
    before: dt.date
    after: dt.date
    systems: int = 1


@dataclass
class AffectedFinding:
    finding: Finding
    title: str  # the obligation's, from the new release when it is still there
    reasons: list[str]
    move: Move | None = None


@dataclass
class ActionMove:
    move: Move
    flag: str  # "later": due after the new date; "earlier": due before it; "" on the date


@dataclass
class AffectedAction:
    action: RemediationAction
    codes: list[str]
    moves: list[ActionMove] = field(default_factory=list)


@dataclass
class SystemChange:
    impact: SystemImpact
    added: list[tuple[str, str]]
    removed: list[tuple[str, str]]
    changed: list[tuple[str, str]]
    moved: list[Move]
    findings: list[AffectedFinding]
    actions: list[AffectedAction]
    latest: Assessment | None

    @property
    def system(self) -> AISystem:
        return self.impact.system

    @property
    def reassessed(self) -> bool:
        """Its latest assessment already uses the current release."""
        return self.latest is not None and self.latest.release.is_current


@dataclass
class ReleaseImpact:
    release: CatalogueRelease
    systems: list[SystemChange]
    findings: int
    actions: int
    moves: list[Move]  # aggregated over the systems

    @property
    def pending(self) -> int:
        return sum(1 for s in self.systems if not s.reassessed)


def _flag(due: dt.date | None, after: dt.date) -> str:
    if due is None or due == after:
        return ""
    return "later" if due > after else "earlier"


def release_impact(org: Organisation, release: CatalogueRelease) -> ReleaseImpact:
    """What `release` changes for each of the organisation's active systems: tier,
    obligations, moved dates, and the current findings and active actions concerned. A fixed
    number of queries: impacts, latest assessments, findings, action links, titles."""
    impacts = list(
        SystemImpact.objects.for_org(org)
        .filter(release=release, system__archived_at__isnull=True)
        .select_related("system", "system__owner", "assessment")
        .order_by("system__name", "id")
    )
    if not impacts:
        return ReleaseImpact(release, [], 0, 0, [])
    system_ids = [i.system_id for i in impacts]
    reasons = {i.pk: _reasons(i.changed, i.removed, i.moved) for i in impacts}
    codes = {code for r in reasons.values() for code in r}
    latest = {
        a.system_id: a
        for a in Assessment.objects.for_org(org)
        .filter(latest=True, system_id__in=system_ids)
        .select_related("release")
    }
    findings = {
        (f.system_id, f.obligation_code): f
        for f in Finding.objects.for_org(org)
        .filter(assessment__latest=True, system_id__in=system_ids, obligation_code__in=codes)
        .select_related("obligation")
    }
    links: dict[int, list[RemediationAction]] = defaultdict(list)
    for link in (
        ActionFinding.objects.for_org(org)
        .filter(
            finding_id__in=[f.pk for f in findings.values()], action__status__in=ACTIVE_STATUSES
        )
        .select_related("action", "action__owner")
        .order_by("action__due_date", "action_id")
    ):
        links[link.finding_id].append(link.action)
    # Titles in the user's language: the new release's, else the release the system was
    # assessed on (an obligation the release removes).
    titles: dict[str, str] = {}
    for obligation in Obligation.objects.filter(
        release_id__in={release.pk} | {i.assessment.release_id for i in impacts},
        code__in=codes | {code for i in impacts for code in i.added},
    ).only("code", "release_id", "title_en", "title_ja"):
        if obligation.release_id == release.pk or obligation.code not in titles:
            titles[obligation.code] = obligation.title

    def titled(items: Iterable[str]) -> list[tuple[str, str]]:
        return [(code, titles.get(code, "")) for code in items]

    systems = []
    totals: Counter = Counter()
    action_ids: set[int] = set()
    finding_count = 0
    for impact in impacts:
        moves = {
            m["code"]: Move(
                m["code"],
                titles.get(m["code"], ""),
                dt.date.fromisoformat(m["from"]),
                dt.date.fromisoformat(m["to"]),
            )
            for m in impact.moved
        }
        for move in moves.values():
            totals[(move.code, move.before, move.after)] += 1
        affected = []
        actions: dict[int, AffectedAction] = {}
        for code, why in sorted(reasons[impact.pk].items()):
            finding = findings.get((impact.system_id, code))
            if finding is None:
                continue
            title = titles.get(code) or finding.obligation.title
            affected.append(AffectedFinding(finding, title, why, moves.get(code)))
            for action in links[finding.pk]:
                entry = actions.setdefault(action.pk, AffectedAction(action, []))
                entry.codes.append(code)
                if code in moves:
                    entry.moves.append(
                        ActionMove(moves[code], _flag(action.due_date, moves[code].after))
                    )
        finding_count += len(affected)
        action_ids |= set(actions)
        systems.append(
            SystemChange(
                impact=impact,
                added=titled(impact.added),
                removed=titled(impact.removed),
                changed=titled(impact.changed),
                moved=list(moves.values()),
                findings=affected,
                actions=sorted(
                    actions.values(), key=lambda a: (a.action.due_date or dt.date.max, a.action.pk)
                ),
                latest=latest.get(impact.system_id),
            )
        )
    moves = [
        Move(code, titles.get(code, ""), before, after, systems=n)
        for (code, before, after), n in sorted(
            totals.items(), key=lambda item: (item[0][1], item[0][2], item[0][0])
        )
    ]
    return ReleaseImpact(release, systems, finding_count, len(action_ids), moves)


def systems_to_reassess(org: Organisation, release: CatalogueRelease) -> list[AISystem]:
    """The active systems `release` affects whose latest assessment is not yet on the current
    release."""
    on_current = Assessment.objects.filter(
        system=OuterRef("pk"), latest=True, release__is_current=True
    )
    return list(
        AISystem.objects.for_org(org)
        .active()
        .filter(
            pk__in=SystemImpact.objects.for_org(org).filter(release=release).values("system_id")
        )
        .exclude(Exists(on_current))
        .order_by("name")
    )


# --- iCalendar ---------------------------------------------------------------------------------


def _ics_text(value: str) -> str:
    """TEXT escaped as RFC 5545 3.3.11 says."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _fold(line: str) -> str:
    """Lines of at most 75 octets, continued with CRLF and a space (RFC 5545 3.1), never
    splitting a UTF-8 character."""
    parts, current, size = [], "", 0
    for char in line:
        width = len(char.encode())
        if size + width > (75 if not parts else 74):
            parts.append(current)
            current, size = "", 0
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


def _summary(entry: Entry) -> tuple[str, str]:
    if entry.kind == ACTION and entry.action is not None:
        action = entry.action
        description = _("AI system: %(system)s. Status: %(status)s. Owner: %(owner)s.") % {
            "system": action.system.name,
            "status": action.get_status_display(),
            "owner": action.owner.email if action.owner else _("nobody"),
        }
        return _("Due: %(title)s") % {"title": action.title}, description
    if entry.kind == MILESTONE and entry.milestone is not None:
        return entry.milestone.title, entry.milestone.summary
    regulations = ", ".join(title or code for code, title in entry.regulations)
    summary = _("Applies: %(regulations)s (%(n)s obligations)") % {
        "regulations": regulations,
        "n": len(entry.obligations),
    }
    description = _("Obligations: %(codes)s. AI systems: %(systems)s.") % {
        "codes": ", ".join(entry.obligations),
        "systems": ", ".join(s.name for s in entry.systems),
    }
    return summary, description


def to_ics(org: Organisation, calendar: Calendar) -> str:
    """The calendar's entries as all-day events: a date is a date in every zone."""
    stamp = calendar.now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Kakehashi//Deadlines//EN",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_ics_text(org.name)}",
    ]
    for entry in calendar.entries:
        summary, description = _summary(entry)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{entry.uid}@kakehashi",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{entry.date:%Y%m%d}",
            f"DTEND;VALUE=DATE:{entry.date + dt.timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{_ics_text(summary)}",
            f"DESCRIPTION:{_ics_text(description)}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
