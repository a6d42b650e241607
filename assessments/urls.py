from django.urls import include, path

from . import api
from .views import reports, review, runs

app_patterns = [
    path("systems/<uuid:system_code>/assess/", runs.assessment_start, name="assessment_start"),
    path("assessments/", runs.assessment_list, name="assessment_list"),
    path("assessments/all/", runs.assess_all, name="assess_all"),
    path("assessments/<uuid:assessment_code>/", runs.assessment_detail, name="assessment_detail"),
    path(
        "assessments/<uuid:assessment_code>/status/",
        runs.assessment_status,
        name="assessment_status",
    ),
    path(
        "assessments/<uuid:assessment_code>/submit/",
        review.assessment_submit,
        name="assessment_submit",
    ),
    path(
        "assessments/<uuid:assessment_code>/approve/",
        review.assessment_approve,
        name="assessment_approve",
    ),
    path(
        "assessments/<uuid:assessment_code>/return/",
        review.assessment_return,
        name="assessment_return",
    ),
    path(
        "assessments/<uuid:assessment_code>/report/",
        reports.assessment_report,
        name="assessment_report",
    ),
    path(
        "assessments/<uuid:assessment_code>/report.pdf",
        reports.assessment_report_pdf,
        name="assessment_report_pdf",
    ),
    path(
        "assessments/<uuid:assessment_code>/findings/export/",
        reports.findings_export,
        name="assessment_findings_export",
    ),
    path("batches/<uuid:batch_code>/", runs.batch_detail, name="batch_detail"),
    path("batches/<uuid:batch_code>/status/", runs.batch_status, name="batch_status"),
    path("findings/<uuid:finding_code>/", review.finding_detail, name="finding_detail"),
    path("findings/<uuid:finding_code>/evidence/", review.evidence_add, name="evidence_add"),
    path("evidence/<uuid:evidence_code>/remove/", review.evidence_remove, name="evidence_remove"),
]

api_patterns = [
    path(
        "systems/<uuid:system_code>/assessments/",
        api.assessment_create,
        name="api_assessment_create",
    ),
    path("assessments/<uuid:assessment_code>/", api.assessment_detail, name="api_assessment"),
    path(
        "assessments/<uuid:assessment_code>/findings/",
        api.finding_list,
        name="api_assessment_findings",
    ),
]

urlpatterns = [
    path("o/<uuid:org_code>/", include(app_patterns)),
    path("api/v1/orgs/<uuid:org_code>/", include(api_patterns)),
]
