"""Reads for the compliance dashboard, the organisation's findings list and the posture report.

Definitions every number here follows:

- "Current" findings are those of each system's latest completed assessment
  (`Assessment.latest`) for systems that are not archived: older runs and archived systems never
  count.
- Gaps are current findings whose status is in `GAP_STATUSES` (open, partially met, not met).
  Not applicable and risk accepted are neither gaps nor met: they are counted on their own.
- "Today" is the organisation's date (`actions.today_for`); an action is overdue by
  `actions.overdue_q`, and a gap is overdue when its due date is before today.

Every number carries the address of the list that shows exactly the rows it counts, and every
function runs a fixed number of aggregate queries whatever the number of systems.
"""

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncMonth
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from governance.models import (
    AISystem,
    CatalogueRelease,
    EuTier,
    Jurisdiction,
    Membership,
    Organisation,
    Regulation,
)

from .actions import overdue_q
from .models import (
    ACTIVE_STATUSES,
    GAP_STATUSES,
    Assessment,
    Finding,
    FindingStatus,
    RemediationAction,
)
from .reports import pdf_from_html

JURISDICTION_ORDER = ("EU", "JP", "INTL")
# The posture bars: what is met, what is partly met, what is not, what nobody has looked at.
POSTURE_STATUSES = (
    FindingStatus.MET,
    FindingStatus.PARTIALLY_MET,
    FindingStatus.NOT_MET,
    FindingStatus.OPEN,
)
# Counted beside the bars: neither gaps nor met.
OTHER_STATUSES = (FindingStatus.NOT_APPLICABLE, FindingStatus.RISK_ACCEPTED)
TIER_ORDER = (
    EuTier.PROHIBITED,
    EuTier.HIGH_RISK,
    EuTier.LIMITED,
    EuTier.MINIMAL,
    EuTier.OUT_OF_SCOPE,
    EuTier.NOT_IN_SCOPE,
)
NOT_ASSESSED = "unassessed"  # the systems list's `tier` value for a blank tier
DUE_MONTHS = 12
DUE_SOON_DAYS = 30
UPCOMING_DATES = 10
# The posture report lists at most this many systems and overdue actions.
REPORT_ROWS = 500
GAP = "gap"  # the findings list's `status` value for every gap status


# --- Links to the lists behind the numbers -----------------------------------------------------


def _url(name: str, org: Organisation, **params: Any) -> str:
    path = reverse(name, kwargs={"org_code": org.code})
    query = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(query)}" if query else path


def findings_url(org: Organisation, **params: Any) -> str:
    """The organisation's current findings, filtered (see `finding_rows` for the parameters)."""
    return _url("finding_list", org, **params)


def systems_url(org: Organisation, **params: Any) -> str:
    """The systems list; its `tier` filter takes an EuTier value or "unassessed"."""
    return _url("system_list", org, **params)


def actions_url(org: Organisation, **params: Any) -> str:
    """The actions list: `owner` is a membership code or "unassigned"; `due` is "overdue"
    (`overdue_q`) or "month" (active, due from today to `DUE_SOON_DAYS` days ahead)."""
    return _url("action_list", org, **params)


# --- Numbers and bars --------------------------------------------------------------------------


@dataclass
class Number:
    """One figure on the dashboard and the list that shows exactly what it counts."""

    key: str
    label: str
    count: int
    href: str


@dataclass
class Segment:
    """A piece of a horizontal bar, in the units of an SVG view box 100 wide."""

    key: str
    label: str
    count: int
    href: str
    x: str
    width: str


@dataclass
class Row:
    key: str
    label: str
    total: Number
    cells: list[Number]  # one per chart column
    extra: list[Number] = field(default_factory=list)  # small columns beside the bar
    title: str = ""  # a longer name (a regulation's full title)
    segments: list[Segment] = field(default_factory=list)
    describe: str = ""  # the bar in words, for assistive technology


@dataclass
class Chart:
    key: str
    title: str
    caption: str
    columns: list[tuple[str, str]]  # (key, label) of each series, in bar order
    rows: list[Row]
    extra_columns: list[tuple[str, str]] = field(default_factory=list)
    row_heading: str = ""


