"""Read-side selectors for the regulatory catalogue, shared by the pages and the API.

The catalogue is global: every signed-in person reads it, whatever their organisation. Readers
see published releases; staff also see drafts. A page or request names a release by its code, or
gets the current one. Each selector runs a fixed number of queries, however large the release.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from ..models import (
    ROLES,
    CatalogueRelease,
    CrosswalkLink,
    Jurisdiction,
    Milestone,
    Obligation,
    Provision,
    Regulation,
)

JURISDICTION_ORDER = [Jurisdiction.EU, Jurisdiction.JP, Jurisdiction.INTERNATIONAL]
ROLE_LABELS = dict(ROLES)
# A link says "from is <relationship> of to"; seen from the other end, subset and superset swap.
INVERSE = {"equal": "equal", "subset": "superset", "superset": "subset", "intersect": "intersect"}


# Releases


def visible_releases(user) -> list[CatalogueRelease]:
    """Every release this person may read, newest first: published ones, and drafts for staff."""
    releases = CatalogueRelease.objects.order_by("-effective_on", "-id")
    if not user.is_staff:
        releases = releases.filter(status=CatalogueRelease.Status.PUBLISHED)
    return list(releases)


def pick_release(releases: list[CatalogueRelease], code: str = "") -> CatalogueRelease | None:
    """The release named `code` among `releases`, or the current one when no code is given."""
    if code:
        return next((r for r in releases if r.code == code), None)
    return next((r for r in releases if r.is_current), None)


def get_release(user, code: str = "") -> tuple[CatalogueRelease, list[CatalogueRelease]]:
    """(the release to show, the releases to switch to); 404 for an unknown or hidden code."""
    releases = visible_releases(user)
    release = pick_release(releases, code)
    if release is None:
        raise Http404
    return release, releases


def regulation_exists(release: CatalogueRelease, code: str) -> bool:
    return Regulation.objects.for_release(release).filter(code=code).exists()


# Regulations


def _count(model, **outer) -> Coalesce:
    rows = model.objects.filter(**outer).order_by().values("regulation")
    return Coalesce(
        Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0
    )


def regulations(release: CatalogueRelease, *, jurisdiction: str = "") -> QuerySet[Regulation]:
    found = Regulation.objects.for_release(release).select_related("release")
    if jurisdiction:
        found = found.filter(jurisdiction=jurisdiction)
    return found.order_by("code")


def regulations_by_jurisdiction(release: CatalogueRelease) -> list[tuple[str, list[Regulation]]]:
    """[(jurisdiction label, regulations with provision_count and obligation_count)], EU first."""
    rows = (
        Regulation.objects.for_release(release)
        .annotate(
            provision_count=_count(Provision, regulation=OuterRef("pk")),
            obligation_count=_count(Obligation, regulation=OuterRef("pk")),
        )
        .order_by("code")
    )
    grouped: dict[str, list[Regulation]] = defaultdict(list)
    for regulation in rows:
        grouped[regulation.jurisdiction].append(regulation)
    return [(j.label, grouped[j.value]) for j in JURISDICTION_ORDER if grouped[j.value]]


def regulation_codes(release: CatalogueRelease) -> list[tuple[str, str]]:
    """(code, short title) of every regulation in the release, for filter menus."""
    return [
        (r.code, r.short_title)
        for r in Regulation.objects.for_release(release).only(
            "code", "short_title_en", "short_title_ja"
        )
    ]


@dataclass
class ProvisionNode:
    provision: Provision
    obligations: list[Obligation] = field(default_factory=list)
    children: list["ProvisionNode"] = field(default_factory=list)

    def has_obligations(self) -> bool:
        return bool(self.obligations) or any(c.has_obligations() for c in self.children)


def _prune(nodes: list[ProvisionNode]) -> list[ProvisionNode]:
    kept = []
    for node in nodes:
        if node.has_obligations():
            node.children = _prune(node.children)
            kept.append(node)
    return kept


def regulation_with_provisions(
    release: CatalogueRelease, code: str, *, role: str = "", legal_force: str = ""
) -> tuple[Regulation, list[ProvisionNode]]:
    """The regulation and its provisions as a tree in position order, each with its obligations.

    With a role or legal-force filter, only matching obligations are attached, and provisions
    with none below them are left out.
    """
    try:
        regulation = Regulation.objects.for_release(release).get(code=code)
    except Regulation.DoesNotExist as exc:
        raise Http404 from exc
    nodes = {p.pk: ProvisionNode(p) for p in regulation.provisions.order_by("position", "code")}
    found = obligations(release, role=role, legal_force=legal_force).filter(regulation=regulation)
    for obligation in with_role_labels(found.order_by("code")):
        nodes[obligation.provision_id].obligations.append(obligation)
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.provision.parent_id)
        (parent.children if parent else roots).append(node)
    return regulation, _prune(roots) if role or legal_force else roots


# Obligations


def obligations(
    release: CatalogueRelease,
    *,
    jurisdiction: str = "",
    regulation: str = "",
    role: str = "",
    legal_force: str = "",
    applies_from_after: dt.date | None = None,
    applies_from_before: dt.date | None = None,
    q: str = "",
) -> QuerySet[Obligation]:
    """The release's obligations matching every filter given; the date range is inclusive."""
    found = Obligation.objects.for_release(release).select_related(
        "release", "regulation", "provision", "penalty"
    )
    if jurisdiction:
        found = found.filter(regulation__jurisdiction=jurisdiction)
    if regulation:
        found = found.filter(regulation__code=regulation)
    if role:
        found = found.filter(roles__contains=[role])
    if legal_force:
        found = found.filter(legal_force=legal_force)
    if applies_from_after:
        found = found.filter(applies_from__gte=applies_from_after)
    if applies_from_before:
        found = found.filter(applies_from__lte=applies_from_before)
    if q:
        found = found.filter(
            Q(code__icontains=q) | Q(title_en__icontains=q) | Q(title_ja__icontains=q)
        )
    return found


