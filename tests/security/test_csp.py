"""Every HTML page works under the strict content security policy (config/settings.py): no inline
script, no inline style, no event-handler attribute, no javascript: URL — and carries the policy
and the other security headers.

The pages are found by walking the URL configuration, not listed by hand: every route whose
parameters a small organisation (a system, an assessment with findings, an action, a webhook
with a delivery, a key, a member, an invitation, a ticketing connection) can fill is requested
by its admin with GET, plus every model of the admin site (list, add, change, history). A new
page is checked the day it is added. The API docs (Swagger UI) are among them.
"""

import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from governance.models import Role

from ..conftest import login_verified
from ..factories import (
    ActionEvidenceFactory,
    AISystemFactory,
    ApiKeyFactory,
    AssessmentBatchFactory,
    EvidenceFactory,
    InvitationFactory,
    MembershipFactory,
    NotificationFactory,
    RemediationActionFactory,
    TicketingConnectionFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
)
from .test_headers import assert_security_headers

# <script type=…> data blocks are not run by the browser, so CSP has nothing to say about them.
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json", "text/template"}


class InlineFinder(HTMLParser):
    """Collects what a strict policy would block in one HTML document."""

    def __init__(self, nonce: str | None):
        super().__init__(convert_charrefs=True)
        self.nonce = nonce
        self.problems: list[str] = []
        self._open_script: str | None = None
        self._script_body: list[str] = []

    def _nonced(self, attrs: dict) -> bool:
        return bool(self.nonce) and attrs.get("nonce") == self.nonce

    def handle_starttag(self, tag, attr_list):
        attrs = {name: value or "" for name, value in attr_list}
        where = f"<{tag} {' '.join(f'{k}={v!r}' for k, v in attrs.items())}>"[:160]
        if "style" in attrs:
            self.problems.append(f"style attribute: {where}")
        for name in attrs:
            if name.startswith("on"):
                self.problems.append(f"event-handler attribute {name}: {where}")
        for name in ("href", "src", "action", "formaction"):
            if attrs.get(name, "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL: {where}")
        if tag == "style" and not self._nonced(attrs):
            self.problems.append(f"inline <style>: {where}")
        if tag == "script":
            kind = attrs.get("type", "").lower()
            if not attrs.get("src") and kind not in DATA_SCRIPT_TYPES and not self._nonced(attrs):
                self._open_script = where
                self._script_body = []

    def handle_data(self, data):
        if self._open_script is not None:
            self._script_body.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._open_script is not None:
            body = "".join(self._script_body).strip()
            self.problems.append(f"inline <script>: {self._open_script} {body[:80]!r}")
            self._open_script = None


def nonce_of(policy: str) -> str | None:
    match = re.search(r"'nonce-([^']+)'", policy)
    return match.group(1) if match else None


def inline_problems(html: str, policy: str = "") -> list[str]:
    finder = InlineFinder(nonce_of(policy))
    finder.feed(html)
    finder.close()
    return finder.problems


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        '<script type="module">import x from "/x.js"</script>',
        '<p style="color: red">x</p>',
        "<style>p { color: red }</style>",
        '<button onclick="go()">Go</button>',
        '<a href="javascript:go()">Go</a>',
        '<script nonce="wrong">alert(1)</script>',
    ],
)
def test_it_recognises_what_the_policy_blocks(html):
    assert inline_problems(html, "script-src 'self' 'nonce-right'")


def test_it_lets_files_data_blocks_and_nonced_elements_through():
    html = """
      <script src="/static/js/actions.js" defer></script>
      <script id="data" type="application/json">{"a": 1}</script>
      <script nonce="right">start()</script>
      <link rel="stylesheet" href="/static/css/kakehashi.css">
      <p class="stylish" data-onclick="x">Text about style="…" and onclick</p>
    """
    assert inline_problems(html, "script-src 'self' 'nonce-right'") == []


# --- the walk -----------------------------------------------------------------------------------