def _layout(chart: Chart) -> Chart:
    """Place each row's segments on a shared scale (the longest bar fills the width) and say
    what the bar shows in words. The small columns come last in a bar, in lighter colours."""
    longest = max((sum(c.count for c in [*row.cells, *row.extra]) for row in chart.rows), default=0)
    for row in chart.rows:
        x = 0.0
        row.segments = []
        numbers = [n for n in [*row.cells, *row.extra] if n.count]
        for n in numbers:
            width = 100 * n.count / longest
            row.segments.append(
                Segment(n.key, n.label, n.count, n.href, f"{x:.3f}", f"{width:.3f}")
            )
            x += width
        if len(chart.columns) == 1:
            row.describe = f"{row.label}: {row.total.count}"
        else:
            parts = "; ".join(f"{n.label}: {n.count}" for n in numbers)
            row.describe = f"{row.label} — {parts or 0}"
    return chart


# --- Current findings --------------------------------------------------------------------------


def current_findings(org: Organisation) -> QuerySet[Finding]:
    """The organisation's current findings: those of each system's latest completed assessment
    (`assessment.latest`), for systems that are not archived."""
    return Finding.objects.for_org(org).filter(
        assessment__latest=True, system__archived_at__isnull=True
    )


def current_regulations() -> dict[str, Regulation]:
    """The regulations of the current catalogue release, by code (their titles follow the
    active language). One query."""
    rows = Regulation.objects.filter(
        release__is_current=True, release__status=CatalogueRelease.Status.PUBLISHED
    ).select_related("release")
    return {r.code: r for r in rows.order_by("jurisdiction", "code")}


def _jurisdiction_key(code: str) -> tuple[int, str]:
    return (JURISDICTION_ORDER.index(code) if code in JURISDICTION_ORDER else 9, code)


def finding_grid(org: Organisation, today: dt.date) -> list[dict[str, Any]]:
    """Current findings counted by (jurisdiction, regulation, due month) in one aggregate
    query: per status (`n_<status>`), and the gaps due before `today` (`late_gaps`) or not
    (`gaps`). Both the posture and the gaps calendar are sums over these rows, whose number
    grows with regulations and due months, never with systems."""
    late = Q(due_date__lt=today)
    gap = Q(status__in=GAP_STATUSES)
    return list(
        current_findings(org)
        .annotate(month=TruncMonth("due_date"))
        .values("jurisdiction", "regulation_code", "month")
        .annotate(
            **{f"n_{s}": Count("id", filter=Q(status=s)) for s in FindingStatus.values},
            late_gaps=Count("id", filter=gap & late),
            gaps=Count("id", filter=gap & (~late | Q(due_date__isnull=True))),
        )
        .order_by()
    )


@dataclass
class PostureCounts:
    """Current findings by status: per jurisdiction and per regulation."""

    by_jurisdiction: dict[str, dict[str, int]]
    by_regulation: dict[str, dict[str, int]]

    @property
    def total(self) -> int:
        return sum(sum(counts.values()) for counts in self.by_regulation.values())


def posture_counts(grid: list[dict[str, Any]]) -> PostureCounts:
    """The posture from `finding_grid`: every status counted per regulation, and per
    jurisdiction as the sum of its regulations. Met, partially met, not met and open make the
    posture bars; not applicable and risk accepted are shown beside them."""
    empty = dict.fromkeys(FindingStatus.values, 0)
    by_jurisdiction: dict[str, dict[str, int]] = {j: dict(empty) for j in JURISDICTION_ORDER}
    by_regulation: dict[str, dict[str, int]] = {}
    jurisdiction_of: dict[str, str] = {}
    for row in grid:
        code, jurisdiction = row["regulation_code"], row["jurisdiction"]
        jurisdiction_of[code] = jurisdiction
        regulation = by_regulation.setdefault(code, dict(empty))
        totals = by_jurisdiction.setdefault(jurisdiction, dict(empty))
        for status in FindingStatus.values:
            regulation[status] += row[f"n_{status}"]
            totals[status] += row[f"n_{status}"]
    regulations = sorted(by_regulation, key=lambda c: (_jurisdiction_key(jurisdiction_of[c]), c))
    return PostureCounts(
        by_jurisdiction={
            j: by_jurisdiction[j] for j in sorted(by_jurisdiction, key=_jurisdiction_key)
        },
        by_regulation={code: by_regulation[code] for code in regulations},
    )


