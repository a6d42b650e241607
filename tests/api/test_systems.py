"""The AI system registry through the API: list, register, read, change, archive, restore and
the questionnaire answers, with keys and sessions."""

import datetime as dt
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import AISystem, AISystemVersion, ApiKey, ApiScope, Role

from ..factories import HIRING_TOOL_ANSWERS, AISystemFactory, MembershipFactory
from .conftest import api, make_key

pytestmark = pytest.mark.usefixtures("real_catalogue")


def systems_url(org, suffix=""):
    return f"/api/v1/orgs/{org.code}/systems/{suffix}"


def system_url(system, suffix=""):
    return f"/api/v1/orgs/{system.organisation.code}/systems/{system.code}/{suffix}"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"].startswith("tag:kakehashi")
    return body


def pointers(response) -> list[str]:
    return [error["pointer"] for error in problem(response, 400)["errors"]]


def payload(**fields) -> dict:
    return {
        "name": "Hiring assistant",
        "description": "Ranks job applications.",
        "business_unit": "People",
        "lifecycle_stage": "production",
        "answers": dict(HIRING_TOOL_ANSWERS),
        **fields,
    }


def session(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


@pytest.fixture
def system(org, owner):
    return AISystemFactory(organisation=org, name="Chatbot", owner=owner.user)


# Listing


def test_it_lists_the_active_systems_with_their_registry_fields(writer, org, system):
    AISystemFactory(organisation=org, name="Old", archived_at=timezone.now())
    response = writer.get(systems_url(org))
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    [row] = body["results"]
    assert row["code"] == str(system.code)
    assert row["name"] == "Chatbot"
    assert row["owner"] == "owner@acme.example"
    assert row["markets"] == ["EU", "JP"]
    assert row["archived"] is False and row["latest_assessment"] is None
    assert row["href"] == f"/api/v1/orgs/{org.code}/systems/{system.code}/"
    assert "answers" not in row
    archived = writer.get(systems_url(org), {"archived": "true"}).json()["results"]
    assert [r["name"] for r in archived] == ["Old"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "chat"}, ["Chatbot"]),
        ({"stage": "planned"}, ["Planner"]),
        ({"tier": "high_risk"}, ["Scorer"]),
        ({"tier": "assessed"}, ["Scorer"]),
        ({"tier": "unassessed"}, ["Chatbot", "Planner"]),
        ({"owner": "OWNER@acme.example"}, ["Chatbot"]),
        ({"owner": "none"}, ["Planner", "Scorer"]),
        ({"unit": "people"}, ["Scorer"]),
    ],
)
def test_it_filters_like_the_registry_list(writer, org, system, params, expected):
    AISystemFactory(organisation=org, name="Planner", lifecycle_stage="planned")
    AISystemFactory(organisation=org, name="Scorer", eu_tier="high_risk", business_unit="People")
    response = writer.get(systems_url(org), params)
    assert [r["name"] for r in response.json()["results"]] == expected


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"colour": "red"}, "/colour"),
        ({"stage": "dreaming"}, "/stage"),
        ({"archived": "perhaps"}, "/archived"),
        ({"ordering": "vendor"}, "/ordering"),
        ({"cursor": "not-a-cursor"}, "/cursor"),
        ({"page_size": "0"}, "/page_size"),
    ],
)
def test_it_refuses_parameters_it_does_not_understand(writer, org, params, pointer):
    assert pointers(writer.get(systems_url(org), params)) == [pointer]


def test_it_pages_through_next_without_gaps_or_repeats(writer, org):
    for name in ["E", "B", "D", "A", "C"]:
        AISystemFactory(organisation=org, name=name)
    seen, url = [], systems_url(org) + "?page_size=2&ordering=-name"
    while url:
        body = writer.get(url).json()
        assert len(body["results"]) <= 2
        seen += [row["name"] for row in body["results"]]
        url = body["next"]
    assert seen == ["E", "D", "C", "B", "A"]


def test_it_lists_in_a_constant_number_of_queries(writer, org, django_assert_num_queries):
    AISystemFactory.create_batch(2, organisation=org)
    writer.get(systems_url(org))  # the key's last use is recorded once a minute
    # the key, the page of systems
    with django_assert_num_queries(2):
        assert len(writer.get(systems_url(org)).json()["results"]) == 2
    AISystemFactory.create_batch(5, organisation=org)
    with django_assert_num_queries(2):
        assert len(writer.get(systems_url(org)).json()["results"]) == 7


# Authentication and scope


