import zoneinfo
from collections.abc import Callable
from contextlib import ExitStack

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from . import rls
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
            detail = _("The request is too large: uploads can be up to %(mb)s MB.") % {"mb": limit}
            if request.path.startswith("/api/"):  # the API answers in problem details
                from .api.conventions import too_large

                return too_large(request, detail)
            return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class TenantScopeMiddleware:
    """Tell the database whose rows this request may see (governance/rls.py).

    Inside an organisation's URL that is the organisation, if the signed-in user is a member of
    it; elsewhere only the user's own memberships and notifications; staff in the admin site see
    everything. API keys switch to their organisation when they authenticate
    (governance/api/auth.py). The connection goes back to the process's scope when the response
    is done; a streamed export gets the request's scope back while it is sent.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        before = rls.current()
        try:
            response = self.get_response(request)
        except BaseException:
            rls.restore(before)
            raise
        if response.streaming:
            # The rows of a streamed export are read while the server sends it, after this
            # returns: the request's scope comes back for exactly that long.
            response.streaming_content = _streamed(
                response.streaming_content, rls.current(), before
            )
        rls.restore(before)
        return response

    def process_view(self, request: HttpRequest, view_func: Callable, args, kwargs) -> None:
        if getattr(view_func, "audit_exempt", False):
            return None
        user = request.user
        match = request.resolver_match
        if not user.is_authenticated:
            rls.enter(rls.NOTHING)
        elif user.is_staff and match is not None and match.app_name == "admin":
            rls.enter(rls.EVERYTHING)
        elif "org_code" in kwargs:
            rls.enter_member(user.pk, kwargs["org_code"])
        else:
            rls.enter(rls.Scope(user_id=user.pk))
        return None


def _streamed(content, scope: rls.Scope, after: rls.Scope):
    rls.enter(scope)
    try:
        yield from content
    finally:
        rls.restore(after)
