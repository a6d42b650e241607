from collections.abc import Callable
from contextlib import ExitStack

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from .audit import audit_context


class UserPreferencesMiddleware:
    """Use the signed-in user's language; start every request in UTC.

    Organisation pages switch to the organisation's time zone in the access helper. Resetting
    here matters because the active time zone is per thread and outlives a request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timezone.deactivate()
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        return self.get_response(request)


def audit_exempt(view: Callable) -> Callable:
    """Mark a view that never writes and must not touch the database first (health checks)."""
    view.audit_exempt = True  # type: ignore[attr-defined]
    return view


class AuditContextMiddleware:
    """Attribute the request's writes to the signed-in user in the audit trail."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with ExitStack() as stack:
            request._audit_stack = stack
            return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable, args, kwargs) -> None:
        if getattr(view_func, "audit_exempt", False):
            return None
        user = request.user
        request.audit_context = request._audit_stack.enter_context(
            audit_context(user_id=user.pk if user.is_authenticated else None, source="web")
        )
        return None
