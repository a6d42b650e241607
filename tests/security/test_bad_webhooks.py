"""Bad inbound ticketing webhooks (Jira and ServiceNow): each gets its documented answer and writes
nothing beyond what the contract allows (assessments/integrations/inbound.py): an unknown
connection 404, a bad signature 401, an unreadable body 400, a body over the limits 413 — all
problem details, all writing nothing — and a duplicate, an out-of-order update or an unknown
ticket 200 `ignored`, also writing nothing.

tests/integrations/test_inbound.py checks the action's status after most of these; here every
table is checked, ServiceNow gets the same treatment as Jira, and generated bodies look for
anything that is not a 2xx or 4xx.
"""

import datetime as dt
import hashlib
import hmac
import json

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from assessments.models import ExternalTicket, RemediationAction

from ..integrations import test_inbound as inbound
from .conftest import changes, fingerprint, nothing_written

pytestmark = pytest.mark.django_db

# The inbound tests' fixtures and helpers: an action with a Jira issue and a ServiceNow record.
action, jira_conn, sn_conn = inbound.action, inbound.jira_conn, inbound.sn_conn
fake_jira, fake_servicenow = inbound.fake_jira, inbound.fake_servicenow
TS, jira_event, post_jira, post_servicenow = (
    inbound.TS,
    inbound.jira_event,
    inbound.post_jira,
    inbound.post_servicenow,
)


def status_of(action) -> str:
    return RemediationAction.objects.get(pk=action.pk).status


def sn_time(minutes: int) -> str:
    return (timezone.now() + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")


def sn_event(action, sn_conn, state: str, minutes: int = 1) -> dict:
    return {
        "sys_id": ExternalTicket.objects.get(connection=sn_conn).external_id,
        "correlation_id": str(action.code),
        "state": state,
        "sys_updated_on": sn_time(minutes),
    }


def jira_raw(connection, raw: bytes, signature: str | None):
    headers = {} if signature is None else {"HTTP_X_HUB_SIGNATURE": signature}
    return APIClient().post(
        reverse("inbound_jira", kwargs={"connection_code": connection.code}),
        data=raw,
        content_type="application/json",
        **headers,
    )


def signed(connection, raw: bytes) -> str:
    return "sha256=" + hmac.new(connection.inbound_secret.encode(), raw, hashlib.sha256).hexdigest()


def assert_problem(response, status: int) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"


# --- Forged, missing and misplaced credentials ------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=",
        "sha256",
        "sha1={sha1}",
        "sha256={other_body}",
        "sha256={valid}extra",
        "sha256=" + "0" * 64,
        "sha256=\u00e9\u00e9",
    ],
)
def test_jira_refuses_a_forged_or_missing_signature(action, jira_conn, signature):
    raw = json.dumps(jira_event("Done")).encode()
    secret = jira_conn.inbound_secret.encode()
    if signature is not None:
        signature = signature.format(
            sha1=hmac.new(secret, raw, hashlib.sha1).hexdigest(),
            other_body=hmac.new(secret, raw + b" ", hashlib.sha256).hexdigest(),
            valid=hmac.new(secret, raw, hashlib.sha256).hexdigest(),
        )

    with nothing_written():
        response = jira_raw(jira_conn, raw, signature)

    assert_problem(response, 401)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic {secret}", "Bearer {secret}x", "bearer  wrong"],
)
def test_servicenow_refuses_a_wrong_or_missing_secret(action, sn_conn, authorization):
    headers = {}
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization.format(secret=sn_conn.inbound_secret)

    with nothing_written():
        response = APIClient().post(
            reverse("inbound_servicenow", kwargs={"connection_code": sn_conn.code}),
            data=json.dumps(sn_event(action, sn_conn, "6")),
            content_type="application/json",
            **headers,
        )

    assert_problem(response, 401)


