"""The organisation's findings list as CSV and XLSX: every page of it, as filtered, streamed.

The organisation (Europe/Brussels) has two assessed systems. Their current findings:

    system        obligation   status          due         notes / evidence
    Screener      EU 1         partially met   2026-05-15  a note like a formula, two links
                  EU 2         risk accepted   -           accepted by the owner
                  JP 1         open            2026-04-01  a note in Japanese
    Chatbot       EU 1         met             -           -

Left out: the Screener's previous assessment (one not met) and another organisation's system
(one not met, its name and note carrying a marker).
"""

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
import zipfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from assessments import reports, xlsx_stream
from assessments.models import Finding
from governance import rls
from governance.models import Obligation, Role
from tests.conftest import client_for
from tests.factories import (
    AISystemFactory,
    AssessmentFactory,
    EvidenceFactory,
    FindingFactory,
    MembershipFactory,
    obligations,
)

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MARKER = "RIVAL-SECRET-93c1"
FORMULA = '=HYPERLINK("https://evil.example","click")'
JAPANESE_NOTE = "法務部が確認済み。<次回>は2026年に見直す & 記録"
STATUSES = {
    "Open": "open",
    "Met": "met",
    "Partially met": "partially_met",
    "Risk accepted": "risk_accepted",
}
HEADER = [
    "System",
    "Assessment",
    "Catalogue release",
    "Jurisdiction",
    "Regulation",
    "Obligation",
    "Obligation title",
    "Provision",
    "Our roles",
    "Legal force",
    "Applies from",
    "Due",
    "Status",
    "Justification",
    "Notes",
    "Risk accepted by",
    "Evidence",
]


def add(assessment, obligation, status, **extra) -> Finding:
    return FindingFactory(
        assessment=assessment,
        obligation=obligation,
        regulation_code=obligation.regulation.code,
        jurisdiction=obligation.regulation.jurisdiction,
        legal_force=obligation.legal_force,
        applies_from=dt.date(2025, 8, 2),
        status=status,
        **extra,
    )


class World:
    def __init__(self, org, owner, release):
        eu = obligations(release, "EU", 2)
        jp = obligations(release, "JP", 1)
        self.screener = AISystemFactory(organisation=org, name="Screener")
        older = AssessmentFactory(system=self.screener)
        add(older, eu[0], "not_met", notes="From the previous run")
        self.assessment = AssessmentFactory(system=self.screener)
        self.gap = add(
            self.assessment,
            eu[0],
            "partially_met",
            due_date=dt.date(2026, 5, 15),
            roles=["eu.provider", "eu.deployer"],
            justification="Logs kept for six months only.",
            notes=FORMULA,
        )
        EvidenceFactory(finding=self.gap, url="https://docs.acme.example/logging")
        EvidenceFactory(finding=self.gap, url="https://docs.acme.example/retention")
        self.accepted = add(
            self.assessment,
            eu[1],
            "risk_accepted",
            justification="Accepted by the board.",
            risk_approved_by=owner.user,
        )
        self.japanese = add(
            self.assessment,
            jp[0],
            "open",
            due_date=dt.date(2026, 4, 1),
            roles=["jp.business_user"],
            notes=JAPANESE_NOTE,
        )
        self.chatbot = AISystemFactory(organisation=org, name="Chatbot")
        self.met = add(AssessmentFactory(system=self.chatbot), eu[0], "met")
        rival = AISystemFactory(name=f"Rival {MARKER}")
        self.rival = add(AssessmentFactory(system=rival), eu[0], "not_met", notes=MARKER)
        self.eu, self.jp = eu, jp


@pytest.fixture
def world(real_catalogue, org, owner):
    return World(org, owner, real_catalogue)


def url(org, **query) -> str:
    path = reverse("finding_export", kwargs={"org_code": org.code})
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def body(response) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)


def csv_rows(response) -> list[list[str]]:
    data = body(response)
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def workbook(response) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.testzip() is None
    return archive


def cell_value(cell: ET.Element) -> str | float | None:
    """A cell as Excel reads it: inline text, or the serial number of a styled date."""
    if cell.get("t") == "inlineStr":
        return "".join(t.text or "" for t in cell.iterfind("m:is/m:t", NS))
    value = cell.find("m:v", NS)
    return None if value is None else float(value.text)


