"""Creating notifications: who is told what, once.

Each notification has a key unique per recipient ("assigned:<action>:<owner>:<n>",
"due_soon:<action>:<due>:7"); creating one that exists does nothing. That, not any memory in
beat or the workers, is what keeps a reminder from going out twice. E-mail follows the
recipient's preference: at once (a task sends it after commit), in the daily digest, or not.
"""

from collections.abc import Iterable, Sequence

from django.db import transaction

from governance.models import CatalogueRelease, Membership, Organisation, Role, User

from .models import (
    DEFAULT_EMAIL_CHOICES,
    ActionComment,
    Assessment,
    EmailChoice,
    EmailState,
    Notification,
    NotificationKind,
    NotificationPreference,
    RemediationAction,
)

_EMAIL_STATE = {
    EmailChoice.OFF: EmailState.NONE,
    EmailChoice.IMMEDIATE: EmailState.PENDING,
    EmailChoice.DIGEST: EmailState.DIGEST,
}


def preferences(user_ids: Iterable[int], kind: str) -> dict[int, tuple[bool, str]]:
    """(in the app, e-mail choice) per user for one kind, defaults filled in."""
    user_ids = list(user_ids)
    chosen = {
        p.user_id: (p.in_app, p.email)
        for p in NotificationPreference.objects.filter(user_id__in=user_ids, kind=kind)
    }
    default = (True, DEFAULT_EMAIL_CHOICES[kind])
    return {pk: chosen.get(pk, default) for pk in user_ids}


def create(
    *,
    org: Organisation,
    kind: str,
    recipients: Sequence[User] | Sequence[int],
    key: str,
    actor: User | None = None,
    action: RemediationAction | None = None,
    assessment: Assessment | None = None,
    release: CatalogueRelease | None = None,
    data: dict | None = None,
) -> int:
    """Notify each recipient once per key; returns how many notifications are new."""
    ids = sorted({r if isinstance(r, int) else r.pk for r in recipients})
    if not ids:
        return 0
    active = set(User.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))
    prefs = preferences(active, kind)
    rows = []
    for user_id in ids:
        if user_id not in active:
            continue
        in_app, email = prefs[user_id]
        if not in_app and email == EmailChoice.OFF:
            continue
        rows.append(
            Notification(
                organisation=org,
                recipient_id=user_id,
                kind=kind,
                key=key,
                actor=actor,
                action=action,
                assessment=assessment,
                release=release,
                data=data or {},
                in_app=in_app,
                email_state=_EMAIL_STATE[email],
            )
        )
    if not rows:
        return 0
    before = Notification.objects.filter(key=key, recipient_id__in=ids).count()
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    created = Notification.objects.filter(key=key, recipient_id__in=ids).count() - before
    if any(row.email_state == EmailState.PENDING for row in rows):
        _send_soon()
    return created


def _send_soon() -> None:
    from .tasks import send_notification_emails

    transaction.on_commit(lambda: send_notification_emails.delay())


# --- The events --------------------------------------------------------------------------------


def assigned(*, action: RemediationAction, actor: User | None) -> int:
    # The key counts assignments, so being given the same action again later notifies again.
    n = Notification.objects.filter(
        kind=NotificationKind.ASSIGNED, action=action, recipient_id=action.owner_id
    ).count()
    return create(
        org=action.organisation,
        kind=NotificationKind.ASSIGNED,
        recipients=[action.owner_id],
        key=f"assigned:{action.code}:{action.owner_id}:{n + 1}",
        actor=actor,
        action=action,
        data={"title": action.title},
    )


def mentioned(*, comment: ActionComment, recipients: Sequence[User]) -> int:
    return create(
        org=comment.organisation,
        kind=NotificationKind.MENTIONED,
        recipients=recipients,
        key=f"mentioned:{comment.code}",
        actor=comment.author,
        action=comment.action,
        data={"title": comment.action.title, "excerpt": comment.body[:280]},
    )


def assessment_completed(*, assessment: Assessment, actions_opened: int) -> int:
    """Tell whoever asked for the run and the system's owner."""
    system = assessment.system
    recipients = {pk for pk in (assessment.requested_by_id, system.owner_id) if pk}
    return create(
        org=assessment.organisation,
        kind=NotificationKind.ASSESSMENT_COMPLETED,
        recipients=sorted(recipients),
        key=f"assessment_completed:{assessment.code}",
        assessment=assessment,
        data={
            "system": system.name,
            "eu_tier": assessment.eu_tier,
            "applicable": (assessment.summary or {}).get("applicable", 0),
            "actions_opened": actions_opened,
        },
    )


def release_published(*, release: CatalogueRelease, systems_by_org: dict[int, int]) -> int:
    """Tell the compliance officers and admins of every organisation, with how many of their
    systems the release affects."""
    created = 0
    memberships = (
        Membership.objects.filter(role__in=(Role.ADMIN, Role.COMPLIANCE_OFFICER))
        .select_related("organisation")
        .order_by("organisation_id")
    )
    by_org: dict[int, list[int]] = {}
    orgs: dict[int, Organisation] = {}
    for membership in memberships:
        by_org.setdefault(membership.organisation_id, []).append(membership.user_id)
        orgs[membership.organisation_id] = membership.organisation
    for org_id, users in by_org.items():
        created += create(
            org=orgs[org_id],
            kind=NotificationKind.RELEASE_PUBLISHED,
            recipients=users,
            key=f"release_published:{release.code}:{org_id}",
            release=release,
            data={"release": release.code, "systems_affected": systems_by_org.get(org_id, 0)},
        )
    return created


# --- Delivery (beat tasks) ---------------------------------------------------------------------


def send_reminders(*, now=None) -> dict[str, int]:
    raise NotImplementedError


def send_pending_emails() -> int:
    raise NotImplementedError


def send_digests(*, now=None) -> int:
    raise NotImplementedError
