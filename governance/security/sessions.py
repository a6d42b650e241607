"""What the session remembers about how its user logged in.

- LOGIN_AT / SEEN_AT: when the user logged in and was last seen (the timeout middleware).
- VERIFIED: the user passed the MFA step, or enrolled, in this session.
- PENDING: a password was right but the MFA code is still to come; the session is not logged in.
- SETUP_SECRET: the secret of an enrolment in progress, until a code confirms it.
"""

import time
from typing import Any

from django.contrib.sessions.backends.base import SessionBase

LOGIN_AT = "_security_login_at"
SEEN_AT = "_security_seen_at"
VERIFIED = "_security_mfa_verified"
PENDING = "_security_mfa_pending"
SETUP_SECRET = "_security_mfa_setup_secret"  # noqa: S105  (a session key name)

# A password step left without its code this long is forgotten.
PENDING_TTL = 10 * 60


def mark_verified(session: SessionBase) -> None:
    session[VERIFIED] = True


def is_verified(session: SessionBase) -> bool:
    return bool(session.get(VERIFIED))


def start_pending(session: SessionBase, *, user_id: int, backend: str, next_url: str) -> None:
    """Remember a right password under a new session key: a key planted before the password step
    (session fixation) does not carry the half-logged-in state."""
    session.cycle_key()
    session[PENDING] = {
        "user": user_id,
        "backend": backend,
        "next": next_url,
        "at": time.time(),
        "failures": 0,
    }


def pending(session: SessionBase) -> dict[str, Any] | None:
    state = session.get(PENDING)
    if not state:
        return None
    if time.time() - state.get("at", 0) > PENDING_TTL:
        del session[PENDING]
        return None
    return state


def count_pending_failure(session: SessionBase) -> int:
    state = session[PENDING]
    state["failures"] = state.get("failures", 0) + 1
    session[PENDING] = state
    return state["failures"]


def stamp_login(session: SessionBase, now: float | None = None) -> None:
    now = time.time() if now is None else now
    session[LOGIN_AT] = now
    session[SEEN_AT] = now