def routes(patterns=None, prefix=""):
    """(name, parameter names) of every named route outside the admin site."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if getattr(pattern, "app_name", None) == "admin":
                continue
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield pattern.name, re.findall(r"<(?:\w+:)?(\w+)>", prefix + str(pattern.pattern))


@pytest.fixture
def world(real_catalogue, owner, assess):
    """An organisation with one of everything its pages show; its admin is also staff."""
    org = owner.organisation
    user = owner.user
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    system = AISystemFactory(organisation=org, owner=user, name="Hiring assistant")
    assessment = assess(system, owner)
    finding = assessment.findings.order_by("pk").first()
    assert finding is not None
    action = RemediationActionFactory(system=system, findings=[finding])
    webhook = WebhookEndpointFactory(organisation=org)
    delivery = WebhookDeliveryFactory(endpoint=webhook)
    other = MembershipFactory(organisation=org, role=Role.VIEWER)
    NotificationFactory(organisation=org, recipient=user)
    TicketingConnectionFactory(organisation=org, system="jira")
    params = {
        "org_code": org.code,
        "system_code": system.code,
        "assessment_code": assessment.code,
        "finding_code": finding.code,
        "action_code": action.code,
        "batch_code": AssessmentBatchFactory(organisation=org).code,
        "evidence_code": EvidenceFactory(finding=finding).code,
        "attachment_code": ActionEvidenceFactory(action=action).code,
        "webhook_code": webhook.code,
        "delivery_code": delivery.code,
        "key_code": ApiKeyFactory(organisation=org, created_by=user).code,
        "member_code": other.code,
        "invitation_code": InvitationFactory(organisation=org, invited_by=user).code,
        "release_code": real_catalogue.code,
        "system": "jira",
    }
    return {"params": params, "owner": owner}


def admin_paths() -> list[str]:
    paths = []
    for model in admin.site._registry:
        opts = model._meta
        base = f"admin:{opts.app_label}_{opts.model_name}"
        paths += [reverse(f"{base}_changelist"), reverse(f"{base}_add")]
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            paths += [
                reverse(f"{base}_change", args=[first.pk]),
                reverse(f"{base}_history", args=[first.pk]),
            ]
    return [reverse("admin:index"), *paths]


def site_paths(params: dict) -> list[str]:
    paths = []
    slugs = {
        "catalogue_regulation": "EU-AIA",
        "catalogue_obligation": "EU-AIA-ART9",
        "api_catalogue_obligation": "EU-AIA-ART9",
    }
    for name, names in routes():
        kwargs = {}
        for param in names:
            if param == "code" and name in slugs:
                kwargs[param] = slugs[name]
            elif param in params:
                kwargs[param] = params[param]
        if len(kwargs) == len(names):
            paths.append(reverse(name, kwargs=kwargs))
    return sorted(set(paths))


def check_page(client: Client, path: str, checked: dict, problems: list) -> None:
    response = client.get(path)
    # Redirects, 405s of POST-only views and downloads have no page to check; error pages do.
    is_html = response.get("Content-Type", "").startswith("text/html")
    if response.status_code in (301, 302, 405) or not is_html:
        return
    body = b"".join(response.streaming_content) if response.streaming else response.content
    try:
        assert_security_headers(response)
    except AssertionError as exc:
        problems.append(f"{path}: {exc}")
    for problem in inline_problems(body.decode(), response.get("Content-Security-Policy", "")):
        problems.append(f"{path}: {problem}")
    checked[path] = response


def test_it_serves_every_page_without_inline_script_or_style(world):
    client = login_verified(Client(), world["owner"].user)
    checked: dict = {}
    problems: list[str] = []
    for path in site_paths(world["params"]) + admin_paths():
        check_page(client, path, checked, problems)
    assert not problems, "\n".join(problems)

    # The walk reached the pages that matter, logged in (a login redirect would check nothing).
    params = world["params"]
    org = {"org_code": params["org_code"]}
    must = [
        reverse("dashboard", kwargs=org),
        reverse("system_detail", kwargs={**org, "system_code": params["system_code"]}),
        reverse("assessment_detail", kwargs={**org, "assessment_code": params["assessment_code"]}),
        reverse("assessment_report", kwargs={**org, "assessment_code": params["assessment_code"]}),
        reverse("finding_detail", kwargs={**org, "finding_code": params["finding_code"]}),
        reverse("action_detail", kwargs={**org, "action_code": params["action_code"]}),
        reverse("action_list", kwargs=org),
        reverse("webhook_edit", kwargs={**org, "webhook_code": params["webhook_code"]}),
        reverse("ticketing_settings", kwargs=org),
        reverse("api_key_list", kwargs=org),
        reverse("audit_log", kwargs=org),
        reverse("deadlines", kwargs=org),
        reverse("catalogue_crosswalk"),
        reverse("profile"),
        reverse("api_docs"),
        reverse("admin:index"),
        reverse("admin:governance_obligation_changelist"),
        reverse("admin:governance_user_add"),
    ]
    missing = [path for path in must if getattr(checked.get(path), "status_code", 0) != 200]
    assert not missing, f"not checked as a 200 page: {missing}"
    assert len(checked) >= 80, sorted(checked)


def test_it_serves_the_logged_out_and_error_pages_without_inline_script_or_style(client, db):
    checked: dict = {}
    problems: list[str] = []
    for path in [
        reverse("login"),
        reverse("password_reset"),
        reverse("password_reset_done"),
        reverse("invitation_accept", kwargs={"token": "no-such-invitation"}),
    ]:
        check_page(client, path, checked, problems)
    assert not problems, "\n".join(problems)
    assert len(checked) == 4, sorted(checked)

    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert_security_headers(missing)
    assert inline_problems(missing.content.decode()) == []


def test_it_serves_the_500_page_with_the_headers_and_without_inline_script(client, settings):
    settings.ROOT_URLCONF = "tests.security.boom_urls"
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500
    assert_security_headers(response)
    assert inline_problems(response.content.decode()) == []


def test_it_serves_swagger_ui_with_its_start_up_script_as_a_file(client, db):
    page = client.get(reverse("api_docs"))
    assert page.status_code == 200
    html = page.content.decode()
    assert inline_problems(html, page["Content-Security-Policy"]) == []
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in src for src in scripts)
    assert scripts[-1].startswith(reverse("api_docs")) and "script" in scripts[-1]
    # The sidecar's files, from this origin: the docs work offline.
    assert all(src.startswith("/") and not src.startswith("//") for src in scripts)
    assert "img-src 'self' data:" in page["Content-Security-Policy"]

    start = client.get(scripts[-1].replace("&amp;", "&"))
    assert start.status_code == 200
    assert start["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in start.content.decode()
    assert reverse("api_schema") in start.content.decode()
