import sys

import kombu.exceptions
import psycopg
import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from governance import rls
from governance.api.conventions import plain_problem
from governance.middleware import audit_exempt


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def _broker_ok() -> bool:
    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


@audit_exempt
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, 503 otherwise; for load balancers."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    healthy = all(checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


def not_found(request: HttpRequest, exception=None):
    """Problem details for an unknown /api/ path; the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return plain_problem(request, 404, "not_found", "There is no such API endpoint.")
    if rls.current() == rls.NOTHING and request.user.is_authenticated:
        # A path that matched no view never reached TenantScopeMiddleware.process_view: the page
        # still shows the user's own organisations in its header.
        rls.enter(rls.Scope(user_id=request.user.pk))
    return defaults.page_not_found(request, exception)


# A database or broker that does not answer (a restart, a failover) is no bug of ours and
# passes: 503 with Retry-After tells clients and load balancers to come back, where a 500 would
# page someone. Other database errors (a bad query) stay 500.
UNAVAILABLE = (
    OperationalError,
    InterfaceError,
    # Raised as they are by the raw cursor that sets the audit context and the tenant scope
    # (kept out of query counts), where Django does not wrap them; found by scripts/chaos.
    psycopg.OperationalError,
    psycopg.InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
    kombu.exceptions.OperationalError,
)
RETRY_AFTER_SECONDS = 5


def _unavailable(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = plain_problem(
            request,
            503,
            "service_unavailable",
            _("The service is briefly unavailable; try again in a moment."),
        )
    else:
        response = HttpResponse(
            loader.get_template("503.html").render(), status=503, content_type="text/html"
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest):
    if isinstance(sys.exc_info()[1], UNAVAILABLE):
        return _unavailable(request)
    if request.path.startswith("/api/"):
        return plain_problem(
            request, 500, "server_error", "Something went wrong on our side; it has been logged."
        )
    return defaults.server_error(request)
