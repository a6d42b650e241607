"""Notifications: who is told what, once, and how it reaches them.

Each notification has a key unique per recipient ("assigned:<action>:<owner>:<n>",
"due_soon:<action>:<due>:7"); creating one that exists does nothing. That, not any memory in
beat or the workers, is what keeps a reminder from going out twice: two beat runs, a restarted
beat or two workers racing all insert the same keys, and the database keeps one row of each.

E-mail follows the recipient's preference: at once (a task sends it after commit and beat
sweeps what is left every minute), in the daily digest, or not at all. Sending is at most once:
a notification is claimed (`sending`, committed) before its e-mail goes out, so a worker killed
in between leaves it in `sending` rather than sending it again; after an hour it is marked
`failed` so that it shows.
"""

import datetime as dt
import functools
import itertools
import logging
import time
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence

from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from governance.models import CatalogueRelease, EuTier, Membership, Organisation, Role, User

from .models import (
    DEFAULT_EMAIL_CHOICES,
    ActionComment,
    ActionStatus,
    Assessment,
    DigestRun,
    EmailChoice,
    EmailState,
    Notification,
    NotificationKind,
    NotificationPreference,
    RemediationAction,
)

log = logging.getLogger(__name__)

_EMAIL_STATE = {
    EmailChoice.OFF: EmailState.NONE,
    EmailChoice.IMMEDIATE: EmailState.PENDING,
    EmailChoice.DIGEST: EmailState.DIGEST,
}

# Days before the due date at which the owner is reminded.
REMINDER_DAYS = (14, 7, 1)
# Reminded: work the owner still has to do. A `done` action waits for someone else to verify
# it, so its owner is not chased (it still counts as overdue on the dashboard).
REMINDED_STATUSES = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS, ActionStatus.BLOCKED)
# A notification claimed for sending this long ago was lost with its worker.
STUCK_AFTER = dt.timedelta(hours=1)
EMAIL_BATCH = 50
# A run stops claiming new work after this long (beat starts another soon); it stays well
# inside the task's soft time limit so that nothing claimed is cut off half sent.
SEND_BUDGET_SECONDS = 120
# A digest lists at most this many notifications; the rest are in the app.
DIGEST_LIMIT = 200

Entry = tuple[int, str, dict]  # (recipient id, key, other fields of the notification)


# --- Preferences -------------------------------------------------------------------------------


def preferences(user_ids: Iterable[int], kind: str) -> dict[int, tuple[bool, str]]:
    """(in the app, e-mail choice) per user for one kind, defaults filled in."""
    user_ids = list(user_ids)
    chosen = {
        p.user_id: (p.in_app, p.email)
        for p in NotificationPreference.objects.filter(user_id__in=user_ids, kind=kind)
    }
    default = (True, DEFAULT_EMAIL_CHOICES[kind])
    return {pk: chosen.get(pk, default) for pk in user_ids}


def preferences_for(user: User) -> dict[str, tuple[bool, str]]:
    """(in the app, e-mail choice) for every kind, for one user."""
    chosen = {p.kind: (p.in_app, p.email) for p in NotificationPreference.objects.filter(user=user)}
    return {
        kind: chosen.get(kind, (True, DEFAULT_EMAIL_CHOICES[kind]))
        for kind in NotificationKind.values
    }


def preferences_save(*, user: User, choices: Mapping[str, tuple[bool, str]]) -> None:
    """Record how `user` wants each kind. Turning e-mail off also drops the e-mails of that
    kind still waiting to go out (in the digest or at once)."""
    errors = {}
    for kind, (_in_app, email) in choices.items():
        if kind not in NotificationKind.values:
            errors["__all__"] = _("Unknown kind of notification.")
        elif email not in EmailChoice.values:
            errors[f"{kind}_email"] = _("Choose one of the e-mail options.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        NotificationPreference.objects.bulk_create(
            [
                NotificationPreference(user=user, kind=kind, in_app=bool(in_app), email=email)
                for kind, (in_app, email) in choices.items()
            ],
            update_conflicts=True,
            unique_fields=["user", "kind"],
            update_fields=["in_app", "email"],
        )
        off = [kind for kind, (_in_app, email) in choices.items() if email == EmailChoice.OFF]
        if off:
            Notification.objects.filter(
                recipient=user,
                kind__in=off,
                email_state__in=(EmailState.PENDING, EmailState.DIGEST),
            ).update(email_state=EmailState.NONE)


