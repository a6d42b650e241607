"""An API key, a password or a webhook secret never reaches a log line, an error report, the
audit trail, an idempotency record or a task's arguments.

Requests carrying a real key go through success, 400, 401, 404 and a forced 500 while every log
record at DEBUG is captured (SQL included: DEBUG on makes Django log each query); then the raw
key is looked for in all of it, in the 500 report Django would mail to ADMINS and in the debug
page it would show a developer.
"""

import logging

import pytest
from django.db import connection
from django.views.debug import get_exception_reporter_class

from governance.models import AuditEvent, IdempotencyRecord
from governance.security.redaction import MASK, redact, redact_record

from ..api.conftest import api, make_key
from ..factories import HIRING_TOOL_ANSWERS, AISystemFactory

pytestmark = pytest.mark.usefixtures("real_catalogue")

KEY = "kk_0123456789ab_" + "S3cr3t-_" * 5
SYSTEM = {
    "name": "Keyed system",
    "description": "Ranks job applications.",
    "business_unit": "People",
    "lifecycle_stage": "production",
    "answers": dict(HIRING_TOOL_ANSWERS),
}
HOOK = {"url": "http://127.0.0.1:9/in", "event_types": ["action.created"]}
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.parametrize(
    "text, hidden, kept",
    [
        (f"Authorization: Bearer {KEY}", [KEY, "S3cr3t"], ["Authorization: "]),
        (f"got {KEY}, refused", ["S3cr3t"], ["kk_0123456789ab_", ", refused"]),
        (f"token={KEY}&next=/", ["S3cr3t"], ["&next=/"]),
        ("kk_not-a-well-formed-key", ["not-a-well-formed-key"], ["kk_"]),
        (f"{{'HTTP_AUTHORIZATION': 'Bearer {KEY}'}}", ["S3cr3t"], ["HTTP_AUTHORIZATION"]),
        ("&#x27;HTTP_AUTHORIZATION&#x27;: &#x27;Basic dXNlcjpwYXNz&#x27;", ["dXNlcjpwYXNz"], []),
        (f"secret {WEBHOOK_SECRET} rotated", ["MfKQ9r8GKYqr"], ["whsec_", "rotated"]),
        ("redis://:hunter22@cache:6379/0", ["hunter22"], ["@cache:6379/0"]),
        ("postgres://app:pa55w0rd@db/kakehashi", ["pa55w0rd"], ["postgres://app:"]),
        ('{"password": "correct horse"}', ["correct"], ['"password": ']),
        ("Bearer abc.def.ghi-jkl", ["abc.def"], ["Bearer "]),
    ],
)
def test_it_masks_secrets_in_text(text, hidden, kept):
    masked = redact(text)
    for secret in hidden:
        assert secret not in masked, masked
    for part in kept:
        assert part in masked, masked
    assert MASK in masked
    assert redact(masked) == masked


def test_it_leaves_ordinary_text_alone():
    text = "Assessment 3f2a finished: 12 findings, 4 gaps (Basic information, token bucket)."
    assert redact(text) == text


def test_it_masks_a_logged_exception_and_its_arguments():
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "calling with %s", (KEY,), sys.exc_info()
        )
    redact_record(record)
    assert "S3cr3t" not in record.getMessage()
    assert "S3cr3t" not in record.exc_text
    assert "ValueError: bad key kk_0123456789ab_" in record.exc_text


def test_it_masks_records_of_every_logger_before_any_handler_sees_them(caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("some.library").debug("connecting with %s", f"Bearer {KEY}")
    logging.getLogger().warning("header was Authorization: Bearer %s", KEY)
    assert len(caplog.records) == 2
    assert "S3cr3t" not in caplog.text


def test_it_filters_every_configured_handler(settings):
    handlers = settings.LOGGING["handlers"]
    assert handlers, "no handlers configured"
    for name, handler in handlers.items():
        assert "redact" in handler.get("filters", []), name
    assert settings.LOGGING_CONFIG == "governance.security.redaction.configure_logging"
    assert logging.getLogRecordFactory().kakehashi_redacting


# --- requests with a key ------------------------------------------------------------------------


@pytest.fixture
def key(owner, monkeypatch):
    """A real write key with a known secret (the token is how a client would hold it)."""
    from governance import apikeys

    monkeypatch.setattr(apikeys.secrets, "token_hex", lambda n: "0123456789ab")
    monkeypatch.setattr(apikeys.secrets, "token_urlsafe", lambda n: KEY.split("_", 2)[2])
    token = make_key(owner)
    assert token == KEY
    return token


@pytest.fixture
def everything_logged(caplog, settings):
    """Every record at DEBUG, SQL included (Django logs queries only in debug mode)."""
    settings.DEBUG = True
    caplog.set_level(logging.DEBUG)
    # settings.LOGGING holds Django's loggers at INFO; the queries are logged at DEBUG.
    caplog.set_level(logging.DEBUG, logger="django")
    return caplog


def all_log_text(caplog) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), str(record.args), record.exc_text or ""]
        # Everything on the record but the live exception object: handlers print its traceback
        # from exc_text, the masked one.
        parts += [str(value) for name, value in vars(record).items() if name != "exc_info"]
    return "\n".join(parts)


