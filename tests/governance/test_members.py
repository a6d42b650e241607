import pytest

from governance.models import Membership, Role

from ..factories import MembershipFactory


def role_url(org, m):
    return f"/o/{org.code}/members/{m.code}/role/"


def remove_url(org, m):
    return f"/o/{org.code}/members/{m.code}/remove/"


def test_it_lets_an_admin_change_a_role(owner_client, org, member):
    response = owner_client.post(role_url(org, member), {"role": Role.COMPLIANCE_OFFICER})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.role == Role.COMPLIANCE_OFFICER


def test_it_refuses_role_changes_by_a_non_admin(member_client, org, owner):
    response = member_client.post(role_url(org, owner), {"role": Role.VIEWER})
    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN


def test_it_refuses_an_unknown_role(owner_client, org, member):
    response = owner_client.post(role_url(org, member), {"role": "emperor"}, follow=True)
    assert b"Choose a valid role" in response.content
    member.refresh_from_db()
    assert member.role == Role.CONTRIBUTOR


def test_it_keeps_the_last_admin(owner_client, org, owner, member):
    response = owner_client.post(role_url(org, owner), {"role": Role.VIEWER}, follow=True)
    assert b"at least one admin" in response.content
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN

    response = owner_client.post(remove_url(org, owner), follow=True)
    assert b"at least one admin" in response.content
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_it_lets_an_admin_step_down_when_another_admin_remains(owner_client, org, owner):
    MembershipFactory(organisation=org, role=Role.ADMIN)
    assert owner_client.post(role_url(org, owner), {"role": Role.VIEWER}).status_code == 302
    owner.refresh_from_db()
    assert owner.role == Role.VIEWER


def test_it_asks_before_removing_and_then_removes(owner_client, org, member):
    page = owner_client.get(remove_url(org, member))
    assert page.status_code == 200
    assert member.user.email.encode() in page.content
    assert Membership.objects.filter(pk=member.pk).exists()
    assert owner_client.post(remove_url(org, member)).status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()


def test_it_lets_a_member_leave_but_not_remove_others(member_client, org, member, owner):
    assert member_client.post(remove_url(org, owner)).status_code == 403
    assert member_client.post(remove_url(org, member)).status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert member_client.get(f"/o/{org.code}/").status_code == 404


@pytest.mark.parametrize("role", [Role.COMPLIANCE_OFFICER, Role.CONTRIBUTOR, Role.VIEWER])
def test_it_keeps_settings_and_audit_for_admins(org, role):
    from ..conftest import client_for

    client = client_for(MembershipFactory(organisation=org, role=role))
    assert client.get(f"/o/{org.code}/").status_code == 200
    assert client.get(f"/o/{org.code}/members/").status_code == 200
    assert client.get(f"/o/{org.code}/settings/").status_code == 403
    assert client.get(f"/o/{org.code}/audit/").status_code == 403


def test_it_saves_organisation_settings(owner_client, org):
    response = owner_client.post(
        f"/o/{org.code}/settings/",
        {
            "name": "Acme Robotics KK",
            "time_zone": "Asia/Tokyo",
            "default_language": "ja",
            "jurisdictions": ["JP"],
        },
    )
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.time_zone, org.default_language, org.jurisdictions) == (
        "Acme Robotics KK",
        "Asia/Tokyo",
        "ja",
        ["JP"],
    )


def test_it_rejects_a_bad_time_zone_and_changes_nothing(owner_client, org):
    response = owner_client.post(
        f"/o/{org.code}/settings/",
        {"name": "X", "time_zone": "Mars/Olympus", "default_language": "en", "jurisdictions": []},
    )
    assert response.status_code == 200
    assert b"Mars/Olympus" in response.content  # named in the error next to the field
    org.refresh_from_db()
    assert (org.name, org.time_zone) == ("Acme Robotics", "Europe/Brussels")


def test_it_creates_an_organisation_with_its_creator_as_admin(member_client, member):
    response = member_client.post(
        "/orgs/new/",
        {
            "name": "Second Org",
            "time_zone": "UTC",
            "default_language": "en",
            "jurisdictions": ["EU"],
        },
    )
    assert response.status_code == 302
    created = Membership.objects.get(user=member.user, organisation__name="Second Org")
    assert created.role == Role.ADMIN


def test_it_switches_between_organisations(member_client, member):
    other = MembershipFactory(user=member.user, organisation__name="Zeta Org")
    page = member_client.get(f"/o/{member.organisation.code}/")
    assert b"Zeta Org" in page.content  # the switcher lists every organisation
    member_client.get(f"/o/{other.organisation.code}/")
    response = member_client.get("/")
    assert response["Location"] == f"/o/{other.organisation.code}/dashboard/"


def test_it_shows_a_chooser_to_someone_with_no_organisation(client, db):
    from ..factories import UserFactory

    client.force_login(UserFactory())
    page = client.get("/")
    assert page.status_code == 200
    assert b"not a member of any organisation" in page.content


def test_it_saves_the_due_date_and_remediation_policy(owner_client, org):
    response = owner_client.post(
        f"/o/{org.code}/settings/",
        {
            "name": org.name,
            "time_zone": org.time_zone,
            "default_language": "en",
            "jurisdictions": ["EU", "JP"],
            "gap_due_days": "30",
            "voluntary_due_dates": "on",
        },
    )
    assert response.status_code == 302
    org.refresh_from_db()
    # An unticked box turns automatic remediation actions off.
    assert (org.gap_due_days, org.voluntary_due_dates, org.auto_actions) == (30, True, False)
    response = owner_client.post(
        f"/o/{org.code}/settings/",
        {"name": org.name, "time_zone": org.time_zone, "default_language": "en",
         "jurisdictions": ["EU"], "gap_due_days": "0"},
    )  # fmt: skip
    assert response.status_code == 200
    org.refresh_from_db()
    assert org.gap_due_days == 30