# --- Creating ----------------------------------------------------------------------------------


def _insert(org: Organisation, kind: str, entries: Sequence[Entry]) -> tuple[int, bool]:
    """Insert one notification per entry in one statement, skipping inactive recipients,
    recipients who want this kind neither in the app nor by e-mail, and keys a recipient
    already has. Returns (how many are new, whether any wants an e-mail at once)."""
    recipient_ids = {recipient for recipient, _key, _fields in entries}
    if not recipient_ids:
        return 0, False
    active = set(
        User.objects.filter(
            pk__in=recipient_ids, is_active=True, memberships__organisation=org
        ).values_list("pk", flat=True)
    )
    prefs = preferences(active, kind)
    rows = []
    for recipient, key, fields in entries:
        if recipient not in active:
            continue
        in_app, email = prefs[recipient]
        if not in_app and email == EmailChoice.OFF:
            continue
        rows.append(
            Notification(
                organisation=org,
                recipient_id=recipient,
                kind=kind,
                key=key,
                in_app=in_app,
                email_state=_EMAIL_STATE[email],
                **fields,
            )
        )
    if not rows:
        return 0, False
    # Counted before and after: with ignore_conflicts PostgreSQL does not say which rows it
    # skipped. Under a race with another worker the count may be off; the rows never are.
    theirs = Notification.objects.filter(
        recipient_id__in={row.recipient_id for row in rows}, key__in={row.key for row in rows}
    )
    before = theirs.count()
    Notification.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    created = theirs.count() - before
    return created, created > 0 and any(r.email_state == EmailState.PENDING for r in rows)


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
    fields = {
        "actor": actor,
        "action": action,
        "assessment": assessment,
        "release": release,
        "data": data or {},
    }
    created, pending = _insert(org, kind, [(pk, key, fields) for pk in ids])
    if pending:
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


def _completed_entry(assessment: Assessment, actions_opened: int) -> list[Entry]:
    system = assessment.system
    key = f"assessment_completed:{assessment.code}"
    fields = {
        "actor": None,
        "action": None,
        "assessment": assessment,
        "release": None,
        "data": {
            "system": system.name,
            "eu_tier": assessment.eu_tier,
            "applicable": (assessment.summary or {}).get("applicable", 0),
            "actions_opened": actions_opened,
        },
    }
    recipients = {pk for pk in (assessment.requested_by_id, system.owner_id) if pk}
    return [(pk, key, fields) for pk in sorted(recipients)]


def assessment_completed(*, assessment: Assessment, actions_opened: int) -> int:
    """Tell whoever asked for the run and the system's owner."""
    return assessments_completed(
        assessments=[assessment], opened={assessment.pk: [None] * actions_opened}
    )


def assessments_completed(*, assessments: Sequence[Assessment], opened: dict[int, list]) -> int:
    """`assessment_completed` for many runs: one insert per organisation."""
    by_org: dict[int, list[Assessment]] = {}
    for assessment in assessments:
        by_org.setdefault(assessment.organisation_id, []).append(assessment)
    created = pending = 0
    for runs in by_org.values():
        entries = [entry for a in runs for entry in _completed_entry(a, len(opened.get(a.pk, ())))]
        kind = NotificationKind.ASSESSMENT_COMPLETED
        n, wants_email = _insert(runs[0].organisation, kind, entries)
        created += n
        pending = pending or wants_email
    if pending:
        _send_soon()
    return created


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


# --- Reading -----------------------------------------------------------------------------------


def inbox(org: Organisation, user: User) -> QuerySet[Notification]:
    """The notifications `user` sees in the app within `org`, newest first."""
    return (
        Notification.objects.for_org(org)
        .filter(recipient=user, in_app=True)
        .order_by("-created_at", "-id")
    )


def unread_count(user: User, org_code: object = None) -> int:
    """Unread notifications of `user`: in one organisation, or in all of them."""
    unread = Notification.objects.filter(recipient=user, in_app=True, read_at__isnull=True)
    if org_code is not None:
        unread = unread.filter(organisation__code=org_code)
    return unread.count()