def test_it_asks_for_credentials(org, system):
    response = api().get(systems_url(org))
    problem(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="kakehashi"'


def test_it_refuses_revoked_and_expired_keys(org, owner, system):
    revoked, expired = make_key(owner, name="revoked"), make_key(owner, name="expired")
    ApiKey.objects.filter(name="revoked").update(revoked_at=timezone.now())
    ApiKey.objects.filter(name="expired").update(expires_at=timezone.now() - dt.timedelta(1))
    for token in (revoked, expired):
        problem(api(token).get(systems_url(org)), 401)


def test_it_refuses_writes_with_a_read_key(reader, org, system):
    assert (
        "read-only"
        in problem(reader.post(systems_url(org), payload(), format="json"), 403)["detail"]
    )
    problem(reader.patch(system_url(system), {"name": "X"}, format="json"), 403)
    problem(reader.delete(system_url(system)), 403)
    problem(reader.put(system_url(system, "answers/"), {"answers": {}}, format="json"), 403)
    assert reader.get(system_url(system)).status_code == 200
    assert AISystem.objects.count() == 1 and not AISystem.objects.get().is_archived


def test_it_refuses_writes_by_a_viewer_session(org, system):
    viewer = session(MembershipFactory(organisation=org, role=Role.VIEWER))
    problem(viewer.post(systems_url(org), payload(), format="json"), 403)
    problem(viewer.patch(system_url(system), {"name": "X"}, format="json"), 403)
    problem(viewer.delete(system_url(system)), 403)
    assert viewer.get(system_url(system)).status_code == 200
    assert list(AISystem.objects.values_list("name", flat=True)) == ["Chatbot"]


def test_it_hides_the_organisation_from_others(stranger, outsider_client, org, system):
    urls = [
        systems_url(org),
        system_url(system),
        system_url(system, "answers/"),
    ]
    for client in (stranger, outsider_client):
        for url in urls:
            assert client.get(url).status_code == 404
        body = json.dumps(payload())
        problem(client.post(systems_url(org), body, content_type="application/json"), 404)
        change = json.dumps({"name": "Mine"})
        response = client.patch(system_url(system), change, content_type="application/json")
        assert response.status_code == 404
        assert client.delete(system_url(system)).status_code == 404
        assert client.post(system_url(system, "restore/")).status_code == 404
    # Another organisation's key does not reach this system through its own organisation either.
    own = stranger.get(f"/api/v1/orgs/{system.organisation.code}/systems/")
    problem(own, 404)
    assert AISystem.objects.get().name == "Chatbot" and AISystem.objects.count() == 1


def test_it_hides_a_system_behind_the_strangers_own_organisation(stranger, outsider, system):
    url = f"/api/v1/orgs/{outsider.organisation.code}/systems/{system.code}/"
    problem(stranger.get(url), 404)


# Registering


def test_it_registers_a_system_with_its_answers(writer, org, member):
    response = writer.post(systems_url(org), payload(owner="member@acme.example"), format="json")
    assert response.status_code == 201, response.content
    system = AISystem.objects.get()
    assert response["Location"] == f"http://testserver{systems_url(org)}{system.code}/"
    body = response.json()
    assert body["code"] == str(system.code)
    assert body["owner"] == "member@acme.example"
    assert body["answers"]["annex3_use_cases"] == ["4a"]
    assert body["eu_tier"] == "" and body["latest_completed_assessment"] is None
    assert body["open_actions"] == 0 and body["findings"] is None
    assert system.created_by is None and system.owner == member.user
    assert AISystemVersion.objects.get(system=system).number == 1


def test_a_contributor_session_registers_too(member, org):
    response = session(member).post(systems_url(org), payload(), format="json")
    assert response.status_code == 201
    assert AISystem.objects.get().created_by == member.user


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"answers": {**HIRING_TOOL_ANSWERS, "is_sme": "maybe"}}, "/answers/is_sme"),
        ({"answers": {**HIRING_TOOL_ANSWERS, "colour": "red"}}, "/answers/colour"),
        ({"answers": "yes"}, "/answers"),
        ({"owner": "outsider@rival.example"}, "/owner"),
        ({"lifecycle_stage": "dreaming"}, "/lifecycle_stage"),
        ({"name": ""}, "/name"),
        ({"colour": "red"}, "/colour"),
    ],
)
def test_it_refuses_bad_input_and_writes_nothing(writer, org, outsider, changes, pointer):
    response = writer.post(systems_url(org), payload(**changes), format="json")
    assert pointer in pointers(response)
    assert not AISystem.objects.exists()


def test_it_names_a_clash_with_an_active_system(writer, org, system):
    response = writer.post(systems_url(org), payload(name="chatbot"), format="json")
    assert pointers(response) == ["/name"]
    assert AISystem.objects.count() == 1


