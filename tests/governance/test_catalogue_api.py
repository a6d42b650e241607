"""The read-only catalogue API under /api/v1/catalogue/ (session authentication for now)."""

import pytest
from django.test import Client

from governance.models import CatalogueRelease

from ..conftest import client_for
from ..factories import MembershipFactory
from .conftest import add_links, add_obligations

API = "/api/v1/catalogue/"
LISTS = ["releases/", "regulations/", "obligations/", "crosswalk/"]
ENDPOINTS = [*LISTS, "obligations/T-EU-ART9/"]


def get(client, path: str, **params):
    return client.get(API + path, params)


def codes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["code"] for item in response.json()["results"]]


# Access


@pytest.mark.parametrize("path", ENDPOINTS)
def test_it_refuses_anonymous_callers(catalogue, client, path):
    response = get(client, path)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "Authentication credentials were not provided."


@pytest.mark.parametrize("path", ENDPOINTS)
def test_it_answers_any_signed_in_person(catalogue, member_client, outsider_client, path):
    assert get(member_client, path).status_code == 200
    assert get(outsider_client, path).status_code == 200  # the catalogue is not per organisation


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_it_is_read_only(catalogue, member_client, path, method):
    response = getattr(member_client, method)(API + path, {}, content_type="application/json")
    assert response.status_code == 405


# Releases


def test_it_lists_the_releases(catalogue, member_client):
    response = get(member_client, "releases/")
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    new, old = body["results"]
    assert new["code"] == "test-new"
    assert new["title"] == {"en": "New release", "ja": "新リリース"}
    assert (new["status"], new["current"], new["effective_on"]) == ("published", True, "2026-07-27")
    assert new["published_at"]
    assert (old["code"], old["current"]) == ("test-old", False)


def test_it_lists_drafts_only_for_staff(catalogue, member_client, org):
    CatalogueRelease.objects.filter(code="test-old").update(status=CatalogueRelease.Status.DRAFT)
    assert codes(get(member_client, "releases/")) == ["test-new"]
    assert get(member_client, "obligations/", release="test-old").status_code == 400
    staff = client_for(MembershipFactory(organisation=org, user__is_staff=True))
    assert codes(get(staff, "releases/")) == ["test-new", "test-old"]
    assert codes(get(staff, "obligations/", release="test-old")) == ["T-EU-ART9", "T-JP-P02"]


# Regulations


def test_it_lists_the_regulations(catalogue, member_client):
    response = get(member_client, "regulations/")
    assert codes(response) == ["T-EU", "T-JP"]
    eu = response.json()["results"][0]
    assert eu["short_title"] == {"en": "Test AI Act", "ja": "テストAI法"}
    assert eu["summary"] == {"en": "A small regulation for tests.", "ja": "テスト用の小さな規則。"}
    assert (eu["release"], eu["jurisdiction"], eu["kind"]) == ("test-new", "EU", "binding_law")
    assert (eu["url"], eu["in_force_from"]) == ("https://example.eu/reg", "2024-08-01")
    assert codes(get(member_client, "regulations/", jurisdiction="JP")) == ["T-JP"]


# Obligations


def test_it_lists_the_obligations_of_the_current_release_by_code(catalogue, member_client):
    response = get(member_client, "obligations/")
    assert codes(response) == ["T-EU-ART50", "T-EU-ART9", "T-JP-P02"]
    art9 = response.json()["results"][1]
    assert art9 == {
        "code": "T-EU-ART9",
        "release": "test-new",
        "regulation": "T-EU",
        "jurisdiction": "EU",
        "provision": {"code": "T-EU-ART9", "reference": "Art. 9"},
        "title": {"en": "Run risk management", "ja": "リスク管理を実施する"},
        "summary": {
            "en": "Providers of high-risk systems manage risks.",
            "ja": "高リスクシステムの提供者はリスクを管理する。",
        },
        "roles": ["eu.provider"],
        "applies_when": 'label("eu.high_risk")',
        "applies_from": "2027-12-02",
        "applies_from_rules": [],
        "legal_force": "binding",
        "penalty": "T-EU-ART99-4",
        "guidance": {"en": "Keep a risk register.", "ja": "リスク登録簿を維持する。"},
        "evidence": [{"en": "Risk register", "ja": "リスク登録簿"}],
        "source": "Art. 9",
    }


def test_it_answers_in_both_languages_whatever_the_browser_says(catalogue, member):
    client = Client(headers={"accept-language": "ja"})
    client.force_login(member.user)
    item = get(client, "obligations/T-EU-ART9/").json()
    assert item["title"] == {"en": "Run risk management", "ja": "リスク管理を実施する"}


