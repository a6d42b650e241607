"""The compliance dashboard, the organisation's findings and its posture report."""

from django.http import Http404, HttpRequest, HttpResponse


def dashboard(request: HttpRequest, org_code) -> HttpResponse:
    raise Http404  # being built


def finding_list(request: HttpRequest, org_code) -> HttpResponse:
    raise Http404  # being built


def posture_report_pdf(request: HttpRequest, org_code) -> HttpResponse:
    raise Http404  # being built