def mark_read(*, org: Organisation, user: User, notification: Notification | None = None) -> int:
    """Mark one notification, or all of `user`'s in `org`, as read. Returns how many changed."""
    unread = inbox(org, user).filter(read_at__isnull=True)
    if notification is not None:
        unread = unread.filter(pk=notification.pk)
    return unread.update(read_at=timezone.now())


def _day(value: str | dt.date | None) -> dt.date | None:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return value


def _date(value: dt.date | None) -> str:
    return formats.date_format(value, "DATE_FORMAT") if value else ""


def summary(notification: Notification) -> str:
    """One line saying what happened, in the active language (needs `actor` loaded)."""
    n = notification
    data = n.data or {}
    actor = n.actor.get_full_name() if n.actor else ""
    title = data.get("title", "")
    if n.kind == NotificationKind.ASSIGNED:
        if actor:
            return _("%(actor)s assigned “%(title)s” to you.") % {"actor": actor, "title": title}
        return _("“%(title)s” is assigned to you.") % {"title": title}
    if n.kind == NotificationKind.MENTIONED:
        return _("%(actor)s mentioned you on “%(title)s”.") % {"actor": actor, "title": title}
    if n.kind == NotificationKind.DUE_SOON:
        days = data.get("days", 0)
        return ngettext(
            "“%(title)s” is due in %(days)s day, on %(due)s.",
            "“%(title)s” is due in %(days)s days, on %(due)s.",
            days,
        ) % {"title": title, "days": days, "due": _date(_day(data.get("due")))}
    if n.kind == NotificationKind.OVERDUE:
        return _("“%(title)s” is overdue: it was due on %(due)s.") % {
            "title": title,
            "due": _date(_day(data.get("due"))),
        }
    if n.kind == NotificationKind.ASSESSMENT_COMPLETED:
        return _("The assessment of %(system)s is complete.") % {"system": data.get("system", "")}
    if n.kind == NotificationKind.RELEASE_PUBLISHED:
        count = data.get("systems_affected", 0)
        return ngettext(
            "Catalogue release %(release)s is published; it changes %(n)s of your systems.",
            "Catalogue release %(release)s is published; it changes %(n)s of your systems.",
            count,
        ) % {"release": data.get("release", ""), "n": count}
    return n.get_kind_display()


def target_path(notification: Notification, org_code: object) -> str | None:
    """Where the notification leads: its action, assessment or release impact."""
    n = notification
    if n.action_id:
        return reverse("action_detail", kwargs={"org_code": org_code, "action_code": n.action.code})
    if n.assessment_id:
        return reverse(
            "assessment_detail",
            kwargs={"org_code": org_code, "assessment_code": n.assessment.code},
        )
    if n.release_id:
        return reverse(
            "release_impact", kwargs={"org_code": org_code, "release_code": n.release.code}
        )
    return None


# --- Reminders (beat) --------------------------------------------------------------------------


