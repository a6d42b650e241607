"""The registration questionnaire: which questions are asked, and which answers are valid.

A question is asked when its `ask_when` holds over the answers to the questions before it (in
catalogue order). Answers to questions that are not asked are dropped, so a stale answer left
behind by an earlier edit (a Japan-only system that still carries EU answers) never decides a
classification.

Errors are (code, params) pairs rather than sentences, so the web and API layers can translate
them: "required", "not_a_choice", "not_a_boolean", "not_a_number", "not_a_date", "not_text",
"too_long", "null_character", "not_a_list", "unknown_question".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .conditions import evaluate
from .release import CompiledRelease, Question

TEXT_LIMIT = 2000
# The questions the engine reads roles and markets from need at least one answer: a system with
# no market or no role cannot be classified. Elsewhere an empty list means "none of these".
NON_EMPTY = frozenset({"markets", "eu_roles", "jp_roles"})

Error = tuple[str, dict[str, Any]]


class AnswersInvalid(ValueError):
    def __init__(self, errors: dict[str, Error], cleaned: dict[str, Any]):
        self.errors = errors
        self.cleaned = cleaned
        super().__init__("; ".join(f"{key}: {code}" for key, (code, _) in errors.items()))


def asked(release: CompiledRelease, answers: Mapping[str, Any]) -> list[Question]:
    """The questions asked for these answers, in order."""
    shown: list[Question] = []
    seen: dict[str, Any] = {}
    for question in release.questions:
        if question.ask_when is None or evaluate(question.ask_when, seen):
            shown.append(question)
            if question.key in answers:
                seen[question.key] = answers[question.key]
    return shown


def prune(release: CompiledRelease, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Only the answers to questions that are asked."""
    return {q.key: answers[q.key] for q in asked(release, answers) if q.key in answers}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _clean(question: Question, value: Any) -> tuple[Any, Error | None]:
    kind = question.type
    if kind == "boolean":
        if isinstance(value, bool):
            return value, None
        return None, ("not_a_boolean", {})
    if kind == "choice":
        if isinstance(value, str) and value in question.choice_values:
            return value, None
        return None, ("not_a_choice", {"value": str(value)[:100]})
    if kind == "multi_choice":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            return None, ("not_a_list", {})
        unknown = [v for v in value if v not in question.choice_values]
        if unknown:
            return None, ("not_a_choice", {"value": unknown[0][:100]})
        chosen = set(value)
        return [v for v in question.choice_values if v in chosen], None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, ("not_a_number", {})
        if value != value or value in (float("inf"), float("-inf")):
            return None, ("not_a_number", {})
        return value, None
    if kind == "date":
        if isinstance(value, dt.date):
            return value.isoformat(), None
        try:
            return dt.date.fromisoformat(value).isoformat(), None
        except (TypeError, ValueError):
            return None, ("not_a_date", {})
    if kind == "text":
        if not isinstance(value, str):
            return None, ("not_text", {})
        if len(value) > TEXT_LIMIT:
            return None, ("too_long", {"limit": TEXT_LIMIT})
        if "\x00" in value:  # PostgreSQL's JSON cannot store it
            return None, ("null_character", {})
        return value.strip(), None
    raise ValueError(f"unknown question type {kind!r}")


def required(question: Question) -> bool:
    if question.type in ("boolean", "choice"):
        return True
    return question.type == "multi_choice" and question.key in NON_EMPTY


def validate(release: CompiledRelease, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Clean answers for the questions asked; raise AnswersInvalid naming every problem.

    Unknown keys are an error (a typo must not vanish silently); answers to questions that are
    not asked are dropped. Every asked boolean and choice question needs an answer.
    """
    errors: dict[str, Error] = {}
    for key in raw:
        if release.question(key) is None:
            errors[key] = ("unknown_question", {"key": str(key)[:100]})
    cleaned: dict[str, Any] = {}
    for question in release.questions:
        if question.ask_when is not None and not evaluate(question.ask_when, cleaned):
            continue
        value = raw.get(question.key)
        if _empty(value):
            if required(question):
                errors[question.key] = ("required", {})
            elif question.type == "multi_choice" and value == []:
                cleaned[question.key] = []
            continue
        value, error = _clean(question, value)
        if error:
            errors[question.key] = error
        elif question.type == "multi_choice" and not value and required(question):
            errors[question.key] = ("required", {})
        else:
            cleaned[question.key] = value
    if errors:
        raise AnswersInvalid(errors, cleaned)
    return cleaned
