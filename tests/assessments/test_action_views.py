"""The remediation pages: the list with its filters, bulk changes and exports, opening an action
from findings, one action's page and its forms, evidence files, and who may do what."""

import csv
import datetime as dt
import io
import zipfile

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assessments import actions
from assessments.models import (
    ActionComment,
    ActionEvidence,
    ActionStatus,
    Assessment,
    Finding,
    FindingStatus,
    Notification,
    Priority,
    RemediationAction,
)
from governance.models import AuditEvent, Obligation, Role

from ..conftest import client_for
from ..factories import (
    ActionEvidenceFactory,
    AISystemFactory,
    AssessmentFactory,
    FindingFactory,
    MembershipFactory,
    RemediationActionFactory,
)

S = ActionStatus
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
ART10 = "EU-AIA-ART10"


def url(name: str, org, **kwargs) -> str:
    return reverse(name, kwargs={"org_code": org.code, **kwargs})


@pytest.fixture
def officer(org):
    return MembershipFactory(
        organisation=org, role=Role.COMPLIANCE_OFFICER, user__email="officer@acme.example"
    )


@pytest.fixture
def viewer(org):
    return MembershipFactory(organisation=org, role=Role.VIEWER, user__email="viewer@acme.example")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def system(real_catalogue, org, owner):
    return AISystemFactory(organisation=org, name="Hiring screener", owner=owner.user)


@pytest.fixture
def assessment(system):
    return AssessmentFactory(system=system)


@pytest.fixture
def gap(assessment):
    return FindingFactory(
        assessment=assessment, status=FindingStatus.NOT_MET, due_date=dt.date(2026, 8, 2)
    )


@pytest.fixture
def action(gap, officer, member):
    return actions.action_create(
        org=gap.organisation,
        actor=officer,
        findings=[gap],
        title="Write the risk management plan",
        owner=member.user,
    )