def send_reminders(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Remind owners of active actions (open, in progress, blocked) that are due soon or late,
    judged by each organisation's own date, and refresh derived priorities (they depend on how
    near the date is). A few queries per organisation, whatever the number of actions.

    Due soon: the owner hears 14, 7 and 1 day(s) before the due date, once each
    (`due_soon:<action>:<due>:<threshold>`). A reminder whose day was missed (beat was down)
    goes out on the next run while still inside its window (8-14, 2-7, 1 day(s) left): one
    catch-up reminder for the nearest threshold, not one per threshold missed. A window that
    closed before the action existed is not caught up: the assignment already said the date.
    Nothing is sent on the due date itself; the next day the action is overdue.

    Overdue: once per action and due date (`overdue:<action>:<due>`); moving the date and
    missing it again reminds again.

    Keys make this safe to run any number of times, concurrently too. New e-mails wait for
    the `send_notification_emails` beat (every minute) rather than a task per organisation.
    """
    from . import actions  # actions imports this module
    from .integrations import events

    now = now or timezone.now()
    counts = {"organisations": 0, "due_soon": 0, "overdue": 0, "priorities": 0}
    for org in Organisation.objects.order_by("pk"):
        today = actions.today_for(org, now)
        with transaction.atomic():
            counts["priorities"] += actions.refresh_priorities(org=org, today=today)
            soon, late = _reminders(org, today)
            counts["due_soon"] += _insert(org, NotificationKind.DUE_SOON, soon)[0]
            counts["overdue"] += actions_overdue(org=org, late=late, today=today)
            events.actions_overdue(org, today)
        counts["organisations"] += 1
    return counts


def _reminders(org: Organisation, today: dt.date) -> tuple[list[Entry], list[Entry]]:
    """(due-soon entries, overdue entries) for the owners of `org`'s active actions."""
    tz = zoneinfo.ZoneInfo(org.time_zone)
    thresholds = sorted(REMINDER_DAYS)
    rows = (
        RemediationAction.objects.for_org(org)
        .filter(
            status__in=REMINDED_STATUSES,
            due_date__lte=today + dt.timedelta(days=thresholds[-1]),
            owner__is_active=True,
            owner__memberships__organisation=org,
            system__archived_at__isnull=True,  # as `actions.overdue_q`
        )
        .values_list("pk", "code", "title", "due_date", "owner_id", "created_at", "system__name")
    )
    soon: list[Entry] = []
    late: list[Entry] = []
    for pk, code, title, due, owner_id, created_at, system in rows:
        days = (due - today).days
        data = {"title": title, "system": system, "due": due.isoformat()}
        if days < 0:
            key = f"overdue:{code}:{due.isoformat()}"
            late.append((owner_id, key, {"action_id": pk, "data": {**data, "days_late": -days}}))
            continue
        if days == 0:
            continue
        threshold = next(t for t in thresholds if days <= t)
        if timezone.localtime(created_at, tz).date() > due - dt.timedelta(days=threshold):
            continue
        key = f"due_soon:{code}:{due.isoformat()}:{threshold}"
        soon.append((owner_id, key, {"action_id": pk, "data": {**data, "days": days}}))
    return soon, late


def actions_overdue(*, org: Organisation, late: Sequence[Entry], today: dt.date) -> int:
    """The moment beat finds actions of `org` overdue (one entry per action and due date,
    keyed `overdue:<action>:<due>`). Tells each owner once (the `action.overdue` webhook goes
    out from `events.actions_overdue`, keyed the same way). Returns how many notifications are
    new."""
    return _insert(org, NotificationKind.OVERDUE, late)[0]


# --- E-mail (beat and after commit) ------------------------------------------------------------


def _absolute(path: str) -> str:
    return f"{settings.BASE_URL}{path}"


def _claim(waiting: QuerySet[Notification], limit: int | None) -> list[Notification]:
    """Take notifications waiting for e-mail for this worker: locked rows another worker is
    claiming are skipped, and the claim (`sending`) is committed before anything is sent.
    While a row is `sending`, `emailed_at` holds when it was claimed (see `_fail_stuck`)."""
    with transaction.atomic():
        locked = waiting.select_for_update(skip_locked=True).order_by("created_at", "pk")
        ids = list(locked.values_list("pk", flat=True)[:limit])
        if ids:
            Notification.objects.filter(pk__in=ids).update(
                email_state=EmailState.SENDING, emailed_at=timezone.now()
            )
    claimed = list(
        Notification.objects.filter(pk__in=ids)
        .select_related(
            "organisation", "recipient", "actor", "action__system", "assessment", "release"
        )
        .order_by("created_at", "pk")
    )
    # Someone deactivated, or no longer a member, is not e-mailed about the organisation.
    members = set(
        Membership.objects.filter(
            user_id__in={n.recipient_id for n in claimed},
            organisation_id__in={n.organisation_id for n in claimed},
        ).values_list("user_id", "organisation_id")
    )
    gone = {
        n.pk
        for n in claimed
        if not n.recipient.is_active or (n.recipient_id, n.organisation_id) not in members
    }
    if gone:
        Notification.objects.filter(pk__in=gone).update(email_state=EmailState.NONE)
    return [n for n in claimed if n.pk not in gone]


