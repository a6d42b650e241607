"""Questionnaire answers for the bench's AI systems: realistic, varied, and valid.

Each system is one of a few dozen kinds (a recruitment screener, a credit scorer, a support
chatbot, a foundation model, medical imaging software ...) that set its Annex III use cases,
Annex I legislation and the odds of its other answers; markets, roles, company size and the
rest are drawn per system from a seeded generator. Every question of the release gets an
answer by its key (or, for a key this module does not know, by its type), and the engine's own
`questionnaire.validate` then keeps the answers to the questions actually asked. The starting
points are the answer sets of tests/factories.py and seed_demo (the hiring tool, the chatbot).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from assessments.engine import questionnaire
from assessments.engine.release import CompiledRelease, Question


@dataclass(frozen=True)
class Kind:
    label: str
    weight: float
    units: tuple[str, ...]
    purpose: str  # "{market}" is replaced by where it is used
    annex3: tuple[str, ...] = ()
    annex1: tuple[str, ...] = ()
    # Odds of "yes" (booleans) or weights of the choices (choice questions), by question key.
    odds: dict[str, Any] = field(default_factory=dict)
    sourcing: tuple[tuple[str, float], ...] = (
        ("in_house", 0.5),
        ("third_party", 0.3),
        ("hybrid", 0.15),
        ("open_source", 0.05),
    )


KINDS = (
    Kind("Recruitment screener", 6, ("People", "Talent acquisition"),
         "Ranks job applications for recruiters in {market}.", annex3=("4a",),
         odds={"profiles_natural_persons": 0.85, "interacts_with_people": 0.3}),
    Kind("Workforce analytics", 3, ("People", "Operations"),
         "Scores employee performance and suggests promotions in {market}.", annex3=("4b",),
         odds={"profiles_natural_persons": 0.9}),
    Kind("Credit scoring", 4, ("Retail banking", "Risk"),
         "Scores the creditworthiness of consumer loan applicants in {market}.",
         annex3=("5b",), odds={"profiles_natural_persons": 0.95}),
    Kind("Insurance pricing", 3, ("Insurance", "Actuarial"),
         "Prices life and health insurance for applicants in {market}.", annex3=("5c",),
         odds={"profiles_natural_persons": 0.9}),
    Kind("Admissions ranking", 1.5, ("Education services",),
         "Ranks applicants to training programmes in {market}.", annex3=("3a", "3b")),
    Kind("Exam proctoring", 1, ("Education services",),
         "Flags irregular behaviour during online exams taken in {market}.",
         annex3=("3c", "3d"), odds={"emotion_or_biometric_categorisation": 0.3}),
    Kind("Biometric access control", 1.5, ("Security", "Facilities"),
         "Identifies staff and visitors at building entrances in {market}.",
         annex3=("1a", "1c"), odds={"emotion_or_biometric_categorisation": 0.4}),
    Kind("Grid load balancing", 1, ("Energy", "Operations"),
         "Balances load in the electricity distribution grid in {market}.", annex3=("2a",)),
    Kind("Benefits eligibility check", 1, ("Public sector services",),
         "Checks eligibility for public assistance benefits in {market}.", annex3=("5a",),
         odds={"deployer_public_status": {"public_body": 5, "public_service": 4, "neither": 1}}),
    Kind("Emergency call triage", 0.7, ("Health services",),
         "Prioritises emergency calls for dispatchers in {market}.", annex3=("5d",)),
    Kind("Fraud detection", 5, ("Payments", "Risk"),
         "Flags suspicious card payments for review in {market}.",
         odds={"crime_risk_prediction": {"no": 90, "supports_human_assessment": 10}}),
    Kind("Customer support chatbot", 9, ("Customer service",),
         "Answers customers' questions on the web shop in {market}.",
         odds={"interacts_with_people": 1.0, "uses_generative_ai": 0.85}),
    Kind("Marketing content generator", 6, ("Marketing",),
         "Drafts campaign images and copy for {market}.",
         odds={"generates_synthetic_content": 1.0, "generates_deep_fakes": 0.25,
               "uses_generative_ai": 1.0}),
    Kind("Knowledge assistant", 6, ("IT", "Legal", "Finance"),
         "Answers staff questions from internal documents in {market}.",
         odds={"interacts_with_people": 0.9, "uses_generative_ai": 1.0}),
    Kind("Code assistant", 3, ("IT", "Engineering"),
         "Suggests code to developers in {market}.",
         odds={"uses_generative_ai": 1.0, "interacts_with_people": 0.5,
               "processes_personal_data": 0.2}),
    Kind("Demand forecasting", 8, ("Supply chain", "Retail"),
         "Forecasts product demand for stores in {market}.",
         odds={"processes_personal_data": 0.2}),
    Kind("Recommendation engine", 7, ("E-commerce", "Media"),
         "Recommends products to shoppers in {market}.",
         odds={"processes_personal_data": 0.95}),
    Kind("Document classifier", 6, ("Operations", "Legal"),
         "Sorts incoming documents by type and urgency in {market}."),
    Kind("Predictive maintenance", 4, ("Manufacturing", "Engineering"),
         "Predicts machine failures on production lines in {market}.",
         odds={"processes_personal_data": 0.1}),
    Kind("Sentiment analysis", 3, ("Customer service", "Marketing"),
         "Reads the tone of customer reviews from {market}.",
         odds={"emotion_or_biometric_categorisation": 0.2}),
    Kind("Translation service", 3, ("Localisation",),
         "Translates product documentation for {market}.",
         odds={"generates_synthetic_content": 0.8, "synthetic_editing_only": 0.7,
               "uses_generative_ai": 0.9}),
    Kind("News summariser", 1, ("Media",),
         "Summarises news articles for readers in {market}.",
         odds={"publishes_public_interest_text": 0.9, "generates_synthetic_content": 0.8,
               "uses_generative_ai": 1.0}),
    Kind("Foundation model", 1, ("AI research", "Platform"),
         "A general-purpose language model offered to customers in {market}.",
         odds={"provides_gpai_model": 1.0, "advanced_ai_system": 0.95,
               "uses_generative_ai": 1.0, "generates_synthetic_content": 0.9},
         sourcing=(("in_house", 0.8), ("hybrid", 0.2))),
    Kind("Medical imaging triage", 1.5, ("Health services",),
         "Flags urgent findings in radiology images for clinicians in {market}.",
         annex1=("medical_devices", "ivd"), odds={"annex1_product": 1.0}),
    Kind("Machine safety vision", 1.5, ("Manufacturing",),
         "Stops machinery when a person enters the danger zone, in {market}.",
         annex1=("machinery", "lifts"), odds={"annex1_product": 1.0}),
    Kind("Driver assistance perception", 1, ("Automotive",),
         "Detects pedestrians and vehicles for driver assistance in {market}.",
         annex1=("motor_vehicles", "two_three_wheel_vehicles"), odds={"annex1_product": 1.0}),
    Kind("Interactive toy companion", 0.5, ("Consumer products",),
         "Talks and plays with children in {market}.", annex1=("toys", "radio_equipment"),
         odds={"annex1_product": 1.0, "interacts_with_people": 1.0}),
    Kind("Research prototype", 1, ("AI research",),
         "An experimental model evaluated in the lab for {market}.",
         odds={"research_only": 0.5, "pre_market_research": 0.4}),
    Kind("Defence logistics planner", 0.3, ("Government contracts",),
         "Plans supply routes for defence customers in {market}.", odds={"military_use": 1.0}),
    Kind("Workplace mood monitor", 0.2, ("People",),
         "Infers employees' mood from video calls in {market}.",
         odds={"workplace_emotion_inference": {"other_purpose": 6, "medical_or_safety": 4},
               "emotion_or_biometric_categorisation": 0.8}),
)  # fmt: skip

# Odds of "yes" for boolean questions when the kind says nothing.
BOOLEAN_ODDS = {
    "is_sme": 0.1,
    "established_in_eu": 0.8,
    "military_use": 0.004,
    "research_only": 0.005,
    "pre_market_research": 0.005,
    "personal_use_only": 0.005,
    "open_source_release": 0.01,
    "manipulative_techniques": 0.0005,
    "exploits_vulnerabilities": 0.0005,
    "generates_ncii": 0.0005,
    "generates_csam": 0.0002,
    "social_scoring": 0.0005,
    "untargeted_face_scraping": 0.0005,
    "annex1_product": 0.02,
    "annex1_third_party_assessment": 0.75,
    "art6_3_narrow_procedural": 0.12,
    "art6_3_improves_human_result": 0.1,
    "art6_3_detects_patterns": 0.08,
    "art6_3_preparatory": 0.1,
    "profiles_natural_persons": 0.5,
    "interacts_with_people": 0.25,
    "generates_synthetic_content": 0.15,
    "synthetic_editing_only": 0.3,
    "emotion_or_biometric_categorisation": 0.03,
    "generates_deep_fakes": 0.02,
    "publishes_public_interest_text": 0.04,
    "text_editorial_control": 0.6,
    "provides_gpai_model": 0.01,
    "gpai_compute_above_threshold": 0.2,
    "gpai_designated_systemic": 0.05,
    "gpai_open_source": 0.3,
    "gpai_placed_before_2025_08_02": 0.4,
    "advanced_ai_system": 0.3,
    "uses_generative_ai": 0.35,
    "processes_personal_data": 0.7,
    "special_care_data": 0.15,
    "shares_personal_data_with_vendor_for_training": 0.1,
    "transfers_personal_data_abroad": 0.35,
}
CHOICE_WEIGHTS = {
    "deployer_public_status": {"neither": 85, "public_service": 10, "public_body": 5},
    "crime_risk_prediction": {"no": 97, "supports_human_assessment": 2.8, "profiling_only": 0.2},
    "workplace_emotion_inference": {"no": 96, "medical_or_safety": 3.8, "other_purpose": 0.2},
    "sensitive_biometric_categorisation": {"no": 97, "lawful_dataset_labelling": 2.8, "yes": 0.2},
    "realtime_rbi_law_enforcement": {"no": 99, "strictly_necessary_authorised": 0.9,
                                     "yes_other": 0.1},
}  # fmt: skip
LARGE_MARKETS = (
    (["EU", "JP"], 50),
    (["EU"], 30),
    (["JP"], 5),
    (["EU", "JP", "other"], 8),
    (["EU", "other"], 6),
    (["JP", "other"], 1),
)
WHERE = {"EU": ("Berlin", "Paris", "Madrid", "Milan", "Amsterdam", "Warsaw", "Vienna"),
         "JP": ("Tokyo", "Osaka", "Nagoya", "Fukuoka", "Sapporo"),
         "other": ("Singapore", "Toronto", "Sydney", "London")}  # fmt: skip


def _weighted(rng: random.Random, weights: dict[str, float] | tuple) -> Any:
    items = list(weights.items()) if isinstance(weights, dict) else list(weights)
    return rng.choices([v for v, _ in items], weights=[w for _, w in items])[0]


@dataclass
class Profile:
    """One system's kind and the choices made for it before the questionnaire."""

    kind: Kind
    markets: list[str]
    sourcing: str
    sme: bool

    @property
    def builds(self) -> bool:
        return self.sourcing in ("in_house", "hybrid", "open_source")


