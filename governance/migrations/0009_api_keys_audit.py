from django.db import migrations

from governance import audit


class Migration(migrations.Migration):
    dependencies = [("governance", "0008_api_keys")]

    # Idempotency records are a day's cache of responses, not state: they are not audited.
    operations = [
        audit.track("governance_apikey", redact=("secret_hash", "last_used_at")),
    ]
