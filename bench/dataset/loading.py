"""Loading rows with COPY: the tables and their columns, ids from the sequences, the
connections that load with triggers off, and the clean-up after the load."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import psycopg
from psycopg import sql

# The columns each table is loaded with, in the order of the builder's row tuples.
# fmt: off
USER_FIELDS = ("id", "password", "last_login", "is_superuser", "email", "full_name", "language",
               "is_staff", "is_active", "date_joined", "time_zone")
ORG_FIELDS = ("id", "code", "name", "time_zone", "default_language", "jurisdictions", "created_at",
              "gap_due_days", "voluntary_due_dates", "auto_actions")
MEMBERSHIP_FIELDS = ("id", "code", "organisation", "user", "role", "created_at")
SYSTEM_FIELDS = ("id", "code", "organisation", "name", "description", "intended_purpose", "owner",
                 "business_unit", "lifecycle_stage", "sourcing", "vendor", "model_name",
                 "model_version", "release", "answers", "markets", "eu_roles", "jp_roles",
                 "version", "eu_tier", "assessed_at", "archived_at", "created_by", "created_at",
                 "updated_at")
VERSION_FIELDS = ("id", "organisation", "system", "number", "data", "changed", "changed_by",
                  "changed_at")
ASSESSMENT_FIELDS = ("id", "code", "organisation", "system", "release", "batch", "previous",
                     "status", "source", "requested_by", "answers", "system_version", "result",
                     "eu_tier", "summary", "error", "attempts", "created_at", "dispatched_at",
                     "started_at", "finished_at", "engine_ms", "total_ms", "stale_since",
                     "review_state", "prepared_by", "prepared_at", "approved_by", "approved_at",
                     "latest")
FINDING_FIELDS = ("id", "code", "organisation", "assessment", "system", "obligation",
                  "obligation_code", "obligation_digest", "regulation_code", "jurisdiction",
                  "legal_force", "roles", "applies_from", "route", "due_date", "status",
                  "justification", "risk_approved_by", "notes", "carried_from", "suggestions",
                  "created_at", "updated_at", "updated_by")
EVIDENCE_FIELDS = ("id", "code", "organisation", "finding", "title", "url", "carried_from",
                   "added_by", "added_at")
ACTION_FIELDS = ("id", "code", "organisation", "system", "title", "description", "owner",
                 "due_date", "priority", "priority_manual", "status", "origin", "cancel_reason",
                 "created_by", "created_at", "updated_at", "done_by", "done_at", "verified_by",
                 "verified_at")
LINK_FIELDS = ("id", "organisation", "action", "finding", "status_before_verify")
# fmt: on


def models() -> dict[str, Any]:
    from assessments.models import (
        ActionFinding,
        Assessment,
        Evidence,
        Finding,
        RemediationAction,
    )
    from governance.models import AISystem, AISystemVersion, Membership, Organisation, User

    return {
        "user": (User, USER_FIELDS),
        "organisation": (Organisation, ORG_FIELDS),
        "membership": (Membership, MEMBERSHIP_FIELDS),
        "system": (AISystem, SYSTEM_FIELDS),
        "version": (AISystemVersion, VERSION_FIELDS),
        "assessment": (Assessment, ASSESSMENT_FIELDS),
        "finding": (Finding, FINDING_FIELDS),
        "evidence": (Evidence, EVIDENCE_FIELDS),
        "action": (RemediationAction, ACTION_FIELDS),
        "link": (ActionFinding, LINK_FIELDS),
    }


class Ids:
    """Primary keys from the tables' own sequences, fetched in blocks."""

    def __init__(self, conn: psycopg.Connection, models: dict[str, Any]):
        self.conn = conn
        self.sequences = {}
        for name, (model, _) in models.items():
            row = conn.execute(
                "SELECT pg_get_serial_sequence(%s, 'id')", [model._meta.db_table]
            ).fetchone()
            self.sequences[name] = row[0]
        self.free: dict[str, deque[int]] = {name: deque() for name in models}

    def take(self, name: str, n: int) -> list[int]:
        free = self.free[name]
        if len(free) < n:
            block = max(n - len(free), 20_000 if name == "finding" else 2_000)
            rows = self.conn.execute(
                "SELECT nextval(%s) FROM generate_series(1, %s)", [self.sequences[name], block]
            ).fetchall()
            free.extend(row[0] for row in rows)
        return [free.popleft() for _ in range(n)]

    def one(self, name: str) -> int:
        return self.take(name, 1)[0]


class Table:
    """COPY into one table, row by row; counts rows and the seconds spent writing them."""

    def __init__(self, name: str, model, fields: tuple[str, ...]):
        self.name = name
        self.model = model
        self.columns = [model._meta.get_field(f).column for f in fields]
        missing = [
            f.column
            for f in model._meta.concrete_fields
            if f.column not in self.columns and not f.null
        ]
        if missing:  # a new NOT NULL column: the rows would not load
            raise RuntimeError(f"the bench dataset does not fill {model._meta.db_table}.{missing}")
        self.rows = 0
        self.seconds = 0.0
        self._copy = None

    def statement(self) -> sql.Composed:
        return sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(self.model._meta.db_table),
            sql.SQL(", ").join(sql.Identifier(c) for c in self.columns),
        )

    def open(self, stack: ExitStack, conn: psycopg.Connection) -> None:
        self._copy = stack.enter_context(conn.cursor().copy(self.statement()))

    def write(self, row: tuple) -> None:
        self._copy.write_row(row)
        self.rows += 1


def connect(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, connect_timeout=10)
    try:
        conn.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege as exc:
        conn.close()
        raise RuntimeError(
            "the bench loads with triggers off (session_replication_role = replica), which "
            "needs a superuser login role in DATABASE_URL"
        ) from exc
    conn.execute("SET synchronous_commit = off")
    return conn


def finish(url: str, models: dict[str, Any], say: Callable[[str], None]) -> dict[str, float]:
    """VACUUM ANALYZE the loaded tables, check their foreign keys, and checkpoint."""
    tables = [model._meta.db_table for model, _ in models.values()]
    timings = {}
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for table in tables:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        timings["vacuum_analyze"] = time.perf_counter() - started
        started = time.perf_counter()
        orphans = []
        for model, _ in models.values():
            for f in model._meta.concrete_fields:
                if not f.is_relation or not getattr(f, "db_constraint", False):
                    continue
                target = f.related_model._meta
                found = conn.execute(
                    sql.SQL(
                        "SELECT count(*) FROM {} x WHERE x.{} IS NOT NULL AND NOT EXISTS "
                        "(SELECT 1 FROM {} y WHERE y.{} = x.{})"
                    ).format(
                        sql.Identifier(model._meta.db_table),
                        sql.Identifier(f.column),
                        sql.Identifier(target.db_table),
                        sql.Identifier(target.pk.column),
                        sql.Identifier(f.column),
                    )
                ).fetchone()[0]
                if found:
                    orphans.append(f"{model._meta.db_table}.{f.column}: {found}")
        timings["foreign_keys"] = time.perf_counter() - started
        if orphans:
            raise RuntimeError("the dataset has rows pointing nowhere: " + "; ".join(orphans))
        started = time.perf_counter()
        conn.execute("CHECKPOINT")
        timings["checkpoint"] = time.perf_counter() - started
    say(
        f"VACUUM ANALYZE {timings['vacuum_analyze']:.1f} s, foreign keys checked "
        f"{timings['foreign_keys']:.1f} s, CHECKPOINT {timings['checkpoint']:.1f} s"
    )
    return timings