def _posture_row(
    org: Organisation, key: str, label: str, counts: dict[str, int], **filters: str
) -> Row:
    labels = dict(FindingStatus.choices)

    def number(status: str) -> Number:
        href = findings_url(org, **filters, status=status)
        return Number(status, str(labels[status]), counts[status], href)

    return Row(
        key=key,
        label=label,
        total=Number("total", _("Total"), sum(counts.values()), findings_url(org, **filters)),
        cells=[number(s) for s in POSTURE_STATUSES],
        extra=[number(s) for s in OTHER_STATUSES],
    )


def _posture_columns() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    labels = dict(FindingStatus.choices)
    return (
        [(s.value, str(labels[s])) for s in POSTURE_STATUSES],
        [(s.value, str(labels[s])) for s in OTHER_STATUSES],
    )


def posture_charts(
    org: Organisation, counts: PostureCounts, regulations: dict[str, Regulation]
) -> tuple[Chart, Chart]:
    """The posture by jurisdiction and by regulation, with a link behind every number."""
    names = dict(Jurisdiction.choices)
    columns, extra = _posture_columns()
    by_jurisdiction = Chart(
        key="jurisdiction",
        title=_("Posture by jurisdiction"),
        caption=_("Current findings by jurisdiction and status"),
        columns=columns,
        extra_columns=extra,
        row_heading=_("Jurisdiction"),
        rows=[
            _posture_row(org, code, str(names.get(code, code)), n, jurisdiction=code)
            for code, n in counts.by_jurisdiction.items()
        ],
    )
    regulation_rows = []
    for code, n in counts.by_regulation.items():
        row = _posture_row(org, code, code, n, regulation=code)
        regulation = regulations.get(code)
        row.title = regulation.short_title if regulation else ""
        regulation_rows.append(row)
    by_regulation = Chart(
        key="regulation",
        title=_("Posture by regulation"),
        caption=_("Current findings by regulation and status"),
        columns=columns,
        extra_columns=extra,
        row_heading=_("Regulation"),
        rows=regulation_rows,
    )
    return _layout(by_jurisdiction), _layout(by_regulation)


# --- Systems by EU tier ------------------------------------------------------------------------


def system_counts(org: Organisation) -> tuple[dict[str, int], int]:
    """Active (not archived) systems by EU tier, blank meaning not assessed yet; and how many
    of them a later release would change (their latest assessment is stale, as
    `services.stale_system_count` counts them). One query."""
    stale = Assessment.objects.filter(system=OuterRef("pk"), latest=True, stale_since__isnull=False)
    rows = list(
        AISystem.objects.for_org(org)
        .active()
        .annotate(is_stale=Exists(stale))
        .values("eu_tier")
        .annotate(n=Count("id"), stale=Count("id", filter=Q(is_stale=True)))
        .order_by()
    )
    found = {row["eu_tier"]: row["n"] for row in rows}
    counts = {tier.value: found.pop(tier.value, 0) for tier in TIER_ORDER}
    counts[""] = found.pop("", 0)
    counts.update(found)  # a tier this code does not know yet still counts
    return counts, sum(row["stale"] for row in rows)


def tier_chart(org: Organisation, counts: dict[str, int]) -> Chart:
    """Systems by EU tier; each number opens the systems list filtered by that tier."""
    names = dict(EuTier.choices)
    rows = []
    for tier, n in counts.items():
        label = str(names.get(tier, tier)) if tier else _("Not assessed")
        number = Number(tier or NOT_ASSESSED, label, n, systems_url(org, tier=tier or NOT_ASSESSED))
        rows.append(Row(key=number.key, label=label, total=number, cells=[number]))
    return _layout(
        Chart(
            key="tier",
            title=_("Systems by EU tier"),
            caption=_("Active AI systems by the EU tier of their latest assessment"),
            columns=[("systems", _("Systems"))],
            row_heading=_("EU tier"),
            rows=rows,
        )
    )


# --- Open gaps by due month --------------------------------------------------------------------


def _add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass
class DueBucket:
    kind: str  # overdue, month, later, none
    month: dt.date | None  # the first day of the month (kind "month")
    count: int


