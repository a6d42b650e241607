"""Assessments through real Celery worker processes on Redis and PostgreSQL: the whole flow
from the page to completed findings, and a worker killed half-way through writing them."""

import datetime as dt

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from assessments import services
from assessments.engine import evaluate
from assessments.models import Assessment, Finding
from assessments.releases import compiled
from governance import rls
from governance.models import AISystem, AuditEvent

from ..conftest import client_for
from ..factories import AISystemFactory
from ..worker import new_queue, start_worker, stop_worker, tasks_sent_to, wait_for

pytestmark = pytest.mark.worker


def completed(assessment: Assessment):
    assessment.refresh_from_db()
    return assessment if assessment.status in ("completed", "failed") else None


def expected_codes(system: AISystem) -> set[str]:
    return set(evaluate(compiled(system.release), system.answers).applicable_codes)


def test_it_assesses_a_system_through_a_real_worker(committed_catalogue, owner):
    system = AISystemFactory(organisation=owner.organisation)
    queue = new_queue()
    worker = start_worker(queue)
    try:
        with tasks_sent_to(queue):
            response = client_for(owner).post(
                f"/o/{owner.organisation.code}/systems/{system.code}/assess/"
            )
        assert response.status_code == 302
        assessment = Assessment.objects.get(system=system)
        # The request only queued it; the worker does the rest.
        assert response["Location"].endswith(f"/assessments/{assessment.code}/")
        wait_for(lambda: completed(assessment), message="the assessment")
    finally:
        output = stop_worker(worker)
    assert assessment.status == "completed", output
    codes = set(
        Finding.objects.filter(assessment=assessment).values_list("obligation_code", flat=True)
    )
    assert codes == expected_codes(system)
    assert assessment.eu_tier == "high_risk"
    assert assessment.engine_ms is not None and assessment.attempts == 1
    system.refresh_from_db()
    assert system.eu_tier == "high_risk"
    # The worker's writes carry the requesting user into the audit trail.
    event = AuditEvent.objects.filter(
        table="assessments_assessment", object_pk=str(assessment.pk), after__status="completed"
    ).first()
    assert event.actor_user_id == owner.user_id
    assert event.context["source"] == "task:run_assessment"


def _wait_until_blocked(table: str) -> None:
    """Until some backend waits for a lock while updating `table`."""

    def blocked():
        # As the login role: the app role may not read other sessions' queries.
        with rls.owner(connection), connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query ILIKE %s",
                [f"UPDATE%{table}%"],
            )
            return cursor.fetchone()[0]

    wait_for(blocked, message=f"a worker blocked on {table}")


def test_it_loses_nothing_when_the_worker_is_killed_mid_run(committed_catalogue, owner):
    """The run's last write (the system's tier) waits on a row lock we hold (FOR NO KEY UPDATE,
    so the findings' foreign-key checks still pass), after the findings were inserted in the
    same transaction; we SIGKILL the worker there. The sweep re-queues the
    run, a new worker completes it, and every finding exists exactly once."""
    system = AISystemFactory(organisation=owner.organisation)
    queue = new_queue()
    db = settings.DATABASES["default"]
    blocker = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
    )
    first = start_worker(queue)
    try:
        with blocker.transaction():
            blocker.execute(
                "SELECT 1 FROM governance_aisystem WHERE id = %s FOR NO KEY UPDATE", [system.pk]
            )
            with tasks_sent_to(queue):
                assessment, _ = services.assessment_start(system=system, actor=owner.user)
            _wait_until_blocked("governance_aisystem")
            # Findings were written inside the worker's open transaction: nobody else sees them.
            assert Finding.objects.filter(assessment=assessment).count() == 0
            stop_worker(first, kill=True)
        blocker.close()
        assessment.refresh_from_db()
        assert assessment.status == "running"
        assert Finding.objects.filter(assessment=assessment).count() == 0

        # Nothing happens until the sweep decides the run is stuck…
        with tasks_sent_to(queue):
            assert services.sweep_stuck()["requeued"] == 0
            later = timezone.now() + dt.timedelta(seconds=settings.ASSESSMENT_STUCK_AFTER + 1)
            assert services.sweep_stuck(now=later)["requeued"] == 1
        second = start_worker(queue)
        try:
            wait_for(lambda: completed(assessment), message="the re-queued assessment")
        finally:
            output = stop_worker(second)
    finally:
        if not blocker.closed:
            blocker.close()
        stop_worker(first, kill=True)
    assert assessment.status == "completed", output
    assert assessment.attempts == 2
    codes = list(
        Finding.objects.filter(assessment=assessment).values_list("obligation_code", flat=True)
    )
    assert len(codes) == len(set(codes))
    assert set(codes) == expected_codes(system)
