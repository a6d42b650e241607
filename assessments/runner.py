"""Running assessments in the worker, many per task.

A task takes up to ASSESSMENT_RUN_CHUNK assessment ids (a batch of hundreds of systems, or the
single run someone asked for) and does each step once for all of them: one claim, one read of
the previous findings, one bulk write. Per assessment it only evaluates the engine and builds rows.

Writing: the findings of the whole chunk go to a temporary table with COPY, then into the
findings table with one upsert (row-level security does not allow COPY into a tenant table
directly). Their ids come from the sequence beforehand, so carried evidence, action links and
crosswalk suggestions are worked out in memory before anything is written. A repeated run
finds its rows there already and keeps their ids and codes.

Safe to repeat: the claim is a conditional update, and everything a chunk writes — findings,
carried evidence and links, suggestions, actions for new gaps, the completed status — is one
transaction, so a worker killed half-way leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from psycopg.types.json import Jsonb

from governance.models import AISystem, Obligation, Organisation

from . import actions, engine, notify
from .engine import questionnaire
from .engine.evaluate import Applicable, Result
from .engine.release import CompiledRelease
from .integrations import events
from .models import (
    ActionFinding,
    ActionStatus,
    Assessment,
    AssessmentStatus,
    Evidence,
    Finding,
    FindingStatus,
)
from .models.findings import GAP_STATUSES
from .models.runs import IN_FLIGHT
from .releases import compiled

log = logging.getLogger(__name__)

# Statuses whose evidence is worth offering to a crosswalked obligation.
_EVIDENCED = (FindingStatus.MET, FindingStatus.PARTIALLY_MET)

# The columns COPY writes, in order (`_Row.values` gives them).
_COLUMNS = (
    "id", "code", "organisation_id", "assessment_id", "system_id", "obligation_id",
    "obligation_code", "obligation_digest", "regulation_code", "jurisdiction", "legal_force",
    "roles", "applies_from", "route", "due_date", "status", "justification",
    "risk_approved_by_id", "notes", "carried_from_id", "suggestions", "created_at",
)  # fmt: skip


class RunError(Exception):
    """A run that cannot succeed however often it is retried (a readable message)."""


@dataclass
class _Old:
    """A finding of the previous assessment, as far as carrying it forward needs."""

    pk: int
    code: str
    digest: str
    applies_from: dt.date
    due_date: dt.date | None
    status: str
    justification: str
    approver_id: int | None
    notes: str
    evidence: list[tuple[int, str, str, int | None]] = field(default_factory=list)


@dataclass
class _Row:
    """One finding about to be written."""

    pk: int
    code: uuid.UUID
    item: Applicable
    obligation_id: int
    due_date: dt.date | None
    status: str = FindingStatus.OPEN
    justification: str = ""
    approver_id: int | None = None
    notes: str = ""
    old: _Old | None = None  # the previous run's finding of the same obligation
    carried: bool = False  # unchanged obligation: status, notes and evidence carried
    suggestions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Run:
    assessment: Assessment
    release: CompiledRelease
    result: Result
    engine_ms: float
    unanswered: list[str]
    previous_id: int | None = None
    rows: list[_Row] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


# --- The steps ---------------------------------------------------------------------------------


def _claim(ids: Sequence[int]) -> list[int]:
    """Take the queued ones among `ids` (a conditional update: two workers never share one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE assessments_assessment SET status = %s, started_at = %s, "
            "attempts = attempts + 1, error = '' WHERE id = ANY(%s) AND status = %s RETURNING id",
            [AssessmentStatus.RUNNING, timezone.now(), list(ids), AssessmentStatus.QUEUED],
        )
        return sorted(row[0] for row in cursor.fetchall())


def fail(ids: Sequence[int], error: str) -> None:
    Assessment.objects.filter(pk__in=ids, status__in=IN_FLIGHT).update(
        status=AssessmentStatus.FAILED, finished_at=timezone.now(), error=error[:2000]
    )


def _unanswered(release: CompiledRelease, answers: dict) -> list[str]:
    """Questions the release asks that these answers leave open (new questions, say)."""
    try:
        questionnaire.validate(release, answers)
    except questionnaire.AnswersInvalid as exc:
        return sorted(key for key, (code, _) in exc.errors.items() if code == "required")
    return []


def _evaluate(assessment: Assessment) -> _Run:
    try:
        release = compiled(assessment.release)
        started = time.perf_counter()
        result = engine.evaluate(release, assessment.answers)
        engine_ms = (time.perf_counter() - started) * 1000
    except Exception as exc:  # the catalogue or the answers cannot be evaluated: not transient
        log.exception("assessment %s could not be evaluated", assessment.code)
        raise RunError(
            _("The answers could not be evaluated against release %(release)s: %(error)s")
            % {"release": assessment.release.code, "error": exc}
        ) from exc
    return _Run(assessment, release, result, engine_ms, _unanswered(release, assessment.answers))


