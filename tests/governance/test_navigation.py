"""The navigation follows a compliance team's day, marks where the reader is, and gives every
organisation page a place."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from governance.models import Role
from governance.navigation import SECTION_OF, TABS

from ..conftest import client_for
from ..factories import MembershipFactory

# Organisation URLs that are not pages a person navigates to: downloads, JSON polled by
# scripts, POST-only endpoints and the notification list (reached from the header).
NOT_PAGES = {
    "assessment_status", "batch_status", "assessment_start", "assessment_report_pdf",
    "assessment_findings_export", "posture_report_pdf", "system_export", "action_export",
    "finding_export",
    "action_evidence_download", "notification_list", "notification_read",
}  # fmt: skip

DAY = ["Dashboard", "Systems", "Assessments", "Findings", "Remediation", "Deadlines"]


def org_url_names() -> set[str]:
    names = set()

    def walk(resolver, prefix=""):
        for pattern in resolver.url_patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern, route)
            elif (
                isinstance(pattern, URLPattern)
                and "<uuid:org_code>" in route
                and not route.startswith("api/")
            ):
                names.add(pattern.name)

    walk(get_resolver())
    return names


def nav_labels(html: str) -> list[str]:
    block = re.search(r'<nav class="orgnav".*?</nav>', html, re.S).group(0)
    return [re.sub(r"<[^>]+>", "", a).strip() for a in re.findall(r"<a [^>]*>.*?</a>", block)]


def current(html: str, nav_class: str) -> list[str]:
    block = re.search(rf'<nav class="{nav_class}".*?</nav>', html, re.S).group(0)
    return re.findall(r'<a [^>]*aria-current="page"[^>]*>([^<]+)</a>', block)


def test_it_gives_every_organisation_page_a_place_in_the_navigation():
    missing = sorted(org_url_names() - NOT_PAGES - set(SECTION_OF))
    assert not missing, f"add these pages to governance/navigation.py SECTIONS: {missing}"
    assert set(TABS) <= set(SECTION_OF)


def test_it_orders_the_navigation_as_a_compliance_day(owner_client, org):
    html = owner_client.get(f"/o/{org.code}/dashboard/").content.decode()
    labels = nav_labels(html)
    assert labels[: len(DAY)] == DAY
    assert labels[-2:] == ["Catalogue", "Settings"]
    assert current(html, "orgnav") == ["Dashboard"]


@pytest.mark.parametrize(
    ("path", "section"),
    [
        ("systems/", "Systems"),
        ("assessments/", "Assessments"),
        ("findings/", "Findings"),
        ("actions/", "Remediation"),
        ("deadlines/", "Deadlines"),
        ("releases/", "Releases"),
        ("members/", "Settings"),
        ("settings/webhooks/", "Settings"),
    ],
)
def test_it_marks_the_current_section(owner_client, org, path, section):
    html = owner_client.get(f"/o/{org.code}/{path}").content.decode()
    assert current(html, "orgnav") == [section]


def test_it_shows_admins_every_settings_tab_and_marks_the_current_one(owner_client, org):
    html = owner_client.get(f"/o/{org.code}/settings/webhooks/").content.decode()
    assert current(html, "subnav") == ["Webhooks"]
    for tab in ["Overview", "General", "Members", "API keys", "Jira and ServiceNow", "Audit trail"]:
        assert f">{tab}</a>" in html


def test_it_shows_other_members_only_the_settings_they_may_open(org):
    viewer = MembershipFactory(organisation=org, role=Role.VIEWER)
    html = client_for(viewer).get(f"/o/{org.code}/members/").content.decode()
    assert current(html, "subnav") == ["Members"]
    assert ">Overview</a>" in html
    for tab in ["General", "API keys", "Webhooks", "Audit trail"]:
        assert f">{tab}</a>" not in html


def test_it_keeps_the_organisation_navigation_in_the_catalogue(owner, owner_client, org, other_org):
    MembershipFactory(organisation=other_org, user=owner.user)
    owner_client.get(f"/o/{org.code}/dashboard/")  # the organisation used last
    html = owner_client.get("/catalogue/").content.decode()
    assert current(html, "orgnav") == ["Catalogue"]
    assert f"/o/{org.code}/systems/" in html
    assert f"/o/{other_org.code}/systems/" not in html


def test_it_sends_people_to_the_dashboard_of_the_organisation_they_used_last(owner_client, org):
    response = owner_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.code}/dashboard/"
