"""Remediation action pages."""

from django.http import Http404, HttpRequest, HttpResponse


def action_list(request: HttpRequest, org_code) -> HttpResponse:
    raise Http404  # being built


def action_create(request: HttpRequest, org_code) -> HttpResponse:
    raise Http404  # being built


def action_bulk(request: HttpRequest, org_code) -> HttpResponse:
    raise Http404  # being built


def action_export(request: HttpRequest, org_code) -> HttpResponse:
    raise Http404  # being built


def action_detail(request: HttpRequest, org_code, action_code) -> HttpResponse:
    raise Http404  # being built


def action_edit(request: HttpRequest, org_code, action_code) -> HttpResponse:
    raise Http404  # being built


def action_transition(request: HttpRequest, org_code, action_code) -> HttpResponse:
    raise Http404  # being built


def action_comment(request: HttpRequest, org_code, action_code) -> HttpResponse:
    raise Http404  # being built


def action_evidence_add(request: HttpRequest, org_code, action_code) -> HttpResponse:
    raise Http404  # being built


def action_evidence_download(request: HttpRequest, org_code, attachment_code) -> HttpResponse:
    raise Http404  # being built


def action_evidence_delete(request: HttpRequest, org_code, attachment_code) -> HttpResponse:
    raise Http404  # being built
