"""Every organisation page, found from the URL configuration, is a 404 for an outsider.

A new page under /o/<org_code>/ is covered without editing this file; a page with a new kind of
object code must add a way to make one to OBJECT_CODES, or the test fails and says so.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from governance.models import AuditEvent, Invitation, Membership

from ..conftest import client_for
from ..factories import (
    ActionEvidenceFactory,
    AISystemFactory,
    AssessmentBatchFactory,
    EvidenceFactory,
    InvitationFactory,
    MembershipFactory,
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


ROUTES = org_routes()
OBJECT_ROUTES = [
    (n, r) for n, r in ROUTES if set(re.findall(r"<(?:\w+:)?(\w+)>", r)) != {"org_code"}
]


def object_codes(org) -> dict[str, str]:
    """One object of each kind inside `org`, by URL keyword."""
    evidence = EvidenceFactory(finding__assessment__system__organisation=org)
    attachment = ActionEvidenceFactory(action__system__organisation=org)
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
