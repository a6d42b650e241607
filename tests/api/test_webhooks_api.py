"""Webhook endpoints and deliveries through the API: admins and keys, secrets shown once,
replay, and the outsider's 404."""

import pytest
from rest_framework.test import APIClient

from assessments.integrations import events, webhooks
from assessments.models import DeliveryStatus, EventType, WebhookDelivery, WebhookEndpoint

from .conftest import api


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True


def session(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


def hooks_url(org, suffix=""):
    return f"/api/v1/orgs/{org.code}/webhooks/{suffix}"


def hook_url(endpoint, suffix=""):
    return f"/api/v1/orgs/{endpoint.organisation.code}/webhooks/{endpoint.code}/{suffix}"


def delivery_url(delivery, suffix=""):
    return hook_url(delivery.endpoint, f"deliveries/{delivery.code}/{suffix}")


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def pointers(response) -> list[str]:
    return [error["pointer"] for error in problem(response, 400)["errors"]]


@pytest.fixture
def endpoint(owner) -> WebhookEndpoint:
    endpoint, _ = webhooks.endpoint_create(
        actor=owner, url="http://127.0.0.1:9/hook", description="Ops"
    )
    return endpoint


def deliveries_for(endpoint, n: int = 1) -> list[WebhookDelivery]:
    events.emit_many(
        endpoint.organisation_id, EventType.ACTION_UPDATED, [("", {"i": i}) for i in range(n)]
    )
    return list(
        WebhookDelivery.objects.filter(endpoint=endpoint).select_related("endpoint", "event")
    )


# Endpoints


def test_it_creates_an_endpoint_and_shows_the_secret_only_then(writer, org):
    response = writer.post(
        hooks_url(org),
        {"url": "http://127.0.0.1:9/in", "description": "SIEM", "event_types": ["action.created"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["url"] == "http://127.0.0.1:9/in"
    assert body["event_types"] == ["action.created"]
    assert body["enabled"] is True and body["last_status"] is None and body["failed"] == 0
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == body["secret"]
    assert response["Location"].endswith(hook_url(endpoint))

    detail = writer.get(hook_url(endpoint)).json()
    listed = writer.get(hooks_url(org)).json()["results"]
    assert "secret" not in detail and "secret" not in listed[0]
    assert body["secret"] not in str(detail) + str(listed)


def test_it_answers_a_repeated_create_with_the_first_response(writer, org):
    headers = {"HTTP_IDEMPOTENCY_KEY": "create-1"}
    payload = {"url": "http://127.0.0.1:9/in"}
    first = writer.post(hooks_url(org), payload, format="json", **headers)
    again = writer.post(hooks_url(org), payload, format="json", **headers)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "pointer"),
    [
        ({"url": "ftp://example.com/x"}, "/url"),
        ({}, "/url"),
        ({"url": "http://127.0.0.1/x", "event_types": ["user.deleted"]}, "/event_types/0"),
        ({"url": "http://127.0.0.1/x", "colour": "red"}, "/colour"),
        ({"url": "http://127.0.0.1/x", "description": "x" * 201}, "/description"),
    ],
)
def test_it_refuses_bad_input_and_changes_nothing(writer, org, payload, pointer):
    assert pointers(writer.post(hooks_url(org), payload, format="json")) == [pointer]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "[::1]", "169.254.169.254"])
def test_it_refuses_an_endpoint_at_a_private_address(writer, org, settings, host):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    response = writer.post(hooks_url(org), {"url": f"https://{host}/hook"}, format="json")
    body = problem(response, 400)
    assert body["errors"][0]["pointer"] == "/url"
    assert "private or local" in body["detail"]
    assert not WebhookEndpoint.objects.exists()


