"""Failed-attempt counters and lockouts, kept in the cache (Redis), so every web process on every
machine shares them and they expire on their own.

A rule counts attempts per identifier (an e-mail address, a client address) in a window that
starts at the first attempt; the attempt that reaches the limit locks the identifier for the
lockout period. Identifiers are hashed into the keys, so Redis holds no addresses.

Written here rather than with django-axes: the rules are four counters, sessions and MFA need
them in our own login flow (axes hooks `authenticate()`, which the MFA step does not call), and
axes would add its own tables and admin for what Redis already does with two keys per rule.

When the cache is down, counting fails open (logged): a Redis outage must not lock everyone out,
and the password and MFA checks still apply.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

log = logging.getLogger("kakehashi.security")


@dataclass(frozen=True)
class Rule:
    name: str
    limit_setting: str
    window_setting: str = "LOGIN_FAILURE_WINDOW"
    lockout_setting: str = "LOGIN_LOCKOUT_SECONDS"

    @property
    def limit(self) -> int:
        return getattr(settings, self.limit_setting)

    @property
    def window(self) -> int:
        return getattr(settings, self.window_setting)

    @property
    def lockout(self) -> int:
        return getattr(settings, self.lockout_setting)


LOGIN_ACCOUNT = Rule("login-account", "LOGIN_FAILURE_LIMIT")
LOGIN_IP = Rule("login-ip", "LOGIN_IP_FAILURE_LIMIT")
RESET_ACCOUNT = Rule("reset-account", "PASSWORD_RESET_LIMIT")
RESET_IP = Rule("reset-ip", "PASSWORD_RESET_IP_LIMIT")


def _key(rule: Rule, kind: str, ident: str) -> str:
    digest = hashlib.sha256(ident.strip().lower().encode()).hexdigest()[:40]
    return f"throttle:{rule.name}:{kind}:{digest}"


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the entry that the nearest of TRUSTED_PROXY_COUNT
    proxies added to X-Forwarded-For (entries further left are whatever the client sent)."""
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if forwarded:
            return forwarded[-min(trusted, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")


def is_locked(rule: Rule, ident: str) -> bool:
    if not ident:
        return False
    try:
        return cache.get(_key(rule, "lock", ident)) is not None
    except Exception:
        log.exception("throttle %s: the cache did not answer; not locked", rule.name)
        return False


def hit(rule: Rule, ident: str) -> bool:
    """Count one attempt; True when it reached the limit and locked the identifier."""
    if not ident:
        return False
    count_key = _key(rule, "count", ident)
    try:
        cache.add(count_key, 0, timeout=rule.window)
        try:
            count = cache.incr(count_key)
        except ValueError:  # expired between add and incr
            cache.set(count_key, 1, timeout=rule.window)
            count = 1
        if count < rule.limit:
            return False
        cache.set(_key(rule, "lock", ident), 1, timeout=rule.lockout)
        cache.delete(count_key)
        return True
    except Exception:
        log.exception("throttle %s: the cache did not answer; attempt not counted", rule.name)
        return False


def clear(rule: Rule, ident: str) -> None:
    """Forget the attempts counted so far (a lockout in force stays)."""
    if not ident:
        return
    try:
        cache.delete(_key(rule, "count", ident))
    except Exception:
        log.exception("throttle %s: the cache did not answer; count not cleared", rule.name)
