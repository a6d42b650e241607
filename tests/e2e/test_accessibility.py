"""axe-core on every main page, in English and in Japanese, with data and without.

Each test sets its data up once and visits all its pages, collecting every serious or critical
violation before failing once with the list (rule, page, target), so one run names them all.
"""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse

from assessments import actions as action_services
from assessments import services
from assessments.models import Finding, RemediationAction
from governance import apikeys
from governance.catalogue.store import write
from governance.models import CatalogueRelease, Role
from governance.registry import system_create
from tests.factories import (
    HIRING_TOOL_ANSWERS,
    JAPAN_CHATBOT_ANSWERS,
    PASSWORD,
    InvitationFactory,
    MembershipFactory,
    OrganisationFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
)

from .conftest import log_in

pytestmark = [pytest.mark.timeout(1200)]

SERIOUS = {"serious", "critical"}
ADMIN_EMAIL = "admin@acme.example"


def _organisation(*, with_data: bool):
    org = OrganisationFactory(name="Acme Robotics", time_zone="Europe/Brussels")
    admin = MembershipFactory(
        organisation=org, role=Role.ADMIN, user__email=ADMIN_EMAIL, user__full_name="Ada Admin"
    )
    if not with_data:
        return org, {}
    officer = MembershipFactory(
        organisation=org, role=Role.COMPLIANCE_OFFICER, user__full_name="Oda Officer"
    )
    MembershipFactory(organisation=org, role=Role.CONTRIBUTOR)
    MembershipFactory(organisation=org, role=Role.VIEWER)
    InvitationFactory(organisation=org, email="invitee@acme.example")
    hiring = system_create(
        org=org,
        actor=admin.user,
        answers=HIRING_TOOL_ANSWERS,
        name="Hiring screener",
        description="Ranks job applications.",
        owner=admin.user,
    )
    chatbot = system_create(
        org=org, actor=admin.user, answers=JAPAN_CHATBOT_ANSWERS, name="Support chatbot"
    )
    # Live-server tests commit as they go, so the run is queued and (eagerly) run at once;
    # it writes findings, opens actions for the gaps and notifies.
    assessment, _created = services.assessment_start(system=hiring, actor=admin.user)
    services.assessment_start(system=chatbot, actor=admin.user)
    assessment.refresh_from_db()
    finding = Finding.objects.filter(assessment=assessment).order_by("obligation_code").first()
    services.evidence_add(
        finding=finding, actor=admin, title="Risk register", url="https://docs.example.com/r"
    )
    action = RemediationAction.objects.filter(system=hiring).order_by("pk").first()
    if action is None:
        action = action_services.action_create(
            org=org, actor=admin, title="Write the risk register", findings=[finding]
        )
    action_services.comment_add(
        action=action, actor=officer, body=f"@{ADMIN_EMAIL} please attach the register."
    )
    action_services.evidence_add_link(
        action=action, actor=admin, url="https://docs.example.com/plan", title="Plan"
    )
    apikeys.api_key_create(actor=admin, name="CI export", scope="read")
    WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organisation=org))
    return org, {"system": hiring, "assessment": assessment, "finding": finding, "action": action}


