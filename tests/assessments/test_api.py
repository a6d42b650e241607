"""Starting and reading assessments through the API."""

import pytest

from assessments.models import Assessment, Finding
from governance.models import Role

from ..conftest import client_for
from ..factories import AISystemFactory, MembershipFactory


@pytest.fixture
def system(real_catalogue, owner):
    return AISystemFactory(organisation=owner.organisation)


def start_url(system) -> str:
    return f"/api/v1/orgs/{system.organisation.code}/systems/{system.code}/assessments/"


def test_it_answers_202_with_a_location_and_leaves_the_work_to_the_worker(
    system, owner_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(start_url(system))
    assert response.status_code == 202
    assessment = Assessment.objects.get(system=system)
    # Nothing ran inside the request: the run task is only sent once the request commits.
    assert response.json()["status"] == "queued"
    assert assessment.status == "queued"
    assert len(callbacks) == 1
    location = response["Location"]
    assert location.endswith(
        f"/api/v1/orgs/{system.organisation.code}/assessments/{assessment.code}/"
    )

    callbacks[0]()
    body = owner_client.get(location).json()
    assert body["status"] == "completed"
    assert body["eu_tier"] == "high_risk"
    assert {
        "label": "eu.annex3",
        "detail": "4(a)",
        "citation": "Art. 6(2), Annex III point 4(a)",
    } in body["labels"]


def test_it_returns_the_run_already_in_flight(system, owner_client):
    first = owner_client.post(start_url(system)).json()["code"]
    second = owner_client.post(start_url(system)).json()["code"]
    assert first == second
    assert Assessment.objects.filter(system=system).count() == 1


def test_it_lists_findings_in_pages_with_both_languages(
    system, owner, owner_client, django_capture_on_commit_callbacks, django_assert_num_queries
):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(start_url(system))
    assessment = Assessment.objects.get(system=system)
    url = f"/api/v1/orgs/{system.organisation.code}/assessments/{assessment.code}/findings/"
    client = client_for(owner)
    client.get(url)  # warm the session
    # session, user, membership, assessment, count, page: the same however many findings.
    with django_assert_num_queries(6):
        body = client.get(url).json()
    assert body["count"] == Finding.objects.filter(assessment=assessment).count() > 50
    art9 = next(f for f in body["results"] if f["obligation"] == "EU-AIA-ART9")
    assert art9["title"]["ja"] and art9["title"]["en"]
    assert art9["applies_from"] == "2027-12-02"
    assert art9["status"] == "open"


def test_it_refuses_a_viewer_and_an_archived_system(system, owner, owner_client):
    viewer = MembershipFactory(organisation=owner.organisation, role=Role.VIEWER)
    assert client_for(viewer).post(start_url(system)).status_code == 403
    system.archived_at = system.created_at
    system.save()
    response = owner_client.post(start_url(system))
    assert response.status_code == 400
    assert "archived" in response.json()["detail"]
    assert not Assessment.objects.exists()


def test_it_hides_assessments_from_an_outsider(
    system, owner_client, outsider, outsider_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        code = owner_client.post(start_url(system)).json()["code"]
    org = system.organisation.code
    assert outsider_client.post(start_url(system)).status_code == 404
    assert outsider_client.get(f"/api/v1/orgs/{org}/assessments/{code}/").status_code == 404
    assert (
        outsider_client.get(f"/api/v1/orgs/{org}/assessments/{code}/findings/").status_code == 404
    )
    # Through the outsider's own organisation code, the object is not found either.
    own = outsider.organisation.code
    assert outsider_client.get(f"/api/v1/orgs/{own}/assessments/{code}/").status_code == 404
    assert (
        outsider_client.post(f"/api/v1/orgs/{own}/systems/{system.code}/assessments/").status_code
        == 404
    )
    assert Assessment.objects.count() == 1
