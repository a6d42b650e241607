from django.urls import include, path

from .views import actions, dashboard, deadlines, notifications, reports, review, runs

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
    # Remediation
    path("actions/", actions.action_list, name="action_list"),
    path("actions/new/", actions.action_create, name="action_create"),
    path("actions/bulk/", actions.action_bulk, name="action_bulk"),
    path("actions/export/", actions.action_export, name="action_export"),
    path("actions/<uuid:action_code>/", actions.action_detail, name="action_detail"),
    path("actions/<uuid:action_code>/edit/", actions.action_edit, name="action_edit"),
    path("actions/<uuid:action_code>/status/", actions.action_transition, name="action_transition"),
    path("actions/<uuid:action_code>/comments/", actions.action_comment, name="action_comment"),
    path(
        "actions/<uuid:action_code>/evidence/",
        actions.action_evidence_add,
        name="action_evidence_add",
    ),
    path(
        "attachments/<uuid:attachment_code>/",
        actions.action_evidence_download,
        name="action_evidence_download",
    ),
    path(
        "attachments/<uuid:attachment_code>/delete/",
        actions.action_evidence_delete,
        name="action_evidence_delete",
    ),
    # Notifications
    path("notifications/", notifications.notification_list, name="notification_list"),
    path("notifications/read/", notifications.notification_read, name="notification_read"),
    # Dashboard, the organisation's findings, the posture report
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("findings/", dashboard.finding_list, name="finding_list"),
    path("findings/export/", dashboard.finding_export, name="finding_export"),
    path("posture.pdf", dashboard.posture_report_pdf, name="posture_report_pdf"),
    # Deadlines and regulatory change
    path("deadlines/", deadlines.deadlines, name="deadlines"),
    path("releases/", deadlines.impact_list, name="impact_list"),
    path(
        "releases/<slug:release_code>/impact/",
        deadlines.release_impact,
        name="release_impact",
    ),
]

urlpatterns = [
    path(
        "accounts/notifications/",
        notifications.notification_preferences,
        name="notification_preferences",
    ),
    path("o/<uuid:org_code>/", include(app_patterns)),
    path("o/<uuid:org_code>/settings/webhooks/", include("assessments.views.webhooks")),
    path("o/<uuid:org_code>/settings/ticketing/", include("assessments.views.connectors")),
]
