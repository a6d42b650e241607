"""Starting, listing and reading assessments, and an assessment's findings, through the API."""

import pytest
from rest_framework.test import APIClient

from assessments.models import Assessment, Finding
from governance.models import Role

from ..factories import AISystemFactory, AssessmentFactory, MembershipFactory
from .conftest import api

pytestmark = pytest.mark.usefixtures("real_catalogue")


def org_url(org, suffix=""):
    return f"/api/v1/orgs/{org.code}/{suffix}"


def start_url(system):
    return org_url(system.organisation, f"systems/{system.code}/assessments/")


def assessment_url(assessment, suffix=""):
    return org_url(assessment.organisation, f"assessments/{assessment.code}/{suffix}")


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def session(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


@pytest.fixture
def system(org):
    return AISystemFactory(organisation=org, name="Hiring")


@pytest.fixture
def run(writer, system, django_capture_on_commit_callbacks):
    """Start an assessment through the API and let the (eager) worker finish it."""

    def start(target=None) -> Assessment:
        target = target or system
        with django_capture_on_commit_callbacks(execute=True):
            response = writer.post(start_url(target))
        assert response.status_code == 202
        return Assessment.objects.get(code=response.json()["code"])

    return start


# Starting


def test_it_answers_202_with_a_location_and_the_worker_completes_the_run(
    writer, system, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = writer.post(start_url(system))
    assert response.status_code == 202
    assessment = Assessment.objects.get(system=system)
    # Nothing ran inside the request: the run task is only sent once the request commits.
    body = response.json()
    assert (body["status"], assessment.status, body["source"]) == ("queued", "queued", "api")
    assert body["code"] == str(assessment.code) and body["system"] == str(system.code)
    location = response["Location"]
    assert location == f"http://testserver{assessment_url(assessment)}"
    assert assessment.requested_by is None
    for callback in callbacks:
        callback()
    body = writer.get(location).json()
    assert body["status"] == "completed" and body["latest"] is True
    assert body["eu_tier"] == "high_risk"
    assert {
        "label": "eu.annex3",
        "detail": "4(a)",
        "citation": "Art. 6(2), Annex III point 4(a)",
    } in body["labels"]
    assert body["summary"] and body["findings_href"] == assessment_url(assessment, "findings/")


def test_it_answers_with_the_run_already_in_flight(writer, system):
    first = writer.post(start_url(system)).json()["code"]
    second = writer.post(start_url(system), {}, format="json").json()["code"]
    assert first == second
    assert Assessment.objects.filter(system=system).count() == 1


def test_it_replays_a_start_with_the_same_idempotency_key(writer, system):
    first = writer.post(start_url(system), HTTP_IDEMPOTENCY_KEY="run-1")
    again = writer.post(start_url(system), HTTP_IDEMPOTENCY_KEY="run-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    other = writer.post(
        start_url(system), {"note": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="run-1"
    )
    problem(other, 422)
    assert Assessment.objects.count() == 1


def test_it_refuses_a_body_with_fields(writer, system):
    body = problem(writer.post(start_url(system), {"release": "x"}, format="json"), 400)
    assert [e["pointer"] for e in body["errors"]] == ["/release"]
    assert not Assessment.objects.exists()


def test_it_refuses_read_keys_viewers_and_archived_systems(reader, writer, org, system):
    assert "read-only" in problem(reader.post(start_url(system)), 403)["detail"]
    viewer = session(MembershipFactory(organisation=org, role=Role.VIEWER))
    problem(viewer.post(start_url(system)), 403)
    system.archived_at = system.created_at
    system.save()
    assert "archived" in problem(writer.post(start_url(system)), 400)["detail"]
    assert not Assessment.objects.exists()


def test_a_contributor_session_starts_a_run(member, system):
    response = session(member).post(start_url(system))
    assert response.status_code == 202
    assert Assessment.objects.get().requested_by == member.user


def test_it_asks_for_credentials(system):
    response = api().post(start_url(system))
    problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Assessment.objects.exists()


# Listing and reading


def test_it_lists_assessments_with_filters(writer, org, system, run):
    other = AISystemFactory(organisation=org, name="Other")
    older = AssessmentFactory(system=system)  # replaced as latest by the run below
    newest = run()
    failed = AssessmentFactory(system=other, status="failed")

    def codes(**params):
        response = writer.get(org_url(org, "assessments/"), params)
        assert response.status_code == 200, response.content
        return [row["code"] for row in response.json()["results"]]

    assert codes() == [str(failed.code), str(newest.code), str(older.code)]
    assert codes(system=system.code) == [str(newest.code), str(older.code)]
    assert codes(status="failed") == [str(failed.code)]
    assert codes(latest="true") == [str(newest.code)]
    assert codes(latest="false") == [str(failed.code), str(older.code)]
    assert codes(ordering="created_at")[0] == str(older.code)
    body = writer.get(start_url(system)).json()
    assert [row["code"] for row in body["results"]] == [str(newest.code), str(older.code)]


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"status": "done"}, "/status"),
        ({"latest": "maybe"}, "/latest"),
        ({"system": "nope"}, "/system"),
        ({"ordering": "eu_tier"}, "/ordering"),
        ({"cursor": "abc"}, "/cursor"),
        ({"colour": "red"}, "/colour"),
    ],
)
def test_it_refuses_parameters_it_does_not_understand(writer, org, params, pointer):
    body = problem(writer.get(org_url(org, "assessments/"), params), 400)
    assert [e["pointer"] for e in body["errors"]] == [pointer]


