"""Workload 5: a catalogue release is published, then every active system of the large
organisation is re-assessed through real Celery workers. Judged by findings written per second
against a raw COPY of the same rows, and by duplicates (there must be none).

This workload changes the dataset (a new current release, new latest assessments), so it runs
last."""

from __future__ import annotations

import datetime as dt
import io
import time

from django.conf import settings
from django.db import connection
from django.db.models import Value
from django.db.models.functions import Concat
from django.utils import timezone

from assessments import services
from assessments.models import Assessment, AssessmentBatch, AssessmentStatus, Finding
from assessments.models.runs import Source
from governance import rls
from governance.catalogue.services import release_create_draft, release_publish
from governance.models import CatalogueRelease, Obligation, User

from ..core import Bench, Goal, Outcome
from ..processes import worker

TIMEOUT_SECONDS = 3600
# Obligations the bench release rewords (their findings start afresh) and moves (new dates).
REWORDED = ("EU-AIA-ART9", "EU-AIA-ART50-1", "JP-AIGB-USR-07")
MOVED = ("EU-AIA-ART86",)


def _release(curator: User) -> CatalogueRelease:
    """A draft copy of the current release with a few obligations reworded and one date moved,
    published the way a curator publishes one."""
    draft = release_create_draft(
        base=CatalogueRelease.objects.get(is_current=True),
        code=f"bench-{timezone.now():%Y%m%d%H%M%S}",
        title_en="Bench release",
        title_ja="ベンチマーク用リリース",
        actor=curator,
    )
    obligations = Obligation.objects.filter(release=draft)
    obligations.filter(code__in=REWORDED).update(
        summary_en=Concat("summary_en", Value(" (Clarified by the bench release.)"))
    )
    obligations.filter(code__in=MOVED).update(applies_from=dt.date(2028, 2, 1))
    return release_publish(release=draft, actor=curator)


def _wait(predicate, what: str) -> float:
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > TIMEOUT_SECONDS:
            raise TimeoutError(f"{what} did not finish within {TIMEOUT_SECONDS}s")
        time.sleep(0.25)
    return time.perf_counter() - started


def _duplicates(batch: AssessmentBatch) -> dict[str, int]:
    """Everything that would be a duplicate after the run, counted in SQL."""
    queries = {
        # A system assessed twice by the batch.
        "systems_assessed_twice": """
            SELECT count(*) FROM (SELECT system_id FROM assessments_assessment
            WHERE batch_id = %(batch)s GROUP BY system_id HAVING count(*) > 1) d""",
        # A system with more than one latest assessment.
        "systems_with_two_latest": """
            SELECT count(*) FROM (SELECT system_id FROM assessments_assessment
            WHERE organisation_id = %(org)s AND latest GROUP BY system_id HAVING count(*) > 1) d""",
        # An obligation written twice for one assessment.
        "findings_twice": """
            SELECT count(*) FROM (SELECT f.assessment_id, f.obligation_code
            FROM assessments_finding f JOIN assessments_assessment a ON a.id = f.assessment_id
            WHERE a.batch_id = %(batch)s GROUP BY 1, 2 HAVING count(*) > 1) d""",
        # A new finding linked to two actions where the old one had one (links carried twice).
        "findings_with_doubled_actions": """
            SELECT count(*) FROM (SELECT l.finding_id FROM assessments_actionfinding l
            JOIN assessments_finding f ON f.id = l.finding_id
            JOIN assessments_assessment a ON a.id = f.assessment_id
            JOIN assessments_remediationaction r ON r.id = l.action_id
            WHERE a.batch_id = %(batch)s AND r.origin = 'auto'
            GROUP BY l.finding_id HAVING count(*) > 1) d""",
        # The same evidence carried twice onto one finding.
        "evidence_twice": """
            SELECT count(*) FROM (SELECT e.finding_id, e.url FROM assessments_evidence e
            JOIN assessments_finding f ON f.id = e.finding_id
            JOIN assessments_assessment a ON a.id = f.assessment_id
            WHERE a.batch_id = %(batch)s GROUP BY 1, 2 HAVING count(*) > 1) d""",
    }
    found = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql, {"batch": batch.pk, "org": batch.organisation_id})
            found[name] = cursor.fetchone()[0]
    return found


