import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from governance import services
from governance.audit import audit_context
from governance.models import Membership, Organisation, Role, User

DEMO_EMAIL = "demo@kakehashi.example"
DEMO_ORG = "Demo Organisation"


class Command(BaseCommand):
    help = "Create the demo organisation and its admin for local development (idempotent)."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates a known password; it runs only with DEBUG on.")
        password = os.environ.get("DEMO_PASSWORD", "kakehashi-demo")
        with audit_context(source="command:seed_demo"), transaction.atomic():
            user = User.objects.filter(email=DEMO_EMAIL).first()
            if user is None:
                user = User.objects.create_user(
                    DEMO_EMAIL,
                    password,
                    full_name="Demo Admin",
                    is_staff=True,
                    is_superuser=True,
                )
            elif not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
            org = Organisation.objects.filter(memberships__user=user, name=DEMO_ORG).first()
            if org is None:
                org = services.organisation_create(
                    name=DEMO_ORG, creator=user, time_zone="Asia/Tokyo"
                )
            Membership.objects.filter(organisation=org, user=user).update(role=Role.ADMIN)
        base = os.environ.get("KAKEHASHI_BASE_URL", settings.BASE_URL)
        self.stdout.write(
            self.style.SUCCESS(
                f"Kakehashi is at {base}/  —  log in as {DEMO_EMAIL} / {password}"
                f"  (admin site: {base}/admin/)"
            )
        )
