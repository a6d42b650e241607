"""The deadlines calendar: legal dates, action due dates and catalogue milestones, judged and
shown in the organisation's time zone, or in Brussels and Tokyo side by side."""

import datetime as dt
import re

import pytest
import time_machine
from django.utils import timezone

from assessments import deadlines
from assessments.models import Finding
from governance.models import Role
from governance.registry import system_archive

from ..conftest import client_for
from ..factories import (
    AISystemFactory,
    MembershipFactory,
    OrganisationFactory,
    RemediationActionFactory,
    UserFactory,
)

# 22 November in Tokyo (05:00), still 21 November in Brussels (21:00).
EVENING = dt.datetime(2026, 11, 21, 20, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _catalogue(real_catalogue):
    """Systems need a catalogue release; the current one is 2026-amended."""


@pytest.fixture
def evening():
    with time_machine.travel(EVENING, tick=False):
        yield


def admin_of(org):
    return MembershipFactory(organisation=org, role=Role.ADMIN)


def url_of(org) -> str:
    return f"/o/{org.code}/deadlines/"


def due(org, day: dt.date, **fields):
    fields.setdefault("system", AISystemFactory(organisation=org))
    return RemediationActionFactory(due_date=day, **fields)


def entry_html(response, entry) -> str:
    """The rendered item of one calendar entry (up to the next entry or the month's end)."""
    html = response.content.decode()
    start = html.index(f'data-uid="{entry.uid}"')
    ends = [i for i in (html.find("data-uid=", start + 1), html.find("</ol>", start)) if i > 0]
    return " ".join(html[start : min(ends)].split())


def states(response) -> dict[str, str]:
    return {
        e.action.title: e.state
        for e in response.context["calendar"].entries
        if e.kind == deadlines.ACTION
    }


# --- Today, overdue and time zones --------------------------------------------------------------


def test_it_judges_due_dates_in_a_tokyo_organisation(evening):
    tokyo = OrganisationFactory(time_zone="Asia/Tokyo")
    due(tokyo, dt.date(2026, 11, 21), title="Yesterday in Tokyo")
    due(tokyo, dt.date(2026, 11, 22), title="Today in Tokyo")
    due(tokyo, dt.date(2026, 11, 23), title="Tomorrow in Tokyo")

    response = client_for(admin_of(tokyo)).get(url_of(tokyo))

    assert response.status_code == 200
    assert response.context["calendar"].today == dt.date(2026, 11, 22)
    assert states(response) == {
        "Yesterday in Tokyo": "overdue",
        "Today in Tokyo": "today",
        "Tomorrow in Tokyo": "tomorrow",
    }
    assert response.context["calendar"].overdue == 1
    entries = {e.action.title: e for e in response.context["calendar"].entries if e.action}
    assert "overdue by 1 day" in entry_html(response, entries["Yesterday in Tokyo"])
    assert "due today" in entry_html(response, entries["Today in Tokyo"])
    assert "due tomorrow" in entry_html(response, entries["Tomorrow in Tokyo"])


def test_it_judges_the_same_dates_in_a_brussels_organisation(evening):
    brussels = OrganisationFactory(time_zone="Europe/Brussels")
    due(brussels, dt.date(2026, 11, 21), title="Yesterday in Tokyo")
    due(brussels, dt.date(2026, 11, 22), title="Today in Tokyo")
    due(brussels, dt.date(2026, 12, 1), title="Next month")

    response = client_for(admin_of(brussels)).get(url_of(brussels))

    assert response.context["calendar"].today == dt.date(2026, 11, 21)
    assert states(response) == {
        "Yesterday in Tokyo": "today",
        "Today in Tokyo": "tomorrow",
        "Next month": "upcoming",
    }
    assert response.context["calendar"].overdue == 0
    html = response.content.decode()
    assert "overdue by" not in html
    assert "in 10 days" in html


def test_it_agrees_with_the_action_services_on_what_is_overdue(evening):
    tokyo = OrganisationFactory(time_zone="Asia/Tokyo")
    late = due(tokyo, dt.date(2026, 11, 21))
    due(tokyo, dt.date(2026, 11, 22))
    from assessments.actions import overdue_q, today_for
    from assessments.models import RemediationAction

    overdue = set(RemediationAction.objects.for_org(tokyo).filter(overdue_q(today_for(tokyo))))
    response = client_for(admin_of(tokyo)).get(url_of(tokyo))

    shown = {e.action for e in response.context["calendar"].entries if e.state == "overdue"}
    assert shown == overdue == {late}


def test_it_shows_when_an_action_ends_in_the_organisations_zone_by_default(evening):
    tokyo = OrganisationFactory(time_zone="Asia/Tokyo")
    due(tokyo, dt.date(2026, 11, 22), title="Close the gap")

    response = client_for(admin_of(tokyo)).get(url_of(tokyo), {"kind": "actions"})

    (entry,) = response.context["calendar"].entries
    assert entry.instant == dt.datetime(2026, 11, 22, 15, 0, tzinfo=dt.UTC)
    assert [t.zone for t in entry.times] == ["Asia/Tokyo"]
    html = entry_html(response, entry)
    assert "Due by 22 Nov 2026 24:00 Asia/Tokyo" in html
    assert "2026-11-23 00:00 JST" in html
    assert "CET" not in html


def test_it_shows_both_zones_side_by_side_on_request(evening):
    tokyo = OrganisationFactory(time_zone="Asia/Tokyo")
    due(tokyo, dt.date(2026, 11, 22), title="Close the gap")

    response = client_for(admin_of(tokyo)).get(url_of(tokyo), {"zones": "both", "kind": "actions"})

    (entry,) = response.context["calendar"].entries
    html = entry_html(response, entry)
    assert re.search(
        r"Europe/Brussels</span> <time [^>]*>2026-11-22 16:00 CET</time>.*"
        r"Asia/Tokyo</span> <time [^>]*>2026-11-23 00:00 JST</time>",
        html,
    ), html
    assert 'datetime="2026-11-22T15:00Z"' in html


def test_it_adds_the_organisations_own_zone_to_brussels_and_tokyo(evening):
    new_york = OrganisationFactory(time_zone="America/New_York")
    due(new_york, dt.date(2026, 11, 22))

    response = client_for(admin_of(new_york)).get(
        url_of(new_york), {"zones": "both", "kind": "actions"}
    )

    (entry,) = response.context["calendar"].entries
    assert [t.zone for t in entry.times] == ["Europe/Brussels", "Asia/Tokyo", "America/New_York"]
    html = entry_html(response, entry)
    # The end of 22 November in New York is 05:00 UTC on the 23rd.
    assert "2026-11-23 06:00 CET" in html
    assert "2026-11-23 14:00 JST" in html
    assert "2026-11-23 00:00 EST" in html


def test_it_starts_a_legal_date_in_its_jurisdictions_zone():
    tokyo = OrganisationFactory(time_zone="Asia/Tokyo")
    assert deadlines.zone_for("EU", tokyo) == "Europe/Brussels"
    assert deadlines.zone_for("JP", tokyo) == "Asia/Tokyo"
    assert deadlines.zone_for("INTL", tokyo) == "Asia/Tokyo"
    assert deadlines.start_of(dt.date(2027, 12, 2), "Europe/Brussels") == dt.datetime(
        2027, 12, 1, 23, 0, tzinfo=dt.UTC
    )
    assert deadlines.start_of(dt.date(2026, 8, 2), "Europe/Brussels") == dt.datetime(
        2026, 8, 1, 22, 0, tzinfo=dt.UTC
    )  # summer time
    assert deadlines.end_of(dt.date(2026, 11, 22), "Asia/Tokyo") == dt.datetime(
        2026, 11, 22, 15, 0, tzinfo=dt.UTC
    )


# --- Legal dates from real findings -------------------------------------------------------------


def legal(response) -> dict[tuple[dt.date, str], deadlines.Entry]:
    return {
        (e.date, e.jurisdiction): e
        for e in response.context["calendar"].entries
        if e.kind == deadlines.LEGAL
    }


def test_it_lists_the_application_dates_of_current_findings(assess, org, owner, owner_client):
    hiring = AISystemFactory(organisation=org, name="Hiring screener")
    other = AISystemFactory(organisation=org, name="Second screener")
    assessment = assess(hiring, owner)
    assess(other, owner)
    annex_iii = set(
        Finding.objects.filter(
            assessment=assessment, applies_from=dt.date(2027, 12, 2), jurisdiction="EU"
        ).values_list("obligation_code", flat=True)
    )
    assert "EU-AIA-ART14" in annex_iii

    with time_machine.travel(EVENING, tick=False):
        response = owner_client.get(url_of(org), {"from": "2022-01-01", "to": "2028-12-31"})

    dates = legal(response)
    entry = dates[(dt.date(2027, 12, 2), "EU")]
    assert entry.state == "upcoming"
    assert set(entry.obligations) == annex_iii
    assert [s.name for s in entry.systems] == ["Hiring screener", "Second screener"]
    assert entry.regulations == [("EU-AIA", "EU AI Act")]
    assert entry.gaps == 2 * len(annex_iii)  # nothing reviewed yet
    assert entry.instant == dt.datetime(2027, 12, 1, 23, 0, tzinfo=dt.UTC)
    html = entry_html(response, entry)
    assert "EU AI Act" in html
    assert f"{len(annex_iii)} obligations apply" in html
    assert "Applies from 2 Dec 2027 00:00 Europe/Brussels" in html
    # Japan's personal-information law has applied since 2022, from midnight in Tokyo.
    appi = dates[(dt.date(2022, 4, 1), "JP")]
    assert appi.state == "in_force"
    assert "JP-APPI-PURPOSE" in appi.obligations
    assert appi.zone == "Asia/Tokyo"
    assert "in force" in entry_html(response, appi)


def test_it_counts_only_each_active_systems_latest_assessment(assess, org, owner, owner_client):
    hiring = AISystemFactory(organisation=org, name="Hiring screener")
    retired = AISystemFactory(organisation=org, name="Retired screener")
    assess(hiring, owner)
    assess(hiring, owner)  # the first run is no longer current
    assess(retired, owner)
    system_archive(system=retired, actor=owner.user)

    response = owner_client.get(url_of(org), {"kind": "legal"})

    entry = legal(response)[(dt.date(2027, 12, 2), "EU")]
    assert [s.name for s in entry.systems] == ["Hiring screener"]
    assert entry.gaps == len(entry.obligations)


def test_it_shows_the_current_releases_milestones_for_the_organisations_jurisdictions(
    org, owner_client
):
    with time_machine.travel(EVENING, tick=False):
        response = owner_client.get(url_of(org))

    milestones = {
        e.milestone.code: e
        for e in response.context["calendar"].entries
        if e.kind == deadlines.MILESTONE
    }
    assert "EU-AIA-DATE-2027-12-02" in milestones  # 2026-amended's Annex III date
    assert milestones["EU-AIA-DATE-2027-12-02"].zone == "Europe/Brussels"
    assert "Catalogue milestone" in response.content.decode()

    org.jurisdictions = ["JP"]
    org.save()
    with time_machine.travel(EVENING, tick=False):
        response = owner_client.get(url_of(org), {"from": "2024-01-01"})
    codes = {e.milestone.code for e in response.context["calendar"].entries if e.milestone}
    assert "JP-AIPA-DATE-2025-09-01" in codes
    assert not any(code.startswith("EU-") for code in codes)


# --- Filters ------------------------------------------------------------------------------------


def test_it_shows_active_actions_of_active_systems_in_the_range(evening, org, owner, owner_client):
    system = AISystemFactory(organisation=org)
    archived = AISystemFactory(organisation=org)
    for status in ("open", "in_progress", "blocked", "done"):
        due(org, dt.date(2026, 12, 1), system=system, status=status, title=status)
    due(org, dt.date(2026, 12, 1), system=system, status="cancelled", cancel_reason="No")
    due(org, dt.date(2026, 12, 1), system=system, status="verified", verified_by=owner.user)
    due(org, dt.date(2026, 12, 1), system=archived, title="Archived")
    system_archive(system=archived, actor=owner.user)
    due(org, None, system=system, title="Undated")
    due(org, dt.date(2029, 1, 1), system=system, title="Beyond the range")

    response = owner_client.get(url_of(org), {"kind": "actions"})

    assert set(states(response)) == {"open", "in_progress", "blocked", "done"}
    filters = response.context["filters"]
    assert (filters.start, filters.end) == (dt.date(2026, 10, 22), dt.date(2028, 11, 20))


def test_it_filters_by_range_kind_and_system(evening, assess, org, owner, owner_client):
    org.auto_actions = False
    org.save()
    hiring = AISystemFactory(organisation=org, name="Hiring screener")
    chatbot = AISystemFactory(organisation=org, name="Chatbot")
    assess(hiring, owner)
    due(org, dt.date(2027, 1, 10), system=hiring, title="January")
    due(org, dt.date(2027, 3, 10), system=chatbot, title="March")

    response = owner_client.get(url_of(org), {"from": "2027-01-01", "to": "2027-02-28"})
    assert set(states(response)) == {"January"}
    assert [m.month for m in response.context["calendar"].months] == [dt.date(2027, 1, 1)]

    response = owner_client.get(url_of(org), {"kind": "actions"})
    kinds = {e.kind for e in response.context["calendar"].entries}
    assert kinds == {deadlines.ACTION}

    response = owner_client.get(url_of(org), {"kind": "legal"})
    kinds = {e.kind for e in response.context["calendar"].entries}
    assert kinds == {deadlines.LEGAL, deadlines.MILESTONE}

    response = owner_client.get(url_of(org), {"system": str(chatbot.code)})
    entries = response.context["calendar"].entries
    assert [e.action.title for e in entries] == ["March"]  # no legal date, no milestone

    response = owner_client.get(url_of(org), {"system": str(hiring.code), "kind": "all"})
    entries = response.context["calendar"].entries
    assert {e.kind for e in entries} == {deadlines.LEGAL, deadlines.ACTION}
    assert all(s == hiring for e in entries for s in e.systems)


def test_it_groups_entries_by_month_in_date_order(evening, org, owner_client):
    due(org, dt.date(2027, 2, 3), title="February")
    due(org, dt.date(2027, 1, 20), title="Late January")
    due(org, dt.date(2027, 1, 5), title="Early January")

    response = owner_client.get(url_of(org), {"kind": "actions"})

    months = response.context["calendar"].months
    assert [(m.month, [e.action.title for e in m.entries]) for m in months] == [
        (dt.date(2027, 1, 1), ["Early January", "Late January"]),
        (dt.date(2027, 2, 1), ["February"]),
    ]
    html = response.content.decode()
    assert html.index("January 2027") < html.index("February 2027")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-13-01"}, "“2026-13-01” is not a date like 2026-08-02"),
        ({"to": "next week"}, "“next week” is not a date like 2026-08-02"),
        ({"from": "20270101"}, "“20270101” is not a date like 2026-08-02"),
        ({"to": "9999-12-31"}, "“9999-12-31” is not a date like 2026-08-02"),
        ({"from": "2027-06-01", "to": "2027-01-01"}, "The start date comes after the end date"),
        ({"from": "2000-01-01", "to": "2030-01-01"}, "Choose a range of at most ten years"),
        ({"kind": "holidays"}, "Show legal dates, actions or all; showing all."),
        ({"system": "not-a-system"}, "There is no such active system"),
        ({"zones": "mars"}, "Unknown time-zone choice"),
    ],
)
def test_it_explains_input_it_cannot_use_and_shows_the_defaults(
    evening, org, owner_client, params, message
):
    due(org, dt.date(2026, 12, 1), title="Shown anyway")

    response = owner_client.get(url_of(org), params)

    assert response.status_code == 200
    assert message in response.content.decode()
    filters = response.context["filters"]
    assert (filters.start, filters.end) == (dt.date(2026, 10, 22), dt.date(2028, 11, 20))
    assert (filters.kind, filters.system, filters.both_zones) == ("all", None, False)
    assert "Shown anyway" in states(response)


