"""Security headers on every response, and the production settings behind them.

`assert_security_headers` is shared with test_csp.py, which applies it to every page it walks.
"""

import os
import subprocess
import sys
from pathlib import Path

from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from governance.security.headers import PermissionsPolicyMiddleware, policy_header

ROOT = Path(__file__).resolve().parents[2]

STRICT_DIRECTIVES = {
    "default-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}
NEVER = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "http:", "https:"}


def directives(policy: str) -> dict[str, set[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = set(values)
    return parsed


def assert_security_headers(response) -> None:
    policy = response.get("Content-Security-Policy")
    assert policy, "no Content-Security-Policy"
    parsed = directives(policy)
    for name, values in STRICT_DIRECTIVES.items():
        assert parsed.get(name) == values, f"{name}: {parsed.get(name)} in {policy!r}"
    for name in ("script-src", "style-src"):
        values = parsed.get(name, parsed["default-src"])
        assert not values & NEVER, f"{name} allows {values & NEVER}"
        assert not any(v.startswith("'sha") for v in values), f"{name}: {values}"
    assert not any(NEVER & values for values in parsed.values()), policy
    assert response.get("X-Content-Type-Options") == "nosniff"
    assert response.get("Referrer-Policy") == "same-origin"
    assert response.get("Cross-Origin-Opener-Policy") == "same-origin"
    assert response.get("X-Frame-Options") == "DENY"
    permissions = response.get("Permissions-Policy", "")
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions, permissions


def test_it_sends_the_headers_on_a_signed_in_page(owner_client, owner):
    response = owner_client.get(
        reverse("org_dashboard", kwargs={"org_code": owner.organisation.code})
    )
    assert response.status_code == 200
    assert_security_headers(response)


def test_it_sends_the_headers_on_the_login_page_api_and_static_files(client, db):
    for path in (reverse("login"), reverse("api_catalogue_releases"), "/healthz"):
        response = client.get(path)
        assert response.status_code in (200, 401, 503), path
        assert_security_headers(response)


def test_it_allows_data_images_on_the_api_docs_only(client, db):
    docs = directives(client.get(reverse("api_docs"))["Content-Security-Policy"])
    assert docs["img-src"] == {"'self'", "data:"}
    login = directives(client.get(reverse("login"))["Content-Security-Policy"])
    assert login["img-src"] == {"'self'"}


def test_it_writes_the_permissions_policy_header():
    assert policy_header({"camera": [], "fullscreen": ["self"]}) == "camera=(), fullscreen=(self)"


def test_it_keeps_a_permissions_policy_a_view_set_itself(settings):
    settings.PERMISSIONS_POLICY = {"camera": []}

    def own(request):
        response = HttpResponse()
        response["Permissions-Policy"] = "camera=(self)"
        return response

    request = RequestFactory().get("/")
    assert PermissionsPolicyMiddleware(own)(request)["Permissions-Policy"] == "camera=(self)"
    plain = PermissionsPolicyMiddleware(lambda request: HttpResponse())(request)
    assert plain["Permissions-Policy"] == "camera=()"


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 30 + "Q9v!" * 10,
    "ALLOWED_HOSTS": "kakehashi.example",
    "CSRF_TRUSTED_ORIGINS": "https://kakehashi.example",
}
PRINT_SETTINGS = """
from django.conf import settings
for name in NAMES:
    print(name, repr(getattr(settings, name)))
"""


def production_settings(*names: str, **env: str) -> dict[str, str]:
    dropped = {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {
        k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("SECURE_")
    }
    result = subprocess.run(
        [sys.executable, "-c", f"NAMES = {list(names)!r}" + PRINT_SETTINGS],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **PRODUCTION, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


def test_it_holds_the_transport_and_cookie_settings_in_production():
    values = production_settings(
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
        "DEFAULT_EXCEPTION_REPORTER_FILTER",
    )
    assert values["SECURE_SSL_REDIRECT"] == "True"
    assert int(values["SECURE_HSTS_SECONDS"]) >= 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] == "True"
    assert values["SECURE_HSTS_PRELOAD"] == "True"
    assert values["SESSION_COOKIE_SECURE"] == "True"
    assert values["SESSION_COOKIE_HTTPONLY"] == "True"
    assert values["CSRF_COOKIE_SECURE"] == "True"
    assert values["SECURE_PROXY_SSL_HEADER"] == "('HTTP_X_FORWARDED_PROTO', 'https')"
    assert "SecretsExceptionReporterFilter" in values["DEFAULT_EXCEPTION_REPORTER_FILTER"]


def test_it_fails_the_deployment_check_when_a_protection_is_turned_off():
    """The deploy check in CI (make lint) catches each of these: proof that it is listening."""
    turned_off = {
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **PRODUCTION, **turned_off},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    for warning in ("security.W008", "security.W004", "security.W012", "security.W016"):
        assert warning in result.stdout + result.stderr, warning