@pytest.fixture
def attachment(action, member, media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return actions.evidence_add_file(
        action=action, actor=member, upload=SimpleUploadedFile("Risk plan.pdf", PDF), title="Plan"
    )


def reread(obj):
    obj.refresh_from_db()
    return obj


def world() -> tuple:
    """What a refused request must leave as it was."""
    return (
        list(RemediationAction.objects.order_by("id").values_list("status", "owner", "title")),
        ActionComment.objects.count(),
        ActionEvidence.objects.count(),
        Notification.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def pages(org, action, attachment, gap):
    return {
        "action_list": url("action_list", org),
        "action_detail": url("action_detail", org, action_code=action.code),
        "action_export": url("action_export", org) + "?format=csv",
        "action_evidence_download": url(
            "action_evidence_download", org, attachment_code=attachment.code
        ),
    }


@pytest.fixture
def manager_pages(org, action, gap):
    return {
        "action_create": url("action_create", org) + f"?finding={gap.code}",
        "action_edit": url("action_edit", org, action_code=action.code),
    }


@pytest.fixture
def posts(org, action, attachment, gap, member):
    """Every POST of the remediation pages, with data that would succeed."""
    return {
        "action_transition": (
            url("action_transition", org, action_code=action.code),
            {"status": S.IN_PROGRESS},
        ),
        "action_comment": (
            url("action_comment", org, action_code=action.code),
            {"body": "Draft attached."},
        ),
        "action_evidence_add": (
            url("action_evidence_add", org, action_code=action.code),
            {"title": "Policy", "url": "https://docs.example/policy"},
        ),
        "action_evidence_delete": (
            url("action_evidence_delete", org, attachment_code=attachment.code),
            {},
        ),
        "action_edit": (
            url("action_edit", org, action_code=action.code),
            {"title": "Renamed", "owner": str(member.code), "priority": ""},
        ),
        "action_create": (
            url("action_create", org),
            {"finding": str(gap.code), "title": "Another", "priority": ""},
        ),
        "action_bulk": (
            url("action_bulk", org),
            {"actions": [str(action.code)], "priority": Priority.LOW},
        ),
    }


# --- Who sees and does what --------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner", "officer", "member", "viewer"])
def test_it_shows_the_pages_to_every_member(persona, pages, request):
    client = client_for(request.getfixturevalue(persona))

    for name, address in pages.items():
        assert client.get(address).status_code == 200, name


@pytest.mark.parametrize("persona", ["member", "viewer"])
def test_it_keeps_opening_and_editing_for_managers(persona, manager_pages, posts, request):
    client = client_for(request.getfixturevalue(persona))
    before = world()

    for name, address in manager_pages.items():
        assert client.get(address).status_code == 403, name
    for name in ("action_create", "action_edit", "action_bulk"):
        address, data = posts[name]
        assert client.post(address, data).status_code == 403, name

    assert world() == before


def test_it_lets_a_viewer_change_nothing(viewer, posts, django_capture_on_commit_callbacks):
    client = client_for(viewer)
    before = world()

    with django_capture_on_commit_callbacks(execute=True):
        for name, (address, data) in posts.items():
            assert client.post(address, data).status_code == 403, name
        delete_page = posts["action_evidence_delete"][0]
        assert client.get(delete_page).status_code == 403

    assert world() == before


def test_it_lets_a_contributor_work_the_action(member, posts, action):
    client = client_for(member)

    for name in ("action_transition", "action_comment", "action_evidence_add"):
        address, data = posts[name]
        assert client.post(address, data).status_code == 302, name

    assert reread(action).status == S.IN_PROGRESS
    assert ActionComment.objects.filter(action=action, body="Draft attached.").exists()
    assert ActionEvidence.objects.filter(action=action, kind="link").exists()


def test_it_hides_every_page_from_an_outsider(
    outsider, pages, manager_pages, posts, django_capture_on_commit_callbacks
):
    client = client_for(outsider)
    before = world()

    with django_capture_on_commit_callbacks(execute=True):
        for name, address in {**pages, **manager_pages}.items():
            assert client.get(address).status_code == 404, name
        for name, (address, data) in posts.items():
            assert client.post(address, data).status_code == 404, name

    assert world() == before


def test_it_does_not_reach_another_organisations_actions_through_ones_own(
    outsider, pages, manager_pages, posts, org, django_capture_on_commit_callbacks
):
    """The outsider (an admin of their own organisation) with this organisation's codes."""
    client = client_for(outsider)
    own = str(outsider.organisation.code)
    before = world()

    with django_capture_on_commit_callbacks(execute=True):
        for name, address in {**pages, **manager_pages}.items():
            if name in ("action_list", "action_export"):
                continue  # their own lists
            assert client.get(address.replace(str(org.code), own)).status_code == 404, name
        for name, (address, data) in posts.items():
            response = client.post(address.replace(str(org.code), own), data)
            if name == "action_bulk":
                # Their own bulk form: our action is not among its choices.
                assert response.status_code == 400
                assert "valid choice" in response.content.decode()
            else:
                assert response.status_code == 404, name

    assert world() == before


# --- The list ----------------------------------------------------------------------------------


def list_titles(client, org, **query) -> list[str]:
    response = client.get(url("action_list", org), query)
    assert response.status_code == 200
    return [item["action"].title for item in response.context["items"]]


@pytest.fixture
def board(org, system, owner, member, officer, real_catalogue):
    """Actions spread over dates, owners, priorities, statuses and systems; today is
    2026-03-10 in Brussels."""
    other = AISystemFactory(organisation=org, name="Chatbot")

    def make(title, due, **fields):
        fields.setdefault("system", system)
        return RemediationActionFactory(title=title, due_date=due, **fields)

    return {
        "late": make("Late", dt.date(2026, 3, 9), owner=member.user, priority="critical"),
        "today": make("Today", dt.date(2026, 3, 10), owner=member.user, priority="high"),
        "week": make("Week", dt.date(2026, 3, 17), owner=owner.user, priority="high"),
        "month": make("Month", dt.date(2026, 4, 9), system=other, priority="low"),
        "later": make("Later", dt.date(2026, 12, 1), status=S.BLOCKED, origin="auto"),
        "undated": make("Undated", None, owner=officer.user, priority="critical"),
        "verified": make(
            "Verified",
            dt.date(2026, 1, 1),
            status=S.VERIFIED,
            done_by=member.user,
            verified_by=officer.user,
        ),
        "cancelled": make(
            "Cancelled", dt.date(2026, 1, 2), status=S.CANCELLED, cancel_reason="Not needed"
        ),
    }


TODAY = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["Late", "Today", "Week", "Month", "Later", "Undated"]),  # active, soonest first
        (
            {"status": "all"},
            ["Verified", "Cancelled", "Late", "Today", "Week", "Month", "Later", "Undated"],
        ),
        ({"status": "verified"}, ["Verified"]),
        ({"status": "blocked"}, ["Later"]),
        ({"owner": "mine"}, ["Late", "Today"]),  # the member's
        ({"owner": "unassigned"}, ["Month", "Later"]),
        ({"priority": "critical"}, ["Late", "Undated"]),
        ({"due": "overdue"}, ["Late"]),
        ({"due": "week"}, ["Today", "Week"]),
        ({"due": "month"}, ["Today", "Week", "Month"]),
        ({"due": "none"}, ["Undated"]),
        ({"q": "on"}, ["Month"]),
        ({"origin": "auto"}, ["Later"]),
        ({"status": "all", "due": "overdue"}, ["Late"]),  # closed actions are never overdue
    ],
)
def test_it_filters_the_list(query, expected, board, member, org):
    with time_machine.travel(TODAY, tick=False):
        assert list_titles(client_for(member), org, **query) == expected