def test_it_does_not_filter_by_another_organisations_system(evening, org, owner_client, outsider):
    theirs = AISystemFactory(organisation=outsider.organisation)
    due(outsider.organisation, dt.date(2026, 12, 1), system=theirs, title="Theirs")
    due(org, dt.date(2026, 12, 1), title="Ours")

    response = owner_client.get(url_of(org), {"system": str(theirs.code)})

    assert "There is no such active system" in response.content.decode()
    assert set(states(response)) == {"Ours"}


def test_it_points_to_overdue_actions_before_the_range(evening, org, owner_client):
    due(org, dt.date(2026, 8, 1), title="Long overdue")
    due(org, dt.date(2026, 9, 1), title="Overdue too")
    due(org, dt.date(2026, 7, 1), status="verified", verified_by=UserFactory(), title="Closed")

    response = owner_client.get(url_of(org))

    calendar = response.context["calendar"]
    assert states(response) == {}
    assert (calendar.overdue_before, calendar.overdue_since) == (2, dt.date(2026, 8, 1))
    html = response.content.decode()
    assert "2 overdue actions fell due before this range, the first on 1 Aug 2026." in html
    assert "from=2026-08-01" in html

    response = owner_client.get(url_of(org), {"from": "2026-08-01"})
    assert states(response) == {"Long overdue": "overdue", "Overdue too": "overdue"}
    assert response.context["calendar"].overdue_before == 0


