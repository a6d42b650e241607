import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from governance import selectors, services
from governance.audit import audit_context
from governance.models import AuditEvent, Membership, Role

from ..factories import InvitationFactory, MembershipFactory


def events_for(obj):
    return AuditEvent.objects.filter(table=obj._meta.db_table, object_pk=str(obj.pk)).order_by("id")


def test_it_records_who_changed_what_before_and_after(owner, member):
    with audit_context(user_id=owner.user.pk, source="test"):
        services.membership_change_role(actor=owner, member=member, role=Role.VIEWER)
    event = events_for(member).last()
    assert event.action == "update"
    assert event.organisation_id == member.organisation_id
    assert event.actor_user_id == owner.user.pk
    assert event.before["role"] == Role.CONTRIBUTOR
    assert event.after["role"] == Role.VIEWER
    assert event.changes() == [("role", Role.CONTRIBUTOR, Role.VIEWER)]


def test_it_records_bulk_writes_that_bypass_save(owner, org):
    others = MembershipFactory.create_batch(3, organisation=org, role=Role.VIEWER)
    with audit_context(user_id=owner.user.pk, source="test"):
        Membership.objects.for_org(org).filter(role=Role.VIEWER).update(role=Role.CONTRIBUTOR)
    for m in others:
        last = events_for(m).last()
        assert (last.action, last.after["role"], last.actor_user_id) == (
            "update",
            Role.CONTRIBUTOR,
            owner.user.pk,
        )


def test_it_records_deletions(owner, member):
    pk = member.pk
    services.membership_remove(actor=owner, member=member)
    event = AuditEvent.objects.get(
        table="governance_membership", object_pk=str(pk), action="delete"
    )
    assert event.before["user_id"] == member.user_id
    assert event.after is None


def test_it_never_copies_password_hashes(owner):
    for event in events_for(owner.user):
        assert "password" not in (event.after or {})
    owner.user.set_password("another one entirely")
    owner.user.save()
    assert not events_for(owner.user).filter(action="update").exists()  # nothing else changed


def test_it_refuses_to_edit_or_delete_the_trail(owner):
    event = AuditEvent.objects.filter(organisation=owner.organisation).first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="delete")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_it_forgets_the_actor_after_the_context(owner, member):
    with audit_context(user_id=owner.user.pk, source="test"):
        pass
    Membership.objects.filter(pk=member.pk).update(role=Role.VIEWER)
    assert events_for(member).last().actor_user_id is None


def test_it_attributes_page_writes_to_the_signed_in_user(owner_client, owner, org, member):
    owner_client.post(f"/o/{org.code}/members/{member.code}/role/", {"role": Role.VIEWER})
    event = events_for(member).last()
    assert event.actor_user_id == owner.user.pk
    assert event.context["source"] == "web"


# Tables that are logs or caches themselves: the webhook outbox and its delivery log, and the
# day-long cache of Idempotency-Key responses.
UNAUDITED = {
    "assessments_webhookevent",
    "assessments_webhookdelivery",
    "assessments_webhookattempt",
    "governance_idempotencyrecord",
}


def test_every_tenant_table_is_tracked(db):
    tracked = selectors.tracked_tables()
    for model in apps.get_models():
        fields = {f.name for f in model._meta.get_fields()}
        if model._meta.db_table in UNAUDITED:
            assert model._meta.db_table not in tracked
            continue
        if "organisation" in fields and model is not AuditEvent:
            assert model._meta.db_table in tracked, f"{model.__name__} has no audit trigger"
    assert "governance_organisation" in tracked


def test_it_shows_the_trail_to_admins_with_filters(owner_client, owner, org, member):
    owner_client.post(f"/o/{org.code}/members/{member.code}/role/", {"role": Role.VIEWER})
    page = owner_client.get(f"/o/{org.code}/audit/", {"table": "governance_membership"})
    assert page.status_code == 200
    assert owner.user.email.encode() in page.content
    assert b"<del>contributor</del>" in page.content
    assert b"<ins>viewer</ins>" in page.content
    deletes = owner_client.get(f"/o/{org.code}/audit/", {"action": "delete"})
    assert b"<ins>viewer</ins>" not in deletes.content


def test_it_never_shows_another_organisations_events(owner_client, org, outsider):
    page = owner_client.get(f"/o/{org.code}/audit/")
    assert outsider.user.email.encode() not in page.content
    assert b"Rival Systems" not in page.content


@pytest.mark.parametrize("extra", [0, 20])
def test_it_lists_the_trail_in_constant_queries(
    owner_client, owner, org, extra, django_assert_num_queries
):
    for _ in range(extra):
        InvitationFactory(organisation=org, invited_by=owner.user)
    owner_client.get(f"/o/{org.code}/audit/")
    selectors.tracked_tables()
    # session, user, membership, count, page of events with actors, organisation switcher,
    # unread notifications
    with django_assert_num_queries(7):
        assert owner_client.get(f"/o/{org.code}/audit/").status_code == 200


def test_the_trail_is_read_only_in_the_admin(db, admin_client):
    assert admin_client.get("/admin/governance/auditevent/").status_code == 200
    assert admin_client.get("/admin/governance/auditevent/add/").status_code == 403


def test_it_uses_the_trigger_on_raw_sql(owner, org):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE governance_organisation SET name = %s WHERE id = %s", ["Raw Name", org.pk]
        )
    assert events_for(org).last().after["name"] == "Raw Name"
