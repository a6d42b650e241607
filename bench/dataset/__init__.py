"""The bench dataset, built with COPY: one large organisation and a few small ones.

What it holds (per bench/core.py's Scale): the large organisation's members (a few admins and
compliance officers, mostly contributors, some viewers), its AI systems with varied answers
(answers.py; every set valid for the current release, no two alike where the
questionnaire allows), each system's history of completed assessments — one on the older
release, then one or more on the current one, the last being its `latest` — with findings from
the real engine (`assessments.engine.evaluate`) and due dates from `services.due_date`, statuses
mixed as review would leave them, evidence links, remediation actions linked to the latest gaps,
and API keys made by governance/apikeys.py. The small organisations are built the same way.

How: the engine runs in a pool of processes (forked after the releases are compiled); the
parent takes ids from the sequences in blocks (`SELECT nextval(...) FROM generate_series`) and
streams rows into COPY on three connections of the login role (the tables' owner), each with
`session_replication_role = replica` so that no trigger fires: no audit events (and no
foreign-key checks, so the build checks the foreign keys itself once the load has committed).
Then VACUUM ANALYZE, so planner statistics are real and autovacuum has nothing left to do
while workloads are measured.

Members sign in with BENCH_PASSWORD (also in Bench.env); builder.py draws and writes the rows,
loading.py holds the COPY machinery, answers.py the questionnaire answers.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from ..core import Scale
from .builder import BENCH_PASSWORD, LARGE_NAME, Builder
from .loading import finish, models

__all__ = ["BENCH_PASSWORD", "Dataset", "build", "counts", "existing"]

Say = Callable[[str], None]
API_KEY_NAME = "Bench"


@dataclass
class Dataset:
    """What the bench needs from the dataset, and what the report says about it."""

    org: Any
    small_org: Any
    small_orgs: list[Any]
    admin: Any
    small_admin: Any
    api_token: str
    small_api_token: str
    counts: dict[str, Any]
    build_seconds: float | None
    built_at: dt.datetime | None
    reused: bool = False
    notes: list[str] = field(default_factory=list)


def _api_key(org) -> str:
    from django.utils import timezone

    from governance import apikeys
    from governance.models import ApiKey, Membership

    admin = (
        Membership.objects.for_org(org)
        .filter(role="admin")
        .select_related("user", "organisation")
        .order_by("id")
        .first()
    )
    # Keys of earlier runs on a reused dataset: revoked, so one stays active per run.
    ApiKey.objects.for_org(org).filter(
        name__startswith=API_KEY_NAME, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    name = f"{API_KEY_NAME} {timezone.now():%Y-%m-%d %H:%M:%S.%f}"
    _, token = apikeys.api_key_create(actor=admin, name=name, scope="write")
    return token


def _handles(scale: Scale) -> dict[str, Any]:
    """The organisations, their first admins and fresh read-write API keys."""
    from governance.audit import audit_context
    from governance.models import Membership, Organisation

    org = Organisation.objects.get(name=LARGE_NAME)
    smalls = list(Organisation.objects.filter(name__startswith="Bench Small ").order_by("name"))
    if len(smalls) < max(scale.small_orgs, 1):
        raise RuntimeError(
            f"the dataset has {len(smalls)} small organisations, not {scale.small_orgs}"
        )

    def first_admin(o):
        return (
            (
                Membership.objects.for_org(o)
                .filter(role="admin")
                .select_related("user")
                .order_by("id")
            )
            .first()
            .user
        )

    with audit_context(source="command:bench"):
        api_token = _api_key(org)
        small_api_token = _api_key(smalls[0])
    return {
        "org": org,
        "small_org": smalls[0],
        "small_orgs": smalls,
        "admin": first_admin(org),
        "small_admin": first_admin(smalls[0]),
        "api_token": api_token,
        "small_api_token": small_api_token,
    }


def _grouped(queryset, column: str) -> dict[str, int]:
    from django.db.models import Count

    rows = queryset.order_by().values(column).annotate(n=Count("id"))
    return {row[column] or "-": row["n"] for row in rows.order_by(column)}


def counts(org) -> dict[str, Any]:
    """Rows per table (all organisations), and the large organisation's own figures."""
    from django.db import connection

    from assessments.models import Assessment, Finding, RemediationAction
    from governance.models import AISystem, Membership

    out: dict[str, Any] = {"tables": {}, "large_org": {}}
    with connection.cursor() as cursor:
        for model, _ in models().values():
            table = model._meta.db_table
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            out["tables"][table] = cursor.fetchone()[0]
    findings = Finding.objects.for_org(org)
    large = out["large_org"]
    large["members"] = _grouped(Membership.objects.for_org(org), "role")
    large["systems"] = AISystem.objects.for_org(org).count()
    large["assessments"] = Assessment.objects.for_org(org).count()
    large["findings"] = findings.count()
    large["latest_findings"] = findings.filter(assessment__latest=True).count()
    large["actions"] = RemediationAction.objects.for_org(org).count()
    large["eu_tiers"] = _grouped(AISystem.objects.for_org(org), "eu_tier")
    large["latest_finding_statuses"] = _grouped(findings.filter(assessment__latest=True), "status")
    large["action_statuses"] = _grouped(RemediationAction.objects.for_org(org), "status")
    return out


def build(scale: Scale, *, url: str, say: Say) -> Dataset:
    """Load a fresh dataset into the (empty, migrated, catalogued) bench database."""
    started = time.perf_counter()
    builder = Builder(scale, url=url, say=say)
    builder.run()
    finish(url, builder.models, say)
    seconds = time.perf_counter() - started
    handles = _handles(scale)
    figures = counts(handles["org"])
    figures["build_seconds"] = round(seconds, 1)
    figures["answers"] = {
        "distinct_sets": len(builder.answer_sets),
        "most_systems_sharing_one_set": max(builder.answer_sets.values(), default=0),
        "refused_by_questionnaire": builder.dropped_answers,
    }
    systems = max(builder.history["systems"], 1)
    figures["history"] = {
        "older_release_runs_per_system": round(builder.history["older_release_runs"] / systems, 3),
        "earlier_current_runs_per_system": round(
            builder.history["earlier_current_runs"] / systems, 3
        ),
    }
    say(f"dataset built in {seconds:.1f} s")
    return Dataset(
        **handles,
        counts=figures,
        build_seconds=seconds,
        built_at=builder.now,
        notes=list(NOTES),
    )


def existing(scale: Scale, *, counted: dict[str, Any], built_at, say: Say) -> Dataset:
    """The dataset a previous run built (--reuse), with fresh API keys."""
    handles = _handles(scale)
    return Dataset(
        **handles,
        counts=counted,
        build_seconds=counted.get("build_seconds"),
        built_at=built_at,
        reused=True,
        notes=list(NOTES),
    )


NOTES = [
    "The dataset was loaded with COPY and triggers off (session_replication_role = replica): "
    "its rows have no audit events, and foreign keys were checked by queries after the load.",
    "Findings come from the real engine (assessments.engine.evaluate) on every run; due dates "
    "from assessments.services.due_date, carried from the previous run like a re-assessment.",
    "Only each system's latest assessment stores the engine's full result JSON (~70-80 KB); "
    "older assessments store a trimmed result (release, tier, GPAI, labels, roles, Japan) to "
    "keep the load fast.",
    "Members share one password hash (hashed once); no sessions, comments, action evidence "
    "files, notifications, webhooks or tickets are loaded.",
]