# --- Queries and access -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 6])
def test_it_reads_the_calendar_in_a_fixed_number_of_queries(
    n, assess, org, owner, owner_client, django_assert_num_queries
):
    for i in range(n):
        system = AISystemFactory(organisation=org, name=f"Screener {i}")
        assess(system, owner)
        due(org, timezone.localdate() + dt.timedelta(days=i + 1), system=system)
        due(org, timezone.localdate() - dt.timedelta(days=i + 1), system=system)
    owner_client.get(url_of(org))  # the session settles on this organisation

    # session, user, membership; systems; legal dates, their regulations; milestones; actions;
    # overdue actions before the range; the menu's organisations and unread notifications
    with django_assert_num_queries(11):
        response = owner_client.get(url_of(org), {"from": "2022-01-01", "zones": "both"})

    calendar = response.context["calendar"]
    assert sum(1 for e in calendar.entries if e.kind == deadlines.ACTION) >= 2 * n
    assert len(legal(response)[(dt.date(2027, 12, 2), "EU")].systems) == n


def test_it_hides_the_calendar_from_an_outsider(org, outsider_client):
    due(org, dt.date(2026, 12, 1))
    assert outsider_client.get(url_of(org)).status_code == 404
    assert outsider_client.get(url_of(org), {"format": "ics"}).status_code == 404


