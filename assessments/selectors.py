"""Reads for assessment pages, reports and exports."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import get_language, gettext

from governance.models import (
    ROLES,
    AISystem,
    EuTier,
    Membership,
    Organisation,
    Regulation,
    Role,
)

from .models import (
    Assessment,
    AssessmentBatch,
    AssessmentStatus,
    Evidence,
    Finding,
    FindingStatus,
    RemediationAction,
)
from .models.findings import GAP_STATUSES
from .releases import compiled

ROLE_LABELS = dict(ROLES)


def pick(text: Mapping[str, str] | None) -> str:
    """The active language's text of an {en, ja} mapping, English when Japanese is missing."""
    if not text:
        return ""
    language = (get_language() or "en")[:2]
    return (text.get("ja") if language == "ja" else "") or text.get("en", "")


def system_panel(membership: Membership, system: AISystem) -> dict:
    """What the system page shows about its assessments."""
    recent = list(
        Assessment.objects.for_org(membership.organisation)
        .filter(system=system)
        .select_related("requested_by", "release", "stale_since")
        .order_by("-created_at", "-id")[:10]
    )
    latest_done = next((a for a in recent if a.status == AssessmentStatus.COMPLETED), None)
    return {
        "latest": recent[0] if recent else None,
        "latest_completed": latest_done,
        "recent": recent,
        "classification": classification(latest_done) if latest_done else None,
        "counts": finding_counts(latest_done) if latest_done else None,
        "can_assess": membership.can_edit and not system.is_archived,
        "open_actions": RemediationAction.objects.for_org(membership.organisation)
        .filter(system=system)
        .active()
        .count(),
    }


def assessments(
    org: Organisation, *, status: str = "", review: str = "", stale: bool = False
) -> QuerySet[Assessment]:
    rows = (
        Assessment.objects.for_org(org)
        .select_related("system", "release", "requested_by", "stale_since")
        .order_by("-created_at", "-id")
    )
    if status:
        rows = rows.filter(status=status)
    if review:
        rows = rows.filter(review_state=review, status=AssessmentStatus.COMPLETED)
    if stale:
        rows = rows.filter(stale_since__isnull=False)
    return rows


# --- One assessment ------------------------------------------------------------------------


@dataclass
class LabelView:
    label: str
    title: str
    details: list[str]
    citations: list[str]
    explanations: list[str]


@dataclass
class RuleStepView:
    code: str
    fired: bool
    citation: str
    outcome: str
    condition: str
    atoms: list[tuple[str, bool]]
    explanation: str


@dataclass
class Classification:
    eu_tier: str
    eu_tier_label: str
    gpai: str
    labels: list[LabelView]
    roles: list[dict[str, str]]
    japan: dict[str, Any]
    rules: list[RuleStepView]
    not_applicable: list[dict[str, str]] = field(default_factory=list)


def label_title(label: str) -> str:
    titles = {
        "eu.out_of_scope": gettext("Outside the AI Act (Art. 2)"),
        "eu.prohibited": gettext("Prohibited practice (Art. 5)"),
        "eu.annex1": gettext("High-risk product (Annex I, Section A)"),
        "eu.annex1_section_b": gettext("Annex I, Section B product (sectoral law applies)"),
        "eu.annex3": gettext("High-risk use (Annex III)"),
        "eu.art6_3_derogation": gettext("Art. 6(3) derogation applies"),
        "eu.art6_3_blocked_by_profiling": gettext("Art. 6(3) derogation excluded: profiling"),
        "eu.high_risk": gettext("High-risk AI system"),
        "eu.transparency": gettext("Transparency duties (Art. 50)"),
        "eu.gpai": gettext("General-purpose AI model"),
        "eu.gpai_systemic_risk": gettext("GPAI model with systemic risk"),
        "jp.advanced_ai": gettext("Advanced AI system (Hiroshima Process)"),
        "jp.generative_ai": gettext("Generative AI"),
        "jp.personal_data": gettext("Handles personal information (APPI)"),
    }
    return titles.get(label, label)


