from django.db import migrations

from governance import audit


class Migration(migrations.Migration):
    dependencies = [("governance", "0005_registry")]

    operations = [
        audit.track("governance_aisystem"),
        audit.track("governance_aisystemversion"),
    ]
