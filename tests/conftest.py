"""Personas and shared fixtures.

Every organisation test meets three people: the owner (an admin), a member (a contributor) of
the same organisation, and an outsider who is an admin of another organisation.
"""

import pytest
from django.test import Client

from assessments import services
from assessments.models import Assessment
from config.celery import app as celery_app
from governance import rls
from governance.catalogue.loader import read_files
from governance.catalogue.store import write
from governance.models import Role
from governance.security.sessions import mark_verified

from .factories import MembershipFactory, OrganisationFactory

# Test code builds and inspects every organisation's rows, like a management command; the
# requests it makes are scoped by TenantScopeMiddleware (tests/governance/test_rls.py).
rls.set_process_default(rls.EVERYTHING)


@pytest.fixture(autouse=True)
def _eager_celery():
    """Run tasks inline by default; tests/test_worker.py uses a real worker instead."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def org(db):
    return OrganisationFactory(name="Acme Robotics")


@pytest.fixture
def owner(org):
    return MembershipFactory(organisation=org, role=Role.ADMIN, user__email="owner@acme.example")


@pytest.fixture
def member(org):
    return MembershipFactory(
        organisation=org, role=Role.CONTRIBUTOR, user__email="member@acme.example"
    )


@pytest.fixture
def other_org(db):
    return OrganisationFactory(name="Rival Systems")


@pytest.fixture
def outsider(other_org):
    return MembershipFactory(
        organisation=other_org, role=Role.ADMIN, user__email="outsider@rival.example"
    )


def login_verified(client: Client, user) -> Client:
    """force_login, with the session marked as past the MFA step, as a login with a code leaves
    it: staff are kept on the enrolment page otherwise (governance/security/middleware.py)."""
    client.force_login(user)
    session = client.session
    mark_verified(session)
    session.save()
    return client


def client_for(membership) -> Client:
    return login_verified(Client(), membership.user)


@pytest.fixture
def admin_client(admin_user) -> Client:
    """pytest-django's superuser client, past the MFA step (see login_verified)."""
    return login_verified(Client(), admin_user)


@pytest.fixture
def owner_client(owner):
    return client_for(owner)


@pytest.fixture
def member_client(member):
    return client_for(member)


@pytest.fixture
def outsider_client(outsider):
    return client_for(outsider)


@pytest.fixture(scope="session")
def _catalogue_files():
    return read_files()


@pytest.fixture
def real_catalogue(db, _catalogue_files):
    """The shipped catalogue, loaded; its current release (2026-amended)."""
    from governance.models import CatalogueRelease

    write(_catalogue_files)
    return CatalogueRelease.objects.get(is_current=True)


@pytest.fixture
def committed_catalogue(transactional_db, _catalogue_files):
    """The shipped catalogue, committed so worker processes and the live server can read it."""
    from django.db import transaction

    from governance.catalogue.store import write
    from governance.models import CatalogueRelease

    with transaction.atomic():
        write(_catalogue_files)
    return CatalogueRelease.objects.get(is_current=True)


@pytest.fixture
def assess(django_capture_on_commit_callbacks):
    """Start an assessment of `system` as `actor`, run it (eagerly, on commit), and return it
    re-read."""

    def run(system, actor) -> Assessment:
        with django_capture_on_commit_callbacks(execute=True):
            assessment, created = services.assessment_start(system=system, actor=actor.user)
        assert created
        assessment.refresh_from_db()
        return assessment

    return run


@pytest.fixture
def keep_connection():
    """For calls straight to the WSGI app (schemathesis), not through Django's test client:
    stop Django closing the connection, and the test's transaction, after each request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)