def _pages(org, objects) -> list[tuple[str, str]]:
    """(name, path) of the pages to check."""
    o = {"org_code": org.code}
    pages = [
        ("dashboard", reverse("dashboard", kwargs=o)),
        ("overview", reverse("org_dashboard", kwargs=o)),
        ("systems", reverse("system_list", kwargs=o)),
        ("system new", reverse("system_create", kwargs=o)),
        ("assessments", reverse("assessment_list", kwargs=o)),
        ("findings", reverse("finding_list", kwargs=o)),
        ("actions", reverse("action_list", kwargs=o)),
        ("action new", reverse("action_create", kwargs=o)),
        ("deadlines", reverse("deadlines", kwargs=o)),
        ("releases", reverse("impact_list", kwargs=o)),
        ("members", reverse("member_list", kwargs=o)),
        ("settings general", reverse("org_settings", kwargs=o)),
        ("api keys", reverse("api_key_list", kwargs=o)),
        ("webhooks", reverse("webhook_list", kwargs=o)),
        ("ticketing", reverse("ticketing_settings", kwargs=o)),
        ("audit trail", reverse("audit_log", kwargs=o)),
        ("notifications", reverse("notification_list", kwargs=o)),
        ("profile", reverse("profile")),
    ]
    if objects:
        release = CatalogueRelease.objects.get(is_current=True)
        system, assessment = objects["system"], objects["assessment"]
        pages += [
            ("system detail", reverse("system_detail", kwargs={**o, "system_code": system.code})),
            (
                "system history",
                reverse("system_history", kwargs={**o, "system_code": system.code}),
            ),
            (
                "assessment detail",
                reverse("assessment_detail", kwargs={**o, "assessment_code": assessment.code}),
            ),
            (
                "finding detail",
                reverse("finding_detail", kwargs={**o, "finding_code": objects["finding"].code}),
            ),
            (
                "action detail",
                reverse("action_detail", kwargs={**o, "action_code": objects["action"].code}),
            ),
            (
                "release impact",
                reverse("release_impact", kwargs={**o, "release_code": release.code}),
            ),
            ("catalogue", reverse("catalogue_index")),
            ("catalogue obligations", reverse("catalogue_obligations")),
            ("catalogue obligation", reverse("catalogue_obligation", args=["EU-AIA-ART9"])),
            ("catalogue crosswalk", reverse("catalogue_crosswalk")),
            ("catalogue timeline", reverse("catalogue_timeline")),
        ]
    return pages


def _violations(page, name: str) -> list[str]:
    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] not in SERIOUS:
            continue
        for node in violation["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            found.append(f"{violation['id']} ({violation['impact']}) on {name}: {target}")
    return found


def _check_pages(page, pages, language: str) -> list[str]:
    found = []
    for name, path in pages:
        response = page.goto(path)
        if response is None or response.status != 200:
            found.append(f"{name} ({language}): HTTP {response and response.status} at {path}")
            continue
        assert page.locator("html").get_attribute("lang").startswith(language[:2]), name
        found += _violations(page, f"{name} ({language})")
    return found


def _switch_language(page, language: str) -> None:
    page.locator("#language-select").select_option(language)
    with page.expect_navigation():
        page.locator("form.language-switch button[type=submit]").click()


def _skip_link_problems(page) -> list[str]:
    page.keyboard.press("Tab")
    first = page.evaluate("document.activeElement.className")
    if "skip-link" not in first.split():
        return [f"the first Tab stop is {first!r}, not the skip link"]
    page.keyboard.press("Enter")
    focused = page.evaluate("document.activeElement.id")
    if focused != "main":
        return [f"the skip link leaves focus on {focused or 'the body'!r}, not on #main"]
    return []


def _run(new_page, catalogue_files, *, with_data: bool) -> list[str]:
    write(catalogue_files)  # committed: the live server reads it from another connection
    org, objects = _organisation(with_data=with_data)
    pages = _pages(org, objects)
    page = new_page()
    found = []
    page.goto(reverse("login"))
    found += _violations(page, "login (en)")
    log_in(page, ADMIN_EMAIL, PASSWORD)
    found += _check_pages(page, pages, "en")
    _switch_language(page, "ja")
    found += _check_pages(page, pages, "ja")
    # Logged out, the login page in Japanese too.
    japanese = new_page(language="ja")
    japanese.goto(reverse("login"))
    _switch_language(japanese, "ja")
    found += _violations(japanese, "login (ja)")
    return found


def test_it_finds_no_serious_violation_on_the_main_pages(
    transactional_db, new_page, compiled_messages, _catalogue_files
):
    found = _run(new_page, _catalogue_files, with_data=True)
    assert not found, "\n".join(["serious or critical accessibility problems:", *found])


def test_it_finds_no_serious_violation_on_the_empty_pages_of_a_new_organisation(
    transactional_db, new_page, compiled_messages, _catalogue_files
):
    found = _run(new_page, _catalogue_files, with_data=False)
    assert not found, "\n".join(["serious or critical accessibility problems:", *found])


def test_it_reaches_the_skip_link_first_on_an_organisation_page(
    transactional_db, new_page, _catalogue_files
):
    write(_catalogue_files)
    org, _objects = _organisation(with_data=False)
    page = new_page()
    log_in(page, ADMIN_EMAIL, PASSWORD)
    page.goto(reverse("system_list", kwargs={"org_code": org.code}))
    assert _skip_link_problems(page) == []
    # Tab from #main lands inside the page's content, not back in the navigation.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")
    assert re.search(r"#main$", page.url)