def sheet_rows(archive: zipfile.ZipFile) -> list[dict[str, ET.Element]]:
    """Each row of the sheet, its cells by column letter."""
    sheet = ET.fromstring(archive.read("xl/worksheets/sheet1.xml"))  # noqa: S314 (our output)
    rows = []
    for number, row in enumerate(sheet.iterfind("m:sheetData/m:row", NS), start=1):
        assert row.get("r") == str(number)
        cells = {}
        for cell in row.iterfind("m:c", NS):
            column, at = re.fullmatch(r"([A-Z]+)(\d+)", cell.get("r")).groups()
            assert at == str(number)
            cells[column] = cell
        rows.append(cells)
    return rows


def excel_date(day: dt.date) -> float:
    return float((day - dt.date(1899, 12, 30)).days)


# --- CSV ---------------------------------------------------------------------------------------


def test_it_exports_every_current_finding_as_csv_with_every_column(world, org, owner_client):
    response = owner_client.get(url(org, format="csv"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.search(
        r'attachment; filename="kakehashi-findings-acme-robotics-\d{4}-\d{2}-\d{2}\.csv"',
        response["Content-Disposition"],
    )
    rows = csv_rows(response)
    assert rows[0] == HEADER
    # The list's order: soonest due first, undated last (then by system).
    assert [(r[0], r[5]) for r in rows[1:]] == [
        ("Screener", world.jp[0].code),
        ("Screener", world.eu[0].code),
        ("Chatbot", world.eu[0].code),
        ("Screener", world.eu[1].code),
    ]
    gap, accepted = rows[2], rows[4]
    obligation = world.eu[0]
    assert gap == [
        "Screener",
        str(world.assessment.code),
        world.assessment.release.code,
        "EU",
        obligation.regulation.code,
        obligation.code,
        obligation.title_en,
        obligation.provision.reference,
        "Provider (EU), Deployer (EU)",
        str(dict(Obligation.LegalForce.choices)[obligation.legal_force]),
        "2025-08-02",
        "2026-05-15",
        "Partially met",
        "Logs kept for six months only.",
        "'" + FORMULA,  # a note that starts like a formula stays text in a spreadsheet
        "",
        "https://docs.acme.example/logging https://docs.acme.example/retention",
    ]
    assert accepted[12:16] == [
        "Risk accepted",
        "Accepted by the board.",
        "",
        "owner@acme.example",
    ]
    assert accepted[11] == ""  # no due date


def test_it_has_the_rows_of_the_per_assessment_export(world, org, owner_client):
    rows = csv_rows(owner_client.get(url(org, system=world.screener.code)))
    text = "".join(reports.findings_csv(world.assessment))
    own = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))

    assert rows[0] == own[0]
    assert sorted(rows[1:]) == sorted(own[1:])
    assert len(rows) == 4


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": "gap"}, {("Screener", "partially_met"), ("Screener", "open")}),
        ({"jurisdiction": "JP"}, {("Screener", "open")}),
        ({"status": "met"}, {("Chatbot", "met")}),
        ({"due": "none"}, {("Chatbot", "met"), ("Screener", "risk_accepted")}),
        ({"due_month": "2026-05"}, {("Screener", "partially_met")}),
        # A filter the list does not understand is left out, as on the page.
        ({"status": "gap", "due_month": "2026-13"},
         {("Screener", "partially_met"), ("Screener", "open")}),
    ],
)  # fmt: skip
def test_it_applies_the_lists_filters(world, org, owner_client, filters, expected):
    rows = csv_rows(owner_client.get(url(org, format="csv", **filters)))

    assert {(r[0], STATUSES[r[12]]) for r in rows[1:]} == expected


def test_it_filters_by_system(world, org, owner_client):
    rows = csv_rows(owner_client.get(url(org, system=world.chatbot.code)))

    assert [r[0] for r in rows[1:]] == ["Chatbot"]


def test_it_exports_in_the_users_language_for_the_whole_stream(world, owner, org):
    owner.user.language = "ja"
    owner.user.save(update_fields=["language"])

    response = client_for(owner).get(url(org, format="csv"))
    # The server reads the stream after the view has returned, in whatever language is active.
    with translation.override("en"):
        rows = csv_rows(response)

    row = next(r for r in rows if r[5] == world.jp[0].code)
    assert row[6] == world.jp[0].title_ja != world.jp[0].title_en
    assert row[14] == JAPANESE_NOTE


