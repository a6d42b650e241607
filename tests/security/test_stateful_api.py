"""schemathesis's stateful run: sequences of calls that follow the schema's OpenAPI links
(governance/api/schema.py adds them; schemathesis infers more from parameter names) — register a
system, assess it, read its findings, open an action on one, comment on it, attach evidence,
open a ticket, and change or remove what was made. Which chains a run takes is Hypothesis's
choice; the test checks that it followed links at all (2xx answers on paths whose codes only an
earlier response could have given). No response may be a server error or
disagree with the schema.

The worker's part is played inline: when an assessment is accepted (202) it is run at once, so
the findings the next step reads exist. Generated bodies keep their shape, but two values are
put right so chains get past their steps: a registration's answers (the questionnaire is tested
on its own in test_bad_questionnaire.py), the findings a new action closes, an evidence link and a
comment's text (each has bad-input tests of its own).
STATEFUL_EXAMPLES raises the number of scenarios for a longer local run.
"""

import os
import uuid
from pathlib import Path

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings

from assessments.models import Assessment
from assessments.tasks import run_assessment
from governance.models import ApiScope

from ..api.conftest import make_key
from ..api.test_fuzz import CHECKS
from ..factories import HIRING_TOOL_ANSWERS, AISystemFactory, AssessmentFactory, FindingFactory

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"
EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "20"))

schema = schemathesis.openapi.from_path(SCHEMA)
schema.app = get_wsgi_application()

# Made by a root step; a path with one of these codes answers 2xx only when the code came from an
# earlier response, through a link (a generated UUID meets a 404).
ROOTS = [("POST", "/api/v1/orgs/{org_code}/systems/", 201)]
LINKED = ("{system_code}", "{assessment_code}", "{action_code}", "{finding_code}")


@pytest.fixture
def world(real_catalogue, owner, settings, keep_connection) -> dict:
    settings.ALLOWED_HOSTS = ["*"]
    org = owner.organisation
    finding = FindingFactory(assessment=AssessmentFactory(system=AISystemFactory(organisation=org)))
    return {
        "org_code": str(org.code),
        "finding_code": str(finding.code),
        "token": make_key(owner, ApiScope.WRITE, name="stateful"),
        "seen": [],
    }


def test_it_follows_the_links_without_failing_or_breaking_its_schema(world):
    class Workflow(schema.as_state_machine()):
        # Each scenario starts from the same rows: Hypothesis replays scenarios while it
        # shrinks, and a replay that met the previous scenario's rows would run differently.
        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def before_call(self, case):
            if "org_code" in (case.path_parameters or {}):
                case.path_parameters["org_code"] = world["org_code"]
            if isinstance(case.body, dict):
                if case.operation.path == "/api/v1/orgs/{org_code}/systems/":
                    case.body["answers"] = dict(HIRING_TOOL_ANSWERS)
                if case.operation.path == "/api/v1/orgs/{org_code}/actions/":
                    case.body["findings"] = [world["finding_code"]]
                if case.operation.path.endswith("/evidence/"):
                    case.body.update(title="Plan", url=f"https://evidence.example/{uuid.uuid4()}")
                if case.operation.path.endswith("/comments/"):
                    case.body["body"] = "Looked at it."

        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Bearer {world['token']}"}}

        def after_call(self, response, case):
            world["seen"].append((case.operation.method.upper(), case.operation.path,
                                  response.status_code))  # fmt: skip
            if response.status_code == 202 and case.operation.path.endswith("/assessments/"):
                # The worker's turn: run the queued assessment now, as the worker would.
                assessment = Assessment.objects.get(code=response.json()["code"])
                run_assessment.apply(args=[assessment.pk])

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

    Workflow.run(
        settings=hypothesis_settings(
            max_examples=EXAMPLES,
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )

    seen = set(world["seen"])
    calls = "\n".join(f"{m} {p} {s}" for m, p, s in sorted(seen))
    assert all(step in seen for step in ROOTS), calls
    linked = {(m, p) for m, p, s in seen if s < 300 and any(code in p for code in LINKED)}
    assert len(linked) >= 3, calls
