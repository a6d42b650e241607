"""Row-level security: PostgreSQL's own fence around each organisation's rows.

Every table with an `organisation` column carries policies that let the app's database role see
(and write) a row only when

- the connection's `kakehashi.org` setting names the row's organisation (a request inside an
  organisation, or an API key of it);
- `kakehashi.scope` is `system`: workers, beat and management commands, staff in the admin site,
  and a few narrow blocks of a request that must look across organisations before they know
  which one (an API key or an invitation found by its secret, a new organisation);
- for memberships and notifications only, `kakehashi.user` names the row's user (the
  organisation switcher and the notification count, which span a user's organisations).

A connection that sets nothing sees no tenant rows and can write none.

The app connects with the login role of DATABASE_URL and immediately switches (`SET ROLE`) to
DATABASE_APP_ROLE, which owns no table and does not bypass row-level security. Only `migrate`
and `flush` run as the login role, which owns the tables; `migrate` then (re)creates the app
role's grants and every policy, so a new tenant table is covered by the next migration run, and
tests/governance/test_rls.py fails if one is not.

What this is for: a second fence behind the access helpers (governance/access.py), against a query
that forgets its organisation filter. It is not a defence against SQL injection: the app role
may change these settings itself.

The settings are session-wide and set through the raw connection, so they stay out of query
logs and query counts, like the audit context (governance/audit.py). The wanted scope is kept
per thread as well and re-applied whenever Django opens a new connection.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connection as default_connection
from django.db.backends.base.base import NO_DB_ALIAS
from psycopg import sql

SCOPE_SETTING = "kakehashi.scope"
ORG_SETTING = "kakehashi.org"
USER_SETTING = "kakehashi.user"
POLICY_PREFIX = "kakehashi_"


@dataclass(frozen=True)
class Scope:
    system: bool = False
    org_id: int | None = None
    user_id: int | None = None


NOTHING = Scope()
EVERYTHING = Scope(system=True)

# What a connection sees outside a request: nothing in web processes; everything in workers,
# beat, management commands and the test process (each sets it at start-up).
_process_default = NOTHING
_local = threading.local()


def set_process_default(scope: Scope) -> None:
    global _process_default
    _process_default = scope
    if getattr(_local, "scope", None) is None and default_connection.connection is not None:
        _execute(default_connection, _statement(scope))


def current() -> Scope:
    return getattr(_local, "scope", None) or _process_default


def app_role() -> str:
    return settings.DATABASES["default"].get("APP_ROLE", "")


# --- Applying a scope to the connection ----------------------------------------------------------


def _statement(scope: Scope) -> sql.Composable:
    return sql.SQL(
        "SELECT set_config({}, {}, false), set_config({}, {}, false), set_config({}, {}, false)"
    ).format(
        sql.Literal(SCOPE_SETTING),
        sql.Literal("system" if scope.system else ""),
        sql.Literal(ORG_SETTING),
        sql.Literal("" if scope.org_id is None else str(int(scope.org_id))),
        sql.Literal(USER_SETTING),
        sql.Literal("" if scope.user_id is None else str(int(scope.user_id))),
    )


def _execute(wrapper, statement: sql.Composable) -> list:
    with wrapper.connection.cursor() as cursor:
        cursor.execute(statement)
        rows = []
        while True:
            rows.extend(cursor.fetchall() if cursor.description else [])
            if not cursor.nextset():
                return rows


def _enter(scope: Scope) -> None:
    _local.scope = scope
    default_connection.ensure_connection()
    _execute(default_connection, _statement(scope))


def enter(scope: Scope) -> None:
    """Switch this thread's connection to `scope` (until the next switch)."""
    if scope != current() or default_connection.connection is None:
        _enter(scope)


def enter_member(user_id: int, org_code: object) -> Scope:
    """The scope of `user_id` inside the organisation `org_code`: that organisation's rows if
    they are a member of it, otherwise only their own memberships and notifications.

    One round trip: the membership is looked up by the database, as the user.
    """
    from .models import Membership, Organisation

    try:
        code = org_code if isinstance(org_code, uuid.UUID) else uuid.UUID(str(org_code))
    except ValueError:
        code = None
    user_only = Scope(user_id=user_id)
    _local.scope = user_only
    default_connection.ensure_connection()
    statement = _statement(user_only)
    if code is not None:
        # Runs after the user is set, so the membership is visible to it; no row, no org.
        statement = sql.SQL("{}; {}").format(
            statement,
            sql.SQL(
                "SELECT m.organisation_id, set_config({}, m.organisation_id::text, false) "
                "FROM {} m JOIN {} o ON o.id = m.organisation_id "
                "WHERE o.code = {} AND m.user_id = {}"
            ).format(
                sql.Literal(ORG_SETTING),
                sql.Identifier(Membership._meta.db_table),
                sql.Identifier(Organisation._meta.db_table),
                sql.Literal(code),
                sql.Literal(int(user_id)),
            ),
        )
    rows = _execute(default_connection, statement)
    if len(rows) > 1:
        _local.scope = Scope(org_id=rows[1][0], user_id=user_id)
    return current()


def enter_org(org_id: int, *, user_id: int | None = None) -> None:
    """Work inside one organisation (an API key's, an invitation's) for the rest of the request."""
    enter(Scope(org_id=org_id, user_id=user_id))


def restore(scope: Scope) -> None:
    """Go back to `scope` at the end of a request; a broken connection is closed instead, so it
    can never keep a user's scope."""
    try:
        if scope != current():
            _enter(scope)
    except Exception:
        _local.scope = scope
        default_connection.close()


