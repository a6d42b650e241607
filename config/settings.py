"""Kakehashi settings, read from the environment.

Every variable is listed with its default in README.md. With DEBUG off the app refuses to start
without SECRET_KEY, DATABASE_URL and REDIS_URL; with DEBUG on it falls back to local development
values. `make run` / `make test` write the embedded servers' URLs to var/env, which is read here
when the variables are not in the environment.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / "var" / "env").is_file():
    # read_env never overrides a variable that is already set.
    env.read_env(str(BASE_DIR / "var" / "env"))

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-for-debug-mode"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
BASE_URL = env.str("KAKEHASHI_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "governance",
    "governance.security",
    "assessments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost after Django's, so every response gets the policy (settings below).
    "csp.middleware.CSPMiddleware",
    "governance.security.headers.PermissionsPolicyMiddleware",
    "governance.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "governance.middleware.UserPreferencesMiddleware",
    "governance.middleware.AuditContextMiddleware",
    "governance.middleware.TenantScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After messages (an ended session says why) and before any view: ends idle and old
    # sessions, and keeps a staff member without MFA on the enrolment page.
    "governance.security.middleware.SessionTimeoutMiddleware",
    "governance.security.middleware.MfaRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "governance.context_processors.memberships",
                "assessments.context_processors.notifications",
            ],
        },
    },
]

# Database: PostgreSQL only, everywhere.
if "DATABASE_URL" not in env and not DEBUG:
    raise ImproperlyConfigured("DATABASE_URL must be set when DEBUG is off.")
DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/kakehashi")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# No JIT: the app's queries are short, and a planner misled by a large or bloated table would
# spend tens of milliseconds compiling each one (measured: 48 ms against 0.3 ms run time).
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
# Row-level security (governance/rls.py): each connection switches to this role, which owns no
# table and sees only the rows of the organisation it works in; `migrate` runs as the login role
# of DATABASE_URL (the owner) and creates the role, its grants and the policies. Empty turns the
# switch off (the policies still exist, but the owner is not subject to them).
DATABASES["default"]["APP_ROLE"] = env.str("DATABASE_APP_ROLE", default="kakehashi_app")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if "REDIS_URL" not in env and not DEBUG:
    raise ImproperlyConfigured("REDIS_URL must be set when DEBUG is off.")
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "kakehashi",
    }
}

AUTH_USER_MODEL = "governance.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("PASSWORD_MIN_LENGTH", default=12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 60 * 60)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)

# Failed logins, counted in the cache per account (e-mail) and per client address within
# LOGIN_FAILURE_WINDOW seconds; at the limit that account or address is locked for
# LOGIN_LOCKOUT_SECONDS (governance/security/throttle.py). Wrong MFA codes count for the account.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_IP_FAILURE_LIMIT = env.int("LOGIN_IP_FAILURE_LIMIT", default=20)
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW", default=15 * 60)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
# Password-reset requests per address (e-mail) and per client address in the same window.
PASSWORD_RESET_LIMIT = env.int("PASSWORD_RESET_LIMIT", default=5)
PASSWORD_RESET_IP_LIMIT = env.int("PASSWORD_RESET_IP_LIMIT", default=20)
# Wrong codes at the MFA step before the half-logged-in session is thrown away.
MFA_FAILURE_LIMIT = env.int("MFA_FAILURE_LIMIT", default=5)
# Proxies in front of the app whose X-Forwarded-For entry is trusted for the client address
# (0: REMOTE_ADDR). Behind one TLS proxy, REMOTE_ADDR is the proxy's for everyone.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0 if DEBUG else 1)
# Sessions end after SESSION_IDLE_TIMEOUT seconds without a request and SESSION_ABSOLUTE_TIMEOUT
# seconds after login, whichever comes first (governance/security/middleware.py).
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=30 * 60)
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT", default=12 * 60 * 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
SESSION_COOKIE_SAMESITE = "Lax"
MFA_ISSUER = env.str("MFA_ISSUER", default="Kakehashi")

# Language and time. Users choose their language; times are shown in the user's own time zone or,
# when they chose none, in the organisation's. Everything is stored in UTC.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Date and time formats per language (config/formats/<lang>/formats.py): templates use the named
# formats (SHORT_DATE_FORMAT, …), never a literal pattern, so Japanese readers get 2026/11/21.
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")

# E-mail: printed to the console unless EMAIL_URL names an SMTP server
# (smtp+tls://user:password@host:587). With filemail://, messages go to EMAIL_FILE_PATH.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Kakehashi <noreply@kakehashi.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# A hung SMTP server must not hold a worker past the task's time limit.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

# Security. Production defaults follow DEBUG; each can be overridden.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy (django-csp, whose settings Django 6's own CSP adopts): this origin
# only, and no inline script or style at all — no nonce, no hash, no 'unsafe-inline': templates
# load static/js and static/css files. The API docs page adds data: images for Swagger UI's icons
# (governance/api/urls.py). With DEBUG on, django-csp leaves Django's debug 404/500 pages alone.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
# Browser features no page uses, off for every page (governance/security/headers.py).
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
# 500 reports (the debug page, mails to ADMINS) hide secrets even with DEBUG on and mask any
# API key, Authorization value or webhook secret left in them (governance/security/redaction.py).
DEFAULT_EXCEPTION_REPORTER = "governance.security.redaction.RedactingExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "governance.security.redaction.SecretsExceptionReporterFilter"

# Celery: JSON only, acknowledged after the work is done, one task at a time per process, and
# re-queued when a worker dies mid-task. Tasks must therefore be idempotent. The broker's Redis
# must keep an append-only file (appendonly yes, appendfsync everysec): without it a restart
# drops every queued message, and runs wait for the sweep's re-send (ASSESSMENT_RESEND_AFTER).
# `make chaos` kills Redis mid-batch and counts the messages before and after.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 24 * 60 * 60
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="kakehashi")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis re-delivers an unacknowledged message after this long; it must exceed the hard limit.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 2}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "clear-expired-sessions": {
        "task": "governance.tasks.clear_expired_sessions",
        "schedule": 24 * 60 * 60,
    },
    "sweep-assessments": {
        "task": "assessments.tasks.sweep_assessments",
        "schedule": env.int("ASSESSMENT_SWEEP_EVERY", default=60),
    },
    # Reminders are keyed per action, due date and day count, so running often (or twice after
    # a restart) sends nothing twice; it only makes them prompt after midnight in each zone.
    "send-reminders": {
        "task": "assessments.tasks.send_reminders",
        "schedule": env.int("REMINDER_EVERY", default=900),
    },
    "send-notification-emails": {
        "task": "assessments.tasks.send_notification_emails",
        "schedule": env.int("NOTIFICATION_EMAIL_EVERY", default=60),
    },
    "send-digests": {
        "task": "assessments.tasks.send_digests",
        "schedule": env.int("DIGEST_EVERY", default=900),
    },
    # Deliveries and ticket syncs are also queued on commit; the beat picks up retries that fell
    # due and anything a lost task left behind.
    "deliver-webhooks": {
        "task": "assessments.tasks.deliver_webhooks",
        "schedule": env.int("WEBHOOK_SWEEP_EVERY", default=30),
    },
    "sync-tickets": {
        "task": "assessments.tasks.sync_tickets",
        "schedule": env.int("TICKET_SYNC_EVERY", default=60),
    },
    "purge-idempotency-keys": {
        "task": "governance.tasks.purge_idempotency_keys",
        "schedule": 60 * 60,
    },
}

# Daily digests go out once a day per user, from this hour (UTC) on.
DIGEST_HOUR_UTC = env.int("DIGEST_HOUR_UTC", default=7)

# Evidence uploads: the largest file accepted, in bytes (types are fixed in assessments/actions.py).
EVIDENCE_MAX_BYTES = env.int("EVIDENCE_MAX_BYTES", default=25 * 1024 * 1024)
# Any request body: the largest evidence file plus room for the form around it.
MAX_REQUEST_BYTES = EVIDENCE_MAX_BYTES + 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Assessment runs: one left `running` longer than this (seconds, beyond the hard time limit,
# so a live run is never taken for a dead one) is re-queued by the sweep, up to
# ASSESSMENT_MAX_ATTEMPTS; one still `queued` this long after dispatch is sent again.
ASSESSMENT_STUCK_AFTER = env.int("ASSESSMENT_STUCK_AFTER", default=CELERY_TASK_TIME_LIMIT + 60)
ASSESSMENT_RESEND_AFTER = env.int("ASSESSMENT_RESEND_AFTER", default=600)
ASSESSMENT_MAX_ATTEMPTS = env.int("ASSESSMENT_MAX_ATTEMPTS", default=5)
# Runs per task when many are queued at once (a batch, re-assessment after a release, the
# sweep): each step of assessments/runner.py then runs once for all of them.
ASSESSMENT_RUN_CHUNK = env.int("ASSESSMENT_RUN_CHUNK", default=200)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["governance.api.conventions.ClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"client": env.str("API_RATE", default="600/min")},
    "EXCEPTION_HANDLER": "governance.api.conventions.problem_handler",
    "DEFAULT_SCHEMA_CLASS": "governance.api.schema.Schema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Kakehashi API",
    "DESCRIPTION": (
        "AI-regulation compliance for the EU and Japan: systems, assessments, findings, "
        "remediation actions, the regulatory catalogue, webhooks and the audit trail. "
        "Authenticate with an organisation API key (`Authorization: Bearer kk_…`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # OpenAPI 3.1, for the `webhooks` section that documents the events we send.
    "OAS_VERSION": "3.1.0",
    "WEBHOOKS": [
        f"assessments.api.webhooks.{name}_webhook"
        for name in (
            "action_created",
            "action_updated",
            "action_overdue",
            "finding_updated",
            "assessment_completed",
            "release_published",
        )
    ],
    "ENUM_NAME_OVERRIDES": {
        "EventTypeEnum": "assessments.models.EventType",
        "DeliveryStatusEnum": "assessments.models.DeliveryStatus",
        "ActionStatusEnum": "assessments.models.ActionStatus",
        "ActionOriginEnum": "assessments.models.ActionOrigin",
        "PriorityEnum": "assessments.models.Priority",
        "FindingStatusEnum": "assessments.models.FindingStatus",
        "AssessmentStatusEnum": "assessments.models.AssessmentStatus",
    },
    # After the enum hook: OpenAPI links between operations (governance/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "governance.api.schema.add_links",
    ],
}

# Secrets at rest (ticketing tokens, webhook secrets): Fernet keys, newest first. Without any,
# a key is derived from SECRET_KEY (so rotating SECRET_KEY then needs the old one listed here).
ENCRYPTION_KEYS = env.list("ENCRYPTION_KEYS", default=[])
# Outbound webhook and ticketing calls: private, loopback and link-local addresses are refused
# unless this is on (tests and a receiver on the same host need it).
OUTBOUND_ALLOW_PRIVATE = env.bool("OUTBOUND_ALLOW_PRIVATE", default=False)
OUTBOUND_TIMEOUT = env.int("OUTBOUND_TIMEOUT", default=10)
# A failing webhook is retried with exponential backoff and jitter for about three days.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=15)
# Multiplies every retry wait: 1 in production; the chaos run (scripts/chaos) squeezes three
# days of retries into seconds with 0.001.
WEBHOOK_RETRY_SCALE = env.float("WEBHOOK_RETRY_SCALE", default=1.0)

# Secrets never reach a log: configure_logging masks API keys, Authorization values, webhook
# secrets and URL passwords in every record as it is created (whichever handler, Celery's
# included), and every handler here filters again (governance/security/redaction.py).
LOGGING_CONFIG = "governance.security.redaction.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "governance.security.redaction.RedactingFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "redact"],
        },
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's defaults, with the filtered handlers above in place of its own.
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        # WeasyPrint narrates every PDF at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
