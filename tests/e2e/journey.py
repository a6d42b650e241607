"""Page helpers for the browser journey: what a person does on a page, in a few words."""

import re
from collections.abc import Mapping
from typing import Any

from django.utils import translation
from playwright.sync_api import Locator, Page, expect

from assessments.engine import questionnaire
from assessments.engine.release import CompiledRelease, Question

YES_NO = {True: "Yes", False: "No"}


def english(text: Mapping[str, str]) -> str:
    return text.get("en") or ""


def exactly(text: str) -> re.Pattern:
    """An accessible name equal to `text` once whitespace is collapsed."""
    return re.compile(r"^\s*" + r"\s+".join(map(re.escape, text.split())) + r"\s*$")


def field(scope: Page | Locator, label: str) -> Locator:
    """The form field labelled `label` (Django adds a colon to its labels)."""
    return scope.get_by_label(re.compile(r"^\s*" + re.escape(label) + r"\s*:?\s*$"))


def question_group(page: Page, question: Question) -> Locator:
    """The question as a person finds it: the fieldset named by its legend."""
    return page.get_by_role("group", name=exactly(english(question.label)))


def answer_question(page: Page, question: Question, value: Any) -> None:
    group = question_group(page, question)
    expect(group).to_be_visible()
    labels = {c.value: english(c.label) for c in question.choices}
    match question.type:
        case "boolean":
            group.get_by_label(YES_NO[value], exact=True).check()
        case "choice":
            group.get_by_label(labels[value], exact=True).check()
        case "multi_choice":
            for choice in value:
                group.get_by_label(labels[choice], exact=True).check()
        case _:
            raise AssertionError(f"the journey does not answer {question.type} questions")


def answer_questionnaire(page: Page, release: CompiledRelease, answers: Mapping[str, Any]):
    """Answer every question the questionnaire asks for `answers`, top to bottom, as the page
    reveals follow-up questions; returns the questions asked."""
    asked = questionnaire.asked(release, answers)
    missing = [q.key for q in asked if q.key not in answers]
    assert not missing, f"the journey's answers leave asked questions open: {missing}"
    for question in asked:
        answer_question(page, question, answers[question.key])
    return asked


def ja(message: str) -> str:
    """`message` in Japanese; fails when the catalogue has no translation for it."""
    with translation.override("ja"):
        text = translation.gettext(message)
    assert text != message, f"no Japanese translation of {message!r}"
    return text


Name = str | tuple[str, str]  # a message, or (context, message)


def go(page: Page, *path: Name) -> None:
    """Follow links by their names: the first in the organisation's navigation (the navigation
    that links to the dashboard), the rest anywhere on the page that link leads to."""
    dashboard = page.get_by_role("link", name=path_name("Dashboard"), exact=True)
    nav = page.get_by_role("navigation").filter(has=dashboard).first
    click_and_wait(page, nav.get_by_role("link", name=path_name(path[0]), exact=True))
    for name in path[1:]:
        click_and_wait(page, page.get_by_role("link", name=path_name(name), exact=True).first)


def path_name(message: Name) -> str:
    """A link's name in the test's active language (English unless overridden)."""
    if isinstance(message, tuple):
        return translation.pgettext(*message)
    return translation.gettext(message)


def pattern(message: str) -> re.Pattern:
    """A translated message whose %(name)s placeholders match anything."""
    parts = re.split(r"%\(\w+\)s", message)
    return re.compile("^" + ".+".join(map(re.escape, parts)) + "$")


def click_and_wait(page: Page, locator: Locator) -> None:
    """Click something that loads a new page (a link, a form's button) and wait for it."""
    with page.expect_navigation():
        locator.click()
