import datetime as dt

import pytest
from django.db import connection as db
from django.utils import timezone

from assessments import actions
from assessments.integrations import jira, tickets
from assessments.models import ExternalTicket, SyncState, TicketingConnection
from tests.factories import (
    AISystemFactory,
    AssessmentFactory,
    FindingFactory,
    RemediationActionFactory,
)

from . import fakes
from .fakes import check_adf

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_jira(settings):
    yield from fakes.serve_jira(settings)


@pytest.fixture
def action(org, real_catalogue):
    system = AISystemFactory(organisation=org, name="Hiring screener")
    finding = FindingFactory(assessment=AssessmentFactory(system=system))
    return RemediationActionFactory(
        system=system,
        title="Write the risk management plan",
        description="Cover the whole lifecycle.\nReview it yearly.",
        due_date=dt.date(2026, 8, 2),
        findings=[finding],
    )


def connect(owner, fake, **overrides):
    fields = {
        "base_url": fake.url,
        "username": fake.username,
        "token": fake.token,
        "project_key": "COMP",
        "issue_type": "Task",
        **overrides,
    }
    connection, created = tickets.connection_save(actor=owner, system="jira", **fields)
    assert created
    return connection


def ticket_of(action) -> ExternalTicket:
    return ExternalTicket.objects.get(action=action, system="jira")


def later(minutes: int = 60 * 24) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=minutes)


def test_it_creates_an_issue_and_stores_its_key(owner, action, fake_jira, settings):
    connect(owner, fake_jira)

    assert tickets.sync_due() == {"synced": 1, "unchanged": 0, "retrying": 0, "failed": 0}

    issue = fake_jira.issues["COMP-1"]
    fields = issue["fields"]
    assert fields["summary"] == "Write the risk management plan"
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["duedate"] == "2026-08-02"
    assert fields["labels"] == ["kakehashi", f"kakehashi-{action.code}"]
    text = str(fields["description"])
    assert "EU-AIA-ART9" in text
    assert f"{settings.BASE_URL}/o/{action.organisation.code}/actions/{action.code}/" in text
    ticket = ticket_of(action)
    assert ticket.external_key == "COMP-1"
    assert ticket.external_id == issue["id"]
    assert ticket.url == f"{fake_jira.url}/browse/COMP-1"
    assert ticket.remote_status == "To Do"
    assert ticket.sync_state == SyncState.SYNCED
    assert (ticket.needs_sync, ticket.last_error) == (False, "")
    assert fake_jira.violations == []


def test_it_searches_before_creating(owner, action, fake_jira):
    connect(owner, fake_jira)
    tickets.sync_due()

    methods = [(r["method"], r["path"]) for r in fake_jira.requests]
    assert methods[:2] == [("POST", "/rest/api/3/search"), ("POST", "/rest/api/3/issue")]


def test_it_updates_the_issue_when_the_action_changes(owner, action, fake_jira):
    connect(owner, fake_jira)
    tickets.sync_due()

    actions.action_update(action=action, actor=owner, title="Write and adopt the plan")
    assert ticket_of(action).needs_sync
    tickets.sync_due()

    assert fake_jira.issues["COMP-1"]["fields"]["summary"] == "Write and adopt the plan"
    assert len(fake_jira.issues) == 1
    assert [r["path"] for r in fake_jira.calls("PUT")] == ["/rest/api/3/issue/COMP-1"]
    assert fake_jira.violations == []


def test_it_transitions_to_the_mapped_status(owner, action, fake_jira):
    connect(owner, fake_jira)
    tickets.sync_due()

    actions.action_transition(action=action, actor=owner, status="in_progress")
    tickets.sync_due()

    assert fake_jira.issues["COMP-1"]["status"] == "In Progress"
    assert ticket_of(action).remote_status == "In Progress"
    # The fields did not change: only the transition went out.
    assert fake_jira.calls("PUT") == []
    assert fake_jira.violations == []


def test_it_uses_the_admins_mapping(owner, action, fake_jira):
    connection = connect(owner, fake_jira)
    tickets.sync_due()
    tickets.connection_save(
        actor=owner,
        system="jira",
        outbound_statuses={**connection.outbound_statuses, "blocked": "To Do"},
    )

    actions.action_transition(action=action, actor=owner, status="blocked")
    tickets.sync_due()

    assert fake_jira.transitioned == []
    assert fake_jira.issues["COMP-1"]["status"] == "To Do"


def test_it_does_not_duplicate_an_issue_created_before_a_crash(
    owner, action, fake_jira, monkeypatch
):
    connect(owner, fake_jira)

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    with monkeypatch.context() as m:
        m.setattr(tickets, "_finish", crash)
        with pytest.raises(RuntimeError):
            tickets.sync_due()
    assert ticket_of(action).external_key == ""
    assert len(fake_jira.issues) == 1

    # Not before the lease runs out, then the search finds the issue.
    assert tickets.sync_due()["synced"] == 0
    tickets.sync_due(now=later(10))

    assert len(fake_jira.issues) == 1
    assert ticket_of(action).external_key == "COMP-1"
    assert fake_jira.violations == []


def test_it_pushes_nothing_when_nothing_changed(owner, action, fake_jira):
    connect(owner, fake_jira)
    tickets.sync_due()
    before = len(fake_jira.requests)

    tickets.mark_for_sync([action])
    assert tickets.sync_due() == {"synced": 0, "unchanged": 1, "retrying": 0, "failed": 0}

    assert len(fake_jira.requests) == before
    ticket = ticket_of(action)
    assert (ticket.needs_sync, ticket.sync_state) == (False, SyncState.SYNCED)


