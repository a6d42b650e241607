"""The webhook settings pages: admins only, the secret shown once, the delivery log."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assessments.integrations import events, webhooks
from assessments.models import DeliveryStatus, EventType, WebhookDelivery, WebhookEndpoint


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True


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
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("endpoint", "event")
        .order_by("id")
    )


def url(name: str, org, **kwargs) -> str:
    return reverse(name, kwargs={"org_code": org.code, **kwargs})


def hook(name: str, endpoint, **kwargs) -> str:
    return url(name, endpoint.organisation, webhook_code=endpoint.code, **kwargs)


def delivery_page(name: str, delivery) -> str:
    return hook(name, delivery.endpoint, delivery_code=delivery.code)


def test_it_lists_endpoints_with_their_state(owner_client, org, owner, endpoint):
    other, _ = webhooks.endpoint_create(
        actor=owner, url="http://127.0.0.1:9/other", event_types=["action.overdue"]
    )
    webhooks.endpoint_disable(actor=owner, endpoint=other)
    [delivery] = deliveries_for(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)

    response = owner_client.get(url("webhook_list", org))
    assert response.status_code == 200
    html = response.content.decode()
    assert "http://127.0.0.1:9/hook" in html and "Ops" in html
    assert "All events" in html and "Action overdue" in html
    assert "Disabled by hand" in html
    assert [r["endpoint"].failed for r in response.context["rows"]] == [1, 0]
    assert response.context["rows"][0]["last_status"] == "Failed"
    assert hook("webhook_enable", other) in html
    assert hook("webhook_enable", endpoint) not in html


def test_it_lists_endpoints_in_a_constant_number_of_queries(
    owner_client, org, owner, django_assert_num_queries
):
    for i in range(2):
        deliveries_for(webhooks.endpoint_create(actor=owner, url=f"http://127.0.0.1:9/{i}")[0])
    owner_client.get(url("webhook_list", org))
    with CaptureQueriesContext(connection) as few:
        owner_client.get(url("webhook_list", org))
    for i in range(6):
        deliveries_for(webhooks.endpoint_create(actor=owner, url=f"http://127.0.0.1:9/m{i}")[0])
    with django_assert_num_queries(len(few)):
        response = owner_client.get(url("webhook_list", org))
    assert len(response.context["rows"]) == 8


def test_it_creates_an_endpoint_and_shows_its_secret_once(owner_client, org):
    response = owner_client.post(
        url("webhook_create", org),
        {"url": "http://127.0.0.1:9/new", "description": "SIEM", "event_types": ["action.created"]},
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["action.created"] and endpoint.description == "SIEM"
    html = response.content.decode()
    assert endpoint.secret in html
    assert "not shown again" in html
    assert "no-store" in response["Cache-Control"]

    for page in (
        url("webhook_list", org),
        hook("webhook_edit", endpoint),
        hook("webhook_deliveries", endpoint),
        hook("webhook_rotate", endpoint),
    ):
        assert endpoint.secret not in owner_client.get(page).content.decode()


def test_it_shows_the_form_again_with_the_error(owner_client, org, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    response = owner_client.post(url("webhook_create", org), {"url": "https://10.0.0.1/hook"})
    assert response.status_code == 400
    assert "private or local" in response.context["form"].errors["url"][0]
    response = owner_client.post(url("webhook_create", org), {"url": "ftp://example.com/"})
    assert response.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_it_edits_an_endpoint(owner_client, endpoint):
    page = owner_client.get(hook("webhook_edit", endpoint))
    assert page.context["form"].initial["url"] == endpoint.url
    response = owner_client.post(
        hook("webhook_edit", endpoint),
        {"url": "http://127.0.0.1:9/moved", "event_types": ["finding.updated"]},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "http://127.0.0.1:9/moved"
    assert endpoint.event_types == ["finding.updated"]
    assert endpoint.description == ""


def test_it_deletes_an_endpoint_after_confirmation(owner_client, endpoint):
    assert owner_client.get(hook("webhook_delete", endpoint)).status_code == 200
    assert WebhookEndpoint.objects.exists()
    assert owner_client.post(hook("webhook_delete", endpoint)).status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_it_rotates_the_secret_after_confirmation_and_shows_it_once(owner_client, endpoint):
    old = endpoint.secret
    confirm = owner_client.get(hook("webhook_rotate", endpoint))
    assert confirm.status_code == 200 and old not in confirm.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret == old

    response = owner_client.post(hook("webhook_rotate", endpoint))
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    html = response.content.decode()
    assert endpoint.secret in html and old not in html
    assert "24 hours" in html


def test_it_enables_a_disabled_endpoint(owner_client, owner, endpoint):
    webhooks.endpoint_disable(actor=owner, endpoint=endpoint)
    assert owner_client.get(hook("webhook_enable", endpoint)).status_code == 405
    assert owner_client.post(hook("webhook_enable", endpoint)).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.enabled


def test_it_shows_the_delivery_log_filtered_by_status(owner_client, endpoint):
    first, second = deliveries_for(endpoint, 2)
    WebhookDelivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.FAILED, attempts=3)
    response = owner_client.get(hook("webhook_deliveries", endpoint))
    assert [d.pk for d in response.context["page"].object_list] == [second.pk, first.pk]
    html = response.content.decode()
    assert first.event.message_id in html and "Action updated" in html

    failed = owner_client.get(hook("webhook_deliveries", endpoint), {"status": "failed"})
    assert [d.pk for d in failed.context["page"].object_list] == [first.pk]
    bad = owner_client.get(hook("webhook_deliveries", endpoint), {"status": "lost"})
    assert bad.status_code == 400


def test_it_pages_the_delivery_log_in_a_constant_number_of_queries(
    owner_client, endpoint, django_assert_num_queries
):
    deliveries_for(endpoint, 2)
    page = hook("webhook_deliveries", endpoint)
    owner_client.get(page)
    with CaptureQueriesContext(connection) as few:
        owner_client.get(page)
    deliveries_for(endpoint, 60)
    with django_assert_num_queries(len(few)):
        response = owner_client.get(page)
    assert len(response.context["page"].object_list) == 50
    assert response.context["page"].has_next()


def test_it_shows_a_delivery_with_its_payload_and_attempts(owner_client, endpoint):
    [delivery] = deliveries_for(endpoint)
    delivery.attempt_log.create(
        organisation=delivery.organisation, number=1, response_status=503, error="Busy"
    )
    response = owner_client.get(delivery_page("webhook_delivery", delivery))
    assert response.status_code == 200
    html = response.content.decode()
    assert "&quot;type&quot;: &quot;action.updated&quot;" in html
    assert "Busy" in html and "503" in html
    assert delivery_page("webhook_delivery_replay", delivery) in html


def test_it_replays_a_delivery(owner_client, endpoint, django_capture_on_commit_callbacks):
    [delivery] = deliveries_for(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, attempts=5)
    with django_capture_on_commit_callbacks() as queued:
        response = owner_client.post(delivery_page("webhook_delivery_replay", delivery))
    assert response.status_code == 302
    assert len(queued) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)


def test_it_explains_why_a_replay_cannot_happen(owner_client, owner, endpoint):
    [delivery] = deliveries_for(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    webhooks.endpoint_disable(actor=owner, endpoint=endpoint)
    response = owner_client.post(delivery_page("webhook_delivery_replay", delivery), follow=True)
    assert "enable it before replaying" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


def _every_page(endpoint, delivery) -> list[tuple[str, str]]:
    org = endpoint.organisation
    return [
        ("get", url("webhook_list", org)),
        ("get", url("webhook_create", org)),
        ("post", url("webhook_create", org)),
        ("get", hook("webhook_edit", endpoint)),
        ("post", hook("webhook_edit", endpoint)),
        ("get", hook("webhook_delete", endpoint)),
        ("post", hook("webhook_delete", endpoint)),
        ("get", hook("webhook_rotate", endpoint)),
        ("post", hook("webhook_rotate", endpoint)),
        ("post", hook("webhook_enable", endpoint)),
        ("get", hook("webhook_deliveries", endpoint)),
        ("get", delivery_page("webhook_delivery", delivery)),
        ("post", delivery_page("webhook_delivery_replay", delivery)),
    ]


def test_it_forbids_members_who_are_not_admins(member_client, endpoint):
    [delivery] = deliveries_for(endpoint)
    for method, page in _every_page(endpoint, delivery):
        data = {"url": "http://127.0.0.1:9/mine"} if method == "post" else None
        response = getattr(member_client, method)(page, data)
        assert response.status_code == 403, (method, page)
    endpoint.refresh_from_db()
    assert endpoint.url == "http://127.0.0.1:9/hook" and WebhookEndpoint.objects.count() == 1


def test_it_hides_everything_from_an_outsider(outsider_client, outsider, endpoint):
    [delivery] = deliveries_for(endpoint)
    for method, page in _every_page(endpoint, delivery):
        data = {"url": "http://127.0.0.1:9/theirs"} if method == "post" else None
        response = getattr(outsider_client, method)(page, data)
        assert response.status_code == 404, (method, page)
    # Their own organisation's settings with our endpoint's code: 404 too.
    theirs = url("webhook_edit", outsider.organisation, webhook_code=endpoint.code)
    assert outsider_client.get(theirs).status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.url == "http://127.0.0.1:9/hook" and WebhookEndpoint.objects.count() == 1


def test_it_sends_anonymous_visitors_to_sign_in(client, endpoint):
    response = client.get(url("webhook_list", endpoint.organisation))
    assert response.status_code == 302 and "login" in response["Location"]
