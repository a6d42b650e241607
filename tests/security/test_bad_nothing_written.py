"""The "nothing written" check itself: it must see an insert, an update that keeps the row count,
a delete, and a row of a many-to-many table, and it must not see a read."""

import pytest

from governance.models import Organisation

from .conftest import SomethingWritten, app_tables, nothing_written

pytestmark = pytest.mark.django_db


def test_it_fingerprints_every_table_of_the_app_but_sessions():
    tables = app_tables()
    assert "governance_auditevent" in tables
    assert "assessments_actioncomment_mentions" in tables  # a many-to-many table
    assert "django_session" not in tables


def test_it_passes_a_block_that_only_reads(org):
    with nothing_written():
        assert list(Organisation.objects.all()) == [org]


def test_it_names_a_table_that_gained_a_row(org):
    refused = pytest.raises(SomethingWritten, match=r"governance_organisation: 1 -> 2 rows")
    with refused, nothing_written():
        Organisation.objects.create(name="Second")


def test_it_sees_an_update_that_keeps_the_count(org):
    refused = pytest.raises(SomethingWritten, match=r"governance_organisation: 1 -> 1 rows \(same")
    with refused, nothing_written():
        Organisation.objects.filter(pk=org.pk).update(name="Renamed")


def test_it_sees_the_audit_event_of_a_change(org):
    with pytest.raises(SomethingWritten, match="governance_auditevent"), nothing_written():
        Organisation.objects.filter(pk=org.pk).update(name="Renamed")
