from datetime import UTC, datetime

from ..factories import InvitationFactory


def test_it_shows_times_in_the_organisations_time_zone(owner_client, owner, org):
    InvitationFactory(
        organisation=org, invited_by=owner.user, expires_at=datetime(2030, 1, 1, 16, 30, tzinfo=UTC)
    )
    org.time_zone = "Asia/Tokyo"
    org.save()
    page = owner_client.get(f"/o/{org.code}/members/")
    assert b"2030-01-02 01:30" in page.content  # 16:30 UTC is 01:30 next day in Tokyo
    org.time_zone = "Europe/Brussels"
    org.save()
    page = owner_client.get(f"/o/{org.code}/members/")
    assert b"2030-01-01 17:30" in page.content


def test_it_does_not_carry_one_organisations_time_zone_into_the_next_request(
    owner_client, owner, org
):
    org.time_zone = "Asia/Tokyo"
    org.save()
    owner_client.get(f"/o/{org.code}/")
    page = owner_client.get("/orgs/")
    assert page.context["TIME_ZONE"] == "UTC"
