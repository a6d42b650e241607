"""Helpers of the authentication tests (login throttling, sessions, MFA, passwords)."""

import uuid

import pytest
from django.test import Client

from governance.security import services, totp
from governance.security.models import TotpDevice

from ..factories import PASSWORD


@pytest.fixture
def own_cache(settings):
    """A key prefix of this test's own, so counters and lockouts of other tests (and runs) in
    the same Redis database never count here. Changing CACHES makes Django reopen the cache."""
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }


def log_in(client: Client, email: str, password: str = PASSWORD, **extra):
    return client.post("/accounts/login/", {"username": email, "password": password}, **extra)


def enrol(user) -> tuple[str, list[str]]:
    """Turn MFA on for `user`, as the setup page does; (secret, recovery codes)."""
    secret = totp.new_secret()
    codes = services.mfa_enrol(user=user, secret=secret, code=totp.code_at(secret))
    return secret, codes


def next_code(user) -> str:
    """A valid code that has not been used yet: the next time step's (inside the window)."""
    device = TotpDevice.objects.get(user=user)
    step = max(totp.step_at(), device.last_step + 1)
    return totp.hotp(totp._key(device.secret), step)
