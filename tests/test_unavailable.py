"""A database or broker that does not answer gives 503 with Retry-After, not 500: clients and
load balancers come back later (the chaos run, scripts/chaos, restarts PostgreSQL and Redis
under load and counts the answers). A bug stays a 500."""

from unittest import mock

import kombu.exceptions
import psycopg
import pytest
import redis
from django.db import OperationalError, ProgrammingError

from .api.conftest import api, make_key
from .conftest import client_for


def _database_fails(error: Exception):
    return mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=error)


def test_it_answers_503_for_a_page_while_the_database_is_away(owner):
    client = client_for(owner)
    client.raise_request_exception = False
    with _database_fails(OperationalError("connection refused")):
        response = client.get(f"/o/{owner.organisation.code}/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Briefly unavailable" in response.content.decode()


def test_it_answers_503_problem_details_for_the_api_while_the_database_is_away(owner):
    client = api(make_key(owner))
    client.raise_request_exception = False
    with _database_fails(OperationalError("the database system is shutting down")):
        response = client.get(f"/api/v1/orgs/{owner.organisation.code}/systems/")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "service_unavailable"


@pytest.mark.parametrize(
    "error",
    [redis.ConnectionError("Connection refused"), kombu.exceptions.OperationalError("refused")],
)
def test_it_answers_503_while_the_broker_is_away(owner, error):
    client = client_for(owner)
    client.raise_request_exception = False
    # The page's rendering stands in for anything a view asks of Redis (cache, queue).
    with mock.patch("django.template.loader.render_to_string", side_effect=error):
        response = client.get(f"/o/{owner.organisation.code}/")
    assert response.status_code == 503, response.content[:200]


def test_it_answers_503_when_the_raw_scope_cursor_finds_the_database_shutting_down(owner):
    """The audit context and the tenant scope are set on psycopg's own cursor, whose errors
    Django does not wrap: a fast shutdown landing there is as unavailable as any other."""
    client = api(make_key(owner))
    client.raise_request_exception = False
    error = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    with mock.patch("governance.audit._apply", side_effect=error):
        response = client.get(f"/api/v1/orgs/{owner.organisation.code}/systems/")
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


def test_it_still_answers_500_for_a_bug(owner):
    client = client_for(owner)
    client.raise_request_exception = False
    with _database_fails(ProgrammingError('relation "nope" does not exist')):
        response = client.get(f"/o/{owner.organisation.code}/")
    assert response.status_code == 500
    assert "Retry-After" not in response
