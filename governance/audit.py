"""The audit trail: PostgreSQL triggers record every row change with its actor.

Triggers see every write, including bulk `update()`, `bulk_create()` and raw SQL, which signals
would miss. The actor travels in a session setting (`kakehashi.audit`, a JSON object) that
`audit_context` sets on the connection; the trigger copies it into each event.

A new tenant table joins the trail with a migration operation:

    operations = [audit.track("governance_widget")]

and `tests/governance/test_audit.py` fails if a tenant model's table has no trigger.
"""

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, migrations

SETTING = "kakehashi.audit"

FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION kakehashi_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := nullif(current_setting('kakehashi.audit', true), '')::jsonb;
    redacted text[] := TG_ARGV[1:array_length(TG_ARGV, 1)];
    old_row jsonb;
    new_row jsonb;
    row_data jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD) - coalesce(redacted, '{}'); END IF;
    IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW) - coalesce(redacted, '{}'); END IF;
    IF TG_OP = 'UPDATE' AND old_row = new_row THEN
        RETURN NULL;
    END IF;
    row_data := coalesce(new_row, old_row);
    INSERT INTO governance_auditevent
        (organisation_id, "table", object_pk, action, before, after,
         actor_user_id, actor_api_key_id, context, created_at)
    VALUES (
        CASE WHEN TG_ARGV[0] = '' THEN NULL ELSE (row_data ->> TG_ARGV[0])::bigint END,
        TG_TABLE_NAME,
        row_data ->> 'id',
        lower(TG_OP),
        old_row,
        new_row,
        (ctx ->> 'user')::bigint,
        (ctx ->> 'api_key')::bigint,
        ctx,
        clock_timestamp()
    );
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION kakehashi_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END;
$$;
"""

FUNCTION_REVERSE_SQL = """
DROP FUNCTION IF EXISTS kakehashi_audit() CASCADE;
DROP FUNCTION IF EXISTS kakehashi_audit_append_only() CASCADE;
"""


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


ALL_CHANGES = ("INSERT", "UPDATE", "DELETE")


def track(
    table: str,
    *,
    org_column: str = "organisation_id",
    redact: tuple[str, ...] = (),
    changes: tuple[str, ...] = ALL_CHANGES,
):
    """A migration operation that records every change of `table` in the audit trail.

    `org_column` names the column holding the organisation id ('' for global tables);
    `redact` lists columns never copied into the trail (password hashes, secrets);
    `changes` the statements recorded (findings: updates and deletes, see DESIGN.md).
    """
    return migrations.RunSQL(
        sql=_trigger_sql(table, org_column, redact, changes),
        reverse_sql=f'DROP TRIGGER IF EXISTS "{table}_audit" ON "{table}";',
    )


def _trigger_sql(table: str, org_column: str, redact: tuple[str, ...], changes: tuple[str, ...]):
    args = ", ".join(_quote_literal(a) for a in (org_column, *redact))
    return (
        f'CREATE TRIGGER "{table}_audit" AFTER {" OR ".join(changes)} ON "{table}" '
        f"FOR EACH ROW EXECUTE FUNCTION kakehashi_audit({args});"
    )


def retrack(table: str, *, before: tuple[str, ...], after: tuple[str, ...], **options):
    """A migration operation that changes which statements of `table` are recorded."""
    drop = f'DROP TRIGGER IF EXISTS "{table}_audit" ON "{table}";'
    return migrations.RunSQL(
        sql=drop + _trigger_sql(table, options.get("org_column", "organisation_id"),
                                options.get("redact", ()), after),
        reverse_sql=drop + _trigger_sql(table, options.get("org_column", "organisation_id"),
                                        options.get("redact", ()), before),
    )  # fmt: skip


def install() -> list[migrations.RunSQL]:
    """Migration operations that create the trigger functions and guard the audit table."""
    return [
        migrations.RunSQL(FUNCTION_SQL, FUNCTION_REVERSE_SQL),
        migrations.RunSQL(
            "CREATE TRIGGER governance_auditevent_append_only BEFORE UPDATE OR DELETE "
            "ON governance_auditevent FOR EACH ROW EXECUTE FUNCTION kakehashi_audit_append_only();",
            "DROP TRIGGER IF EXISTS governance_auditevent_append_only ON governance_auditevent;",
        ),
    ]


def _apply(payload: str) -> None:
    connection.ensure_connection()
    # The raw cursor keeps this bookkeeping out of the query log (and out of query counts).
    with connection.connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, false)", [SETTING, payload])


@contextmanager
def audit_context(
    *, user_id: int | None = None, api_key_id: int | None = None, source: str
) -> Iterator[dict[str, Any]]:
    """Attribute every write made inside the block to this actor.

    Enter it outside any transaction (a request, a task): the setting is session-wide, so a
    rollback inside the block cannot undo it. Yields the context dict; `set_actor` updates it.
    """
    ctx: dict[str, Any] = {"source": source, "id": uuid.uuid4().hex}
    if user_id is not None:
        ctx["user"] = user_id
    if api_key_id is not None:
        ctx["api_key"] = api_key_id
    _apply(json.dumps(ctx))
    try:
        yield ctx
    finally:
        try:
            _apply("")
        except Exception:
            # A broken connection must not keep a stale actor: drop it.
            connection.close()


def set_actor(
    ctx: dict[str, Any],
    *,
    user_id: int | None = None,
    api_key_id: int | None = None,
    source: str | None = None,
) -> None:
    """Change the actor of the current context: once a visitor has signed up or logged in, or
    once an API request has been authenticated by its key."""
    if user_id is not None:
        ctx["user"] = user_id
    if api_key_id is not None:
        ctx.pop("user", None)
        ctx["api_key"] = api_key_id
    if source is not None:
        ctx["source"] = source
    _apply(json.dumps(ctx))