def test_it_pages_assessments_through_next(writer, org, system):
    made = [AssessmentFactory(system=system, status="failed") for _ in range(5)]
    seen, url = [], org_url(org, "assessments/?page_size=2&ordering=finished_at")
    while url:
        body = writer.get(url).json()
        seen += [row["code"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(str(a.code) for a in made) and len(seen) == 5


def test_it_lists_assessments_in_a_constant_number_of_queries(
    writer, org, system, django_assert_num_queries
):
    AssessmentFactory.create_batch(2, system=system, status="failed")
    url = org_url(org, "assessments/")
    writer.get(url)  # the key's last use is recorded once a minute
    with django_assert_num_queries(2):  # the key, the page
        assert len(writer.get(url).json()["results"]) == 2
    for _ in range(4):
        AssessmentFactory(system=AISystemFactory(organisation=org), status="failed")
    with django_assert_num_queries(2):
        assert len(writer.get(url).json()["results"]) == 6


def test_it_lists_a_runs_findings_in_pages_with_both_languages(
    writer, system, run, django_assert_num_queries
):
    assessment = run()
    url = assessment_url(assessment, "findings/")
    total = Finding.objects.filter(assessment=assessment).count()
    assert total > 50
    seen, next_url = [], url + "?page_size=40"
    while next_url:
        body = writer.get(next_url).json()
        seen += body["results"]
        next_url = body["next"]
    assert len({f["code"] for f in seen}) == len(seen) == total
    assert [f["obligation"] for f in seen] == sorted(f["obligation"] for f in seen)
    art9 = next(f for f in seen if f["obligation"] == "EU-AIA-ART9")
    assert art9["title"]["ja"] and art9["title"]["en"]
    assert art9["applies_from"] == "2027-12-02"
    assert (art9["status"], art9["assessment"]) == ("open", str(assessment.code))
    # the key, the assessment, the page: the same however many findings
    with django_assert_num_queries(3):
        writer.get(url + "?page_size=2")
    with django_assert_num_queries(3):
        writer.get(url + "?page_size=200")


def test_a_read_key_reads_but_does_not_start(reader, system, run):
    assessment = run()
    assert reader.get(assessment_url(assessment)).json()["status"] == "completed"
    assert reader.get(assessment_url(assessment, "findings/")).status_code == 200
    problem(reader.post(start_url(system)), 403)


# Isolation


def test_it_hides_assessments_from_other_organisations(
    stranger, outsider, outsider_client, org, system, run
):
    assessment = run()
    for client in (stranger, outsider_client):
        problem(client.post(start_url(system)), 404)
        problem(client.get(start_url(system)), 404)
        problem(client.get(org_url(org, "assessments/")), 404)
        problem(client.get(assessment_url(assessment)), 404)
        problem(client.get(assessment_url(assessment, "findings/")), 404)
    # Through the outsider's own organisation, this organisation's objects are not found.
    own = outsider.organisation
    for client in (stranger, outsider_client):
        problem(client.get(org_url(own, f"assessments/{assessment.code}/")), 404)
        problem(client.get(org_url(own, f"assessments/{assessment.code}/findings/")), 404)
        problem(client.post(org_url(own, f"systems/{system.code}/assessments/")), 404)
        assert client.get(org_url(own, "assessments/")).json()["results"] == []
    assert Assessment.objects.count() == 1
