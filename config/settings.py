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
    "governance",
    "assessments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "governance.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "governance.middleware.UserPreferencesMiddleware",
    "governance.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 60 * 60)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)

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

# Celery: JSON only, acknowledged after the work is done, one task at a time per process, and
# re-queued when a worker dies mid-task. Tasks must therefore be idempotent.
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
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums"],
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # WeasyPrint narrates every PDF at INFO.
    "loggers": {"weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}
