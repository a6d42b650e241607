"""The global catalogue API with API keys: any organisation's key reads it, errors are problem
details, and nothing is written."""

import pytest
from django.utils import timezone

from governance.models import ApiKey, CatalogueRelease

from .conftest import api, make_key

API = "/api/v1/catalogue/"
ENDPOINTS = [
    "releases/",
    "regulations/",
    "obligations/",
    "obligations/EU-AIA-ART9/",
    "crosswalk/",
]


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_any_organisations_key_reads_it(real_catalogue, reader, writer, stranger, path):
    for client in (reader, writer, stranger):
        response = client.get(API + path)
        assert response.status_code == 200, response.content


def test_a_key_reads_the_published_releases_and_obligations(real_catalogue, reader):
    releases = reader.get(API + "releases/").json()
    published = CatalogueRelease.objects.filter(status=CatalogueRelease.Status.PUBLISHED)
    assert releases["count"] == published.count()
    assert real_catalogue.code in [r["code"] for r in releases["results"]]
    obligations = reader.get(API + "obligations/", {"role": "eu.provider"}).json()
    assert obligations["count"] > 0 and set(obligations) == {"count", "next", "previous", "results"}
    art9 = reader.get(API + "obligations/EU-AIA-ART9/").json()
    assert art9["regulation"] == "EU-AIA" and art9["title"]["en"]


def test_a_key_does_not_see_drafts(real_catalogue, reader):
    CatalogueRelease.objects.filter(pk=real_catalogue.pk).update(
        status=CatalogueRelease.Status.DRAFT
    )
    assert real_catalogue.code not in [
        r["code"] for r in reader.get(API + "releases/").json()["results"]
    ]
    body = problem(reader.get(API + "obligations/", {"release": real_catalogue.code}), 400)
    assert [e["pointer"] for e in body["errors"]] == ["/release"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_it_asks_for_credentials(real_catalogue, path):
    response = api().get(API + path)
    problem(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="kakehashi"'


def test_it_refuses_a_revoked_key(real_catalogue, owner):
    token = make_key(owner, name="old")
    ApiKey.objects.filter(name="old").update(revoked_at=timezone.now())
    problem(api(token).get(API + "releases/"), 401)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_it_is_read_only_for_write_keys(real_catalogue, writer, method):
    response = getattr(writer, method)(API + "obligations/", {}, format="json")
    problem(response, 405)


@pytest.mark.parametrize(
    ("path", "params", "pointer"),
    [
        ("obligations/", {"role": "king"}, "/role"),
        ("obligations/", {"regulation": "NOPE"}, "/regulation"),
        ("regulations/", {"jurisdiction": "US"}, "/jurisdiction"),
        ("crosswalk/", {"colour": "red"}, "/colour"),
    ],
)
def test_its_errors_are_problem_details(real_catalogue, reader, path, params, pointer):
    body = problem(reader.get(API + path, params), 400)
    assert [e["pointer"] for e in body["errors"]] == [pointer]
    assert body["code"] == "invalid" and body["instance"] == API + path


def test_an_unknown_obligation_is_a_404_problem(real_catalogue, reader):
    body = problem(reader.get(API + "obligations/NOPE/"), 404)
    assert "NOPE" in body["detail"]
