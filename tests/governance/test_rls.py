"""Row-level security, the database's own fence around each organisation (governance/rls.py)."""

import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.signals import template_rendered
from psycopg import sql

from assessments.models import Finding, Notification
from governance import rls
from governance.models import AISystem, Membership

from ..conftest import client_for
from ..factories import (
    AISystemFactory,
    FindingFactory,
    MembershipFactory,
    OrganisationFactory,
)
from ..worker import database_url

ROLE = settings.DATABASES["default"]["APP_ROLE"]


def count(model) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{model._meta.db_table}"')  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def two_orgs(real_catalogue):
    ours = FindingFactory(assessment__system__name="Our screener")
    theirs = FindingFactory(assessment__system__name="Their screener")
    return ours.organisation, theirs.organisation


def test_it_runs_the_app_as_a_role_that_owns_nothing_and_cannot_bypass_the_policies(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, session_user")
        current, login = cursor.fetchone()
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        superuser, bypass = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = %s",
            [current],
        )
        owned = cursor.fetchone()[0]
    assert current == ROLE != login
    assert (superuser, bypass, owned) == (False, False, 0)


def test_it_covers_every_table_with_an_organisation(db):
    tables = {table for table, _ in rls.tenant_tables()}
    assert {"governance_aisystem", "assessments_finding", "governance_auditevent"} <= tables
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relrowsecurity"
        )
        protected = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT tablename, count(*) FROM pg_policies WHERE schemaname = 'public' "
            "GROUP BY tablename"
        )
        policies = dict(cursor.fetchall())
    assert tables <= protected
    assert all(policies.get(table, 0) >= 2 for table in tables)


def test_it_shows_a_connection_without_an_organisation_no_rows(two_orgs):
    assert count(AISystem) == 2  # the test process sees everything
    with rls.scoped(rls.NOTHING):
        assert count(AISystem) == 0
        assert count(Finding) == 0
        assert count(Membership) == 0
        assert not AISystem.objects.exists()


def test_it_shows_one_organisation_only_its_own_rows(two_orgs):
    ours, theirs = two_orgs
    with rls.scoped(rls.Scope(org_id=ours.pk)):
        assert count(AISystem) == 1
        assert list(AISystem.objects.values_list("name", flat=True)) == ["Our screener"]
        # Even a query that asks for the other organisation by name gets nothing.
        assert not Finding.objects.filter(organisation=theirs).exists()


def test_it_refuses_to_write_a_row_into_another_organisation(two_orgs):
    ours, theirs = two_orgs
    with rls.scoped(rls.Scope(org_id=ours.pk)):
        moving = "UPDATE governance_aisystem SET organisation_id = %s WHERE organisation_id = %s"
        with (
            pytest.raises(Exception, match="row-level security"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(moving, [theirs.pk, ours.pk])
        # An update of the other organisation's rows touches nothing.
        updated = AISystem.objects.filter(organisation=theirs).update(name="Hijacked")
    assert updated == 0
    assert AISystem.objects.get(organisation=theirs).name == "Their screener"


def test_it_shows_a_user_their_own_memberships_and_notifications_across_organisations(db):
    membership = MembershipFactory()
    second = MembershipFactory(user=membership.user)
    stranger = MembershipFactory(organisation=membership.organisation)
    for recipient, organisation in (
        (membership.user, second.organisation),
        (stranger.user, membership.organisation),
    ):
        Notification.objects.create(
            recipient=recipient, organisation=organisation, kind="mentioned", key="k"
        )
    with rls.scoped(rls.Scope(user_id=membership.user.pk)):
        assert set(Membership.objects.values_list("pk", flat=True)) == {
            membership.pk,
            second.pk,
        }
        assert Notification.objects.count() == 1
        assert not AISystem.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_shows_a_fresh_connection_of_the_app_role_no_rows(committed_catalogue):
    """A raw connection, as the app would open one, without the organisation setting."""
    AISystemFactory()
    assert AISystem.objects.count() == 1
    with psycopg.connect(database_url(), autocommit=True) as raw:
        raw.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(ROLE)))
        assert raw.execute("SELECT count(*) FROM governance_aisystem").fetchone() == (0,)
        assert raw.execute("SELECT count(*) FROM governance_membership").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            raw.execute("TRUNCATE governance_aisystem")


def test_it_scopes_a_request_to_the_organisation_in_its_url(two_orgs):
    ours, _ = two_orgs
    member = MembershipFactory(organisation=ours)
    seen = []

    def inside_the_request(**kwargs):
        seen.append((rls.current(), count(AISystem), count(Membership)))

    template_rendered.connect(inside_the_request)
    try:
        response = client_for(member).get(f"/o/{ours.code}/systems/")
    finally:
        template_rendered.disconnect(inside_the_request)
    assert response.status_code == 200
    assert seen[0] == (rls.Scope(org_id=ours.pk, user_id=member.user.pk), 1, 1)
    # Back to everything for the test once the response is done.
    assert rls.current() == rls.EVERYTHING
    assert count(AISystem) == 2


def test_it_gives_a_non_member_no_organisation_even_with_its_code(two_orgs):
    ours, _ = two_orgs
    outsider = MembershipFactory(organisation=OrganisationFactory())
    with rls.scoped(rls.NOTHING):
        scope = rls.enter_member(outsider.user.pk, ours.code)
        assert scope == rls.Scope(user_id=outsider.user.pk)
        assert count(AISystem) == 0


def test_it_shows_a_web_process_only_what_its_request_may_see(two_orgs):
    """Web processes see nothing outside a request (the test process sees everything): their
    pages still show the user's organisations, also on a path that matches no view."""
    ours, theirs = two_orgs
    member = MembershipFactory(organisation=ours)
    client = client_for(member)
    with rls.scoped(rls.NOTHING):
        page = client.get(f"/o/{ours.code}/systems/")
        missing = client.get("/no/such/page/")
        theirs_page = client.get(f"/o/{theirs.code}/systems/")
        assert rls.current() == rls.NOTHING
        assert count(AISystem) == 0
    assert page.status_code == 200
    assert "Our screener" in page.content.decode()
    assert missing.status_code == 404
    assert ours.name in missing.content.decode()
    assert theirs_page.status_code == 404
    assert "Their screener" not in theirs_page.content.decode()