def profile(rng: random.Random, *, markets=LARGE_MARKETS, sme_odds: float = 0.05) -> Profile:
    kind = rng.choices(KINDS, weights=[k.weight for k in KINDS])[0]
    return Profile(
        kind=kind,
        markets=list(_weighted(rng, markets)),
        sourcing=_weighted(rng, kind.sourcing),
        sme=rng.random() < sme_odds,
    )


def _eu_roles(rng: random.Random, p: Profile) -> list[str]:
    if p.kind.annex1:
        roles = ["product_manufacturer", "provider"] if p.builds else ["product_manufacturer"]
    elif p.kind.odds.get("provides_gpai_model"):
        roles = ["provider"]
    elif p.builds:
        roles = ["provider", "deployer"] if rng.random() < 0.6 else ["provider"]
    else:
        roles = [_weighted(rng, {"deployer": 80, "importer": 8, "distributor": 7,
                                 "authorised_representative": 5})]  # fmt: skip
        if roles[0] != "deployer" and rng.random() < 0.4:
            roles.append("deployer")
    return roles


def _jp_roles(rng: random.Random, p: Profile) -> list[str]:
    if p.builds:
        roles = ["developer"]
        if rng.random() < 0.4:
            roles.append("provider")
        if rng.random() < 0.6:
            roles.append("business_user")
        return roles
    roles = ["business_user"]
    if rng.random() < 0.2:
        roles.append("provider")
    return roles


