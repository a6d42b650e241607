"""The organisation's posture report as a PDF, in English or Japanese.

The data is the dashboard's (tests/assessments/test_dashboard.py), seen on 10 March 2026.
"""

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from assessments import dashboard
from governance.models import Role
from tests.assessments.test_dashboard import (
    NOW,
    TODAY,
    Known,
    add,
    obligations,
    systems_with_findings,
)
from tests.assessments.test_reports import has_japanese, pdf_text
from tests.conftest import client_for
from tests.factories import AssessmentFactory, MembershipFactory


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def known(frozen, real_catalogue, org, owner):
    return Known(org, owner, real_catalogue)


def url(org, **query):
    path = reverse("posture_report_pdf", kwargs={"org_code": org.code})
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_it_downloads_the_posture_report_as_a_pdf(known, org, owner_client):
    response = owner_client.get(url(org, lang="en"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert response["Content-Disposition"] == (
        'attachment; filename="kakehashi-posture-acme-robotics-2026-03-10-en.pdf"'
    )


def test_it_renders_the_japanese_report_with_a_japanese_font(known, org, owner_client):
    response = owner_client.get(url(org, lang="ja"))

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert response["Content-Disposition"].endswith('-2026-03-10-ja.pdf"')
    assert re.search(rb"/BaseFont\s*/[A-Z]+\+Noto-?Sans-?CJK-?JP", pdf_text(response.content))
    with translation.override("ja"):
        html = dashboard.posture_report_html(org, TODAY)
        translated = [gettext("Total"), gettext("Jurisdiction"), gettext("Not assessed")]
    assert 'lang="ja"' in html
    regulations = dashboard.current_regulations()
    for code in (known.eu_code, known.jp_code, known.intl_code):
        assert has_japanese(regulations[code].title_ja)
        assert regulations[code].title_ja in html
        assert regulations[code].title_en not in html
    for text in translated:
        assert text in html


def test_it_renders_the_english_report_in_english(known, org):
    with translation.override("en"):
        html = dashboard.posture_report_html(org, TODAY)

    assert 'lang="en"' in html
    regulation = dashboard.current_regulations()[known.jp_code]
    assert regulation.title_en in html
    assert regulation.title_ja not in html


def test_it_writes_the_report_in_the_users_language_by_default(known, org, owner):
    owner.user.language = "ja"
    owner.user.save(update_fields=["language"])

    response = client_for(owner).get(url(org))

    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('-ja.pdf"')


def test_it_refuses_a_language_it_does_not_have(known, org, owner_client):
    response = owner_client.get(url(org, lang="fr"))

    assert response.status_code == 400
    assert "Use lang=en or lang=ja." in response.content.decode()


def test_it_shows_the_numbers_and_each_system(known, org):
    context = dashboard.posture_report_context(org, TODAY)
    summaries = {s.name: (s.eu_tier, s.open_gaps, s.overdue_actions) for s in context["systems"]}
    with translation.override("en"):
        html = dashboard.posture_report_html(org, TODAY)

    # The archived system is left out; every overdue action is on the screener.
    assert summaries == {
        "Chatbot": ("limited", 2, 0),
        "Planner": ("", 0, 0),
        "Screener": ("high_risk", 4, 4),
    }
    assert [a.due_date for a in context["overdue"]] == [
        dt.date(2026, 2, 1),
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 9),
        dt.date(2026, 3, 9),
    ]
    assert context["release"].is_current
    assert context["release"].code in html
    assert "Compliance posture: Acme Robotics" in html
    assert "2026-03-10" in html
    assert "2 Dec 2027" in html  # an upcoming legal date
    assert "Ada Lovelace" in html
    assert re.search(r"<th scope=\"row\">Open gaps</th><td class=\"num\">6</td>", html)


def test_it_builds_the_report_in_a_fixed_number_of_queries(frozen, real_catalogue, org, owner):
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            dashboard.posture_report_context(org, TODAY)
        return len(captured)

    systems_with_findings(real_catalogue, org, owner, 2)
    few = count()
    systems_with_findings(real_catalogue, org, owner, 10)

    assert count() == few


def test_it_lets_every_member_download_it(known, org):
    viewer = MembershipFactory(organisation=org, role=Role.VIEWER)

    response = client_for(viewer).get(url(org, lang="en"))

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


def test_it_hides_the_report_from_another_organisation(known, org, outsider_client):
    assert outsider_client.get(url(org, lang="en")).status_code == 404


def test_it_has_a_report_before_any_assessment(real_catalogue, org, owner_client):
    response = owner_client.get(url(org, lang="en"))

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


def test_it_counts_only_the_latest_assessment_per_system(known, org, real_catalogue):
    # A newer run of the chatbot with a single gap replaces its three findings.
    newer = AssessmentFactory(system=known.chatbot)
    add(newer, obligations(real_catalogue, "EU", 1)[0], "open")

    context = dashboard.posture_report_context(org, TODAY)

    chatbot = next(s for s in context["systems"] if s.name == "Chatbot")
    assert chatbot.open_gaps == 1
    assert context["board"].number["open_gaps"].count == 5
