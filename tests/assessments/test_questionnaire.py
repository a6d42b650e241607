"""The questionnaire against the shipped catalogue: what is asked, and which answers hold."""

import pytest

from assessments.engine import AnswersInvalid, asked, compile_release, prune, validate

EU_PROVIDER = {
    "markets": ["EU"],
    "eu_roles": ["provider"],
    "is_sme": False,
    "established_in_eu": True,
}


@pytest.fixture(scope="module")
def release(_catalogue_files):
    return compile_release(_catalogue_files.snapshots["2026-amended"])


def complete(release, **changes):
    """EU_PROVIDER with `changes`, answering "no" to every other question then asked."""
    answers = {**EU_PROVIDER, **changes}
    while True:
        try:
            return validate(release, answers)
        except AnswersInvalid as exc:
            missing = {k for k, (code, _) in exc.errors.items() if code == "required"}
            assert missing and len(missing) == len(exc.errors), exc.errors
            for key in missing:
                question = release.question(key)
                answers[key] = False if question.type == "boolean" else _no(question)


def _no(question):
    return "no" if "no" in question.choice_values else "neither"


def errors(release, raw):
    with pytest.raises(AnswersInvalid) as caught:
        validate(release, raw)
    return caught.value.errors


def test_it_accepts_a_complete_registration(release):
    cleaned = complete(release, annex3_use_cases=["4b", "4a"])
    assert cleaned["annex3_use_cases"] == ["4a", "4b"]  # in catalogue order
    assert "deployer_public_status" not in cleaned  # asked of deployers only
    assert cleaned["art6_3_narrow_procedural"] is False  # asked once an Annex III use is given


@pytest.mark.parametrize(
    ("change", "key", "error"),
    [
        ({"annex_three": ["4a"]}, "annex_three", ("unknown_question", {"key": "annex_three"})),
        ({"is_sme": "no"}, "is_sme", ("not_a_boolean", {})),
        ({"is_sme": None}, "is_sme", ("required", {})),
        ({"markets": []}, "markets", ("required", {})),
        ({"markets": ["EU", "US"]}, "markets", ("not_a_choice", {"value": "US"})),
        ({"markets": "EU"}, "markets", ("not_a_list", {})),
        ({"annex3_use_cases": ["9z"]}, "annex3_use_cases", ("not_a_choice", {"value": "9z"})),
        ({"crime_risk_prediction": "maybe"}, "crime_risk_prediction",
         ("not_a_choice", {"value": "maybe"})),
        ({"crime_risk_prediction": True}, "crime_risk_prediction",
         ("not_a_choice", {"value": "True"})),
    ],
)  # fmt: skip
def test_it_names_what_is_wrong(release, change, key, error):
    raw = complete(release)
    raw.update(change)
    found = errors(release, raw)
    assert found[key] == error
    assert set(found) == {key}


def test_it_names_every_missing_answer(release):
    found = errors(release, {"markets": ["EU", "JP"]})
    assert found["eu_roles"] == ("required", {})
    assert found["jp_roles"] == ("required", {})
    assert found["military_use"] == ("required", {})
    assert "established_in_eu" not in found  # asked of providers only


def test_it_drops_answers_to_questions_no_longer_asked(release):
    raw = {
        "markets": ["JP"],
        "jp_roles": ["business_user"],
        "is_sme": True,
        "uses_generative_ai": False,
        "processes_personal_data": False,
        "special_care_data": True,  # asked only when personal data is processed
        "eu_roles": ["provider"],  # asked only for the EU market
        "annex3_use_cases": ["4a"],
        "manipulative_techniques": True,
    }
    expected = {
        "markets": ["JP"],
        "jp_roles": ["business_user"],
        "is_sme": True,
        "uses_generative_ai": False,
        "processes_personal_data": False,
    }
    assert prune(release, raw) == expected
    assert validate(release, raw) == expected


def test_it_asks_in_catalogue_order_as_answers_unfold(release):
    keys = [q.key for q in asked(release, {"markets": ["JP"], "jp_roles": ["developer"]})]
    assert keys == [
        "markets",
        "jp_roles",
        "is_sme",
        "advanced_ai_system",
        "uses_generative_ai",
        "processes_personal_data",
    ]
    more = [q.key for q in asked(release, {"markets": ["JP"], "processes_personal_data": True})]
    assert more[-3:] == [
        "special_care_data",
        "shares_personal_data_with_vendor_for_training",
        "transfers_personal_data_abroad",
    ]
