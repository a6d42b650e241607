"""`flush`, run as the database's owner: TRUNCATE is not granted to the app role (it would skip
row-level security). Tests that commit (transactional_db) flush through this."""

from django.core.management.commands import flush
from django.db import connections

from ... import rls


class Command(flush.Command):
    def handle(self, **options):
        with rls.owner(connections[options["database"]]):
            super().handle(**options)
