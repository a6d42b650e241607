"""The report of an assessment as a page, a PDF and a spreadsheet of findings."""

import csv
import io
import re
import zipfile
import zlib
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from assessments import reports, services
from assessments.models import AssessmentStatus, Finding, FindingStatus
from governance.models import Role
from tests.conftest import client_for
from tests.factories import AISystemFactory, MembershipFactory

VIEWS = ("assessment_report", "assessment_report_pdf", "assessment_findings_export")


def url(name, assessment, **query):
    path = reverse(
        name, kwargs={"org_code": assessment.organisation.code, "assessment_code": assessment.code}
    )
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.fixture
def assessment(real_catalogue, owner, django_capture_on_commit_callbacks):
    system = AISystemFactory(organisation=owner.organisation, name="Hiring Screener")
    with django_capture_on_commit_callbacks(execute=True):
        started, _ = services.assessment_start(system=system, actor=owner.user)
    started.refresh_from_db()
    assert started.status == AssessmentStatus.COMPLETED, started.error
    return started


@pytest.fixture
def queued(real_catalogue, owner):
    # The run is sent on commit, which never comes inside a test's transaction.
    started, _ = services.assessment_start(
        system=AISystemFactory(organisation=owner.organisation), actor=owner.user
    )
    assert started.status == AssessmentStatus.QUEUED
    return started


@pytest.fixture
def finding(assessment, owner):
    """An Art. 10 (data governance) finding of the hiring tool, with evidence and a note."""
    found = (
        Finding.objects.select_related("obligation")
        .filter(assessment=assessment, obligation__provision__reference="Art. 10")
        .order_by("obligation_code")
        .first()
    )
    Finding.objects.filter(pk=found.pk).update(
        status=FindingStatus.PARTIALLY_MET, notes='=HYPERLINK("https://evil.example")'
    )
    services.evidence_add(
        finding=found, actor=owner, title="Data sheet", url="https://docs.acme.example/data"
    )
    found.refresh_from_db()
    return found


def japanese(user):
    user.language = "ja"
    user.save(update_fields=["language"])


def has_japanese(text: str) -> bool:
    return re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text) is not None


