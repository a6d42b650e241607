"""Forms for the AI system registry, and how its questions and answers read on a page.

The questionnaire is built from the catalogue release's compiled questions. The form only turns
posted values into typed answers; which questions are asked and which answers are valid is the
engine's questionnaire, reached through `registry.clean_answers`.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from assessments.engine import questionnaire
from assessments.engine.conditions import as_data
from assessments.engine.release import CompiledRelease, Question

from . import registry
from .models import ROLES, AISystem, EuTier, Jurisdiction, LifecycleStage, Membership, User

SECTIONS = {
    "scope": _("Scope and markets"),
    "roles": _("Roles"),
    "use_case": _("Use case"),
    "prohibited": _("Prohibited practices"),
    "high_risk": _("High-risk classification"),
    "transparency": _("Transparency"),
    "gpai": _("General-purpose AI models"),
    "japan": _("Japan"),
    "data": _("Data and privacy"),
}
YES_NO = [("yes", _("Yes")), ("no", _("No"))]
ROLE_LABELS = dict(ROLES)
PREFIX = "q_"


def field_name(key: str) -> str:
    return PREFIX + key


def localised(text: Mapping[str, str] | None) -> str:
    """The Japanese text when Japanese is active and the text has it, else the English."""
    text = text or {}
    if (get_language() or "en")[:2] == "ja" and text.get("ja"):
        return text["ja"]
    return text.get("en") or ""


def section_title(section: str) -> str:
    return str(SECTIONS.get(section) or section.replace("_", " ").capitalize())


def by_section(questions: Iterable[Question]) -> list[tuple[str, list[Question]]]:
    """Questions grouped by section, the sections in SECTIONS order (unknown ones last), the
    questions in catalogue order within each."""
    groups: dict[str, list[Question]] = {}
    for question in questions:
        groups.setdefault(question.section, []).append(question)
    rank = {section: i for i, section in enumerate(SECTIONS)}
    ordered = sorted(groups.items(), key=lambda item: rank.get(item[0], len(rank)))
    return [(section, items) for section, items in ordered]


def attach_errors(exc: ValidationError, *targets: forms.Form) -> None:
    """Put a service's errors next to the fields they name: registry fields by name, answers by
    question key (on `q_<key>`); anything else goes above the form."""
    if not hasattr(exc, "error_dict"):
        targets[0].add_error(None, exc)
        return
    for key, errors in exc.error_dict.items():
        for form in targets:
            name = key if key in form.fields else field_name(key)
            if name in form.fields:
                form.add_error(name, ValidationError(errors))
                break
        else:
            targets[0].add_error(None, ValidationError(errors))


# --- The registry fields -------------------------------------------------------------------


class OwnerField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj.full_name} <{obj.email}>" if obj.full_name else obj.email


class SystemForm(forms.ModelForm):
    # Members are chosen by e-mail address, so no sequential id appears in the page.
    owner = OwnerField(
        label=_("Owner"),
        queryset=User.objects.none(),
        to_field_name="email",
        required=False,
        empty_label=_("Nobody yet"),
    )

    class Meta:
        model = AISystem
        fields = list(registry.FIELDS)
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "intended_purpose": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, org, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(memberships__organisation=org).order_by(
            "full_name", "email"
        )
        if self.instance.owner_id:
            self.initial["owner"] = self.instance.owner.email

    def registry_fields(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in registry.FIELDS}


# --- The questionnaire ---------------------------------------------------------------------


def _question_field(question: Question) -> forms.Field:
    common = {"label": localised(question.label), "required": False}
    choices = [(c.value, localised(c.label)) for c in question.choices]
    described = {"aria-describedby": f"help-{question.key}"}  # the help and citation
    match question.type:
        case "boolean":
            return forms.ChoiceField(choices=YES_NO, widget=forms.RadioSelect, **common)
        case "choice":
            return forms.ChoiceField(choices=choices, widget=forms.RadioSelect, **common)
        case "multi_choice":
            return forms.MultipleChoiceField(
                choices=choices, widget=forms.CheckboxSelectMultiple, **common
            )
        case "number":
            return forms.FloatField(
                widget=forms.NumberInput(attrs={"step": "any", **described}), **common
            )
        case "date":
            return forms.DateField(
                widget=forms.DateInput(attrs={"type": "date", **described}, format="%Y-%m-%d"),
                **common,
            )
        case "text":
            return forms.CharField(
                max_length=questionnaire.TEXT_LIMIT,
                widget=forms.Textarea(attrs={"rows": 3, **described}),
                **common,
            )
    raise ValueError(f"unknown question type {question.type!r}")


def _initial(question: Question, value: Any) -> Any:
    if question.type == "boolean":
        return {True: "yes", False: "no"}.get(value)
    return value


def _answer(question: Question, value: Any) -> Any:
    """The posted value as the engine's answer; None when there is none."""
    match question.type:
        case "boolean":
            return {"yes": True, "no": False}.get(value)
        case "multi_choice":
            # Nothing ticked is an answer ("none of these"); the engine decides if it is enough.
            return list(value or [])
        case "number":
            if value is None:
                return None
            return int(value) if float(value).is_integer() else value
        case "date":
            return value.isoformat() if value else None
    return value or None