def test_it_retries_a_500_with_backoff_then_succeeds(owner, action, fake_jira):
    connect(owner, fake_jira)
    fake_jira.fail(1, status=500)

    start = timezone.now()
    assert tickets.sync_due(now=start)["retrying"] == 1
    ticket = ticket_of(action)
    assert ticket.attempts == 1
    assert "500" in ticket.last_error
    assert ticket.needs_sync
    assert ticket.next_attempt_at == start + tickets.backoff(1)

    assert tickets.sync_due(now=start + dt.timedelta(seconds=10))["retrying"] == 0
    assert tickets.sync_due(now=start + dt.timedelta(seconds=31))["synced"] == 1
    ticket.refresh_from_db()
    assert (ticket.external_key, ticket.attempts, ticket.last_error) == ("COMP-1", 0, "")


def test_it_backs_off_longer_each_time():
    assert [tickets.backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert tickets.backoff(30) == dt.timedelta(hours=6)


def test_it_retries_a_timeout(owner, action, fake_jira, settings):
    settings.OUTBOUND_TIMEOUT = 0.3
    connect(owner, fake_jira)
    fake_jira.stall(1, seconds=1.5)

    assert tickets.sync_due()["retrying"] == 1
    assert "could not be reached" in ticket_of(action).last_error

    assert tickets.sync_due(now=later())["synced"] == 1
    assert ticket_of(action).external_key


def test_it_gives_up_after_the_last_attempt(owner, action, fake_jira):
    connect(owner, fake_jira)
    fake_jira.fail(tickets.MAX_ATTEMPTS, status=503)

    for day in range(tickets.MAX_ATTEMPTS):
        tickets.sync_due(now=later(60 * 24 * (day + 1)))

    ticket = ticket_of(action)
    assert (ticket.sync_state, ticket.needs_sync) == (SyncState.FAILED, False)
    assert ticket.attempts == tickets.MAX_ATTEMPTS
    # A later change of the action tries again.
    actions.action_update(action=action, actor=owner, title="Try again")
    assert tickets.sync_due()["synced"] == 1


def test_it_records_refused_credentials_on_the_connection(owner, action, fake_jira):
    connection = connect(owner, fake_jira, token="wrong-token")

    tickets.sync_due()

    connection.refresh_from_db()
    assert "refused the account and API token" in connection.last_error
    assert "401" in ticket_of(action).last_error


def test_it_refuses_private_addresses_unless_allowed(owner, action, fake_jira, settings):
    connect(owner, fake_jira)
    settings.OUTBOUND_ALLOW_PRIVATE = False

    tickets.sync_due()

    assert "private or local address" in ticket_of(action).last_error
    assert fake_jira.requests == []


def test_it_keeps_a_change_made_while_pushing(owner, action, fake_jira, monkeypatch):
    connect(owner, fake_jira)
    real_push = jira.push

    def push_then_change(*args, **kwargs):
        ref = real_push(*args, **kwargs)
        tickets.mark_for_sync([action])  # someone edits the action meanwhile
        return ref

    monkeypatch.setattr(jira, "push", push_then_change)
    tickets.sync_due()

    ticket = ticket_of(action)
    assert ticket.external_key == "COMP-1"
    assert ticket.needs_sync


def test_it_stores_the_token_encrypted(owner, action, fake_jira):
    connection = connect(owner, fake_jira)

    with db.cursor() as cursor:
        cursor.execute(
            "SELECT token, inbound_secret FROM assessments_ticketingconnection WHERE id = %s",
            [connection.pk],
        )
        token, secret = cursor.fetchone()

    assert fake_jira.token not in token
    assert connection.inbound_secret not in secret
    assert TicketingConnection.objects.get(pk=connection.pk).token == fake_jira.token


def test_it_checks_the_connection_in_a_task(owner, fake_jira, django_capture_on_commit_callbacks):
    connection = connect(owner, fake_jira, token="wrong-token")

    with django_capture_on_commit_callbacks(execute=True):
        tickets.connection_test(actor=owner, connection=connection)
    connection.refresh_from_db()
    assert "401" in connection.last_error

    tickets.connection_save(actor=owner, system="jira", token=fake_jira.token)
    with django_capture_on_commit_callbacks(execute=True):
        tickets.connection_test(actor=owner, connection=connection)
    connection.refresh_from_db()
    assert connection.last_error == ""
    assert [r["path"] for r in fake_jira.requests] == ["/rest/api/3/myself"] * 2


def test_it_writes_a_well_formed_adf_description(action):
    content = tickets.content_for(action)

    doc = jira.adf(content)

    assert check_adf(doc) == []
    kinds = [block["type"] for block in doc["content"]]
    assert kinds.count("bulletList") == 1
    assert doc["content"][0]["content"][0]["text"] == "Cover the whole lifecycle."
    link = doc["content"][-1]["content"][0]
    assert link["marks"][0]["attrs"]["href"] == content.url


def test_it_leaves_other_organisations_alone(owner, outsider, action, fake_jira, real_catalogue):
    other_action = RemediationActionFactory(
        system=AISystemFactory(organisation=outsider.organisation)
    )
    connect(owner, fake_jira)

    tickets.sync_due()

    assert not ExternalTicket.objects.filter(action=other_action).exists()
    assert len(fake_jira.issues) == 1


def test_it_retries_an_answer_it_cannot_read(owner, action, fake_jira, monkeypatch):
    connect(owner, fake_jira)

    def odd_answer(*args, **kwargs):
        raise KeyError("key")

    monkeypatch.setattr(jira, "create", odd_answer)

    assert tickets.sync_due()["retrying"] == 1
    assert "does not understand" in ticket_of(action).last_error
