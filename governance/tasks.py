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
def send_email(subject: str, body: str, to: list[str], html_body: str | None = None) -> None:
    """Send an already rendered e-mail outside the request (password reset)."""
    from django.core.mail import EmailMultiAlternatives

    message = EmailMultiAlternatives(subject, body, None, to)
    if html_body:
        message.attach_alternative(html_body, "text/html")
    message.send()


@shared_task
def clear_expired_sessions() -> None:
    SessionStore.clear_expired()


@shared_task
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Key responses older than a day."""
    from .apikeys import purge_idempotency_records

    with audit_context(source="task:purge_idempotency_keys"):
        return purge_idempotency_records()
