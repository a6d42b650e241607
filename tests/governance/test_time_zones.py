"""Times are shown in the reader's time zone (their own, else the organisation's) and in the
formats of their language."""

from datetime import UTC, datetime

import pytest

from ..conftest import client_for
from ..factories import InvitationFactory, MembershipFactory

EXPIRES = datetime(2030, 1, 1, 16, 30, tzinfo=UTC)


@pytest.fixture
def invitation(owner, org):
    return InvitationFactory(organisation=org, invited_by=owner.user, expires_at=EXPIRES)


def test_it_shows_times_in_the_organisations_time_zone(owner_client, org, invitation):
    org.time_zone = "Asia/Tokyo"
    org.save()
    page = owner_client.get(f"/o/{org.code}/members/")
    assert b"2 Jan 2030, 01:30" in page.content  # 16:30 UTC is 01:30 next day in Tokyo
    assert b"Times are shown in Asia/Tokyo." in page.content
    org.time_zone = "Europe/Brussels"
    org.save()
    page = owner_client.get(f"/o/{org.code}/members/")
    assert b"1 Jan 2030, 17:30" in page.content


def test_it_prefers_the_users_own_time_zone(owner, org, invitation):
    org.time_zone = "Asia/Tokyo"
    org.save()
    owner.user.time_zone = "America/New_York"
    owner.user.save()
    page = client_for(owner).get(f"/o/{org.code}/members/")
    assert b"1 Jan 2030, 11:30" in page.content
    assert b"Times are shown in America/New_York." in page.content
    # Outside any organisation too.
    assert client_for(owner).get("/orgs/").context["TIME_ZONE"] == "America/New_York"


def test_it_uses_the_formats_of_the_users_language(owner, org, invitation):
    org.time_zone = "Asia/Tokyo"
    org.save()
    owner.user.language = "ja"
    owner.user.save()
    page = client_for(owner).get(f"/o/{org.code}/members/")
    assert "2030/01/02 01:30" in page.content.decode()
    assert b'datetime="2030-01-02T01:30:00+09:00"' in page.content


def test_it_does_not_carry_one_organisations_time_zone_into_the_next_request(
    owner_client, owner, org
):
    org.time_zone = "Asia/Tokyo"
    org.save()
    owner_client.get(f"/o/{org.code}/")
    page = owner_client.get("/orgs/")
    assert page.context["TIME_ZONE"] == "UTC"


def test_it_saves_a_time_zone_from_the_profile_and_refuses_an_unknown_one(owner_client, owner):
    page = owner_client.post(
        "/accounts/profile/",
        {"full_name": "Ada", "language": "en", "time_zone": "Mars/Olympus_Mons"},
    )
    assert page.status_code == 200
    assert "time_zone" in page.context["form"].errors
    owner.user.refresh_from_db()
    assert owner.user.time_zone == ""
    assert owner.user.full_name != "Ada"
    owner_client.post(
        "/accounts/profile/", {"full_name": "Ada", "language": "en", "time_zone": "Europe/Paris"}
    )
    owner.user.refresh_from_db()
    assert owner.user.time_zone == "Europe/Paris"
    # Empty goes back to each organisation's own zone.
    owner_client.post("/accounts/profile/", {"full_name": "Ada", "language": "en", "time_zone": ""})
    owner.user.refresh_from_db()
    assert owner.user.time_zone == ""


def test_it_picks_the_readers_zone_their_own_then_the_organisations_then_utc(org, owner):
    member = MembershipFactory(organisation=org, user__time_zone="Europe/London")
    org.time_zone = "Asia/Tokyo"
    assert member.user.time_zone_for(org) == "Europe/London"
    assert owner.user.time_zone_for(org) == "Asia/Tokyo"
    assert owner.user.time_zone_for(None) == "UTC"