@contextmanager
def scoped(scope: Scope) -> Iterator[None]:
    """Work in `scope` inside the block; the previous scope comes back afterwards."""
    before = current()
    enter(scope)
    try:
        yield
    finally:
        restore(before)


def everything():
    """See every organisation's rows inside the block (for lookups by a secret, before the
    organisation is known)."""
    return scoped(EVERYTHING)


# --- The app role, and the connection switching to it ---------------------------------------------

_owner = threading.local()


def on_connection_created(sender, connection, **kwargs) -> None:
    """Switch a new connection to the app role and to this thread's scope."""
    # The connection Django opens to the `postgres` database to create a test database stays
    # the login role.
    if connection.vendor != "postgresql" or connection.alias == NO_DB_ALIAS:
        return
    role = connection.settings_dict.get("APP_ROLE", "")
    statements = []
    if role and not getattr(_owner, "active", False):
        statements.append(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    statements.append(_statement(current()))
    _execute(connection, sql.SQL("; ").join(statements))


@contextmanager
def owner(wrapper=default_connection) -> Iterator[None]:
    """Work as the login role, which owns the tables (migrations, flushing a test database)."""
    role = wrapper.settings_dict.get("APP_ROLE", "")
    _owner.active = True
    try:
        if role and wrapper.connection is not None:
            _execute(wrapper, sql.SQL("RESET ROLE"))
        yield
    finally:
        _owner.active = False
        if role and wrapper.connection is not None:
            try:
                _execute(wrapper, sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            except Exception:
                wrapper.close()


# --- Installing the role, grants and policies (run by `migrate`, as the owner) -----------------


def tenant_tables() -> list[tuple[str, list[str]]]:
    """(table, extra user columns) of every model with an organisation foreign key."""
    from django.apps import apps

    from .models import Organisation

    user_columns = {
        "governance_membership": ["user_id"],
        "assessments_notification": ["recipient_id"],
    }
    found = []
    for model in apps.get_models():
        meta = model._meta
        if not meta.managed or meta.proxy:
            continue
        field = next((f for f in meta.concrete_fields if f.name == "organisation"), None)
        if field is None or field.related_model is not Organisation:
            continue
        found.append((meta.db_table, user_columns.get(meta.db_table, [])))
    return sorted(found)


def _org_expr(setting: str) -> sql.Composable:
    return sql.SQL("NULLIF(current_setting({}, true), '')::bigint").format(sql.Literal(setting))


def install(wrapper=default_connection) -> list[str]:
    """Create the app role if missing, grant it the data (not the tables), and (re)create every
    tenant table's policies. Idempotent; returns the tables it covered."""
    role = wrapper.settings_dict.get("APP_ROLE", "")
    if not role:
        return []
    ident = sql.Identifier(role)
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            cursor.execute(
                sql.SQL("CREATE ROLE {} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
                .format(ident)
                .as_string(cursor.connection)
            )
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            # A login role that is not a superuser needs membership to switch to the app role.
            cursor.execute(
                sql.SQL("GRANT {} TO CURRENT_USER").format(ident).as_string(cursor.connection)
            )
        for statement in (
            "GRANT USAGE ON SCHEMA public TO {}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}",
        ):
            cursor.execute(sql.SQL(statement).format(ident).as_string(cursor.connection))
        tables = tenant_tables()
        for table, user_columns in tables:
            cursor.execute(_policies(table, user_columns, ident).as_string(cursor.connection))
    return [table for table, _ in tables]


def _policies(table: str, user_columns: list[str], role: sql.Identifier) -> sql.Composable:
    t = sql.Identifier(table)
    org = _org_expr(ORG_SETTING)
    user = _org_expr(USER_SETTING)
    system = sql.SQL("current_setting({}, true) = 'system'").format(sql.Literal(SCOPE_SETTING))
    parts = [
        sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(t),
        sql.SQL(
            "DO $$ DECLARE p record; BEGIN "
            "FOR p IN SELECT policyname FROM pg_policies WHERE tablename = {} "
            "AND policyname LIKE {} LOOP "
            "EXECUTE format('DROP POLICY %I ON %I', p.policyname, {}); END LOOP; END $$"
        ).format(sql.Literal(table), sql.Literal(POLICY_PREFIX + "%"), sql.Literal(table)),
        sql.SQL(
            "CREATE POLICY {} ON {} TO {} USING (organisation_id = {}) WITH CHECK "
            "(organisation_id = {})"
        ).format(sql.Identifier(POLICY_PREFIX + "organisation"), t, role, org, org),
        sql.SQL("CREATE POLICY {} ON {} TO {} USING ({}) WITH CHECK ({})").format(
            sql.Identifier(POLICY_PREFIX + "system"), t, role, system, system
        ),
    ]
    for column in user_columns:
        parts.append(
            sql.SQL("CREATE POLICY {} ON {} TO {} USING ({} = {}) WITH CHECK ({} = {})").format(
                sql.Identifier(POLICY_PREFIX + "own_" + column),
                t,
                role,
                sql.Identifier(column),
                user,
                sql.Identifier(column),
                user,
            )
        )
    if table == "governance_auditevent":
        # The audit trigger records changes of global rows (a user's profile, the catalogue)
        # with no organisation; anyone may add such a row, only the system scope reads them.
        parts.append(
            sql.SQL(
                "CREATE POLICY {} ON {} FOR INSERT TO {} WITH CHECK (organisation_id IS NULL)"
            ).format(sql.Identifier(POLICY_PREFIX + "global_insert"), t, role)
        )
    return sql.SQL("; ").join(parts)
