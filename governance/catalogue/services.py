"""Curating releases: draft copies, validation, publishing with its impact, import."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import CatalogueRelease, User
from .diff import diff
from .export import to_yaml
from .loader import CatalogueError, read_sources
from .store import announce_current, snapshot_of, write_content


def release_validate(release: CatalogueRelease) -> list[str]:
    """Every problem in a release's content, checked exactly as the files are."""
    document = to_yaml(snapshot_of(release))
    try:
        read_sources([(f"release {release.code}", document)])
    except CatalogueError as exc:
        return exc.problems
    return []


def release_impact(release: CatalogueRelease, *, base: CatalogueRelease | None = None) -> dict:
    """What publishing `release` changes against `base` (default: the current release).

    Systems are counted after publishing, in the worker (assessments.tasks.release_published
    re-evaluates every system's latest assessment); until then the counts are None.
    """
    base = base or CatalogueRelease.objects.filter(is_current=True).exclude(pk=release.pk).first()
    if base is None:
        return {"from_release": None, "to_release": release.code, "first_release": True}
    result = diff(snapshot_of(base), snapshot_of(release))
    result["systems_affected"] = None
    result["organisations_affected"] = None
    return result


def release_create_draft(
    *, base: CatalogueRelease, code: str, title_en: str, title_ja: str, actor: User
) -> CatalogueRelease:
    """A draft copy of `base` for curators to edit."""
    with transaction.atomic():
        draft = CatalogueRelease(
            code=code,
            title_en=title_en,
            title_ja=title_ja,
            description_en=base.description_en,
            description_ja=base.description_ja,
            effective_on=base.effective_on,
            status=CatalogueRelease.Status.DRAFT,
            based_on=base,
        )
        draft.full_clean()
        draft.save()
        write_content(draft, snapshot_of(base))
    return draft


def release_publish(*, release: CatalogueRelease, actor: User) -> CatalogueRelease:
    """Publish a valid draft, make it current, and record its impact against the old current."""
    with transaction.atomic():
        release = CatalogueRelease.objects.select_for_update().get(pk=release.pk)
        if not release.is_draft:
            raise ValidationError(_("Only a draft can be published."))
        problems = release_validate(release)
        if problems:
            raise ValidationError(problems)
        release.impact = release_impact(release)
        CatalogueRelease.objects.filter(is_current=True).update(is_current=False)
        release.status = CatalogueRelease.Status.PUBLISHED
        release.is_current = True
        release.published_at = timezone.now()
        release.published_by = actor
        release.save(
            update_fields=["impact", "status", "is_current", "published_at", "published_by"]
        )
        announce_current(release)
    return release


def release_import(*, name: str, text: str, code: str = "") -> CatalogueRelease:
    """A draft release from one exported YAML file; nothing is written if it has problems."""
    catalogue = read_sources([(name, text)])
    if len(catalogue.releases) != 1:
        raise CatalogueError([f"{name}: an import file holds exactly one release"])
    entry = catalogue.releases[0]
    snapshot = catalogue.snapshots[entry["code"]]
    code = code or entry["code"]
    if CatalogueRelease.objects.filter(code=code).exists():
        raise CatalogueError([f"{name}: a release with the code {code!r} exists; choose another"])
    with transaction.atomic():
        release = CatalogueRelease.objects.create(
            code=code,
            title_en=entry["title_en"],
            title_ja=entry["title_ja"],
            description_en=entry["description_en"],
            description_ja=entry["description_ja"],
            effective_on=dt.date.fromisoformat(entry["effective_on"]),
            status=CatalogueRelease.Status.DRAFT,
        )
        write_content(release, snapshot)
    return release