# --- XLSX --------------------------------------------------------------------------------------


def test_it_exports_the_list_as_xlsx(world, org, owner_client):
    response = owner_client.get(url(org, format="xlsx"))

    assert response.status_code == 200
    assert response["Content-Type"] == XLSX_TYPE
    assert re.search(
        r"kakehashi-findings-acme-robotics-[\d-]+\.xlsx", response["Content-Disposition"]
    )
    rows = sheet_rows(workbook(response))
    assert [cell_value(rows[0][c]) for c in sorted(rows[0], key=lambda c: (len(c), c))] == HEADER
    assert {cell.get("s") for cell in rows[0].values()} == {"1"}  # the bold header style
    assert len(rows) == 5
    gap = rows[2]
    assert cell_value(gap["A"]) == "Screener"
    assert cell_value(gap["B"]) == str(world.assessment.code)
    assert cell_value(gap["F"]) == world.eu[0].code
    assert cell_value(gap["G"]) == world.eu[0].title_en
    assert cell_value(gap["I"]) == "Provider (EU), Deployer (EU)"
    # Dates are dates: serial numbers in the date style, not text.
    assert cell_value(gap["K"]) == excel_date(dt.date(2025, 8, 2))
    assert cell_value(gap["L"]) == excel_date(dt.date(2026, 5, 15))
    assert gap["K"].get("s") == gap["L"].get("s") == "2"
    assert cell_value(gap["M"]) == "Partially met"
    # Free text is text, never a formula, even when it reads like one.
    assert gap["O"].get("t") == "inlineStr"
    assert cell_value(gap["O"]) == FORMULA
    assert cell_value(gap["Q"]) == (
        "https://docs.acme.example/logging https://docs.acme.example/retention"
    )
    assert "P" not in gap  # a blank cell is left out
    assert cell_value(rows[4]["P"]) == "owner@acme.example"


def test_it_writes_japanese_text_in_the_xlsx(world, owner, org):
    owner.user.language = "ja"
    owner.user.save(update_fields=["language"])

    response = client_for(owner).get(url(org, format="xlsx", jurisdiction="JP"))
    with translation.override("en"):
        rows = sheet_rows(workbook(response))

    assert len(rows) == 2
    assert cell_value(rows[1]["G"]) == world.jp[0].title_ja
    assert cell_value(rows[1]["O"]) == JAPANESE_NOTE


def test_it_writes_an_xlsx_excel_can_open(world, org, owner_client):
    archive = workbook(owner_client.get(url(org, format="xlsx")))

    names = set(archive.namelist())
    assert names == {
        "[Content_Types].xml",
        "_rels/.rels",
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
        "xl/worksheets/sheet1.xml",
    }
    # Every part is well-formed XML (our own output, not untrusted input).
    parts = {name: ET.fromstring(archive.read(name)) for name in names}  # noqa: S314
    types = parts["[Content_Types].xml"]
    overrides = {o.get("PartName"): o.get("ContentType") for o in types}
    assert overrides["/xl/workbook.xml"].endswith(".sheet.main+xml")
    assert overrides["/xl/worksheets/sheet1.xml"].endswith(".worksheet+xml")
    assert overrides["/xl/styles.xml"].endswith(".styles+xml")
    # Every relationship points at a part of the archive.
    for rels, base in (("_rels/.rels", ""), ("xl/_rels/workbook.xml.rels", "xl/")):
        for relation in parts[rels]:
            assert base + relation.get("Target") in names
    book = parts["xl/workbook.xml"]
    assert [s.get("name") for s in book.iterfind("m:sheets/m:sheet", NS)] == ["Findings"]
    assert book.find("m:definedNames/m:definedName", NS).text == "'Findings'!$A$1:$Q$5"
    sheet = parts["xl/worksheets/sheet1.xml"]
    pane = sheet.find("m:sheetViews/m:sheetView/m:pane", NS)
    assert (pane.get("state"), pane.get("ySplit"), pane.get("topLeftCell")) == ("frozen", "1", "A2")
    assert sheet.find("m:autoFilter", NS).get("ref") == "A1:Q5"
    assert len(sheet.findall("m:cols/m:col", NS)) == len(HEADER)
    assert not sheet.findall(".//m:f", NS)
    styles = parts["xl/styles.xml"]
    formats = {f.get("numFmtId"): f.get("formatCode") for f in styles.iterfind(".//m:numFmt", NS)}
    date_style = styles.findall("m:cellXfs/m:xf", NS)[2]
    assert formats[date_style.get("numFmtId")] == "yyyy-mm-dd"
    header_font = styles.findall("m:fonts/m:font", NS)[
        int(styles.findall("m:cellXfs/m:xf", NS)[1].get("fontId"))
    ]
    assert header_font.find("m:b", NS) is not None


