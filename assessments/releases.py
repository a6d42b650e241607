"""The bridge between catalogue rows and the engine: a release compiled once per process."""

from governance.catalogue.store import snapshot_of
from governance.models import CatalogueRelease

from .engine import release as engine_release


def compiled(release: CatalogueRelease) -> engine_release.CompiledRelease:
    """The release ready for the engine. Published releases never change, so they are cached
    per process; a draft is compiled afresh, since a curator may have just edited it."""
    if release.is_draft:
        return engine_release.compile_release(snapshot_of(release))
    key = (f"{release.pk}:{release.code}", f"{release.source_digest}:{release.published_at}")
    return engine_release.cached(key, lambda: snapshot_of(release))


def current_release() -> CatalogueRelease | None:
    return CatalogueRelease.objects.filter(
        is_current=True, status=CatalogueRelease.Status.PUBLISHED
    ).first()
