"""Validates one catalogue entry and turns it into plain, normalised data.

Each entry kind has a table of fields; `normalise` checks every field and returns a flat dict
(bilingual texts become `<field>_en` / `<field>_ja`, dates ISO strings) or raises EntryError
naming the field. Cross-references between entries are checked later, in the loader.
"""

import datetime as dt
import re
import reprlib
from collections.abc import Callable
from typing import Any

from assessments.engine.conditions import ConditionError, parse

CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]*$")
KEY = re.compile(r"^[a-z][a-z0-9_]*$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
LABEL = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")

ROLES = {
    "eu.provider",
    "eu.deployer",
    "eu.importer",
    "eu.distributor",
    "eu.authorised_representative",
    "eu.product_manufacturer",
    "jp.developer",
    "jp.provider",
    "jp.business_user",
}
JURISDICTIONS = {"EU", "JP", "INTL"}
REGULATION_KINDS = {"binding_law", "soft_law", "guideline", "code_of_conduct"}
PROVISION_KINDS = {
    "article", "paragraph", "point", "annex", "annex_point", "principle", "item", "action",
    "perspective", "section", "touchpoint", "definition",
}  # fmt: skip
QUESTION_TYPES = {"boolean", "choice", "multi_choice", "number", "text", "date"}
LEGAL_FORCES = {"binding", "cooperation_duty", "voluntary"}
RELATIONSHIPS = {"equal", "subset", "superset", "intersect"}
ORIGINS = {"curated", "published"}
SME_RULES = {"lower", "higher"}


class EntryError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


Check = Callable[[str, Any, dict], None]

# Values in messages are shown cut short: YAML aliases let a few hundred bytes of a file stand for
# a list of millions of items, whose full repr would exhaust memory.
_short = reprlib.Repr()
_short.maxlevel, _short.maxlist, _short.maxdict, _short.maxset = 2, 4, 4, 4
_short.maxstring = _short.maxother = _short.maxlong = 80


def shown(value: Any) -> str:
    return _short.repr(value)


def _text(name: str, value: Any, out: dict) -> None:
    if not isinstance(value, dict) or set(value) - {"en", "ja"}:
        raise EntryError(name, "must be a mapping with the keys en and ja")
    for language in ("en", "ja"):
        text = value.get(language)
        if not isinstance(text, str) or not text.strip():
            raise EntryError(f"{name}.{language}", "is missing or empty")
        out[f"{name}_{language}"] = (
            " ".join(text.split()) if "\n" not in text.strip() else text.strip()
        )


def _optional_text(name: str, value: Any, out: dict) -> None:
    if value is None:
        out[f"{name}_en"] = out[f"{name}_ja"] = ""
    else:
        _text(name, value, out)


def _string(name: str, value: Any, out: dict) -> None:
    if not isinstance(value, str) or not value.strip():
        raise EntryError(name, "must be non-empty text")
    out[name] = value.strip()


def _optional_string(name: str, value: Any, out: dict) -> None:
    if value is None:
        out[name] = ""
    else:
        _string(name, value, out)


def _pattern(pattern: re.Pattern, what: str) -> Check:
    def check(name: str, value: Any, out: dict) -> None:
        if not isinstance(value, str) or not pattern.match(value):
            raise EntryError(name, f"{shown(value)} is not a valid {what}")
        out[name] = value

    return check


def _optional_pattern(pattern: re.Pattern, what: str) -> Check:
    inner = _pattern(pattern, what)

    def check(name: str, value: Any, out: dict) -> None:
        if value is None:
            out[name] = None
        else:
            inner(name, value, out)

    return check


def _one_of(options: set[str]) -> Check:
    def check(name: str, value: Any, out: dict) -> None:
        if not isinstance(value, str) or value not in options:
            raise EntryError(name, f"{shown(value)} is not one of: {', '.join(sorted(options))}")
        out[name] = value

    return check


def _as_date(name: str, value: Any) -> str:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise EntryError(name, f"{shown(value)} is not a date (YYYY-MM-DD)")


def _date(name: str, value: Any, out: dict) -> None:
    out[name] = _as_date(name, value)


def _optional_date(name: str, value: Any, out: dict) -> None:
    out[name] = None if value is None else _as_date(name, value)


def _condition(name: str, value: Any, out: dict) -> None:
    if isinstance(value, bool):
        value = "true" if value else "false"
    try:
        parse(value)
    except ConditionError as exc:
        raise EntryError(name, str(exc)) from exc
    out[name] = value.strip()


def _optional_condition(name: str, value: Any, out: dict) -> None:
    if value is None:
        out[name] = ""
    else:
        _condition(name, value, out)


def _roles(name: str, value: Any, out: dict) -> None:
    if not isinstance(value, list) or not value:
        raise EntryError(name, "must be a non-empty list of roles")
    for role in value:
        if not isinstance(role, str) or role not in ROLES:
            raise EntryError(
                name, f"unknown role {shown(role)} (roles: {', '.join(sorted(ROLES))})"
            )
    out[name] = sorted(set(value))


def _applies_from(name: str, value: Any, out: dict) -> None:
    """A date, or a list of {when, date}: the earliest date whose condition holds."""
    if isinstance(value, list):
        if not value:
            raise EntryError(name, "must be a date or a non-empty list of {when, date}")
        rules = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"when", "date"}:
                raise EntryError(f"{name}[{i}]", "must have exactly the keys when and date")
            rule: dict = {}
            _condition(f"{name}[{i}].when", item["when"], rule)
            rules.append({"when": rule[f"{name}[{i}].when"], "date": _as_date(name, item["date"])})
        out[name] = min(r["date"] for r in rules)
        out["applies_from_rules"] = rules
    else:
        out[name] = _as_date(name, value)
        out["applies_from_rules"] = []


