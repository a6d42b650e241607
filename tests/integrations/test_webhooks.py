"""The webhook engine against a real receiver on loopback: signing (checked with the
standardwebhooks reference library), retries, 410, timeouts, SSRF refusal, replay, and
concurrent sweeps."""

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from assessments.integrations import events, webhooks
from assessments.models import (
    DeliveryStatus,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from governance.api.auth import KeyActor
from governance.models import ApiScope, Role
from tests.factories import MembershipFactory, RemediationActionFactory

# --- A receiver on loopback --------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    url: str = ""
    answers: list[tuple[int, float]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *statuses: int, delay: float = 0.0) -> None:
        """Answer the next requests with these statuses (then 200)."""
        self.answers += [(s, delay) for s in statuses]

    def next_answer(self) -> tuple[int, float]:
        with self.lock:
            return self.answers.pop(0) if self.answers else (200, 0.0)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        receiver: Receiver = self.server.receiver  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with receiver.lock:
            receiver.requests.append(
                Received({k.lower(): v for k, v in self.headers.items()}, body)
            )
        status, delay = receiver.next_answer()
        time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"thanks " * 400)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args) -> None:
        pass


def _serve(host: str = "127.0.0.1"):
    server = ThreadingHTTPServer((host, 0), _Handler)
    server.daemon_threads = True
    receiver = Receiver()
    server.receiver = receiver  # type: ignore[attr-defined]
    port = server.server_address[1]
    receiver.url = (
        f"http://{host}:{port}/hook" if ":" not in host else f"http://[{host}]:{port}/hook"
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, receiver


@pytest.fixture
def receiver(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.OUTBOUND_TIMEOUT = 5
    server, receiver = _serve()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(owner, receiver):
    endpoint, secret = webhooks.endpoint_create(actor=owner, url=receiver.url, description="CI")
    endpoint.plain_secret = secret
    return endpoint


def _emit(org, n: int = 1, event_type: str = EventType.ACTION_UPDATED) -> None:
    events.emit_many(org.pk, event_type, [("", {"n": i}) for i in range(n)])


def _delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.select_related("event", "endpoint").get()


# --- Signing -----------------------------------------------------------------------------------


def test_it_makes_secrets_the_spec_describes():
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_")
    assert len(Webhook(secret)._whsecret) == 24
    assert webhooks.new_secret() != secret


def test_it_signs_deliveries_the_reference_library_verifies(
    endpoint, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _emit(endpoint.organisation)

    [request] = receiver.requests
    delivery = _delivery()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert request.id == delivery.event.message_id
    assert request.headers["content-type"] == "application/json"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    payload = Webhook(endpoint.plain_secret).verify(request.body, request.headers)
    assert payload["type"] == "action.updated"
    assert payload["data"] == {"n": 0}
    assert request.body == json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def test_it_fails_verification_of_a_tampered_body_or_another_secret(
    endpoint, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _emit(endpoint.organisation)
    [request] = receiver.requests

    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.plain_secret).verify(
            request.body.replace(b'"n":0', b'"n":1'), request.headers
        )
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(request.body, request.headers)


def test_it_signs_with_both_secrets_until_the_old_one_expires(
    owner, endpoint, receiver, django_capture_on_commit_callbacks
):
    old = endpoint.plain_secret
    new = webhooks.endpoint_rotate_secret(actor=owner, endpoint=endpoint)
    assert new != old
    endpoint.refresh_from_db()
    assert endpoint.secret == new and endpoint.previous_secret == old

    with django_capture_on_commit_callbacks(execute=True):
        _emit(endpoint.organisation)
    during = receiver.requests[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)
    Webhook(new).verify(during.body, during.headers)

    with time_machine.travel(timezone.now() + dt.timedelta(hours=24, seconds=5)):
        with django_capture_on_commit_callbacks(execute=True):
            _emit(endpoint.organisation)
        after = receiver.requests[-1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(after.body, after.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(after.body, after.headers)


def test_it_delivers_a_real_action_event(
    real_catalogue, owner, endpoint, receiver, django_capture_on_commit_callbacks
):
    action = RemediationActionFactory(system__organisation=owner.organisation)
    with django_capture_on_commit_callbacks(execute=True):
        events.actions_changed([action], created=True)

    [request] = receiver.requests
    payload = Webhook(endpoint.plain_secret).verify(request.body, request.headers)
    assert payload["type"] == "action.created"
    assert payload["data"]["organisation"] == str(owner.organisation.code)
    assert payload["data"]["action"]["code"] == str(action.code)
    assert payload["data"]["action"]["title"] == action.title
    assert str(action.code) in payload["data"]["action"]["href"]


def test_it_only_sends_the_event_types_an_endpoint_wants(
    owner, receiver, django_capture_on_commit_callbacks
):
    webhooks.endpoint_create(
        actor=owner, url=receiver.url, event_types=[EventType.ASSESSMENT_COMPLETED]
    )
    with django_capture_on_commit_callbacks(execute=True):
        _emit(owner.organisation, event_type=EventType.ACTION_UPDATED)
        _emit(owner.organisation, event_type=EventType.ASSESSMENT_COMPLETED)
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["assessment.completed"]


# --- Retries -----------------------------------------------------------------------------------


def test_it_retries_a_failure_with_the_same_webhook_id(endpoint, receiver):
    receiver.answer(500)
    _emit(endpoint.organisation)
    before = timezone.now()

    assert webhooks.deliver_due()["pending"] == 1
    delivery = _delivery()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.attempts == 1
    assert delivery.response_status == 500
    assert "500" in delivery.last_error
    assert before <= delivery.next_attempt_at <= timezone.now() + dt.timedelta(seconds=5 * 1.15)
    assert webhooks.deliver_due(now=before - dt.timedelta(seconds=1))["sent"] == 0

    assert webhooks.deliver_due(now=delivery.next_attempt_at)["succeeded"] == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 2
    assert delivery.delivered_at is not None
    log = list(webhooks.attempts(delivery))
    assert [(a.number, a.response_status) for a in log] == [(1, 500), (2, 200)]
    assert log[0].response_excerpt.startswith("thanks")
    assert len(log[0].response_excerpt) == 1000
    assert [r.id for r in receiver.requests] == [delivery.event.message_id] * 2


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        (1, []),
        (3, [dt.timedelta(seconds=5), dt.timedelta(minutes=5)]),
        (6, list(webhooks.FIRST_WAITS)),
    ],
)
def test_it_caps_the_first_waits_by_the_table(attempts, expected):
    assert webhooks.retry_caps(attempts) == expected


def test_it_spreads_the_default_retries_over_three_days(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 15
    caps = webhooks.retry_caps()
    assert len(caps) == 14
    assert caps[:5] == list(webhooks.FIRST_WAITS)
    assert abs(sum(caps, dt.timedelta()) - dt.timedelta(days=3)) < dt.timedelta(seconds=1)
    assert caps == sorted(caps)


def test_it_jitters_each_wait_around_its_nominal_wait(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 15
    caps = webhooks.retry_caps()
    total = dt.timedelta(0)
    for attempt in range(1, 15):
        waits = [webhooks.retry_wait(attempt) for _ in range(50)]
        assert all(0.85 * caps[attempt - 1] <= w <= 1.15 * caps[attempt - 1] for w in waits)
        assert len(set(waits)) > 1
        total += waits[0]
    # Retries span about three days, whatever the jitter drew.
    assert dt.timedelta(days=2.5) < total < dt.timedelta(days=3.5)


def test_it_fails_a_delivery_after_the_last_attempt(settings, endpoint, receiver):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.answer(500, 502, 503, 500)
    _emit(endpoint.organisation)
    later = timezone.now()
    for _ in range(3):
        later += dt.timedelta(days=1)
        assert webhooks.deliver_due(now=later)["sent"] == 1

    delivery = _delivery()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 3
    assert delivery.response_status == 503
    assert webhooks.deliver_due(now=later + dt.timedelta(days=5))["sent"] == 0
    assert len(receiver.requests) == 3


def test_it_disables_the_endpoint_on_410_and_sends_it_nothing_more(endpoint, receiver):
    receiver.answer(410)
    _emit(endpoint.organisation, n=2)

    result = webhooks.deliver_due()
    assert result["failed"] == 1
    assert len(receiver.requests) == 1
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "410" in endpoint.disabled_reason
    statuses = sorted(WebhookDelivery.objects.values_list("status", "attempts"))
    assert statuses == [(DeliveryStatus.FAILED, 1), (DeliveryStatus.PENDING, 0)]

    _emit(endpoint.organisation)
    assert webhooks.deliver_due(now=timezone.now() + dt.timedelta(days=1))["sent"] == 0
    assert WebhookDelivery.objects.count() == 2
    assert len(receiver.requests) == 1


def test_it_sends_held_deliveries_when_an_endpoint_is_enabled_again(
    owner, endpoint, receiver, django_capture_on_commit_callbacks
):
    webhooks.endpoint_disable(actor=owner, endpoint=endpoint)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason
    WebhookDelivery.objects.create(
        organisation=endpoint.organisation,
        endpoint=endpoint,
        event=WebhookEvent.objects.create(
            organisation=endpoint.organisation, type="action.updated", payload={"type": "x"}
        ),
    )
    assert webhooks.deliver_due()["sent"] == 0

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.endpoint_enable(actor=owner, endpoint=endpoint)
    assert _delivery().status == DeliveryStatus.SUCCEEDED
    assert len(receiver.requests) == 1
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.disabled_reason == ""


def test_it_counts_a_timeout_as_a_failure(settings, endpoint, receiver):
    settings.OUTBOUND_TIMEOUT = 0.3
    receiver.answer(200, delay=1.5)
    _emit(endpoint.organisation)

    assert webhooks.deliver_due()["pending"] == 1
    delivery = _delivery()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.response_status is None
    [attempt] = webhooks.attempts(delivery)
    assert "No answer within" in attempt.error
    assert attempt.duration_ms >= 250


def test_it_counts_a_refused_connection_as_a_failure(owner, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    server, receiver = _serve()
    url = receiver.url
    server.shutdown()
    server.server_close()
    webhooks.endpoint_create(actor=owner, url=url)
    _emit(owner.organisation)

    assert webhooks.deliver_due()["pending"] == 1
    assert "Could not connect" in _delivery().last_error


def test_it_sends_again_a_delivery_a_dead_worker_left_sending(endpoint, receiver):
    _emit(endpoint.organisation)
    WebhookDelivery.objects.update(
        status=DeliveryStatus.SENDING,
        attempts=1,
        last_attempt_at=timezone.now() - dt.timedelta(minutes=11),
    )
    assert webhooks.deliver_due()["released"] == 1
    delivery = _delivery()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 2

    _emit(endpoint.organisation)
    WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENDING, last_attempt_at=timezone.now() - dt.timedelta(minutes=5)
    )
    assert webhooks.deliver_due() == {
        "released": 0,
        "sent": 0,
        "succeeded": 0,
        "pending": 0,
        "failed": 0,
    }


@pytest.mark.django_db(transaction=True)
def test_it_never_sends_one_delivery_twice_from_concurrent_sweeps(owner, receiver, monkeypatch):
    monkeypatch.setattr(events, "_deliver_soon", lambda: None)  # no inline sweep on commit
    webhooks.endpoint_create(actor=owner, url=receiver.url)
    _emit(owner.organisation, n=30)
    receiver.answer(*[200] * 30, delay=0.01)
    sent = [0, 0]
    start = threading.Barrier(2)

    def sweep(i: int) -> None:
        try:
            start.wait()
            while result := webhooks.deliver_due(limit=10)["sent"]:
                sent[i] += result
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    ids = [r.id for r in receiver.requests]
    assert len(ids) == 30
    assert len(set(ids)) == 30
    assert sum(sent) == 30
    assert all(sent), "both sweeps should have sent some"
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


# --- SSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "10.0.0.1", "[::1]", "169.254.169.254", "[::ffff:127.0.0.1]"]
)
def test_it_refuses_to_create_an_endpoint_at_a_private_address(owner, settings, host):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as exc:
        webhooks.endpoint_create(actor=owner, url=f"https://{host}/hook")
    assert "private or local" in str(exc.value.message_dict["url"])
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "[::1]", "169.254.169.254", "localhost"])
def test_it_refuses_to_deliver_to_a_private_address(owner, settings, receiver, host):
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://{host}:{port}/hook"
    webhooks.endpoint_create(actor=owner, url=url)
    _emit(owner.organisation)
    settings.OUTBOUND_ALLOW_PRIVATE = False

    started = time.monotonic()
    assert webhooks.deliver_due()["pending"] == 1
    assert time.monotonic() - started < 2
    [attempt] = WebhookAttempt.objects.all()
    assert attempt.response_status is None
    assert "private or local address" in attempt.error
    assert attempt.error.startswith("Refused")
    assert receiver.requests == []


def test_it_refuses_a_delivery_whose_connection_lands_on_a_private_address(
    owner, settings, receiver, monkeypatch
):
    """The connect-time check catches a name that resolved publicly a moment before."""
    webhooks.endpoint_create(actor=owner, url=receiver.url)
    _emit(owner.organisation)
    settings.OUTBOUND_ALLOW_PRIVATE = False
    monkeypatch.setattr(webhooks.outbound, "check_url", lambda url: None)

    webhooks.deliver_due()
    assert "private or local address" in WebhookAttempt.objects.get().error
    assert receiver.requests == []


# --- Services ----------------------------------------------------------------------------------


def test_it_requires_https_outside_development(owner, settings):
    settings.DEBUG = False
    settings.OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as exc:
        webhooks.endpoint_create(actor=owner, url="http://93.184.215.14/hook")
    assert "https" in exc.value.message_dict["url"][0]


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "", "javascript:alert(1)"])
def test_it_refuses_urls_that_are_not_http(owner, settings, url):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    with pytest.raises(ValidationError) as exc:
        webhooks.endpoint_create(actor=owner, url=url)
    assert "url" in exc.value.message_dict
    assert not WebhookEndpoint.objects.exists()