def gaps_by_due_month(grid: list[dict[str, Any]], today: dt.date) -> list[DueBucket]:
    """The gaps calendar from `finding_grid`: overdue (due before `today`), each of the twelve
    months from this one (this month's bucket holds what is due from today on), later, and no
    due date."""
    first = _add_months(today, 0)
    end = _add_months(today, DUE_MONTHS)
    months = {_add_months(today, i): 0 for i in range(DUE_MONTHS)}
    overdue = later = undated = 0
    for row in grid:
        overdue += row["late_gaps"]
        month = row["month"]
        if month is None:
            undated += row["gaps"]
        elif month >= end:
            later += row["gaps"]
        elif month >= first:
            months[month] += row["gaps"]
    return [
        DueBucket("overdue", None, overdue),
        *(DueBucket("month", month, n) for month, n in months.items()),
        DueBucket("later", end, later),
        DueBucket("none", None, undated),
    ]


def gaps_chart(org: Organisation, buckets: Sequence[DueBucket], today: dt.date) -> Chart:
    """Open gaps by due month; each number opens the findings list of exactly those gaps."""
    this_month = _add_months(today, 0)
    rows = []
    for bucket in buckets:
        if bucket.kind == "overdue":
            label, key = _("Overdue"), "overdue"
            href = findings_url(org, status=GAP, due="overdue")
        elif bucket.kind == "none":
            label, key = _("No due date"), "none"
            href = findings_url(org, status=GAP, due="none")
        elif bucket.kind == "later":
            label, key = _("Later"), "later"
            href = findings_url(org, status=GAP, due_from=bucket.month.isoformat())
        else:
            label, key = f"{bucket.month:%Y-%m}", "month"
            # This month's gaps due before today are in "overdue", not here.
            since = today.isoformat() if bucket.month == this_month else ""
            href = findings_url(org, status=GAP, due_month=f"{bucket.month:%Y-%m}", due_from=since)
        number = Number(key, label, bucket.count, href)
        rows.append(Row(key=key, label=label, total=number, cells=[number]))
    return _layout(
        Chart(
            key="due",
            title=_("Open gaps by due month"),
            caption=_("Current gaps (open, partially met, not met) by due month"),
            columns=[("gaps", _("Gaps"))],
            row_heading=_("Due"),
            rows=rows,
        )
    )


# --- Remediation actions -----------------------------------------------------------------------


@dataclass
class OwnerCount:
    kind: str  # member, unassigned, or former (an owner who has left the organisation)
    member_code: str
    name: str
    overdue: int


@dataclass
class ActionCounts:
    overdue: int
    due_soon: int
    by_owner: list[OwnerCount]


def action_counts(org: Organisation, today: dt.date) -> ActionCounts:
    """Active actions overdue (`overdue_q`) by owner, and active actions due from today to
    `DUE_SOON_DAYS` days ahead: one query. Owners are named by their membership code, which the
    actions list filters by."""
    horizon = today + dt.timedelta(days=DUE_SOON_DAYS)
    member = Membership.objects.for_org(org).filter(user=OuterRef("owner")).values("code")[:1]
    rows = (
        RemediationAction.objects.for_org(org)
        .filter(status__in=ACTIVE_STATUSES, due_date__lte=horizon)
        .annotate(member_code=Subquery(member))
        .values("owner", "owner__full_name", "owner__email", "member_code")
        .annotate(
            overdue=Count("id", filter=overdue_q(today)),
            soon=Count("id", filter=Q(due_date__gte=today)),
        )
        .order_by()
    )
    by_owner = []
    overdue = due_soon = 0
    for row in rows:
        overdue += row["overdue"]
        due_soon += row["soon"]
        if not row["overdue"]:
            continue
        if row["owner"] is None:
            kind, name = "unassigned", _("Unassigned")
        else:
            kind = "member" if row["member_code"] else "former"
            name = row["owner__full_name"] or row["owner__email"]
        by_owner.append(OwnerCount(kind, str(row["member_code"] or ""), name, row["overdue"]))
    # Unassigned work first, then the longest overdue lists.
    by_owner.sort(key=lambda o: (o.kind != "unassigned", -o.overdue, o.name.casefold()))
    return ActionCounts(overdue=overdue, due_soon=due_soon, by_owner=by_owner)


