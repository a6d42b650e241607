import re
import shutil
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from governance.catalogue import services
from governance.catalogue.diff import diff
from governance.catalogue.export import to_yaml
from governance.catalogue.loader import CatalogueError, read_files
from governance.catalogue.store import ReleaseLocked, snapshot_of, write
from governance.models import AuditEvent, CatalogueRelease, CrosswalkLink, Obligation, Provision

from .conftest import CATALOGUE_FIXTURE as FIXTURE


@pytest.fixture
def files(tmp_path) -> Path:
    """A copy of the test catalogue to break."""
    target = tmp_path / "data"
    shutil.copytree(FIXTURE, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def database_state() -> tuple:
    return (
        list(CatalogueRelease.objects.values_list("code", "source_digest", "is_current")),
        Obligation.objects.count(),
        Provision.objects.count(),
        CrosswalkLink.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def loaded(catalogue):
    return catalogue


def test_it_loads_every_release_with_its_own_content(loaded):
    old = CatalogueRelease.objects.get(code="test-old")
    assert loaded.is_current and not old.is_current
    assert loaded.status == old.status == CatalogueRelease.Status.PUBLISHED
    assert set(Obligation.objects.for_release(old).values_list("code", flat=True)) == {
        "T-EU-ART9",
        "T-JP-P02",
    }
    art9 = Obligation.objects.for_release(loaded).get(code="T-EU-ART9")
    assert str(art9.applies_from) == "2027-12-02"
    assert str(Obligation.objects.for_release(old).get(code="T-EU-ART9").applies_from) == (
        "2026-08-02"
    )
    assert art9.penalty.code == "T-EU-ART99-4"
    assert art9.roles == ["eu.provider"]
    assert Provision.objects.for_release(loaded).get(code="T-EU-ART9-1").parent.code == (
        "T-EU-ART9"
    )
    link = CrosswalkLink.objects.for_release(loaded).get()
    assert (link.source.code, link.target.code, link.relationship) == (
        "T-EU-ART9",
        "T-JP-P02",
        "intersect",
    )


def test_loading_the_same_files_twice_changes_nothing(loaded):
    before = database_state()
    report = write(read_files(FIXTURE))
    assert report == ["test-old: unchanged", "test-new: unchanged"]
    assert database_state() == before


def test_it_records_the_load_in_the_audit_trail(loaded):
    assert AuditEvent.objects.filter(table="governance_obligation", action="insert").count() == 5


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "eu.yaml",
            "applies_when: 'markets contains \"EU\"'",
            "applies_when: 'market contains \"EU\"'",
            'eu.yaml: obligations[T-EU-ART50].applies_when: unknown question "market"',
        ),
        (
            "eu.yaml",
            "applies_when: 'markets contains \"EU\"'",
            "applies_when: 'markets contains \"US\"'",
            "eu.yaml: obligations[T-EU-ART50].applies_when: question \"markets\": 'US' is not a "
            "choice of it",
        ),
        (
            "jp.yaml",
            "applies_when: 'markets contains \"JP\"'",
            "applies_when: 'hiring == \"yes\"'",
            "jp.yaml: obligations[T-JP-P02].applies_when: question \"hiring\": 'yes' is not a "
            "boolean value",
        ),
        (
            "eu.yaml",
            "when: 'hiring'",
            "when: 'hiring and'",
            "eu.yaml: rules[T-EU-R-HR].when: expected a condition at the end",
        ),
        (
            "jp.yaml",
            "    to: T-JP-P02",
            "    to: T-JP-P99",
            "jp.yaml: crosswalk[T-EU-ART9->T-JP-P99].to: unknown obligation 'T-JP-P99'",
        ),
        (
            "jp.yaml",
            '    title: {en: "Safety", ja: "安全性"}\n    summary: {en: "Avoid harm."',
            '    title: {en: "Safety"}\n    summary: {en: "Avoid harm."',
            "jp.yaml: obligations[T-JP-P02].title.ja: is missing or empty",
        ),
        (
            "eu.yaml",
            "roles: [eu.provider]",
            "roles: [eu.king]",
            "eu.yaml: obligations[T-EU-ART9].roles: unknown role 'eu.king'",
        ),
        (
            "eu.yaml",
            "applies_from: 2026-08-02\n    legal_force",
            "applies_from: 2026-02-30\n    legal_force",
            "eu.yaml: obligations[T-EU-ART50].applies_from: '2026-02-30' is not a date",
        ),
        (
            "eu.yaml",
            '    penalty: T-EU-ART99-4\n    source: "Art. 50"',
            '    source: "Art. 50"',
            "eu.yaml: obligations[T-EU-ART50].penalty: a binding EU obligation needs a penalty",
        ),
        (
            "eu.yaml",
            "provision: T-EU-ART50\n",
            "provision: T-EU-ART51\n",
            "eu.yaml: obligations[T-EU-ART50].provision: unknown provision 'T-EU-ART51'",
        ),
        (
            "eu.yaml",
            "questions:\n",
            "questions:\n  - key: markets\n    type: boolean\n    section: scope\n    order: 1\n"
            "    citation: x\n    label: {en: a, ja: b}\n    help: {en: a, ja: b}\n",
            "eu.yaml: questions[markets]: defined twice (also in data/eu.yaml)",
        ),
        (
            "eu.yaml",
            "      test-old: {applies_from: 2026-08-02}",
            "      test-older: {applies_from: 2026-08-02}",
            "eu.yaml: obligations[T-EU-ART9].by_release: unknown release 'test-older'",
        ),
        (
            "eu.yaml",
            "  - code: T-EU-R-HR\n",
            "  - code: T-EU-R-HR\n    colour: red\n",
            "eu.yaml: rules[T-EU-R-HR].colour: unknown field",
        ),
        (
            "releases.yaml",
            "    current: true\n",
            "",
            "releases: exactly one release must be marked current: true",
        ),
        (
            "jp.yaml",
            "  kind: guideline\n",
            "  kind: guideline\n  - broken\n",
            "data/jp.yaml: line",
        ),
    ],
)
def test_it_rejects_bad_files_with_a_precise_message_and_writes_nothing(
    loaded, files, file, old, new, message
):
    edit(files / file, old, new)
    # The old releases are already loaded; a broken new release must not land either.
    edit(files / "releases.yaml", "code: test-new", "code: test-newer")
    text = (files / "eu.yaml").read_text().replace("test-new", "test-newer")
    (files / "eu.yaml").write_text(text)
    before = database_state()
    with pytest.raises(CatalogueError) as raised:
        write(read_files(files))
    assert any(message in problem for problem in raised.value.problems), raised.value.problems
    assert database_state() == before