def test_it_filters_by_system_and_by_any_member(board, owner, member, org, system):
    client = client_for(owner)
    other = board["month"].system

    with time_machine.travel(TODAY, tick=False):
        assert list_titles(client, org, system=str(other.code)) == ["Month"]
        assert "Month" not in list_titles(client, org, system=str(system.code))
        assert list_titles(client, org, owner=str(member.code)) == ["Late", "Today"]


def test_it_ignores_filters_it_does_not_understand(board, member, org):
    with time_machine.travel(TODAY, tick=False):
        response = client_for(member).get(
            url("action_list", org), {"status": "lost", "due": "someday", "owner": "nobody"}
        )

    assert [i["action"].title for i in response.context["items"]] == [
        "Late",
        "Today",
        "Week",
        "Month",
        "Later",
        "Undated",
    ]
    assert "were not understood" in response.content.decode()


def test_it_sorts_equal_dates_by_priority(system, member, org):
    day = dt.date(2026, 5, 1)
    for priority in ("low", "critical", "medium", "high"):
        RemediationActionFactory(system=system, title=priority, priority=priority, due_date=day)

    assert list_titles(client_for(member), org) == ["critical", "high", "medium", "low"]


def test_it_marks_overdue_and_due_today_in_the_organisations_time_zone(system, member, org):
    org.time_zone = "Asia/Tokyo"
    org.save(update_fields=["time_zone"])
    RemediationActionFactory(
        system=system, title="Yesterday in Tokyo", due_date=dt.date(2026, 3, 10)
    )
    RemediationActionFactory(system=system, title="Today in Tokyo", due_date=dt.date(2026, 3, 11))
    RemediationActionFactory(
        system=system, title="Late but done", due_date=dt.date(2026, 3, 1), status=S.DONE
    )

    # 20:00 UTC on the 10th is 05:00 on the 11th in Tokyo.
    with time_machine.travel(dt.datetime(2026, 3, 10, 20, tzinfo=dt.UTC), tick=False):
        response = client_for(member).get(url("action_list", org))

    marks = {i["action"].title: (i["overdue"], i["due_today"]) for i in response.context["items"]}
    assert marks == {
        "Late but done": (True, False),  # done is not verified: still counts
        "Yesterday in Tokyo": (True, False),
        "Today in Tokyo": (False, True),
    }
    page = response.content.decode()
    assert page.count("badge action-overdue") == 2
    assert page.count("badge action-due-today") == 1


def test_it_reads_the_list_in_a_fixed_number_of_queries(org, owner, real_catalogue):
    client = client_for(owner)
    members = [MembershipFactory(organisation=org) for _ in range(3)]
    systems = [AISystemFactory(organisation=org) for _ in range(4)]

    def add(n: int) -> None:
        for i in range(n):
            RemediationActionFactory(
                system=systems[i % 4], owner=members[i % 3].user, due_date=dt.date(2026, 6, i + 1)
            )

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url("action_list", org), {"status": "all"})
        assert response.status_code == 200
        return len(queries), len(response.context["items"])

    add(2)
    count()  # the first visit also records the organisation in the session
    few, shown = count()
    assert shown == 2
    add(10)
    many, shown = count()

    assert shown == 12
    assert many == few


