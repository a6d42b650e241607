"""The organisation's current findings through the API: the list and its filters, reading a
finding with its ETag, and reviewing it with PATCH and If-Match."""

import datetime as dt

import pytest
import time_machine
from rest_framework.test import APIClient

from assessments.models import Finding
from governance.models import Obligation, Role

from ..factories import AISystemFactory, AssessmentFactory, FindingFactory, MembershipFactory

pytestmark = pytest.mark.usefixtures("real_catalogue")

TODAY = dt.datetime(2026, 9, 15, 12, tzinfo=dt.UTC)


def findings_url(org, suffix=""):
    return f"/api/v1/orgs/{org.code}/findings/{suffix}"


def etag_of(data) -> str:
    # Imported late: importing conventions before DRF's views is a circular import.
    from governance.api.conventions import etag_of

    return etag_of(data)


def finding_url(finding):
    return findings_url(finding.organisation, f"{finding.code}/")


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def pointers(response) -> list[str]:
    return [error["pointer"] for error in problem(response, 400)["errors"]]


def session(membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


def current_finding(org, name, *, obligation="EU-AIA-ART9", **fields) -> Finding:
    """A finding of a new system's latest completed assessment."""
    assessment = AssessmentFactory(system=AISystemFactory(organisation=org, name=name))
    rule = Obligation.objects.get(release=assessment.release, code=obligation)
    return FindingFactory(assessment=assessment, obligation=rule, **fields)


@pytest.fixture
def finding(org):
    return current_finding(org, "Hiring", due_date=dt.date(2026, 10, 1))


@pytest.fixture
def findings(org, finding):
    """Four current findings (one undated) and two that do not count: an older run's and an
    archived system's."""
    overdue = current_finding(
        org, "Scoring", due_date=dt.date(2026, 8, 2), status="not_met", obligation="EU-AIA-ART10"
    )
    met = current_finding(org, "Chat", due_date=dt.date(2026, 12, 2), status="met")
    undated = current_finding(org, "Plan", due_date=None)
    older = FindingFactory(
        assessment=AssessmentFactory(system=finding.system, latest=False),
        due_date=dt.date(2026, 1, 1),
    )
    archived = current_finding(org, "Gone", due_date=dt.date(2026, 1, 1))
    archived.system.archived_at = archived.system.created_at
    archived.system.save()
    return {"overdue": overdue, "due": finding, "met": met, "undated": undated, "older": older}


def codes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["code"] for row in response.json()["results"]]


# The list


@time_machine.travel(TODAY, tick=False)
def test_it_lists_the_current_findings_soonest_due_first(writer, org, findings):
    response = writer.get(findings_url(org))
    expected = [findings[name].code for name in ("overdue", "due", "met", "undated")]
    assert codes(response) == [str(code) for code in expected]
    row = response.json()["results"][0]
    assert row["obligation"] == "EU-AIA-ART10" and row["status"] == "not_met"
    assert row["system"] == str(findings["overdue"].system.code)
    assert row["assessment"] == str(findings["overdue"].assessment.code)
    assert row["title"]["en"] and row["title"]["ja"]
    assert row["href"] == finding_url(findings["overdue"])
    assert row["due_date"] == "2026-08-02" and row["risk_approver"] is None


@time_machine.travel(TODAY, tick=False)
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "gap"}, ["overdue", "due", "undated"]),
        ({"status": "met"}, ["met"]),
        ({"due": "overdue"}, ["overdue"]),
        ({"due": "none"}, ["undated"]),
        ({"due_month": "2026-10"}, ["due"]),
        ({"due_from": "2026-10-01"}, ["due", "met"]),
        ({"jurisdiction": "JP"}, []),
        ({"regulation": "EU-AIA"}, ["overdue", "due", "met", "undated"]),
        ({"q": "art10"}, ["overdue"]),
        ({"ordering": "-due_date"}, ["undated", "met", "due", "overdue"]),
    ],
)
def test_it_filters_like_the_findings_page(writer, org, findings, params, expected):
    assert codes(writer.get(findings_url(org), params)) == [
        str(findings[name].code) for name in expected
    ]


def test_it_filters_by_system(writer, org, findings):
    system = findings["met"].system
    assert codes(writer.get(findings_url(org), {"system": system.code})) == [
        str(findings["met"].code)
    ]


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"due_month": "2026-13"}, "/due_month"),
        ({"status": "closed"}, "/status"),
        ({"due": "tomorrow"}, "/due"),
        ({"system": "abc"}, "/system"),
        ({"ordering": "status"}, "/ordering"),
        ({"cursor": "eyJ4Ijo"}, "/cursor"),
        ({"colour": "red"}, "/colour"),
    ],
)
def test_it_refuses_parameters_it_does_not_understand(writer, org, params, pointer):
    assert pointers(writer.get(findings_url(org), params)) == [pointer]


@pytest.mark.parametrize("ordering", ["due_date", "-due_date", "applies_from", "-created_at"])
def test_it_pages_through_next_without_gaps_or_repeats(writer, org, findings, ordering):
    everything = codes(writer.get(findings_url(org), {"ordering": ordering}))
    seen, url = [], findings_url(org) + f"?page_size=1&ordering={ordering}"
    while url:
        body = writer.get(url).json()
        seen += [row["code"] for row in body["results"]]
        url = body["next"]
    assert seen == everything and len(set(seen)) == 4


