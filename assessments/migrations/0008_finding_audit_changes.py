"""Findings written by an assessment run are no longer copied into the audit trail one by one:
the run's completion is (the assessment row, with its requester), and the findings follow from
its answers and release. Every later change of a finding (review, deletion) still is."""

from django.db import migrations

from governance import audit


class Migration(migrations.Migration):
    dependencies = [("assessments", "0007_webhooks_ticketing_audit")]

    operations = [
        audit.retrack("assessments_finding", before=audit.ALL_CHANGES, after=("UPDATE", "DELETE")),
    ]
