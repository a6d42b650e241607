from django.db import migrations

from governance import audit

# Mark each system's most recent completed run as its latest.
BACKFILL_LATEST = """
UPDATE assessments_assessment SET latest = true
WHERE id IN (
    SELECT DISTINCT ON (system_id) id FROM assessments_assessment
    WHERE status = 'completed'
    ORDER BY system_id, finished_at DESC NULLS LAST, id DESC
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0003_remediation_notifications_impact"),
        ("governance", "0007_organisation_auto_actions"),
    ]

    operations = [
        migrations.RunSQL(BACKFILL_LATEST, migrations.RunSQL.noop),
        audit.track("assessments_remediationaction"),
        audit.track("assessments_actionfinding"),
        audit.track("assessments_actioncomment"),
        audit.track("assessments_actionevidence"),
        audit.track("assessments_notification"),
        audit.track("assessments_systemimpact"),
    ]
