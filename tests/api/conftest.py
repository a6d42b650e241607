"""API clients: an organisation's read and write keys, and an outsider's key.

`api(token)` gives a DRF APIClient that sends `Authorization: Bearer <token>`; `api()` an
anonymous one. Session-authenticated calls use `client_for(membership)` from tests/conftest.py
(CSRF is enforced by DRF on unsafe methods there: use `APIClient(enforce_csrf_checks=True)` to
test it).
"""

import pytest
from rest_framework.test import APIClient

from governance import apikeys
from governance.models import ApiScope


def make_key(membership, scope=ApiScope.WRITE, name=None, **kwargs) -> str:
    _, token = apikeys.api_key_create(
        actor=membership, name=name or f"{scope} key", scope=scope, **kwargs
    )
    return token


def api(token: str | None = None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def write_key(owner) -> str:
    return make_key(owner, ApiScope.WRITE)


@pytest.fixture
def read_key(owner) -> str:
    return make_key(owner, ApiScope.READ)


@pytest.fixture
def outsider_key(outsider) -> str:
    return make_key(outsider, ApiScope.WRITE)


@pytest.fixture
def writer(write_key) -> APIClient:
    return api(write_key)


@pytest.fixture
def reader(read_key) -> APIClient:
    return api(read_key)


@pytest.fixture
def stranger(outsider_key) -> APIClient:
    """An API client holding another organisation's write key."""
    return api(outsider_key)


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    """Generous rates unless a test sets its own (the throttle has its own test)."""
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {"client": "100000/min"}
    settings.REST_FRAMEWORK = rest