def test_it_changes_disables_and_enables_an_endpoint(writer, endpoint):
    response = writer.patch(
        hook_url(endpoint),
        {"description": "Pager", "event_types": ["action.overdue"], "enabled": False},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["description"] == "Pager" and body["url"] == endpoint.url
    assert body["event_types"] == ["action.overdue"]
    assert body["enabled"] is False and body["disabled_reason"]

    body = writer.patch(hook_url(endpoint), {"enabled": True}, format="json").json()
    assert body["enabled"] is True and body["disabled_reason"] == ""


def test_it_refuses_a_bad_change(writer, endpoint):
    assert pointers(writer.patch(hook_url(endpoint), {"url": "gopher://x"}, format="json")) == [
        "/url"
    ]
    endpoint.refresh_from_db()
    assert endpoint.url == "http://127.0.0.1:9/hook"


def test_it_deletes_an_endpoint_with_its_deliveries(writer, endpoint):
    deliveries_for(endpoint)
    assert writer.delete(hook_url(endpoint)).status_code == 204
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()
    problem(writer.get(hook_url(endpoint)), 404)


def test_it_rotates_the_secret_and_keeps_the_old_one_signing_for_a_day(writer, endpoint):
    old = endpoint.secret
    response = writer.post(hook_url(endpoint, "rotate/"), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    endpoint.refresh_from_db()
    assert body["secret"] == endpoint.secret != old
    assert endpoint.previous_secret == old
    assert writer.get(hook_url(endpoint)).json()["rotating_until"] == body["rotating_until"]
    assert pointers(writer.post(hook_url(endpoint, "rotate/"), {"x": 1}, format="json")) == ["/x"]


def test_it_lists_endpoints_with_their_delivery_counts(writer, org, endpoint, owner):
    other, _ = webhooks.endpoint_create(actor=owner, url="http://127.0.0.1:9/b")
    first, second = deliveries_for(endpoint, 2)
    WebhookDelivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.FAILED)
    WebhookDelivery.objects.filter(pk=second.pk).update(attempts=2)
    rows = writer.get(hooks_url(org)).json()["results"]
    assert [r["code"] for r in rows] == [str(endpoint.code), str(other.code)]
    assert (rows[0]["failed"], rows[0]["retrying"]) == (1, 1)
    assert rows[0]["last_status"] in ("failed", "pending")
    assert rows[1]["last_status"] == "pending"  # the events went to both


def test_it_lists_endpoints_in_a_constant_number_of_queries(
    writer, org, owner, django_assert_num_queries
):
    for i in range(2):
        deliveries_for(webhooks.endpoint_create(actor=owner, url=f"http://127.0.0.1:9/{i}")[0])
    writer.get(hooks_url(org))  # the key's last use is recorded once a minute
    with django_assert_num_queries(2):
        assert len(writer.get(hooks_url(org)).json()["results"]) == 2
    for i in range(5):
        webhooks.endpoint_create(actor=owner, url=f"http://127.0.0.1:9/more{i}")
    with django_assert_num_queries(2):
        assert len(writer.get(hooks_url(org)).json()["results"]) == 7


# Deliveries


def test_it_lists_an_endpoints_deliveries_newest_first_by_status(writer, endpoint):
    first, second = sorted(deliveries_for(endpoint, 2), key=lambda d: d.pk)
    WebhookDelivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.FAILED)
    rows = writer.get(hook_url(endpoint, "deliveries/")).json()["results"]
    assert [r["code"] for r in rows] == [str(second.code), str(first.code)]
    failed = writer.get(hook_url(endpoint, "deliveries/"), {"status": "failed"}).json()["results"]
    assert [r["code"] for r in failed] == [str(first.code)]
    assert failed[0]["webhook_id"] == first.event.message_id
    assert failed[0]["event_type"] == "action.updated"
    assert failed[0]["next_attempt_at"] is None
    assert "payload" not in failed[0]
    assert pointers(writer.get(hook_url(endpoint, "deliveries/"), {"status": "lost"})) == [
        "/status"
    ]
    assert pointers(writer.get(hook_url(endpoint, "deliveries/"), {"endpoint": "x"})) == [
        "/endpoint"
    ]


def test_it_lists_deliveries_in_a_constant_number_of_queries(
    writer, endpoint, django_assert_num_queries
):
    deliveries_for(endpoint, 2)
    url = hook_url(endpoint, "deliveries/")
    writer.get(url)
    # the key, the endpoint, the page of deliveries
    with django_assert_num_queries(3):
        assert len(writer.get(url).json()["results"]) == 2
    deliveries_for(endpoint, 6)
    with django_assert_num_queries(3):
        assert len(writer.get(url).json()["results"]) == 8


def test_it_shows_a_delivery_with_its_payload_and_attempts(writer, endpoint):
    [delivery] = deliveries_for(endpoint)
    delivery.attempt_log.create(
        organisation=delivery.organisation, number=1, response_status=503, error="busy"
    )
    body = writer.get(delivery_url(delivery)).json()
    assert body["payload"] == {**delivery.event.payload}
    assert body["payload"]["data"] == {"i": 0}
    assert [(a["number"], a["response_status"], a["error"]) for a in body["attempt_log"]] == [
        (1, 503, "busy")
    ]


