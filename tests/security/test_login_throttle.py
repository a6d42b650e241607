"""Failed logins are counted per account and per client address, and lock both out."""

import logging
import time

import pytest
from django.core import mail
from django.test import Client, RequestFactory

from governance.security import throttle

from .auth_support import log_in, own_cache  # noqa: F401

pytestmark = pytest.mark.usefixtures("own_cache")

LOCKED = b"Too many failed attempts"


def fail(client: Client, email: str, times: int, **extra) -> list:
    return [log_in(client, email, "wrong password!", **extra) for _ in range(times)]


def test_it_locks_an_account_after_five_failures_even_for_the_right_password(client, owner):
    responses = fail(client, "owner@acme.example", 5)
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 429]
    assert LOCKED in responses[-1].content

    response = log_in(client, "owner@acme.example")
    assert response.status_code == 429
    assert LOCKED in response.content
    assert "_auth_user_id" not in client.session


def test_it_locks_the_account_for_every_address(owner):
    fail(Client(REMOTE_ADDR="203.0.113.1"), "OWNER@acme.example", 5)
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert log_in(elsewhere, "owner@acme.example").status_code == 429
    assert "_auth_user_id" not in elsewhere.session


def test_it_says_the_same_whether_or_not_the_account_exists(client, owner):
    known = fail(client, "owner@acme.example", 5)[-1]
    unknown = fail(client, "nobody@acme.example", 5)[-1]
    assert known.status_code == unknown.status_code == 429
    assert known.context["locked"] == unknown.context["locked"]


def test_it_locks_an_address_after_twenty_failures_on_any_accounts(owner):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(19):
        assert log_in(attacker, f"guess{n}@acme.example", "wrong password!").status_code == 200
    assert log_in(attacker, "guess19@acme.example", "wrong password!").status_code == 429
    # The owner's own account has no failures, but this address is locked for everyone …
    assert log_in(attacker, "owner@acme.example").status_code == 429
    # … while the owner, elsewhere, logs in.
    assert log_in(Client(REMOTE_ADDR="198.51.100.7"), "owner@acme.example").status_code == 302


def test_it_resets_the_account_count_after_a_successful_login(client, owner):
    fail(client, "owner@acme.example", 4)
    assert log_in(client, "owner@acme.example").status_code == 302
    client.post("/accounts/logout/")
    assert [r.status_code for r in fail(client, "owner@acme.example", 4)] == [200] * 4
    assert log_in(client, "owner@acme.example").status_code == 302


def test_it_lets_the_account_in_again_after_the_lockout(client, owner, settings):
    settings.LOGIN_LOCKOUT_SECONDS = 1
    fail(client, "owner@acme.example", 5)
    assert log_in(client, "owner@acme.example").status_code == 429
    time.sleep(1.5)  # the lock is a Redis key with a time to live
    assert log_in(client, "owner@acme.example").status_code == 302


def test_it_takes_its_limits_from_the_settings(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    assert [r.status_code for r in fail(client, "owner@acme.example", 2)] == [200, 429]


def test_it_logs_a_lockout_but_never_the_password(client, owner, caplog):
    with caplog.at_level(logging.WARNING, logger="kakehashi.security"):
        fail(client, "owner@acme.example", 5)
    locked = [r for r in caplog.records if "locked" in r.getMessage()]
    assert len(locked) == 1
    assert "owner@acme.example" in locked[0].getMessage()
    assert all("wrong password!" not in r.getMessage() for r in caplog.records)


def test_it_logs_in_when_the_cache_is_down(client, owner, settings):
    """Counting fails open: a Redis outage must not lock everyone out."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    assert log_in(client, "owner@acme.example", "wrong password!").status_code == 200
    assert log_in(client, "owner@acme.example").status_code == 302


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "198.51.100.7", "10.0.0.2"),  # no proxy trusted: the header is the client's word
        (1, "", "10.0.0.2"),
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # a forged entry further left is ignored
        (2, "198.51.100.7, 10.0.0.9", "198.51.100.7"),
    ],
)
def test_it_reads_the_client_address_as_the_nearest_trusted_proxy_saw_it(
    settings, proxies, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", **extra)
    assert throttle.client_ip(request) == expected


def test_it_throttles_password_reset_requests_per_address(client, owner):
    for _ in range(5):
        assert (
            client.post("/accounts/password/reset/", {"email": "owner@acme.example"}).status_code
            == 302
        )
    response = client.post("/accounts/password/reset/", {"email": "owner@acme.example"})
    assert response.status_code == 429
    assert b"Too many reset requests" in response.content
    assert len(mail.outbox) == 5


def test_it_throttles_password_reset_requests_for_unknown_addresses_alike(client, db):
    for _ in range(5):
        client.post("/accounts/password/reset/", {"email": "nobody@acme.example"})
    response = client.post("/accounts/password/reset/", {"email": "nobody@acme.example"})
    assert response.status_code == 429
    assert mail.outbox == []


def test_it_throttles_password_reset_requests_per_client_address(client, owner, settings):
    settings.PASSWORD_RESET_IP_LIMIT = 3
    for n in range(3):
        client.post("/accounts/password/reset/", {"email": f"someone{n}@acme.example"})
    response = client.post("/accounts/password/reset/", {"email": "owner@acme.example"})
    assert response.status_code == 429
    assert mail.outbox == []


def test_it_counts_nothing_for_a_bad_reset_form(client, owner):
    for _ in range(6):
        assert (
            client.post("/accounts/password/reset/", {"email": "not an address"}).status_code == 200
        )
    assert (
        client.post("/accounts/password/reset/", {"email": "owner@acme.example"}).status_code == 302
    )
