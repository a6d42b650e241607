"""The compliance team's journey through the real UI, in headless Chromium.

An admin invites a compliance officer, who joins from the e-mail, registers a hiring tool
through the questionnaire, assesses it through a real Celery worker, reads the classification,
reviews findings, opens a remediation action and completes it; a second compliance officer
verifies it (four eyes). The newcomer then switches to Japanese and exports the PDF report.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core import mail
from django.utils import translation
from playwright.sync_api import expect

from assessments.engine import evaluate
from assessments.models import Assessment
from assessments.releases import compiled
from governance.models import Role

from ..factories import HIRING_TOOL_ANSWERS, PASSWORD, MembershipFactory
from ..worker import new_queue, start_worker, stop_worker, tasks_sent_to
from .conftest import log_in
from .journey import answer_questionnaire, click_and_wait, field, go, ja, pattern

pytestmark = [pytest.mark.worker]

NEWCOMER_EMAIL = "hana.sato@acme.example"
NEWCOMER_NAME = "Hana Sato"
NEWCOMER_PASSWORD = "a long and unguessable passphrase 42"
SYSTEM_NAME = "Candidate screening assistant"
ACTION_TITLE = "Explain decisions to rejected applicants"
# Generous: the worker process starts, imports Django and runs the engine.
WORKER_TIMEOUT_MS = 90_000


class Worker:
    """A real Celery worker process on a queue of its own."""

    def __init__(self) -> None:
        self.queue = new_queue()
        self.process = start_worker(self.queue)
        self.output: str | None = None

    def stop(self) -> str:
        """Stop it (once) and return what it logged."""
        if self.output is None:
            self.output = stop_worker(self.process)
        return self.output


@pytest.fixture
def worker(committed_catalogue) -> Iterator[Worker]:
    """Started before the journey so it is warm by the time an assessment is queued; always
    stopped, even when the test fails half-way."""
    worker = Worker()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def links_to_live_server(settings, live_server):
    """E-mails link to the live server, so the invitation link opens in the browser."""
    settings.BASE_URL = live_server.url


@pytest.fixture
def verifier(owner):
    """A second compliance officer: the four eyes that check the newcomer's work."""
    return MembershipFactory(
        organisation=owner.organisation,
        role=Role.COMPLIANCE_OFFICER,
        user__email="kenji.ito@acme.example",
        user__full_name="Kenji Ito",
    )


def invitation_link() -> str:
    assert len(mail.outbox) == 1, [m.subject for m in mail.outbox]
    message = mail.outbox[0]
    assert message.to == [NEWCOMER_EMAIL]
    match = re.search(r"https?://\S+/invitations/\S+", message.body)
    assert match, message.body
    return match.group(0)


