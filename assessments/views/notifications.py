"""In-app notifications."""

from django.http import Http404, HttpRequest, HttpResponse


def notification_list(request: HttpRequest, org_code) -> HttpResponse:
    raise Http404  # being built


def notification_read(request: HttpRequest, org_code) -> HttpResponse:
    raise Http404  # being built


def notification_preferences(request: HttpRequest) -> HttpResponse:
    raise Http404  # being built
