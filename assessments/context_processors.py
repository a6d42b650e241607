from django.http import HttpRequest
from django.utils.functional import cached_property

from . import notify


class UnreadNotifications:
    """The header's "Notifications (n)": counted in one query, only when a template shows it.

    On an organisation's pages it counts that organisation's notifications and links to its
    list; elsewhere it counts them all and links to the list of the organisation used last.
    """

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        match = getattr(request, "resolver_match", None)
        self.here = match.kwargs.get("org_code") if match else None

    @cached_property
    def org_code(self) -> object:
        session = getattr(self.request, "session", None)
        return self.here or (session.get("last_org") if session is not None else None)

    @cached_property
    def count(self) -> int:
        return notify.unread_count(self.request.user, self.here)


def notifications(request: HttpRequest) -> dict:
    if not request.user.is_authenticated:
        return {}
    return {"unread_notifications": UnreadNotifications(request)}
