"""Reads that need more than a one-line query."""

import functools

from django.apps import apps
from django.db.models import Count, Q, QuerySet

from .models import AuditEvent, Invitation, Membership, Organisation, Role, User


def user_exists(email: str) -> bool:
    return User.objects.filter(email__iexact=email).exists()


def members(org: Organisation) -> QuerySet[Membership]:
    return Membership.objects.for_org(org).select_related("user").order_by("user__email")


def pending_invitations(org: Organisation) -> QuerySet[Invitation]:
    return Invitation.objects.for_org(org).pending().select_related("invited_by")


def organisation_overview(org: Organisation) -> dict:
    counts = Membership.objects.for_org(org).aggregate(
        total=Count("id"),
        **{role.value: Count("id", filter=Q(role=role)) for role in Role},
    )
    return {
        "members": counts.pop("total"),
        "by_role": [(role.label, counts[role.value]) for role in Role],
        "pending_invitations": Invitation.objects.for_org(org).pending().count(),
    }


def audit_tables() -> list[tuple[str, str]]:
    """(table, label) for every model whose changes can appear in an organisation's trail."""
    return sorted(
        (model._meta.db_table, str(model._meta.verbose_name).capitalize())
        for model in apps.get_models()
        if model._meta.db_table in tracked_tables()
    )


@functools.cache
def tracked_tables() -> frozenset[str]:
    """Tables with the audit trigger; they change only with a migration."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname = 'kakehashi_audit'"
        )
        return frozenset(row[0] for row in cursor.fetchall())


def audit_events(org: Organisation, *, table: str = "", action: str = "") -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.for_org(org).select_related("actor_user")
    if table:
        events = events.filter(table=table)
    if action:
        events = events.filter(action=action)
    return events
