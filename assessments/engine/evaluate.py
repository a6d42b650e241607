"""One AI system's answers, evaluated against a compiled catalogue release.

    result = evaluate(release, answers)
    result.eu_tier                 # "high_risk"
    result.labels_set              # frozenset({"eu.annex3", "eu.high_risk", ...})
    result.applicable              # the obligations that apply, with their dates
    result.trail                   # every rule, role and obligation, with the atoms that decided it

The steps: drop answers to questions that are not asked; run the classification rules in order,
each seeing the labels set before it; work out the roles (answered, plus the Art. 25 shift to
provider); keep each obligation whose roles we hold and whose condition holds, dated by the
earliest route that holds. Nothing here reads the database or the clock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from types import MappingProxyType
from typing import Any

from .conditions import Label, Node, leaves, parse, to_text
from .conditions import evaluate as holds
from .questionnaire import prune
from .release import CompiledRelease, Obligation

FORCES = ("binding", "cooperation_duty", "voluntary")

# Which answer question yields which roles: "provider" in eu_roles is the role "eu.provider".
ROLE_QUESTIONS = (("eu_roles", "eu."), ("jp_roles", "jp."))

# Art. 25: who becomes the provider of a high-risk system. Written in the condition language so
# the trail explains a role shift the way it explains a rule.
ART25_SHIFTS = (
    (
        "Art. 25(1)",
        'label("eu.high_risk") and eu_roles contains any ["deployer", "distributor", "importer"]'
        ' and art25_triggers contains any ["rebrand", "substantial_modification", "repurpose"]',
    ),
    (
        "Art. 25(3)",
        'label("eu.high_risk") and label("eu.annex1") and eu_roles contains "product_manufacturer"'
        ' and art25_triggers contains "own_name_product"',
    ),
)


# --- The result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelHit:
    label: str
    detail: str
    rule: str
    citation: str


@dataclass(frozen=True)
class RoleHit:
    role: str
    source: str  # "answer" | "art25"
    citation: str


@dataclass(frozen=True)
class Applicable:
    code: str
    regulation: str
    jurisdiction: str
    roles: tuple[str, ...]  # the roles we hold that it binds
    applies_from: dt.date
    route: str  # the condition of the dated route that won; "" for the obligation's own date
    legal_force: str
    penalty: str | None
    digest: str


@dataclass(frozen=True)
class NotApplicable:
    code: str
    reason: str  # "role": binds none of our roles | "condition": its condition does not hold


@dataclass(frozen=True)
class Step:
    kind: str  # "rule" | "role" | "obligation"
    code: str
    fired: bool  # the rule fired, the role is held, the obligation applies
    citation: str
    condition: str
    atoms: tuple[tuple[str, bool], ...]
    outcome: str = ""  # the label, the role, or why an obligation does not apply


@dataclass(frozen=True)
class JapanRole:
    role: str
    total: int
    by_force: Mapping[str, int]


@dataclass(frozen=True)
class Japan:
    roles: tuple[str, ...]
    labels: tuple[str, ...]
    obligations: tuple[JapanRole, ...]


@dataclass(frozen=True)
class Result:
    release: str
    release_digest: str
    answers: Mapping[str, Any]  # the answers that counted, after pruning
    eu_tier: str  # not_in_scope | out_of_scope | prohibited | high_risk | limited | minimal
    gpai: str  # none | gpai | systemic
    labels: tuple[LabelHit, ...]
    roles: tuple[RoleHit, ...]
    applicable: tuple[Applicable, ...]
    not_applicable: tuple[NotApplicable, ...]
    japan: Japan
    trail: tuple[Step, ...]

    @property
    def labels_set(self) -> frozenset[str]:
        return frozenset(hit.label for hit in self.labels)

    def label_details(self, label: str) -> list[str]:
        return [hit.detail for hit in self.labels if hit.label == label]

    @property
    def roles_set(self) -> frozenset[str]:
        return frozenset(hit.role for hit in self.roles)

    @property
    def applicable_codes(self) -> frozenset[str]:
        return frozenset(a.code for a in self.applicable)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data: dates as ISO text, tuples as lists. The json module's C encoder
        and decoder walk the result (a trail holds thousands of nodes) many times faster than
        a Python walk would."""
        return json.loads(json.dumps(self, default=_plain))