def _raw_copy(batch: AssessmentBatch) -> tuple[int, float]:
    """COPY the batch's findings out, then time a COPY of those bytes into an empty table
    built like the findings table (same columns, defaults, constraints and indexes; no
    triggers, foreign keys or row-level security). Returns (rows, seconds)."""
    buffer = io.BytesIO()
    with rls.owner(connection), connection.cursor() as cursor:
        raw = cursor.cursor
        select = (
            "SELECT f.* FROM assessments_finding f JOIN assessments_assessment a "  # noqa: S608
            f"ON a.id = f.assessment_id WHERE a.batch_id = {int(batch.pk)}"  # nosec B608
        )
        with raw.copy(f"COPY ({select}) TO STDOUT") as copy:
            for block in copy:
                buffer.write(block)
        cursor.execute("DROP TABLE IF EXISTS bench_copy_target")
        cursor.execute("CREATE TABLE bench_copy_target (LIKE assessments_finding INCLUDING ALL)")
        data = buffer.getvalue()
        started = time.perf_counter()
        with raw.copy("COPY bench_copy_target FROM STDIN") as copy:
            for start in range(0, len(data), 1 << 20):
                copy.write(data[start : start + (1 << 20)])
        seconds = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM bench_copy_target")
        rows = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_copy_target")
    return rows, seconds


def run(bench: Bench) -> list[Outcome]:
    org = bench.org
    curator = User.objects.filter(is_staff=True).first() or bench.admin
    systems = org.systems.filter(archived_at__isnull=True).count()
    with worker(bench, concurrency=2):
        published = time.perf_counter()
        release = _release(curator)
        # Publishing queues the impact task (stale marking) after commit; wait for it.
        stale_s = _wait(
            lambda: (
                CatalogueRelease.objects.get(pk=release.pk).impact.get("systems_affected")
                is not None
            ),
            "the release's impact",
        )
        affected = CatalogueRelease.objects.get(pk=release.pk).impact["systems_affected"]
        started = time.perf_counter()
        batch = services.batch_start(org=org, actor=bench.admin, source=Source.RELEASE)
        done = Assessment.objects.filter(batch=batch, status=AssessmentStatus.COMPLETED)
        failed = Assessment.objects.filter(batch=batch, status=AssessmentStatus.FAILED)
        _wait(
            lambda: (
                AssessmentBatch.objects.get(pk=batch.pk).queued_at is not None
                and done.count() + failed.count() >= AssessmentBatch.objects.get(pk=batch.pk).total
            ),
            "the re-assessment",
        )
        run_s = time.perf_counter() - started
        total_s = time.perf_counter() - published
    findings = Finding.objects.filter(assessment__batch=batch).count()
    assessed = done.count()
    per_second = findings / run_s
    copy_rows, copy_s = _raw_copy(batch)
    copy_per_second = copy_rows / copy_s if copy_s else 0.0
    duplicates = _duplicates(batch)
    engine_ms = sum(Assessment.objects.filter(batch=batch).values_list("engine_ms", flat=True))
    ratio = per_second / copy_per_second if copy_per_second else 0.0
    return [
        Outcome(
            key="reassess_all",
            title="Re-assessment of every system after a catalogue release",
            metrics={
                "systems": systems,
                "assessed": assessed,
                "failed": failed.count(),
                "systems_affected_by_release": affected,
                "findings_written": findings,
                "impact_seconds": round(stale_s, 2),
                "reassess_seconds": round(run_s, 2),
                "publish_to_done_seconds": round(total_s, 2),
                "findings_per_second": round(per_second),
                "raw_copy_rows_per_second": round(copy_per_second),
                "ratio_to_raw_copy": round(ratio, 3),
                "ms_per_system": round(run_s * 1000 / max(assessed, 1), 2),
                "engine_seconds_total": round(engine_ms / 1000, 2),
                "tasks": -(-systems // settings.ASSESSMENT_RUN_CHUNK),
                **duplicates,
            },
            goals=[
                Goal("findings/s ÷ raw COPY rows/s", round(ratio, 3), ">=", 0.25),
                Goal("duplicates", sum(duplicates.values()), "==", 0),
                Goal("systems assessed", assessed, "==", systems),
            ],
            notes=[
                f"The release rewords {', '.join(REWORDED)} and moves {', '.join(MOVED)}; "
                "published with the curator's service, whose impact task (stale marking, "
                "`impact_seconds`) runs before the re-assessment starts.",
                "Re-assessment: services.batch_start for every active system, fanned out in "
                f"tasks of {settings.ASSESSMENT_RUN_CHUNK} systems to one Celery worker with 2 "
                "processes; timed from the request to the last assessment completed "
                "(`reassess_seconds`).",
                "Raw COPY: the same finding rows COPY'd into an empty table LIKE the findings "
                "table INCLUDING ALL (its indexes and checks; no triggers, foreign keys or "
                "row-level security), from memory, by the owner.",
                "The worker also evaluates the engine for every system, writes each "
                "assessment's result and summary, carries statuses, evidence and action "
                "links, and writes notifications: all counted in findings/s.",
            ],
        )
    ]
