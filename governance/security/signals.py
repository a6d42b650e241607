from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from . import sessions


@receiver(user_logged_in, dispatch_uid="security_stamp_login")
def stamp_login(sender, request, user, **kwargs) -> None:
    """The session's age and idleness count from each login (also a test's force_login)."""
    if request is not None and hasattr(request, "session"):
        sessions.stamp_login(request.session)
