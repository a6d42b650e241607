"""Deadlines and the impact of catalogue releases."""

from django.http import Http404, HttpRequest, HttpResponse


def deadlines(request: HttpRequest, org_code) -> HttpResponse:
    raise Http404  # being built


def impact_list(request: HttpRequest, org_code) -> HttpResponse:
    raise Http404  # being built


def release_impact(request: HttpRequest, org_code, release_code) -> HttpResponse:
    raise Http404  # being built
