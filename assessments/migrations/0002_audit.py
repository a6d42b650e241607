from django.db import migrations

from governance import audit


class Migration(migrations.Migration):
    dependencies = [("assessments", "0001_initial"), ("governance", "0006_registry_audit")]

    # The engine's result and the answers copied into a run are derived data, already in the
    # trail through the system's own rows; copying them on every status change would bloat it.
    operations = [
        audit.track("assessments_assessment", redact=("result", "answers")),
        audit.track("assessments_assessmentbatch"),
        audit.track("assessments_finding"),
        audit.track("assessments_evidence"),
    ]
