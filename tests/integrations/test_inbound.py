import datetime as dt
import hashlib
import hmac
import json
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from assessments import actions
from assessments.integrations import tickets
from assessments.models import (
    EventType,
    ExternalTicket,
    RemediationAction,
    WebhookEndpoint,
    WebhookEvent,
)
from tests.factories import AISystemFactory, RemediationActionFactory

from . import fakes

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_jira(settings):
    yield from fakes.serve_jira(settings)


@pytest.fixture
def fake_servicenow(settings):
    yield from fakes.serve_servicenow(settings)


TS = 1_780_000_000_000  # ms since the epoch, as Jira sends it


@pytest.fixture
def action(org, real_catalogue):
    return RemediationActionFactory(system=AISystemFactory(organisation=org), title="Log events")


@pytest.fixture
def jira_conn(owner, action, fake_jira):
    connection, _ = tickets.connection_save(
        actor=owner,
        system="jira",
        base_url=fake_jira.url,
        username=fake_jira.username,
        token=fake_jira.token,
        project_key="COMP",
        issue_type="Task",
    )
    tickets.sync_due()
    assert ExternalTicket.objects.get(connection=connection).external_key == "COMP-1"
    fake_jira.requests.clear()
    return connection


@pytest.fixture
def sn_conn(owner, action, fake_servicenow):
    connection, _ = tickets.connection_save(
        actor=owner,
        system="servicenow",
        base_url=fake_servicenow.url,
        username=fake_servicenow.username,
        token=fake_servicenow.token,
    )
    tickets.sync_due()
    fake_servicenow.requests.clear()
    return connection


def jira_event(status: str, *, ts: int = TS, issue_id: str = "10001", key: str = "COMP-1"):
    return {
        "timestamp": ts,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Mia Krystof"},
        "issue": {"id": issue_id, "key": key, "fields": {"status": {"name": status}}},
        "changelog": {
            "id": "10100",
            "items": [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "fieldId": "status",
                    "from": "10000",
                    "fromString": "To Do",
                    "to": "3",
                    "toString": status,
                }
            ],
        },
    }


def post_jira(connection, body, *, secret=None, raw=None):
    raw = raw if raw is not None else json.dumps(body).encode()
    secret = connection.inbound_secret if secret is None else secret
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return APIClient().post(
        reverse("inbound_jira", kwargs={"connection_code": connection.code}),
        data=raw,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE=f"sha256={signature}",
    )


def post_servicenow(connection, body, *, secret=None):
    return APIClient().post(
        reverse("inbound_servicenow", kwargs={"connection_code": connection.code}),
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret or connection.inbound_secret}",
    )


