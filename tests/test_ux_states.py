"""Pages that teach: empty states, errors next to their fields, and a confirmation before every
destructive change (the GET shows what will happen and changes nothing; the POST does it)."""

import re

import pytest
from django.urls import reverse

from assessments.integrations import tickets
from assessments.models import (
    ActionEvidence,
    Evidence,
    TicketingConnection,
    WebhookEndpoint,
)
from governance import apikeys
from governance.models import AISystem, ApiKey, Invitation, Membership, Role
from tests.conftest import client_for
from tests.factories import (
    ActionEvidenceFactory,
    AISystemFactory,
    EvidenceFactory,
    FindingFactory,
    InvitationFactory,
    MembershipFactory,
    RemediationActionFactory,
    WebhookEndpointFactory,
)

pytestmark = pytest.mark.django_db


def url(name: str, org, **kwargs) -> str:
    return reverse(name, kwargs={"org_code": org.code, **kwargs})


def text(response) -> str:
    """The page's text, tags dropped and white space folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def links_to(response, href: str) -> bool:
    return f'href="{href}"' in response.content.decode()


@pytest.fixture
def viewer(org):
    return MembershipFactory(organisation=org, role=Role.VIEWER)


# --- Empty states --------------------------------------------------------------------------

EMPTY = [
    # (page, what it says, where it sends an admin)
    ("system_list", "No systems yet — register one.", "system_create"),
    ("assessment_list", "No assessment yet.", "system_list"),
    ("finding_list", "No findings yet.", "system_list"),
    ("dashboard", "No findings yet.", "system_list"),
    ("action_list", "No remediation actions yet.", "assessment_list"),
    ("notification_list", "No notifications yet.", "notification_preferences"),
    ("webhook_list", "No webhook endpoints yet.", "webhook_create"),
    ("api_key_list", "No API keys yet.", None),
    ("ticketing_settings", "Not connected.", None),
]


@pytest.mark.parametrize(("name", "says", "target"), EMPTY, ids=[e[0] for e in EMPTY])
def test_it_teaches_on_the_empty_pages_of_a_new_organisation(
    real_catalogue, owner, name, says, target
):
    response = client_for(owner).get(url(name, owner.organisation))

    assert response.status_code == 200
    assert 'class="empty-state"' in response.content.decode()
    assert says in text(response)
    if target == "notification_preferences":
        assert links_to(response, reverse(target))
    elif target:
        assert links_to(response, url(target, owner.organisation))


def test_it_offers_registration_to_an_editor_only(real_catalogue, owner, viewer):
    org = owner.organisation
    editor_page = client_for(owner).get(url("system_list", org))
    viewer_page = client_for(viewer).get(url("system_list", org))

    assert links_to(editor_page, url("system_create", org))
    assert "No systems yet" in text(viewer_page)
    assert not links_to(viewer_page, url("system_create", org))
    assert "Ask a colleague who can edit" in text(viewer_page)


FILTERED = [
    ("system_list", {"q": "nothing like it"}, "No systems match these filters."),
    ("assessment_list", {"status": "failed"}, "No assessment matches these filters."),
    ("finding_list", {"status": "met"}, "No current finding matches these filters."),
    ("action_list", {"status": "all", "due": "overdue"}, "No action matches these filters."),
    ("audit_log", {"action": "delete"}, "No changes match these filters."),
]


@pytest.mark.parametrize(("name", "params", "says"), FILTERED, ids=[f[0] for f in FILTERED])
def test_it_says_when_filters_match_nothing_and_how_to_clear_them(
    real_catalogue, owner, name, params, says
):
    org = owner.organisation
    system = AISystemFactory(organisation=org, name="Hiring screener")
    finding = FindingFactory(assessment__system=system, status="open")
    RemediationActionFactory(system=system, findings=[finding])

    response = client_for(owner).get(url(name, org), params)

    assert response.status_code == 200
    assert says in text(response)
    assert links_to(response, url(name, org))


# --- Errors next to their fields -----------------------------------------------------------


def tag(html: str, element_id: str) -> str:
    match = re.search(rf'<[a-z]+\b[^>]*\bid="{re.escape(element_id)}"[^>]*>', html)
    assert match, f"no element #{element_id}"
    return match.group(0)


def attribute(start_tag: str, name: str) -> str | None:
    match = re.search(rf'\b{name}="([^"]*)"', start_tag)
    return match.group(1) if match else None


def field_block(html: str, element_id: str) -> str:
    """The `.field` wrapper around the element with this id."""
    position = html.index(f'id="{element_id}"')
    start = html.rindex('<div class="field', 0, position)
    end = html.find('<div class="field', position)
    return html[start : end if end != -1 else len(html)]


def assert_error_beside(html: str, input_id: str, message: str) -> None:
    described = attribute(tag(html, input_id), "aria-describedby") or ""
    assert attribute(tag(html, input_id), "aria-invalid") == "true"
    error_id = f"{input_id}_error"
    assert error_id in described.split(), described
    block = field_block(html, input_id)
    assert f'id="{error_id}"' in block
    error = block[block.index(f'id="{error_id}"') :]
    assert message in error[: error.index("</ul>")]


def test_it_puts_a_form_error_beside_its_field_and_changes_nothing(owner, org):
    before = Invitation.objects.count()

    response = client_for(owner).post(
        url("member_list", org), {"email": "not an address", "role": Role.CONTRIBUTOR}
    )

    assert response.status_code == 400
    assert_error_beside(response.content.decode(), "id_email", "Enter a valid email address.")
    assert Invitation.objects.count() == before


def test_it_puts_a_service_error_beside_its_field(owner, member, org):
    response = client_for(owner).post(
        url("member_list", org), {"email": member.user.email, "role": Role.CONTRIBUTOR}
    )

    assert response.status_code == 400
    assert_error_beside(response.content.decode(), "id_email", "This person is already a member.")


def test_it_puts_errors_of_the_whole_form_at_its_top_as_an_alert(owner, client):
    response = client.post(
        reverse("login"), {"username": owner.user.email, "password": "not the password"}
    )

    html = response.content.decode()
    form = html[html.index("<main") :]
    alert = form.index('class="form-errors" role="alert"')
    assert alert < form.index('class="field')
    assert "correct" in form[alert : form.index('class="field')]


def test_it_marks_the_questionnaire_answers_it_cannot_save(real_catalogue, owner, org):
    response = client_for(owner).post(url("system_create", org), {"name": ""})

    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html
    assert_error_beside(html, "id_name", "This field is required.")
    # Each answer left invalid is marked, and described by its error: a choice of several
    # through the fieldset that groups them, any other input through its own attribute.
    invalid = list(re.finditer(r'<(?:input|select|textarea)\b[^>]*aria-invalid="true"[^>]*>', html))
    assert any('name="q_' in m.group(0) for m in invalid)
    for match in invalid:
        described = attribute(match.group(0), "aria-describedby")
        if described is None:
            fieldset = html[: match.start()].rindex("<fieldset")
            described = attribute(
                html[fieldset : html.index(">", fieldset) + 1], "aria-describedby"
            )
        errors = [r for r in described.split() if r.endswith("_error")]
        assert errors, match.group(0)
        for reference in errors:
            assert f'id="{reference}"' in html, reference
    assert not AISystem.objects.filter(organisation=org).exists()


def test_it_puts_a_filter_error_beside_the_filter(owner, org):
    response = client_for(owner).get(url("action_list", org), {"due": "someday"})

    html = response.content.decode()
    start_tag = tag(html, "id_due")
    assert attribute(start_tag, "aria-invalid") == "true"
    assert attribute(start_tag, "aria-describedby") == "id_due_error"
    beside = html[html.index(start_tag) :]
    assert beside.index('id="id_due_error"') < beside.index("</span>") + 200
    assert "Select a valid choice." in text(response)


# --- Confirmations -------------------------------------------------------------------------


@pytest.fixture
def targets(real_catalogue, owner, org, settings):
    """One object for each destructive action, and the page that asks before it."""
    settings.OUTBOUND_ALLOW_PRIVATE = True  # the Jira address below is on the loopback
    system = AISystemFactory(organisation=org, name="Hiring screener")
    gone = MembershipFactory(organisation=org, role=Role.CONTRIBUTOR)
    invitation = InvitationFactory(organisation=org, invited_by=owner.user)
    key, _token = apikeys.api_key_create(actor=owner, name="CI", scope="read")
    endpoint = WebhookEndpointFactory(organisation=org)
    connection, _ = tickets.connection_save(
        actor=owner,
        system="jira",
        base_url="http://127.0.0.1:9",
        username="bot@acme.example",
        token="secret-token",
        project_key="COMP",
    )
    finding = FindingFactory(assessment__system=system)
    evidence = EvidenceFactory(finding=finding)
    attachment = ActionEvidenceFactory(action=RemediationActionFactory(system=system))
    return {
        "system_archive": url("system_archive", org, system_code=system.code),
        "member_remove": url("member_remove", org, member_code=gone.code),
        "invitation_revoke": url("invitation_revoke", org, invitation_code=invitation.code),
        "api_key_revoke": url("api_key_revoke", org, key_code=key.code),
        "webhook_delete": url("webhook_delete", org, webhook_code=endpoint.code),
        "webhook_rotate": url("webhook_rotate", org, webhook_code=endpoint.code),
        "ticketing_delete": url("ticketing_delete", org, system=connection.system),
        "ticketing_rotate": url("ticketing_rotate", org, system=connection.system),
        "evidence_remove": url("evidence_remove", org, evidence_code=evidence.code),
        "action_evidence_delete": url(
            "action_evidence_delete", org, attachment_code=attachment.code
        ),
    }


def world() -> tuple:
    return (
        list(AISystem.objects.values_list("archived_at", flat=True)),
        Membership.objects.count(),
        list(Invitation.objects.values_list("revoked_at", flat=True)),
        list(ApiKey.objects.values_list("revoked_at", flat=True)),
        list(WebhookEndpoint.objects.values_list("secret", "previous_secret")),
        list(TicketingConnection.objects.values_list("inbound_secret", flat=True)),
        Evidence.objects.count(),
        ActionEvidence.objects.count(),
    )


def test_it_asks_before_every_destructive_action_and_changes_nothing(owner, targets):
    client = client_for(owner)
    before = world()

    for name, address in targets.items():
        response = client.get(address)
        assert response.status_code == 200, name
        html = response.content.decode()
        main = html[html.index("<main") :]
        assert re.search(r'<form method="post"(?: action="[^"]*")?>', main), name
        assert re.search(r'<button type="submit" class="(?:danger|primary)">', main), name
        assert "<h1>" in main, name

    assert world() == before


def test_it_does_the_destructive_action_on_post(owner, targets):
    client = client_for(owner)
    for name in ("invitation_revoke", "evidence_remove", "ticketing_delete"):
        assert client.post(targets[name]).status_code == 302, name

    assert Invitation.objects.filter(revoked_at__isnull=True).count() == 0
    assert Evidence.objects.count() == 0
    assert TicketingConnection.objects.count() == 0


def test_it_hides_the_confirmation_pages_from_an_outsider(outsider, targets):
    client = client_for(outsider)
    before = world()

    for name, address in targets.items():
        assert client.get(address).status_code == 404, name

    assert world() == before


def test_it_shows_the_confirmation_pages_to_admins_only(member, targets):
    client = client_for(member)
    for name in ("invitation_revoke", "api_key_revoke", "ticketing_delete", "ticketing_rotate"):
        assert client.get(targets[name]).status_code == 403, name