def test_it_replays_a_registration_with_the_same_idempotency_key(writer, org):
    first = writer.post(
        systems_url(org), payload(), format="json", HTTP_IDEMPOTENCY_KEY="register-1"
    )
    again = writer.post(
        systems_url(org), payload(), format="json", HTTP_IDEMPOTENCY_KEY="register-1"
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert "Idempotent-Replayed" not in first
    assert AISystem.objects.count() == 1
    other = writer.post(
        systems_url(org), payload(name="Other"), format="json", HTTP_IDEMPOTENCY_KEY="register-1"
    )
    problem(other, 422)
    assert AISystem.objects.count() == 1


# Reading, changing, archiving


def test_it_reads_a_system_with_its_assessment(writer, owner, org, system, assess):
    assessment = assess(system, owner)
    body = writer.get(system_url(system)).json()
    assert body["answers"] == system.answers
    assert body["eu_tier"] == "high_risk" and body["assessed_at"]
    assert body["latest_completed_assessment"] == str(assessment.code)
    assert body["latest_assessment"]["code"] == str(assessment.code)
    assert body["latest_assessment"]["status"] == "completed"
    assert body["findings"]["total"] == body["findings"]["open"] > 0
    assert body["findings"]["gaps"] == body["findings"]["total"]


def test_it_changes_only_the_fields_sent(writer, system):
    response = writer.patch(system_url(system), {"vendor": "Acme AI"}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 2
    system.refresh_from_db()
    assert (system.vendor, system.name, system.owner.email) == (
        "Acme AI",
        "Chatbot",
        "owner@acme.example",
    )
    assert writer.patch(system_url(system), {"owner": None}, format="json").json()["owner"] is None


def test_it_refuses_a_bad_change_and_keeps_the_system(writer, system):
    answers = {**HIRING_TOOL_ANSWERS, "is_sme": "maybe"}
    response = writer.patch(system_url(system), {"answers": answers, "vendor": "X"}, format="json")
    assert pointers(response) == ["/answers/is_sme"]
    system.refresh_from_db()
    assert (system.version, system.vendor) == (1, "")


def test_it_archives_keeps_it_readable_and_restores(writer, org, system):
    assert writer.delete(system_url(system)).status_code == 204
    system.refresh_from_db()
    assert system.is_archived
    assert writer.get(system_url(system)).json()["archived"] is True
    assert writer.get(systems_url(org)).json()["results"] == []
    problem(writer.patch(system_url(system), {"vendor": "X"}, format="json"), 409)
    assert writer.delete(system_url(system)).status_code == 204  # already archived: unchanged
    response = writer.post(system_url(system, "restore/"))
    assert response.status_code == 200 and response.json()["archived"] is False
    system.refresh_from_db()
    assert not system.is_archived


def test_it_refuses_to_restore_over_an_active_namesake(writer, org, system):
    writer.delete(system_url(system))
    AISystemFactory(organisation=org, name="CHATBOT")
    problem(writer.post(system_url(system, "restore/")), 409)
    system.refresh_from_db()
    assert system.is_archived


# Answers


def test_it_reads_and_replaces_the_answers(writer, system):
    body = writer.get(system_url(system, "answers/")).json()
    assert body == {"release": system.release.code, "version": 1, "answers": system.answers}
    answers = {**HIRING_TOOL_ANSWERS, "is_sme": True}
    response = writer.put(system_url(system, "answers/"), {"answers": answers}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 2 and response.json()["answers"]["is_sme"] is True
    system.refresh_from_db()
    assert system.answers["is_sme"] is True


def test_it_refuses_bad_answers_naming_the_question(writer, system):
    answers = {**HIRING_TOOL_ANSWERS, "is_sme": "maybe"}
    response = writer.put(system_url(system, "answers/"), {"answers": answers}, format="json")
    body = problem(response, 400)
    assert body["errors"] == [
        {"pointer": "/answers/is_sme", "detail": "Answer yes or no.", "code": "invalid"}
    ]
    system.refresh_from_db()
    assert system.version == 1 and system.answers["is_sme"] is False


def test_a_read_key_reads_the_answers_but_a_stranger_does_not(reader, stranger, system):
    assert reader.get(system_url(system, "answers/")).status_code == 200
    problem(stranger.get(system_url(system, "answers/")), 404)


def test_a_write_key_is_attributed_in_the_audit_trail(writer, owner, org, system):
    from governance.models import AuditEvent

    writer.patch(system_url(system), {"vendor": "Acme AI"}, format="json")
    key = ApiKey.objects.get(organisation=org, scope=ApiScope.WRITE)
    event = AuditEvent.objects.filter(table="governance_aisystem", action="update").latest(
        "created_at"
    )
    assert event.actor_api_key_id == key.pk and event.actor_user_id is None


def test_it_needs_a_member_as_owner_not_just_any_user(writer, org, outsider, system):
    response = writer.patch(system_url(system), {"owner": outsider.user.email}, format="json")
    assert pointers(response) == ["/owner"]
