from django.db import migrations

# An action's page shows the audit events of its comments, evidence and links, found by the
# action id inside the event's row data: without this index that lookup reads the
# organisation's whole trail.
INDEX = """
CREATE INDEX audit_action_children ON governance_auditevent
    (((COALESCE("after", "before") ->> 'action_id')))
    WHERE "table" IN (
        'assessments_actioncomment', 'assessments_actionevidence', 'assessments_actionfinding'
    )
"""


class Migration(migrations.Migration):
    dependencies = [("assessments", "0004_remediation_audit_latest")]

    operations = [
        migrations.RunSQL(INDEX, "DROP INDEX IF EXISTS audit_action_children"),
    ]
