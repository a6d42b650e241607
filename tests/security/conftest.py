"""Shared fixtures of the security tests.

# --- "Nothing written" (helper badinput) ---------------------------------------------------------

`nothing_written` fingerprints every table of every installed app (the models in the app
registry, many-to-many tables included) before and after a block, and fails naming each table
whose rows changed. A fingerprint is the row count and an MD5 over the MD5 of every row, so an
update that keeps the count is caught too, and the audit trail (a table like any other) shows
every write the triggers saw.

Left out, each with its reason:
- `django_session`: a session is the browser's bookkeeping (a login, a CSRF token, a message
  queued for the next page), not the organisation's data;
- `governance_apikey.last_used_at` and `security_totpdevice.last_used_at`: a key's (or
  authenticator's) "last used" time is stamped by authenticating, whatever the request then
  does; the audit trail already leaves it out (governance/audit.py redacts it).

API rate limits and the compiled-catalogue cache live in Redis, not in the database, so there is
nothing of theirs to leave out here.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.apps import apps
from django.db import connection
from psycopg import sql

IGNORED_TABLES = frozenset({"django_session"})
IGNORED_COLUMNS = {
    "governance_apikey": ("last_used_at",),
    "security_totpdevice": ("last_used_at",),
}


def app_tables() -> list[str]:
    tables = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }
    return sorted(tables - IGNORED_TABLES)


def fingerprint() -> dict[str, tuple[int, str]]:
    """table -> (rows, md5 of the sorted md5s of its rows)."""
    parts = []
    for table in app_tables():
        row = sql.SQL("to_jsonb(t) - {}::text[]").format(
            sql.Literal(list(IGNORED_COLUMNS.get(table, ())))
        )
        parts.append(
            sql.SQL(
                "SELECT {name}, count(*), "
                "coalesce(md5(string_agg(md5(({row})::text), '' ORDER BY md5(({row})::text))), '')"
                " FROM {table} AS t"
            ).format(name=sql.Literal(table), row=row, table=sql.Identifier(table))
        )
    query = sql.SQL(" UNION ALL ").join(parts)
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(cursor.connection))
        return {name: (count, digest) for name, count, digest in cursor.fetchall()}


class SomethingWritten(AssertionError):
    pass


def changes(before: dict, after: dict) -> list[str]:
    lines = []
    for table in sorted(set(before) | set(after)):
        (rows_before, digest_before), (rows_after, digest_after) = (
            before.get(table, (0, "")),
            after.get(table, (0, "")),
        )
        if digest_before != digest_after:
            lines.append(
                f"{table}: {rows_before} -> {rows_after} rows"
                + (" (same count, rows changed)" if rows_before == rows_after else "")
            )
    return lines


@contextmanager
def nothing_written() -> Iterator[None]:
    """Fail, naming the tables, if the block changes any row of the app's tables."""
    before = fingerprint()
    yield
    changed = changes(before, fingerprint())
    if changed:
        raise SomethingWritten("rows were written:\n  " + "\n  ".join(changed))


def stored_files(root) -> list[str]:
    """Every file under `root` (MEDIA_ROOT, the upload temp directory), relative to it."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- end of "nothing written" ---------------------------------------------------------------------


# --- The tenant-isolation matrix (helper isolation) ----------------------------------------------
# Fixtures of tests/security/test_isolation_matrix.py; the world they build is described there.


@pytest.fixture(scope="module")
def matrix_world(django_db_setup, django_db_blocker, _catalogue_files, tmp_path_factory):
    """Organisations A, B and C, each with one object of every kind, built once per module
    inside a transaction that is rolled back when the module is done. Each test runs in a
    savepoint of its own (pytest-django's `db`), so what one test writes the next never sees.

    The requests run as the tables' owner, which row-level security does not restrict: the
    matrix proves the application's own scoping (the access helpers), not the database's fence
    behind it (tests/governance/test_rls.py covers that)."""
    from django.db import transaction
    from django.test import override_settings

    from governance import rls

    from .test_isolation_matrix import build_world

    media = tmp_path_factory.mktemp("matrix-media")
    with django_db_blocker.unblock(), rls.owner(), override_settings(MEDIA_ROOT=str(media)):
        block = transaction.atomic()
        block.__enter__()
        try:
            yield build_world(_catalogue_files)
        finally:
            transaction.set_rollback(True)
            block.__exit__(None, None, None)


@pytest.fixture
def matrix_env(db, settings, monkeypatch, matrix_world):
    """Per test: generous API rates (the matrix makes thousands of calls), host names that
    resolve without a network, and PDFs whose "rendering" is the HTML WeasyPrint would print
    (a PDF's text is compressed and font-subset, so the markers are looked for in its source)."""
    import socket
    import sys

    from assessments import reports

    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {"client": "1000000/min"}
    settings.REST_FRAMEWORK = rest

    real_getaddrinfo = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        # Only the made-up hosts of the matrix's bodies; the database and Redis resolve as ever.
        if isinstance(host, str) and host.endswith((".example.com", ".example", ".atlassian.net")):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port or 443))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)

    original = reports.pdf_from_html

    def pdf_source(html: str, base_url: str) -> bytes:
        return b"%PDF-matrix-stub\n" + html.encode()

    for module in list(sys.modules.values()):
        if getattr(module, "pdf_from_html", None) is original:
            monkeypatch.setattr(module, "pdf_from_html", pdf_source)
    return matrix_world