# --- The streaming XLSX writer ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
        ("bell\x07 and nul\x00 gone", "bell and nul gone"),  # not allowed in XML 1.0
        ("tab\tnew\nline", "tab\tnew\nline"),
        ("lone \ud800 surrogate", "lone  surrogate"),
        ("_x0041_ stays literal", "_x005F_x0041_ stays literal"),  # Excel would read "A"
        ("x" * 40_000, "x" * 32_767),  # the most a cell holds
        ("😀" * 20_000, "😀" * 16_383),  # counted in UTF-16 units, as Excel does
    ],
)
def test_it_writes_any_text_as_valid_xml(text, written):
    assert xlsx_stream.escape_text(text) == written


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (dt.date(2026, 1, 1), '<c r="A2" s="2"><v>46023</v></c>'),
        (dt.datetime(2026, 1, 1, 18, 0), '<c r="A2" s="3"><v>46023.75</v></c>'),
        (dt.date(1900, 3, 1), '<c r="A2" s="2"><v>61</v></c>'),  # after Excel's 29 Feb 1900
        (dt.date(1899, 12, 31), '<c r="A2" t="inlineStr"><is><t>1899-12-31</t></is></c>'),
        (" padded ", '<c r="A2" t="inlineStr"><is><t xml:space="preserve"> padded </t></is></c>'),
        ("=1+1", '<c r="A2" t="inlineStr"><is><t>=1+1</t></is></c>'),
        (7, '<c r="A2" t="inlineStr"><is><t>7</t></is></c>'),
        (None, ""),
        ("", ""),
    ],
)
def test_it_writes_dates_as_serial_numbers_and_everything_else_as_text(value, cell):
    archive = zipfile.ZipFile(
        io.BytesIO(
            b"".join(xlsx_stream.xlsx_chunks(sheet_name="S", widths=[9], rows=[["H"], [value]]))
        )
    )
    sheet = archive.read("xl/worksheets/sheet1.xml").decode()

    assert f'<row r="2">{cell}</row>' in sheet


def test_it_streams_a_large_sheet_in_chunks_and_freezes_columns():
    rows = ([f"row {n}", dt.date(2026, 1, 1) + dt.timedelta(days=n % 365)] for n in range(20_000))

    chunks = list(
        xlsx_stream.xlsx_chunks(
            sheet_name="Big: [1/2]", widths=[10, 12], rows=rows, frozen_columns=1
        )
    )

    assert len(chunks) > 3
    assert max(len(c) for c in chunks) < 4 * xlsx_stream.CHUNK_BYTES
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    book = ET.fromstring(archive.read("xl/workbook.xml"))  # noqa: S314 (our output)
    assert book.find("m:sheets/m:sheet", NS).get("name") == "Big   1 2 "
    sheet = ET.fromstring(archive.read("xl/worksheets/sheet1.xml"))  # noqa: S314 (our output)
    pane = sheet.find("m:sheetViews/m:sheetView/m:pane", NS)
    assert (pane.get("xSplit"), pane.get("ySplit"), pane.get("topLeftCell")) == ("1", "1", "B2")
    assert len(sheet.findall("m:sheetData/m:row", NS)) == 20_000
    assert sheet.find("m:autoFilter", NS).get("ref") == "A1:B20000"


# --- The page's links --------------------------------------------------------------------------


def test_it_links_the_exports_with_the_pages_filters(world, org, owner_client):
    path = reverse("finding_list", kwargs={"org_code": org.code})
    page = owner_client.get(path, {"status": "gap", "jurisdiction": "EU", "page": "1"})

    content = page.content.decode()
    export = reverse("finding_export", kwargs={"org_code": org.code})
    for kind in ("csv", "xlsx"):
        assert f'href="{export}?status=gap&amp;jurisdiction=EU&amp;format={kind}"' in content
    rows = csv_rows(owner_client.get(f"{export}?jurisdiction=EU&status=gap&format=csv"))
    assert len(rows) - 1 == page.context["page"].paginator.count == 1


