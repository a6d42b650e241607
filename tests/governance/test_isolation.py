"""Every organisation page, found from the URL configuration, is a 404 for an outsider.

A new page under /o/<org_code>/ is covered without editing this file; a page with a new kind of
object code must add a way to make one to OBJECT_CODES, or the test fails and says so.

A few URL keywords name global objects rather than an organisation's (GLOBAL_KEYS: a catalogue
release belongs to everyone). Through one's own organisation such a page answers; what it must
never do is show another organisation's data, which a test of its own checks.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from assessments.models import ExternalTicket, SystemImpact
from governance.models import AuditEvent, CatalogueRelease, Invitation, Membership

from ..conftest import client_for
from ..factories import (
    ActionEvidenceFactory,
    AISystemFactory,
    ApiKeyFactory,
    AssessmentBatchFactory,
    AssessmentFactory,
    EvidenceFactory,
    InvitationFactory,
    MembershipFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
)


@pytest.fixture(autouse=True)
def _catalogue(real_catalogue):
    """Systems (and their pages) need a catalogue release."""


def org_routes() -> list[tuple[str, str]]:
    """(url name, route) of every pattern below an organisation code."""
    found = []

    def walk(patterns, prefix=""):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and "<uuid:org_code>" in route:
                found.append((p.name, route))

    walk(get_resolver().url_patterns)
    return found


def keywords(route: str) -> set[str]:
    return set(re.findall(r"<(?:\w+:)?(\w+)>", route))


# Keywords of objects that belong to no organisation.
GLOBAL_KEYS = {"release_code"}
# Keywords that name no object, only a kind (the ticketing system of a settings page).
KIND_KEYS = {"system"}
ROUTES = org_routes()
# Pages reached through some organisation's object: another organisation's is a 404.
OBJECT_ROUTES = [(n, r) for n, r in ROUTES if keywords(r) - {"org_code"} - GLOBAL_KEYS - KIND_KEYS]
# Pages of a global object, seen through one's own organisation.
GLOBAL_ROUTES = [
    (n, r)
    for n, r in ROUTES
    if keywords(r) & GLOBAL_KEYS and keywords(r) <= GLOBAL_KEYS | {"org_code"}
]


def object_codes(org) -> dict[str, str]:
    """One object of each kind inside `org`, by URL keyword."""
    evidence = EvidenceFactory(finding__assessment__system__organisation=org)
    attachment = ActionEvidenceFactory(action__system__organisation=org)
    webhook = WebhookEndpointFactory(organisation=org)
    return {
        "org_code": str(org.code),
        "member_code": str(MembershipFactory(organisation=org).code),
        "invitation_code": str(InvitationFactory(organisation=org).code),
        "system_code": str(AISystemFactory(organisation=org).code),
        "assessment_code": str(evidence.finding.assessment.code),
        "finding_code": str(evidence.finding.code),
        "evidence_code": str(evidence.code),
        "batch_code": str(AssessmentBatchFactory(organisation=org).code),
        "action_code": str(attachment.action.code),
        "attachment_code": str(attachment.code),
        "key_code": str(ApiKeyFactory(organisation=org).code),
        "ticket_code": str(
            ExternalTicket.objects.create(
                organisation=org,
                action=attachment.action,
                system="github",
                external_key="#1",
                sync_state="manual",
                needs_sync=False,
            ).code
        ),
        "webhook_code": str(webhook.code),
        "delivery_code": str(WebhookDeliveryFactory(endpoint=webhook).code),
        "system": "jira",
        "release_code": CatalogueRelease.objects.get(is_current=True).code,
    }


def fill(route: str, codes: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        assert name in codes, f"no way to make an object for <{name}> in {route}"
        return codes[name]

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)


def test_it_finds_the_organisation_pages():
    names = {name for name, _ in ROUTES}
    assert {"org_dashboard", "member_list", "member_role", "audit_log"} <= names


@pytest.mark.parametrize(("name", "route"), ROUTES, ids=[n for n, _ in ROUTES])
@pytest.mark.parametrize("method", ["get", "post"])
def test_it_hides_every_organisation_page_from_an_outsider(
    name, route, method, org, owner, outsider_client
):
    url = fill(route, object_codes(org))
    before = (Membership.objects.count(), Invitation.objects.count(), AuditEvent.objects.count())
    data = {"role": "admin", "email": "x@example.com"}
    response = getattr(outsider_client, method)(url, data)
    if response.status_code == 405:
        # A wrong method is refused before any lookup, for members alike: it reveals nothing.
        assert getattr(client_for(owner), method)(url, data).status_code == 405
    else:
        assert response.status_code == 404, url
    after = (Membership.objects.count(), Invitation.objects.count(), AuditEvent.objects.count())
    assert after == before


@pytest.mark.parametrize(("name", "route"), OBJECT_ROUTES, ids=[n for n, _ in OBJECT_ROUTES])
def test_it_does_not_reach_another_organisations_objects_through_ones_own(
    name, route, org, owner_client, other_org
):
    """The owner's own organisation code with the outsider organisation's object codes."""
    codes = object_codes(other_org) | {"org_code": str(org.code)}
    url = fill(route, codes)
    # Each page answers the methods it takes with 404; the others are refused before any lookup.
    statuses = {
        owner_client.get(url).status_code,
        owner_client.post(url, {"role": "viewer"}).status_code,
    }
    assert 404 in statuses
    assert statuses <= {404, 405}


def test_it_finds_the_pages_of_global_objects():
    assert "release_impact" in {name for name, _ in GLOBAL_ROUTES}
    assert "release_impact" not in {name for name, _ in OBJECT_ROUTES}


@pytest.mark.parametrize(("name", "route"), GLOBAL_ROUTES, ids=[n for n, _ in GLOBAL_ROUTES])
def test_it_shows_none_of_another_organisations_data_on_a_global_objects_page(
    name, route, org, owner_client, other_org
):
    """A release's impact exists for both organisations; each sees only its own systems."""
    release = CatalogueRelease.objects.get(is_current=True)
    for organisation, system_name in ((org, "Our screener"), (other_org, "Their screener")):
        assessment = AssessmentFactory(
            system=AISystemFactory(organisation=organisation, name=system_name)
        )
        SystemImpact.objects.create(
            organisation=organisation,
            release=release,
            system=assessment.system,
            assessment=assessment,
            tier_before="high_risk",
            tier_after="limited",
        )
    theirs = object_codes(other_org)

    response = owner_client.get(fill(route, theirs | {"org_code": str(org.code)}))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Our screener" in html
    assert "Their screener" not in html
    assert theirs["system_code"] not in html


@pytest.mark.parametrize(("name", "route"), ROUTES, ids=[n for n, _ in ROUTES])
def test_it_sends_anonymous_visitors_to_log_in(name, route, client, org):
    response = client.get(fill(route, object_codes(org)))
    if route.startswith("api/"):
        # The API does not redirect: it refuses with a JSON error.
        assert response.status_code in (401, 403)
        assert "detail" in response.json()
        return
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_gives_404_for_an_unknown_organisation_code(owner_client):
    assert owner_client.get("/o/00000000-0000-0000-0000-000000000000/").status_code == 404
