"""The registry's CSV and XLSX exports: one row per system, the list's filters, no formulas."""

import csv
import io
import re
import zipfile
from xml.etree import ElementTree

import pytest

from assessments.releases import compiled
from governance import registry

from ..factories import HIRING_TOOL_ANSWERS, JAPAN_CHATBOT_ANSWERS, AISystemFactory

pytestmark = pytest.mark.usefixtures("real_catalogue")

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def export(client, org, kind, **params):
    response = client.get(f"/o/{org.code}/systems/export/", {"format": kind, **params})
    assert response.status_code == 200
    return response, b"".join(response.streaming_content)


def csv_rows(client, org, **params) -> list[dict[str, str]]:
    response, body = export(client, org, "csv", **params)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="ai-systems-\d{4}-\d\d-\d\d\.csv"', response["Content-Disposition"]
    )
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def column_number(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref).group(0)
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number - 1


def xlsx_rows(client, org, **params) -> list[dict[str, str]]:
    """The first sheet's rows as dicts, read straight from the sheet XML."""
    response, body = export(client, org, "xlsx", **params)
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    xml = zipfile.ZipFile(io.BytesIO(body)).read("xl/worksheets/sheet1.xml")
    sheet = ElementTree.fromstring(xml)  # noqa: S314 (our own output, not untrusted input)
    table = []
    for row in sheet.iter(f"{MAIN}row"):
        cells = {}
        for cell in row.iter(f"{MAIN}c"):
            if cell.get("t") == "inlineStr":
                value = "".join(t.text or "" for t in cell.iter(f"{MAIN}t"))
            else:
                value = cell.find(f"{MAIN}v").text
            assert cell.find(f"{MAIN}f") is None  # never a formula
            cells[column_number(cell.get("r"))] = value
        table.append(cells)
    header = [table[0][i] for i in range(len(table[0]))]
    return [{name: row.get(i, "") for i, name in enumerate(header)} for row in table[1:]]


@pytest.fixture
def systems(org, owner, member):
    hiring = registry.system_create(
        org=org,
        actor=owner.user,
        answers=HIRING_TOOL_ANSWERS,
        name="Hiring assistant",
        owner=member.user,
        business_unit="People",
        lifecycle_stage="production",
        vendor='=HYPERLINK("http://evil.example")',
    )
    chatbot = registry.system_create(
        org=org,
        actor=owner.user,
        answers=JAPAN_CHATBOT_ANSWERS,
        name="コンシェルジュ",
        lifecycle_stage="development",
    )
    AISystemFactory(name="Someone else's")  # another organisation
    return hiring, chatbot


@pytest.mark.parametrize("rows_of", [csv_rows, xlsx_rows], ids=["csv", "xlsx"])
def test_it_exports_one_row_per_system_with_every_question(
    member_client, org, member, systems, rows_of, real_catalogue
):
    hiring, _chatbot = systems
    rows = rows_of(member_client, org)
    assert [row["name"] for row in rows] == ["Hiring assistant", "コンシェルジュ"]
    first, second = rows
    assert list(first)[:19] == [
        "code", "name", "description", "intended_purpose", "owner", "business_unit",
        "lifecycle_stage", "sourcing", "vendor", "model_name", "model_version", "markets",
        "eu_roles", "jp_roles", "eu_tier", "version", "release", "latest_assessment",
        "archived_at",
    ]  # fmt: skip
    question_columns = [c for c in first if c.startswith("q_")]
    assert "q_is_sme" in question_columns and "q_transfers_personal_data_abroad" in question_columns
    keys = [q.key for q in compiled(real_catalogue).questions]
    assert question_columns == [f"q_{key}" for key in keys]
    assert first["code"] == str(hiring.code)
    assert first["owner"] == member.user.email
    assert first["markets"] == "EU;JP"
    assert first["eu_roles"] == "eu.provider;eu.deployer"
    assert first["jp_roles"] == "jp.developer;jp.business_user"
    assert str(first["version"]) in ("1", "1.0")
    assert first["release"] == hiring.release.code
    assert first["q_annex3_use_cases"] == "4a"
    assert first["q_is_sme"] == "no"
    assert first["q_established_in_eu"] == "yes"
    assert first["q_crime_risk_prediction"] == "no"
    assert second["q_uses_generative_ai"] == "yes"
    assert second.get("q_social_scoring", "") == ""  # not asked of a Japan-only system


def test_it_keeps_text_from_turning_into_a_formula(member_client, org, systems):
    [hiring_csv, _] = csv_rows(member_client, org)
    assert hiring_csv["vendor"] == '\'=HYPERLINK("http://evil.example")'
    [hiring_xlsx, _] = xlsx_rows(member_client, org)  # written as text, never as a formula
    assert hiring_xlsx["vendor"] == '=HYPERLINK("http://evil.example")'


@pytest.mark.parametrize("rows_of", [csv_rows, xlsx_rows], ids=["csv", "xlsx"])
def test_it_exports_what_the_filters_select(member_client, org, systems, rows_of):
    _hiring, chatbot = systems
    assert [r["name"] for r in rows_of(member_client, org, market="EU")] == ["Hiring assistant"]
    assert [r["name"] for r in rows_of(member_client, org, stage="development")] == [
        "コンシェルジュ"
    ]
    assert [r["name"] for r in rows_of(member_client, org, q="コンシェ")] == ["コンシェルジュ"]
    registry.system_archive(system=chatbot, actor=None)
    assert [r["name"] for r in rows_of(member_client, org)] == ["Hiring assistant"]
    archived = rows_of(member_client, org, archived="on")
    assert [r["name"] for r in archived] == ["コンシェルジュ"]
    assert archived[0]["archived_at"]


def test_it_exports_a_header_for_an_empty_registry(member_client, org):
    assert csv_rows(member_client, org) == []
    _, body = export(member_client, org, "csv")
    assert body.decode("utf-8-sig").startswith("code,name,")


def test_it_refuses_an_unknown_format(member_client, org):
    response = member_client.get(f"/o/{org.code}/systems/export/", {"format": "pdf"})
    assert response.status_code == 400


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_it_hides_the_export_from_an_outsider(org, systems, outsider_client, kind):
    response = outsider_client.get(f"/o/{org.code}/systems/export/", {"format": kind})
    assert response.status_code == 404