def with_role_labels(rows) -> list[Obligation]:
    """The obligations as a list, each with `role_labels`: the human names of its roles."""
    rows = list(rows)
    for obligation in rows:
        obligation.role_labels = [str(ROLE_LABELS.get(r, r)) for r in obligation.roles]
    return rows


@dataclass
class LinkView:
    """A crosswalk link seen from one obligation: `relationship` reads "this is … of other"."""

    link: CrosswalkLink
    other: Obligation
    relationship: str
    outgoing: bool

    @property
    def relationship_label(self) -> str:
        return CrosswalkLink.Relationship(self.relationship).label


def _seen_from(link: CrosswalkLink, obligation_id: int) -> LinkView:
    if link.source_id == obligation_id:
        return LinkView(link, link.target, link.relationship, outgoing=True)
    return LinkView(link, link.source, INVERSE[link.relationship], outgoing=False)


def get_obligation(release: CatalogueRelease, code: str) -> Obligation:
    try:
        obligation = obligations(release).get(code=code)
    except Obligation.DoesNotExist as exc:
        raise Http404 from exc
    return with_role_labels([obligation])[0]


def obligation_links(obligation: Obligation) -> list[LinkView]:
    """Its crosswalk links in both directions, ordered by the other obligation's code."""
    links = (
        CrosswalkLink.objects.filter(Q(source=obligation) | Q(target=obligation))
        .select_related("source__regulation", "target__regulation")
        .order_by("id")
    )
    return sorted((_seen_from(link, obligation.pk) for link in links), key=lambda v: v.other.code)


def crosswalk_links(release: CatalogueRelease) -> QuerySet[CrosswalkLink]:
    return (
        CrosswalkLink.objects.for_release(release)
        .select_related("source", "target")
        .order_by("source__code", "target__code")
    )


# Crosswalk matrix


@dataclass
class MatrixRow:
    obligation: Obligation
    cells: list[list[LinkView]]