def _boolean(rng: random.Random, key: str, p: Profile) -> bool:
    odds = p.kind.odds.get(key, BOOLEAN_ODDS.get(key, 0.1))
    return rng.random() < odds


def _value(rng: random.Random, q: Question, p: Profile, so_far: dict[str, Any]) -> Any:
    key = q.key
    if key == "markets":
        return p.markets
    if key == "eu_roles":
        return _eu_roles(rng, p)
    if key == "jp_roles":
        return _jp_roles(rng, p)
    if key == "is_sme":
        return p.sme
    if key == "art25_triggers":
        if rng.random() < 0.85:
            return []
        return rng.sample(q.choice_values, k=rng.choice((1, 1, 2)))
    if key == "annex3_use_cases":
        chosen = [u for u in p.kind.annex3 if rng.random() < 0.8] or list(p.kind.annex3[:1])
        if rng.random() < 0.02:
            chosen.append(rng.choice(q.choice_values))
        return [v for v in q.choice_values if v in set(chosen)]
    if key == "annex1_legislation":
        chosen = [u for u in p.kind.annex1 if rng.random() < 0.7] or list(p.kind.annex1[:1])
        return chosen or [rng.choice(q.choice_values)]
    if q.type == "boolean":
        return _boolean(rng, key, p)
    if q.type == "choice":
        weights = p.kind.odds.get(key) or CHOICE_WEIGHTS.get(key)
        known = {v: weights.get(v, 0) for v in q.choice_values} if weights else {}
        if sum(known.values()) > 0:
            return _weighted(rng, known)
        return q.choice_values[0] if rng.random() < 0.9 else rng.choice(q.choice_values)
    if q.type == "multi_choice":
        if rng.random() < 0.7:
            return []
        return rng.sample(q.choice_values, k=1)
    return None  # numbers, dates and text are never required


