"""Secrets never reach a log line or an error report.

API keys (`kk_<id>_<secret>`), webhook signing secrets (`whsec_…`), `Authorization` values,
bearer tokens, passwords in URLs and `password=`/`token=`/`secret=` pairs are masked:

- in every log record, when it is created: `configure_logging` (settings.LOGGING_CONFIG)
  installs a record factory, so every handler sees the masked text — ours, Celery's (which
  replaces the root handlers in a worker), gunicorn's, pytest's — and so does the formatted
  traceback of a logged exception;
- again by `RedactingFilter` on each handler in settings.LOGGING, for records a library made
  before the factory was installed;
- in 500 error reports, rendered by Django in debug mode or mailed to ADMINS:
  `SecretsExceptionReporterFilter` hides settings, headers, cookies, POST data and frame
  variables even with DEBUG on, and `RedactingExceptionReporter` masks what is left in the
  rendered text and HTML (an exception message that quotes a key, for instance).

The key's public id (`kk_<id>_`) is kept: it names the key in the UI and is not a secret.
"""

import logging
import logging.config
import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

MASK = "********"

_KEY_ID = re.compile(r"[0-9a-f]{1,16}")
# token_urlsafe's alphabet; no word boundary in front, so a key glued to other text still goes.
# The lookahead leaves an already masked key as it is.
_API_KEY = re.compile(r"kk_(?![0-9a-f]{1,16}_\*)([A-Za-z0-9_\-]+)")
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Standard Webhooks signing secrets: whsec_ + base64.
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), f"whsec_{MASK}"),
    # Any Authorization header value, as a header line, a dict entry or a META key.
    (
        re.compile(
            r"(authorization(?:&#x27;|&quot;|[\"'])?\s*[:=]\s*(?:&#x27;|&quot;|[\"'])?)"
            r"[^\"'&\r\n,;}]+",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=\-*]+"), f"Bearer {MASK}"),
    # user:password@ in a URL (database, Redis, SMTP, a webhook receiver).
    (re.compile(r"([a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE), rf"\1{MASK}@"),
    # password=…, "token": "…", secret: … (form bodies, query strings, reprs of dicts).
    (
        re.compile(
            r"((?:password|passwd|secret|token|api_key|apikey)[\w\-]*"
            r"(?:&#x27;|&quot;|[\"'])?\s*[=:]\s*(?:&#x27;|&quot;|[\"'])?)"
            r"(?!\*{8})[^\s\"'&,;}]+",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
]


def _mask_key(match: re.Match[str]) -> str:
    key_id, sep, secret = match.group(1).partition("_")
    if sep and secret and _KEY_ID.fullmatch(key_id):
        return f"kk_{key_id}_{MASK}"
    return f"kk_{MASK}"


def redact(text: str) -> str:
    """`text` with every secret it quotes masked."""
    if not text:
        return text
    text = _API_KEY.sub(_mask_key, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_formatter = logging.Formatter()


def redact_record(record: logging.LogRecord) -> None:
    """Mask secrets in the record's message, traceback and stack, in place (once)."""
    if getattr(record, "_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is logging's own error to report, not ours
        return
    record.msg = redact(message)
    record.args = ()
    if record.exc_info and not record.exc_text:
        # Formatters reuse exc_text, so the traceback they print is this masked one.
        record.exc_text = _formatter.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._redacted = True


class RedactingFilter(logging.Filter):
    """Masks secrets in every record a handler emits; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "kakehashi_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    factory.kakehashi_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(config: dict[str, Any]) -> None:
    """settings.LOGGING_CONFIG: mask secrets in every record, then apply settings.LOGGING."""
    install_record_factory()
    logging.config.dictConfig(config)


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, active even with DEBUG on, that also masks secrets inside values."""

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|CREDENTIAL", re.IGNORECASE
    )

    def is_active(self, request: HttpRequest | None) -> bool:
        # Django turns its filter off in debug mode; a developer's debug page, screenshot or
        # pasted traceback must not carry a customer's key either.
        return True

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        # Settings, META and cookies pass through here: REDIS_URL with a password, a key in
        # QUERY_STRING or HTTP_REFERER.
        return redact(cleansed) if isinstance(cleansed, str) else cleansed

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        params = super().get_post_parameters(request)
        if not params:
            return params
        params = params.copy()
        for name, values in list(params.lists()):
            params.setlist(name, [redact(v) if isinstance(v, str) else v for v in values])
        return params

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        return [
            (name, redact(value) if isinstance(value, str) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


class RedactingExceptionReporter(ExceptionReporter):
    """Django's 500 report with any secret left in it (in an exception message, a repr) masked."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        # Frame variables are text by now (pprint); mask them before the template sees them.
        for frame in data.get("frames", []):
            if "vars" in frame:
                frame["vars"] = [
                    (name, redact(value) if isinstance(value, str) else value)
                    for name, value in frame["vars"]
                ]
        if isinstance(data.get("exception_value"), str):
            data["exception_value"] = redact(data["exception_value"])
        return data

    def get_traceback_html(self) -> str:
        return redact(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return redact(super().get_traceback_text())