def test_it_walks_the_compliance_journey(
    new_page,
    screenshot,
    compiled_messages,
    links_to_live_server,
    worker,
    committed_catalogue,
    owner,
    verifier,
):
    org = owner.organisation

    def snap(page, name: str) -> None:
        screenshot(page, f"journey-{name}")

    # 1. The admin invites a compliance officer from the Members page.
    admin = new_page()
    log_in(admin, owner.user.email, PASSWORD)
    go(admin, "Settings", "Members")
    send = admin.get_by_role("button", name="Send invitation")
    invite = admin.locator("form").filter(has=send)
    field(invite, "E-mail address").fill(NEWCOMER_EMAIL)
    field(invite, "Role").select_option(label="Compliance officer")
    click_and_wait(admin, send)
    expect(admin.get_by_role("status")).to_contain_text(f"Invitation sent to {NEWCOMER_EMAIL}")
    pending = admin.get_by_role("table", name="Pending invitations")
    expect(pending).to_contain_text(NEWCOMER_EMAIL)
    snap(admin, "01-members")

    # The newcomer opens the link from the e-mail in a browser of their own.
    page = new_page()
    page.goto(invitation_link())
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Join {org.name}")
    field(page, "Full name").fill(NEWCOMER_NAME)
    field(page, "Password").fill(NEWCOMER_PASSWORD)
    field(page, "Password again").fill(NEWCOMER_PASSWORD)
    snap(page, "02-invitation")
    click_and_wait(page, page.get_by_role("button", name="Accept the invitation"))
    expect(page.get_by_role("status")).to_contain_text(f"Welcome to {org.name}")
    # Out and in again with the new password.
    page.get_by_role("navigation", name="Account").get_by_text(NEWCOMER_NAME).click()
    click_and_wait(page, page.get_by_role("button", name="Log out"))
    log_in(page, NEWCOMER_EMAIL, NEWCOMER_PASSWORD)
    go(page, "Dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text("Compliance dashboard")
    snap(page, "03-dashboard-empty")

    # 2. They register the hiring tool through the questionnaire.
    go(page, "Systems")
    expect(page.get_by_role("heading", level=1)).to_have_text("AI systems")
    snap(page, "03-systems-empty")
    click_and_wait(page, page.get_by_role("link", name="Register a system").first)
    expect(page.get_by_role("heading", level=1)).to_have_text("Register an AI system")
    field(page, "Name").fill(SYSTEM_NAME)
    field(page, "Description").fill("Ranks job applications for the recruiters.")
    field(page, "Intended purpose").fill("Shortlist applicants for interviews.")
    field(page, "Owner").select_option(label=f"{NEWCOMER_NAME} <{NEWCOMER_EMAIL}>")
    answer_questionnaire(page, compiled(committed_catalogue), HIRING_TOOL_ANSWERS)
    snap(page, "04-questionnaire")
    click_and_wait(page, page.get_by_role("button", name="Register", exact=True))
    expect(page.get_by_role("heading", level=1)).to_have_text(SYSTEM_NAME)

    # 3. Assess now: the request only queues the run; the real worker does it while the page
    # follows it and swaps in the result.
    system_url = page.url
    with tasks_sent_to(worker.queue):
        click_and_wait(page, page.get_by_role("button", name="Assess now"))
    assessment_url = page.url
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Assessment of {SYSTEM_NAME}")
    classification = page.get_by_role("region", name="Classification")
    expect(classification).to_be_visible(timeout=WORKER_TIMEOUT_MS)
    assert page.url == assessment_url  # progress.js swapped the result in; no navigation
    snap(page, "05-assessment")
    assessment = Assessment.objects.get(system__name=SYSTEM_NAME)
    assert (assessment.status, assessment.attempts) == ("completed", 1)
    log = worker.stop()  # its work is done; everything after runs inline again
    assert re.search(r"run_assessment\[[^]]+\] succeeded", log), log[-3000:]

    # 4. The classification, its citations and the rules behind it.
    result = evaluate(compiled(committed_catalogue), HIRING_TOOL_ANSWERS)
    assert result.eu_tier == "high_risk"
    expect(classification.get_by_text("High-risk", exact=True).first).to_be_visible()
    for hit in result.labels:
        expect(classification.get_by_text(hit.citation, exact=True).first).to_be_visible()
    fired = next(step for step in result.trail if step.kind == "rule" and step.fired)
    rule_row = classification.get_by_role("row").filter(has_text=fired.code).first
    expect(rule_row).to_be_hidden()
    classification.get_by_text("Why: every classification rule, checked").click()
    expect(rule_row).to_be_visible()
    expect(rule_row).to_contain_text("applies")
    expect(rule_row).to_contain_text(fired.citation)
    snap(page, "06-assessment-why")

    click_and_wait(page, page.get_by_role("link", name=SYSTEM_NAME, exact=True).first)
    assert page.url == system_url
    panel = page.get_by_role("region", name="Assessment", exact=True)
    expect(panel.get_by_text("High-risk", exact=True)).to_be_visible()
    expect(panel).to_contain_text("High-risk use (Annex III)")
    expect(page.get_by_text(re.compile(r"^Art\. \d+")).first).to_be_visible()
    snap(page, "07-system")
    click_and_wait(page, panel.get_by_role("link", name=pattern("Assessment of %(when)s")))
    assert page.url == assessment_url

    # 5. They review two findings: one met, one not met, each with a note.
    back = page.get_by_role("link", name=f"Assessment of {SYSTEM_NAME}")
    review_finding(page, "EU-AIA-ART4", "Met", "Every recruiter finished the AI literacy course.")
    snap(page, "08-finding")
    click_and_wait(page, back)
    review_finding(
        page, "EU-AIA-ART86", "Not met", "No explanation letter for rejected applicants."
    )
    click_and_wait(page, back)
    assert page.url == assessment_url
    expect(finding_row(page, "EU-AIA-ART4")).to_contain_text("Met")
    expect(finding_row(page, "EU-AIA-ART86")).to_contain_text("Not met")
    reviewed = dict(assessment.findings.values_list("obligation_code", "status"))
    assert (reviewed["EU-AIA-ART4"], reviewed["EU-AIA-ART86"]) == ("met", "not_met")
    snap(page, "09-findings")

    # 6. One action closes two gaps; the newcomer does the work, the verifier checks it.
    page.get_by_role("checkbox", name="Include EU-AIA-ART86 in a new action").check()
    page.get_by_role("checkbox", name="Include EU-AIA-ART26 in a new action").check()
    click_and_wait(
        page, page.get_by_role("button", name="Create one action for the selected findings")
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Open a remediation action")
    expect(page.get_by_role("heading", name="For these 2 findings")).to_be_visible()
    field(page, "Title").fill(ACTION_TITLE)
    field(page, "Owner").select_option(label=f"{NEWCOMER_NAME} <{NEWCOMER_EMAIL}>")
    field(page, "Due").fill("2027-06-30")
    click_and_wait(page, page.get_by_role("button", name="Open the action"))
    expect(page.get_by_role("status")).to_contain_text("Action opened.")
    expect(page.get_by_role("heading", level=1)).to_have_text(ACTION_TITLE)
    action_url = page.url
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(NEWCOMER_NAME)
    expect(facts).to_contain_text("30 Jun 2027")
    click_and_wait(page, page.get_by_role("button", name="Start work"))
    expect(action_status(page)).to_have_text("In progress")
    click_and_wait(page, page.get_by_role("button", name="Mark done"))
    expect(action_status(page)).to_have_text("Done")
    # Four eyes: whoever did the work cannot verify it.
    expect(page.get_by_role("button", name="Verify")).to_have_count(0)
    snap(page, "10-action-done")
    go(page, ("navigation", "Remediation"))
    expect(page.get_by_role("link", name=ACTION_TITLE)).to_be_visible()
    snap(page, "11-action-board")

    checker = new_page()
    log_in(checker, verifier.user.email, PASSWORD)
    go(checker, ("navigation", "Remediation"))
    click_and_wait(checker, checker.get_by_role("link", name=ACTION_TITLE))
    checker.get_by_label(re.compile(r"^Note")).fill("Checked the template letter; it is in use.")
    click_and_wait(checker, checker.get_by_role("button", name="Verify"))
    expect(action_status(checker)).to_have_text("Verified")
    expect(checker.locator("dl.facts")).to_contain_text(verifier.user.email)
    gaps = checker.get_by_role("region", name="Gaps it closes")
    expect(gaps.get_by_role("row").filter(has_text="EU-AIA-ART86")).to_contain_text("Met")
    snap(checker, "12-action-verified")
    page.goto(action_url)
    expect(action_status(page)).to_have_text("Verified")

    # The admin's settings and the catalogue, for the record.
    go(admin, "Settings", "General")
    expect(admin.get_by_role("heading", level=1)).to_have_text("Organisation settings")
    snap(admin, "13-settings")
    go(checker, "Catalogue")
    snap(checker, "14-catalogue")

    # 7. The newcomer switches to Japanese in the footer; the pages follow.
    page.get_by_role("combobox", name="Language").select_option(label="日本語")
    click_and_wait(page, page.get_by_role("button", name="Switch"))
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=2, name=ja("Gaps it closes"))).to_be_visible()
    snap(page, "ja-action")
    with translation.override("ja"):
        go(page, "Dashboard")
        expect(page.get_by_role("heading", level=1)).to_have_text(ja("Compliance dashboard"))
        snap(page, "ja-dashboard")
        go(page, "Systems")
        expect(page.get_by_role("heading", level=1)).to_have_text(ja("AI systems"))
        snap(page, "ja-systems")
        click_and_wait(page, page.get_by_role("link", name=SYSTEM_NAME))
        expect(page.get_by_role("heading", name=ja("Registry entry"))).to_be_visible()
        panel = page.get_by_role("region", name=ja("Assessment"), exact=True)
        expect(panel.get_by_text(ja("High-risk"), exact=True)).to_be_visible()
        snap(page, "ja-system")
        when = pattern(ja("Assessment of %(when)s"))
        click_and_wait(page, panel.get_by_role("link", name=when))
        assert page.url == assessment_url
        heading = ja("Assessment of %(name)s") % {"name": SYSTEM_NAME}
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.get_by_role("heading", name=ja("Classification"))).to_be_visible()
        expect(page.get_by_text(ja("High-risk"), exact=True).first).to_be_visible()
        snap(page, "ja-assessment")

        # 8. The PDF report of the assessment.
        click_and_wait(page, page.get_by_role("link", name=ja("Report"), exact=True))
        snap(page, "ja-report")
        with page.expect_download() as download_info:
            page.get_by_role("link", name=ja("Download PDF")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    response = page.request.get(
        page.get_by_role("link", name=ja("Download PDF")).get_attribute("href")
    )
    assert response.ok
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")


def finding_row(page, code: str):
    link = page.get_by_role("link", name=re.compile(rf"^{code} "))
    return page.get_by_role("row").filter(has=link)


def review_finding(page, code: str, status: str, note: str) -> None:
    click_and_wait(page, page.get_by_role("link", name=re.compile(rf"^{code} ")))
    expect(page.get_by_role("heading", level=1)).to_contain_text(code)
    review = page.get_by_role("region", name="Review")
    field(review, "Status").select_option(label=status)
    field(review, "Notes").fill(note)
    click_and_wait(page, review.get_by_role("button", name="Save"))
    expect(page.get_by_role("status")).to_contain_text("Finding updated.")
    # What was saved is what the page shows after the reload.
    expect(field(review, "Status").locator("option:checked")).to_have_text(status)
    expect(field(review, "Notes")).to_have_value(note)


def action_status(page):
    """The action's status badge, the first one under its title."""
    return page.get_by_role("heading", level=1).locator(
        "xpath=following::span[contains(@class,'badge')][1]"
    )
