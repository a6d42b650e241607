"""A release as one YAML file in the catalogue's own format, so it can be read back in."""

import yaml

from .store import BILINGUAL

DROP = {"position"}


def _entry(kind: str, entry: dict) -> dict:
    out: dict = {}
    texts = BILINGUAL.get(kind, [])
    for name, value in entry.items():
        if name in DROP:
            continue
        base = name.rsplit("_", 1)[0]
        if base in texts and name.endswith(("_en", "_ja")):
            if entry[f"{base}_en"] or entry[f"{base}_ja"]:
                out.setdefault(base, {})[name[-2:]] = value
            continue
        if kind == "obligations" and name == "applies_from_rules":
            continue
        if kind == "obligations" and name == "applies_from" and entry["applies_from_rules"]:
            out[name] = entry["applies_from_rules"]
            continue
        if kind == "questions" and name == "choices" and not value:
            continue
        if value in (None, "") and name not in ("applies_when",):
            continue
        out[name] = value
    return out


def to_document(snapshot: dict, *, code: str | None = None) -> dict:
    release = dict(snapshot["release"])
    release_entry = {
        "code": code or release["code"],
        "title": {"en": release["title_en"], "ja": release["title_ja"]},
        "effective_on": release["effective_on"],
        "current": True,
    }
    if release.get("description_en") and release.get("description_ja"):
        release_entry["description"] = {
            "en": release["description_en"],
            "ja": release["description_ja"],
        }
    document: dict = {"releases": [release_entry]}
    for kind in ("regulations", "provisions", "questions", "rules", "penalties", "obligations",
                 "milestones", "crosswalk"):  # fmt: skip
        document[kind] = [_entry(kind, e) for e in snapshot[kind].values()]
    return document


def to_yaml(snapshot: dict) -> str:
    header = (
        f"# Kakehashi catalogue release {snapshot['release']['code']}, exported for import.\n"
        "# Format: governance/catalogue/README.md\n"
    )
    body = yaml.safe_dump(to_document(snapshot), allow_unicode=True, sort_keys=False, width=100)
    return header + body
