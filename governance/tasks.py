"""Background work for organisations and accounts. Tasks take ids and re-read their rows."""

import logging

from celery import shared_task
from django.contrib.sessions.backends.db import SessionStore
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .audit import audit_context
from .models import Invitation

log = logging.getLogger(__name__)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_backoff_max=600, max_retries=8)
def send_invitation(invitation_id: int) -> str:
    """E-mail an invitation link, at least once: a crash between sending and recording it may
    send it twice. A withdrawn, used or expired invitation is skipped."""
    from .services import invitation_url

    invitation = (
        Invitation.objects.select_related("organisation", "invited_by")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None or not invitation.is_pending:
        return "skipped"
    if invitation.sent_at is not None:
        return "already sent"
    with translation.override(invitation.organisation.default_language):
        context = {"invitation": invitation, "url": invitation_url(invitation)}
        subject = render_to_string("governance/email/invitation_subject.txt", context).strip()
        body = render_to_string("governance/email/invitation_body.txt", context)
    send_mail(subject, body, None, [invitation.email])
    with audit_context(source="task:send_invitation"), transaction.atomic():
        Invitation.objects.filter(pk=invitation.pk, sent_at__isnull=True).update(
            sent_at=timezone.now()
        )
    log.info("invitation %s sent", invitation.code)
    return "sent"


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_password_reset(
    user_id: int, *, email: str, domain: str, site_name: str, protocol: str, language: str
) -> str:
    """Send a password-reset link, made here rather than in the request so that the one-time
    token is never a task argument. A link made later is as good: the token is valid until the
    password or the last login changes, or PASSWORD_RESET_TIMEOUT passes."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.has_usable_password():
        return "skipped"
    context = {
        "email": email,
        "domain": domain,
        "site_name": site_name,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "user": user,
        "token": default_token_generator.make_token(user),
        "protocol": protocol,
    }
    with translation.override(language):
        subject = "".join(
            render_to_string("registration/password_reset_subject.txt", context).splitlines()
        )
        body = render_to_string("registration/password_reset_email.html", context)
    send_mail(subject, body, None, [email])
    return "sent"


@shared_task
def clear_expired_sessions() -> None:
    SessionStore.clear_expired()


@shared_task
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Key responses older than a day."""
    from .apikeys import purge_idempotency_records

    with audit_context(source="task:purge_idempotency_keys"):
        return purge_idempotency_records()
