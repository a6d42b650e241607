"""schemathesis against the committed OpenAPI schema: every operation, generated inputs, an
organisation with real objects. No response may be a server error or disagree with the schema
(status code, content type, headers, body).

Path parameters are pointed at real objects of the organisation (generated UUIDs would only
ever meet 404s), so PATCH, PUT and DELETE run on live rows. The number of examples per operation
is kept small for CI (FUZZ_EXAMPLES raises it for a longer local run). The last test checks that
every operation of the schema was exercised, so an operation schemathesis could not read (and
silently left out) fails the run. The stateful run is tests/security/test_stateful_api.py.
"""

import os
from pathlib import Path

import pytest
import schemathesis
import yaml
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from governance.models import ApiScope

from ..factories import (
    ActionEvidenceFactory,
    AISystemFactory,
    AssessmentFactory,
    FindingFactory,
    RemediationActionFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
)
from .conftest import make_key

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_path(SCHEMA)
schema.app = get_wsgi_application()
EXERCISED: set[str] = set()  # labels ("GET /api/v1/…") of the operations called in this run


@pytest.fixture
def world(real_catalogue, owner, settings, keep_connection) -> dict:
    """An organisation with one of each object, and a write key."""
    settings.ALLOWED_HOSTS = ["*"]
    org = owner.organisation
    system = AISystemFactory(organisation=org, owner=owner.user)
    assessment = AssessmentFactory(system=system)
    finding = FindingFactory(assessment=assessment)
    action = RemediationActionFactory(system=system, findings=[finding])
    attachment = ActionEvidenceFactory(action=action, url="https://example.com/evidence")
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organisation=org))
    codes = {
        "org_code": str(org.code),
        "system_code": str(system.code),
        "assessment_code": str(assessment.code),
        "finding_code": str(finding.code),
        "action_code": str(action.code),
        "attachment_code": str(attachment.code),
        "webhook_code": str(delivery.endpoint.code),
        "delivery_code": str(delivery.code),
        "code": finding.obligation.code,
    }
    return {"codes": codes, "token": make_key(owner, ApiScope.WRITE, name="fuzz")}


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_it_never_fails_or_breaks_its_schema(case, world):
    for name in case.path_parameters or {}:
        if name in world["codes"]:
            case.path_parameters[name] = world["codes"][name]
    case.headers = case.headers or {}
    case.headers["Authorization"] = f"Bearer {world['token']}"
    case.call_and_validate(checks=CHECKS)
    EXERCISED.add(case.operation.label)


def test_it_exercised_every_operation_of_the_schema(request):
    fuzzed = [
        item
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_it_never_fails_or_breaks_its_schema"
    ]
    document = yaml.safe_load(SCHEMA.read_text())
    methods = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
    in_schema = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in methods
    }
    if len(fuzzed) < len(in_schema):
        pytest.skip("only some operations were selected for this run")
    assert len(in_schema) >= 49
    assert in_schema == EXERCISED, sorted(in_schema ^ EXERCISED)
