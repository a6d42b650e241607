"""Reports of one assessment: HTML, PDF and the findings as CSV/XLSX.

An assessment has at most ~150 findings, so the page, the PDF and the spreadsheets are built
inside the request: the spreadsheets in a fraction of a second, the PDF (about ten A4 pages) in a
few seconds, most of it WeasyPrint's layout. Should reports grow well past that, the PDF belongs
in a worker task that stores the file, not behind a longer server timeout.
"""

import tempfile

from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from governance.access import get_membership_for_user

from .. import reports
from ..access import get_assessment_for_member
from ..models import Assessment, AssessmentStatus

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_FORMATS = ("csv", "xlsx")


def _require_completed(assessment: Assessment) -> None:
    """Only a completed assessment has a report; any other is "not found" for downloads."""
    if assessment.status != AssessmentStatus.COMPLETED:
        raise Http404


def _filename(assessment: Assessment, suffix: str) -> str:
    """kakehashi-<system>-<date the assessment finished, in the organisation's time zone>."""
    slug = slugify(assessment.system.name, allow_unicode=True) or "system"
    finished = timezone.localdate(assessment.finished_at or assessment.created_at)
    return f"kakehashi-{slug}-{finished:%Y-%m-%d}{suffix}"


@login_required
@require_GET
def assessment_report(request: HttpRequest, org_code, assessment_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    assessment = get_assessment_for_member(membership, assessment_code)
    context = {
        "membership": membership,
        "org": membership.organisation,
        "assessment": assessment,
        "system": assessment.system,
    }
    if assessment.status == AssessmentStatus.COMPLETED:
        context["report"] = True
        context.update(reports.report_context(assessment))
    return render(request, "assessments/report.html", context)


@login_required
@require_GET
def assessment_report_pdf(request: HttpRequest, org_code, assessment_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    assessment = get_assessment_for_member(membership, assessment_code)
    _require_completed(assessment)
    pdf = reports.report_pdf(assessment, base_url=request.build_absolute_uri("/"))
    return HttpResponse(
        pdf,
        content_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition_header(
                as_attachment=True, filename=_filename(assessment, ".pdf")
            )
        },
    )


@login_required
@require_GET
def findings_export(request: HttpRequest, org_code, assessment_code) -> HttpResponse:
    membership = get_membership_for_user(request, org_code)
    assessment = get_assessment_for_member(membership, assessment_code)
    export_format = request.GET.get("format", "csv")
    if export_format not in EXPORT_FORMATS:
        return HttpResponseBadRequest(
            _("Unknown export format. Use format=csv or format=xlsx."),
            content_type="text/plain; charset=utf-8",
        )
    _require_completed(assessment)
    if export_format == "csv":
        return StreamingHttpResponse(
            reports.findings_csv(assessment),
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": content_disposition_header(
                    as_attachment=True, filename=_filename(assessment, "-findings.csv")
                )
            },
        )
    # A temporary file rather than memory: XlsxWriter streams its rows to disk, and
    # FileResponse closes (and so deletes) the file once it is sent.
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115
    reports.findings_xlsx(assessment, handle)
    handle.seek(0)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=_filename(assessment, "-findings.xlsx"),
        content_type=XLSX_TYPE,
    )