def pdf_text(pdf: bytes) -> bytes:
    """The PDF's bytes with every Flate stream inflated, so font names can be searched."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)


# --- The HTML report ---------------------------------------------------------------------------


def test_it_shows_the_tier_the_labels_with_citations_and_every_finding(
    owner_client, assessment, finding
):
    page = owner_client.get(url("assessment_report", assessment))

    assert page.status_code == 200
    html = page.content.decode()
    assert "High-risk" in html
    assert "Art. 6(2), Annex III point 4(a)" in html
    assert finding.obligation_code in html
    assert finding.obligation.title in html
    assert "https://docs.acme.example/data" in html
    assert "Partially met" in html
    assert (
        html.count('class="badge status-') == Finding.objects.filter(assessment=assessment).count()
    )
    assert url("assessment_report_pdf", assessment) in html
    assert url("assessment_findings_export", assessment, format="xlsx") in html


def test_it_shows_the_review_state_with_preparer_and_approver(assessment, owner, org):
    officer = MembershipFactory(
        organisation=org, role=Role.COMPLIANCE_OFFICER, user__email="officer@acme.example"
    )
    services.assessment_submit(assessment=assessment, actor=owner)
    services.assessment_approve(assessment=assessment, actor=officer)

    html = client_for(owner).get(url("assessment_report", assessment)).content.decode()

    assert "Approved" in html
    assert "prepared by owner@acme.example" in html
    assert "approved by officer@acme.example" in html


def test_it_renders_the_report_in_a_fixed_number_of_queries(
    owner_client, assessment, finding, django_assert_max_num_queries
):
    with django_assert_max_num_queries(20):
        assert owner_client.get(url("assessment_report", assessment)).status_code == 200


def test_it_says_an_assessment_not_completed_has_no_report_yet(owner_client, queued):
    page = owner_client.get(url("assessment_report", queued))

    assert page.status_code == 200
    assert "not completed yet" in page.content.decode()
    assert url("assessment_report_pdf", queued) not in page.content.decode()


def test_it_says_a_failed_assessment_has_no_report(owner_client, queued):
    type(queued).objects.filter(pk=queued.pk).update(status=AssessmentStatus.FAILED)

    page = owner_client.get(url("assessment_report", queued))

    assert page.status_code == 200
    assert "A failed assessment has no report." in page.content.decode()


# --- The PDF -----------------------------------------------------------------------------------


def test_it_downloads_the_report_as_a_pdf(owner_client, assessment, org):
    response = owner_client.get(url("assessment_report_pdf", assessment))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    finished = timezone.localtime(assessment.finished_at, zoneinfo.ZoneInfo(org.time_zone))
    assert response["Content-Disposition"] == (
        f'attachment; filename="kakehashi-hiring-screener-{finished:%Y-%m-%d}.pdf"'
    )


def test_it_renders_the_pdf_in_the_users_language_with_a_japanese_font(owner, assessment, finding):
    japanese(owner.user)

    response = client_for(owner).get(url("assessment_report_pdf", assessment))

    assert response.content.startswith(b"%PDF")
    assert re.search(rb"/BaseFont\s*/[A-Z]+\+Noto-?Sans-?CJK-?JP", pdf_text(response.content))
    with translation.override("ja"):
        html = reports.report_pdf_html(assessment)
    assert finding.obligation.title_ja in html
    assert 'lang="ja"' in html


# --- The findings as CSV and XLSX --------------------------------------------------------------


def test_it_exports_a_csv_row_per_finding(owner_client, assessment, finding):
    response = owner_client.get(url("assessment_findings_export", assessment, format="csv"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "-findings.csv" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["System", "Assessment", "Catalogue release"]
    assert len(rows) == Finding.objects.filter(assessment=assessment).count() + 1
    row = next(r for r in rows if r[5] == finding.obligation_code)
    assert row[0] == "Hiring Screener"
    assert row[1] == str(assessment.code)
    assert row[6] == finding.obligation.title_en
    assert row[7] == "Art. 10"
    assert row[10] == finding.applies_from.isoformat()
    assert row[12] == "Partially met"
    assert row[16] == "https://docs.acme.example/data"
    # A note that starts like a formula stays text in a spreadsheet.
    assert row[14] == '\'=HYPERLINK("https://evil.example")'


def test_it_exports_the_csv_in_japanese_for_a_japanese_user(owner, assessment, finding):
    japanese(owner.user)

    response = client_for(owner).get(url("assessment_findings_export", assessment))

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    row = next(r for r in rows if r[5] == finding.obligation_code)
    assert row[6] == finding.obligation.title_ja
    assert has_japanese(row[6])


def test_it_exports_an_xlsx_row_per_finding(owner_client, assessment, finding):
    response = owner_client.get(url("assessment_findings_export", assessment, format="xlsx"))

    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "-findings.xlsx" in response["Content-Disposition"]
    workbook = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert workbook.testzip() is None
    sheet = workbook.read("xl/worksheets/sheet1.xml").decode()
    rows = Finding.objects.filter(assessment=assessment).count() + 1
    assert len(re.findall(r"<row ", sheet)) == rows
    # "Applies from" (column K) is a date: a styled number, not text.
    assert re.search(r'<c r="K2" s="\d+"><v>\d+</v></c>', sheet)
    # Free text is never a formula.
    assert "<f>" not in sheet
    assert "=HYPERLINK(" in sheet.replace("&quot;", '"')


def test_it_refuses_an_unknown_export_format(owner_client, assessment):
    response = owner_client.get(url("assessment_findings_export", assessment, format="pdf"))

    assert response.status_code == 400
    assert "format=csv or format=xlsx" in response.content.decode()


@pytest.mark.parametrize(
    ("view", "query"),
    [
        ("assessment_report_pdf", {}),
        ("assessment_findings_export", {}),
        ("assessment_findings_export", {"format": "csv"}),
        ("assessment_findings_export", {"format": "xlsx"}),
    ],
)
def test_it_has_no_pdf_or_export_before_the_assessment_completes(owner_client, queued, view, query):
    assert owner_client.get(url(view, queued, **query)).status_code == 404


# --- Who can read reports ----------------------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
def test_it_hides_reports_from_another_organisation(outsider_client, assessment, view):
    assert outsider_client.get(url(view, assessment)).status_code == 404


@pytest.mark.parametrize("view", VIEWS)
def test_it_lets_a_viewer_read_reports(org, assessment, view):
    viewer = MembershipFactory(organisation=org, role=Role.VIEWER)

    assert client_for(viewer).get(url(view, assessment)).status_code == 200


def test_it_sends_a_signed_out_visitor_to_log_in(client, assessment):
    response = client.get(url("assessment_report", assessment))

    assert response.status_code == 302
    assert "/login/" in response["Location"]