@dataclass(frozen=True)
class QuestionItem:
    """One question as the template draws it."""

    field: forms.BoundField
    question: Question
    help: str
    ask_when: str  # JSON for static/js/questionnaire.js; empty when always asked
    position: int  # catalogue order, in which conditions are evaluated
    grouped: bool  # radios or checkboxes, drawn as a fieldset


@dataclass(frozen=True)
class SectionItem:
    key: str
    title: str
    questions: list[QuestionItem]


class QuestionnaireForm(forms.Form):
    """One field per question, `q_<key>`. Every field is optional here: whether an answer is
    required depends on the other answers, and only the engine knows which questions are
    asked. After validation `answers` holds the answers to the questions asked."""

    # The browser must not insist on questions that turn out not to be asked.
    use_required_attribute = False

    def __init__(
        self,
        *args: Any,
        release: CompiledRelease,
        answers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.release = release
        self.answers: dict[str, Any] = {}
        for question in release.questions:
            name = field_name(question.key)
            self.fields[name] = _question_field(question)
            if answers and question.key in answers:
                self.initial[name] = _initial(question, answers[question.key])

    def sections(self) -> list[SectionItem]:
        position = {q.key: i for i, q in enumerate(self.release.questions)}
        return [
            SectionItem(
                key=section,
                title=section_title(section),
                questions=[
                    QuestionItem(
                        field=self[field_name(q.key)],
                        question=q,
                        help=localised(q.help),
                        ask_when=json.dumps(as_data(q.ask_when)) if q.ask_when else "",
                        position=position[q.key],
                        grouped=q.type in ("boolean", "choice", "multi_choice"),
                    )
                    for q in questions
                ],
            )
            for section, questions in by_section(self.release.questions)
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        raw: dict[str, Any] = {}
        for question in self.release.questions:
            name = field_name(question.key)
            if name in cleaned:
                value = _answer(question, cleaned[name])
                if value is not None:
                    raw[question.key] = value
        asked = {q.key for q in questionnaire.asked(self.release, raw)}
        for question in self.release.questions:
            if question.key not in asked:
                # Not asked: a leftover or garbled answer is dropped, not refused.
                self._errors.pop(field_name(question.key), None)
        self.answers = {key: value for key, value in raw.items() if key in asked}
        try:
            registry.clean_answers(self.answers)
        except ValidationError as exc:
            attach_errors(exc, self)
        return cleaned


# --- Filtering the list --------------------------------------------------------------------


def market_choices(release: CompiledRelease | None) -> list[tuple[str, str]]:
    question = release.question("markets") if release else None
    if question is None:
        return [(j.value, j.label) for j in (Jurisdiction.EU, Jurisdiction.JP)]
    return [(c.value, localised(c.label)) for c in question.choices]


class SystemFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    stage = forms.ChoiceField(
        label=_("Lifecycle stage"),
        choices=[("", _("All")), *LifecycleStage.choices],
        required=False,
    )
    tier = forms.ChoiceField(
        label=_("EU tier"),
        choices=[
            ("", _("All")),
            ("assessed", _("Assessed")),
            ("unassessed", _("Not assessed")),
            *EuTier.choices,
        ],
        required=False,
    )
    market = forms.ChoiceField(label=_("Market"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=[("", _("All")), *ROLES], required=False)
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    unit = forms.ChoiceField(label=_("Business unit"), required=False)
    archived = forms.BooleanField(label=_("Archived systems only"), required=False)

    def __init__(
        self,
        *args: Any,
        members: Iterable[Membership],
        units: Iterable[str],
        markets: list[tuple[str, str]],
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self._owners = {str(m.code): m.user for m in members}
        self.fields["owner"].choices = [("", _("Anyone"))] + [
            (code, user.full_name or user.email) for code, user in self._owners.items()
        ]
        # The filter ignores case, so "Retail" and "retail" are one choice.
        by_case = {}
        for unit in units:
            by_case.setdefault(unit.casefold(), unit)
        self.fields["unit"].choices = [("", _("All")), *((u, u) for u in by_case.values())]
        self.fields["market"].choices = [("", _("All")), *markets]

    def filters(self) -> dict[str, Any]:
        """Arguments for `registry.systems`; a filter that was not understood is left out."""
        data: dict[str, Any] = {}
        if self.is_bound:
            self.is_valid()  # cleaned_data then holds the filters that are valid
            data = self.cleaned_data
        return {
            "archived": bool(data.get("archived")),
            "search": (data.get("q") or "").strip(),
            "lifecycle_stage": data.get("stage") or "",
            "eu_tier": data.get("tier") or "",
            "market": data.get("market") or "",
            "role": data.get("role") or "",
            "owner": self._owners.get(data.get("owner") or ""),
            "business_unit": data.get("unit") or "",
        }


# --- Answers as a page shows them ------------------------------------------------------------


def answer_label(question: Question | None, value: Any) -> str:
    """An answer in words: Yes/No, choice labels in the active language, lists joined."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    labels = {c.value: localised(c.label) for c in question.choices} if question else {}
    if isinstance(value, list):
        if not value:
            return str(_("None of these"))
        return ", ".join(labels.get(v, str(v)) for v in value)
    return labels.get(value, str(value)) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class AnswerItem:
    key: str
    question: str
    answer: str
    citation: str


def answer_sections(
    release: CompiledRelease, answers: Mapping[str, Any]
) -> list[tuple[str, list[AnswerItem]]]:
    """The answers grouped by section, each with its question and citation; answers to keys
    the release does not know come last, as they were stored."""
    sections = []
    for section, questions in by_section(q for q in release.questions if q.key in answers):
        items = [
            AnswerItem(q.key, localised(q.label), answer_label(q, answers[q.key]), q.citation)
            for q in questions
        ]
        sections.append((section_title(section), items))
    unknown = [key for key in answers if release.question(key) is None]
    if unknown:
        items = [AnswerItem(k, k, answer_label(None, answers[k]), "") for k in sorted(unknown)]
        sections.append((str(_("Other answers")), items))
    return sections


def answer_changes(
    release: CompiledRelease, before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Question by question, what changed between two sets of answers, in catalogue order."""
    keys = [q.key for q in release.questions]
    keys += sorted((set(before) | set(after)) - set(keys))
    changes = []
    for key in keys:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        question = release.question(key)
        changes.append(
            {
                "key": key,
                "question": localised(question.label) if question else key,
                "citation": question.citation if question else "",
                "before": answer_label(question, old) if key in before else None,
                "after": answer_label(question, new) if key in after else None,
            }
        )
    return changes


def field_label(name: str) -> str:
    """A registry field's name on a page; also the pseudo-fields a version records."""
    extra = {
        "created": _("registered"),
        "answers": _("answers"),
        "release": _("catalogue release"),
    }
    if name in extra:
        return str(extra[name])
    try:
        return str(AISystem._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:  # a field since removed from the model
        return name


def field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The registry fields (and release) that differ between two versions' data."""
    choices = {
        "lifecycle_stage": dict(LifecycleStage.choices),
        "sourcing": dict(AISystem._meta.get_field("sourcing").choices),
    }
    changes = []
    for name in (*registry.FIELDS, "release"):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        labels = choices.get(name, {})
        changes.append(
            {
                "name": field_label(name),
                "before": str(labels.get(old, old)) if old not in (None, "") else "—",
                "after": str(labels.get(new, new)) if new not in (None, "") else "—",
            }
        )
    return changes


def role_labels(system: AISystem) -> list[str]:
    return [str(ROLE_LABELS.get(r, r)) for r in (*system.eu_roles, *system.jp_roles)]


def market_labels(system: AISystem, markets: Mapping[str, str]) -> list[str]:
    return [str(markets.get(m, m)) for m in system.markets]


# --- Export --------------------------------------------------------------------------------

EXPORT_COLUMNS = ("code", *registry.FIELDS, "markets", "eu_roles", "jp_roles", "eu_tier",
                  "version", "release", "latest_assessment", "archived_at")  # fmt: skip


def question_keys(releases: Iterable[CompiledRelease]) -> list[str]:
    """Every question key of these releases, without repeats, in the order first seen."""
    keys: dict[str, None] = {}
    for release in releases:
        keys.update((q.key, None) for q in release.questions)
    return list(keys)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def export_row(system: AISystem, keys: Iterable[str]) -> list[Any]:
    """One system as a spreadsheet row: EXPORT_COLUMNS, then one answer per question key."""
    fields = {name: getattr(system, name) for name in registry.FIELDS}
    fields["owner"] = system.owner.email if system.owner_id else ""
    row = [
        str(system.code),
        *(fields[name] for name in registry.FIELDS),
        system.markets,
        system.eu_roles,
        system.jp_roles,
        system.eu_tier,
        system.version,
        system.release.code,
        getattr(system, "latest_status", None),
        system.archived_at.isoformat() if system.archived_at else None,
    ]
    row += [system.answers.get(key) for key in keys]
    return [_cell(value) for value in row]
