"""The Permissions-Policy header: the browser features no page of Kakehashi uses, turned off.

Django's SecurityMiddleware already sends nosniff, Referrer-Policy and Cross-Origin-Opener-Policy,
XFrameOptionsMiddleware sends X-Frame-Options, and django-csp the Content-Security-Policy.
Permissions-Policy is one constant header, so it is set here rather than by another dependency.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def policy_header(features: dict[str, list[str]]) -> str:
    """{"camera": [], "fullscreen": ["self"]} → 'camera=(), fullscreen=(self)'."""
    return ", ".join(f"{name}=({' '.join(allow)})" for name, allow in features.items())


class PermissionsPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = policy_header(settings.PERMISSIONS_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response