def _text_list(name: str, value: Any, out: dict) -> None:
    if value is None:
        out[name] = []
        return
    if not isinstance(value, list):
        raise EntryError(name, "must be a list of {en, ja} texts")
    items = []
    for i, item in enumerate(value):
        text: dict = {}
        _text(f"{name}[{i}]", item, text)
        items.append({"en": text[f"{name}[{i}]_en"], "ja": text[f"{name}[{i}]_ja"]})
    out[name] = items


def _choices(name: str, value: Any, out: dict) -> None:
    if value is None:
        out[name] = []
        return
    if not isinstance(value, list) or not value:
        raise EntryError(name, "must be a non-empty list of {value, label}")
    seen = set()
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"value", "label"}:
            raise EntryError(f"{name}[{i}]", "must have exactly the keys value and label")
        if not isinstance(item["value"], str) or not item["value"]:
            raise EntryError(f"{name}[{i}].value", "must be non-empty text")
        if item["value"] in seen:
            raise EntryError(f"{name}[{i}].value", f"{shown(item['value'])} appears twice")
        seen.add(item["value"])
        label: dict = {}
        _text(f"{name}[{i}].label", item["label"], label)
        items.append(
            {
                "value": item["value"],
                "label": {
                    "en": label[f"{name}[{i}].label_en"],
                    "ja": label[f"{name}[{i}].label_ja"],
                },
            }
        )
    out[name] = items


def _integer(name: str, value: Any, out: dict) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EntryError(name, f"{shown(value)} is not a whole number")
    out[name] = value


def _number(name: str, value: Any, out: dict) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise EntryError(name, f"{shown(value)} is not a non-negative number")
    out[name] = value


def _url(name: str, value: Any, out: dict) -> None:
    if value is None:
        out[name] = ""
        return
    if not isinstance(value, str) or not re.match(r"^https?://\S+$", value):
        raise EntryError(name, f"{shown(value)} is not an http(s) URL")
    out[name] = value


def _boolean(name: str, value: Any, out: dict) -> None:
    if not isinstance(value, bool):
        raise EntryError(name, f"{shown(value)} is not true or false")
    out[name] = value


def _or(default: Any, check: Check) -> Check:
    """`check`, or `default` when the field is left out."""

    def optional(name: str, value: Any, out: dict) -> None:
        if value is None:
            out[name] = default
        else:
            check(name, value, out)

    return optional


