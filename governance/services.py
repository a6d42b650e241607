"""Writes to organisations, memberships, invitations and users.

Each function is one workflow inside one transaction; the audit trail records every row it
touches (see governance.audit), with the actor set by the caller's audit context.
"""

from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from .audit import set_actor
from .models import AISystem, Invitation, Membership, Organisation, Role, User

INVITATION_SALT = "kakehashi.invitation"


def organisation_create(
    *, name: str, creator: User, time_zone: str = "UTC", **fields
) -> Organisation:
    """A new organisation with its creator as the first admin."""
    with transaction.atomic():
        org = Organisation(name=name, time_zone=time_zone, **fields)
        org.full_clean()
        org.save()
        Membership.objects.create(organisation=org, user=creator, role=Role.ADMIN)
    return org


def organisation_update(*, org: Organisation, **fields) -> Organisation:
    with transaction.atomic():
        for name, value in fields.items():
            setattr(org, name, value)
        org.full_clean()
        org.save(update_fields=list(fields))
    return org


def _lock_admins(org: Organisation) -> list[Membership]:
    return list(
        Membership.objects.for_org(org).filter(role=Role.ADMIN).select_for_update().order_by("id")
    )


def membership_change_role(*, actor: Membership, member: Membership, role: str) -> Membership:
    """Change a member's role. The organisation always keeps at least one admin."""
    if role not in Role.values:
        raise ValidationError({"role": _("Choose a valid role.")})
    with transaction.atomic():
        admins = _lock_admins(actor.organisation)
        member.refresh_from_db(fields=["role"])
        if member.role == Role.ADMIN and role != Role.ADMIN and len(admins) <= 1:
            raise ValidationError(_("The organisation must keep at least one admin."))
        member.role = role
        member.save(update_fields=["role"])
    return member


def membership_remove(*, actor: Membership, member: Membership) -> None:
    """Remove a member (an admin removing someone, or a member leaving)."""
    with transaction.atomic():
        admins = _lock_admins(actor.organisation)
        member.refresh_from_db(fields=["role"])
        if member.role == Role.ADMIN and len(admins) <= 1:
            raise ValidationError(_("The organisation must keep at least one admin."))
        _release_ownerships(member)
        member.delete()


def _release_ownerships(member: Membership) -> None:
    """Whoever leaves stops owning the organisation's systems and open work, so that nothing
    of it (actions, reminders, e-mails) follows them out."""
    org = member.organisation
    AISystem.objects.for_org(org).filter(owner_id=member.user_id).update(owner=None)
    # Looked up by name: remediation lives in the assessments app, which builds on this one.
    action_model = apps.get_model("assessments", "RemediationAction")
    action_model.objects.for_org(org).active().filter(owner_id=member.user_id).update(owner=None)


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(str(invitation.code), salt=INVITATION_SALT)


def invitation_url(invitation: Invitation) -> str:
    path = reverse("invitation_accept", kwargs={"token": invitation_token(invitation)})
    return f"{settings.BASE_URL}{path}"


def invitation_from_token(token: str) -> Invitation | None:
    """The invitation a link refers to, or None if the link was tampered with or is unknown."""
    try:
        code = signing.loads(token, salt=INVITATION_SALT)
    except signing.BadSignature:
        return None
    return Invitation.objects.select_related("organisation").filter(code=code).first()


def invitation_create(*, actor: Membership, email: str, role: str) -> Invitation:
    """Invite an address to the actor's organisation and e-mail the link after commit."""
    from .tasks import send_invitation

    org = actor.organisation
    email = User.objects.normalize_email(email).strip().lower()
    now = timezone.now()
    with transaction.atomic():
        if Membership.objects.for_org(org).filter(user__email__iexact=email).exists():
            raise ValidationError({"email": _("This person is already a member.")})
        open_invitations = Invitation.objects.for_org(org).filter(
            email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
        )
        if open_invitations.filter(expires_at__gt=now).exists():
            raise ValidationError({"email": _("An invitation to this address is still pending.")})
        # Expired invitations make way for the new one.
        open_invitations.update(revoked_at=now)
        invitation = Invitation(
            organisation=org,
            email=email,
            role=role,
            invited_by=actor.user,
            expires_at=now + timedelta(days=settings.INVITATION_TTL_DAYS),
        )
        invitation.full_clean()
        invitation.save()
        transaction.on_commit(lambda: send_invitation.delay(invitation.id))
    return invitation


def invitation_revoke(*, invitation: Invitation) -> None:
    with transaction.atomic():
        updated = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        if not updated:
            raise ValidationError(_("This invitation is no longer open."))


class InvitationError(Exception):
    """Why an invitation link cannot be used; the message is shown to the visitor."""


def invitation_check(invitation: Invitation | None, *, user: User | None = None) -> Invitation:
    if invitation is None:
        raise InvitationError(_("This invitation link is not valid."))
    if invitation.revoked_at:
        raise InvitationError(_("This invitation has been withdrawn."))
    if invitation.accepted_at:
        raise InvitationError(_("This invitation has already been used."))
    if invitation.is_expired:
        raise InvitationError(_("This invitation has expired. Ask for a new one."))
    if user is not None and user.email.lower() != invitation.email.lower():
        raise InvitationError(
            _("This invitation was sent to another e-mail address. Log in as %(email)s.")
            % {"email": invitation.email}
        )
    return invitation


def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Join the organisation. Single use: a second acceptance fails, even when concurrent."""
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        invitation_check(locked, user=user)
        membership, _created = Membership.objects.get_or_create(
            organisation_id=locked.organisation_id, user=user, defaults={"role": locked.role}
        )
        locked.accepted_at = timezone.now()
        locked.accepted_by = user
        locked.save(update_fields=["accepted_at", "accepted_by"])
    return membership


def invitation_sign_up(
    *, invitation: Invitation, full_name: str, password: str, audit_ctx: dict | None = None
) -> Membership:
    """Create the invited person's account and accept the invitation, all or nothing.

    With `audit_ctx`, the new account becomes the actor of everything after its own creation.
    """
    with transaction.atomic():
        user = User(email=invitation.email, full_name=full_name)
        user.set_password(password)
        user.full_clean()
        user.save()
        if audit_ctx is not None:
            set_actor(audit_ctx, user_id=user.pk)
        return invitation_accept(invitation=invitation, user=user)


def user_update_preferences(*, user: User, **fields) -> User:
    with transaction.atomic():
        for name, value in fields.items():
            setattr(user, name, value)
        user.full_clean(exclude=["password"])
        user.save(update_fields=list(fields))
    return user
