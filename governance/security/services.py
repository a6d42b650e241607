"""Writes for two-factor authentication. The audit trail records them through triggers on the
device and recovery-code tables (the secret, the code hashes and the per-login step are left out
of it): enrolment is a new device, turning MFA off deletes it, and a recovery code's use sets its
`used_at`."""

from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import User
from . import totp
from .models import RecoveryCode, TotpDevice

RECOVERY_CODE_COUNT = 10


def _new_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [totp.new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=totp.hash_recovery_code(code)) for code in codes
    )
    return codes


def mfa_enrol(*, user: User, secret: str, code: str) -> list[str]:
    """Turn MFA on with the app the person just set up, proved by a code from it.

    Returns the recovery codes in clear: the only time they exist outside the person's hands."""
    step = totp.matching_step(secret, code)
    if step is None:
        raise ValidationError(
            {"code": _("That code is not right. Check that your phone's clock is correct.")}
        )
    now = timezone.now()
    with transaction.atomic():
        if TotpDevice.objects.select_for_update().filter(user=user).exists():
            raise ValidationError(_("Two-factor authentication is already on."))
        device = TotpDevice(user=user, secret=secret, last_step=step, confirmed_at=now)
        device.full_clean()
        device.save()
        return _new_recovery_codes(user)


def mfa_verify(*, user: User, code: str) -> str | None:
    """Check a code at login: "totp" for a right app code, "recovery" for an unused recovery
    code (now spent), None otherwise. Each code works once, even for two requests at once."""
    device = TotpDevice.objects.filter(user=user).first()
    if device is None:
        return None
    cleaned = "".join(code.split())
    now = timezone.now()
    if cleaned.isdigit():
        step = totp.matching_step(device.secret, cleaned, after=device.last_step)
        if step is None:
            return None
        updated = TotpDevice.objects.filter(pk=device.pk, last_step__lt=step).update(
            last_step=step, last_used_at=now
        )
        return "totp" if updated else None
    if not totp.normalise_recovery_code(cleaned):
        return None
    updated = RecoveryCode.objects.filter(
        user=user, code_hash=totp.hash_recovery_code(cleaned), used_at__isnull=True
    ).update(used_at=now)
    return "recovery" if updated else None


def recovery_codes_renew(*, user: User, code: str) -> list[str]:
    """A fresh set of recovery codes (the old ones stop working), proved by an app code."""
    if mfa_verify(user=user, code=code) != "totp":
        raise ValidationError({"code": _("Enter a current code from your authenticator app.")})
    with transaction.atomic():
        return _new_recovery_codes(user)


def mfa_disable(*, user: User, password: str = "", code: str = "") -> None:
    """Turn MFA off, proved by the password or a current code. Staff must keep it."""
    if user.is_staff:
        raise ValidationError(_("Staff accounts must keep two-factor authentication on."))
    proved = bool(password) and check_password(password, user.password)
    if not proved and code:
        proved = mfa_verify(user=user, code=code) is not None
    if not proved:
        raise ValidationError(_("Enter your password or a current code from your app."))
    with transaction.atomic():
        TotpDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