def owner_chart(org: Organisation, counts: ActionCounts) -> Chart:
    """Overdue actions by owner; each number opens the actions list filtered by that owner."""
    rows = []
    for owner in counts.by_owner:
        if owner.kind == "member":
            key, label = owner.member_code, owner.name
            href = actions_url(org, owner=owner.member_code, due="overdue")
        elif owner.kind == "unassigned":
            key, label = "unassigned", owner.name
            href = actions_url(org, owner="unassigned", due="overdue")
        else:
            # The list cannot filter by someone who has left: it shows every overdue action.
            key, label = "former", _("%(name)s (no longer a member)") % {"name": owner.name}
            href = actions_url(org, due="overdue")
        number = Number(key, label, owner.overdue, href)
        rows.append(Row(key=key, label=label, total=number, cells=[number]))
    return _layout(
        Chart(
            key="owner",
            title=_("Overdue actions by owner"),
            caption=_("Active remediation actions past their due date, by owner"),
            columns=[("actions", _("Overdue actions"))],
            row_heading=_("Owner"),
            rows=rows,
        )
    )


# --- Upcoming legal dates ----------------------------------------------------------------------


@dataclass
class LegalDate:
    day: dt.date
    systems: int
    findings: int
    regulations: list[str]
    href: str


def upcoming_dates(
    org: Organisation, today: dt.date, limit: int = UPCOMING_DATES
) -> list[LegalDate]:
    """The next application dates (after `today`) of current findings, with how many systems
    and findings each concerns and which regulations: one query."""
    rows = (
        current_findings(org)
        .filter(applies_from__gt=today)
        .values("applies_from")
        .annotate(
            systems=Count("system", distinct=True),
            findings=Count("id"),
            regulations=ArrayAgg("regulation_code", distinct=True, order_by="regulation_code"),
        )
        .order_by("applies_from")[:limit]
    )
    return [
        LegalDate(
            day=row["applies_from"],
            systems=row["systems"],
            findings=row["findings"],
            regulations=row["regulations"],
            href=findings_url(org, applies_from=row["applies_from"].isoformat()),
        )
        for row in rows
    ]


# --- The whole dashboard -----------------------------------------------------------------------


@dataclass
class Dashboard:
    today: dt.date
    headline: list[Number]
    stale: Number
    posture_jurisdiction: Chart
    posture_regulation: Chart
    tiers: Chart
    gaps: Chart
    owners: Chart
    dates: list[LegalDate]
    regulations: dict[str, Regulation]
    has_findings: bool

    @property
    def number(self) -> dict[str, Number]:
        return {n.key: n for n in self.headline}


def dashboard(org: Organisation, today: dt.date) -> Dashboard:
    """Everything the dashboard shows, in a fixed number of queries (five) whatever the
    number of systems, findings and actions."""
    regulations = current_regulations()
    grid = finding_grid(org, today)
    posture = posture_counts(grid)
    tiers, stale = system_counts(org)
    due = gaps_by_due_month(grid, today)
    actions = action_counts(org, today)
    by_jurisdiction, by_regulation = posture_charts(org, posture, regulations)
    active = sum(tiers.values())
    gaps = sum(b.count for b in due)
    headline = [
        Number("active_systems", _("Active systems"), active, systems_url(org)),
        Number(
            "assessed_systems",
            _("Assessed systems"),
            active - tiers.get("", 0),
            systems_url(org, tier="assessed"),
        ),
        Number("open_gaps", _("Open gaps"), gaps, findings_url(org, status=GAP)),
        Number(
            "overdue_actions",
            _("Overdue actions"),
            actions.overdue,
            actions_url(org, due="overdue"),
        ),
        Number(
            "due_soon",
            _("Actions due in %(days)s days") % {"days": DUE_SOON_DAYS},
            actions.due_soon,
            actions_url(org, due="month"),
        ),
    ]
    return Dashboard(
        today=today,
        headline=headline,
        stale=Number(
            "stale_systems",
            _("Systems to re-assess"),
            stale,
            _url("assessment_list", org, stale="1"),
        ),
        posture_jurisdiction=by_jurisdiction,
        posture_regulation=by_regulation,
        tiers=tier_chart(org, tiers),
        gaps=gaps_chart(org, due, today),
        owners=owner_chart(org, actions),
        dates=upcoming_dates(org, today),
        regulations=regulations,
        has_findings=posture.total > 0,
    )


# --- The organisation's findings list ----------------------------------------------------------


