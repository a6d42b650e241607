from django.db import migrations

from governance import audit

CATALOGUE_TABLES = [
    "governance_cataloguerelease",
    "governance_regulation",
    "governance_provision",
    "governance_question",
    "governance_classificationrule",
    "governance_penaltytier",
    "governance_obligation",
    "governance_milestone",
    "governance_crosswalklink",
]


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_catalogue")]

    operations = [audit.track(table, org_column="") for table in CATALOGUE_TABLES]