def test_it_shows_a_viewer_the_calendar(evening, org):
    viewer = MembershipFactory(organisation=org, role=Role.VIEWER)
    due(org, dt.date(2026, 12, 1), title="Visible")
    response = client_for(viewer).get(url_of(org))
    assert set(states(response)) == {"Visible"}


def test_it_refuses_to_change_anything(org, owner_client):
    assert owner_client.post(url_of(org)).status_code == 405


# --- iCalendar ----------------------------------------------------------------------------------


def unfold(text: str) -> str:
    return text.replace("\r\n ", "")


def test_it_exports_the_entries_as_all_day_events(evening, org, owner_client):
    action = due(org, dt.date(2026, 12, 1), title="Review logs; report, then sign\\off")

    response = owner_client.get(url_of(org), {"format": "ics"})
    again = owner_client.get(url_of(org), {"format": "ics"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert 'filename="deadlines.ics"' in response["Content-Disposition"]
    text = response.content.decode()
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    events = unfold(text).split("BEGIN:VEVENT")[1:]
    (event,) = [e for e in events if f"UID:action-{action.code}@kakehashi" in e]
    assert "DTSTART;VALUE=DATE:20261201\r\n" in event
    assert "DTEND;VALUE=DATE:20261202\r\n" in event
    assert "SUMMARY:Due: Review logs\\; report\\, then sign\\\\off\r\n" in event
    # Milestones of the catalogue come along; UIDs stay the same from one export to the next.
    assert "UID:milestone-EU-AIA-DATE-2027-12-02" in text
    uids = re.findall(r"UID:(\S+)", unfold(text))
    assert uids == re.findall(r"UID:(\S+)", unfold(again.content.decode()))
    assert len(uids) == len(set(uids))


def test_it_refuses_an_export_with_input_it_cannot_use(org, owner_client):
    response = owner_client.get(url_of(org), {"format": "ics", "from": "soon"})
    assert response.status_code == 400
    assert "“soon” is not a date like 2026-08-02" in response.content.decode()