def test_it_finds_a_delivery_only_under_its_own_endpoint(writer, owner, endpoint):
    other, _ = webhooks.endpoint_create(actor=owner, url="http://127.0.0.1:9/b")
    [delivery] = deliveries_for(other)
    url = f"{hook_url(endpoint)}deliveries/{delivery.code}/"
    problem(writer.get(url), 404)
    problem(writer.post(url + "replay/"), 404)


def test_it_replays_a_failed_delivery(writer, endpoint, django_capture_on_commit_callbacks):
    [delivery] = deliveries_for(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, attempts=15)
    with django_capture_on_commit_callbacks() as queued:
        response = writer.post(delivery_url(delivery, "replay/"), HTTP_IDEMPOTENCY_KEY="r1")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    assert len(queued) == 1  # the sweep, after commit
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)


def test_it_will_not_replay_to_a_disabled_endpoint(writer, owner, endpoint):
    [delivery] = deliveries_for(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    webhooks.endpoint_disable(actor=owner, endpoint=endpoint)
    problem(writer.post(delivery_url(delivery, "replay/")), 400)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


# Who may


def test_it_lets_an_admin_session_manage_endpoints(owner, org):
    response = session(owner).post(hooks_url(org), {"url": "http://127.0.0.1:9/s"}, format="json")
    assert response.status_code == 201
    assert WebhookEndpoint.objects.get().created_by == owner.user


def test_it_lets_a_read_key_read_but_not_change(reader, org, endpoint):
    [delivery] = deliveries_for(endpoint)
    assert reader.get(hooks_url(org)).status_code == 200
    assert reader.get(delivery_url(delivery)).status_code == 200
    problem(reader.post(hooks_url(org), {"url": "http://127.0.0.1:9/r"}, format="json"), 403)
    problem(reader.post(hook_url(endpoint, "rotate/")), 403)
    problem(reader.delete(hook_url(endpoint)), 403)
    problem(reader.post(delivery_url(delivery, "replay/")), 403)
    assert WebhookEndpoint.objects.count() == 1


def test_it_refuses_members_who_are_not_admins(member, org, endpoint):
    [delivery] = deliveries_for(endpoint)
    client = session(member)
    for response in (
        client.get(hooks_url(org)),
        client.get(hook_url(endpoint)),
        client.get(delivery_url(delivery)),
        client.post(hooks_url(org), {"url": "http://127.0.0.1:9/m"}, format="json"),
        client.patch(hook_url(endpoint), {"description": "mine"}, format="json"),
        client.post(hook_url(endpoint, "rotate/")),
        client.post(delivery_url(delivery, "replay/")),
        client.delete(hook_url(endpoint)),
    ):
        problem(response, 403)
    endpoint.refresh_from_db()
    assert endpoint.description == "Ops"


@pytest.mark.parametrize("as_key", [True, False])
def test_it_hides_endpoints_from_another_organisation(request, org, endpoint, outsider, as_key):
    [delivery] = deliveries_for(endpoint)
    client = request.getfixturevalue("stranger") if as_key else session(outsider)
    for response in (
        client.get(hooks_url(org)),
        client.post(hooks_url(org), {"url": "http://127.0.0.1:9/o"}, format="json"),
        client.get(hook_url(endpoint)),
        client.patch(hook_url(endpoint), {"description": "theirs"}, format="json"),
        client.delete(hook_url(endpoint)),
        client.post(hook_url(endpoint, "rotate/")),
        client.get(hook_url(endpoint, "deliveries/")),
        client.get(delivery_url(delivery)),
        client.post(delivery_url(delivery, "replay/")),
    ):
        problem(response, 404)
    # Their own organisation's path with our endpoint's code: still 404.
    own = f"/api/v1/orgs/{outsider.organisation.code}/webhooks/{endpoint.code}/"
    problem(client.get(own), 404)
    endpoint.refresh_from_db()
    assert endpoint.description == "Ops" and WebhookEndpoint.objects.count() == 1


def test_it_asks_for_credentials(org):
    problem(api().get(hooks_url(org)), 401)
