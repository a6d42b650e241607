"""Login (password, then the MFA code when the person has an app), password reset with a
throttle, and enrolling in and leaving two-factor authentication."""

import logging

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from ..audit import set_actor
from ..forms import QueuedPasswordResetForm
from ..models import User
from . import selectors, services, sessions, throttle, totp
from .forms import CodeForm, DisableForm, LoginCodeForm

log = logging.getLogger("kakehashi.security")


def _locked_message() -> str:
    # The same words whether or not the account exists: attempts are counted for any address.
    minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
    return _(
        "Too many failed attempts. Logging in is paused for this account or network; "
        "try again in %(minutes)s minutes."
    ) % {"minutes": minutes}


class LoginView(auth_views.LoginView):
    """Django's login with lockouts, and a second step for people who use an authenticator app.

    A locked account or address is refused before the password is even checked, so a right
    password during the lockout does not log in either. For someone with MFA, a right password
    only starts the second step (sessions.start_pending): the session is not logged in until
    the code is right."""

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        email = request.POST.get("username", "")
        if throttle.is_locked(throttle.LOGIN_ACCOUNT, email) or throttle.is_locked(
            throttle.LOGIN_IP, throttle.client_ip(request)
        ):
            return self._locked()
        return super().post(request, *args, **kwargs)

    def _locked(self) -> HttpResponse:
        form = self.get_form_class()(
            self.request, initial={"username": self.request.POST.get("username", "")}
        )
        context = self.get_context_data(form=form, locked=_locked_message())
        return self.render_to_response(context, status=429)

    def form_invalid(self, form) -> HttpResponse:
        email = form.data.get("username", "")
        ip = throttle.client_ip(self.request)
        account_locked = throttle.hit(throttle.LOGIN_ACCOUNT, email)
        ip_locked = throttle.hit(throttle.LOGIN_IP, ip)
        if account_locked:
            log.warning(
                # %r: the address is the visitor's input, and must not forge log lines.
                "login locked for the account %r after failed attempts (from %r)",
                email,
                ip,
            )
        if ip_locked:
            log.warning("login locked for the address %r after failed attempts", ip)
        if account_locked or ip_locked:
            return self._locked()
        return super().form_invalid(form)

    def form_valid(self, form) -> HttpResponse:
        user = form.get_user()
        next_url = self.get_success_url()
        if selectors.has_mfa(user):
            sessions.start_pending(
                self.request.session, user_id=user.pk, backend=user.backend, next_url=next_url
            )
            return redirect("login_code")
        throttle.clear(throttle.LOGIN_ACCOUNT, user.email)
        auth_login(self.request, user)
        if user.is_staff:
            return redirect("mfa_setup")
        return redirect(next_url)


@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """The second step of the login: a code from the app, or a recovery code."""
    state = sessions.pending(request.session)
    user = None
    if state is not None:
        user = User.objects.filter(pk=state["user"], is_active=True).first()
    if user is None:
        messages.info(request, _("Log in to continue."))
        return redirect("login")
    form = LoginCodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if throttle.is_locked(throttle.LOGIN_ACCOUNT, user.email):
            request.session.flush()
            messages.error(request, _locked_message())
            return redirect("login")
        set_actor(request.audit_context, user_id=user.pk)
        method = services.mfa_verify(user=user, code=form.cleaned_data["code"])
        if method is not None:
            del request.session[sessions.PENDING]
            throttle.clear(throttle.LOGIN_ACCOUNT, user.email)
            auth_login(request, user, backend=state["backend"])  # a new session key
            sessions.mark_verified(request.session)
            if method == "recovery":
                left = selectors.recovery_codes_left(user)
                log.info("recovery code used to log in by user %s (%s left)", user.pk, left)
                messages.warning(
                    request,
                    _(
                        "You logged in with a recovery code; %(left)s are left. "
                        "Make new ones on your profile page if you are running out."
                    )
                    % {"left": left},
                )
            return redirect(state["next"])
        failures = sessions.count_pending_failure(request.session)
        account_locked = throttle.hit(throttle.LOGIN_ACCOUNT, user.email)
        if account_locked or failures >= settings.MFA_FAILURE_LIMIT:
            log.warning(
                "MFA step abandoned for user %s after %s wrong codes (from %r)",
                user.pk,
                failures,
                throttle.client_ip(request),
            )
            request.session.flush()
            messages.error(request, _("Too many wrong codes. Log in again."))
            return redirect("login")
        form.add_error("code", _("That code is not right. Try the newest code from your app."))
    status = 400 if form.errors else 200
    return render(request, "registration/login_code.html", {"form": form}, status=status)


