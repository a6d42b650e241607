from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.audit import audit_context
from governance.catalogue.loader import DATA_DIR, CatalogueError, read_files, summary
from governance.catalogue.store import write


class Command(BaseCommand):
    help = (
        "Load the regulatory catalogue from governance/catalogue/data. Everything is checked "
        "first; on any error nothing is written. Loading the same files again changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--path", type=Path, default=DATA_DIR, help="the data directory")
        parser.add_argument(
            "--check", action="store_true", help="validate the files and write nothing"
        )

    def handle(self, *args, path: Path, check: bool, **options) -> None:
        try:
            catalogue = read_files(path)
            if check:
                for code, snapshot in catalogue.snapshots.items():
                    self.stdout.write(f"{code}: valid — {summary(snapshot)}")
                return
            with audit_context(source="command:load_catalogue"):
                report = write(catalogue)
        except CatalogueError as exc:
            for problem in exc.problems:
                self.stderr.write(problem)
            raise CommandError(
                f"The catalogue was not loaded: {len(exc.problems)} problem(s)."
            ) from exc
        for line in report:
            self.stdout.write(line)
