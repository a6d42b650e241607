"""Every API endpoint under an organisation, found from the URL configuration, is a 404 for
another organisation's API key, whatever the method, and writes nothing.

Object codes come from tests/governance/test_isolation.py (`object_codes`): a new kind of code
must be added there, or both matrices fail and say so.
"""

import pytest

from governance.models import AuditEvent

from ..governance.test_isolation import fill, keywords, object_codes, org_routes
from .conftest import api

API_ROUTES = [(n, r) for n, r in org_routes() if r.startswith("api/")]
OBJECT_API_ROUTES = [(n, r) for n, r in API_ROUTES if keywords(r) != {"org_code"}]
METHODS = ["get", "post", "put", "patch", "delete"]


@pytest.fixture(autouse=True)
def _catalogue(real_catalogue):
    """Systems need a catalogue release."""


def test_it_finds_the_api_endpoints():
    names = {n for n, _ in API_ROUTES}
    assert {"api_assessment", "api_assessment_create"} <= names


@pytest.mark.parametrize(("name", "route"), API_ROUTES, ids=[n for n, _ in API_ROUTES])
def test_it_hides_every_endpoint_from_another_organisations_key(
    name, route, org, write_key, outsider_key
):
    url = fill(route, object_codes(org))
    before = AuditEvent.objects.count()
    for method in METHODS:
        response = getattr(api(outsider_key), method)(url, {}, format="json")
        if response.status_code == 405:
            # Refused before any lookup, for the organisation's own key alike: reveals nothing.
            assert getattr(api(write_key), method)(url, {}, format="json").status_code == 405
            continue
        assert response.status_code == 404, (method, url, response.status_code)
        assert response["Content-Type"] == "application/problem+json"
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(
    ("name", "route"), OBJECT_API_ROUTES, ids=[n for n, _ in OBJECT_API_ROUTES]
)
def test_it_does_not_reach_another_organisations_objects_with_ones_own_key(
    name, route, org, other_org, outsider_key
):
    """The outsider's own organisation code with this organisation's object codes."""
    codes = object_codes(org) | {"org_code": str(other_org.code)}
    url = fill(route, codes)
    before = AuditEvent.objects.count()
    statuses = {
        getattr(api(outsider_key), method)(url, {}, format="json").status_code for method in METHODS
    }
    assert 404 in statuses, (url, statuses)
    assert statuses <= {404, 405}, (url, statuses)
    assert AuditEvent.objects.count() == before
