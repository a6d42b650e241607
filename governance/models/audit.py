import functools

from django.apps import apps
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .tenancy import TenantQuerySet


class AuditEvent(models.Model):
    """One row changed: written by a PostgreSQL trigger, so bulk writes are recorded too.

    The table is append-only (a trigger refuses UPDATE and DELETE). The foreign keys carry no
    database constraint so that history outlives the rows it describes.
    See governance.audit for the trigger and the actor context.
    """

    class Action(models.TextChoices):
        INSERT = "insert", _("created")
        UPDATE = "update", _("changed")
        DELETE = "delete", _("deleted")

    organisation = models.ForeignKey(
        "governance.Organisation",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    table = models.CharField(max_length=63)
    object_pk = models.CharField(max_length=64)
    action = models.CharField(max_length=8, choices=Action.choices)
    before = models.JSONField(null=True)
    after = models.JSONField(null=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    actor_api_key_id = models.BigIntegerField(null=True)
    context = models.JSONField(null=True)
    created_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organisation", "-created_at", "-id"], name="audit_org_time"),
            models.Index(fields=["table", "object_pk"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.table}:{self.object_pk} {self.action}"

    @property
    def object_label(self) -> str:
        model = _models_by_table().get(self.table)
        return str(model._meta.verbose_name).capitalize() if model else self.table

    def changes(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for every field that differs."""
        before, after = self.before or {}, self.after or {}
        keys = sorted(set(before) | set(after))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


@functools.cache
def _models_by_table() -> dict:
    return {model._meta.db_table: model for model in apps.get_models()}
