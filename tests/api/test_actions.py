"""Remediation actions through the API: the list and its filters, opening, reading, changing
(fields and status in one PATCH) and deleting an action, and who may do which."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from assessments.models import (
    ActionComment,
    ActionStatus,
    FindingStatus,
    RemediationAction,
    WebhookEndpoint,
    WebhookEvent,
)
from governance.models import AuditEvent, Role

from ..factories import (
    AISystemFactory,
    AssessmentFactory,
    FindingFactory,
    MembershipFactory,
    RemediationActionFactory,
)

S = ActionStatus
PROBLEM = "application/problem+json"


def url(name: str, org, **kwargs) -> str:
    return reverse(name, kwargs={"org_code": org.code, **kwargs})


def action_url(action) -> str:
    return url("api_action", action.organisation, action_code=action.code)


def session(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


def pointers(response) -> list[str]:
    assert response["Content-Type"] == PROBLEM
    return [error["pointer"] for error in response.json()["errors"]]


@pytest.fixture
def officer(org):
    return MembershipFactory(
        organisation=org, role=Role.COMPLIANCE_OFFICER, user__email="officer@acme.example"
    )


@pytest.fixture
def system(real_catalogue, org, owner):
    return AISystemFactory(organisation=org, name="Hiring screener", owner=owner.user)


@pytest.fixture
def assessment(system):
    return AssessmentFactory(system=system)


@pytest.fixture
def gap(assessment):
    return FindingFactory(
        assessment=assessment, status=FindingStatus.NOT_MET, due_date=dt.date(2026, 8, 2)
    )


@pytest.fixture
def action(system, gap, member):
    return RemediationActionFactory(
        system=system, findings=[gap], owner=member.user, due_date=dt.date(2026, 9, 1)
    )


@pytest.fixture
def hook(org):
    return WebhookEndpoint.objects.create(
        organisation=org, url="https://example.com/hook", secret="whsec_x"
    )


# --- The list ----------------------------------------------------------------------------------


def test_it_lists_the_organisations_actions(writer, org, action):
    RemediationActionFactory()  # another organisation's

    response = writer.get(url("api_actions", org))

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    [row] = body["results"]
    assert row == {
        "code": str(action.code),
        "href": action_url(action),
        "title": action.title,
        "system": str(action.system.code),
        "status": "open",
        "priority": "medium",
        "owner": "member@acme.example",
        "due_date": "2026-09-01",
        "origin": "manual",
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


@time_machine.travel(dt.datetime(2026, 8, 1, 9, tzinfo=dt.UTC), tick=False)
def test_it_filters_actions_like_the_board(reader, org, system, gap, member, owner):
    other_system = AISystemFactory(organisation=org)
    mine = RemediationActionFactory(system=system, findings=[gap], owner=member.user)
    late = RemediationActionFactory(
        system=system, status=S.BLOCKED, due_date=dt.date(2026, 7, 1), priority="high"
    )
    soon = RemediationActionFactory(
        system=other_system, due_date=dt.date(2026, 8, 5), origin="auto", title="Log events"
    )
    done = RemediationActionFactory(
        system=system, status=S.VERIFIED, owner=owner.user, verified_by=owner.user
    )

    def codes(**params) -> set[str]:
        response = reader.get(url("api_actions", org), params)
        assert response.status_code == 200, response.json()
        return {row["code"] for row in response.json()["results"]}

    assert codes() == {str(a.code) for a in (mine, late, soon, done)}
    assert codes(status="blocked,verified") == {str(late.code), str(done.code)}
    assert codes(status="active") == {str(a.code) for a in (mine, late, soon)}
    assert codes(owner="MEMBER@acme.example") == {str(mine.code)}
    assert codes(owner="none") == {str(late.code), str(soon.code)}
    assert codes(priority="high") == {str(late.code)}
    assert codes(system=str(other_system.code)) == {str(soon.code)}
    assert codes(due="overdue") == {str(late.code)}
    assert codes(due="week") == {str(soon.code)}
    assert codes(due="none") == {str(mine.code), str(done.code)}
    assert codes(origin="auto") == {str(soon.code)}
    assert codes(q="log") == {str(soon.code)}
    assert codes(finding=str(gap.code)) == {str(mine.code)}


def test_it_filters_by_me_for_people_only(org, owner, member, action, reader):
    mine = session(member).get(url("api_actions", org), {"owner": "me"})
    assert [row["code"] for row in mine.json()["results"]] == [str(action.code)]
    assert session(owner).get(url("api_actions", org), {"owner": "me"}).json()["results"] == []

    response = reader.get(url("api_actions", org), {"owner": "me"})
    assert response.status_code == 400
    assert pointers(response) == ["/owner"]


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"colour": "red"}, "/colour"),
        ({"status": "open,finished"}, "/status"),
        ({"due": "someday"}, "/due"),
        ({"ordering": "title"}, "/ordering"),
        ({"owner": "not-an-address"}, "/owner"),
        ({"cursor": "garbage"}, "/cursor"),
    ],
)
def test_it_refuses_unclear_parameters(reader, org, action, params, pointer):
    response = reader.get(url("api_actions", org), params)

    assert response.status_code == 400
    assert pointers(response) == [pointer]


def test_it_pages_by_due_date_with_undated_actions_last(reader, org, system):
    dated = [
        RemediationActionFactory(system=system, due_date=dt.date(2026, 9, day))
        for day in (3, 1, 2, 1)
    ]
    undated = [RemediationActionFactory(system=system) for _ in range(2)]
    seen, page_url = [], url("api_actions", org) + "?page_size=4"
    while page_url:
        body = reader.get(page_url).json()
        assert len(body["results"]) <= 4
        seen += [row["code"] for row in body["results"]]
        page_url = body["next"]

    expected = sorted(dated, key=lambda a: (a.due_date, a.pk)) + sorted(undated, key=lambda a: a.pk)
    assert seen == [str(a.code) for a in expected]


def test_it_orders_by_priority_rank_not_name(reader, org, system):
    *_, high = (
        RemediationActionFactory(system=system, priority=p)
        for p in ("low", "critical", "medium", "high")
    )
    first = reader.get(url("api_actions", org), {"ordering": "priority", "page_size": 2}).json()
    rest = reader.get(first["next"]).json()

    order = [row["priority"] for row in first["results"] + rest["results"]]
    assert order == ["critical", "high", "medium", "low"]
    assert rest["next"] is None
    newest = reader.get(url("api_actions", org), {"ordering": "-created_at"}).json()["results"]
    assert newest[0]["code"] == str(high.code)


@pytest.mark.parametrize("rows", [2, 8])
def test_it_lists_with_a_constant_number_of_queries(
    writer, org, system, member, rows, django_assert_num_queries
):
    for _ in range(rows):
        RemediationActionFactory(system=system, owner=member.user)

    # The key (with its organisation), its last use, the page.
    with django_assert_num_queries(3):
        response = writer.get(url("api_actions", org), {"status": "active"})
    assert len(response.json()["results"]) == rows


def test_it_asks_for_credentials(org, action):
    response = APIClient().get(url("api_actions", org))

    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_hides_the_list_from_other_organisations(stranger, outsider, org, action):
    assert stranger.get(url("api_actions", org)).status_code == 404
    assert session(outsider).get(url("api_actions", org)).status_code == 404


# --- Opening an action -------------------------------------------------------------------------


def test_it_opens_an_action_for_findings(writer, org, gap, member, hook):
    response = writer.post(
        url("api_actions", org),
        {
            "findings": [str(gap.code)],
            "title": "  Write the risk register ",
            "description": "Use the template.",
            "owner": "member@acme.example",
            "due_date": "2026-10-01",
            "priority": "high",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    action = RemediationAction.objects.get()
    body = response.json()
    assert response["Location"] == f"http://testserver{action_url(action)}"
    assert response["ETag"].startswith('"')
    assert body["code"] == str(action.code)
    assert body["title"] == "Write the risk register"
    assert body["owner"] == "member@acme.example"
    assert (body["due_date"], body["priority"], body["priority_manual"]) == (
        "2026-10-01",
        "high",
        True,
    )
    assert body["findings"] == [
        {
            "code": str(gap.code),
            "obligation": "EU-AIA-ART9",
            "status": "not_met",
            "assessment": str(gap.assessment.code),
            "current": True,
        }
    ]
    assert body["created_by"] is None  # a key is nobody
    [event] = WebhookEvent.objects.filter(organisation=org)
    assert event.type == "action.created"
    assert event.payload["data"]["action"]["href"] == action_url(action)


def test_it_derives_what_the_client_leaves_out(org, owner, gap):
    response = session(owner).post(
        url("api_actions", org), {"findings": [str(gap.code)], "title": "Fix"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["due_date"] == "2026-08-02"  # the finding's
    assert body["priority_manual"] is False
    assert body["created_by"] == "owner@acme.example"


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"findings": "another organisation's"}, "/findings/1"),
        ({"owner": "outsider@rival.example"}, "/owner"),
        ({"title": ""}, "/title"),
        ({"priority": "urgent"}, "/priority"),
        ({"due_date": "1999-12-31"}, "/due_date"),
        ({"findings": []}, "/findings"),
    ],
)
def test_it_refuses_bad_input_and_opens_nothing(writer, org, gap, outsider, change, pointer):
    data = {"findings": [str(gap.code)], "title": "Fix", **change}
    if change.get("findings") == "another organisation's":
        other = FindingFactory(status=FindingStatus.NOT_MET)
        data["findings"] = [str(gap.code), str(other.code)]

    response = writer.post(url("api_actions", org), data, format="json")

    assert response.status_code == 400
    assert pointers(response) == [pointer]
    assert not RemediationAction.objects.exists()


def test_it_refuses_findings_that_are_no_gap(writer, org, assessment):
    met = FindingFactory(assessment=assessment, status=FindingStatus.MET)

    response = writer.post(
        url("api_actions", org), {"findings": [str(met.code)], "title": "Fix"}, format="json"
    )

    assert response.status_code == 400
    assert pointers(response) == ["/findings"]
    assert not RemediationAction.objects.exists()


def test_it_lets_only_managers_open_actions(org, member, reader, gap):
    data = {"findings": [str(gap.code)], "title": "Fix"}

    by_member = session(member).post(url("api_actions", org), data, format="json")
    by_reader = reader.post(url("api_actions", org), data, format="json")

    assert by_member.status_code == 403
    assert by_reader.status_code == 403
    assert by_member["Content-Type"] == by_reader["Content-Type"] == PROBLEM
    assert not RemediationAction.objects.exists()


def test_it_replays_a_repeated_create(writer, org, gap):
    data = {"findings": [str(gap.code)], "title": "Fix"}
    first = writer.post(url("api_actions", org), data, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = writer.post(url("api_actions", org), data, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    changed = writer.post(
        url("api_actions", org),
        {**data, "title": "Other"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert changed.status_code == 422
    assert RemediationAction.objects.count() == 1


def test_it_opens_nothing_for_another_organisation(stranger, outsider, org, gap):
    data = {"findings": [str(gap.code)], "title": "Fix"}

    assert stranger.post(url("api_actions", org), data, format="json").status_code == 404
    assert session(outsider).post(url("api_actions", org), data, format="json").status_code == 404
    assert not RemediationAction.objects.exists()


# --- One action --------------------------------------------------------------------------------


def test_it_shows_an_action_with_the_moves_the_caller_may_make(
    org, owner, member, writer, reader, action
):
    as_owner = session(owner).get(action_url(action))
    as_member = session(member).get(action_url(action))
    as_reader = reader.get(action_url(action))

    assert as_owner.status_code == 200
    body = as_owner.json()
    assert body["allowed_moves"] == ["in_progress", "blocked", "done", "cancelled"]
    assert as_member.json()["allowed_moves"] == ["in_progress", "blocked", "done"]
    assert as_reader.json()["allowed_moves"] == []
    # The ETag is the resource's, whoever reads it.
    assert as_owner["ETag"] == as_member["ETag"] == as_reader["ETag"]
    assert body["tickets"] == []
    assert body["status"] == "open"
    assert (body["done_by"], body["verified_by"], body["cancel_reason"]) == (None, None, "")


def test_it_hides_an_action_from_other_organisations(stranger, outsider, action):
    for client in (stranger, session(outsider)):
        response = client.get(action_url(action))
        assert response.status_code == 404
        assert response["Content-Type"] == PROBLEM


# --- Changing an action ------------------------------------------------------------------------


def test_it_edits_fields_and_moves_the_status_in_one_call(writer, action, owner, hook):
    response = writer.patch(
        action_url(action),
        {
            "title": "Renamed",
            "owner": "owner@acme.example",
            "priority": "critical",
            "status": "in_progress",
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    action.refresh_from_db()
    assert (action.title, action.owner, action.priority, action.status) == (
        "Renamed",
        owner.user,
        "critical",
        "in_progress",
    )
    assert response.json()["status"] == "in_progress"
    assert response["ETag"] != ""
    types = set(WebhookEvent.objects.values_list("type", flat=True))
    assert types == {"action.updated"}


def test_it_changes_nothing_when_the_move_is_refused(writer, action):
    title = action.title
    response = writer.patch(
        action_url(action), {"title": "Renamed", "status": "verified"}, format="json"
    )

    assert response.status_code == 400
    assert pointers(response) == ["/status"]
    action.refresh_from_db()
    assert (action.title, action.status) == (title, "open")


def test_it_needs_a_reason_to_cancel(writer, action):
    refused = writer.patch(action_url(action), {"status": "cancelled"}, format="json")
    cancelled = writer.patch(
        action_url(action), {"status": "cancelled", "reason": "Duplicate"}, format="json"
    )

    assert refused.status_code == 400
    assert pointers(refused) == ["/reason"]
    assert cancelled.status_code == 200
    assert cancelled.json()["cancel_reason"] == "Duplicate"


def test_it_honours_if_match(writer, action):
    etag = writer.get(action_url(action))["ETag"]
    writer.patch(action_url(action), {"description": "Moved on"}, format="json")

    stale = writer.patch(action_url(action), {"title": "Mine"}, format="json", HTTP_IF_MATCH=etag)
    current = writer.get(action_url(action))["ETag"]
    fresh = writer.patch(
        action_url(action), {"title": "Mine"}, format="json", HTTP_IF_MATCH=current
    )

    assert stale.status_code == 412
    assert stale["Content-Type"] == PROBLEM
    assert fresh.status_code == 200
    assert fresh["ETag"] != current
    action.refresh_from_db()
    assert action.title == "Mine"


def test_it_lets_contributors_work_but_not_edit(org, member, action):
    client = session(member)

    edit = client.patch(action_url(action), {"title": "Mine"}, format="json")
    cancel = client.patch(action_url(action), {"status": "cancelled", "reason": "x"}, format="json")
    work = client.patch(action_url(action), {"status": "done"}, format="json")

    assert (edit.status_code, cancel.status_code, work.status_code) == (403, 403, 200)
    action.refresh_from_db()
    assert (action.title != "Mine", action.status, action.done_by) == (True, "done", member.user)


def test_it_never_lets_a_key_verify(writer, officer, member, action):
    session(member).patch(action_url(action), {"status": "done"}, format="json")

    by_key = writer.patch(action_url(action), {"status": "verified"}, format="json")
    by_doer = session(member).patch(action_url(action), {"status": "verified"}, format="json")
    by_officer = session(officer).patch(action_url(action), {"status": "verified"}, format="json")

    assert by_key.status_code == 403
    assert "person" in by_key.json()["detail"]
    assert by_doer.status_code == 403
    assert by_officer.status_code == 200
    assert by_officer.json()["verified_by"] == "officer@acme.example"


def test_it_refuses_changes_from_read_keys_and_other_organisations(
    reader, stranger, outsider, action
):
    assert reader.patch(action_url(action), {"title": "X"}, format="json").status_code == 403
    assert stranger.patch(action_url(action), {"title": "X"}, format="json").status_code == 404
    assert (
        session(outsider).patch(action_url(action), {"title": "X"}, format="json").status_code
        == 404
    )
    action.refresh_from_db()
    assert action.title != "X"


def test_it_refuses_an_empty_change(writer, action):
    response = writer.patch(action_url(action), {}, format="json")

    assert response.status_code == 400
    assert pointers(response) == [""]


# --- Deleting an action ------------------------------------------------------------------------


def test_it_deletes_an_untouched_manual_action(writer, action):
    response = writer.delete(action_url(action))

    assert response.status_code == 204
    assert not RemediationAction.objects.filter(pk=action.pk).exists()
    assert AuditEvent.objects.filter(
        table=RemediationAction._meta.db_table, object_pk=str(action.pk), action="delete"
    ).exists()


@pytest.mark.parametrize("state", ["commented", "in_progress", "auto"])
def test_it_asks_to_cancel_an_action_with_a_history(writer, action, state):
    if state == "commented":
        ActionComment.objects.create(organisation=action.organisation, action=action, body="Hi")
    elif state == "in_progress":
        RemediationAction.objects.filter(pk=action.pk).update(status=S.IN_PROGRESS)
    else:
        RemediationAction.objects.filter(pk=action.pk).update(origin="auto")

    response = writer.delete(action_url(action))

    assert response.status_code == 409
    assert "cancel" in response.json()["detail"]
    assert RemediationAction.objects.filter(pk=action.pk).exists()


def test_it_lets_only_managers_delete(member, reader, stranger, outsider, action):
    assert session(member).delete(action_url(action)).status_code == 403
    assert reader.delete(action_url(action)).status_code == 403
    assert stranger.delete(action_url(action)).status_code == 404
    assert session(outsider).delete(action_url(action)).status_code == 404
    assert RemediationAction.objects.filter(pk=action.pk).exists()
