from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from governance import services
from governance.models import Invitation, Membership, Role, User

from ..conftest import client_for
from ..factories import PASSWORD, InvitationFactory, UserFactory


def invite(owner_client, org, email="new.person@example.com", role=Role.COMPLIANCE_OFFICER):
    return owner_client.post(f"/o/{org.code}/members/", {"email": email, "role": role})


def link_from_mail(message) -> str:
    return next(line for line in message.body.splitlines() if "/invitations/" in line).strip()


def path_of(url: str) -> str:
    return url[url.index("/invitations/") :]


def test_it_emails_an_invitation_link(owner_client, org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(owner_client, org)
    assert response.status_code == 302
    invitation = Invitation.objects.get(organisation=org)
    assert invitation.email == "new.person@example.com"
    assert invitation.role == Role.COMPLIANCE_OFFICER
    assert invitation.sent_at is not None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.person@example.com"]
    assert "Acme Robotics" in mail.outbox[0].subject
    assert "/invitations/" in link_from_mail(mail.outbox[0])


def test_it_lets_a_new_person_sign_up_through_the_link(
    owner_client, org, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(owner_client, org)
    path = path_of(link_from_mail(mail.outbox[0]))
    page = client.get(path)
    assert page.status_code == 200
    assert b"new.person@example.com" in page.content

    response = client.post(
        path, {"full_name": "New Person", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    membership = Membership.objects.get(organisation=org, user=user)
    assert membership.role == Role.COMPLIANCE_OFFICER
    assert client.get(f"/o/{org.code}/").status_code == 200  # logged in


def test_it_rejects_a_weak_password_and_creates_nothing(owner, org, client):
    invitation = InvitationFactory(organisation=org, invited_by=owner.user)
    path = path_of(services.invitation_url(invitation))
    response = client.post(path, {"full_name": "X", "password1": "123", "password2": "123"})
    assert response.status_code == 400
    assert b"password" in response.content.lower()
    assert not User.objects.filter(email=invitation.email).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_it_lets_an_existing_user_accept_after_logging_in(owner, org):
    person = UserFactory(email="existing@example.com")
    invitation = InvitationFactory(organisation=org, email="existing@example.com")
    path = path_of(services.invitation_url(invitation))
    client = client_for_user(person)
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 302
    assert Membership.objects.filter(organisation=org, user=person).exists()


def test_it_asks_an_existing_user_to_log_in_first(org, client):
    UserFactory(email="existing@example.com")
    invitation = InvitationFactory(organisation=org, email="existing@example.com")
    path = path_of(services.invitation_url(invitation))
    page = client.get(path)
    assert b"/accounts/login/?next=" in page.content
    client.post(path)
    assert not Membership.objects.filter(organisation=org).exists()


def test_it_refuses_an_expired_invitation(org, client):
    invitation = InvitationFactory(
        organisation=org, expires_at=timezone.now() - timedelta(minutes=1)
    )
    path = path_of(services.invitation_url(invitation))
    response = client.post(
        path, {"full_name": "Late", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 410
    assert b"expired" in response.content
    assert not User.objects.filter(email=invitation.email).exists()


def test_it_refuses_a_used_invitation(org, client):
    invitation = InvitationFactory(organisation=org)
    path = path_of(services.invitation_url(invitation))
    data = {"full_name": "Once", "password1": PASSWORD, "password2": PASSWORD}
    assert client.post(path, data).status_code == 302
    client.logout()
    second = client.post(path, data)
    assert second.status_code == 410
    assert b"already been used" in second.content
    assert Membership.objects.filter(organisation=org).count() == 1


def test_it_refuses_an_invitation_for_another_address(org, outsider):
    invitation = InvitationFactory(organisation=org, email="someone.else@example.com")
    path = path_of(services.invitation_url(invitation))
    client = client_for(outsider)
    response = client.post(path)
    assert response.status_code == 410
    assert b"another e-mail address" in response.content
    assert not Membership.objects.filter(organisation=org, user=outsider.user).exists()


def test_it_refuses_a_tampered_or_withdrawn_link(owner, org, client):
    invitation = InvitationFactory(organisation=org)
    path = path_of(services.invitation_url(invitation))
    assert client.get(path[:-3] + "abc/").status_code == 410
    services.invitation_revoke(invitation=invitation)
    response = client.get(path)
    assert response.status_code == 410
    assert b"withdrawn" in response.content


def test_it_lets_only_admins_invite(member_client, org):
    response = invite(member_client, org)
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_it_refuses_to_invite_a_member_or_a_pending_address(owner_client, owner, member, org):
    assert invite(owner_client, org, email="MEMBER@acme.example").status_code == 400
    InvitationFactory(organisation=org, email="pending@example.com")
    response = invite(owner_client, org, email="pending@example.com")
    assert response.status_code == 400
    assert b"still pending" in response.content
    assert Invitation.objects.count() == 1


def test_it_replaces_an_expired_invitation(owner_client, org):
    old = InvitationFactory(
        organisation=org,
        email="again@example.com",
        expires_at=timezone.now() - timedelta(days=1),
    )
    assert invite(owner_client, org, email="again@example.com").status_code == 302
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert Invitation.objects.for_org(org).pending().get().email == "again@example.com"


def test_it_withdraws_an_invitation(owner_client, org):
    invitation = InvitationFactory(organisation=org)
    response = owner_client.post(f"/o/{org.code}/invitations/{invitation.code}/revoke/")
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


@pytest.mark.parametrize("count", [1, 5])
def test_it_lists_members_and_invitations_in_constant_queries(
    owner_client, owner, org, count, django_assert_num_queries
):
    for _i in range(count):
        InvitationFactory(organisation=org, invited_by=owner.user)
        Membership.objects.create(organisation=org, user=UserFactory(), role=Role.VIEWER)
    owner_client.get(f"/o/{org.code}/")  # remembers the organisation in the session
    # session, user, membership, members, invitations, organisation switcher, unread
    # notifications
    with django_assert_num_queries(7):
        response = owner_client.get(f"/o/{org.code}/members/")
    assert response.status_code == 200


def client_for_user(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_it_attributes_the_sign_up_to_the_new_person(owner, org, client):
    from governance.models import AuditEvent

    invitation = InvitationFactory(organisation=org)
    path = path_of(services.invitation_url(invitation))
    client.post(path, {"full_name": "New", "password1": PASSWORD, "password2": PASSWORD})
    user = User.objects.get(email=invitation.email)
    joined = AuditEvent.objects.get(
        table="governance_membership", action="insert", organisation=org, after__user_id=user.pk
    )
    assert joined.actor_user_id == user.pk


def test_it_creates_no_account_when_the_invitation_was_used_meanwhile(owner, org, client):
    invitation = InvitationFactory(organisation=org)
    path = path_of(services.invitation_url(invitation))
    client.get(path)
    Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now())
    with pytest.raises(services.InvitationError):
        services.invitation_sign_up(invitation=invitation, full_name="Late", password=PASSWORD)
    assert not User.objects.filter(email=invitation.email).exists()
