"""Outbound webhooks: endpoints, Standard Webhooks signing, and the delivery engine.

Signing follows Standard Webhooks (https://www.standardwebhooks.com/): every request carries
`webhook-id` (the event's `msg_<hex>`, the same on every retry and replay, so receivers
deduplicate on it), `webhook-timestamp` (unix seconds of this attempt) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
base64-decoded part of the `whsec_` secret. While a rotated-out secret is in its grace period it
signs too, so the header then holds two space-separated signatures.

Who manages endpoints: an organisation admin, or a write API key (keys are issued by admins, and
an integration registering its own receiver is the usual reason to hold one). Read keys may list
endpoints and deliveries; other members may not see them (payloads carry the organisation's
data, the endpoints its receivers).

Delivery is at least once. `deliver_due` claims due deliveries (`FOR UPDATE SKIP LOCKED`, so
concurrent sweeps never share one), commits, then makes each HTTP call outside any transaction.
A failure waits with exponential backoff and jitter: the wait after attempt n is uniform within
15 % either side of a nominal wait, the nominal waits being

    5 s, 5 min, 30 min, 2 h, 5 h, then equal steps until they add up to three days

(with the default 15 attempts the last nine are about 7 h 10 min each). So the last attempt
comes about three days after the first (2.55 to 3.45 days; jitter spreads receivers' retries
apart, it does not shorten the span). After
`WEBHOOK_MAX_ATTEMPTS` attempts the delivery fails; a 410 Gone disables the endpoint at once
and its deliveries wait, unsent, until an admin re-enables it. A delivery a dead worker left
`sending` for ten minutes is sent again.
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from governance.access import _as_uuid
from governance.models import Membership, Organisation

from ..models import (
    DeliveryStatus,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from . import outbound

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
ROTATION_GRACE = dt.timedelta(hours=24)
STUCK_AFTER = dt.timedelta(minutes=10)
RETRY_SPAN = dt.timedelta(days=3)
JITTER = 0.15
FIRST_WAITS = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
)
EXCERPT_CHARS = 1000
_READ_BYTES = 4 * EXCERPT_CHARS
_rng = secrets.SystemRandom()


# --- Signing -----------------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def body_of(payload: dict) -> bytes:
    """The request body: compact JSON with sorted keys, the same bytes on every attempt."""
    return json.dumps(
        payload, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True, ensure_ascii=False
    ).encode()


def signing_secrets(endpoint: WebhookEndpoint, at: dt.datetime) -> list[str]:
    keys = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > at:
        keys.append(endpoint.previous_secret)
    return keys


def request_headers(
    endpoint: WebhookEndpoint, event: WebhookEvent, body: bytes, at: dt.datetime
) -> dict[str, str]:
    timestamp = int(at.timestamp())
    signatures = [
        sign(key, msg_id=event.message_id, timestamp=timestamp, body=body)
        for key in signing_secrets(endpoint, at)
    ]
    return {
        "content-type": "application/json",
        "webhook-id": event.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


# --- Retry schedule ----------------------------------------------------------------------------


def retry_caps(max_attempts: int | None = None) -> list[dt.timedelta]:
    """The longest wait after each failed attempt but the last (see the module docstring)."""
    gaps = max((max_attempts or settings.WEBHOOK_MAX_ATTEMPTS) - 1, 0)
    caps = list(FIRST_WAITS[:gaps])
    rest = gaps - len(caps)
    if rest:
        step = (RETRY_SPAN - sum(caps, dt.timedelta())) / rest
        caps += [max(step, FIRST_WAITS[-1])] * rest
    return caps


def retry_wait(attempt: int) -> dt.timedelta:
    """How long to wait after failed attempt number `attempt` (1-based): the nominal wait,
    jittered by up to 15 % either way."""
    caps = retry_caps()
    cap = caps[min(attempt, len(caps)) - 1].total_seconds() * settings.WEBHOOK_RETRY_SCALE
    return dt.timedelta(seconds=_rng.uniform(cap * (1 - JITTER), cap * (1 + JITTER)))


# --- Permissions and validation ----------------------------------------------------------------


def can_manage(actor: Any) -> bool:
    if isinstance(actor, Membership):
        return actor.is_admin
    api_key = getattr(actor, "api_key", None)
    return bool(api_key and api_key.can_write)


def can_view(actor: Any) -> bool:
    if isinstance(actor, Membership):
        return actor.is_admin
    return getattr(actor, "api_key", None) is not None


def _require_manager(actor: Any, org_id: int) -> None:
    if actor.organisation_id != org_id:
        raise PermissionDenied(_("Only members of the organisation can do this."))
    if not can_manage(actor):
        raise PermissionDenied(_("Only organisation admins and write API keys manage webhooks."))


def clean_url(url: str) -> str:
    """An http(s) URL a delivery may reach: https outside development, and (unless private
    destinations are allowed) not resolving to a private or local address."""
    url = (url or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({"url": _("Enter an http:// or https:// URL.")}) from None
    local = settings.DEBUG or settings.OUTBOUND_ALLOW_PRIVATE
    if not local and not url.lower().startswith("https://"):
        raise ValidationError({"url": _("Use an https:// URL: deliveries carry your data.")})
    if not settings.OUTBOUND_ALLOW_PRIVATE:
        try:
            outbound.check_url(url)
        except outbound.BlockedDestination as exc:
            raise ValidationError({"url": str(exc)}) from None
    return url


def clean_event_types(event_types: Sequence[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(EventType.values))
    if unknown:
        raise ValidationError(
            {"event_types": _("Unknown event type: %(type)s.") % {"type": unknown[0]}}
        )
    return [value for value in EventType.values if value in set(event_types)]


# --- Services ----------------------------------------------------------------------------------


def _deliver_soon() -> None:
    from .. import tasks

    transaction.on_commit(lambda: tasks.deliver_webhooks.delay(), robust=True)


@transaction.atomic
def endpoint_create(
    *, actor: Any, url: str, description: str = "", event_types: Sequence[str] = ()
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (the only time the secret is given out, bar a
    rotation)."""
    _require_manager(actor, actor.organisation_id)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        organisation_id=actor.organisation_id,
        url=clean_url(url),
        description=description.strip(),
        event_types=clean_event_types(event_types),
        secret=secret,
        created_by_id=actor.user_id,
    )
    # A key creates endpoints with no person behind them (created_by is nullable, not blank).
    endpoint.full_clean(exclude=["created_by"])
    endpoint.save()
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    actor: Any,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    description: str | None = None,
    event_types: Sequence[str] | None = None,
) -> WebhookEndpoint:
    """Change what is given (None keeps it). Queued deliveries go to the new URL."""
    _require_manager(actor, endpoint.organisation_id)
    if url is not None:
        endpoint.url = clean_url(url)
    if description is not None:
        endpoint.description = description.strip()
    if event_types is not None:
        endpoint.event_types = clean_event_types(event_types)
    endpoint.full_clean(exclude=["created_by"])
    endpoint.save(update_fields=["url", "description", "event_types", "updated_at"])
    return endpoint


