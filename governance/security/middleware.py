"""Session timeouts, and MFA for staff.

Both look only at the session and the already-loaded user, so an ordinary request costs no
extra query; the last-seen time is written at most once a minute."""

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from . import selectors, sessions

# How often the last-seen time is written back (seconds): the idle timeout is this coarse.
SEEN_RESOLUTION = 60
API_PREFIX = "/api/"
# What a staff member who still has to enrol may reach (URL names of the site's own views).
ENROLMENT_VIEWS = {"mfa_setup", "logout", "set_language", "healthz", "jsi18n"}


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _login_redirect(request: HttpRequest) -> HttpResponse:
    next_url = request.get_full_path() if request.method == "GET" else reverse("home")
    return redirect(f"{reverse('login')}?{urlencode({'next': next_url})}")


class SessionTimeoutMiddleware:
    """Log out a session idle for SESSION_IDLE_TIMEOUT or older than SESSION_ABSOLUTE_TIMEOUT.

    A page request is sent to the login page with a message; an API request carries on logged
    out, so the API answers 401 in problem details (or serves an API key it also carries)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if SESSION_KEY in session:
            now = time.time()
            login_at = session.get(sessions.LOGIN_AT)
            seen_at = session.get(sessions.SEEN_AT)
            if login_at is None or seen_at is None:
                # A session from before these stamps: its age counts from now.
                sessions.stamp_login(session, now)
            elif (
                now - seen_at > settings.SESSION_IDLE_TIMEOUT
                or now - login_at > settings.SESSION_ABSOLUTE_TIMEOUT
            ):
                logout(request)
                if not _is_api(request):
                    messages.info(request, _("Your session has ended. Log in again to continue."))
                    return _login_redirect(request)
            elif now - seen_at >= SEEN_RESOLUTION:
                session[sessions.SEEN_AT] = now
        return self.get_response(request)


class MfaRequiredMiddleware:
    """Staff must use MFA: a staff session that has not passed it reaches only the enrolment
    page (and logout). The admin site is covered as any other page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable, args, kwargs):
        if SESSION_KEY not in request.session or sessions.is_verified(request.session):
            return None
        user = request.user
        if not (user.is_authenticated and user.is_staff):
            return None
        match = request.resolver_match
        if match is not None and not match.namespace and match.url_name in ENROLMENT_VIEWS:
            return None
        if _is_api(request):
            detail = _("Staff accounts must set up two-factor authentication first.")
            from ..api.conventions import plain_problem  # DRF loads late; keep startup light

            return plain_problem(request, 403, "mfa_required", detail)
        if selectors.has_mfa(user):
            # A session that predates the app (or skipped the code): log in again, with the code.
            logout(request)
            messages.info(request, _("Log in again with a code from your authenticator app."))
            return _login_redirect(request)
        messages.info(
            request, _("Staff accounts need two-factor authentication. Set it up to continue.")
        )
        return redirect("mfa_setup")