def due_date(
    *, org: Organisation, legal_force: str, applies_from: dt.date, today: dt.date
) -> dt.date | None:
    """When a gap must be closed: the application date, or the organisation's grace period
    from today when the obligation already applies. Voluntary guidance has no deadline unless
    the organisation wants one."""
    if legal_force == Obligation.LegalForce.VOLUNTARY and not org.voluntary_due_dates:
        return None
    if applies_from > today:
        return applies_from
    return today + dt.timedelta(days=org.gap_due_days)


def _previous(runs: list[_Run]) -> None:
    """Each run's previous completed assessment of its system, in one query."""
    by_system = {run.assessment.system_id: run for run in runs}
    rows = (
        Assessment.objects.filter(system_id__in=by_system, status=AssessmentStatus.COMPLETED)
        .exclude(pk__in=[run.assessment.pk for run in runs])
        .order_by("system_id", "-finished_at", "-id")
        .distinct("system_id")
        .values_list("system_id", "pk")
    )
    for system_id, pk in rows:
        by_system[system_id].previous_id = pk


def _old_findings(runs: list[_Run]) -> dict[int, dict[str, _Old]]:
    """The previous runs' findings by assessment and obligation, with their evidence."""
    previous = [run.previous_id for run in runs if run.previous_id]
    found: dict[int, dict[str, _Old]] = {pk: {} for pk in previous}
    if not previous:
        return found
    by_pk: dict[int, _Old] = {}
    rows = Finding.objects.filter(assessment_id__in=previous).values_list(
        "pk", "assessment_id", "obligation_code", "obligation_digest", "applies_from",
        "due_date", "status", "justification", "risk_approved_by_id", "notes",
    )  # fmt: skip
    for pk, assessment_id, code, *rest in rows:
        old = _Old(pk, code, *rest)
        found[assessment_id][code] = old
        by_pk[pk] = old
    evidence = (
        Evidence.objects.filter(finding_id__in=by_pk)
        .order_by("added_at", "id")
        .values_list("finding_id", "pk", "title", "url", "added_by_id")
    )
    for finding_id, *item in evidence:
        by_pk[finding_id].evidence.append(tuple(item))
    return found


def _rows(runs: list[_Run], old: dict[int, dict[str, _Old]]) -> None:
    """Each run's findings: dated by the organisation's policy, with the previous run's
    status, notes and evidence carried over where the obligation is unchanged."""
    releases = {run.assessment.release_id for run in runs}
    obligation_ids = {
        (release_id, code): pk
        for release_id, code, pk in Obligation.objects.filter(release_id__in=releases).values_list(
            "release_id", "code", "pk"
        )
    }
    total = sum(len(run.result.applicable) for run in runs)
    ids = _next_ids(total)
    todays: dict[int, dt.date] = {}
    for run in runs:
        assessment = run.assessment
        org = assessment.organisation
        today = todays.setdefault(org.pk, actions.today_for(org))
        before = old.get(run.previous_id, {}) if run.previous_id else {}
        for item in run.result.applicable:
            due = due_date(
                org=org, legal_force=item.legal_force, applies_from=item.applies_from, today=today
            )
            row = _Row(
                pk=ids.pop(),
                code=uuid.uuid4(),
                item=item,
                obligation_id=obligation_ids[(assessment.release_id, item.code)],
                due_date=due,
            )
            prior = before.get(item.code)
            if prior is not None:
                row.old = prior
                if prior.applies_from == item.applies_from and prior.due_date and due:
                    # Re-assessing never restarts the clock; but a finding that had no deadline
                    # (voluntary, or the policy then) takes the one the policy gives it now.
                    row.due_date = prior.due_date
                if prior.digest == item.digest:
                    row.carried = True
                    row.status = prior.status
                    row.justification = prior.justification
                    row.approver_id = prior.approver_id
                    row.notes = prior.notes
            run.rows.append(row)


def _next_ids(n: int) -> list[int]:
    if not n:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('assessments_finding', 'id')) "
            "FROM generate_series(1, %s)",
            [n],
        )
        return [row[0] for row in cursor.fetchall()][::-1]


