"""The strict content security policy in a real browser: the pages whose scripts do most (Swagger
UI, the questionnaire, the action list) work, and Chromium reports no violation — `new_page`
fails any test whose pages it reported one for, so every browser test checks the policy too.
"""

from django.urls import reverse

from tests.factories import PASSWORD

from .conftest import log_in


def test_it_runs_swagger_ui_under_the_policy_from_the_app_alone(new_page, transactional_db):
    page = new_page()
    page.goto(reverse("api_docs"))
    title = page.locator(".swagger-ui .info .title")
    title.wait_for()
    assert "Kakehashi API" in title.inner_text()
    operations = page.locator(".opblock")
    operations.first.wait_for()
    assert operations.count() > 10
    # Opening an operation renders its parameters and its responses' example bodies.
    operations.first.locator(".opblock-summary").click()
    page.locator(".opblock-body").first.wait_for()
    page.get_by_role("button", name="Authorize").first.click()
    page.locator(".modal-ux").wait_for()


def test_it_runs_the_app_scripts_under_the_policy(new_page, committed_catalogue, owner):
    page = new_page()
    log_in(page, owner.user.email, PASSWORD)
    org = {"org_code": owner.organisation.code}
    page.goto(reverse("system_create", kwargs=org))
    # The questionnaire (questionnaire.js), the actions (actions.js) and the dashboard.
    page.locator("main form").first.wait_for()
    for name in ("action_list", "dashboard", "deadlines"):
        page.goto(reverse(name, kwargs=org))
        page.locator("main").wait_for()
