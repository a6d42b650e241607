"""A catalogue release compiled for evaluation: conditions parsed once, rules in order.

The input is a release snapshot — the plain dict that `governance.catalogue.loader.read_files`
and `governance.catalogue.store.snapshot_of` both produce — so this module knows nothing of
Django. `cached(key, load)` keeps a few compiled releases per process: published releases never
change, and drafts are keyed by their content digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .conditions import Node, QuestionType, parse

Text = Mapping[str, str]  # {"en": ..., "ja": ...}

# How a crosswalk relationship reads from the other end of the link.
_INVERSE = {"equal": "equal", "subset": "superset", "superset": "subset", "intersect": "intersect"}

# Obligation fields whose change means a finding cannot simply carry its status forward.
_SUBSTANCE = ("roles", "applies_when", "applies_from", "applies_from_rules", "legal_force",
              "penalty", "title_en", "summary_en", "evidence")  # fmt: skip


def _text(entry: Mapping[str, Any], name: str) -> dict[str, str]:
    return {"en": entry.get(f"{name}_en") or "", "ja": entry.get(f"{name}_ja") or ""}


def _date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@dataclass(frozen=True)
class Choice:
    value: str
    label: Text


@dataclass(frozen=True)
class Question:
    key: str
    type: str  # boolean | choice | multi_choice | number | text | date
    section: str
    order: int
    citation: str
    label: Text
    help: Text
    choices: tuple[Choice, ...] = ()
    ask_when: Node | None = None
    ask_when_text: str = ""

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)


@dataclass(frozen=True)
class Rule:
    code: str
    label: str
    detail: str
    when: Node
    when_text: str
    citation: str
    explanation: Text
    order: int


@dataclass(frozen=True)
class DatedRoute:
    when: Node
    when_text: str
    date: dt.date


@dataclass(frozen=True)
class Obligation:
    code: str
    regulation: str
    jurisdiction: str  # EU | JP | INTL
    provision: str
    title: Text
    roles: frozenset[str]
    applies_when: Node
    applies_when_text: str
    applies_from: dt.date
    routes: tuple[DatedRoute, ...]
    legal_force: str  # binding | cooperation_duty | voluntary
    penalty: str | None
    digest: str  # changes when the obligation's substance changes


@dataclass(frozen=True)
class Link:
    other: str  # the obligation code at the other end
    relationship: str  # as read from this obligation: "this is a subset of other", …


@dataclass(frozen=True)
class CompiledRelease:
    code: str
    digest: str
    questions: tuple[Question, ...]
    rules: tuple[Rule, ...]
    obligations: tuple[Obligation, ...]
    regulations: Mapping[str, Mapping[str, Any]]  # code -> {jurisdiction, kind, short_title}
    links: Mapping[str, tuple[Link, ...]] = field(default_factory=dict)

    def question(self, key: str) -> Question | None:
        return self._questions_by_key.get(key)

    @property
    def question_types(self) -> dict[str, QuestionType]:
        return {
            q.key: QuestionType(type=q.type, choices=frozenset(q.choice_values))
            for q in self.questions
        }

    @property
    def _questions_by_key(self) -> dict[str, Question]:
        cached = self.__dict__.get("_by_key")
        if cached is None:
            cached = {q.key: q for q in self.questions}
            object.__setattr__(self, "_by_key", cached)
        return cached

    def obligation(self, code: str) -> Obligation | None:
        cached = self.__dict__.get("_obligations_by_code")
        if cached is None:
            cached = {o.code: o for o in self.obligations}
            object.__setattr__(self, "_obligations_by_code", cached)
        return cached.get(code)


def _values(section: Any) -> list[dict]:
    return list(section.values()) if isinstance(section, Mapping) else list(section or [])


def obligation_digest(entry: Mapping[str, Any]) -> str:
    substance = {name: entry.get(name) for name in _SUBSTANCE}
    text = json.dumps(substance, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _question_order(q: Mapping[str, Any]) -> tuple[int, str]:
    return (q.get("order") or 0, q["key"])


def compile_release(snapshot: Mapping[str, Any]) -> CompiledRelease:
    """Parse every condition of a release snapshot once. The snapshot was checked at load."""
    regulations = {
        r["code"]: {
            "jurisdiction": r["jurisdiction"],
            "kind": r["kind"],
            "short_title": _text(r, "short_title"),
        }
        for r in _values(snapshot["regulations"])
    }
    questions = tuple(
        Question(
            key=q["key"],
            type=q["type"],
            section=q.get("section") or "",
            order=int(q.get("order") or 0),
            citation=q.get("citation") or "",
            label=_text(q, "label"),
            help=_text(q, "help"),
            choices=tuple(
                Choice(value=c["value"], label=dict(c.get("label") or {}))
                for c in q.get("choices") or []
            ),
            ask_when=parse(q["ask_when"]) if q.get("ask_when") else None,
            ask_when_text=q.get("ask_when") or "",
        )
        for q in sorted(_values(snapshot["questions"]), key=_question_order)
    )
    rules = tuple(
        Rule(
            code=r["code"],
            label=r["label"],
            detail=r.get("detail") or "",
            when=parse(r["when"]),
            when_text=r["when"],
            citation=r.get("citation") or "",
            explanation=_text(r, "explanation"),
            order=int(r.get("order") or 0),
        )
        for r in sorted(_values(snapshot["rules"]), key=lambda r: (r.get("order") or 0, r["code"]))
    )
    obligations = tuple(
        Obligation(
            code=o["code"],
            regulation=o["regulation"],
            jurisdiction=regulations[o["regulation"]]["jurisdiction"],
            provision=o.get("provision") or "",
            title=_text(o, "title"),
            roles=frozenset(o.get("roles") or ()),
            applies_when=parse(o.get("applies_when") or "true"),
            applies_when_text=o.get("applies_when") or "true",
            applies_from=_date(o["applies_from"]),
            routes=tuple(
                DatedRoute(when=parse(r["when"]), when_text=r["when"], date=_date(r["date"]))
                for r in o.get("applies_from_rules") or []
            ),
            legal_force=o["legal_force"],
            penalty=o.get("penalty") or None,
            digest=obligation_digest(o),
        )
        for o in _values(snapshot["obligations"])
    )
    links: dict[str, list[Link]] = {}
    for link in _values(snapshot.get("crosswalk")):
        relationship = link["relationship"]
        links.setdefault(link["from"], []).append(Link(link["to"], relationship))
        links.setdefault(link["to"], []).append(Link(link["from"], _INVERSE[relationship]))
    release = snapshot.get("release") or {}
    return CompiledRelease(
        code=release.get("code", ""),
        digest=snapshot.get("digest", ""),
        questions=questions,
        rules=rules,
        obligations=obligations,
        regulations=regulations,
        links={code: tuple(items) for code, items in links.items()},
    )


_CACHE: OrderedDict[tuple[str, str], CompiledRelease] = OrderedDict()
_CACHE_SIZE = 8
_LOCK = threading.Lock()


def cached(key: tuple[str, str], load: Callable[[], Mapping[str, Any]]) -> CompiledRelease:
    """The compiled release for `key` (code, digest), compiling `load()` on a miss."""
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    compiled = compile_release(load())
    with _LOCK:
        _CACHE[key] = compiled
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return compiled


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
