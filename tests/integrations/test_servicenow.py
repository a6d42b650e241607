import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from assessments import actions
from assessments.integrations import servicenow, tickets
from assessments.models import ExternalTicket, SyncState
from tests.factories import (
    AISystemFactory,
    AssessmentFactory,
    FindingFactory,
    RemediationActionFactory,
)

from . import fakes

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_servicenow(settings):
    yield from fakes.serve_servicenow(settings)


@pytest.fixture
def action(org, real_catalogue):
    system = AISystemFactory(organisation=org)
    finding = FindingFactory(assessment=AssessmentFactory(system=system))
    return RemediationActionFactory(
        system=system,
        title="Register the system in the EU database",
        due_date=dt.date(2026, 8, 2),
        findings=[finding],
    )


def connect(owner, fake, **overrides):
    fields = {
        "base_url": fake.url,
        "username": fake.username,
        "token": fake.token,
        "table": "incident",
        **overrides,
    }
    connection, _ = tickets.connection_save(actor=owner, system="servicenow", **fields)
    return connection


def ticket_of(action) -> ExternalTicket:
    return ExternalTicket.objects.get(action=action, system="servicenow")


def only_record(fake) -> dict:
    assert len(fake.records) == 1
    return next(iter(fake.records.values()))


def test_it_creates_a_record_with_our_correlation_id(owner, action, fake_servicenow):
    connect(owner, fake_servicenow)

    assert tickets.sync_due()["synced"] == 1

    record = only_record(fake_servicenow)
    assert record["correlation_id"] == str(action.code)
    assert record["correlation_display"] == "Kakehashi"
    assert record["short_description"] == "Register the system in the EU database"
    assert record["due_date"] == "2026-08-02 00:00:00"
    assert record["state"] == "1"
    assert "EU-AIA-ART9" in record["description"]
    ticket = ticket_of(action)
    assert (ticket.external_id, ticket.external_key) == (record["sys_id"], record["number"])
    assert ticket.url.startswith(f"{fake_servicenow.url}/nav_to.do?uri=incident.do")
    assert ticket.remote_status == "1"
    assert ticket.remote_updated_at is not None
    assert ticket.sync_state == SyncState.SYNCED
    first = fake_servicenow.requests[0]
    assert (first["method"], first["query"]["sysparm_query"]) == (
        "GET",
        f"correlation_id={action.code}",
    )
    assert fake_servicenow.violations == []


def test_it_patches_fields_and_state(owner, action, fake_servicenow):
    connect(owner, fake_servicenow)
    tickets.sync_due()

    actions.action_transition(action=action, actor=owner, status="blocked")
    actions.action_update(action=action, actor=owner, due_date=dt.date(2026, 9, 1))
    tickets.sync_due()

    record = only_record(fake_servicenow)
    assert (record["state"], record["due_date"]) == ("3", "2026-09-01 00:00:00")
    assert [r["method"] for r in fake_servicenow.requests] == ["GET", "POST", "PATCH"]
    assert ticket_of(action).remote_status == "3"
    assert fake_servicenow.violations == []


def test_it_finds_the_record_instead_of_creating_another(owner, action, fake_servicenow):
    connect(owner, fake_servicenow)
    tickets.sync_due()
    # As if the save after the create had been lost.
    ExternalTicket.objects.filter(action=action).update(
        external_id="",
        external_key="",
        url="",
        pushed_hash="",
        needs_sync=True,
        next_attempt_at=timezone.now(),
    )

    tickets.sync_due()

    assert len(fake_servicenow.records) == 1
    assert ticket_of(action).external_id == only_record(fake_servicenow)["sys_id"]
    assert fake_servicenow.requests[-1]["method"] == "PATCH"


def test_it_sends_nothing_when_in_step(owner, action, fake_servicenow):
    connect(owner, fake_servicenow)
    tickets.sync_due()
    sent = len(fake_servicenow.requests)

    tickets.mark_for_sync([action])
    assert tickets.sync_due()["unchanged"] == 1

    assert len(fake_servicenow.requests) == sent


def test_it_retries_after_a_server_error(owner, action, fake_servicenow):
    connect(owner, fake_servicenow)
    fake_servicenow.fail(2, status=500)

    assert tickets.sync_due()["retrying"] == 1
    assert tickets.sync_due(now=timezone.now() + dt.timedelta(minutes=1))["retrying"] == 1
    assert ticket_of(action).attempts == 2
    assert tickets.sync_due(now=timezone.now() + dt.timedelta(hours=1))["synced"] == 1
    assert len(fake_servicenow.records) == 1


def test_it_records_refused_credentials(owner, action, fake_servicenow):
    connection = connect(owner, fake_servicenow, token="wrong")

    tickets.sync_due()

    connection.refresh_from_db()
    assert "refused the user and password" in connection.last_error


def test_it_reads_sys_updated_on_as_utc():
    assert servicenow.updated_at("2026-03-01 12:30:00") == dt.datetime(
        2026, 3, 1, 12, 30, tzinfo=dt.UTC
    )
    assert servicenow.updated_at("") is None


def test_it_validates_the_connection(owner, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.DEBUG = False
    with pytest.raises(ValidationError) as info:
        tickets.connection_save(
            actor=owner,
            system="servicenow",
            base_url="http://127.0.0.1:8080",
            username="",
            token="",
            table="Incident; DROP",
            outbound_statuses={"finished": "6"},
        )
    errors = info.value.message_dict
    assert set(errors) == {"base_url", "username", "token", "table", "outbound_statuses"}
    assert not ExternalTicket.objects.exists()


def test_it_refuses_a_private_site_address(owner, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as info:
        tickets.connection_save(
            actor=owner,
            system="servicenow",
            base_url="https://127.0.0.1",
            username="bot",
            token="secret",
        )
    assert "private or local" in info.value.message_dict["base_url"][0]


def test_it_refuses_verified_as_an_inbound_target(owner, fake_servicenow):
    with pytest.raises(ValidationError) as info:
        connect(owner, fake_servicenow, inbound_statuses={"7": "verified"})
    assert "inbound_statuses" in info.value.message_dict


def test_only_an_admin_manages_connections(member, fake_servicenow):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        connect(member, fake_servicenow)
