"""API keys: create (the token is shown once), authenticate, revoke."""

import datetime as dt
import hashlib
import hmac
import json
import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import ApiKey, ApiScope, IdempotencyRecord, Membership

TOKEN_PREFIX = "kk_"  # noqa: S105 (a marker, not a secret)
# last_used_at is written at most this often per key, not on every request.
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)
IDEMPOTENCY_TTL = dt.timedelta(hours=24)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *, actor: Membership, name: str, scope: str, expires_at: dt.datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key for the actor's organisation, and its token (never stored, never shown again)."""
    if not actor.is_admin:
        raise PermissionDenied
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the key a name.")})
    if scope not in ApiScope.values:
        raise ValidationError({"scope": _("Choose read only or read and write.")})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("The expiry must lie in the future.")})
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            key = ApiKey.objects.create(
                organisation=actor.organisation,
                name=name,
                prefix=prefix,
                secret_hash=_hash(secret),
                scope=scope,
                expires_at=expires_at,
                created_by=actor.user,
            )
    except IntegrityError as exc:
        raise ValidationError({"name": _("An active key with this name already exists.")}) from exc
    return key, f"{TOKEN_PREFIX}{prefix}_{secret}"


def api_key_revoke(*, actor: Membership, key: ApiKey) -> ApiKey:
    if not actor.is_admin:
        raise PermissionDenied
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor.user
    )
    key.refresh_from_db()
    return key


def authenticate(token: str) -> ApiKey | None:
    """The usable key this token belongs to, or None (unknown, wrong secret, revoked, expired)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not prefix or not secret or len(prefix) > 16:
        return None
    now = timezone.now()
    key = ApiKey.objects.usable(now).select_related("organisation").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def purge_idempotency_records(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - IDEMPOTENCY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- Idempotency-Key ledger (the API's `idempotent` wrapper) ------------------------------------


def idempotency_claim(
    *, org, principal: str, key: str, method: str, path: str, fingerprint: str
) -> tuple[IdempotencyRecord, bool]:
    """The record for (principal, key), and whether this call created it (and so must run)."""
    with transaction.atomic():
        return IdempotencyRecord.objects.get_or_create(
            principal=principal,
            key=key,
            defaults={
                "organisation": org,
                "method": method,
                "path": path[:500],
                "fingerprint": fingerprint,
            },
        )


def idempotency_store(record: IdempotencyRecord, *, status_code: int, body, headers: dict) -> None:
    record.status_code = status_code
    record.body = json.dumps(body, cls=DjangoJSONEncoder)
    record.headers = headers
    record.save(update_fields=["status_code", "body", "headers"])


def idempotency_body(record: IdempotencyRecord):
    return json.loads(record.body) if record.body else None


def idempotency_abandon(record: IdempotencyRecord) -> None:
    """Forget a request that failed, so the client may retry it with the same key."""
    IdempotencyRecord.objects.filter(pk=record.pk).delete()


def keys_for(org) -> list[ApiKey]:
    """The organisation's keys, active first, with who created and revoked them."""
    rows = ApiKey.objects.for_org(org).select_related("created_by", "revoked_by")
    now = timezone.now()
    return sorted(rows, key=lambda k: (k.state(now) != "active", -k.created_at.timestamp()))