def test_a_jira_secret_does_not_open_the_servicenow_door(action, jira_conn, sn_conn):
    with nothing_written():
        response = post_servicenow(
            sn_conn, sn_event(action, sn_conn, "6"), secret=jira_conn.inbound_secret
        )

    assert_problem(response, 401)


@pytest.mark.parametrize("system", ["inbound_jira", "inbound_servicenow"])
def test_a_connection_of_the_other_kind_is_unknown(action, jira_conn, sn_conn, system):
    # The Jira connection's code on the ServiceNow URL, and the other way round.
    code = (sn_conn if system == "inbound_jira" else jira_conn).code
    with nothing_written():
        response = APIClient().post(
            reverse(system, kwargs={"connection_code": code}),
            data=b"{}",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {sn_conn.inbound_secret}",
            HTTP_X_HUB_SIGNATURE=signed(jira_conn, b"{}"),
        )

    assert_problem(response, 404)


# --- Replays and out-of-order updates ---------------------------------------------------------


def test_jira_ignores_a_replayed_delivery_and_writes_nothing(action, jira_conn):
    raw = json.dumps(jira_event("In Progress")).encode()
    assert jira_raw(jira_conn, raw, signed(jira_conn, raw)).json()["outcome"] == "moved"

    with nothing_written():
        response = jira_raw(jira_conn, raw, signed(jira_conn, raw))

    assert response.json()["outcome"] == "ignored"


def test_jira_ignores_an_older_update_after_a_newer_one(action, jira_conn):
    assert post_jira(jira_conn, jira_event("Done", ts=TS)).json()["outcome"] == "moved"

    with nothing_written():
        response = post_jira(jira_conn, jira_event("To Do", ts=TS - 1))

    assert response.json()["outcome"] == "ignored"
    assert status_of(action) == "done"


def test_servicenow_ignores_a_replayed_delivery_and_writes_nothing(action, sn_conn):
    event = sn_event(action, sn_conn, "2")
    assert post_servicenow(sn_conn, event).json()["outcome"] == "moved"
    assert status_of(action) == "in_progress"

    with nothing_written():
        response = post_servicenow(sn_conn, event)

    assert response.json()["outcome"] == "ignored"


def test_servicenow_ignores_an_older_update_after_a_newer_one(action, sn_conn):
    assert post_servicenow(sn_conn, sn_event(action, sn_conn, "6", 10)).json()["outcome"] == (
        "moved"
    )

    with nothing_written():
        response = post_servicenow(sn_conn, sn_event(action, sn_conn, "2", 5))

    assert response.json()["outcome"] == "ignored"
    assert status_of(action) == "done"


def test_an_unknown_ticket_is_ignored_and_writes_nothing(action, jira_conn, sn_conn):
    with nothing_written():
        jira = post_jira(jira_conn, jira_event("Done", issue_id="424242", key="OTHER-1"))
        servicenow = post_servicenow(
            sn_conn, {"sys_id": "f" * 32, "state": "6", "sys_updated_on": sn_time(1)}
        )

    assert jira.json()["outcome"] == servicenow.json()["outcome"] == "ignored"
    assert status_of(action) == "open"


# --- Unreadable and oversized bodies ----------------------------------------------------------