def test_it_teaches_where_actions_come_from_when_there_are_none(member, org):
    page = client_for(member).get(url("action_list", org)).content.decode()

    assert "No remediation actions yet." in page
    assert "Each assessment opens one for every open gap" in page
    assert url("assessment_list", org) in page


def test_it_says_when_no_action_matches(board, member, org):
    page = client_for(member).get(url("action_list", org), {"q": "zzz"}).content.decode()

    assert "No action matches these filters." in page
    assert "No remediation actions yet." not in page


def test_it_shows_the_bulk_form_to_managers_only(action, officer, member, org):
    bulk = url("action_bulk", org)

    assert f'action="{bulk}' in client_for(officer).get(url("action_list", org)).content.decode()
    assert f'action="{bulk}' not in client_for(member).get(url("action_list", org)).content.decode()


# --- Bulk --------------------------------------------------------------------------------------


def test_it_assigns_several_actions_at_once(board, officer, member, org):
    picked = [board["week"], board["month"]]

    response = client_for(officer).post(
        url("action_bulk", org) + "?due=month",
        {"actions": [str(a.code) for a in picked], "owner": str(member.code), "priority": "low"},
    )

    assert response.status_code == 302
    assert response["Location"] == url("action_list", org) + "?due=month"
    for action in picked:
        assert (reread(action).owner, action.priority) == (member.user, "low")
    assert reread(board["undated"]).priority == "critical"


def test_it_changes_none_when_one_action_refuses(board, officer, member, org):
    picked = [board["late"], board["later"]]  # blocked work cannot be marked done
    before = world()

    response = client_for(officer).post(
        url("action_bulk", org), {"actions": [str(a.code) for a in picked], "status": S.DONE}
    )

    assert response.status_code == 400
    assert world() == before
    errors = response.context["bulk_errors"]
    assert set(errors) == {str(board["later"].code)}
    page = response.content.decode()
    assert "Nothing was changed" in page
    assert "cannot become done" in page
    # The ticks survive, so the list can be corrected and sent again.
    assert page.count("checked") >= 2


@pytest.mark.parametrize(
    "data",
    [
        {"priority": "low"},  # no action ticked
        {"actions": ["not-a-code"], "priority": "low"},
        {"actions": ["{late}"]},  # nothing to change
        {"actions": ["{late}"], "priority": "urgent"},
        {"actions": ["{late}"], "status": S.CANCELLED},  # no reason
    ],
)
def test_it_refuses_bad_bulk_input(data, board, officer, org):
    data = {
        k: [v.format(late=board["late"].code) for v in vs] if isinstance(vs, list) else vs
        for k, vs in data.items()
    }
    before = world()

    response = client_for(officer).post(url("action_bulk", org), data)

    assert response.status_code == 400
    assert world() == before


# --- Export ------------------------------------------------------------------------------------


def test_it_exports_the_list_as_csv_with_its_filters(board, officer, org, gap):
    board["week"].title = '=HYPERLINK("https://evil.example")'
    board["week"].save()
    actions.action_create(org=org, actor=officer, findings=[gap], title="Linked")

    with time_machine.travel(TODAY, tick=False):
        response = client_for(officer).get(url("action_export", org), {"format": "csv"})
        closed = client_for(officer).get(
            url("action_export", org), {"format": "csv", "status": "verified"}
        )

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][:3] == ["Code", "Title", "AI system"]
    assert "Overdue" in rows[0] and "Obligations" in rows[0]
    by_title = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert set(by_title) == {
        "Late", "Today", "'=HYPERLINK(\"https://evil.example\")", "Month", "Later", "Undated",
        "Linked",
    }  # fmt: skip
    late = by_title["Late"]
    assert (late["Code"], late["Due"], late["Overdue"], late["Priority"]) == (
        str(board["late"].code),
        "2026-03-09",
        "yes",
        "Critical",
    )
    assert by_title["Today"]["Overdue"] == "no"
    assert by_title["Linked"]["Obligations"] == gap.obligation_code
    assert by_title["Late"]["Owner"] == board["late"].owner.email

    closed_rows = list(csv.reader(io.StringIO(b"".join(closed.streaming_content).decode()[1:])))
    verified = dict(zip(closed_rows[0], closed_rows[1], strict=True))
    assert [row[1] for row in closed_rows[1:]] == ["Verified"]
    assert verified["Overdue"] == "no"
    assert verified["Completed by"] == board["verified"].done_by.email
    assert verified["Verified by"] == board["verified"].verified_by.email


