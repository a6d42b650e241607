"""The Django side of a chaos run: this process acts as an operator's tool (like a management
command, it sees every organisation), seeds an organisation, starts work through the app's own
services, and reads the figures back from the database.

Import it only after `configure`: Django must see the run's servers in the environment first.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def configure(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()
    try:
        from governance import rls
    except ImportError:  # before row-level security
        return
    rls.set_process_default(rls.EVERYTHING)


def with_database(read: Callable[[], T], *, timeout: float = 60.0) -> T:
    """`read()`, retried on a fresh connection while the database is away (a restart)."""
    from django.db import InterfaceError, OperationalError, connection

    deadline = time.monotonic() + timeout
    while True:
        try:
            return read()
        except (OperationalError, InterfaceError):
            connection.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@dataclass
class Seed:
    org_id: int
    org_code: str
    user_id: int
    system_ids: list[int]
    api_token: str
    session_key: str


def seed(n_systems: int) -> Seed:
    """An organisation, its admin, `n_systems` systems (the demo's two kinds, alternately), a read
    API key and a signed-in session for the probe."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from governance import apikeys, services
    from governance.audit import audit_context
    from governance.management.commands.seed_demo import DEMO_SYSTEMS
    from governance.models import ApiScope, Membership, User
    from governance.registry import system_create

    with audit_context(source="command:chaos"):
        with transaction.atomic():
            user = User.objects.create_user(
                "chaos@kakehashi.example", secrets.token_urlsafe(24), full_name="Chaos Runner"
            )
            org = services.organisation_create(
                name="Chaos Organisation", creator=user, time_zone="Asia/Tokyo"
            )
            membership = Membership.objects.get(organisation=org, user=user)
            ids = []
            for number in range(n_systems):
                spec = DEMO_SYSTEMS[number % len(DEMO_SYSTEMS)]
                fields = {k: v for k, v in spec.items() if k != "answers"}
                fields["name"] = f"{spec['name']} {number + 1:03}"
                system = system_create(
                    org=org, actor=user, answers=spec["answers"], owner=user, **fields
                )
                ids.append(system.pk)
        _, token = apikeys.api_key_create(actor=membership, name="chaos probe", scope=ApiScope.READ)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return Seed(org.pk, str(org.code), user.pk, ids, token, session.session_key or "")


def database_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


# --- Work ----------------------------------------------------------------------------------


def start_assessments(system_ids: Iterable[int], user_id: int) -> list[int]:
    """Queue a run of each system that has none in flight; the ids of the runs now in flight."""
    from assessments import services
    from governance.audit import audit_context
    from governance.models import AISystem, User

    user = User.objects.get(pk=user_id)
    ids = []
    with audit_context(user_id=user_id, source="command:chaos"):
        for system in AISystem.objects.filter(pk__in=list(system_ids)):
            assessment, _ = services.assessment_start(system=system, actor=user)
            ids.append(assessment.pk)
    return ids


def start_batch(org_id: int, user_id: int) -> int:
    """`Assess all systems`, as the page does: a batch row, the fan-out in the worker."""
    from assessments import services
    from governance.audit import audit_context
    from governance.models import Organisation, User

    with audit_context(user_id=user_id, source="command:chaos"):
        batch = services.batch_start(
            org=Organisation.objects.get(pk=org_id), actor=User.objects.get(pk=user_id)
        )
    return batch.pk


def batch_assessments(batch_id: int) -> dict[int, tuple[int, str, int]]:
    """{assessment id: (system id, status, attempts)} of a batch."""
    from assessments.models import Assessment

    return {
        pk: (system_id, status, attempts)
        for pk, system_id, status, attempts in Assessment.objects.filter(
            batch_id=batch_id
        ).values_list("pk", "system_id", "status", "attempts")
    }


def statuses(ids: Iterable[int]) -> dict[int, str]:
    from assessments.models import Assessment

    return dict(Assessment.objects.filter(pk__in=list(ids)).values_list("pk", "status"))


def running_since(since: float) -> list[int]:
    """Runs in `running` claimed at or after the unix time `since` (by the current worker)."""
    import datetime as dt

    from assessments.models import Assessment, AssessmentStatus

    start = dt.datetime.fromtimestamp(since, tz=dt.UTC)
    return list(
        Assessment.objects.filter(
            status=AssessmentStatus.RUNNING, started_at__gte=start
        ).values_list("pk", flat=True)
    )


def run_figures(ids: Iterable[int]) -> dict:
    """What became of these runs: statuses, attempts, duplicate and missing findings."""
    from django.db import connection
    from django.db.models import Count

    from assessments.models import ActionFinding, Assessment, Finding
    from assessments.models.actions import ActionOrigin

    from .report import distribution, duplicate_rows

    ids = list(ids)
    rows = list(
        Assessment.objects.filter(pk__in=ids).values_list("pk", "status", "attempts", "summary")
    )
    by_status: dict[str, int] = {}
    for _, status, _, _ in rows:
        by_status[status] = by_status.get(status, 0) + 1
    completed = [pk for pk, status, _, _ in rows if status == "completed"]
    pairs = Finding.objects.filter(assessment_id__in=ids).values_list(
        "assessment_id", "obligation_code"
    )
    counts = dict(
        Finding.objects.filter(assessment_id__in=completed)
        .values_list("assessment_id")
        .annotate(n=Count("id"))
        .values_list("assessment_id", "n")
    )
    # A completed run whose findings are not exactly the applicable obligations it counted was
    # written in part (or twice).
    incomplete = [
        pk
        for pk, status, _, summary in rows
        if status == "completed" and counts.get(pk, 0) != (summary or {}).get("applicable")
    ]
    # One open automatic action per system and obligation, however often it was re-assessed.
    auto = ActionFinding.objects.filter(
        finding__assessment_id__in=ids, action__origin=ActionOrigin.AUTO
    ).values_list("action__system_id", "finding__obligation_code", "action_id")
    actions_per_gap: dict[tuple[int, str], set[int]] = {}
    for system_id, code, action_id in auto:
        actions_per_gap.setdefault((system_id, code), set()).add(action_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'assessments_finding' "
            "AND indexdef LIKE 'CREATE UNIQUE INDEX%%'"
        )
        unique = any("assessment_id" in d and "obligation_code" in d for (d,) in cursor.fetchall())
    return {
        "assessments": len(ids),
        "by_status": dict(sorted(by_status.items())),
        "completed": by_status.get("completed", 0),
        "failed": by_status.get("failed", 0),
        "lost": len(ids) - by_status.get("completed", 0) - by_status.get("failed", 0),
        "attempts": distribution(attempts for _, _, attempts, _ in rows),
        "findings": len(pairs),
        "duplicate_findings": duplicate_rows(pairs),
        "incomplete_runs": len(incomplete),
        "duplicate_auto_actions": sum(len(a) - 1 for a in actions_per_gap.values() if len(a) > 1),
        "unique_constraint": unique,
        "errors": sorted(
            {
                e
                for e in Assessment.objects.filter(pk__in=ids, status="failed").values_list(
                    "error", flat=True
                )
            }
        )[:5],
    }


# --- Webhooks ------------------------------------------------------------------------------


def webhook_endpoint(
    org_id: int, user_id: int, url: str, event_types: list[str]
) -> tuple[int, str]:
    """A receiver registered by the organisation's admin: (endpoint id, secret)."""
    from assessments.integrations import webhooks
    from governance.audit import audit_context
    from governance.models import Membership

    actor = Membership.objects.get(organisation_id=org_id, user_id=user_id)
    with audit_context(user_id=user_id, source="command:chaos"):
        endpoint, secret = webhooks.endpoint_create(
            actor=actor, url=url, description="chaos receiver", event_types=event_types
        )
    return endpoint.pk, secret


def action_ids(org_id: int, limit: int) -> list[int]:
    from assessments.models import RemediationAction

    return list(
        RemediationAction.objects.filter(organisation_id=org_id)
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )


PRIORITIES = ("low", "medium", "high", "critical")


def touch_action(action_id: int, user_id: int, number: int) -> None:
    """Change an action's priority (an `action.updated` event), as its manager would."""
    from assessments import actions
    from assessments.models import RemediationAction
    from governance.audit import audit_context
    from governance.models import Membership

    action = RemediationAction.objects.select_related("organisation").get(pk=action_id)
    actor = Membership.objects.get(organisation_id=action.organisation_id, user_id=user_id)
    wanted = PRIORITIES[number % len(PRIORITIES)]
    if action.priority == wanted:
        wanted = PRIORITIES[(number + 1) % len(PRIORITIES)]
    with audit_context(user_id=user_id, source="command:chaos"):
        actions.action_update(action=action, actor=actor, priority=wanted)


def outbox(endpoint_id: int) -> dict:
    """The endpoint's deliveries: their statuses, attempts, and the events' webhook-ids."""
    from django.db.models import Count, Sum

    from assessments.models import WebhookAttempt, WebhookDelivery

    deliveries = WebhookDelivery.objects.filter(endpoint_id=endpoint_id)
    by_status = dict(
        deliveries.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {
        "deliveries": deliveries.count(),
        "by_status": by_status,
        "attempts": deliveries.aggregate(n=Sum("attempts"))["n"] or 0,
        "attempt_rows": WebhookAttempt.objects.filter(delivery__endpoint_id=endpoint_id).count(),
        # The webhook-id each event goes out with (WebhookEvent.message_id).
        "message_ids": {f"msg_{c.hex}" for c in deliveries.values_list("event__code", flat=True)},
    }
