"""Invalid questionnaire answers, through the registration pages and the API: an error beside the
question (the page) or under `/answers/<key>` (problem details), and nothing written — no
system, no version, no audit event.

tests/governance/test_registry.py and tests/api/test_systems.py cover a missing answer, a choice
not offered, "sometimes" for a boolean and an unknown key on creation; here are the rest of the
wrong shapes, on creation and on replacing the answers, with every table checked. The shipped
catalogue asks no number, date or text question yet, so those run against a small typed release
(the same trick as test_registry.py's `typed_release`).

Answers to questions that are not asked are dropped, not refused (documented in
assessments/engine/questionnaire.py: the browser posts the hidden fields of a questionnaire that
unfolds as it is answered); the tests hold that contract to "changes nothing".
"""

import pytest
from django.test import Client

from assessments.engine.release import compile_release
from governance import registry
from governance.models import AISystem, ApiScope

from ..api.conftest import api, make_key
from ..conftest import client_for
from ..factories import HIRING_TOOL_ANSWERS, JAPAN_CHATBOT_ANSWERS
from .conftest import nothing_written

pytestmark = pytest.mark.usefixtures("real_catalogue")


def api_url(org, suffix=""):
    return f"/api/v1/orgs/{org.code}/systems/{suffix}"


def page_url(org, suffix=""):
    return f"/o/{org.code}/systems/{suffix}"


@pytest.fixture
def writer(owner):
    return api(make_key(owner, ApiScope.WRITE))


@pytest.fixture
def browser(owner) -> Client:
    return client_for(owner)


@pytest.fixture
def system(org, owner):
    return registry.system_create(
        org=org, actor=owner.user, answers=HIRING_TOOL_ANSWERS, name="Hiring assistant"
    )


def payload(answers) -> dict:
    return {"name": "Screener", "lifecycle_stage": "production", "answers": answers}


def problem_pointers(response) -> list[str]:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    return [error["pointer"] for error in response.json()["errors"]]


def form(answers: dict, **fields) -> dict:
    """What a browser posts: registry fields, and each answer as its q_ field."""
    data = {"name": "Screener", "lifecycle_stage": "production", "sourcing": "in_house", **fields}
    for key, value in answers.items():
        if isinstance(value, bool):
            value = "yes" if value else "no"
        data[f"q_{key}"] = value
    return data


# --- The API, with the shipped catalogue ------------------------------------------------------

WRONG = [
    pytest.param({"colour": "red"}, "colour", id="unknown-question"),
    pytest.param({"markets\x00": ["EU"]}, "markets\x00", id="nul-in-key"),
    pytest.param({"is_sme": "false"}, "is_sme", id="string-for-boolean"),
    pytest.param({"is_sme": 0}, "is_sme", id="number-for-boolean"),
    pytest.param({"is_sme": None}, "is_sme", id="null-for-required"),
    pytest.param({"crime_risk_prediction": ["no"]}, "crime_risk_prediction", id="list-for-choice"),
    pytest.param({"crime_risk_prediction": "perhaps"}, "crime_risk_prediction", id="not-offered"),
    pytest.param({"crime_risk_prediction": "no\x00"}, "crime_risk_prediction", id="nul-in-choice"),
    pytest.param({"markets": "EU"}, "markets", id="string-for-multi-choice"),
    pytest.param({"markets": ["EU", "US"]}, "markets", id="multi-choice-not-offered"),
    pytest.param({"markets": [["EU"]]}, "markets", id="nested-list"),
    pytest.param({"markets": []}, "markets", id="no-market"),
    pytest.param({"annex3_use_cases": {"4a": True}}, "annex3_use_cases", id="mapping-for-list"),
]


@pytest.mark.parametrize(("change", "key"), WRONG)
def test_the_api_refuses_a_wrong_answer_on_registration(writer, org, change, key):
    with nothing_written():
        response = writer.post(
            api_url(org), payload({**HIRING_TOOL_ANSWERS, **change}), format="json"
        )

    assert f"/answers/{key}" in problem_pointers(response)


@pytest.mark.parametrize(("change", "key"), WRONG)
def test_the_api_refuses_a_wrong_answer_on_replacing_the_answers(writer, system, change, key):
    with nothing_written():
        response = writer.put(
            api_url(system.organisation, f"{system.code}/answers/"),
            {"answers": {**HIRING_TOOL_ANSWERS, **change}},
            format="json",
        )

    assert f"/answers/{key}" in problem_pointers(response)


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(["is_sme"], id="list"),
        pytest.param("is_sme=yes", id="text"),
        pytest.param(None, id="null"),
        pytest.param({str(i): True for i in range(5000)}, id="thousands-of-keys"),
    ],
)
def test_the_api_refuses_answers_that_are_not_a_mapping_of_questions(writer, system, answers):
    with nothing_written():
        response = writer.put(
            api_url(system.organisation, f"{system.code}/answers/"),
            {"answers": answers},
            format="json",
        )

    assert any(p.startswith("/answers") for p in problem_pointers(response))


