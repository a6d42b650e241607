"""Workload 4: one assessment end to end, from the API's 202 to `completed`, through a real
Celery worker; and the engine's share of it."""

from __future__ import annotations

import time

from assessments.models import Assessment, AssessmentStatus
from governance.models import AISystem

from ..core import Bench, Outcome
from ..measure import summary
from ..processes import worker

POLL_SECONDS = 0.005
TIMEOUT_SECONDS = 60


def _wait(pk: int) -> Assessment:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        status = Assessment.objects.filter(pk=pk).values_list("status", flat=True).first()
        if status in (AssessmentStatus.COMPLETED, AssessmentStatus.FAILED):
            return Assessment.objects.get(pk=pk)
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"assessment {pk} did not finish within {TIMEOUT_SECONDS}s")


def run(bench: Bench) -> list[Outcome]:
    org = bench.org
    client = bench.api_client()
    # High-risk systems first: the most findings, so the slowest single runs.
    systems = list(
        AISystem.objects.filter(organisation=org, archived_at__isnull=True)
        .order_by("-eu_tier", "id")
        .values_list("code", flat=True)[: bench.scale.e2e_runs + 2]
    )
    end_to_end, engine, worker_ms, findings = [], [], [], []
    with worker(bench, concurrency=2):
        for n, code in enumerate(systems):
            started = time.perf_counter()
            response = client.post(
                f"/api/v1/orgs/{org.code}/systems/{code}/assessments/",
                data={},
                content_type="application/json",
            )
            if response.status_code != 202:
                raise RuntimeError(f"POST answered {response.status_code}: {response.content!r}")
            assessment = _wait(Assessment.objects.get(code=response.json()["code"]).pk)
            elapsed = (time.perf_counter() - started) * 1000
            if assessment.status != AssessmentStatus.COMPLETED:
                raise RuntimeError(f"assessment {assessment.code} failed: {assessment.error}")
            if n < 2:
                continue  # the worker's first runs compile the catalogue and warm its caches
            end_to_end.append(elapsed)
            engine.append(assessment.engine_ms)
            worker_ms.append(assessment.total_ms)
            findings.append(assessment.summary.get("applicable", 0))
    e2e, eng, inside = summary(end_to_end), summary(engine), summary(worker_ms)
    return [
        Outcome(
            key="assessment_e2e",
            title="One assessment end to end",
            metrics={
                "runs": len(end_to_end),
                "findings_per_run_mean": round(sum(findings) / max(len(findings), 1), 1),
                "e2e_p50_ms": e2e["p50"],
                "e2e_p95_ms": e2e["p95"],
                "worker_p50_ms": inside["p50"],
                "engine_p50_ms": eng["p50"],
                "engine_p95_ms": eng["p95"],
                "engine_share_of_e2e": round(eng["p50"] / e2e["p50"], 3) if e2e["p50"] else None,
            },
            notes=[
                "POST /api/v1/orgs/<org>/systems/<code>/assessments/ (202) until the row says "
                "completed, polled every 5 ms; one Celery worker process pool of 2, "
                "the same broker and database as the app.",
                "worker = claim to completed inside the task (Assessment.total_ms); engine = "
                "the rules engine alone for that system (Assessment.engine_ms).",
                "The first two runs warm the worker (catalogue compiled once per process) and "
                "are not counted.",
            ],
        )
    ]
