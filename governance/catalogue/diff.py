"""What changes between two releases, by stable code: the impact shown before publishing."""

from typing import Any

IGNORED = {"position", "code", "key"}


def _changes(old: dict, new: dict) -> dict[str, list[Any]]:
    fields = sorted((set(old) | set(new)) - IGNORED)
    return {f: [old.get(f), new.get(f)] for f in fields if old.get(f) != new.get(f)}


def _section(old: dict[str, dict], new: dict[str, dict]) -> dict:
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": {
            code: changes
            for code in sorted(set(old) & set(new))
            if (changes := _changes(old[code], new[code]))
        },
    }


def diff(old: dict, new: dict) -> dict:
    """Obligations, questions, rules and crosswalk links added, removed and changed, and the
    obligations whose application date moved (from → to)."""
    obligations = _section(old["obligations"], new["obligations"])
    moved = []
    for code, changes in obligations["changed"].items():
        if "applies_from" in changes or "applies_from_rules" in changes:
            moved.append(
                {
                    "code": code,
                    "from": old["obligations"][code]["applies_from"],
                    "to": new["obligations"][code]["applies_from"],
                    "routes_from": old["obligations"][code]["applies_from_rules"],
                    "routes_to": new["obligations"][code]["applies_from_rules"],
                }
            )
    result = {
        "from_release": old["release"]["code"],
        "to_release": new["release"]["code"],
        "obligations": obligations,
        "dates_moved": moved,
        "questions": _section(old["questions"], new["questions"]),
        "rules": _section(old["rules"], new["rules"]),
        "crosswalk": _section(old["crosswalk"], new["crosswalk"]),
    }
    result["counts"] = {
        "obligations_added": len(obligations["added"]),
        "obligations_removed": len(obligations["removed"]),
        "obligations_changed": len(obligations["changed"]),
        "dates_moved": len(moved),
        "questions_changed": sum(
            len(result["questions"][k]) for k in ("added", "removed", "changed")
        ),
        "rules_changed": sum(len(result["rules"][k]) for k in ("added", "removed", "changed")),
    }
    return result
