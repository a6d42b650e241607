"""Finds direct tenant-model queries in views and API modules.

Views and API modules must reach tenant data through governance.access (or a selector or
service that takes the organisation explicitly). This check walks their syntax trees and reports
`Model.objects…` or `Model._default_manager…` for any tenant model.
"""

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps

MANAGER_NAMES = {"objects", "_default_manager", "_base_manager"}


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    model: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: direct query on tenant model {self.model}; "
            "use an access helper (governance.access) or a selector that takes the organisation"
        )


def tenant_model_names() -> set[str]:
    """Organisation itself and every model with an `organisation` field."""
    names = set()
    for model in apps.get_models():
        field_names = {f.name for f in model._meta.get_fields()}
        if model._meta.label == "governance.Organisation" or "organisation" in field_names:
            names.add(model.__name__)
    return names


def is_checked_module(path: Path) -> bool:
    parts = path.with_suffix("").parts
    return any(p in {"views", "api"} or p.startswith(("views_", "api_")) for p in parts)


def checked_modules(roots: Iterable[Path]) -> Iterator[Path]:
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if "migrations" not in path.parts and is_checked_module(path.relative_to(root)):
                yield path


def check_source(source: str, path: Path, models: set[str]) -> list[Violation]:
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in MANAGER_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id in models
        ):
            found.append(Violation(path, node.lineno, node.value.id))
    return found


def check(roots: Iterable[Path]) -> list[Violation]:
    models = tenant_model_names()
    violations = []
    for path in checked_modules(roots):
        violations.extend(check_source(path.read_text(), path, models))
    return violations
