import pytest
from django.urls import reverse

from assessments import tasks
from assessments.integrations import tickets
from assessments.models import ExternalTicket, SyncState, TicketingConnection
from tests.factories import AISystemFactory, RemediationActionFactory

pytestmark = pytest.mark.django_db

TOKEN = "very-secret-api-token"


@pytest.fixture(autouse=True)
def _loopback(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True


def page(org, name="ticketing_settings", **kwargs) -> str:
    return reverse(name, kwargs={"org_code": org.code, **kwargs})


def jira_form(**overrides) -> dict:
    data = {
        "jira-enabled": "on",
        "jira-base_url": "http://127.0.0.1:9",
        "jira-username": "bot@acme.example",
        "jira-token": TOKEN,
        "jira-project_key": "COMP",
        "jira-issue_type": "Task",
        "jira-out_open": "To Do",
        "jira-out_in_progress": "In Progress",
        "jira-out_done": "Done",
        "jira-in_remote_0": "Done",
        "jira-in_status_0": "done",
    }
    data.update(overrides)
    return data


def connect(owner) -> TicketingConnection:
    connection, _ = tickets.connection_save(
        actor=owner,
        system="jira",
        base_url="http://127.0.0.1:9",
        username="bot@acme.example",
        token=TOKEN,
        project_key="COMP",
    )
    return connection


def test_it_connects_jira_and_shows_the_secret_once(owner_client, org):
    response = owner_client.post(page(org, "ticketing_save", system="jira"), jira_form())

    assert response.status_code == 200
    connection = TicketingConnection.objects.get(organisation=org, system="jira")
    assert connection.outbound_statuses == {
        "open": "To Do",
        "in_progress": "In Progress",
        "done": "Done",
    }
    assert connection.inbound_statuses == {"Done": "done"}
    assert connection.token == TOKEN
    body = response.content.decode()
    assert connection.inbound_secret in body
    assert tickets.inbound_url(connection) in body
    assert TOKEN not in body

    again = owner_client.get(page(org)).content.decode()
    assert connection.inbound_secret not in again
    assert TOKEN not in again


def test_it_flags_active_actions_on_connect(owner_client, org, real_catalogue):
    system = AISystemFactory(organisation=org)
    active = RemediationActionFactory(system=system)
    RemediationActionFactory(system=system, status="cancelled", cancel_reason="Duplicate")

    owner_client.post(page(org, "ticketing_save", system="jira"), jira_form())

    assert list(ExternalTicket.objects.values_list("action_id", flat=True)) == [active.pk]


def test_it_keeps_the_token_when_left_blank(owner_client, owner, org):
    connection = connect(owner)

    response = owner_client.post(
        page(org, "ticketing_save", system="jira"),
        jira_form(**{"jira-token": "", "jira-project_key": "OPS"}),
    )

    assert response.status_code == 302
    connection.refresh_from_db()
    assert (connection.token, connection.project_key) == (TOKEN, "OPS")


def test_it_shows_errors_and_changes_nothing(owner_client, owner, org):
    connection = connect(owner)

    response = owner_client.post(
        page(org, "ticketing_save", system="jira"),
        jira_form(**{"jira-project_key": "lower case", "jira-in_status_0": "verified"}),
    )

    assert response.status_code == 400
    assert "field-invalid" in response.content.decode()
    connection.refresh_from_db()
    assert connection.project_key == "COMP"


def test_it_rotates_the_secret(owner_client, owner, org):
    connection = connect(owner)
    old = connection.inbound_secret

    response = owner_client.post(page(org, "ticketing_rotate", system="jira"))

    connection.refresh_from_db()
    assert connection.inbound_secret != old
    assert connection.inbound_secret in response.content.decode()


def test_it_queues_a_test_and_a_sync(
    owner_client, owner, org, monkeypatch, real_catalogue, django_capture_on_commit_callbacks
):
    connection = connect(owner)
    RemediationActionFactory(system=AISystemFactory(organisation=org))
    checked = []
    monkeypatch.setattr(tasks.check_ticketing_connection, "delay", lambda pk: checked.append(pk))

    with django_capture_on_commit_callbacks(execute=True):
        with_test = owner_client.post(page(org, "ticketing_test", system="jira"))
    with_sync = owner_client.post(page(org, "ticketing_sync", system="jira"))

    assert (with_test.status_code, with_sync.status_code) == (302, 302)
    assert checked == [connection.pk]
    assert ExternalTicket.objects.filter(connection=connection, needs_sync=True).count() == 1


def test_it_disconnects(owner_client, owner, org):
    connect(owner)

    owner_client.post(page(org, "ticketing_delete", system="jira"))

    assert not TicketingConnection.objects.filter(organisation=org).exists()


def test_it_lists_recent_tickets_in_constant_queries(
    owner_client, owner, org, real_catalogue, django_assert_max_num_queries
):
    connection = connect(owner)
    system = AISystemFactory(organisation=org)

    def add(n):
        for i in range(n):
            action = RemediationActionFactory(system=system, title=f"Action {i}")
            ExternalTicket.objects.update_or_create(
                action=action,
                system="jira",
                defaults={
                    "organisation": org,
                    "connection": connection,
                    "external_key": f"COMP-{action.pk}",
                    "url": f"https://acme.atlassian.net/browse/COMP-{action.pk}",
                    "sync_state": SyncState.SYNCED,
                },
            )

    add(2)
    with django_assert_max_num_queries(20) as few:
        response = owner_client.get(page(org))
    assert response.status_code == 200
    add(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = owner_client.get(page(org))
    assert response.content.decode().count("acme.atlassian.net/browse/") == 12


def test_a_member_who_is_not_an_admin_is_refused(member_client, owner, org):
    connect(owner)

    assert member_client.get(page(org)).status_code == 403
    response = member_client.post(page(org, "ticketing_save", system="jira"), jira_form())
    assert response.status_code == 403
    assert member_client.post(page(org, "ticketing_rotate", system="jira")).status_code == 403


def test_an_outsider_gets_404(outsider_client, owner, org):
    connection = connect(owner)

    assert outsider_client.get(page(org)).status_code == 404
    for name in ("ticketing_save", "ticketing_rotate", "ticketing_delete", "ticketing_sync"):
        assert outsider_client.post(page(org, name, system="jira")).status_code == 404
    assert TicketingConnection.objects.get(pk=connection.pk).inbound_secret == (
        connection.inbound_secret
    )


def test_it_does_not_know_other_systems(owner_client, org):
    assert owner_client.post(page(org, "ticketing_save", system="github")).status_code == 404
    assert owner_client.post(page(org, "ticketing_test", system="jira")).status_code == 404