def _fail_stuck(now: dt.datetime) -> int:
    """Notifications a dead worker left in `sending`: maybe sent, maybe not. They are not sent
    again (never twice beats maybe lost); marking them failed makes them visible."""
    stuck = Notification.objects.filter(
        email_state=EmailState.SENDING, emailed_at__lt=now - STUCK_AFTER
    ).update(email_state=EmailState.FAILED)
    if stuck:
        log.warning("%s notification e-mails were left unsent by a lost worker", stuck)
    return stuck


def _deliver(
    build: Callable[[], mail.EmailMultiAlternatives],
    ids: list[int],
    connection,
    label: str,
) -> bool:
    """Render and send one e-mail for the claimed notifications `ids` and record the outcome.
    Any error fails these notifications only."""
    try:
        message = build()
        message.connection = connection
        connection.open()  # kept open across the batch; send() leaves it to us then
        if not message.send():
            raise OSError("the message was not accepted")
    except Exception:
        log.exception("notification e-mail %s could not be sent", label)
        connection.close()  # a broken SMTP session must not fail the next message
        Notification.objects.filter(pk__in=ids, email_state=EmailState.SENDING).update(
            email_state=EmailState.FAILED
        )
        return False
    Notification.objects.filter(pk__in=ids, email_state=EmailState.SENDING).update(
        email_state=EmailState.SENT, emailed_at=timezone.now()
    )
    return True


def send_pending_emails(*, now: dt.datetime | None = None) -> int:
    """E-mail the notifications waiting to go out at once, each in its recipient's language.
    Returns how many were sent. Safe to run concurrently: each worker claims its own batch."""
    started = time.monotonic()
    _fail_stuck(now or timezone.now())
    waiting = Notification.objects.filter(email_state=EmailState.PENDING)
    sent = 0
    while time.monotonic() - started < SEND_BUDGET_SECONDS:
        batch = _claim(waiting, EMAIL_BATCH)
        if not batch:
            break
        connection = mail.get_connection()
        try:
            for n in batch:
                build = functools.partial(_message, n)
                sent += _deliver(build, [n.pk], connection, str(n.code))
        finally:
            connection.close()
    return sent


def _language(user: User, org: Organisation | None) -> str:
    return user.language or (org.default_language if org else "") or settings.LANGUAGE_CODE


def _facts(n: Notification) -> dict:
    """What an e-mail says about one notification (dates as dates, labels translated)."""
    data = n.data or {}
    facts = {
        **data,
        "kind": n.kind,
        "summary": summary(n),
        "actor": n.actor.get_full_name() if n.actor else "",
        "due": _day(data.get("due")),
    }
    if n.action_id:
        facts.setdefault("title", n.action.title)
        facts["system"] = data.get("system") or n.action.system.name
        facts["due"] = facts["due"] or n.action.due_date
    if n.kind == NotificationKind.ASSESSMENT_COMPLETED:
        tier = data.get("eu_tier", "")
        facts["eu_tier"] = EuTier(tier).label if tier in EuTier.values else ""
    path = target_path(n, n.organisation.code)
    facts["url"] = _absolute(path) if path else ""
    return facts


def _subject(n: Notification) -> str:
    data = n.data or {}
    values = {
        "title": data.get("title") or (n.action.title if n.action_id else ""),
        "actor": n.actor.get_full_name() if n.actor else "",
        "days": data.get("days", 0),
        "system": data.get("system", ""),
        "release": data.get("release", ""),
    }
    subjects = {
        NotificationKind.ASSIGNED: _("Assigned to you: %(title)s"),
        NotificationKind.MENTIONED: _("%(actor)s mentioned you: %(title)s"),
        NotificationKind.DUE_SOON: ngettext(
            "Due in %(days)s day: %(title)s", "Due in %(days)s days: %(title)s", values["days"]
        ),
        NotificationKind.OVERDUE: _("Overdue: %(title)s"),
        NotificationKind.ASSESSMENT_COMPLETED: _("Assessment completed: %(system)s"),
        NotificationKind.RELEASE_PUBLISHED: _("Catalogue release %(release)s is published"),
    }
    subject = f"[{n.organisation.name}] {subjects[n.kind] % values}"
    return " ".join(subject.split())  # a line break in a title must not break the header