def _plain(value: Any) -> Any:
    """What the encoder cannot write itself, one level down (it recurses into the answer)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return {name: getattr(value, name) for name in _field_names(type(value))}


@cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind))


# --- Evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Explained:
    """A condition with its simple tests written out once, so a trail costs little to build."""

    node: Node
    atoms: tuple[tuple[str, Node], ...]

    @classmethod
    def of(cls, node: Node) -> _Explained:
        return cls(node, tuple((to_text(leaf), leaf) for leaf in leaves(node)))

    def explain(
        self, answers: Mapping[str, Any], labels: set[str], seen: dict[str, bool]
    ) -> tuple[tuple[str, bool], ...]:
        """`seen` remembers tests of answers across one evaluation; labels are read afresh,
        because rules add them as they go."""
        out = []
        for text, leaf in self.atoms:
            if isinstance(leaf, Label):
                value = leaf.name in labels
            else:
                value = seen.get(text)
                if value is None:
                    value = seen[text] = holds(leaf, answers, labels)
            out.append((text, value))
        return tuple(out)


@dataclass(frozen=True)
class _Plan:
    rules: tuple[_Explained, ...]
    obligations: tuple[_Explained, ...]
    art25: tuple[tuple[str, str, _Explained], ...]


def _plan(release: CompiledRelease) -> _Plan:
    # Kept on the release itself, like its other lookups: compiled releases are cached and shared.
    plan = release.__dict__.get("_evaluation_plan")
    if plan is None:
        plan = _Plan(
            rules=tuple(_Explained.of(rule.when) for rule in release.rules),
            obligations=tuple(_Explained.of(o.applies_when) for o in release.obligations),
            art25=tuple((cite, text, _Explained.of(parse(text))) for cite, text in ART25_SHIFTS),
        )
        object.__setattr__(release, "_evaluation_plan", plan)
    return plan


def _citation(obligation: Obligation) -> str:
    provision = obligation.provision or obligation.code
    if provision.startswith(obligation.regulation):
        return provision
    return f"{obligation.regulation} {provision}"


def _eu_tier(answers: Mapping[str, Any], labels: set[str]) -> str:
    if "EU" not in (answers.get("markets") or ()):
        return "not_in_scope"
    for label, tier in (
        ("eu.out_of_scope", "out_of_scope"),
        ("eu.prohibited", "prohibited"),
        ("eu.high_risk", "high_risk"),
        ("eu.transparency", "limited"),
    ):
        if label in labels:
            return tier
    return "minimal"


def _gpai(labels: set[str]) -> str:
    if "eu.gpai_systemic_risk" in labels:
        return "systemic"
    return "gpai" if "eu.gpai" in labels else "none"


def _roles(
    release: CompiledRelease,
    plan: _Plan,
    answers: Mapping[str, Any],
    labels: set[str],
    seen: dict[str, bool],
) -> tuple[list[RoleHit], list[Step]]:
    hits: list[RoleHit] = []
    trail: list[Step] = []
    for key, prefix in ROLE_QUESTIONS:
        question = release.question(key)
        if question is None:
            continue
        given = answers.get(key) or ()
        for value in question.choice_values:
            held = value in given
            role = prefix + value
            condition = f'{key} contains "{value}"'
            if held:
                hits.append(RoleHit(role, "answer", question.citation))
            trail.append(
                Step("role", role, held, question.citation, condition, ((condition, held),), role)
            )
    for citation, text, shift in plan.art25:
        fired = holds(shift.node, answers, labels)
        if fired and not any(hit.role == "eu.provider" for hit in hits):
            hits.append(RoleHit("eu.provider", "art25", citation))
        atoms = shift.explain(answers, labels, seen)
        trail.append(Step("role", "eu.provider", fired, citation, text, atoms, "eu.provider"))
    return hits, trail


def evaluate(release: CompiledRelease, answers: Mapping[str, Any]) -> Result:
    """Classify the system, work out its roles and the obligations that apply, and say why."""
    plan = _plan(release)
    answers = prune(release, answers)
    trail: list[Step] = []
    seen: dict[str, bool] = {}

    labels: set[str] = set()
    hits: list[LabelHit] = []
    for rule, when in zip(release.rules, plan.rules, strict=True):
        fired = holds(rule.when, answers, labels)
        # Atoms are read before the rule's own label is added, as the rule saw them.
        atoms = when.explain(answers, labels, seen)
        if fired:
            labels.add(rule.label)
            hits.append(LabelHit(rule.label, rule.detail, rule.code, rule.citation))
        trail.append(
            Step("rule", rule.code, fired, rule.citation, rule.when_text, atoms, rule.label)
        )

    roles, role_trail = _roles(release, plan, answers, labels, seen)
    trail.extend(role_trail)
    held = frozenset(hit.role for hit in roles)

    applicable: list[Applicable] = []
    not_applicable: list[NotApplicable] = []
    for obligation, when in zip(release.obligations, plan.obligations, strict=True):
        matched = obligation.roles & held
        condition = holds(obligation.applies_when, answers, labels)
        reason = "" if matched and condition else ("role" if not matched else "condition")
        if reason:
            not_applicable.append(NotApplicable(obligation.code, reason))
        else:
            applies_from, route = obligation.applies_from, ""
            dated = [r for r in obligation.routes if holds(r.when, answers, labels)]
            if dated:
                first = min(dated, key=lambda r: r.date)
                applies_from, route = first.date, first.when_text
            applicable.append(
                Applicable(
                    code=obligation.code,
                    regulation=obligation.regulation,
                    jurisdiction=obligation.jurisdiction,
                    roles=tuple(sorted(matched)),
                    applies_from=applies_from,
                    route=route,
                    legal_force=obligation.legal_force,
                    penalty=obligation.penalty,
                    digest=obligation.digest,
                )
            )
        trail.append(
            Step(
                kind="obligation",
                code=obligation.code,
                fired=not reason,
                citation=_citation(obligation),
                condition=obligation.applies_when_text,
                atoms=when.explain(answers, labels, seen),
                outcome=reason,
            )
        )

    return Result(
        release=release.code,
        release_digest=release.digest,
        answers=MappingProxyType(dict(answers)),
        eu_tier=_eu_tier(answers, labels),
        gpai=_gpai(labels),
        labels=tuple(hits),
        roles=tuple(roles),
        applicable=tuple(applicable),
        not_applicable=tuple(not_applicable),
        japan=_japan(roles, labels, applicable),
        trail=tuple(trail),
    )


def _japan(roles: list[RoleHit], labels: set[str], applicable: list[Applicable]) -> Japan:
    jp_roles = tuple(hit.role for hit in roles if hit.role.startswith("jp."))
    counts = []
    for role in jp_roles:
        by_force = dict.fromkeys(FORCES, 0)
        for item in applicable:
            if role in item.roles:
                by_force[item.legal_force] = by_force.get(item.legal_force, 0) + 1
        counts.append(JapanRole(role, sum(by_force.values()), MappingProxyType(by_force)))
    return Japan(
        roles=jp_roles,
        labels=tuple(sorted(label for label in labels if label.startswith("jp."))),
        obligations=tuple(counts),
    )