def test_it_refuses_unknown_event_types(owner, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    with pytest.raises(ValidationError) as exc:
        webhooks.endpoint_create(
            actor=owner, url="http://127.0.0.1/x", event_types=["action.created", "user.deleted"]
        )
    assert "user.deleted" in exc.value.message_dict["event_types"][0]


def test_it_keeps_event_types_in_a_fixed_order_without_repeats(owner, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    endpoint, _ = webhooks.endpoint_create(
        actor=owner,
        url="http://127.0.0.1/x",
        event_types=["action.updated", "assessment.completed", "action.updated"],
    )
    assert endpoint.event_types == ["assessment.completed", "action.updated"]


@pytest.mark.parametrize("role", [Role.COMPLIANCE_OFFICER, Role.CONTRIBUTOR, Role.VIEWER])
def test_it_lets_only_admins_manage_endpoints(org, settings, role, owner):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    someone = MembershipFactory(organisation=org, role=role)
    with pytest.raises(PermissionDenied):
        webhooks.endpoint_create(actor=someone, url="http://127.0.0.1/x")
    endpoint, _ = webhooks.endpoint_create(actor=owner, url="http://127.0.0.1/x")
    for change in (
        lambda: webhooks.endpoint_update(actor=someone, endpoint=endpoint, description="x"),
        lambda: webhooks.endpoint_rotate_secret(actor=someone, endpoint=endpoint),
        lambda: webhooks.endpoint_disable(actor=someone, endpoint=endpoint),
        lambda: webhooks.endpoint_delete(actor=someone, endpoint=endpoint),
    ):
        with pytest.raises(PermissionDenied):
            change()
    endpoint.refresh_from_db()
    assert endpoint.description == "" and endpoint.enabled


def test_it_lets_a_write_key_manage_endpoints_and_not_a_read_key(owner, settings):
    from governance import apikeys

    settings.OUTBOUND_ALLOW_PRIVATE = True
    write_key, _ = apikeys.api_key_create(actor=owner, name="w", scope=ApiScope.WRITE)
    read_key, _ = apikeys.api_key_create(actor=owner, name="r", scope=ApiScope.READ)
    org = owner.organisation
    with pytest.raises(PermissionDenied):
        webhooks.endpoint_create(
            actor=KeyActor(api_key=read_key, organisation=org), url="http://127.0.0.1/x"
        )
    endpoint, _ = webhooks.endpoint_create(
        actor=KeyActor(api_key=write_key, organisation=org), url="http://127.0.0.1/x"
    )
    assert endpoint.created_by is None


def test_it_refuses_an_admin_of_another_organisation(owner, outsider, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    endpoint, _ = webhooks.endpoint_create(actor=owner, url="http://127.0.0.1/x")
    with pytest.raises(PermissionDenied):
        webhooks.endpoint_delete(actor=outsider, endpoint=endpoint)
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_it_finds_endpoints_and_deliveries_only_inside_their_organisation(endpoint, other_org):
    from django.http import Http404

    _emit(endpoint.organisation)
    delivery = _delivery()
    assert webhooks.get_endpoint(endpoint.organisation, endpoint.code) == endpoint
    assert webhooks.get_delivery(endpoint.organisation, delivery.code) == delivery
    for lookup in (
        lambda: webhooks.get_endpoint(other_org, endpoint.code),
        lambda: webhooks.get_delivery(other_org, delivery.code),
        lambda: webhooks.get_endpoint(endpoint.organisation, "not-a-uuid"),
    ):
        with pytest.raises(Http404):
            lookup()


# --- Replay ------------------------------------------------------------------------------------


def test_it_replays_a_failed_delivery_with_the_same_webhook_id(
    settings, owner, endpoint, receiver, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.answer(500)
    _emit(endpoint.organisation)
    webhooks.deliver_due()
    delivery = _delivery()
    assert delivery.status == DeliveryStatus.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.delivery_replay(actor=owner, delivery=delivery)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 1
    assert [r.id for r in receiver.requests] == [delivery.event.message_id] * 2
    Webhook(endpoint.plain_secret).verify(receiver.requests[1].body, receiver.requests[1].headers)
    assert [a.number for a in webhooks.attempts(delivery)] == [1, 2]


def test_it_will_not_replay_to_a_disabled_endpoint(owner, endpoint, receiver):
    _emit(endpoint.organisation)
    webhooks.endpoint_disable(actor=owner, endpoint=endpoint)
    delivery = _delivery()
    with pytest.raises(ValidationError):
        webhooks.delivery_replay(actor=owner, delivery=delivery)


def test_it_lets_only_managers_replay(member, endpoint):
    _emit(endpoint.organisation)
    with pytest.raises(PermissionDenied):
        webhooks.delivery_replay(actor=member, delivery=_delivery())