def finding_rows(
    org: Organisation,
    *,
    today: dt.date,
    jurisdiction: str = "",
    regulation: str = "",
    status: str = "",
    due_month: dt.date | None = None,
    due: str = "",
    due_from: dt.date | None = None,
    applies_from: dt.date | None = None,
    system: Any = None,
    q: str = "",
) -> QuerySet[Finding]:
    """Current findings, filtered, soonest due first (undated last).

    `status` is a FindingStatus value or "gap" (any gap status); `due_month` is the first day
    of a month; `due` is "overdue" (due before `today`) or "none" (no due date); `due_from`
    keeps findings due on or after that day; `system` is a system code; `q` matches obligation
    codes."""
    rows = current_findings(org).select_related("system", "obligation")
    if jurisdiction:
        rows = rows.filter(jurisdiction=jurisdiction)
    if regulation:
        rows = rows.filter(regulation_code=regulation)
    if status == GAP:
        rows = rows.filter(status__in=GAP_STATUSES)
    elif status:
        rows = rows.filter(status=status)
    if due_month is not None:
        rows = rows.filter(due_date__gte=due_month, due_date__lt=_add_months(due_month, 1))
    if due == "overdue":
        rows = rows.filter(due_date__lt=today)
    elif due == "none":
        rows = rows.filter(due_date__isnull=True)
    if due_from is not None:
        rows = rows.filter(due_date__gte=due_from)
    if applies_from is not None:
        rows = rows.filter(applies_from=applies_from)
    if system:
        rows = rows.filter(system__code=system)
    if q:
        rows = rows.filter(obligation_code__icontains=q)
    return rows.order_by(
        F("due_date").asc(nulls_last=True),
        "system__name",
        "jurisdiction",
        "regulation_code",
        "obligation_code",
        "id",
    )


def system_named(org: Organisation, code: Any) -> AISystem | None:
    """The system a findings filter names, archived or not (None when it is not ours)."""
    return AISystem.objects.for_org(org).filter(code=code).first()


# --- The posture report ------------------------------------------------------------------------


def system_summaries(org: Organisation, today: dt.date, limit: int = REPORT_ROWS) -> list[AISystem]:
    """Active systems by name, each annotated with its current gaps (`open_gaps`) and overdue
    actions (`overdue_actions`): one query."""
    gaps = (
        Finding.objects.filter(
            system=OuterRef("pk"), assessment__latest=True, status__in=GAP_STATUSES
        )
        .order_by()
        .values("system")
        .annotate(n=Count("id"))
        .values("n")
    )
    overdue = (
        RemediationAction.objects.filter(overdue_q(today), system=OuterRef("pk"))
        .order_by()
        .values("system")
        .annotate(n=Count("id"))
        .values("n")
    )
    return list(
        AISystem.objects.for_org(org)
        .active()
        .annotate(
            open_gaps=Coalesce(Subquery(gaps), 0), overdue_actions=Coalesce(Subquery(overdue), 0)
        )
        .order_by("name", "id")[:limit]
    )


def overdue_actions(
    org: Organisation, today: dt.date, limit: int = REPORT_ROWS
) -> list[RemediationAction]:
    """Overdue actions, the longest overdue first: one query."""
    return list(
        RemediationAction.objects.for_org(org)
        .filter(overdue_q(today))
        .select_related("system", "owner")
        .order_by("due_date", "id")[:limit]
    )


def posture_report_context(org: Organisation, today: dt.date) -> dict[str, Any]:
    """What the posture report shows, in the active language and time zone."""
    board = dashboard(org, today)
    release = next(iter(board.regulations.values())).release if board.regulations else None
    return {
        "org": org,
        "today": today,
        "generated_at": timezone.localtime(timezone=zoneinfo.ZoneInfo(org.time_zone)),
        "release": release,
        "board": board,
        "systems": system_summaries(org, today),
        "overdue": overdue_actions(org, today),
        "report_rows": REPORT_ROWS,
    }


def posture_report_html(org: Organisation, today: dt.date) -> str:
    """The standalone HTML that WeasyPrint turns into the PDF, in the active language."""
    context = {
        **posture_report_context(org, today),
        "language": translation.get_language() or "en",
    }
    return render_to_string("assessments/posture_pdf.html", context)


def posture_report_pdf(org: Organisation, today: dt.date, *, base_url: str) -> bytes:
    """The posture report as a PDF, in the active language and time zone."""
    return pdf_from_html(posture_report_html(org, today), base_url)