def test_it_exports_the_list_as_xlsx(board, member, org):
    response = client_for(member).get(url("action_export", org), {"format": "xlsx"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    workbook = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(workbook.namelist())
    assert "xl/worksheets/sheet1.xml" in names
    text = workbook.read("xl/worksheets/sheet1.xml").decode()
    if "xl/sharedStrings.xml" in names:
        text += workbook.read("xl/sharedStrings.xml").decode()
    assert "Undated" in text and "Late" in text
    assert "Verified" not in text.replace(">Verified by<", "").replace(">Verified at<", "")


def test_it_refuses_an_unknown_export_format(member, org):
    response = client_for(member).get(url("action_export", org), {"format": "pdf"})

    assert response.status_code == 400


# --- Opening an action -------------------------------------------------------------------------


def test_it_prefills_an_action_from_a_finding(gap, officer, owner, org):
    response = client_for(officer).get(url("action_create", org), {"finding": str(gap.code)})

    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["title"] == f"{gap.obligation_code}: {gap.obligation.title}"
    assert form.initial["description"] == gap.obligation.summary
    assert form.initial["due_date"] == dt.date(2026, 8, 2)
    assert form.initial["owner"].user == owner.user  # the system's owner
    derived = response.context["derived"]
    assert derived in Priority.values
    page = response.content.decode()
    assert f'value="{gap.code}"' in page
    assert f"Derived ({Priority(derived).label})" in page


def test_it_opens_an_action_for_several_findings(assessment, officer, member, org):
    first = FindingFactory(assessment=assessment, due_date=dt.date(2026, 9, 1))
    second = FindingFactory(
        assessment=assessment,
        obligation=Obligation.objects.get(release=assessment.release, code=ART10),
        status=FindingStatus.PARTIALLY_MET,
        due_date=dt.date(2026, 8, 2),
    )
    codes = [str(first.code), str(second.code)]
    client = client_for(officer)
    page = client.get(url("action_create", org), {"finding": codes})
    assert page.context["form"].initial["due_date"] == dt.date(2026, 8, 2)

    response = client.post(
        url("action_create", org),
        {
            "finding": codes,
            "title": "Risk and data governance",
            "description": "One plan for both.",
            "owner": str(member.code),
            "due_date": "2026-07-01",
            "priority": "high",
        },
    )

    action = RemediationAction.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("action_detail", org, action_code=action.code)
    assert set(action.findings.all()) == {first, second}
    assert (action.owner, action.due_date, action.priority, action.priority_manual) == (
        member.user,
        dt.date(2026, 7, 1),
        "high",
        True,
    )
    assert Notification.objects.filter(recipient=member.user, kind="assigned").exists()


def test_it_explains_how_to_open_an_action_without_findings(officer, org):
    response = client_for(officer).get(url("action_create", org))

    assert response.status_code == 200
    assert "Create an action" in response.content.decode()


def test_it_refuses_findings_an_action_cannot_close(assessment, gap, officer, org, other_org):
    met = FindingFactory(
        assessment=assessment,
        obligation=Obligation.objects.get(release=assessment.release, code=ART10),
        status=FindingStatus.MET,
    )
    other_system = FindingFactory(assessment__system__organisation=org)
    client = client_for(officer)

    for codes, message in [
        ([met.code], "Choose open gaps"),
        ([gap.code, other_system.code], "one AI system"),
    ]:
        response = client.get(url("action_create", org), {"finding": [str(c) for c in codes]})
        assert response.status_code == 400
        assert message in response.content.decode()
        assert response.context.get("form") is None

    foreign = FindingFactory(assessment__system__organisation=other_org)
    for codes in ([foreign.code], [gap.code, foreign.code], ["not-a-code"]):
        response = client.get(url("action_create", org), {"finding": [str(c) for c in codes]})
        assert response.status_code == 404
    assert not RemediationAction.objects.exists()


def test_it_keeps_the_form_and_changes_nothing_on_bad_input(gap, officer, org, outsider):
    client = client_for(officer)
    bad = [
        {"title": "  "},
        {"title": "Fix", "due_date": "next week"},
        {"title": "Fix", "priority": "urgent"},
        {"title": "Fix", "owner": str(outsider.code)},
        {"title": "x" * 301},
    ]
    for data in bad:
        response = client.post(url("action_create", org), {"finding": str(gap.code), **data})
        assert response.status_code == 400, data
        assert response.context["form"].errors, data
    assert not RemediationAction.objects.exists()


def test_it_offers_to_open_actions_from_findings_and_assessments(gap, officer, member, org):
    address = url("finding_detail", org, finding_code=gap.code)
    create = url("action_create", org)

    assert (
        f'href="{create}?finding={gap.code}"' in client_for(officer).get(address).content.decode()
    )
    assert f"{create}?finding=" not in client_for(member).get(address).content.decode()

    assessment_page = url("assessment_detail", org, assessment_code=gap.assessment.code)
    page = client_for(officer).get(assessment_page).content.decode()
    assert "Create one action for the selected findings" in page
    assert f'name="finding" value="{gap.code}" form="create-action"' in page
    assert "Create one action" not in client_for(member).get(assessment_page).content.decode()


def test_it_lists_the_actions_of_a_finding(action, gap, member, org):
    page = client_for(member).get(url("finding_detail", org, finding_code=gap.code))

    assert url("action_detail", org, action_code=action.code) in page.content.decode()


def test_it_links_a_system_to_its_actions(system, action, member, org):
    page = client_for(member).get(url("system_detail", org, system_code=system.code))

    assert f"{url('action_list', org)}?system={system.code}" in page.content.decode()


# --- One action --------------------------------------------------------------------------------


def test_it_shows_everything_about_an_action(action, gap, attachment, member, officer, org):
    actions.comment_add(action=action, actor=officer, body="@member@acme.example over to you")
    actions.evidence_add_link(
        action=action, actor=member, url="https://docs.example/policy", title="Policy"
    )

    response = client_for(member).get(url("action_detail", org, action_code=action.code))

    page = response.content.decode()
    assert "Write the risk management plan" in page
    assert url("finding_detail", org, finding_code=gap.code) in page
    assert url("assessment_detail", org, assessment_code=gap.assessment.code) in page
    assert "over to you" in page and "notified:" in page
    assert url("action_evidence_download", org, attachment_code=attachment.code) in page
    assert 'href="https://docs.example/policy"' in page
    assert [move for move, _label in response.context["moves"]] == [
        S.IN_PROGRESS,
        S.BLOCKED,
        S.DONE,
    ]
    assert not response.context["can_cancel"]
    history = response.context["history"]
    assert {"assessments_remediationaction", "assessments_actioncomment"} <= {
        event.table for event, _changes in history
    }
    created = next(changes for event, changes in history if event.action == "insert"
                   and event.table == "assessments_remediationaction")  # fmt: skip
    assert ("owner_id", None, "member@acme.example") in created  # people by address
    assert all(field != "updated_at" for _event, changes in history for field, *_ in changes)


def test_it_offers_a_viewer_no_forms(action, viewer, org):
    response = client_for(viewer).get(url("action_detail", org, action_code=action.code))

    page = response.content.decode()
    assert response.context["moves"] == []
    assert url("action_transition", org, action_code=action.code) not in page
    assert url("action_comment", org, action_code=action.code) not in page
    assert url("action_evidence_add", org, action_code=action.code) not in page


def test_it_moves_an_action_through_its_workflow(action, gap, member, officer, org):
    address = url("action_transition", org, action_code=action.code)

    assert (
        client_for(member).post(address, {"status": S.DONE, "reason": "Plan signed"}).status_code
        == 302
    )
    page = client_for(member).get(url("action_detail", org, action_code=action.code))
    assert S.VERIFIED not in [m for m, _ in page.context["moves"]]
    assert client_for(officer).post(address, {"status": S.VERIFIED}).status_code == 302

    action = reread(action)
    assert (action.status, action.done_by, action.verified_by) == (
        S.VERIFIED,
        member.user,
        officer.user,
    )
    assert reread(gap).status == FindingStatus.MET
    assert ActionComment.objects.get(action=action).body == "Plan signed"


def test_it_shows_why_a_move_is_refused_and_changes_nothing(action, officer, org):
    client = client_for(officer)
    address = url("action_transition", org, action_code=action.code)
    before = world()

    for data in ({"status": S.VERIFIED}, {"status": "finished"}, {}):
        response = client.post(address, data)
        assert response.status_code == 400, data
        assert response.context["transition_form"].errors, data

    assert "cannot become verified" in client.post(address, {"status": S.VERIFIED}).content.decode()
    assert world() == before


def test_it_cancels_only_with_a_reason_and_a_confirmation(action, officer, org):
    client = client_for(officer)
    address = url("action_transition", org, action_code=action.code)
    before = world()

    for data in (
        {"status": S.CANCELLED, "reason": "Superseded"},  # not confirmed
        {"status": S.CANCELLED, "confirm": "on"},  # no reason
        {"status": S.CANCELLED, "reason": "  ", "confirm": "on"},
    ):
        response = client.post(address, data)
        assert response.status_code == 400, data
        assert response.context["cancel_form"].errors, data
    assert world() == before

    response = client.post(
        address, {"status": S.CANCELLED, "reason": "Superseded", "confirm": "on"}
    )

    assert response.status_code == 302
    action = reread(action)
    assert (action.status, action.cancel_reason) == (S.CANCELLED, "Superseded")
    page = client.get(url("action_detail", org, action_code=action.code))
    assert [m for m, _ in page.context["moves"]] == [S.OPEN]  # reopen
    assert client.post(address, {"status": S.OPEN, "reason": "Back"}).status_code == 302
    assert (reread(action).status, action.cancel_reason) == (S.OPEN, "")


def test_it_comments_and_notifies_the_chosen_members(action, member, officer, viewer, org):
    response = client_for(member).post(
        url("action_comment", org, action_code=action.code),
        {"body": "Draft ready, @officer@acme.example", "mention": [str(viewer.code)]},
    )

    assert response.status_code == 302
    notified = Notification.objects.filter(kind="mentioned")
    assert set(notified.values_list("recipient", flat=True)) == {officer.user_id, viewer.user_id}


def test_it_refuses_an_empty_comment_or_a_stranger_to_notify(action, member, outsider, org):
    client = client_for(member)
    address = url("action_comment", org, action_code=action.code)
    before = world()

    for data in ({"body": "  "}, {"body": "Hi", "mention": [str(outsider.code)]}):
        response = client.post(address, data)
        assert response.status_code == 400, data
        assert response.context["comment_form"].errors, data

    assert world() == before


# --- Evidence ----------------------------------------------------------------------------------


def test_it_uploads_a_file_and_serves_it_back_as_a_download(action, member, viewer, org, media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(member).post(
        url("action_evidence_add", org, action_code=action.code),
        {"title": "Signed plan", "file": SimpleUploadedFile("plan.pdf", PDF, "text/html")},
    )

    assert response.status_code == 302
    evidence = ActionEvidence.objects.get()
    assert (evidence.title, evidence.content_type) == ("Signed plan", "application/pdf")
    download = client_for(viewer).get(
        url("action_evidence_download", org, attachment_code=evidence.code)
    )
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment")
    assert 'filename="plan.pdf"' in download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"


def test_it_refuses_an_oversized_request_before_reading_it(action, member, org, media, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MAX_REQUEST_BYTES = 1000
    before = world()

    response = client_for(member).post(
        url("action_evidence_add", org, action_code=action.code),
        {"file": SimpleUploadedFile("plan.pdf", PDF + b"0" * 2000)},
    )

    assert response.status_code == 413
    assert "too large" in response.content.decode()
    assert world() == before
    assert not any(media.rglob("*"))


def test_it_refuses_a_bad_file_and_stores_nothing(action, member, org, media, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.EVIDENCE_MAX_BYTES = 30
    client = client_for(member)
    address = url("action_evidence_add", org, action_code=action.code)
    before = world()

    for upload in (
        SimpleUploadedFile("plan.pdf", b"<html>not a pdf</html>"),
        SimpleUploadedFile("plan.pdf", PDF),  # over 30 bytes
        SimpleUploadedFile("run.sh", b"#!/bin/sh"),
    ):
        response = client.post(address, {"file": upload})
        assert response.status_code == 400
        assert response.context["file_form"].errors["file"]
    response = client.post(address, {"title": "Nothing"})
    assert response.status_code == 400
    response = client.post(address, {"title": "Bad link", "url": "javascript:alert(1)"})
    assert response.status_code == 400
    assert response.context["link_form"].errors["url"]

    assert world() == before
    assert list(media.iterdir()) == []


def test_it_does_not_download_a_link(action, member, org):
    link = ActionEvidenceFactory(action=action)

    response = client_for(member).get(
        url("action_evidence_download", org, attachment_code=link.code)
    )

    assert response.status_code == 404


def test_it_asks_before_removing_evidence(
    attachment, member, org, media, django_capture_on_commit_callbacks
):
    client = client_for(member)
    address = url("action_evidence_delete", org, attachment_code=attachment.code)
    stored = media / attachment.file.name

    page = client.get(address)
    assert page.status_code == 200
    assert "Remove evidence" in page.content.decode()
    assert ActionEvidence.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(address)

    assert response.status_code == 302
    assert not ActionEvidence.objects.exists()
    assert not stored.exists()


def test_it_leaves_evidence_to_whoever_added_it(attachment, org):
    other = MembershipFactory(organisation=org, role=Role.CONTRIBUTOR)

    response = client_for(other).post(
        url("action_evidence_delete", org, attachment_code=attachment.code), follow=True
    )

    assert ActionEvidence.objects.filter(pk=attachment.pk).exists()
    assert "Only whoever added it" in response.content.decode()


# --- Editing -----------------------------------------------------------------------------------


def test_it_edits_an_action(action, officer, owner, org):
    client = client_for(officer)
    address = url("action_edit", org, action_code=action.code)
    form = client.get(address).context["form"]
    assert form.initial["title"] == action.title
    assert form.initial["priority"] == ""  # derived

    response = client.post(
        address,
        {
            "title": "Risk plan v2",
            "description": "Now with testing.",
            "owner": str(owner.code),
            "due_date": "2026-06-30",
            "priority": "critical",
        },
    )

    assert response.status_code == 302
    action = reread(action)
    assert (action.title, action.owner, action.due_date, action.priority) == (
        "Risk plan v2",
        owner.user,
        dt.date(2026, 6, 30),
        "critical",
    )
    assert action.priority_manual
    assert Notification.objects.filter(recipient=owner.user, kind="assigned").exists()

    client.post(address, {"title": "Risk plan v2", "owner": str(owner.code), "priority": ""})
    assert not reread(action).priority_manual


def test_it_refuses_a_bad_edit_and_changes_nothing(action, officer, outsider, org):
    client = client_for(officer)
    address = url("action_edit", org, action_code=action.code)
    before = world()

    for data in (
        {"title": ""},
        {"title": "x", "owner": str(outsider.code)},
        {"title": "x", "due_date": "soon"},
    ):
        response = client.post(address, data)
        assert response.status_code == 400, data
        assert response.context["form"].errors, data

    assert world() == before


def test_it_refuses_to_edit_a_closed_action(action, officer, org):
    actions.action_transition(action=action, actor=officer, status=S.CANCELLED, reason="No")

    response = client_for(officer).post(
        url("action_edit", org, action_code=action.code), {"title": "Renamed"}
    )

    assert response.status_code == 400
    assert "Reopen the action" in response.content.decode()
    assert reread(action).title == "Write the risk management plan"


def test_it_ignores_a_later_assessment_for_the_create_form(gap, officer, org, system):
    AssessmentFactory(system=system)  # `gap` now belongs to an earlier run

    response = client_for(officer).get(url("action_create", org), {"finding": str(gap.code)})

    assert response.status_code == 400
    assert "latest assessment" in response.content.decode()
    assert Assessment.objects.filter(system=system, latest=True).count() == 1
    assert Finding.objects.get(pk=gap.pk).status == FindingStatus.NOT_MET
