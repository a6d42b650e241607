from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = _("Governance")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import rls

        connection_created.connect(rls.on_connection_created, dispatch_uid="kakehashi_rls")
