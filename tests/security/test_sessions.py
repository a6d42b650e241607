"""Sessions: a new key at every login step, idle and absolute timeouts, cookie flags, logout."""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from governance.security import sessions

from ..conftest import client_for
from .auth_support import enrol, log_in, next_code, own_cache  # noqa: F401

pytestmark = pytest.mark.usefixtures("own_cache")

START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def planted_client() -> tuple[Client, str]:
    """A client carrying a session key chosen before login, as an attacker would plant it."""
    store = SessionStore()
    store["planted"] = True
    store.save()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return client, store.session_key


def logged_in(key: str) -> bool:
    store = SessionStore(session_key=key)
    return "_auth_user_id" in store.load()


def test_it_gives_a_new_session_key_at_login(owner):
    client, planted = planted_client()
    assert log_in(client, "owner@acme.example").status_code == 302
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert key != planted
    assert logged_in(key)
    assert not logged_in(planted)
    # Whoever kept the planted key is not logged in.
    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = planted
    assert attacker.get(f"/o/{owner.organisation.code}/").status_code == 302


def test_it_gives_a_new_session_key_at_each_step_of_an_mfa_login(owner):
    enrol(owner.user)
    client, planted = planted_client()
    assert log_in(client, "owner@acme.example").url == "/accounts/login/code/"
    halfway = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert halfway != planted
    assert not logged_in(halfway)  # the password alone logs no one in
    assert not SessionStore(session_key=planted).load().get(sessions.PENDING)

    assert client.post("/accounts/login/code/", {"code": next_code(owner.user)}).status_code == 302
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert key not in (planted, halfway)
    assert logged_in(key)
    assert not logged_in(halfway) and not logged_in(planted)


def test_it_logs_out_an_idle_session_and_says_why(owner):
    with time_machine.travel(START, tick=False) as traveller:
        client = client_for(owner)
        page = f"/o/{owner.organisation.code}/"
        assert client.get(page).status_code == 200
        traveller.shift(dt.timedelta(minutes=31))
        response = client.get(page)
        assert response.status_code == 302
        assert response.url == f"/accounts/login/?next=%2Fo%2F{owner.organisation.code}%2F"
        assert "_auth_user_id" not in client.session
        login_page = client.get(response.url)
        assert b"Your session has ended" in login_page.content


def test_it_keeps_an_active_session(owner):
    with time_machine.travel(START, tick=False) as traveller:
        client = client_for(owner)
        page = f"/o/{owner.organisation.code}/"
        for _ in range(4):
            traveller.shift(dt.timedelta(minutes=20))
            assert client.get(page).status_code == 200


def test_it_ends_a_session_at_the_absolute_timeout_however_active(owner, settings):
    settings.SESSION_ABSOLUTE_TIMEOUT = 60 * 60
    with time_machine.travel(START, tick=False) as traveller:
        client = client_for(owner)
        page = f"/o/{owner.organisation.code}/"
        for _ in range(3):
            traveller.shift(dt.timedelta(minutes=20))
            assert client.get(page).status_code == 200
        traveller.shift(dt.timedelta(minutes=1, seconds=1))
        assert client.get(page).status_code == 302
        assert "_auth_user_id" not in client.session


def test_it_answers_an_api_call_with_an_expired_session_with_a_problem(owner):
    with time_machine.travel(START, tick=False) as traveller:
        client = client_for(owner)
        url = f"/api/v1/orgs/{owner.organisation.code}/systems/"
        assert client.get(url).status_code == 200
        traveller.shift(dt.timedelta(hours=1))
        response = client.get(url)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_it_writes_the_last_seen_time_at_most_once_a_minute(owner):
    with time_machine.travel(START, tick=False) as traveller:
        client = client_for(owner)
        client.get("/accounts/profile/")
        seen = client.session[sessions.SEEN_AT]
        traveller.shift(dt.timedelta(seconds=30))
        client.get("/accounts/profile/")
        assert client.session[sessions.SEEN_AT] == seen
        traveller.shift(dt.timedelta(seconds=31))
        client.get("/accounts/profile/")
        assert client.session[sessions.SEEN_AT] == seen + 61


def test_it_stamps_a_session_from_before_the_timeouts_instead_of_ending_it(owner):
    client = client_for(owner)
    session = client.session
    del session[sessions.LOGIN_AT], session[sessions.SEEN_AT]
    session.save()
    assert client.get(f"/o/{owner.organisation.code}/").status_code == 200
    assert sessions.LOGIN_AT in client.session


def test_it_sets_the_session_cookie_http_only_and_same_site_lax(client, owner):
    response = log_in(client, "owner@acme.example")
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == settings.SESSION_ABSOLUTE_TIMEOUT


def test_it_logs_out_only_with_a_post(owner_client, org):
    assert owner_client.get("/accounts/logout/").status_code == 405
    assert owner_client.get(f"/o/{org.code}/").status_code == 200
    assert owner_client.post("/accounts/logout/").status_code == 302
    assert owner_client.get(f"/o/{org.code}/").status_code == 302