def soon() -> str:
    """A ServiceNow timestamp after the record's last update (our create)."""
    return (timezone.now() + dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")


def status_of(action) -> str:
    return RemediationAction.objects.get(pk=action.pk).status


def test_it_moves_the_action_without_echoing_it_back(
    org, action, jira_conn, fake_jira, django_capture_on_commit_callbacks
):
    WebhookEndpoint.objects.create(organisation=org, url="https://hooks.example", secret="s")

    with django_capture_on_commit_callbacks() as callbacks:
        response = post_jira(jira_conn, jira_event("In Progress"))

    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "moved"
    assert status_of(action) == "in_progress"
    ticket = ExternalTicket.objects.get(connection=jira_conn)
    assert (ticket.remote_status, ticket.needs_sync) == ("In Progress", False)
    assert ticket.remote_updated_at.timestamp() == TS / 1000
    event = WebhookEvent.objects.get(organisation=org, type=EventType.ACTION_UPDATED)
    assert event.payload["data"]["action"]["status"] == "in_progress"
    assert callbacks  # the webhook delivery is queued
    assert tickets.sync_due()["synced"] == 0
    assert fake_jira.requests == []


def test_it_pushes_an_inbound_change_to_the_other_system(
    action, jira_conn, sn_conn, fake_jira, fake_servicenow
):
    response = post_servicenow(
        sn_conn,
        {"sys_id": ExternalTicket.objects.get(connection=sn_conn).external_id, "state": "6",
         "sys_updated_on": soon(), "correlation_id": str(action.code)},
    )  # fmt: skip

    assert response.json()["outcome"] == "moved"
    assert status_of(action) == "done"
    assert not ExternalTicket.objects.get(connection=sn_conn).needs_sync
    assert ExternalTicket.objects.get(connection=jira_conn).needs_sync
    tickets.sync_due()
    assert fake_jira.issues["COMP-1"]["status"] == "Done"
    assert fake_servicenow.requests == []


def test_it_finds_a_servicenow_record_by_correlation_id(action, sn_conn):
    response = post_servicenow(
        sn_conn,
        {"correlation_id": str(action.code), "state": "3",
         "sys_updated_on": soon()},
    )  # fmt: skip

    assert response.json()["outcome"] == "moved"
    assert status_of(action) == "blocked"


@pytest.mark.parametrize(
    "tamper",
    [
        {"secret": "not-the-secret"},
        {"raw": b'{"webhookEvent": "jira:issue_updated"}'},  # signed, then replaced
    ],
)
def test_it_refuses_a_forged_signature(action, jira_conn, tamper):
    body = jira_event("Done")
    if "raw" in tamper:
        signed = json.dumps(body).encode()
        signature = hmac.new(jira_conn.inbound_secret.encode(), signed, hashlib.sha256)
        response = APIClient().post(
            reverse("inbound_jira", kwargs={"connection_code": jira_conn.code}),
            data=tamper["raw"],
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE=f"sha256={signature.hexdigest()}",
        )
    else:
        response = post_jira(jira_conn, body, secret=tamper["secret"])

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert status_of(action) == "open"
    assert ExternalTicket.objects.get(connection=jira_conn).remote_status == "To Do"


def test_it_refuses_an_unsigned_request(action, jira_conn):
    response = APIClient().post(
        reverse("inbound_jira", kwargs={"connection_code": jira_conn.code}),
        data=json.dumps(jira_event("Done")),
        content_type="application/json",
    )

    assert response.status_code == 401
    assert status_of(action) == "open"


def test_it_refuses_a_servicenow_call_with_the_wrong_secret(action, sn_conn):
    response = post_servicenow(sn_conn, {"correlation_id": str(action.code), "state": "6"},
                               secret="guess")  # fmt: skip

    assert response.status_code == 401
    assert status_of(action) == "open"


def test_it_does_not_know_an_unknown_connection(action, jira_conn):
    response = APIClient().post(
        reverse("inbound_jira", kwargs={"connection_code": uuid.uuid4()}),
        data=json.dumps(jira_event("Done")),
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE="sha256=00",
    )

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_refuses_another_organisations_secret(
    outsider, action, jira_conn, fake_jira, real_catalogue
):
    theirs, _ = tickets.connection_save(
        actor=outsider,
        system="jira",
        base_url=fake_jira.url,
        username="x@rival.example",
        token="t",
        project_key="RIV",
    )

    response = post_jira(jira_conn, jira_event("Done"), secret=theirs.inbound_secret)

    assert response.status_code == 401
    assert status_of(action) == "open"


def test_it_refuses_malformed_json(action, jira_conn):
    response = post_jira(jira_conn, None, raw=b'{"webhookEvent": "jira:issue_updated",')

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert status_of(action) == "open"


def test_it_refuses_an_event_without_a_changelog(action, jira_conn):
    body = jira_event("Done")
    del body["changelog"]

    assert post_jira(jira_conn, body).status_code == 400
    assert status_of(action) == "open"


def test_it_ignores_a_duplicate_event(action, jira_conn):
    assert post_jira(jira_conn, jira_event("In Progress")).json()["outcome"] == "moved"
    actions.action_transition(action=action, actor=tickets_actor(jira_conn), status="blocked")

    response = post_jira(jira_conn, jira_event("In Progress"))

    assert response.json()["outcome"] == "ignored"
    assert status_of(action) == "blocked"


def test_it_ignores_an_event_older_than_the_last(action, jira_conn):
    post_jira(jira_conn, jira_event("Done", ts=TS))

    response = post_jira(jira_conn, jira_event("In Progress", ts=TS - 60_000))

    assert response.json()["outcome"] == "ignored"
    assert status_of(action) == "done"
    assert ExternalTicket.objects.get(connection=jira_conn).remote_status == "Done"


def test_it_ignores_its_own_transition_coming_back(owner, action, jira_conn, fake_jira):
    actions.action_transition(action=action, actor=owner, status="blocked")
    tickets.sync_due()  # blocked maps to "In Progress" in Jira
    assert fake_jira.issues["COMP-1"]["status"] == "In Progress"

    response = post_jira(jira_conn, jira_event("In Progress"))

    assert response.json()["outcome"] == "ignored"
    assert status_of(action) == "blocked"


def test_it_records_a_move_the_workflow_refuses(owner, action, jira_conn):
    actions.action_transition(action=action, actor=owner, status="in_progress")
    ExternalTicket.objects.filter(connection=jira_conn).update(remote_status="In Progress")

    response = post_jira(jira_conn, jira_event("To Do"))

    assert response.status_code == 200
    assert response.json()["outcome"] == "refused"
    assert status_of(action) == "in_progress"
    ticket = ExternalTicket.objects.get(connection=jira_conn)
    assert "cannot become open" in ticket.last_error
    assert ticket.remote_status == "To Do"


def test_it_never_reopens_a_verified_action(owner, action, jira_conn):
    RemediationAction.objects.filter(pk=action.pk).update(status="verified", verified_by=owner.user)
    ExternalTicket.objects.filter(connection=jira_conn).update(remote_status="Done")

    response = post_jira(jira_conn, jira_event("To Do"))

    assert response.json()["outcome"] == "ignored"
    assert status_of(action) == "verified"


def test_it_cancels_with_a_reason(owner, action, jira_conn):
    tickets.connection_save(
        actor=owner,
        system="jira",
        inbound_statuses={**jira_conn.inbound_statuses, "Won't Do": "cancelled"},
    )

    assert post_jira(jira_conn, jira_event("Won't Do")).json()["outcome"] == "moved"

    action.refresh_from_db()
    assert (action.status, action.cancel_reason) == ("cancelled", "Cancelled in Jira Cloud COMP-1.")


def test_it_ignores_unmapped_statuses_and_other_events(action, jira_conn):
    assert post_jira(jira_conn, jira_event("Code Review")).json()["outcome"] == "ignored"
    assert post_jira(jira_conn, {"webhookEvent": "jira:issue_deleted"}).json()["outcome"] == (
        "ignored"
    )
    other = jira_event("Done", issue_id="99999", key="COMP-99")
    assert post_jira(jira_conn, other).json()["detail"] == "Not a ticket of a Kakehashi action."
    assert status_of(action) == "open"


def tickets_actor(connection):
    return tickets.ConnectorActor(connection)
