"""Notifications: reminders that never go out twice, e-mail at once or in a digest, the
preferences that decide which, and the pages where people read them."""

import datetime as dt
import re
import smtplib

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assessments import notify, tasks
from assessments.models import (
    ActionComment,
    DigestRun,
    EmailChoice,
    EmailState,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from governance.models import Role

from ..conftest import client_for
from ..factories import (
    AISystemFactory,
    AssessmentFactory,
    MembershipFactory,
    OrganisationFactory,
    RemediationActionFactory,
)

UTC = dt.UTC
BEFORE = dt.datetime(2026, 9, 1, 9, 0, tzinfo=UTC)  # when the actions are opened
NOW = dt.datetime(2026, 11, 10, 9, 0, tzinfo=UTC)  # 10 Nov in Brussels too
TODAY = dt.date(2026, 11, 10)


@pytest.fixture(autouse=True)
def _catalogue(real_catalogue):
    """Actions belong to systems, and systems need a catalogue release."""


@pytest.fixture(autouse=True)
def mailbox(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.BASE_URL = "https://kakehashi.example"
    settings.DIGEST_HOUR_UTC = 7
    mail.outbox = []
    return mail.outbox


def url(name: str, org=None, **kwargs) -> str:
    if org is not None:
        kwargs["org_code"] = org.code
    return reverse(name, kwargs=kwargs)


def action_due(org, owner, due: dt.date, *, opened: dt.datetime = BEFORE, **fields):
    """An action of `org` owned by `owner` (a membership), opened at `opened`."""
    with time_machine.travel(opened, tick=False):
        return RemediationActionFactory(
            system__organisation=org, owner=owner.user, due_date=due, **fields
        )


def prefer(user, kind: str, *, email: str, in_app: bool = True) -> None:
    NotificationPreference.objects.update_or_create(
        user=user, kind=kind, defaults={"in_app": in_app, "email": email}
    )


def keys(**filters) -> list[str]:
    return sorted(Notification.objects.filter(**filters).values_list("key", flat=True))


def remind(at: dt.datetime) -> dict[str, int]:
    with time_machine.travel(at, tick=False):
        return notify.send_reminders()


# --- Reminders ---------------------------------------------------------------------------------


def test_it_sends_each_reminder_once_across_two_beat_runs(org, member, mailbox):
    prefer(member.user, NotificationKind.DUE_SOON, email=EmailChoice.IMMEDIATE)
    actions = {
        days: action_due(org, member, TODAY + dt.timedelta(days=days)) for days in (14, 7, 1, -3)
    }
    action_due(org, member, TODAY + dt.timedelta(days=30))  # not yet

    with time_machine.travel(NOW, tick=False):
        first = tasks.send_reminders.delay().get()
        second = tasks.send_reminders.delay().get()  # beat again, or restarted
        third = notify.send_reminders()

    assert (first["due_soon"], first["overdue"]) == (3, 1)
    assert (second["due_soon"], second["overdue"]) == (0, 0)
    assert (third["due_soon"], third["overdue"]) == (0, 0)
    expected = [
        f"due_soon:{actions[days].code}:{actions[days].due_date.isoformat()}:{days}"
        for days in (14, 7, 1)
    ] + [f"overdue:{actions[-3].code}:{actions[-3].due_date.isoformat()}"]
    assert keys(recipient=member.user) == sorted(expected)

    assert tasks.send_notification_emails.delay().get() == 4
    assert notify.send_pending_emails() == 0
    assert len(mailbox) == 4
    assert {m.to[0] for m in mailbox} == {member.user.email}
    assert not Notification.objects.exclude(email_state=EmailState.SENT).exists()


def test_it_reminds_14_7_and_1_days_before_then_once_overdue(org, member):
    action = action_due(org, member, dt.date(2026, 11, 30))
    seen = {}
    for day in range(10, 32):
        at = dt.datetime(2026, 11, 1, 9, tzinfo=UTC) + dt.timedelta(days=day - 1)
        remind(at)
        seen[at.date()] = keys(action=action)
    first_day = {}
    for day, found in sorted(seen.items()):
        for key in found:
            first_day.setdefault(key, day)
    due = "2026-11-30"
    assert first_day == {
        f"due_soon:{action.code}:{due}:14": dt.date(2026, 11, 16),
        f"due_soon:{action.code}:{due}:7": dt.date(2026, 11, 23),
        f"due_soon:{action.code}:{due}:1": dt.date(2026, 11, 29),
        f"overdue:{action.code}:{due}": dt.date(2026, 12, 1),
    }
    assert Notification.objects.filter(action=action).count() == 4


def test_it_catches_up_one_missed_reminder_after_an_outage(org, member):
    action = action_due(org, member, dt.date(2026, 11, 30))
    remind(dt.datetime(2026, 11, 16, 9, tzinfo=UTC))  # 14 days
    # Beat is down from the 7-days day (23 Nov) until 28 Nov, 2 days before.
    remind(dt.datetime(2026, 11, 28, 9, tzinfo=UTC))
    remind(dt.datetime(2026, 11, 28, 9, 15, tzinfo=UTC))
    assert keys(action=action) == sorted(
        [f"due_soon:{action.code}:2026-11-30:14", f"due_soon:{action.code}:2026-11-30:7"]
    )
    reminder = Notification.objects.get(key=f"due_soon:{action.code}:2026-11-30:7")
    assert reminder.data["days"] == 2


def test_it_does_not_catch_up_a_window_that_closed_before_the_action_existed(org, member):
    action = action_due(
        org, member, dt.date(2026, 11, 30), opened=dt.datetime(2026, 11, 26, 9, tzinfo=UTC)
    )
    remind(dt.datetime(2026, 11, 26, 9, 15, tzinfo=UTC))  # 4 days left, the 7 days' day is past
    assert keys(action=action) == []
    remind(dt.datetime(2026, 11, 29, 9, tzinfo=UTC))
    assert keys(action=action) == [f"due_soon:{action.code}:2026-11-30:1"]


def test_it_judges_the_days_in_each_organisations_time_zone():
    # At 20:00 UTC on 21 Nov it is already 22 Nov in Tokyo and still 21 Nov in Brussels.
    at = dt.datetime(2026, 11, 21, 20, 0, tzinfo=UTC)
    tokyo = MembershipFactory(organisation=OrganisationFactory(time_zone="Asia/Tokyo"))
    brussels = MembershipFactory(organisation=OrganisationFactory(time_zone="Europe/Brussels"))
    due = {}
    for m in (tokyo, brussels):
        for day in (21, 22):
            due[m.organisation.time_zone, day] = action_due(
                m.organisation, m, dt.date(2026, 11, day)
            )

    counts = remind(at)

    assert (counts["due_soon"], counts["overdue"]) == (1, 1)
    # Due on the 22nd: tomorrow in Brussels (the one-day reminder), today in Tokyo (nothing).
    assert keys(action=due["Europe/Brussels", 22]) == [
        f"due_soon:{due['Europe/Brussels', 22].code}:2026-11-22:1"
    ]
    assert keys(action=due["Asia/Tokyo", 22]) == []
    # Due on the 21st: overdue in Tokyo, due today in Brussels.
    assert keys(action=due["Asia/Tokyo", 21]) == [
        f"overdue:{due['Asia/Tokyo', 21].code}:2026-11-21"
    ]
    assert keys(action=due["Europe/Brussels", 21]) == []


def test_it_reminds_only_the_owner_of_work_still_to_do(org, owner, member):
    late = TODAY - dt.timedelta(days=2)
    reminded = {s: action_due(org, member, late, status=s) for s in ("open", "in_progress")}
    reminded["blocked"] = action_due(org, member, late, status="blocked")
    quiet = [
        action_due(org, member, late, status="done", done_by=member.user),
        action_due(org, member, late, status="verified", verified_by=owner.user),
        action_due(org, member, late, status="cancelled", cancel_reason="Not needed."),
    ]
    unowned = RemediationActionFactory(system__organisation=org, owner=None, due_date=late)
    gone = MembershipFactory(organisation=org)
    left = action_due(org, gone, late)
    gone.delete()  # no longer a member: not reminded any more

    remind(NOW)

    assert set(Notification.objects.values_list("action_id", flat=True)) == {
        a.pk for a in reminded.values()
    }
    assert set(Notification.objects.values_list("recipient_id", flat=True)) == {member.user_id}
    assert not Notification.objects.filter(action__in=[*quiet, unowned, left]).exists()


def test_a_new_due_date_missed_again_is_overdue_again(org, member):
    action = action_due(org, member, TODAY - dt.timedelta(days=1))
    remind(NOW)
    action.due_date = TODAY + dt.timedelta(days=3)
    action.save()
    remind(NOW + dt.timedelta(days=5))
    remind(NOW + dt.timedelta(days=5, hours=1))
    overdue = Notification.objects.filter(action=action, kind=NotificationKind.OVERDUE)
    assert sorted(n.data["due"] for n in overdue) == ["2026-11-09", "2026-11-13"]


def test_it_refreshes_priorities_as_the_date_comes_closer(org, member, monkeypatch):
    from assessments import actions

    seen = []
    monkeypatch.setattr(
        actions, "refresh_priorities", lambda *, org, today: seen.append((org.pk, today)) or 0
    )
    tokyo = OrganisationFactory(time_zone="Asia/Tokyo")
    remind(dt.datetime(2026, 11, 21, 20, 0, tzinfo=UTC))
    assert sorted(seen) == sorted(
        [(org.pk, dt.date(2026, 11, 21)), (tokyo.pk, dt.date(2026, 11, 22))]
    )


# --- E-mail at once --------------------------------------------------------------------------


def test_each_kind_of_e_mail_says_what_happened_with_absolute_links(org, owner, member, mailbox):
    action = action_due(org, member, dt.date(2026, 12, 24), title="Write the risk register")
    notify.assigned(action=action, actor=owner.user)
    comment = ActionComment.objects.create(
        organisation=org, action=action, author=owner.user, body="@member please add the DPIA"
    )
    notify.mentioned(comment=comment, recipients=[member.user])
    assert notify.send_pending_emails() == 2

    # Told apart by what they say: sorting by subject depended on the owner's random name.
    assigned = next(m for m in mailbox if "Assigned to you" in m.subject)
    (mentioned,) = [m for m in mailbox if m is not assigned]
    action_url = f"https://kakehashi.example/o/{org.code}/actions/{action.code}/"
    assert assigned.subject == f"[{org.name}] Assigned to you: Write the risk register"
    assert "24 Dec 2026" in assigned.body
    assert action.system.name in assigned.body
    assert action_url in assigned.body
    html, content_type = assigned.alternatives[0]
    assert content_type == "text/html"
    assert f'href="{action_url}"' in html
    assert "https://kakehashi.example/accounts/notifications/" in assigned.body
    assert mentioned.subject.startswith(f"[{org.name}] {owner.user.get_full_name()} mentioned")
    assert "please add the DPIA" in mentioned.body


def test_it_e_mails_in_the_recipients_language(org, member, mailbox):
    member.user.language = "ja"
    member.user.save()
    english = MembershipFactory(organisation=org, user__language="en")
    for m in (member, english):
        action = action_due(org, m, dt.date(2026, 11, 22), title="Check logs")
        notify.assigned(action=action, actor=None)

    assert notify.send_pending_emails() == 2

    by_user = {m.to[0]: m for m in mailbox}
    assert "2026年11月22日" in by_user[member.user.email].body
    assert "22 Nov 2026" in by_user[english.user.email].body
    assert "Due:" in by_user[english.user.email].body


def test_an_smtp_error_fails_that_e_mail_only(org, member, mailbox, monkeypatch, caplog):
    from django.core.mail.backends import locmem

    other = MembershipFactory(organisation=org)
    send = locmem.EmailBackend.send_messages

    def refuse_member(self, messages):
        if messages[0].to == [member.user.email]:
            raise smtplib.SMTPRecipientsRefused({member.user.email: (550, b"no")})
        return send(self, messages)

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", refuse_member)
    for m in (member, other):
        notify.assigned(action=action_due(org, m, TODAY), actor=None)

    assert notify.send_pending_emails() == 1

    states = dict(Notification.objects.values_list("recipient_id", "email_state"))
    assert states == {member.user_id: EmailState.FAILED, other.user_id: EmailState.SENT}
    assert [m.to for m in mailbox] == [[other.user.email]]
    assert "could not be sent" in caplog.text
    assert notify.send_pending_emails() == 0  # a failure is not retried blindly


def test_an_e_mail_left_half_sent_by_a_dead_worker_is_never_sent_again(org, member, mailbox):
    notify.assigned(action=action_due(org, member, TODAY), actor=None)
    with time_machine.travel(NOW, tick=False):
        # A worker claims it, then dies before sending.
        notify._claim(Notification.objects.filter(email_state=EmailState.PENDING), 10)
        assert notify.send_pending_emails() == 0
    with time_machine.travel(NOW + dt.timedelta(minutes=59), tick=False):
        assert notify.send_pending_emails() == 0
        assert Notification.objects.get().email_state == EmailState.SENDING
    with time_machine.travel(NOW + dt.timedelta(minutes=61), tick=False):
        assert notify.send_pending_emails() == 0
    assert Notification.objects.get().email_state == EmailState.FAILED
    assert mailbox == []


def test_it_does_not_e_mail_people_who_left(org, member, mailbox):
    deactivated = MembershipFactory(organisation=org)
    for m in (member, deactivated):
        notify.assigned(action=action_due(org, m, TODAY), actor=None)
    deactivated.user.is_active = False
    deactivated.user.save()
    member.delete()

    assert notify.send_pending_emails() == 0

    assert mailbox == []
    assert set(Notification.objects.values_list("email_state", flat=True)) == {EmailState.NONE}


def test_the_completed_assessment_and_release_e_mails(org, owner, member, mailbox, real_catalogue):
    system = AISystemFactory(organisation=org, owner=member.user, name="Hiring screener")
    assessment = AssessmentFactory(
        system=system, requested_by=owner.user, eu_tier="high_risk", summary={"applicable": 31}
    )
    prefer(member.user, NotificationKind.ASSESSMENT_COMPLETED, email=EmailChoice.IMMEDIATE)
    prefer(owner.user, NotificationKind.RELEASE_PUBLISHED, email=EmailChoice.IMMEDIATE)
    notify.assessment_completed(assessment=assessment, actions_opened=4)
    notify.release_published(release=real_catalogue, systems_by_org={org.pk: 3})

    assert notify.send_pending_emails() == 2

    completed = next(m for m in mailbox if m.to == [member.user.email])
    assert completed.subject == f"[{org.name}] Assessment completed: Hiring screener"
    for text in ("EU tier: High-risk", "Applicable obligations: 31", "Actions opened: 4"):
        assert text in completed.body
    assert f"/o/{org.code}/assessments/{assessment.code}/" in completed.body
    released = next(m for m in mailbox if m.to == [owner.user.email])
    assert real_catalogue.code in released.subject
    assert "Your systems it changes: 3" in released.body
    assert (
        f"https://kakehashi.example/o/{org.code}/releases/{real_catalogue.code}/impact/"
        in released.body
    )


# --- Preferences -------------------------------------------------------------------------------


def test_e_mail_off_keeps_the_notification_in_the_app(org, member, mailbox):
    prefer(member.user, NotificationKind.OVERDUE, email=EmailChoice.OFF)
    action_due(org, member, TODAY - dt.timedelta(days=1))
    remind(NOW)
    assert notify.send_pending_emails() == 0
    assert mailbox == []
    n = Notification.objects.get()
    assert (n.in_app, n.email_state) == (True, EmailState.NONE)


def test_nothing_at_all_when_both_are_off(org, member):
    prefer(member.user, NotificationKind.OVERDUE, email=EmailChoice.OFF, in_app=False)
    action_due(org, member, TODAY - dt.timedelta(days=1))
    assert remind(NOW)["overdue"] == 0
    assert not Notification.objects.exists()


def test_the_digest_bundles_everything_once_a_day_from_the_digest_hour(org, member, mailbox):
    other_org = OrganisationFactory(name="Zeta Labs")
    elsewhere = MembershipFactory(organisation=other_org, user=member.user)
    for days in (14, 7):
        action_due(org, member, TODAY + dt.timedelta(days=days), title=f"In {days} days")
    action_due(other_org, elsewhere, TODAY + dt.timedelta(days=1), title="Tomorrow")
    remind(dt.datetime(2026, 11, 10, 5, 0, tzinfo=UTC))  # due soon: digest by default
    assert Notification.objects.filter(email_state=EmailState.DIGEST).count() == 3

    assert notify.send_digests(now=dt.datetime(2026, 11, 10, 6, 59, tzinfo=UTC)) == 0
    assert mailbox == []
    with time_machine.travel(dt.datetime(2026, 11, 10, 7, 0, tzinfo=UTC), tick=False):
        assert tasks.send_digests.delay().get() == 1
        assert tasks.send_digests.delay().get() == 0
        assert notify.send_pending_emails() == 0

    assert len(mailbox) == 1
    digest = mailbox[0]
    assert digest.subject == "Your Kakehashi digest: 3 notifications"
    body = digest.body
    assert body.index(f"== {org.name} ==") < body.index("In 14 days") < body.index("== Zeta Labs")
    assert body.index("== Zeta Labs ==") < body.index("Tomorrow")
    assert f"/o/{other_org.code}/notifications/" in body
    assert "Zeta Labs" in digest.alternatives[0][0]
    assert set(Notification.objects.values_list("email_state", flat=True)) == {EmailState.SENT}
    assert DigestRun.objects.get().sent_at is not None

    # What arrives after today's digest waits for tomorrow's.
    action_due(org, member, dt.date(2026, 11, 11), title="Later")
    remind(dt.datetime(2026, 11, 10, 9, 0, tzinfo=UTC))
    assert notify.send_digests(now=dt.datetime(2026, 11, 10, 23, 0, tzinfo=UTC)) == 0
    assert notify.send_digests(now=dt.datetime(2026, 11, 11, 7, 5, tzinfo=UTC)) == 1
    assert len(mailbox) == 2


def test_a_digest_another_worker_already_started_is_not_sent_again(org, member, mailbox):
    action_due(org, member, TODAY + dt.timedelta(days=7))
    remind(NOW)
    DigestRun.objects.create(user=member.user, day=TODAY)  # the other worker got there first
    assert notify.send_digests(now=NOW) == 0
    assert mailbox == []
    assert Notification.objects.get().email_state == EmailState.DIGEST


def test_the_preferences_page_saves_each_kind(member, mailbox):
    client = client_for(member)
    page = client.get(url("notification_preferences"))
    assert page.status_code == 200
    assert "An action is assigned to me" in page.content.decode()
    data = {f"{kind}_email": "immediate" for kind in NotificationKind.values}
    data |= {f"{kind}_in_app": "on" for kind in NotificationKind.values}
    data["overdue_email"] = "digest"
    data["mentioned_email"] = "off"
    del data["mentioned_in_app"]

    response = client.post(url("notification_preferences"), data)

    assert response.status_code == 302
    assert notify.preferences_for(member.user) == {
        kind: (kind != "mentioned", data[f"{kind}_email"]) for kind in NotificationKind.values
    }


def test_the_preferences_page_rejects_a_bogus_choice_and_saves_nothing(member):
    client = client_for(member)
    data = {f"{kind}_email": "digest" for kind in NotificationKind.values}
    data["overdue_email"] = "carrier-pigeon"

    response = client.post(url("notification_preferences"), data)

    assert response.status_code == 400
    assert "carrier-pigeon is not one of the available choices" in response.content.decode()
    assert not NotificationPreference.objects.exists()


def test_turning_e_mail_off_drops_what_was_waiting(org, member, mailbox):
    action_due(org, member, TODAY + dt.timedelta(days=7))
    remind(NOW)
    notify.preferences_save(
        user=member.user, choices={NotificationKind.DUE_SOON: (True, EmailChoice.OFF)}
    )
    assert notify.send_digests(now=NOW) == 0
    assert Notification.objects.get().email_state == EmailState.NONE


def test_the_preferences_page_needs_a_login(client):
    response = client.get(url("notification_preferences"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


# --- Events ------------------------------------------------------------------------------------


def test_the_events_notify_the_right_people(org, owner, member, real_catalogue):
    officer = MembershipFactory(organisation=org, role=Role.COMPLIANCE_OFFICER)
    viewer = MembershipFactory(organisation=org, role=Role.VIEWER)
    outsider_admin = MembershipFactory(role=Role.ADMIN)
    action = action_due(org, member, TODAY)

    assert notify.assigned(action=action, actor=owner.user) == 1
    assert notify.assigned(action=action, actor=owner.user) == 1  # assigned again: told again
    comment = ActionComment.objects.create(
        organisation=org, action=action, author=owner.user, body="Look at this, please."
    )
    assert notify.mentioned(comment=comment, recipients=[member.user, viewer.user]) == 2
    assert notify.mentioned(comment=comment, recipients=[member.user, viewer.user]) == 0
    assessment = AssessmentFactory(
        system=AISystemFactory(organisation=org, owner=member.user), requested_by=officer.user
    )
    assert notify.assessment_completed(assessment=assessment, actions_opened=2) == 2
    notify.release_published(release=real_catalogue, systems_by_org={org.pk: 5})

    def who(kind):
        return set(Notification.objects.filter(kind=kind).values_list("recipient_id", flat=True))

    assert who("assigned") == {member.user_id}
    assert who("mentioned") == {member.user_id, viewer.user_id}
    assert who("assessment_completed") == {member.user_id, officer.user_id}
    assert who("release_published") == {owner.user_id, officer.user_id, outsider_admin.user_id}
    ours = Notification.objects.get(kind="release_published", recipient=owner.user)
    assert (ours.organisation, ours.data["systems_affected"]) == (org, 5)
    theirs = Notification.objects.get(kind="release_published", recipient=outsider_admin.user)
    assert (theirs.organisation, theirs.data["systems_affected"]) == (
        outsider_admin.organisation,
        0,
    )


# --- Pages -------------------------------------------------------------------------------------


def notify_member(org, membership, n: int) -> list[Notification]:
    for _ in range(n):
        notify.assigned(action=action_due(org, membership, TODAY), actor=None)
    return list(Notification.objects.filter(recipient=membership.user, organisation=org))


def test_the_list_shows_only_ones_own_notifications_in_this_organisation(
    org, owner, member, outsider
):
    mine = notify_member(org, member, 2)
    notify_member(org, owner, 1)
    elsewhere = MembershipFactory(organisation=outsider.organisation, user=member.user)
    notify_member(outsider.organisation, elsewhere, 1)

    page = client_for(member).get(url("notification_list", org)).content.decode()

    codes = set(re.findall(r'name="code" value="([0-9a-f-]{36})"', page))
    assert codes == {str(n.code) for n in mine}
    for n in mine:
        assert f"/o/{org.code}/actions/{n.action.code}/" in page
    assert "Notifications (2)" in page  # the header counts this organisation's


def test_an_outsider_cannot_see_or_mark_the_list(org, member, outsider_client):
    notify_member(org, member, 1)
    assert outsider_client.get(url("notification_list", org)).status_code == 404
    assert outsider_client.post(url("notification_read", org), {"all": "1"}).status_code == 404
    assert Notification.objects.filter(read_at__isnull=True).count() == 1


def test_marking_someone_elses_notification_is_a_404(org, owner, member, outsider):
    theirs = notify_member(org, owner, 1)[0]
    elsewhere = MembershipFactory(organisation=outsider.organisation, user=member.user)
    mine_elsewhere = notify_member(outsider.organisation, elsewhere, 1)[0]
    client = client_for(member)
    for code in (theirs.code, mine_elsewhere.code, "not-a-code"):
        response = client.post(url("notification_read", org), {"code": str(code)})
        assert response.status_code == 404
    assert not Notification.objects.filter(read_at__isnull=False).exists()


def test_it_marks_one_then_all_as_read(org, member):
    first, second, _third = notify_member(org, member, 3)
    elsewhere = MembershipFactory(organisation=OrganisationFactory(), user=member.user)
    other = notify_member(elsewhere.organisation, elsewhere, 1)[0]
    client = client_for(member)

    assert "Mark all as read" in client.get(url("notification_list", org)).content.decode()
    response = client.post(url("notification_read", org), {"code": str(second.code)})
    assert response.status_code == 302
    assert set(Notification.objects.filter(read_at__isnull=False)) == {second}
    page = client.get(url("notification_list", org)).content.decode()
    assert page.count('class="notification-unread"') == 2  # unread rows stand out
    assert page.count('class="notification-read"') == 1
    unread = client.get(url("notification_list", org), {"unread": "1"}).content.decode()
    assert str(second.code) not in unread and str(first.code) in unread

    client.post(url("notification_read", org), {"all": "1"})
    assert set(Notification.objects.filter(read_at__isnull=True)) == {other}
    assert "Mark all as read" not in client.get(url("notification_list", org)).content.decode()
    assert client.post(url("notification_read", org), {}).status_code == 400


def test_the_list_takes_a_constant_number_of_queries(org, member, django_assert_num_queries):
    client = client_for(member)
    notify_member(org, member, 1)
    address = url("notification_list", org)
    client.get(address)  # the session remembers the organisation once
    with CaptureQueriesContext(connection) as one:
        client.get(address)

    notify_member(org, member, 6)
    comment = ActionComment.objects.create(
        organisation=org, action=Notification.objects.first().action, author=None, body="Hi"
    )
    notify.mentioned(comment=comment, recipients=[member.user])
    with django_assert_num_queries(len(one)):
        page = client.get(address).content.decode()
    assert len(re.findall(r'name="code" value="', page)) == 8


def test_the_header_links_to_the_last_organisation_outside_one(org, member):
    notify_member(org, member, 3)
    Notification.objects.filter(pk=Notification.objects.first().pk).update(read_at=NOW)
    client = client_for(member)
    client.get(url("notification_list", org))
    page = client.get(url("notification_preferences")).content.decode()
    assert f'href="/o/{org.code}/notifications/">Notifications (2)</a>' in page