def crosswalk_matrix(release: CatalogueRelease) -> tuple[list[Regulation], list[MatrixRow]]:
    """EU obligations with links (rows) against the JP and international regulations (columns).

    Each cell lists the links between the row's obligation and that regulation's obligations,
    with the relationship read from the EU side.
    """
    links = CrosswalkLink.objects.for_release(release).select_related(
        "source__regulation", "target__regulation"
    )
    by_row: dict[int, list[LinkView]] = defaultdict(list)
    rows: dict[int, Obligation] = {}
    columns: dict[int, Regulation] = {}
    for link in links:
        ends = [link.source, link.target]
        eu = [o for o in ends if o.regulation.jurisdiction == Jurisdiction.EU]
        if len(eu) != 1:
            continue  # the matrix pairs the EU with the others, not EU/EU or JP/INTL
        view = _seen_from(link, eu[0].pk)
        rows[eu[0].pk] = eu[0]
        columns[view.other.regulation_id] = view.other.regulation
        by_row[eu[0].pk].append(view)
    order = {j.value: i for i, j in enumerate(JURISDICTION_ORDER)}
    ordered_columns = sorted(columns.values(), key=lambda r: (order[r.jurisdiction], r.code))
    matrix = []
    for obligation in sorted(rows.values(), key=lambda o: (o.regulation.code, o.code)):
        views = sorted(by_row[obligation.pk], key=lambda v: v.other.code)
        cells = [[v for v in views if v.other.regulation_id == c.pk] for c in ordered_columns]
        matrix.append(MatrixRow(obligation, cells))
    return ordered_columns, matrix


# Timeline


@dataclass
class TimelineEntry:
    regulation: Regulation
    title: str
    obligation: Obligation | None = None  # None for a milestone
    condition: str = ""  # for a date that holds only on one route
    summary: str = ""


@dataclass
class TimelineDate:
    date: dt.date
    state: str  # "past", "today" or "upcoming"
    entries: list[TimelineEntry]


@dataclass
class DateMove:
    obligation: Obligation
    before: dt.date
    after: dt.date


@dataclass
class Timeline:
    dates: list[TimelineDate]
    compared_with: CatalogueRelease | None = None
    moved: list[DateMove] = field(default_factory=list)
    added: list[Obligation] = field(default_factory=list)
    removed: list[Obligation] = field(default_factory=list)


def _state(date: dt.date, today: dt.date) -> str:
    if date < today:
        return "past"
    return "today" if date == today else "upcoming"


def timeline(
    release: CatalogueRelease, *, today: dt.date, compare: CatalogueRelease | None = None
) -> Timeline:
    """Milestones and application dates by date; against `compare`, what moved, came or went.

    An obligation appears on its applies-from date, or, when its date depends on the route, on
    each dated condition's date with the condition.
    """
    entries: dict[dt.date, list[TimelineEntry]] = defaultdict(list)
    for milestone in Milestone.objects.for_release(release).select_related("regulation"):
        entries[milestone.date].append(
            TimelineEntry(milestone.regulation, milestone.title, summary=milestone.summary)
        )
    rows = list(
        Obligation.objects.for_release(release)
        .select_related("regulation")
        .order_by("regulation__code", "code")
    )
    for obligation in rows:
        dates = {obligation.applies_from: ""}
        if obligation.applies_from_rules:
            dates = {}
            for rule in obligation.applies_from_rules:
                dates.setdefault(dt.date.fromisoformat(rule["date"]), rule["when"])
        for date, condition in dates.items():
            entries[date].append(
                TimelineEntry(obligation.regulation, obligation.title, obligation, condition)
            )
    result = Timeline(
        [TimelineDate(d, _state(d, today), entries[d]) for d in sorted(entries)],
        compared_with=compare,
    )
    if compare is not None:
        before = {
            o.code: o
            for o in Obligation.objects.for_release(compare).only(
                "code", "title_en", "title_ja", "applies_from"
            )
        }
        for obligation in rows:
            old = before.pop(obligation.code, None)
            if old is None:
                result.added.append(obligation)
            elif old.applies_from != obligation.applies_from:
                result.moved.append(DateMove(obligation, old.applies_from, obligation.applies_from))
        result.removed = sorted(before.values(), key=lambda o: o.code)
    return result
