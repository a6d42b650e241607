"""Reports of one assessment: HTML, PDF and the findings as CSV/XLSX. (Being written.)"""

from django.http import Http404


def assessment_report(request, org_code, assessment_code):
    raise Http404


def assessment_report_pdf(request, org_code, assessment_code):
    raise Http404


def findings_export(request, org_code, assessment_code):
    raise Http404
