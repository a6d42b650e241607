from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .access import organisations_for_user
from .navigation import place


def _last_used(request: HttpRequest, organisations: list) -> object:
    """The organisation whose navigation pages outside any organisation show (the catalogue,
    the profile): the one used last, or the only one."""
    session = getattr(request, "session", None)
    last = session.get("last_org") if session is not None else None
    for org in organisations:
        if str(org.code) == last or len(organisations) == 1:
            return org
    return None


def memberships(request: HttpRequest) -> dict:
    """The organisations for the switcher, queried only when a template uses them, and the
    page's place in the navigation."""
    organisations = SimpleLazyObject(lambda: organisations_for_user(request.user))
    match = getattr(request, "resolver_match", None)
    section, tab = place(match.url_name if match else None)
    return {
        "my_organisations": organisations,
        "nav_org": SimpleLazyObject(lambda: _last_used(request, organisations)),
        "nav_section": section,
        "nav_tab": tab,
    }