UNREADABLE = [
    pytest.param(b"", id="empty"),
    pytest.param(b"{", id="truncated"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"text"', id="string"),
    pytest.param(b"\xff\xfe{}", id="not-utf8"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-too-deep"),
    pytest.param(b'{"a": 1e999999}', id="infinite-number"),
    pytest.param(b'{"a": ' + b"9" * 5000 + b"}", id="number-too-long"),
]


@pytest.mark.parametrize("raw", UNREADABLE)
def test_jira_refuses_an_unreadable_body(action, jira_conn, raw):
    with nothing_written():
        response = jira_raw(jira_conn, raw, signed(jira_conn, raw))

    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response["Content-Type"] == "application/problem+json"
    else:  # a JSON object that is no status change
        assert response.json()["outcome"] == "ignored"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"webhookEvent": "jira:issue_updated", "issue": {}, "changelog": []},
            id="changelog-list",
        ),
        pytest.param(
            {"webhookEvent": "jira:issue_updated", "issue": {}, "changelog": "x"},
            id="changelog-text",
        ),
        pytest.param({**jira_event("Done"), "timestamp": 10**20}, id="timestamp-far-future"),
        pytest.param({**jira_event("Done"), "timestamp": -(10**20)}, id="timestamp-far-past"),
        pytest.param(jira_event("Do\x00ne"), id="nul-in-status"),
        pytest.param(jira_event("Done", issue_id="1\x00", key="COMP-1\x00"), id="nul-in-key"),
    ],
)
def test_jira_answers_a_strange_event_without_failing(action, jira_conn, body):
    with nothing_written():
        response = post_jira(jira_conn, body)

    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        assert response.json()["outcome"] == "ignored"
    assert status_of(action) == "open"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"sys_updated_on": "2026-13-45 99:99:99"}, id="impossible-time"),
        pytest.param({"sys_updated_on": "9999-12-31 23:59:59+99:00"}, id="impossible-offset"),
        pytest.param({"sys_updated_on": ["2026-01-01"]}, id="list-time"),
        pytest.param({"state": "6\x00"}, id="nul-in-state"),
        pytest.param({"state": {"value": "6"}}, id="mapping-state"),
        pytest.param({"sys_id": "\x00", "correlation_id": "not-a-uuid"}, id="bad-ids"),
        pytest.param({"result": []}, id="result-list"),
    ],
)
def test_servicenow_answers_a_strange_record_without_failing(action, sn_conn, change):
    body = {**sn_event(action, sn_conn, "6"), **change}
    before = fingerprint()

    response = post_servicenow(sn_conn, body)

    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response["Content-Type"] == "application/problem+json"
    if response.status_code == 400 or response.json()["outcome"] == "ignored":
        assert changes(before, fingerprint()) == []


def test_an_overlong_status_is_recorded_cut_short_and_moves_nothing(action, jira_conn):
    response = post_jira(jira_conn, jira_event("D" * 10_000))

    assert response.json()["outcome"] == "ignored"  # unmapped: recorded on the ticket, by contract
    assert ExternalTicket.objects.get(connection=jira_conn).remote_status == "D" * 100
    assert status_of(action) == "open"


def test_a_body_over_the_request_limit_is_refused_unread(action, jira_conn, settings):
    settings.MAX_REQUEST_BYTES = 4096
    raw = json.dumps({**jira_event("Done"), "padding": "x" * 8192}).encode()

    with nothing_written():
        response = jira_raw(jira_conn, raw, signed(jira_conn, raw))

    assert_problem(response, 413)
    assert response.json()["code"] == "too_large"


def test_a_body_over_the_parsing_limit_is_refused(action, sn_conn, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    body = {**sn_event(action, sn_conn, "6"), "padding": "x" * 8192}

    with nothing_written():
        response = post_servicenow(sn_conn, body)

    assert_problem(response, 413)


# --- Generated bodies: 2xx or 4xx, never 5xx; a refusal writes nothing ------------------------

WORDS = st.sampled_from(
    ["webhookEvent", "jira:issue_updated", "issue", "id", "key", "changelog", "items", "field",
     "fieldId", "status", "toString", "timestamp", "result", "sys_id", "correlation_id", "state",
     "number", "sys_updated_on", "COMP-1", "10001", "Done", "6", ""]
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | WORDS | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WORDS, inner, max_size=4),
    max_leaves=12,
)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.dictionaries(WORDS, JSON, max_size=6), jira=st.booleans())
def test_any_signed_json_gets_an_answer_not_a_failure(action, jira_conn, sn_conn, body, jira):
    before = fingerprint()
    if jira:
        raw = json.dumps(body).encode()
        response = jira_raw(jira_conn, raw, signed(jira_conn, raw))
    else:
        response = post_servicenow(sn_conn, body)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert changes(before, fingerprint()) == []
