import zoneinfo
from collections.abc import Callable
from contextlib import ExitStack

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .audit import audit_context


class UserPreferencesMiddleware:
    """Use the signed-in user's language and time zone (UTC when they have none).

    Organisation pages switch to the organisation's time zone in the access helper unless the
    user chose their own. Resetting here matters because the active time zone is per thread and
    outlives a request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timezone.deactivate()
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if user.language:
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language
            if user.time_zone:
                timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
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


class RequestSizeLimitMiddleware:
    """Refuse a request body larger than MAX_REQUEST_BYTES before anything reads it.

    Django's own limits leave file parts alone, and the CSRF check parses a multipart body
    before any view could look at its size: without this, a contributor could fill the disk
    with one upload that the evidence check then refuses."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BYTES:
            limit = settings.MAX_REQUEST_BYTES // (1024 * 1024)
            return HttpResponse(
                _("The request is too large: uploads can be up to %(mb)s MB.") % {"mb": limit},
                status=413,
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
