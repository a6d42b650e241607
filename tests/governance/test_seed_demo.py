"""The demo data `make run` creates."""

import pytest
from django.core.management import CommandError, call_command

from assessments.models import Assessment
from governance.models import AISystem, Membership, Role


def test_it_seeds_a_demo_organisation_with_assessed_systems_once(
    real_catalogue, settings, django_capture_on_commit_callbacks
):
    settings.DEBUG = True
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)  # idempotent
    systems = AISystem.objects.order_by("name")
    assert [s.name for s in systems] == ["Customer support chatbot", "Hiring screener"]
    assert {a.system.name: a.eu_tier for a in Assessment.objects.all()} == {
        "Hiring screener": "high_risk",
        "Customer support chatbot": "not_in_scope",
    }
    officer = Membership.objects.get(user__email="officer@kakehashi.example")
    assert officer.role == Role.COMPLIANCE_OFFICER
    assert officer.organisation == systems[0].organisation


def test_it_refuses_to_seed_without_debug(settings, db):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("seed_demo")
