from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .access import organisations_for_user


def memberships(request: HttpRequest) -> dict:
    """The organisations for the switcher, queried only when a template uses them."""
    return {"my_organisations": SimpleLazyObject(lambda: organisations_for_user(request.user))}
