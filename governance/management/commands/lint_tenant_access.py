from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from governance.lint import check

APPS = ["config", "governance", "assessments"]


class Command(BaseCommand):
    help = "Fail when a views or API module queries a tenant model directly."

    def handle(self, *args, **options) -> None:
        base = Path(settings.BASE_DIR)
        violations = check(base / app for app in APPS)
        for violation in violations:
            self.stderr.write(str(violation))
        if violations:
            raise CommandError(f"{len(violations)} direct tenant-model queries found.")
        self.stdout.write("No direct tenant-model queries in views or API modules.")
