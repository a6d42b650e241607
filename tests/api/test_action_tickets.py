"""References to tickets in other tools that clients record on an action, next to the tickets a
Jira or ServiceNow connection keeps (read-only through these endpoints)."""

import pytest
from django.urls import reverse

from assessments.models import ExternalTicket, TicketingConnection
from governance.models import Role

from ..factories import MembershipFactory, RemediationActionFactory
from .test_actions import PROBLEM, action_url, pointers, session


def tickets_url(action, ticket=None) -> str:
    kwargs = {"org_code": action.organisation.code, "action_code": action.code}
    if ticket is None:
        return reverse("api_action_tickets", kwargs=kwargs)
    return reverse("api_action_ticket", kwargs={**kwargs, "ticket_code": ticket.code})


@pytest.fixture
def action(real_catalogue, org):
    return RemediationActionFactory(system__organisation=org)


@pytest.fixture
def jira(org):
    return TicketingConnection.objects.create(
        organisation=org,
        system="jira",
        base_url="https://acme.atlassian.net",
        username="bot@acme.example",
        token="secret",
        inbound_secret="inbound",
        project_key="KK",
    )


@pytest.fixture
def synced(action, jira):
    return ExternalTicket.objects.create(
        organisation=action.organisation,
        action=action,
        connection=jira,
        system="jira",
        external_id="10001",
        external_key="KK-1",
        url="https://acme.atlassian.net/browse/KK-1",
        remote_status="In Progress",
        sync_state="synced",
        needs_sync=False,
    )


def manual(action, system="github", **kwargs) -> ExternalTicket:
    return ExternalTicket.objects.create(
        organisation=action.organisation,
        action=action,
        system=system,
        external_key=kwargs.pop("external_key", "#42"),
        sync_state="manual",
        needs_sync=False,
        **kwargs,
    )


def test_it_records_a_ticket(member, action):
    response = session(member).post(
        tickets_url(action),
        {"system": "GitHub", "key": "#42", "url": "https://github.com/acme/hr/issues/42"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    ticket = ExternalTicket.objects.get()
    assert (ticket.connection, ticket.sync_state, ticket.needs_sync) == (None, "manual", False)
    assert response.json() == {
        "code": str(ticket.code),
        "system": "github",
        "key": "#42",
        "url": "https://github.com/acme/hr/issues/42",
        "status": "",
        "sync_state": "manual",
        "managed": False,
        "last_synced_at": None,
        "created_at": response.json()["created_at"],
    }
    # The action shows it.
    [shown] = session(member).get(action_url(action)).json()["tickets"]
    assert shown["code"] == str(ticket.code)


@pytest.mark.parametrize(
    ("data", "pointer"),
    [
        ({"system": "Git Hub!", "key": "#1"}, "/system"),
        ({"system": "github"}, "/key"),
        ({"system": "github", "url": "ftp//nope"}, "/url"),
        ({"system": "github", "key": "#2"}, "/system"),  # one per tool
        ({"system": "other", "key": "x" * 101}, "/key"),
    ],
)
def test_it_refuses_bad_tickets(writer, action, data, pointer):
    manual(action)

    response = writer.post(tickets_url(action), data, format="json")

    assert response.status_code == 400
    assert pointers(response) == [pointer]
    assert ExternalTicket.objects.count() == 1


def test_it_leaves_a_connected_tool_to_its_connection(writer, action, jira):
    response = writer.post(tickets_url(action), {"system": "jira", "key": "KK-9"}, format="json")

    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    assert not ExternalTicket.objects.exists()


@pytest.mark.parametrize("system", ["jira", "servicenow"])
def test_it_keeps_the_connectors_names_for_them_before_any_connection(writer, action, system):
    """A hand-made "jira" row would take the slot a Jira connection needs later."""
    response = writer.post(tickets_url(action), {"system": system, "key": "KK-9"}, format="json")

    assert response.status_code == 409
    assert not ExternalTicket.objects.exists()


def test_it_keeps_connection_tickets_read_only(writer, action, synced):
    listed = writer.get(tickets_url(action)).json()["results"]
    patched = writer.patch(tickets_url(action, synced), {"status": "Done"}, format="json")
    deleted = writer.delete(tickets_url(action, synced))

    assert [(t["key"], t["managed"], t["sync_state"]) for t in listed] == [("KK-1", True, "synced")]
    assert (patched.status_code, deleted.status_code) == (409, 409)
    synced.refresh_from_db()
    assert synced.remote_status == "In Progress"


def test_it_changes_and_forgets_a_recorded_ticket(writer, action):
    ticket = manual(action)

    patched = writer.patch(tickets_url(action, ticket), {"status": "closed"}, format="json")
    emptied = writer.patch(tickets_url(action, ticket), {"key": ""}, format="json")
    deleted = writer.delete(tickets_url(action, ticket))

    assert patched.status_code == 200
    assert patched.json()["status"] == "closed"
    assert emptied.status_code == 400  # neither key nor link left
    assert pointers(emptied) == ["/key"]
    assert deleted.status_code == 204
    assert not ExternalTicket.objects.exists()


def test_it_replays_a_repeated_ticket(writer, action):
    data = {"system": "gitlab", "key": "!7"}
    first = writer.post(tickets_url(action), data, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    again = writer.post(tickets_url(action), data, format="json", HTTP_IDEMPOTENCY_KEY="t-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert ExternalTicket.objects.count() == 1


@pytest.mark.parametrize("rows", [1, 5])
def test_it_lists_tickets_with_a_constant_number_of_queries(
    reader, action, rows, django_assert_num_queries
):
    for n in range(rows):
        manual(action, system=f"tool-{n}")

    with django_assert_num_queries(4):
        response = reader.get(tickets_url(action))
    assert len(response.json()["results"]) == rows


def test_it_lets_readers_only_read(reader, org, action):
    viewer = MembershipFactory(organisation=org, role=Role.VIEWER)
    ticket = manual(action)

    assert reader.get(tickets_url(action, ticket)).status_code == 200
    data = {"system": "other", "key": "1"}
    assert reader.post(tickets_url(action), data, format="json").status_code == 403
    assert session(viewer).post(tickets_url(action), data, format="json").status_code == 403
    assert session(viewer).delete(tickets_url(action, ticket)).status_code == 403
    assert ExternalTicket.objects.count() == 1


def test_it_finds_a_ticket_only_under_its_own_action(writer, action):
    elsewhere = manual(RemediationActionFactory(system=action.system))

    assert writer.get(tickets_url(action, elsewhere)).status_code == 404
    assert writer.delete(tickets_url(action, elsewhere)).status_code == 404
    assert ExternalTicket.objects.filter(pk=elsewhere.pk).exists()


def test_it_hides_tickets_from_other_organisations(stranger, outsider, action):
    ticket = manual(action)

    for client in (stranger, session(outsider)):
        assert client.get(tickets_url(action)).status_code == 404
        assert client.get(tickets_url(action, ticket)).status_code == 404
        assert client.patch(
            tickets_url(action, ticket), {"key": "x"}, format="json"
        ).status_code == (404)
        assert client.delete(tickets_url(action, ticket)).status_code == 404
        data = {"system": "other", "key": "1"}
        assert client.post(tickets_url(action), data, format="json").status_code == 404
    ticket.refresh_from_db()
    assert ticket.external_key == "#42"