def classification(assessment: Assessment) -> Classification | None:
    """The engine's result of a completed assessment, ready for a page or a report."""
    result = assessment.result
    if not result:
        return None
    release = compiled(assessment.release)
    rules = {rule.code: rule for rule in release.rules}
    labels: dict[str, LabelView] = {}
    for hit in result.get("labels", []):
        view = labels.setdefault(
            hit["label"], LabelView(hit["label"], label_title(hit["label"]), [], [], [])
        )
        if hit.get("detail"):
            view.details.append(hit["detail"])
        view.citations.append(hit["citation"])
        rule = rules.get(hit["rule"])
        if rule is not None:
            view.explanations.append(pick(rule.explanation))
    steps = []
    for step in result.get("trail", []):
        if step["kind"] != "rule":
            continue
        rule = rules.get(step["code"])
        steps.append(
            RuleStepView(
                code=step["code"],
                fired=step["fired"],
                citation=step["citation"],
                outcome=step.get("outcome", ""),
                condition=step["condition"],
                atoms=[(a[0], a[1]) for a in step.get("atoms", [])],
                explanation=pick(rule.explanation) if rule else "",
            )
        )
    japan = result.get("japan") or {}
    return Classification(
        eu_tier=result.get("eu_tier", ""),
        eu_tier_label=str(dict(EuTier.choices).get(result.get("eu_tier", ""), "")),
        gpai=result.get("gpai", "none"),
        labels=list(labels.values()),
        roles=[
            {
                "role": r["role"],
                "label": str(ROLE_LABELS.get(r["role"], r["role"])),
                "source": r["source"],
                "citation": r.get("citation", ""),
            }
            for r in result.get("roles", [])
        ],
        japan={
            "roles": [str(ROLE_LABELS.get(r, r)) for r in japan.get("roles", [])],
            "labels": [label_title(label) for label in japan.get("labels", [])],
            "obligations": [
                {**o, "role": str(ROLE_LABELS.get(o["role"], o["role"]))}
                for o in japan.get("obligations", [])
            ],
        },
        rules=steps,
        not_applicable=result.get("not_applicable", []),
    )


def finding_counts(assessment: Assessment) -> dict[str, int]:
    counts = Finding.objects.filter(assessment=assessment).aggregate(
        total=Count("id"),
        gaps=Count("id", filter=Q(status__in=GAP_STATUSES)),
        **{status.value: Count("id", filter=Q(status=status)) for status in FindingStatus},
    )
    return counts


@dataclass
class RegulationGroup:
    code: str
    title: str
    jurisdiction: str
    findings: list[Finding]


def findings_by_regulation(
    assessment: Assessment, *, status: str = "", jurisdiction: str = ""
) -> list[RegulationGroup]:
    """The assessment's findings, grouped by regulation (EU first, then Japan, then the
    international code), with the obligation's text and the evidence count: four queries."""
    rows = (
        Finding.objects.filter(assessment=assessment)
        .select_related("obligation", "obligation__provision", "risk_approved_by")
        .annotate(evidence_count=Count("evidence"))
        .order_by("jurisdiction", "regulation_code", "obligation__provision__position", "id")
    )
    if status:
        rows = rows.filter(status=status)
    if jurisdiction:
        rows = rows.filter(jurisdiction=jurisdiction)
    titles = {
        r.code: r.short_title for r in Regulation.objects.filter(release_id=assessment.release_id)
    }
    groups: dict[str, RegulationGroup] = {}
    order = {"EU": 0, "JP": 1, "INTL": 2}
    for finding in rows:
        group = groups.get(finding.regulation_code)
        if group is None:
            group = groups[finding.regulation_code] = RegulationGroup(
                finding.regulation_code,
                titles.get(finding.regulation_code, finding.regulation_code),
                finding.jurisdiction,
                [],
            )
        group.findings.append(finding)
    return sorted(groups.values(), key=lambda g: (order.get(g.jurisdiction, 9), g.code))


def findings_for_api(assessment: Assessment) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(assessment=assessment)
        .select_related("obligation")
        .order_by("jurisdiction", "regulation_code", "obligation_code")
    )


def finding_evidence(finding: Finding) -> QuerySet[Evidence]:
    return (
        Evidence.objects.for_org(finding.organisation_id)
        .filter(finding=finding)
        .select_related("added_by")
    )


def approvers(org: Organisation) -> QuerySet[Membership]:
    return (
        Membership.objects.for_org(org)
        .filter(role__in=(Role.COMPLIANCE_OFFICER, Role.ADMIN))
        .select_related("user")
        .order_by("user__email")
    )


def batch_progress(batch: AssessmentBatch) -> dict[str, int]:
    counts = Assessment.objects.filter(batch=batch).aggregate(
        queued=Count("id", filter=Q(status=AssessmentStatus.QUEUED)),
        running=Count("id", filter=Q(status=AssessmentStatus.RUNNING)),
        completed=Count("id", filter=Q(status=AssessmentStatus.COMPLETED)),
        failed=Count("id", filter=Q(status=AssessmentStatus.FAILED)),
    )
    done = counts["completed"] + counts["failed"]
    counts["total"] = batch.total
    counts["done"] = done
    counts["percent"] = round(100 * done / batch.total) if batch.total else 100
    counts["finished"] = done >= batch.total
    return counts
