"""The organisation's audit trail through the API: who may read it, what an event says, its
filters and its pages."""

import pytest
from rest_framework.test import APIClient

from governance.audit import audit_context
from governance.models import ApiKey, AuditEvent, Role

from ..factories import AISystemFactory, MembershipFactory
from .conftest import api

pytestmark = pytest.mark.usefixtures("real_catalogue")


def events_url(org):
    return f"/api/v1/orgs/{org.code}/audit-events/"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def session(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


@pytest.fixture
def trail(org, owner, writer):
    """A system registered by the owner in the browser, then renamed with the write key."""
    with audit_context(user_id=owner.user_id, source="web"):
        system = AISystemFactory(organisation=org, name="Chatbot")
    response = writer.patch(
        f"/api/v1/orgs/{org.code}/systems/{system.code}/", {"vendor": "Acme AI"}, format="json"
    )
    assert response.status_code == 200
    return system


def rows(client, org, **params) -> list[dict]:
    response = client.get(events_url(org), params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_it_lists_the_trail_newest_first_with_its_actors(reader, org, trail):
    events = [e for e in rows(reader, org) if e["object"]["table"] == "governance_aisystem"]
    update, insert = events
    key = ApiKey.objects.get(organisation=org, scope="write")
    assert update["action"] == "update" and update["source"] == "api"
    assert update["actor"] == {"email": None, "api_key": {"name": key.name, "prefix": key.prefix}}
    assert (update["before"]["vendor"], update["after"]["vendor"]) == ("", "Acme AI")
    label = AuditEvent.objects.filter(table="governance_aisystem").first().object_label
    assert update["object"] == {"table": "governance_aisystem", "label": label, "pk": str(trail.pk)}
    assert insert["action"] == "insert" and insert["source"] == "web"
    assert insert["actor"] == {"email": "owner@acme.example", "api_key": None}
    assert insert["before"] is None and insert["after"]["name"] == "Chatbot"
    assert update["created_at"] >= insert["created_at"]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.ADMIN, True),
        (Role.COMPLIANCE_OFFICER, True),
        (Role.CONTRIBUTOR, False),
        (Role.VIEWER, False),
    ],
)
def test_people_read_it_when_they_manage_the_organisation(org, trail, role, allowed):
    client = session(MembershipFactory(organisation=org, role=role))
    response = client.get(events_url(org))
    if allowed:
        assert response.status_code == 200 and response.json()["results"]
    else:
        problem(response, 403)


def test_it_filters_by_table_action_actor_and_time(reader, org, owner, trail):
    assert {e["object"]["table"] for e in rows(reader, org, table="governance_aisystem")} == {
        "governance_aisystem"
    }
    assert {e["action"] for e in rows(reader, org, action="update")} == {"update"}
    by_owner = rows(reader, org, actor="OWNER@acme.example")
    assert by_owner and {e["actor"]["email"] for e in by_owner} == {"owner@acme.example"}
    key = ApiKey.objects.get(organisation=org, scope="write")
    by_key = rows(reader, org, actor=f"kk_{key.prefix}")
    assert by_key and {e["actor"]["api_key"]["prefix"] for e in by_key} == {key.prefix}
    assert rows(reader, org, actor=key.prefix) == by_key
    assert rows(reader, org, actor="kk_unknown") == []
    update = AuditEvent.objects.get(table="governance_aisystem", action="update")
    since = rows(reader, org, since=update.created_at.isoformat())
    assert since and all(e["created_at"] >= update.created_at.isoformat()[:19] for e in since)
    until = rows(reader, org, until=update.created_at.isoformat(), table="governance_aisystem")
    assert [e["action"] for e in until] == ["insert"]


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"table": "auth_secrets"}, "/table"),
        ({"action": "erase"}, "/action"),
        ({"since": "yesterday"}, "/since"),
        ({"since": "2026-02-01T00:00Z", "until": "2026-01-01T00:00Z"}, "/until"),
        ({"ordering": "table"}, "/ordering"),
        ({"cursor": "zzz"}, "/cursor"),
        ({"page": "2"}, "/page"),
    ],
)
def test_it_refuses_parameters_it_does_not_understand(reader, org, params, pointer):
    body = problem(reader.get(events_url(org), params), 400)
    assert [e["pointer"] for e in body["errors"]] == [pointer]


def test_it_pages_through_next_without_gaps_or_repeats(reader, org, trail):
    everything = rows(reader, org, page_size=200)
    assert len(everything) >= 4
    seen, url = [], events_url(org) + "?page_size=3"
    while url:
        body = reader.get(url).json()
        seen += body["results"]
        url = body["next"]
    assert seen == everything


def test_it_lists_in_a_constant_number_of_queries(reader, org, trail, django_assert_num_queries):
    reader.get(events_url(org))  # the key's last use is recorded once a minute
    # the key, the organisation's keys, the page
    with django_assert_num_queries(3):
        few = reader.get(events_url(org), {"page_size": 2}).json()["results"]
    with django_assert_num_queries(3):
        many = reader.get(events_url(org), {"page_size": 200}).json()["results"]
    assert len(few) == 2 < len(many)


def test_it_asks_for_credentials(org, trail):
    response = api().get(events_url(org))
    problem(response, 401)
    assert "WWW-Authenticate" in response


def test_it_hides_the_trail_from_other_organisations(
    stranger, outsider, outsider_client, org, trail
):
    for client in (stranger, outsider_client):
        problem(client.get(events_url(org)), 404)
        own = rows(client, outsider.organisation)
        assert all(e["object"]["table"] != "governance_aisystem" for e in own)


def test_it_is_read_only(writer, org):
    problem(writer.post(events_url(org), {}, format="json"), 405)
    problem(writer.delete(events_url(org)), 405)