@method_decorator(sensitive_post_parameters(), name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, at most PASSWORD_RESET_LIMIT times per address and
    PASSWORD_RESET_IP_LIMIT per client address in a window, so the form cannot be used to flood
    someone's inbox."""

    form_class = QueuedPasswordResetForm

    def form_valid(self, form) -> HttpResponse:
        email = form.cleaned_data["email"]
        ip = throttle.client_ip(self.request)
        if throttle.is_locked(throttle.RESET_ACCOUNT, email) or throttle.is_locked(
            throttle.RESET_IP, ip
        ):
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            form.add_error(
                None,
                _("Too many reset requests. Try again in %(minutes)s minutes.")
                % {"minutes": minutes},
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        if throttle.hit(throttle.RESET_ACCOUNT, email):
            log.warning("password reset paused for the address %r (from %r)", email, ip)
        if throttle.hit(throttle.RESET_IP, ip):
            log.warning("password reset paused for the client address %r", ip)
        return super().form_valid(form)


def _qr_svg(uri: str) -> str:
    # segno writes the SVG on the server: no image request, no script, nothing from outside.
    svg = segno.make(uri, error="m").svg_inline(
        scale=4, border=4, dark="#000", light="#fff", svgclass="qr-code", title=_("QR code")
    )
    return mark_safe(svg)  # noqa: S308 (segno's own markup: data only in path shapes)  # nosec B703


def _recovery_codes_page(request: HttpRequest, codes: list[str]) -> HttpResponse:
    return render(request, "governance/security/recovery_codes.html", {"codes": codes})


@login_required
@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: scan the code (or type the secret), then prove it with a code.

    The secret waits in the session until then, so an abandoned enrolment leaves nothing behind."""
    user = request.user
    if selectors.has_mfa(user):
        messages.info(request, _("Two-factor authentication is already on."))
        return redirect("profile")
    secret = request.session.get(sessions.SETUP_SECRET)
    if not secret:
        secret = totp.new_secret()
        request.session[sessions.SETUP_SECRET] = secret
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.mfa_enrol(user=user, secret=secret, code=form.cleaned_data["code"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            del request.session[sessions.SETUP_SECRET]
            request.session.cycle_key()
            sessions.mark_verified(request.session)
            log.info("MFA turned on by user %s", user.pk)
            messages.success(request, _("Two-factor authentication is on."))
            return _recovery_codes_page(request, codes)
    uri = totp.provisioning_uri(secret, account=user.email, issuer=settings.MFA_ISSUER)
    context = {
        "form": form,
        "qr_svg": _qr_svg(uri),
        "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
        "required": user.is_staff,
    }
    return render(
        request, "governance/security/mfa_setup.html", context, status=400 if form.errors else 200
    )


@login_required
@sensitive_post_parameters("password", "code")
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_disable(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not selectors.has_mfa(user):
        return redirect("profile")
    form = DisableForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.mfa_disable(user=user, **form.cleaned_data)
        except ValidationError as exc:
            throttle.hit(throttle.LOGIN_ACCOUNT, user.email)
            form.add_error(None, exc)
        else:
            log.info("MFA turned off by user %s", user.pk)
            messages.success(request, _("Two-factor authentication is off."))
            return redirect("profile")
    return render(
        request,
        "governance/security/mfa_disable.html",
        {"form": form, "staff": user.is_staff},
        status=400 if form.errors else 200,
    )


@login_required
@sensitive_post_parameters("code")
@never_cache
@require_POST
def mfa_recovery_codes(request: HttpRequest) -> HttpResponse:
    """Replace the recovery codes (shown once), proved by a current app code."""
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            codes = services.recovery_codes_renew(user=request.user, code=form.cleaned_data["code"])
        except ValidationError:
            pass
        else:
            log.info("recovery codes renewed by user %s", request.user.pk)
            return _recovery_codes_page(request, codes)
    messages.error(request, _("Enter a current code from your authenticator app."))
    return redirect("profile")