# kind -> {field: (check, required)}
FIELDS: dict[str, dict[str, tuple[Check, bool]]] = {
    "releases": {
        "code": (_pattern(SLUG, "release code"), True),
        "title": (_text, True),
        "description": (_optional_text, False),
        "effective_on": (_date, True),
        "current": (_or(False, _boolean), False),
    },
    "regulations": {
        "code": (_pattern(CODE, "code"), True),
        "jurisdiction": (_one_of(JURISDICTIONS), True),
        "kind": (_one_of(REGULATION_KINDS), True),
        "title": (_text, True),
        "short_title": (_text, True),
        "reference": (_string, True),
        "url": (_url, False),
        "in_force_from": (_optional_date, False),
        "summary": (_text, True),
        "source": (_string, True),
    },
    "provisions": {
        "code": (_pattern(CODE, "code"), True),
        "regulation": (_pattern(CODE, "regulation code"), True),
        "reference": (_string, True),
        "kind": (_one_of(PROVISION_KINDS), True),
        "parent": (_optional_pattern(CODE, "provision code"), False),
        "title": (_text, True),
        "summary": (_text, True),
        "source": (_string, True),
    },
    "obligations": {
        "code": (_pattern(CODE, "code"), True),
        "provision": (_pattern(CODE, "provision code"), True),
        "regulation": (_pattern(CODE, "regulation code"), True),
        "title": (_text, True),
        "summary": (_text, True),
        "roles": (_roles, True),
        "applies_when": (_condition, True),
        "applies_from": (_applies_from, True),
        "legal_force": (_one_of(LEGAL_FORCES), True),
        "penalty": (_optional_pattern(CODE, "penalty code"), False),
        "guidance": (_optional_text, False),
        "evidence": (_text_list, False),
        "source": (_string, True),
    },
    "questions": {
        "key": (_pattern(KEY, "question key"), True),
        "type": (_one_of(QUESTION_TYPES), True),
        "choices": (_choices, False),
        "label": (_text, True),
        "help": (_text, True),
        "citation": (_string, True),
        "section": (_pattern(KEY, "section"), True),
        "ask_when": (_optional_condition, False),
        "order": (_integer, True),
    },
    "rules": {
        "code": (_pattern(CODE, "code"), True),
        "label": (_pattern(LABEL, "label (like eu.high_risk)"), True),
        "detail": (_optional_string, False),
        "when": (_condition, True),
        "citation": (_string, True),
        "explanation": (_text, True),
        "order": (_integer, True),
    },
    "penalties": {
        "code": (_pattern(CODE, "code"), True),
        "regulation": (_pattern(CODE, "regulation code"), True),
        "provision": (_optional_pattern(CODE, "provision code"), False),
        "title": (_text, True),
        "max_eur": (_number, True),
        "max_turnover_percent": (_number, True),
        "sme_rule": (_or("", _one_of(SME_RULES)), False),
    },
    "milestones": {
        "code": (_pattern(CODE, "code"), True),
        "regulation": (_pattern(CODE, "regulation code"), True),
        "date": (_date, True),
        "title": (_text, True),
        "summary": (_optional_text, False),
    },
    "crosswalk": {
        "from": (_pattern(CODE, "obligation code"), True),
        "to": (_pattern(CODE, "obligation code"), True),
        "relationship": (_one_of(RELATIONSHIPS), True),
        "rationale": (_text, True),
        "origin": (_one_of(ORIGINS), True),
        "publisher": (_optional_string, False),
        "reference": (_optional_string, False),
    },
}


def entry_name(kind: str, raw: Any) -> str:
    """How errors name an entry: its code, key or link."""
    if isinstance(raw, dict):
        if kind == "crosswalk":
            return f"{raw.get('from', '?')}->{raw.get('to', '?')}"
        for field in ("code", "key"):
            if isinstance(raw.get(field), str):
                return raw[field]
    return "?"


def normalise(kind: str, raw: Any) -> dict:
    """The entry as flat, validated data; EntryError names the first bad field."""
    if not isinstance(raw, dict):
        raise EntryError("", "must be a mapping")
    fields = FIELDS[kind]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise EntryError(unknown[0], f"unknown field (fields: {', '.join(fields)})")
    out: dict = {}
    for name, (check, required) in fields.items():
        value = raw.get(name)
        if value is None and required:
            raise EntryError(name, "is required")
        check(name, value, out)
    if kind == "questions":
        has_choices = bool(out.get("choices"))
        if out["type"] in ("choice", "multi_choice") and not has_choices:
            raise EntryError("choices", f"a {out['type']} question needs choices")
        if out["type"] not in ("choice", "multi_choice") and has_choices:
            raise EntryError("choices", f"a {out['type']} question takes no choices")
    if kind == "crosswalk" and out["origin"] == "published" and not out["publisher"]:
        raise EntryError("publisher", "is required when the origin is published")
    return out