def _carry_links(runs: list[_Run]) -> list[tuple[ActionFinding, _Row]]:
    """Link each action of the previous run's findings to the new findings of the same
    obligations, so an action follows its gap from run to run.

    On an unchanged obligation (the run carried the finding's status):
    - a gap whose action is verified is met now, remembering what it was, so that reopening
      the action can put it back;
    - a finding a since-reopened action had closed, in an assessment that could not be
      rewritten then, gets back the status it had before verification.
    On a changed obligation a verified action is not carried: the reworded duty is new work,
    and `actions.open_for_gaps` opens an action for it."""
    new_by_old = {row.old.pk: (run, row) for run in runs for row in run.rows if row.old}
    if not new_by_old:
        return []
    links = (
        ActionFinding.objects.filter(finding_id__in=new_by_old)
        .select_related("action")
        .select_for_update(of=("action",))  # a verification in flight finishes first
        .order_by("id")
    )
    created = []
    for link in links:
        run, row = new_by_old[link.finding_id]
        verified = link.action.status == ActionStatus.VERIFIED
        if verified and not row.carried:
            continue
        new = ActionFinding(
            organisation_id=run.assessment.organisation_id, action_id=link.action_id
        )
        if verified:
            if row.old.status in GAP_STATUSES:
                new.status_before_verify = row.old.status
                row.status = FindingStatus.MET
            else:
                new.status_before_verify = link.status_before_verify
        elif link.status_before_verify and row.carried and row.status == FindingStatus.MET:
            row.status = link.status_before_verify
        created.append((new, row))
    return created


def _suggest(run: _Run) -> int:
    """Offer each finding the evidence of its crosswalked findings in the same assessment.
    Returns how many findings received a suggestion."""
    by_code = {row.item.code: row for row in run.rows}
    suggested = 0
    for row in run.rows:
        for link in run.release.links.get(row.item.code, ()):
            peer = by_code.get(link.other)
            if peer is None:
                continue
            evidence = (
                [{"title": title, "url": url} for _pk, title, url, _by in peer.old.evidence]
                if peer.carried
                else []
            )
            if not evidence and peer.status not in _EVIDENCED:
                continue
            row.suggestions.append(
                {
                    "code": peer.item.code,
                    "finding": str(peer.code),
                    "relationship": link.relationship,
                    "status": peer.status,
                    "evidence": evidence,
                }
            )
        suggested += bool(row.suggestions)
    return suggested


# On a repeated run the rows exist already: they keep their id, code and creation time.
_UPSERT = ", ".join(
    f"{column} = EXCLUDED.{column}"
    for column in _COLUMNS
    if column not in ("id", "code", "organisation_id", "assessment_id", "system_id", "created_at")
)


def _upsert_findings(runs: list[_Run]) -> list[_Run]:
    """COPY the rows into a temporary table, then upsert them into the findings in one
    statement. Returns the runs that found rows of theirs already there (a repeated run):
    their rows now carry the ids and codes they kept."""
    now = timezone.now()
    columns = ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE kakehashi_finding_rows "
            "(LIKE assessments_finding INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY kakehashi_finding_rows ({columns}) FROM STDIN") as copy:
            for run in runs:
                a = run.assessment
                for row in run.rows:
                    item = row.item
                    copy.write_row(
                        (
                            row.pk, row.code, a.organisation_id, a.pk, a.system_id,
                            row.obligation_id, item.code, item.digest, item.regulation,
                            item.jurisdiction, item.legal_force, list(item.roles),
                            item.applies_from, item.route, row.due_date, row.status,
                            row.justification, row.approver_id, row.notes,
                            row.old.pk if row.carried else None, Jsonb(row.suggestions), now,
                        )
                    )  # fmt: skip
        # The column names are the constants above, not input.
        cursor.execute(
            f"INSERT INTO assessments_finding ({columns}) "  # noqa: S608  # nosec B608
            f"SELECT {columns} FROM kakehashi_finding_rows "
            f"ON CONFLICT (assessment_id, obligation_code) DO UPDATE SET {_UPSERT} "
            "RETURNING id, code, assessment_id, obligation_code"
        )
        kept = {
            (assessment_id, code): (pk, uuid_)
            for pk, uuid_, assessment_id, code in cursor.fetchall()
        }
        cursor.execute("DROP TABLE kakehashi_finding_rows")
    repeated = []
    for run in runs:
        moved = False
        for row in run.rows:
            pk, code = kept[(run.assessment.pk, row.item.code)]
            if pk != row.pk:
                row.pk, row.code, moved = pk, code, True
        if moved:
            repeated.append(run)
    return repeated


def _tidy_repeated(runs: list[_Run]) -> None:
    """A repeated run: drop rows of obligations that no longer apply, and point the
    suggestions at the findings' kept codes."""
    for run in runs:
        Finding.objects.filter(assessment=run.assessment).exclude(
            pk__in=[row.pk for row in run.rows]
        ).delete()
        for row in run.rows:
            row.suggestions = []
        _suggest(run)
    Finding.objects.bulk_update(
        [Finding(pk=row.pk, suggestions=row.suggestions) for run in runs for row in run.rows],
        ["suggestions"],
        batch_size=500,
    )


