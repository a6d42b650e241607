from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from . import accounts, catalogue  # noqa: F401  (registers the model admins)


def _login_through_the_app(request: HttpRequest, extra_context=None) -> HttpResponse:
    """The admin site has no login of its own: the app's login asks for the MFA code, and the
    MFA middleware keeps a staff member who has none out of the admin until they enrol."""
    next_url = request.GET.get("next") or reverse("admin:index")
    return redirect(f"{reverse('login')}?{urlencode({'next': next_url})}")


admin.site.login = _login_through_the_app
