"""The small test catalogue (tests/fixtures/catalogue): releases test-old and test-new (current)."""

from pathlib import Path

import pytest
from django.conf import settings

from governance.catalogue.loader import read_files
from governance.catalogue.store import write
from governance.models import CatalogueRelease, CrosswalkLink, Obligation

CATALOGUE_FIXTURE = Path(settings.BASE_DIR) / "tests/fixtures/catalogue"


@pytest.fixture
def catalogue(db) -> CatalogueRelease:
    """The test catalogue, loaded; its current release."""
    write(read_files(CATALOGUE_FIXTURE))
    return CatalogueRelease.objects.get(code="test-new")


def add_obligations(n: int, *, release: str = "test-new") -> None:
    """n more Japanese obligations, T-JP-X000…, like T-JP-P02."""
    like = Obligation.objects.get(release__code=release, code="T-JP-P02")
    Obligation.objects.bulk_create(
        Obligation(
            release_id=like.release_id,
            regulation_id=like.regulation_id,
            provision_id=like.provision_id,
            code=f"T-JP-X{i:03}",
            title_en=f"Extra duty {i}",
            title_ja=f"追加の義務 {i}",
            summary_en="More.",
            summary_ja="追加。",
            roles=like.roles,
            applies_from=like.applies_from,
            legal_force=like.legal_force,
            source="test",
        )
        for i in range(n)
    )


def add_links(limit: int | None = None) -> None:
    """Links from T-EU-ART50 to the extra obligations of add_obligations (at most `limit`)."""
    art50 = Obligation.objects.get(release__code="test-new", code="T-EU-ART50")
    targets = Obligation.objects.filter(code__startswith="T-JP-X")
    CrosswalkLink.objects.bulk_create(
        CrosswalkLink(
            release_id=art50.release_id,
            source=art50,
            target=target,
            relationship="subset",
            rationale_en="More.",
            rationale_ja="追加。",
            origin="curated",
        )
        for target in (targets[:limit] if limit is not None else targets)
    )
