"""Settings for the test suite: the real settings, with development defaults and fast hashing."""

import os

os.environ.setdefault("DEBUG", "true")

from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
