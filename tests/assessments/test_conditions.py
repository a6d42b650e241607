"""The condition language, table-driven and without a database."""

import datetime as dt
import re

import pytest

from assessments.engine.conditions import (
    ConditionError,
    QuestionType,
    check,
    evaluate,
    parse,
    references,
)

QUESTIONS = {
    "markets": QuestionType("multi_choice", frozenset({"EU", "JP", "other"})),
    "deployer_type": QuestionType(
        "choice", frozenset({"public_body", "public_service", "private"})
    ),
    "profiling": QuestionType("boolean"),
    "employees": QuestionType("number"),
    "launch": QuestionType("date"),
    "notes": QuestionType("text"),
}
LABELS = {"eu.annex3", "eu.high_risk"}


@pytest.mark.parametrize(
    ("condition", "answers", "labels", "expected"),
    [
        ("true", {}, set(), True),
        ("false", {}, set(), False),
        ("profiling", {"profiling": True}, set(), True),
        ("profiling", {}, set(), False),
        ("not profiling", {}, set(), True),
        ('markets contains "EU"', {"markets": ["EU", "JP"]}, set(), True),
        ('markets contains "EU"', {"markets": ["JP"]}, set(), False),
        ('markets contains any ["EU", "JP"]', {"markets": ["JP"]}, set(), True),
        ('markets contains any ["EU", "JP"]', {"markets": ["other"]}, set(), False),
        ('deployer_type == "public_body"', {"deployer_type": "public_body"}, set(), True),
        ('deployer_type != "public_body"', {"deployer_type": "private"}, set(), True),
        ('deployer_type != "public_body"', {}, set(), False),  # unanswered is never a match
        (
            'deployer_type in ["public_body", "public_service"]',
            {"deployer_type": "private"},
            set(),
            False,
        ),
        ("employees >= 250", {"employees": 250}, set(), True),
        ("employees < 250", {"employees": 250}, set(), False),
        ("employees < 250", {}, set(), False),
        ('launch >= date("2026-08-02")', {"launch": "2026-09-01"}, set(), True),
        ('launch >= date("2026-08-02")', {"launch": dt.date(2025, 1, 1)}, set(), False),
        ('label("eu.annex3") and not profiling', {}, {"eu.annex3"}, True),
        ('label("eu.annex3") and not profiling', {"profiling": True}, {"eu.annex3"}, False),
        ('profiling or label("eu.high_risk")', {}, {"eu.high_risk"}, True),
        ("not profiling and profiling or true", {}, set(), True),  # and binds tighter than or
        ("not (profiling or true)", {}, set(), False),
        ("answered(notes)", {"notes": "x"}, set(), True),
        ("answered(notes)", {"notes": ""}, set(), False),
        ('notes == "it\'s"', {"notes": "it's"}, set(), True),
    ],
)
def test_it_evaluates(condition, answers, labels, expected):
    node = parse(condition)
    check(node, QUESTIONS, LABELS)
    assert evaluate(node, answers, labels) is expected


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("", "empty"),
        ("profiling and", "expected a condition at the end"),
        ("(profiling", "expected ')'"),
        ("profiling profiling", "unexpected 'profiling'"),
        ("profiling == ", "expected a value"),
        ('markets contains any ["EU"', "expected ']'"),
        ("import os", "unexpected 'os'"),
        ("__import__('os').system('x')", "unexpected character '.'"),
        ("__import__('os')", "unexpected '('"),
        ("profiling; true", "unexpected character ';'"),
        ('launch > date("yesterday")', "not a date"),
        ("label(eu)", "expected a quoted string"),
    ],
)
def test_it_rejects_bad_syntax(condition, message):
    with pytest.raises(ConditionError, match=re.escape(message)):
        parse(condition)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("use_case", 'unknown question "use_case"'),
        ('markets contains "US"', "'US' is not a choice of it"),
        ('markets == "EU"', "takes several answers; use contains"),
        ('deployer_type contains "private"', '"contains" needs a multi-choice question'),
        ("deployer_type", "compare it to a value"),
        ('deployer_type == "ngo"', "'ngo' is not a choice"),
        ("profiling == 1", "1 is not a boolean value"),
        ('employees > "many"', "not a number value"),
        ('deployer_type > "private"', "needs a number or date question"),
        ('launch > "2026-01-01"', "not a date value"),
        ('label("eu.gpai")', 'unknown label "eu.gpai"'),
        ("answered(nothing)", 'unknown question "nothing"'),
    ],
)
def test_it_rejects_conditions_that_do_not_fit_the_questionnaire(condition, message):
    with pytest.raises(ConditionError, match=re.escape(message)):
        check(parse(condition), QUESTIONS, LABELS)


def test_it_lists_what_a_condition_refers_to():
    node = parse('markets contains "EU" and (label("eu.annex3") or not profiling)')
    assert references(node) == ({"markets", "profiling"}, {"eu.annex3"})