def test_an_answer_to_a_question_not_asked_changes_nothing(writer, org, owner):
    # A Japan-only chatbot is not asked the EU questions: its answer to one is dropped, so
    # sending it is "nothing changed" — no version, no audit event.
    japan = registry.system_create(
        org=org, actor=owner.user, answers=JAPAN_CHATBOT_ANSWERS, name="Chatbot"
    )

    with nothing_written():
        response = writer.put(
            api_url(org, f"{japan.code}/answers/"),
            {"answers": {**JAPAN_CHATBOT_ANSWERS, "social_scoring": True}},
            format="json",
        )

    assert response.status_code == 200, response.content
    assert "social_scoring" not in response.json()["answers"]


# --- The pages, with the shipped catalogue ----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"is_sme": "true"}, "q_is_sme", id="not-yes-or-no"),
        pytest.param(
            {"deployer_public_status": "nobody"}, "q_deployer_public_status", id="not-offered"
        ),
        pytest.param({"markets": ["EU", "MARS"]}, "q_markets", id="multi-choice-not-offered"),
        pytest.param({"annex3_use_cases": "4a\x00"}, "q_annex3_use_cases", id="nul-in-choice"),
    ],
)
def test_the_edit_page_refuses_a_wrong_answer_beside_its_question(browser, system, change, field):
    data = form({**HIRING_TOOL_ANSWERS, **change}, name=system.name)

    with nothing_written():
        response = browser.post(page_url(system.organisation, f"{system.code}/edit/"), data)

    assert response.status_code == 400
    assert field in response.context["questions"].errors


def test_the_edit_page_ignores_fields_that_are_no_question(browser, org, system):
    # A browser only posts the form's own fields; a stray one is ignored like any HTML form's,
    # so posting the saved form again with one more field changes nothing.
    data = form(HIRING_TOOL_ANSWERS, name=system.name)
    assert browser.post(page_url(org, f"{system.code}/edit/"), data).status_code == 302

    with nothing_written():
        response = browser.post(page_url(org, f"{system.code}/edit/"), {**data, "q_colour": "red"})

    assert response.status_code == 302


# --- Number, date and text questions: a small typed release -----------------------------------

TYPED = compile_release(
    {
        "regulations": {},
        "rules": [],
        "obligations": [],
        "questions": [
            {"section": "use_case", "citation": "Test Art. 1", "help_en": "Help.", **q}
            for q in (
                {"key": "markets", "type": "multi_choice", "order": 0, "label_en": "Markets?",
                 "choices": [{"value": "EU", "label": {"en": "EU"}}]},
                {"key": "users", "type": "number", "order": 1, "label_en": "How many users?"},
                {"key": "launch", "type": "date", "order": 2, "label_en": "Launch date?"},
                {"key": "notes", "type": "text", "order": 3, "label_en": "Notes"},
                {"key": "public", "type": "boolean", "order": 4, "label_en": "Public?"},
            )
        ],
    }
)  # fmt: skip
TYPED_ANSWERS = {
    "markets": ["EU"],
    "users": 12,
    "launch": "2026-01-31",
    "notes": "",
    "public": True,
}


@pytest.fixture
def typed(monkeypatch):
    """TYPED stands in for the current release's questionnaire, on the pages and in the API."""
    monkeypatch.setattr(registry, "compiled", lambda release: TYPED)
    monkeypatch.setattr("governance.views.systems.compiled", lambda release: TYPED)
    return TYPED


@pytest.fixture
def typed_system(typed, org, owner):
    return registry.system_create(org=org, actor=owner.user, answers=TYPED_ANSWERS, name="Typed")


TYPED_WRONG = [
    pytest.param({"notes": "x" * 2001}, "notes", id="oversized-text"),
    pytest.param({"notes": "a\x00b"}, "notes", id="nul-in-text"),
    pytest.param({"notes": 42}, "notes", id="number-for-text"),
    pytest.param({"users": "12"}, "users", id="string-for-number"),
    pytest.param({"users": True}, "users", id="boolean-for-number"),
    pytest.param({"launch": "2026-02-30"}, "launch", id="impossible-date"),
    pytest.param({"launch": 20260131}, "launch", id="number-for-date"),
    pytest.param({"launch": ["2026-01-31"]}, "launch", id="list-for-date"),
]


@pytest.mark.parametrize(("change", "key"), TYPED_WRONG)
def test_the_api_refuses_a_wrong_typed_answer(writer, typed_system, change, key):
    with nothing_written():
        response = writer.put(
            api_url(typed_system.organisation, f"{typed_system.code}/answers/"),
            {"answers": {**TYPED_ANSWERS, **change}},
            format="json",
        )

    assert f"/answers/{key}" in problem_pointers(response)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"notes": "x" * 2001}, "q_notes", id="oversized-text"),
        pytest.param({"notes": "a\x00b"}, "q_notes", id="nul-in-text"),
        pytest.param({"users": "many"}, "q_users", id="not-a-number"),
        pytest.param({"users": "1e999"}, "q_users", id="infinite-number"),
        pytest.param({"launch": "2026-02-30"}, "q_launch", id="impossible-date"),
    ],
)
def test_the_edit_page_refuses_a_wrong_typed_answer(browser, typed_system, change, field):
    data = form({**TYPED_ANSWERS, **change}, name=typed_system.name)

    with nothing_written():
        response = browser.post(
            page_url(typed_system.organisation, f"{typed_system.code}/edit/"), data
        )

    assert response.status_code == 400
    assert field in response.context["questions"].errors
    assert AISystem.objects.get(pk=typed_system.pk).version == 1