def test_it_lists_the_obligations_of_another_release(catalogue, member_client):
    response = get(member_client, "obligations/", release="test-old")
    assert codes(response) == ["T-EU-ART9", "T-JP-P02"]
    assert response.json()["results"][0]["applies_from"] == "2026-08-02"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"jurisdiction": "EU"}, ["T-EU-ART50", "T-EU-ART9"]),
        ({"jurisdiction": "INTL"}, []),
        ({"regulation": "T-JP"}, ["T-JP-P02"]),
        ({"role": "eu.deployer"}, ["T-EU-ART50"]),
        ({"role": "jp.provider"}, ["T-JP-P02"]),
        ({"legal_force": "binding"}, ["T-EU-ART50", "T-EU-ART9"]),
        ({"legal_force": "voluntary"}, ["T-JP-P02"]),
        ({"applies_from_after": "2026-08-02"}, ["T-EU-ART50", "T-EU-ART9"]),
        ({"applies_from_before": "2026-08-02"}, ["T-EU-ART50", "T-JP-P02"]),
        ({"applies_from_after": "2026-08-03", "applies_from_before": "2027-12-02"}, ["T-EU-ART9"]),
        ({"q": "risk"}, ["T-EU-ART9"]),
        ({"role": "", "legal_force": ""}, ["T-EU-ART50", "T-EU-ART9", "T-JP-P02"]),
        ({"release": "test-old", "role": "eu.provider"}, ["T-EU-ART9"]),
    ],
)
def test_it_filters_the_obligations(catalogue, member_client, params, expected):
    assert codes(get(member_client, "obligations/", **params)) == expected


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("obligations/", {"role": "king"}, {"role": ["“king” is not a known role."]}),
        (
            "obligations/",
            {"legal_force": "x"},
            {"legal_force": ["“x” is not a known legal force."]},
        ),
        (
            "regulations/",
            {"jurisdiction": "US"},
            {"jurisdiction": ["“US” is not a known jurisdiction."]},
        ),
        (
            "obligations/",
            {"applies_from_after": "2026-13-01"},
            {
                "applies_from_after": [
                    "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
                ]
            },
        ),
        (
            "obligations/",
            {"applies_from_after": "2027-01-01", "applies_from_before": "2026-01-01"},
            {"applies_from_before": ["This date is before applies_from_after."]},
        ),
        (
            "obligations/",
            {"regulation": "T-NOPE"},
            {"regulation": ["No regulation “T-NOPE” in this release."]},
        ),
        ("obligations/", {"release": "nope"}, {"release": ["Unknown release “nope”."]}),
        ("crosswalk/", {"release": "nope"}, {"release": ["Unknown release “nope”."]}),
        ("obligations/T-EU-ART9/", {"release": "nope"}, {"release": ["Unknown release “nope”."]}),
    ],
)
def test_it_rejects_values_it_does_not_know_naming_the_parameter(
    catalogue, member_client, path, params, expected
):
    response = get(member_client, path, **params)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {e["pointer"]: [e["detail"]] for e in errors} == {
        f"/{name}": messages for name, messages in expected.items()
    }


@pytest.mark.parametrize("path", LISTS)
def test_it_rejects_parameters_it_does_not_know(catalogue, member_client, path):
    response = get(member_client, path, rol="eu.provider")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["pointer"] == "/rol"
    message = error["detail"]
    assert message.startswith("Unknown parameter. This endpoint takes: ")


def test_it_pages_by_a_hundred(catalogue, member_client):
    add_obligations(150)
    first = get(member_client, "obligations/").json()
    assert (first["count"], len(first["results"])) == (153, 100)
    assert first["next"].endswith("/api/v1/catalogue/obligations/?page=2")
    second = get(member_client, "obligations/", page=2).json()
    assert len(second["results"]) == 53
    assert second["next"] is None


def test_it_shows_an_obligation_with_its_links_in_both_directions(catalogue, member_client):
    art9 = get(member_client, "obligations/T-EU-ART9/").json()
    assert art9["penalty_tier"] == {
        "code": "T-EU-ART99-4",
        "title": {"en": "Operator duties", "ja": "事業者の義務"},
        "max_eur": 15000000,
        "max_turnover_percent": 3.0,
        "sme_rule": "lower",
    }
    link = {
        "from": "T-EU-ART9",
        "to": "T-JP-P02",
        "relationship": "intersect",
        "rationale": {"en": "Both manage risk of harm.", "ja": "どちらも危害のリスクを管理する。"},
        "origin": "curated",
        "publisher": "",
        "reference": "test",
    }
    assert art9["crosswalk"] == [link]
    p02 = get(member_client, "obligations/T-JP-P02/").json()
    assert (p02["crosswalk"], p02["penalty_tier"]) == ([link], None)


def test_it_shows_an_obligation_as_in_another_release(catalogue, member_client):
    old = get(member_client, "obligations/T-EU-ART9/", release="test-old").json()
    assert (old["release"], old["applies_from"]) == ("test-old", "2026-08-02")


def test_it_answers_404_for_an_unknown_obligation(catalogue, member_client):
    response = get(member_client, "obligations/T-EU-ART50/", release="test-old")
    assert response.status_code == 404
    assert response.json()["detail"] == "No obligation “T-EU-ART50” in this release."


def test_it_answers_404_before_any_release_is_published(db, member_client):
    response = get(member_client, "obligations/")
    assert response.status_code == 404
    assert response.json()["detail"] == "No catalogue release has been published yet."


# Crosswalk


def test_it_lists_the_crosswalk(catalogue, member_client):
    assert get(member_client, "crosswalk/").json()["results"] == [
        {
            "from": "T-EU-ART9",
            "to": "T-JP-P02",
            "relationship": "intersect",
            "rationale": {
                "en": "Both manage risk of harm.",
                "ja": "どちらも危害のリスクを管理する。",
            },
            "origin": "curated",
            "publisher": "",
            "reference": "test",
        }
    ]


# Query counts


@pytest.mark.parametrize("extra", [0, 120])
@pytest.mark.parametrize(
    ("path", "params", "queries"),
    [
        # session, user, releases, count, page
        ("releases/", {}, 3),  # all releases at once, counted and paged in Python
        ("regulations/", {}, 5),
        ("obligations/", {}, 5),
        ("obligations/", {"q": "T-JP", "role": "jp.provider", "jurisdiction": "JP"}, 5),
        ("obligations/", {"regulation": "T-JP"}, 6),  # and whether the regulation exists
        ("crosswalk/", {}, 5),
    ],
)
def test_lists_take_constant_queries(
    catalogue, member_client, extra, path, params, queries, django_assert_num_queries
):
    add_obligations(extra)
    add_links(extra)
    with django_assert_num_queries(queries):
        response = get(member_client, path, **params)
    assert response.status_code == 200
