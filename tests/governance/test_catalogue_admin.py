"""Curating the catalogue through the Django admin, as a staff curator would."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.catalogue.export import to_yaml
from governance.catalogue.store import snapshot_of
from governance.models import CatalogueRelease, Obligation

ADMIN = "/admin/governance"


@pytest.fixture
def current(catalogue):
    return catalogue


@pytest.fixture
def draft(current, admin_client):
    response = admin_client.post(
        f"{ADMIN}/cataloguerelease/{current.pk}/draft/",
        {"code": "test-draft", "title_en": "Draft", "title_ja": "下書き"},
    )
    assert response.status_code == 302
    return CatalogueRelease.objects.get(code="test-draft")


def obligation_form(obligation: Obligation, **changes) -> dict:
    data = {
        "release": obligation.release_id,
        "regulation": obligation.regulation_id,
        "provision": obligation.provision_id,
        "code": obligation.code,
        "title_en": obligation.title_en,
        "title_ja": obligation.title_ja,
        "summary_en": obligation.summary_en,
        "summary_ja": obligation.summary_ja,
        "roles": obligation.roles,
        "applies_when": obligation.applies_when,
        "applies_from": obligation.applies_from.isoformat(),
        "applies_from_rules": "[]",
        "legal_force": obligation.legal_force,
        "penalty": obligation.penalty_id or "",
        "guidance_en": obligation.guidance_en,
        "guidance_ja": obligation.guidance_ja,
        "evidence": "[]",
        "source": obligation.source,
    }
    return data | changes


def test_it_lists_and_filters_obligations(admin_client, current):
    page = admin_client.get(f"{ADMIN}/obligation/", {"release__id__exact": current.pk})
    assert page.status_code == 200
    assert b"T-EU-ART50" in page.content
    filtered = admin_client.get(
        f"{ADMIN}/obligation/",
        {"release__id__exact": current.pk, "role": "jp.developer", "q": "T-"},
    )
    assert b"T-JP-P02" in filtered.content
    assert b"T-EU-ART50" not in filtered.content
    by_force = admin_client.get(f"{ADMIN}/obligation/", {"legal_force__exact": "voluntary"})
    assert b"T-EU-ART9" not in by_force.content


def test_it_shows_provisions_inline_and_searches_regulations(admin_client, current):
    regulation = current.regulations.get(code="T-EU")
    page = admin_client.get(f"{ADMIN}/regulation/{regulation.pk}/change/")
    assert b"T-EU-ART9-1" in page.content
    assert b"T-JP" in admin_client.get(f"{ADMIN}/regulation/", {"q": "Guidelines"}).content


def test_a_published_release_cannot_be_edited(admin_client, current):
    obligation = Obligation.objects.for_release(current).get(code="T-EU-ART9")
    url = f"{ADMIN}/obligation/{obligation.pk}/change/"
    response = admin_client.post(url, obligation_form(obligation, title_en="Changed"))
    assert response.status_code == 403
    obligation.refresh_from_db()
    assert obligation.title_en == "Run risk management"


def test_a_draft_copies_the_release_and_can_be_edited(admin_client, draft):
    assert draft.is_draft and draft.based_on.code == "test-new"
    obligation = Obligation.objects.for_release(draft).get(code="T-EU-ART9")
    url = f"{ADMIN}/obligation/{obligation.pk}/change/"
    response = admin_client.post(url, obligation_form(obligation, applies_from="2028-01-01"))
    assert response.status_code == 302
    obligation.refresh_from_db()
    assert str(obligation.applies_from) == "2028-01-01"


@pytest.mark.parametrize(
    ("condition", "error"),
    [
        ('label("eu.unknown")', "unknown label"),
        ("hiring and", "expected a condition at the end"),
        ('markets contains "Mars"', "is not a choice of it"),
    ],
)
def test_it_validates_conditions_on_save(admin_client, draft, condition, error):
    obligation = Obligation.objects.for_release(draft).get(code="T-EU-ART9")
    url = f"{ADMIN}/obligation/{obligation.pk}/change/"
    response = admin_client.post(url, obligation_form(obligation, applies_when=condition))
    assert response.status_code == 200
    assert error in response.content.decode()
    obligation.refresh_from_db()
    assert obligation.applies_when == 'label("eu.high_risk")'


def test_it_previews_the_impact_then_publishes(admin_client, draft):
    Obligation.objects.for_release(draft).filter(code="T-EU-ART9").update(applies_from="2028-06-01")
    preview = admin_client.get(f"{ADMIN}/cataloguerelease/{draft.pk}/publish/")
    assert preview.status_code == 200
    content = preview.content.decode()
    assert "T-EU-ART9" in content and "2027-12-02" in content and "2028-06-01" in content
    draft.refresh_from_db()
    assert draft.is_draft  # previewing changes nothing
    response = admin_client.post(f"{ADMIN}/cataloguerelease/{draft.pk}/publish/")
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.is_current and draft.impact["dates_moved"][0]["to"] == "2028-06-01"


def test_it_does_not_publish_an_invalid_draft(admin_client, draft):
    Obligation.objects.for_release(draft).filter(code="T-EU-ART9").update(
        applies_when="nonsense_key"
    )
    page = admin_client.post(f"{ADMIN}/cataloguerelease/{draft.pk}/publish/")
    assert page.status_code == 200
    assert "unknown question &quot;nonsense_key&quot;" in page.content.decode()
    draft.refresh_from_db()
    assert draft.is_draft


def test_it_exports_and_imports_a_release(admin_client, current):
    exported = admin_client.get(f"{ADMIN}/cataloguerelease/{current.pk}/export/")
    assert exported.status_code == 200
    assert exported["Content-Disposition"].endswith('catalogue-test-new.yaml"')
    upload = SimpleUploadedFile("release.yaml", exported.content)
    response = admin_client.post(
        f"{ADMIN}/cataloguerelease/import/", {"file": upload, "code": "test-imported"}
    )
    assert response.status_code == 302
    imported = CatalogueRelease.objects.get(code="test-imported")
    assert imported.is_draft
    assert snapshot_of(imported)["obligations"] == snapshot_of(current)["obligations"]


def test_a_broken_import_explains_itself_and_imports_nothing(admin_client, current):
    text = to_yaml(snapshot_of(current)).replace("eu.provider", "eu.pharaoh", 1)
    upload = SimpleUploadedFile("broken.yaml", text.encode())
    response = admin_client.post(f"{ADMIN}/cataloguerelease/import/", {"file": upload})
    assert response.status_code == 400
    assert "unknown role &#x27;eu.pharaoh&#x27;" in response.content.decode()
    assert CatalogueRelease.objects.count() == 2


def test_curation_is_for_staff_only(client, current, member):
    client.force_login(member.user)
    response = client.get(f"{ADMIN}/obligation/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