def secret_part(token: str) -> str:
    return token.split("_", 2)[2]


def test_it_keeps_the_key_out_of_logs_through_success_and_failures(
    key, owner, everything_logged, settings, django_capture_on_commit_callbacks
):
    settings.ROOT_URLCONF = "tests.security.boom_urls"
    org = owner.organisation
    system = AISystemFactory(organisation=org, owner=owner.user)
    client = api(key)
    client.raise_request_exception = False
    base = f"/api/v1/orgs/{org.code}/systems/"

    assert client.get(base).status_code == 200
    assert client.get(f"{base}{system.code}/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(base, {"name": ""}, format="json")
    assert created.status_code == 400
    assert client.get(f"{base}00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get(f"/api/v1/orgs/{org.code}/nothing-here/").status_code == 404
    wrong = api(KEY[:-4] + "XXXX")
    assert wrong.get(base).status_code == 401
    broken = client.get("/api/v1/boom/")
    assert broken.status_code == 500

    logged = all_log_text(everything_logged)
    assert "Internal Server Error: /api/v1/boom/" in logged
    assert "SELECT" in logged, "SQL was not captured"
    assert secret_part(KEY) not in logged
    assert "S3cr3t" not in logged
    assert "XXXX" not in logged
    # The debug page a developer would see (DEBUG is on): no key either.
    assert "S3cr3t" not in broken.content.decode()
    assert "could not handle a request with" in broken.content.decode()


def test_it_keeps_the_key_out_of_the_500_report_mailed_to_admins(key, everything_logged, settings):
    settings.ROOT_URLCONF = "tests.security.boom_urls"
    settings.DEBUG = False
    client = api(key)
    client.raise_request_exception = False
    assert client.post("/api/v1/boom/?api_key=" + KEY, {"password": "pw"}).status_code == 500

    [record] = [r for r in everything_logged.records if r.name == "django.request"]
    # What AdminEmailHandler renders for ADMINS: the same reporter class and filter.
    reporter = get_exception_reporter_class(record.request)(
        record.request, *record.exc_info, is_email=True
    )
    text, html = reporter.get_traceback_text(), reporter.get_traceback_html()
    assert "RuntimeError" in text and "/api/v1/boom/" in text
    for report in (text, html):
        assert "S3cr3t" not in report
        assert secret_part(KEY) not in report
        assert "HTTP_AUTHORIZATION" in report


def test_it_keeps_secrets_out_of_the_audit_trail_and_idempotency_records(key, owner, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    client = api(key)
    org = owner.organisation
    created = client.post(
        f"/api/v1/orgs/{org.code}/webhooks/",
        HOOK,
        format="json",
        HTTP_IDEMPOTENCY_KEY="create-hook-1",
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    system = client.post(
        f"/api/v1/orgs/{org.code}/systems/",
        SYSTEM,
        format="json",
        HTTP_IDEMPOTENCY_KEY="create-system-1",
    )
    assert system.status_code == 201, system.content

    events = AuditEvent.objects.filter(organisation=org)
    assert events.exists()
    records = IdempotencyRecord.objects.filter(organisation=org)
    assert records.count() == 2
    # Raw rows, as a database dump or a support query would see them.
    with connection.cursor() as cursor:
        dumps = []
        for table in (AuditEvent._meta.db_table, IdempotencyRecord._meta.db_table):
            cursor.execute(f"SELECT t::text FROM {table} AS t")  # noqa: S608 (model table names)
            dumps += [row[0] for row in cursor.fetchall()]
    dump = "\n".join(dumps)
    assert secret_part(KEY) not in dump
    assert secret.removeprefix("whsec_") not in dump
    assert "whsec_" not in dump


def test_it_passes_no_secret_to_a_task(key, owner, monkeypatch, settings):
    """Tasks take ids: the broker (Redis) and the worker's logs never see a secret."""
    settings.OUTBOUND_ALLOW_PRIVATE = True
    from celery import Task

    sent: list[tuple] = []
    original = Task.apply_async

    def spy(self, args=None, kwargs=None, *rest, **options):
        sent.append((self.name, args, kwargs))
        return original(self, args, kwargs, *rest, **options)

    monkeypatch.setattr(Task, "apply_async", spy)
    client = api(key)
    org = owner.organisation
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        hook = client.post(
            f"/api/v1/orgs/{org.code}/webhooks/",
            HOOK,
            format="json",
        )
        assert hook.status_code == 201
        system = AISystemFactory(organisation=org, owner=owner.user)
        run = client.post(f"/api/v1/orgs/{org.code}/systems/{system.code}/assessments/")
        assert run.status_code == 202, run.content
    assert sent, "no task was queued"
    flat = repr(sent)
    assert secret_part(KEY) not in flat
    assert "whsec_" not in flat
    assert hook.json()["secret"] not in flat
