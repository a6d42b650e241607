"""Secrets at rest (ticketing tokens, webhook signing secrets), encrypted with Fernet.

Keys come from `ENCRYPTION_KEYS` (the first encrypts, all decrypt, so a key can be rotated);
without it the key is derived from SECRET_KEY. A value that no key decrypts is an error, never
returned as ciphertext.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.ENCRYPTION_KEYS) or [
        base64.urlsafe_b64encode(
            hashlib.sha256(b"kakehashi-fields:" + settings.SECRET_KEY.encode()).digest()
        ).decode()
    ]
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("an encrypted value could not be decrypted with ENCRYPTION_KEYS") from exc


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; Python code sees the plain value ('' stays '')."""

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