def _message(n: Notification) -> mail.EmailMultiAlternatives:
    org = n.organisation
    with (
        translation.override(_language(n.recipient, org)),
        timezone.override(zoneinfo.ZoneInfo(n.recipient.time_zone_for(org))),
    ):
        context = {
            "recipient": n.recipient,
            "org": org,
            "item": _facts(n),
            "list_url": _absolute(reverse("notification_list", kwargs={"org_code": org.code})),
            "preferences_url": _absolute(reverse("notification_preferences")),
        }
        subject = _subject(n)
        text = render_to_string("assessments/email/notification.txt", context)
        html = render_to_string("assessments/email/notification.html", context)
    message = mail.EmailMultiAlternatives(subject, text, None, [n.recipient.email])
    message.attach_alternative(html, "text/html")
    return message


# --- Digests (beat) ----------------------------------------------------------------------------


def send_digests(*, now: dt.datetime | None = None) -> int:
    """Once a day per user, from DIGEST_HOUR_UTC on: one e-mail bundling the notifications
    waiting for the digest, grouped by organisation and kind. Returns how many were sent.

    The day's `DigestRun` row is created first; only the worker that creates it sends, so two
    workers (or two beat runs) never send a user two digests on one day. Notifications that
    arrive after the day's digest wait for the next one.
    """
    now = (now or timezone.now()).astimezone(dt.UTC)
    if now.hour < settings.DIGEST_HOUR_UTC:
        return 0
    started = time.monotonic()
    waiting = Notification.objects.filter(email_state=EmailState.DIGEST)
    users = list(waiting.order_by("recipient_id").values_list("recipient_id", flat=True).distinct())
    sent = 0
    connection = mail.get_connection()
    try:
        for user_id in users:
            if time.monotonic() - started >= SEND_BUDGET_SECONDS:
                break  # the rest have no run today yet: the next beat picks them up
            _run, created = DigestRun.objects.get_or_create(user_id=user_id, day=now.date())
            if not created:
                continue
            notes = _claim(waiting.filter(recipient_id=user_id), None)
            if not notes:
                continue
            build = functools.partial(_digest_message, notes)
            if _deliver(build, [n.pk for n in notes], connection, f"digest {user_id}"):
                DigestRun.objects.filter(user_id=user_id, day=now.date()).update(
                    sent_at=timezone.now()
                )
                sent += 1
    finally:
        connection.close()
    return sent


def _digest_message(notes: list[Notification]) -> mail.EmailMultiAlternatives:
    user = notes[0].recipient
    newest = sorted(notes, key=lambda n: (n.created_at, n.pk), reverse=True)
    shown = newest[:DIGEST_LIMIT]
    kind_order = {kind: i for i, kind in enumerate(NotificationKind.values)}
    shown.sort(key=lambda n: (n.organisation.name, n.organisation_id, kind_order[n.kind]))
    zone = zoneinfo.ZoneInfo(user.time_zone_for(shown[0].organisation))
    with translation.override(_language(user, shown[0].organisation)), timezone.override(zone):
        groups = []
        for org, in_org in itertools.groupby(shown, key=lambda n: n.organisation):
            kinds = [
                {"label": NotificationKind(kind).label, "items": [_facts(n) for n in of_kind]}
                for kind, of_kind in itertools.groupby(in_org, key=lambda n: n.kind)
            ]
            list_url = _absolute(reverse("notification_list", kwargs={"org_code": org.code}))
            groups.append({"org": org, "kinds": kinds, "list_url": list_url})
        context = {
            "recipient": user,
            "groups": groups,
            "total": len(notes),
            "more": len(notes) - len(shown),
            "preferences_url": _absolute(reverse("notification_preferences")),
        }
        subject = ngettext(
            "Your Kakehashi digest: %(n)s notification",
            "Your Kakehashi digest: %(n)s notifications",
            len(notes),
        ) % {"n": len(notes)}
        text = render_to_string("assessments/email/digest.txt", context)
        html = render_to_string("assessments/email/digest.html", context)
    message = mail.EmailMultiAlternatives(subject, text, None, [user.email])
    message.attach_alternative(html, "text/html")
    return message
