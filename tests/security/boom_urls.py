"""A URL configuration with one view that always fails, for the 500-page and no-secrets tests.

`/boom/` is a page; `/api/v1/boom/` an API endpoint behind the usual authentication (an API key
or a session) that fails quoting the request's Authorization header, as careless code might.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.request import Request

from config.urls import urlpatterns as site_patterns


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the page broke")


@api_view(["GET", "POST"])
def api_boom(request: Request) -> HttpResponse:
    authorization = request.headers.get("Authorization", "")
    raise RuntimeError(f"could not handle a request with {authorization}")


urlpatterns = [path("boom/", boom), path("api/v1/boom/", api_boom), *site_patterns]

handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
