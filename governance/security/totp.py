"""Time-based one-time passwords (RFC 6238, HMAC-SHA1, 6 digits, 30-second steps) and recovery
codes. Pure Python: no Django, no database.

Written here rather than taken from django-otp: the login flow keeps the user logged out until the
code is right (django-otp logs in first and verifies later), the secret is stored encrypted and
recovery codes hashed (django-otp keeps both in clear), and the algorithm is a dozen lines that
the RFC's own test vectors check (tests/security/test_mfa.py).
"""

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

DIGITS = 6
STEP = 30
# Codes of the previous and next step are accepted too, for clocks a little off.
WINDOW = 1
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def new_secret() -> str:
    """A random 160-bit secret, base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest=hashlib.sha1) -> str:
    """RFC 4226: the code for one counter value."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def step_at(when: float | None = None) -> int:
    return int((time.time() if when is None else when) // STEP)


def code_at(secret: str, when: float | None = None) -> str:
    return hotp(_key(secret), step_at(when))


def matching_step(secret: str, code: str, *, after: int | None = None, when=None) -> int | None:
    """The time step whose code is `code` (within the window), or None.

    Steps up to `after` (the last one used) never match again, so a code cannot be replayed."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    key = _key(secret)
    now = step_at(when)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(hotp(key, step), code):
            return step
    return None


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    label = quote(f"{issuer}:{account}")
    query = urlencode({"secret": secret, "issuer": issuer, "digits": DIGITS, "period": STEP})
    return f"otpauth://totp/{label}?{query}"


def new_recovery_code() -> str:
    """Ten characters from a 31-letter alphabet (about 50 bits), shown as xxxxx-xxxxx."""
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def hash_recovery_code(code: str) -> str:
    """Recovery codes are random and long enough for a plain SHA-256 (like API keys)."""
    return hashlib.sha256(normalise_recovery_code(code).encode()).hexdigest()