def raw_answers(rng: random.Random, release: CompiledRelease, p: Profile) -> dict[str, Any]:
    """An answer for every question of the release (validation keeps the asked ones)."""
    answers: dict[str, Any] = {}
    for question in release.questions:
        value = _value(rng, question, p, answers)
        if value is not None:
            answers[question.key] = value
    return answers


def valid(release: CompiledRelease, raw: dict[str, Any]) -> dict[str, Any] | None:
    """The cleaned answers, or None when the questionnaire refuses them."""
    try:
        return questionnaire.validate(release, raw)
    except questionnaire.AnswersInvalid:
        return None


# Answers a system may have changed since its previous version (booleans flip; lists grow).
_EDITABLE = ("interacts_with_people", "generates_synthetic_content", "processes_personal_data",
             "transfers_personal_data_abroad", "uses_generative_ai", "profiles_natural_persons",
             "art6_3_preparatory", "advanced_ai_system", "is_sme")  # fmt: skip


def earlier(
    rng: random.Random, release: CompiledRelease, answers: dict[str, Any]
) -> dict[str, Any]:
    """The answers as the system stood on an older release: the keys that release asks, with
    one answer different for about a third of the systems."""
    base = {k: v for k, v in answers.items() if release.question(k) is not None}
    if rng.random() < 0.35:
        changed = dict(base)
        key = rng.choice([k for k in _EDITABLE if isinstance(changed.get(k), bool)] or ["is_sme"])
        changed[key] = not changed.get(key, False)
        cleaned = valid(release, changed)
        if cleaned is not None:
            return cleaned
    return valid(release, base) or base


def describe(rng: random.Random, p: Profile) -> str:
    places = [rng.choice(WHERE[m]) for m in p.markets]
    return p.kind.purpose.format(market=" and ".join(places))
