"""Reads about a person's two-factor authentication."""

from typing import Any

from ..models import User
from .models import RecoveryCode, TotpDevice


def has_mfa(user: User) -> bool:
    return TotpDevice.objects.filter(user=user).exists()


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def mfa_status(user: User) -> dict[str, Any]:
    """What the profile page shows: the device (or None) and the unused recovery codes."""
    device = TotpDevice.objects.filter(user=user).first()
    return {
        "device": device,
        "recovery_codes_left": recovery_codes_left(user) if device is not None else 0,
    }