def _carry_evidence(runs: list[_Run]) -> None:
    Evidence.objects.bulk_create(
        [
            Evidence(
                organisation_id=run.assessment.organisation_id,
                finding_id=row.pk,
                title=title,
                url=url,
                carried_from_id=pk,
                added_by_id=added_by,
            )
            for run in runs
            for row in run.rows
            if row.carried
            for pk, title, url, added_by in row.old.evidence
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )


def _write_findings(runs: list[_Run]) -> None:
    """Write every run's findings, carried evidence and action links; fill in the summaries."""
    _previous(runs)
    old = _old_findings(runs)
    _rows(runs, old)
    links = _carry_links(runs)
    for run in runs:
        applicable = run.result.applicable
        by_jurisdiction: dict[str, int] = {}
        for item in applicable:
            by_jurisdiction[item.jurisdiction] = by_jurisdiction.get(item.jurisdiction, 0) + 1
        run.summary = {
            "applicable": len(applicable),
            "not_applicable": len(run.result.not_applicable),
            "by_jurisdiction": by_jurisdiction,
            "binding": sum(1 for a in applicable if a.legal_force == "binding"),
            "carried_forward": sum(1 for row in run.rows if row.carried),
            "suggested": _suggest(run),
            "unanswered": run.unanswered,
        }
    repeated = _upsert_findings(runs)
    if repeated:
        _tidy_repeated(repeated)
    _carry_evidence(runs)
    for link, row in links:
        link.finding_id = row.pk  # known now: a repeated run's rows keep their ids
    ActionFinding.objects.bulk_create([link for link, _row in links], ignore_conflicts=True)


def _complete(runs: list[_Run], started: float) -> None:
    now = timezone.now()
    opened = actions.open_for_gaps(assessments=[run.assessment for run in runs])
    systems = [run.assessment.system_id for run in runs]
    Assessment.objects.filter(system_id__in=systems, latest=True).update(latest=False)
    total_ms = (time.perf_counter() - started) * 1000
    done = []
    for run in runs:
        a = run.assessment
        if opened.get(a.pk):
            run.summary["actions_opened"] = len(opened[a.pk])
        a.latest = True
        a.status = AssessmentStatus.COMPLETED
        a.finished_at = now
        a.result = run.result.to_json()
        a.eu_tier = run.result.eu_tier
        a.summary = run.summary
        a.previous_id = run.previous_id
        a.engine_ms = run.engine_ms
        a.total_ms = total_ms
        a.error = ""
        done.append(a)
    # One statement per run, sent in a pipeline: bulk_update's CASE over 80 kB results costs
    # more in Django than in PostgreSQL.
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE assessments_assessment SET latest = true, status = %s, finished_at = %s, "
            "result = %s, eu_tier = %s, summary = %s, previous_id = %s, engine_ms = %s, "
            "total_ms = %s, error = '' WHERE id = %s",
            [
                (
                    a.status, now, Jsonb(a.result), a.eu_tier, Jsonb(a.summary),
                    a.previous_id, a.engine_ms, a.total_ms, a.pk,
                )
                for a in done
            ],
        )  # fmt: skip
    AISystem.objects.bulk_update(
        [AISystem(pk=a.system_id, eu_tier=a.eu_tier, assessed_at=now) for a in done],
        ["eu_tier", "assessed_at"],
        batch_size=500,
    )
    for a in done:
        a.system.eu_tier, a.system.assessed_at = a.eu_tier, now
    notify.assessments_completed(assessments=done, opened=opened)
    events.assessments_completed(done)


# --- The whole run -----------------------------------------------------------------------------


def run(assessment_ids: Sequence[int]) -> dict[int, str]:
    """Claim, evaluate and complete these assessments. Returns what happened to each:
    completed, failed (it cannot be evaluated), skipped (not queued: done or taken by another
    worker) or superseded (no longer running when it came to write).

    A database error propagates (the task retries or splits the chunk); so does any other
    unexpected error, after which the caller decides."""
    started = time.perf_counter()
    outcome = dict.fromkeys(assessment_ids, "skipped")
    claimed = _claim(assessment_ids)
    if not claimed:
        return outcome
    rows = Assessment.objects.filter(pk__in=claimed).select_related(
        "organisation", "release", "system"
    )
    runs = []
    for assessment in rows.order_by("pk"):
        try:
            runs.append(_evaluate(assessment))
        except RunError as exc:
            fail([assessment.pk], str(exc))
            outcome[assessment.pk] = "failed"
    if not runs:
        return outcome
    with transaction.atomic():
        ours = set(
            Assessment.objects.select_for_update()
            .filter(pk__in=[r.assessment.pk for r in runs], status=AssessmentStatus.RUNNING)
            .values_list("pk", flat=True)
        )
        for r in runs:
            outcome[r.assessment.pk] = "completed" if r.assessment.pk in ours else "superseded"
        runs = [r for r in runs if r.assessment.pk in ours]
        if runs:
            _write_findings(runs)
            _complete(runs, started)
    return outcome