def test_it_refuses_to_change_a_published_release(loaded, files):
    edit(files / "jp.yaml", "Avoid harm.", "Avoid all harm.")
    before = database_state()
    with pytest.raises(ReleaseLocked, match="published releases never change"):
        write(read_files(files))
    assert database_state() == before


def test_the_release_diff_shows_the_known_change(loaded):
    old = CatalogueRelease.objects.get(code="test-old")
    result = diff(snapshot_of(old), snapshot_of(loaded))
    assert result["obligations"]["added"] == ["T-EU-ART50"]
    assert result["obligations"]["removed"] == []
    assert list(result["obligations"]["changed"]) == ["T-EU-ART9"]
    assert result["dates_moved"] == [
        {
            "code": "T-EU-ART9",
            "from": "2026-08-02",
            "to": "2027-12-02",
            "routes_from": [],
            "routes_to": [],
        }
    ]
    assert result["counts"]["obligations_added"] == 1


def test_an_exported_release_imports_as_an_identical_draft(loaded):
    exported = to_yaml(snapshot_of(loaded))
    copy = services.release_import(name="export.yaml", text=exported, code="test-copy")
    assert copy.is_draft and not copy.is_current
    original, imported = snapshot_of(loaded), snapshot_of(copy)
    for section in ("regulations", "provisions", "questions", "rules", "penalties",
                    "obligations", "milestones", "crosswalk"):  # fmt: skip
        assert imported[section] == original[section], section


def test_a_published_draft_becomes_current_with_its_impact(loaded, admin_user):
    draft = services.release_create_draft(
        base=loaded, code="test-draft", title_en="Draft", title_ja="下書き", actor=admin_user
    )
    Obligation.objects.for_release(draft).filter(code="T-JP-P02").delete()
    services.release_publish(release=draft, actor=admin_user)
    draft.refresh_from_db()
    assert draft.is_current and not CatalogueRelease.objects.get(code="test-new").is_current
    assert draft.impact["obligations"]["removed"] == ["T-JP-P02"]
    assert draft.impact["crosswalk"]["removed"] == ["T-EU-ART9->T-JP-P02"]
    assert draft.published_by == admin_user


def test_it_refuses_to_publish_an_invalid_draft(loaded, admin_user):
    draft = services.release_create_draft(
        base=loaded, code="test-bad", title_en="Bad", title_ja="不正", actor=admin_user
    )
    Obligation.objects.for_release(draft).filter(code="T-EU-ART9").update(
        applies_when='label("eu.unknown")'
    )
    with pytest.raises(ValidationError, match=re.escape('unknown label "eu.unknown"')):
        services.release_publish(release=draft, actor=admin_user)
    draft.refresh_from_db()
    assert draft.is_draft and not draft.is_current


def test_it_loads_the_shipped_catalogue_from_the_command_in_one_transaction(transactional_db):
    """As `make run` does: outside any transaction the caller opened."""
    from django.core.management import call_command

    from governance.models import CatalogueRelease

    call_command("load_catalogue", verbosity=0)
    assert CatalogueRelease.objects.get(is_current=True).code == "2026-amended"
