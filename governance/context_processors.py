from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .access import last_used, organisations_for_user
from .navigation import place


def memberships(request: HttpRequest) -> dict:
    """The organisations for the switcher, queried only when a template uses them; the one
    whose navigation pages outside any organisation show (the catalogue, the profile); and the
    page's place in the navigation."""
    organisations = SimpleLazyObject(lambda: organisations_for_user(request.user))
    match = getattr(request, "resolver_match", None)
    section, tab = place(match.url_name if match else None)
    return {
        "my_organisations": organisations,
        "nav_org": SimpleLazyObject(lambda: last_used(request, organisations)),
        "nav_section": section,
        "nav_tab": tab,
    }
