"""Reads the catalogue files, checks them whole, and writes every release in one transaction.

    catalogue = read_files(DATA_DIR)        # CatalogueError lists every problem found
    report = write(catalogue)               # nothing is written if anything is wrong

A `Catalogue` holds one plain snapshot per release (see snapshot.py for the shape); the same
shape comes back out of the database, so loading, comparing and exporting share one format.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from assessments.engine.conditions import ConditionError, QuestionType, check, parse, references

from .schema import FIELDS, EntryError, entry_name, normalise, shown

DATA_DIR = Path(__file__).resolve().parent / "data"
SECTIONS = ("regulations", "provisions", "questions", "rules", "penalties", "obligations",
            "milestones", "crosswalk")  # fmt: skip
TOP_LEVEL = {"releases", "regulation", "regulations", *SECTIONS} - {"regulations"} | {"regulations"}
# The largest catalogue file read; the shipped ones are well under a tenth of it. Pure-Python YAML
# parsing of a much larger one would tie up a request (admin import) or a deploy for minutes.
MAX_FILE_CHARS = 2 * 1024 * 1024


NOUNS = {
    "regulations": "regulation",
    "provisions": "provision",
    "penalties": "penalty",
    "obligations": "obligation",
}


class _Loader(yaml.SafeLoader):
    """Safe YAML that leaves dates as text, so the schema checks them and names the field."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class CatalogueError(Exception):
    """Everything wrong with a set of catalogue files, one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Catalogue:
    releases: list[dict]  # release entries in file order
    snapshots: dict[str, dict] = field(default_factory=dict)  # release code -> snapshot

    @property
    def current(self) -> str:
        return next(r["code"] for r in self.releases if r["current"])


@dataclass
class _Raw:
    file: str
    kind: str
    raw: dict
    regulation: str | None


def _location(file: str, kind: str, name: str, field_name: str = "") -> str:
    where = f"{file}: {kind}[{name}]"
    return f"{where}.{field_name}" if field_name else where


def read_sources(sources: Iterable[tuple[str, str]]) -> Catalogue:
    """Parse and check (name, YAML text) pairs; raise CatalogueError listing every problem."""
    problems: list[str] = []
    releases: list[dict] = []
    entries: list[_Raw] = []
    for name, text in sources:
        if len(text) > MAX_FILE_CHARS:
            problems.append(
                f"{name}: is too large ({len(text):,} characters; the limit is {MAX_FILE_CHARS:,})"
            )
            continue
        try:
            document = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark else ""
            problems.append(f"{name}:{line} is not valid YAML ({getattr(exc, 'problem', exc)})")
            continue
        except RecursionError:  # PyYAML composes nested collections recursively
            problems.append(f"{name}: is not valid YAML (nested too deeply)")
            continue
        if document is None:
            continue
        if not isinstance(document, dict):
            problems.append(f"{name}: must be a mapping of sections")
            continue
        unknown = sorted(set(document) - TOP_LEVEL, key=str)
        if unknown:
            problems.append(
                f"{name}: unknown section {shown(unknown[0])} "
                f"(sections: {', '.join(sorted(TOP_LEVEL))})"
            )
            continue
        file_regulation = document.get("regulation")
        defined = []
        if isinstance(file_regulation, dict):
            defined = [file_regulation]
            file_regulation = file_regulation.get("code")
        listed = document.get("regulations") or []
        if not isinstance(listed, list):
            problems.append(f"{name}: regulations must be a list")
            continue
        defined += listed
        for kind, items in [("regulations", defined)] + [
            (k, document.get(k) or []) for k in ("releases", *SECTIONS[1:])
        ]:
            if not isinstance(items, list):
                problems.append(f"{name}: {kind} must be a list")
                continue
            for raw in items:
                if kind == "releases":
                    try:
                        releases.append(normalise("releases", raw))
                    except EntryError as exc:
                        problems.append(
                            f"{_location(name, kind, entry_name(kind, raw), exc.field)}: "
                            f"{exc.message}"
                        )
                    continue
                entries.append(_Raw(name, kind, raw, file_regulation))
    if not releases and not problems:
        problems.append("no releases: data/releases.yaml must list at least one")
    codes = [r["code"] for r in releases]
    for code in {c for c in codes if codes.count(c) > 1}:
        problems.append(f"releases: {code!r} is listed twice")
    if releases and sum(r["current"] for r in releases) != 1:
        problems.append("releases: exactly one release must be marked current: true")
    if problems:
        raise CatalogueError(problems)

    catalogue = Catalogue(releases=releases)
    for release in releases:
        snapshot, found = _snapshot(release, entries, codes)
        problems.extend(p for p in found if p not in problems)
        catalogue.snapshots[release["code"]] = snapshot
    if problems:
        raise CatalogueError(problems)
    return catalogue


def read_files(directory: Path = DATA_DIR) -> Catalogue:
    sources: list[tuple[str, str]] = []
    problems: list[str] = []
    for path in sorted(directory.rglob("*.yaml")):
        name = str(path.relative_to(directory.parent))
        if path.stat().st_size > MAX_FILE_CHARS * 4:  # not even read: UTF-8 is <= 4 bytes a char
            problems.append(f"{name}: is too large ({path.stat().st_size:,} bytes)")
            continue
        try:
            sources.append((name, path.read_text(encoding="utf-8")))
        except UnicodeDecodeError as exc:
            problems.append(f"{name}: is not UTF-8 text (byte {exc.start + 1})")
    if problems:
        raise CatalogueError(problems)
    return read_sources(sources)


def _snapshot(release: dict, entries: list[_Raw], release_codes: list[str]):
    """The entries of one release, normalised and cross-checked; (snapshot, problems)."""
    code = release["code"]
    problems: list[str] = []
    sections: dict[str, dict[str, dict]] = {s: {} for s in SECTIONS}
    where: dict[tuple[str, str], str] = {}
    for item in entries:
        raw = item.raw
        name = entry_name(item.kind, raw)
        if not isinstance(raw, dict):
            problems.append(f"{_location(item.file, item.kind, name)}: must be a mapping")
            continue
        raw = dict(raw)
        included = raw.pop("releases", None)
        overrides = raw.pop("by_release", None) or {}
        if included is not None and not isinstance(included, list):
            problems.append(
                f"{_location(item.file, item.kind, name, 'releases')}: must be a list of releases"
            )
            continue
        if not isinstance(overrides, dict) or not all(
            isinstance(v, dict) or v is None for v in overrides.values()
        ):
            problems.append(
                f"{_location(item.file, item.kind, name, 'by_release')}: must map release codes "
                "to the fields that differ in that release"
            )
            continue
        bad = [c for c in (included or []) + list(overrides) if c not in release_codes]
        if bad:
            field_name = "releases" if bad[0] in (included or []) else "by_release"
            problems.append(
                f"{_location(item.file, item.kind, name, field_name)}: "
                f"unknown release {shown(bad[0])}"
            )
            continue
        if included is not None and code not in included:
            continue
        raw.update(overrides.get(code) or {})
        if item.kind in ("provisions", "obligations", "penalties", "milestones"):
            raw.setdefault("regulation", item.regulation)
            if raw["regulation"] is None:
                problems.append(
                    f"{_location(item.file, item.kind, name, 'regulation')}: name the regulation "
                    "(a top-level `regulation: CODE` or one on the entry)"
                )
                continue
        try:
            entry = normalise(item.kind, raw)
        except EntryError as exc:
            suffix = f" (release {code})" if code in overrides else ""
            problems.append(
                f"{_location(item.file, item.kind, name, exc.field)}: {exc.message}{suffix}"
            )
            continue
        key = name if item.kind != "crosswalk" else f"{entry['from']}->{entry['to']}"
        if key in sections[item.kind]:
            problems.append(
                f"{_location(item.file, item.kind, name)}: defined twice "
                f"(also in {where[(item.kind, key)]})"
            )
            continue
        entry["position"] = len(sections[item.kind])
        sections[item.kind][key] = entry
        where[(item.kind, key)] = item.file
    problems += _cross_check(sections, where)
    snapshot = {"release": release, **sections}
    snapshot["digest"] = digest(snapshot)
    return snapshot, problems


def _cross_check(s: dict[str, dict[str, dict]], where: dict) -> list[str]:
    problems: list[str] = []

    def problem(kind: str, key: str, field_name: str, message: str) -> None:
        problems.append(f"{_location(where[(kind, key)], kind, key, field_name)}: {message}")

    def refers(kind: str, key: str, field_name: str, target: str, value: str | None) -> None:
        if value and value not in s[target]:
            problem(kind, key, field_name, f"unknown {NOUNS[target]} {value!r}")

    for key, p in s["provisions"].items():
        refers("provisions", key, "regulation", "regulations", p["regulation"])
        refers("provisions", key, "parent", "provisions", p["parent"])
    for key, p in s["penalties"].items():
        refers("penalties", key, "regulation", "regulations", p["regulation"])
        refers("penalties", key, "provision", "provisions", p["provision"])
    for key, m in s["milestones"].items():
        refers("milestones", key, "regulation", "regulations", m["regulation"])

    questions = {
        k: QuestionType(q["type"], frozenset(c["value"] for c in q["choices"]))
        for k, q in s["questions"].items()
    }

    def condition(kind: str, key: str, field_name: str, text: str, labels) -> None:
        if not text:
            return
        try:
            check(parse(text), questions, labels)
        except ConditionError as exc:
            problem(kind, key, field_name, str(exc))

    for key, q in s["questions"].items():
        condition("questions", key, "ask_when", q["ask_when"], None)

    # A rule sees the labels of rules that run before it.
    labels_so_far: set[str] = set()
    rules = sorted(s["rules"].items(), key=lambda kv: (kv[1]["order"], kv[1]["position"]))
    for i, (key, r) in enumerate(rules):
        earlier = labels_so_far | {
            other["label"] for _, other in rules[:i] if other["order"] < r["order"]
        }
        condition("rules", key, "when", r["when"], earlier)
        if f'label("{r["label"]}")' in r["when"]:
            problem("rules", key, "when", "a rule cannot depend on its own label")
    labels = {r["label"] for r in s["rules"].values()}

    for key, o in s["obligations"].items():
        refers("obligations", key, "regulation", "regulations", o["regulation"])
        refers("obligations", key, "provision", "provisions", o["provision"])
        refers("obligations", key, "penalty", "penalties", o["penalty"])
        provision = s["provisions"].get(o["provision"])
        if provision and provision["regulation"] != o["regulation"]:
            problem(
                "obligations",
                key,
                "provision",
                f"{o['provision']!r} belongs to {provision['regulation']}, not {o['regulation']}",
            )
        condition("obligations", key, "applies_when", o["applies_when"], labels)
        for i, rule in enumerate(o["applies_from_rules"]):
            condition("obligations", key, f"applies_from[{i}].when", rule["when"], labels)
        regulation = s["regulations"].get(o["regulation"])
        if (
            regulation
            and regulation["jurisdiction"] == "EU"
            and o["legal_force"] == "binding"
            and not o["penalty"]
        ):
            problem("obligations", key, "penalty", "a binding EU obligation needs a penalty tier")

    for key, link in s["crosswalk"].items():
        refers("crosswalk", key, "from", "obligations", link["from"])
        refers("crosswalk", key, "to", "obligations", link["to"])
        if link["from"] == link["to"]:
            problem("crosswalk", key, "to", "a link cannot point to itself")
    return problems


def digest(snapshot: dict) -> str:
    """A fingerprint of a release's content, independent of where it came from."""
    content = {k: v for k, v in snapshot.items() if k not in ("digest",)}
    content["release"] = {k: v for k, v in snapshot["release"].items() if k != "current"}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def summary(snapshot: dict) -> str:
    return ", ".join(
        f"{len(snapshot[k])} {k}"
        for k in ("regulations", "provisions", "obligations", "questions", "rules", "crosswalk")
    )


def condition_keys(snapshot: dict) -> dict[str, set[str]]:
    """For each question key, the entries whose conditions use it (for curators)."""
    used: dict[str, set[str]] = defaultdict(set)
    for kind, field_name in (("obligations", "applies_when"), ("rules", "when")):
        for key, entry in snapshot[kind].items():
            for question in references(parse(entry[field_name]))[0]:
                used[question].add(key)
    return used


# Checked at import, also under `python -O` (which drops asserts).
if not set(FIELDS) >= set(SECTIONS):
    raise RuntimeError("FIELDS must list the fields of every section in SECTIONS")