def test_it_lists_in_a_constant_number_of_queries(writer, org, finding, django_assert_num_queries):
    current_finding(org, "Second")
    writer.get(findings_url(org))  # the key's last use is recorded once a minute
    with django_assert_num_queries(2):  # the key, the page
        assert len(writer.get(findings_url(org)).json()["results"]) == 2
    for n in range(4):
        current_finding(org, f"More {n}")
    with django_assert_num_queries(2):
        assert len(writer.get(findings_url(org)).json()["results"]) == 6


# One finding


def test_it_reads_a_finding_with_its_etag(reader, finding):
    response = reader.get(finding_url(finding))
    assert response.status_code == 200
    body = response.json()
    assert response["ETag"] == etag_of(body)
    assert body["code"] == str(finding.code) and body["status"] == "open"


def test_it_reviews_a_finding_with_if_match(writer, finding):
    etag = writer.get(finding_url(finding))["ETag"]
    response = writer.patch(
        finding_url(finding),
        {"status": "met", "notes": "Checked."},
        format="json",
        HTTP_IF_MATCH=etag,
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "met" and response.json()["notes"] == "Checked."
    assert response["ETag"] != etag and response["ETag"] == etag_of(response.json())
    finding.refresh_from_db()
    assert (finding.status, finding.notes, finding.updated_by) == ("met", "Checked.", None)
    # The old ETag is stale now: the change is refused and nothing moves.
    stale = writer.patch(
        finding_url(finding), {"status": "open"}, format="json", HTTP_IF_MATCH=etag
    )
    problem(stale, 412)
    finding.refresh_from_db()
    assert finding.status == "met"


def test_it_keeps_the_fields_not_sent(writer, finding):
    writer.patch(
        finding_url(finding),
        {"status": "not_applicable", "justification": "No EU users."},
        format="json",
    )
    response = writer.patch(finding_url(finding), {"notes": "Re-checked."}, format="json")
    assert response.status_code == 200
    finding.refresh_from_db()
    assert (finding.status, finding.justification, finding.notes) == (
        "not_applicable",
        "No EU users.",
        "Re-checked.",
    )


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"status": "not_applicable"}, "/justification"),
        ({"status": "closed"}, "/status"),
        ({"status": "risk_accepted", "justification": "Low impact."}, "/risk_approver"),
        (
            {
                "status": "risk_accepted",
                "justification": "x",
                "risk_approver": "member@acme.example",
            },
            "/risk_approver",
        ),
        ({"colour": "red"}, "/colour"),
    ],
)
def test_it_refuses_a_bad_review_and_changes_nothing(writer, member, finding, change, pointer):
    assert pointers(writer.patch(finding_url(finding), change, format="json")) == [pointer]
    finding.refresh_from_db()
    assert (finding.status, finding.justification, finding.updated_at) == ("open", "", None)


def test_a_key_accepts_a_risk_only_with_a_named_approver(writer, owner, finding):
    change = {
        "status": "risk_accepted",
        "justification": "Low impact.",
        "risk_approver": "OWNER@acme.example",
    }
    response = writer.patch(finding_url(finding), change, format="json")
    assert response.status_code == 200
    assert response.json()["risk_approver"] == "owner@acme.example"
    finding.refresh_from_db()
    assert finding.risk_approved_by == owner.user


def test_it_refuses_changes_once_the_assessment_is_submitted(writer, finding):
    finding.assessment.review_state = "submitted"
    finding.assessment.save()
    problem(writer.patch(finding_url(finding), {"status": "met"}, format="json"), 409)
    finding.refresh_from_db()
    assert finding.status == "open"


def test_it_refuses_read_keys_and_viewers(reader, org, finding):
    assert (
        "read-only"
        in problem(reader.patch(finding_url(finding), {"status": "met"}, format="json"), 403)[
            "detail"
        ]
    )
    viewer = session(MembershipFactory(organisation=org, role=Role.VIEWER))
    problem(viewer.patch(finding_url(finding), {"status": "met"}, format="json"), 403)
    finding.refresh_from_db()
    assert finding.status == "open"


def test_a_contributor_session_reviews(member, finding):
    response = session(member).patch(finding_url(finding), {"status": "met"}, format="json")
    assert response.status_code == 200
    finding.refresh_from_db()
    assert finding.updated_by == member.user


def test_it_asks_for_credentials(finding):
    response = APIClient().get(finding_url(finding))
    problem(response, 401)
    assert "WWW-Authenticate" in response


def test_it_hides_findings_from_other_organisations(stranger, outsider, outsider_client, finding):
    org = finding.organisation
    for client in (stranger, outsider_client):
        problem(client.get(findings_url(org)), 404)
        problem(client.get(finding_url(finding)), 404)
        problem(client.patch(finding_url(finding), {"status": "met"}, format="json"), 404)
        own = f"/api/v1/orgs/{outsider.organisation.code}/findings/"
        problem(client.get(f"{own}{finding.code}/"), 404)
        assert client.get(own).json()["results"] == []
    finding.refresh_from_db()
    assert finding.status == "open"
