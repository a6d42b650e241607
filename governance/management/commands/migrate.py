"""`migrate`, run as the database's owner, then the app role's grants and row-level security
policies (governance/rls.py) brought up to date for every tenant table."""

from django.core.management.commands import migrate
from django.db import connections

from ... import rls


class Command(migrate.Command):
    def handle(self, *args, **options):
        wrapper = connections[options["database"]]
        with rls.owner(wrapper):
            super().handle(*args, **options)
            tables = rls.install(wrapper)
        if tables and options["verbosity"] >= 1:
            self.stdout.write(
                f"Row-level security: {len(tables)} tenant tables, "
                f"app role {wrapper.settings_dict['APP_ROLE']}."
            )
