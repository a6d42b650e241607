from django.db import migrations

from governance import audit


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]

    operations = [
        *audit.install(),
        audit.track("governance_organisation", org_column="id"),
        audit.track("governance_membership"),
        audit.track("governance_invitation"),
        audit.track("governance_user", org_column="", redact=("password", "last_login")),
    ]
