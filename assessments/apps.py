from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = _("Assessments")

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from .models.actions import ActionEvidence, delete_stored_file

        post_delete.connect(delete_stored_file, sender=ActionEvidence, dispatch_uid="evidence-file")