@transaction.atomic
def endpoint_delete(*, actor: Any, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint with its deliveries and their log."""
    _require_manager(actor, endpoint.organisation_id)
    endpoint.delete()


@transaction.atomic
def endpoint_enable(*, actor: Any, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Turn a disabled endpoint back on; the deliveries it held go out again."""
    _require_manager(actor, endpoint.organisation_id)
    if endpoint.enabled:
        return endpoint
    endpoint.enabled = True
    endpoint.disabled_reason = ""
    endpoint.save(update_fields=["enabled", "disabled_reason", "updated_at"])
    WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
        next_attempt_at=timezone.now()
    )
    _deliver_soon()
    return endpoint


@transaction.atomic
def endpoint_disable(*, actor: Any, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Stop sending to the endpoint; new events skip it and queued deliveries wait."""
    _require_manager(actor, endpoint.organisation_id)
    if not endpoint.enabled:
        return endpoint
    endpoint.enabled = False
    endpoint.disabled_reason = _("Disabled by hand on %(date)s.") % {
        "date": timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    }
    endpoint.save(update_fields=["enabled", "disabled_reason", "updated_at"])
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, actor: Any, endpoint: WebhookEndpoint) -> str:
    """A new secret; the current one keeps signing beside it for 24 hours so receivers can
    switch without losing a delivery."""
    _require_manager(actor, endpoint.organisation_id)
    secret = new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + ROTATION_GRACE
    endpoint.secret = secret
    endpoint.save(
        update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
    )
    return secret


@transaction.atomic
def delivery_replay(*, actor: Any, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, with a fresh count of attempts and the same webhook-id."""
    _require_manager(actor, delivery.organisation_id)
    if not delivery.endpoint.enabled:
        raise ValidationError(_("The endpoint is disabled: enable it before replaying."))
    if delivery.status == DeliveryStatus.SENDING:
        raise ValidationError(_("This delivery is being sent right now."))
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    _deliver_soon()
    return delivery


# endpoint_test is left out on purpose: EventType has no ping event, and a fake action.created
# would reach receivers that act on it. A test event needs an EventType ("webhook.test").


# --- Lookups and selectors ---------------------------------------------------------------------


def get_endpoint(org: Organisation, code: object) -> WebhookEndpoint:
    """The organisation's endpoint `code` (with the `endpoints` counts), or 404."""
    try:
        return endpoints(org).get(code=_as_uuid(code))
    except WebhookEndpoint.DoesNotExist as exc:
        raise Http404 from exc


def get_delivery(
    org: Organisation, code: object, *, endpoint: WebhookEndpoint | None = None
) -> WebhookDelivery:
    rows = WebhookDelivery.objects.for_org(org).select_related("event", "endpoint")
    if endpoint is not None:
        rows = rows.filter(endpoint=endpoint)
    try:
        return rows.get(code=_as_uuid(code))
    except WebhookDelivery.DoesNotExist as exc:
        raise Http404 from exc


def endpoints(org: Organisation) -> QuerySet[WebhookEndpoint]:
    """The organisation's endpoints with `last_status` (of the newest delivery), `failed`
    (deliveries out of retries) and `retrying` (pending after a failed attempt)."""
    per_endpoint = WebhookDelivery.objects.filter(endpoint=OuterRef("pk"))

    def count(**filters) -> Coalesce:
        rows = per_endpoint.filter(**filters).order_by().values("endpoint")
        return Coalesce(
            Subquery(rows.annotate(n=Count("id")).values("n")[:1], output_field=IntegerField()),
            Value(0),
        )

    return (
        WebhookEndpoint.objects.for_org(org)
        .annotate(
            last_status=Subquery(per_endpoint.order_by("-created_at", "-id").values("status")[:1]),
            failed=count(status=DeliveryStatus.FAILED),
            retrying=count(status=DeliveryStatus.PENDING, attempts__gt=0),
        )
        .order_by("created_at", "id")
    )


def deliveries(
    org: Organisation, *, endpoint: WebhookEndpoint | None = None, status: str | None = None
) -> QuerySet[WebhookDelivery]:
    rows = (
        WebhookDelivery.objects.for_org(org)
        .select_related("event", "endpoint")
        .defer("event__payload")
    )
    if endpoint is not None:
        rows = rows.filter(endpoint=endpoint)
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-created_at", "-id")


def attempts(delivery: WebhookDelivery) -> QuerySet[WebhookAttempt]:
    return WebhookAttempt.objects.filter(
        organisation_id=delivery.organisation_id, delivery=delivery
    ).order_by("number", "id")


# --- Delivery ----------------------------------------------------------------------------------


def _release_stuck(now: dt.datetime) -> int:
    return WebhookDelivery.objects.filter(
        status=DeliveryStatus.SENDING, last_attempt_at__lt=now - STUCK_AFTER
    ).update(status=DeliveryStatus.PENDING, next_attempt_at=now)


def _claim(now: dt.datetime, limit: int) -> list[int]:
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.filter(
                status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
            )
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            WebhookDelivery.objects.filter(id__in=ids).update(
                status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, last_attempt_at=now
            )
    return ids


def _blocked_cause(exc: BaseException) -> outbound.BlockedDestination | None:
    """The connect-time refusal inside the ConnectionError urllib3 wraps it in, if any."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, outbound.BlockedDestination):
            return current
        todo += [a for a in current.args if isinstance(a, BaseException)]
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return None


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str, str]:
    """(status code, response excerpt, error) of one POST; never raises for network trouble."""
    try:
        # Checked before connecting too, so a refused address is not even probed; the
        # connection is checked again (DNS may answer differently by then).
        if not settings.OUTBOUND_ALLOW_PRIVATE:
            outbound.check_url(url)
        response = outbound.request("POST", url, data=body, headers=headers, stream=True)
    except outbound.BlockedDestination as exc:
        return None, "", _("Refused: %(reason)s") % {"reason": exc}
    except requests.Timeout:
        return None, "", _("No answer within %(n)s seconds.") % {"n": settings.OUTBOUND_TIMEOUT}
    except requests.RequestException as exc:
        blocked = _blocked_cause(exc)
        if blocked is not None:
            return None, "", _("Refused: %(reason)s") % {"reason": blocked}
        return None, "", _("Could not connect: %(error)s") % {"error": type(exc).__name__}
    try:
        raw = response.raw.read(_READ_BYTES, decode_content=True) or b""
        excerpt = raw.decode(response.encoding or "utf-8", errors="replace")[:EXCERPT_CHARS]
    except (requests.RequestException, OSError, ValueError):
        excerpt = ""
    finally:
        response.close()
    return response.status_code, excerpt, ""


def _send(delivery_id: int, now: dt.datetime | None) -> str | None:
    """Make one claimed delivery's attempt and record it; the outcome, or None if it is gone."""
    delivery = (
        WebhookDelivery.objects.select_related("event", "endpoint")
        .filter(pk=delivery_id, status=DeliveryStatus.SENDING)
        .first()
    )
    if delivery is None:
        return None
    endpoint, event = delivery.endpoint, delivery.event
    if not endpoint.enabled:
        # Disabled (a 410 from an earlier delivery of this batch) after the claim: hold it.
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.PENDING, attempts=F("attempts") - 1
        )
        return None
    at = now or timezone.now()
    body = body_of(event.payload)
    started = time.monotonic()
    status_code, excerpt, error = _post(
        endpoint.url, body, request_headers(endpoint, event, body, at)
    )
    duration_ms = int((time.monotonic() - started) * 1000)
    done_at = now or timezone.now()

    if status_code is not None and 200 <= status_code < 300:
        outcome = DeliveryStatus.SUCCEEDED
    elif status_code == 410 or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        outcome = DeliveryStatus.FAILED
    else:
        outcome = DeliveryStatus.PENDING
    if status_code is not None and not error and outcome != DeliveryStatus.SUCCEEDED:
        error = _("The receiver answered %(code)s.") % {"code": status_code}

    changes: dict[str, Any] = {
        "status": outcome,
        "response_status": status_code,
        "last_error": error[:500],
    }
    if outcome == DeliveryStatus.SUCCEEDED:
        changes["delivered_at"] = done_at
    elif outcome == DeliveryStatus.PENDING:
        changes["next_attempt_at"] = done_at + retry_wait(delivery.attempts)
    with transaction.atomic():
        WebhookAttempt.objects.create(
            organisation_id=delivery.organisation_id,
            delivery=delivery,
            number=WebhookAttempt.objects.filter(delivery=delivery).count() + 1,
            at=at,
            response_status=status_code,
            duration_ms=duration_ms,
            error=error[:500],
            response_excerpt=excerpt,
        )
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            **changes
        )
        if status_code == 410:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                enabled=False,
                disabled_reason=_("The receiver answered 410 Gone on %(date)s.")
                % {"date": done_at.strftime("%Y-%m-%d %H:%M UTC")},
                updated_at=done_at,
            )
    return outcome


def deliver_due(*, now: dt.datetime | None = None, limit: int = 100) -> dict:
    """Send the deliveries that are due (new ones and retries) to enabled endpoints.

    `now` fixes the clock (tests); by default each attempt is stamped with the time it is made.
    """
    sweep_at = now or timezone.now()
    released = _release_stuck(sweep_at)
    counts = {"released": released, "sent": 0, **{s: 0 for s in ("succeeded", "pending", "failed")}}
    for delivery_id in _claim(sweep_at, limit):
        outcome = _send(delivery_id, now)
        if outcome is not None:
            counts["sent"] += 1
            counts[outcome] += 1
    return counts
