"""Indexes for the read paths measured by the benchmark (bench/workloads/reads.py).

- finding_org_due_sort: the organisation's findings in the findings list's order (soonest due,
  undated last, then id), so a page — the first or one deep behind a cursor — is read from the
  index instead of sorting every matching finding.
- finding_assessment_counts: the current findings (those of latest assessments) with every
  column the dashboard counts by, so its aggregates scan the index alone (where the table is
  about three times wider) and only the current findings, not the history.

Built concurrently: the findings table is the largest, and a plain CREATE INDEX would block
assessment runs writing to it for as long as the build takes.
"""

import datetime

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("assessments", "0008_finding_audit_changes")]

    operations = [
        AddIndexConcurrently(
            model_name="finding",
            index=models.Index(
                models.F("organisation"),
                models.Case(
                    models.When(
                        due_date__isnull=True, then=models.Value(datetime.date(9999, 12, 31))
                    ),
                    default=models.F("due_date"),
                    output_field=models.DateField(),
                ),
                models.F("id"),
                name="finding_org_due_sort",
            ),
        ),
        AddIndexConcurrently(
            model_name="finding",
            index=models.Index(
                fields=["assessment"],
                include=[
                    "organisation",
                    "system",
                    "jurisdiction",
                    "regulation_code",
                    "status",
                    "due_date",
                    "applies_from",
                    "id",
                ],
                name="finding_assessment_counts",
            ),
        ),
    ]
