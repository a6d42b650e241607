import pytest

from assessments import services
from assessments.models import Assessment


@pytest.fixture
def assess(django_capture_on_commit_callbacks):
    """Start an assessment of `system` as `actor`, run it (eagerly, on commit), and return it
    re-read."""

    def run(system, actor) -> Assessment:
        with django_capture_on_commit_callbacks(execute=True):
            assessment, created = services.assessment_start(system=system, actor=actor.user)
        assert created
        assessment.refresh_from_db()
        return assessment

    return run