# --- Who may export ----------------------------------------------------------------------------


def test_it_refuses_an_unknown_format(world, org, owner_client):
    response = owner_client.get(url(org, format="pdf"))

    assert response.status_code == 400
    assert "format=csv or format=xlsx" in response.content.decode()


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_it_lets_a_viewer_export(world, org, kind):
    viewer = MembershipFactory(organisation=org, role=Role.VIEWER)

    response = client_for(viewer).get(url(org, format=kind))

    assert response.status_code == 200
    assert body(response)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_it_hides_the_export_from_another_organisation(world, org, outsider_client, kind):
    assert outsider_client.get(url(org, format=kind)).status_code == 404


def test_it_sends_a_signed_out_visitor_to_log_in(world, org, client):
    response = client.get(url(org, format="csv"))

    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_it_streams_inside_the_members_organisation(world, org, member, monkeypatch, kind):
    """The rows are read while the response is sent, after the view has returned: in the
    request's tenant scope, where the database shows this organisation's rows and no other's."""
    seen = []
    table = reports.finding_table

    def watched(findings):
        for row in table(findings):
            seen.append((rls.current(), Finding.objects.count()))
            yield row

    monkeypatch.setattr(reports, "finding_table", watched)

    response = client_for(member).get(url(org, format=kind))
    assert rls.current() == rls.EVERYTHING  # the request is over
    data = body(response)

    assert len(seen) == 5
    own = Finding.objects.filter(organisation=org).count()
    for scope, visible in seen:
        assert (scope.org_id, scope.system) == (org.pk, False)
        assert visible == own < Finding.objects.count()
    assert rls.current() == rls.EVERYTHING
    if kind == "csv":
        text = data.decode("utf-8-sig")
    else:
        archive = zipfile.ZipFile(io.BytesIO(data))
        text = "".join(archive.read(name).decode() for name in archive.namelist())
    assert "Screener" in text
    assert MARKER not in text


# --- Cost --------------------------------------------------------------------------------------


def systems_with_findings(org, release, n: int) -> None:
    """`n` more current findings, two per system, half with evidence."""
    eu = obligations(release, "EU", 2)
    for i in range(n // 2):
        assessment = AssessmentFactory(system=AISystemFactory(organisation=org))
        for obligation in eu:
            finding = add(assessment, obligation, "open", due_date=dt.date(2026, 6, 1))
            if i % 2:
                EvidenceFactory(finding=finding)


def export_queries(client, path: str) -> tuple[int, bytes]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
        assert response.status_code == 200
        data = body(response)
    return len(captured), data


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_it_runs_the_same_queries_for_a_few_or_many_findings(real_catalogue, org, owner, kind):
    client = client_for(owner)
    path = url(org, format=kind)
    client.get(path)  # the first request stores the organisation in the session

    systems_with_findings(org, real_catalogue, 6)
    few, small = export_queries(client, path)
    systems_with_findings(org, real_catalogue, 54)
    many, large = export_queries(client, path)

    assert few == many
    assert many <= 8
    assert len(large) > len(small)


def test_it_reads_in_chunks_each_finding_with_its_own_evidence(
    world, real_catalogue, org, owner_client, monkeypatch
):
    systems_with_findings(org, real_catalogue, 10)
    expected = {
        (f.system.name, f.obligation_code): " ".join(
            f.evidence.order_by("added_at", "id").values_list("url", flat=True)
        )
        for f in Finding.objects.filter(organisation=org, assessment__latest=True)
    }
    path = url(org, format="csv")
    owner_client.get(path)  # the first request stores the organisation in the session
    whole, _data = export_queries(owner_client, path)

    monkeypatch.setattr(reports, "EXPORT_CHUNK", 4)
    chunked, data = export_queries(owner_client, path)

    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
    assert len(rows) == len(expected) == 14
    assert {(r[0], r[5]): r[16] for r in rows} == expected
    assert sum(1 for r in rows if r[16]) == 5  # the Screener's gap and two systems' two
    # One more query for each chunk's evidence.
    assert chunked - whole == 14 // 4
