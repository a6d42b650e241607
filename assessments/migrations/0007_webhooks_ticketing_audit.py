from django.db import migrations

from governance import audit


class Migration(migrations.Migration):
    dependencies = [("assessments", "0006_webhooks_ticketing")]

    # Events, deliveries and attempts are themselves the delivery log and are not audited.
    # Secrets and sync bookkeeping are left out of the trail (a sync alone records nothing).
    operations = [
        audit.track(
            "assessments_webhookendpoint",
            redact=("secret", "previous_secret", "previous_secret_expires_at"),
        ),
        audit.track("assessments_ticketingconnection", redact=("token", "inbound_secret")),
        audit.track(
            "assessments_externalticket",
            redact=("needs_sync", "attempts", "next_attempt_at", "last_error", "pushed_hash"),
        ),
    ]
