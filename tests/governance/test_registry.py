"""The AI system registry pages: the questionnaire, editing and versions, history, archive,
the list with its search and filters, and who may do what."""

import json
import re

import pytest
from django.utils import translation

from assessments.engine.release import compile_release
from governance import registry
from governance.models import AISystem, AISystemVersion, AuditEvent, Role
from governance.registry_forms import QuestionnaireForm

from ..conftest import client_for
from ..factories import (
    HIRING_TOOL_ANSWERS,
    JAPAN_CHATBOT_ANSWERS,
    AISystemFactory,
    MembershipFactory,
    OrganisationFactory,
)

pytestmark = pytest.mark.usefixtures("real_catalogue")


def systems_url(org, suffix=""):
    return f"/o/{org.code}/systems/{suffix}"


def system_url(system, suffix=""):
    return f"/o/{system.organisation.code}/systems/{system.code}/{suffix}"


def form_data(answers, **fields):
    """What a browser posts for these registry fields and answers."""
    data = {
        "name": "Hiring assistant",
        "description": "Ranks job applications.",
        "intended_purpose": "Shortlisting candidates.",
        "owner": "",
        "business_unit": "People",
        "lifecycle_stage": "production",
        "sourcing": "in_house",
        "vendor": "",
        "model_name": "",
        "model_version": "",
    }
    data.update(fields)
    for key, value in answers.items():
        if isinstance(value, bool):
            data[f"q_{key}"] = "yes" if value else "no"
        else:
            data[f"q_{key}"] = value
    return data


def question_html(response, key) -> str:
    """The part of the page that draws one question."""
    content = response.content.decode()
    match = re.search(
        rf'<(fieldset|div) class="question[^"]*" id="question-{key}".*?</\1>', content, re.S
    )
    assert match, f"no question {key} on the page"
    return match.group(0)


def register(org, membership, answers=HIRING_TOOL_ANSWERS, **fields):
    """A system registered as form_data() would register it."""
    defaults = form_data({})
    del defaults["owner"]
    fields = {**defaults, **fields}
    return registry.system_create(org=org, actor=membership.user, answers=answers, **fields)


# --- Registering --------------------------------------------------------------------------


def test_it_registers_a_system_through_the_questionnaire(owner_client, org, owner, member):
    data = form_data(HIRING_TOOL_ANSWERS, owner=member.user.email, vendor="Acme AI")
    response = owner_client.post(systems_url(org, "new/"), data)
    assert response.status_code == 302
    system = AISystem.objects.get(organisation=org)
    assert response["Location"] == system_url(system)
    assert (system.name, system.owner, system.vendor, system.version) == (
        "Hiring assistant",
        member.user,
        "Acme AI",
        1,
    )
    assert system.answers == HIRING_TOOL_ANSWERS
    assert system.markets == ["EU", "JP"]
    assert system.eu_roles == ["eu.provider", "eu.deployer"]
    assert system.jp_roles == ["jp.developer", "jp.business_user"]
    version = AISystemVersion.objects.get(system=system)
    assert (version.number, version.changed, version.changed_by) == (1, ["created"], owner.user)
    event = AuditEvent.objects.get(table="governance_aisystem", object_pk=str(system.pk))
    assert (event.action, event.actor_user_id, event.organisation_id) == (
        "insert",
        owner.user.pk,
        org.pk,
    )


def _missing_answer(data):
    del data["q_is_sme"]
    return "q_is_sme", "Answer this question."


def _not_a_choice(data):
    data["q_crime_risk_prediction"] = "perhaps"
    return "q_crime_risk_prediction", "perhaps"


def _not_a_boolean(data):
    data["q_social_scoring"] = "sometimes"
    return "q_social_scoring", "sometimes"


def _no_role(data):
    del data["q_eu_roles"]
    return "q_eu_roles", "Answer this question."


@pytest.mark.parametrize(
    "spoil", [_missing_answer, _not_a_choice, _not_a_boolean, _no_role], ids=lambda f: f.__name__
)
def test_it_refuses_a_bad_answer_next_to_its_question_and_writes_nothing(owner_client, org, spoil):
    data = form_data(HIRING_TOOL_ANSWERS)
    field, message = spoil(data)
    events = AuditEvent.objects.count()
    response = owner_client.post(systems_url(org, "new/"), data)
    assert response.status_code == 400
    assert list(response.context["questions"].errors) == [field]
    html = question_html(response, field.removeprefix("q_"))
    assert 'class="errorlist' in html
    assert message in html
    assert not AISystem.objects.exists()
    assert AuditEvent.objects.count() == events


def test_it_refuses_an_owner_from_outside_the_organisation(owner_client, org, outsider):
    data = form_data(HIRING_TOOL_ANSWERS, owner=outsider.user.email)
    response = owner_client.post(systems_url(org, "new/"), data)
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["owner"]
    assert re.search(r'field-invalid">.{0,400}id="id_owner"', response.content.decode(), re.S)
    assert not AISystem.objects.exists()


def test_it_refuses_a_second_active_system_of_the_same_name(owner_client, org, owner):
    register(org, owner, name="Hiring assistant")
    response = owner_client.post(
        systems_url(org, "new/"), form_data(HIRING_TOOL_ANSWERS, name="hiring ASSISTANT")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["name"] == [
        "Another active system is called “hiring ASSISTANT”."
    ]
    assert AISystem.objects.count() == 1


def test_it_refuses_a_rename_onto_another_active_system(owner_client, org, owner):
    register(org, owner, name="Hiring assistant")
    other = register(org, owner, name="Concierge bot", answers=JAPAN_CHATBOT_ANSWERS)
    response = owner_client.post(
        system_url(other, "edit/"), form_data(JAPAN_CHATBOT_ANSWERS, name="Hiring Assistant")
    )
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert b"<h1>Edit the system</h1>" in response.content
    other.refresh_from_db()
    assert (other.name, other.version) == ("Concierge bot", 1)


def test_it_asks_no_eu_questions_of_a_japan_only_system(owner_client, org):
    # Only the Japanese questions are answered: the EU ones are not asked, so not required.
    data = form_data(JAPAN_CHATBOT_ANSWERS, name="Concierge bot")
    # A browser without JavaScript also sends whatever was left in the hidden EU questions.
    data["q_crime_risk_prediction"] = "nonsense"
    data["q_eu_roles"] = ["provider"]
    response = owner_client.post(systems_url(org, "new/"), data)
    assert response.status_code == 302
    system = AISystem.objects.get(name="Concierge bot")
    assert system.answers == JAPAN_CHATBOT_ANSWERS
    assert system.eu_roles == []


def test_it_drops_eu_answers_when_the_markets_become_japan_only(owner_client, org, owner):
    system = register(org, owner)
    data = form_data({**HIRING_TOOL_ANSWERS, "markets": ["JP"]})  # the EU answers still posted
    response = owner_client.post(system_url(system, "edit/"), data)
    assert response.status_code == 302
    system.refresh_from_db()
    assert system.markets == ["JP"]
    assert "eu_roles" not in system.answers
    assert "social_scoring" not in system.answers
    assert system.eu_roles == []
    assert system.answers["jp_roles"] == ["developer", "business_user"]
    assert system.version == 2


def test_it_renders_the_questionnaire_with_help_citations_and_conditions(owner_client, org):
    page = owner_client.get(systems_url(org, "new/"))
    assert page.status_code == 200
    markets = question_html(page, "markets")
    assert "Where is the system offered or used" in markets
    assert "EU AI Act Art. 2(1); AI Promotion Act Art. 7" in markets  # the citation
    assert "The EU AI Act reaches providers and deployers outside the EU" in markets  # help
    assert "data-ask-when" not in markets  # always asked
    roles = question_html(page, "eu_roles")
    assert (
        'data-ask-when="{&quot;op&quot;: &quot;contains&quot;, &quot;key&quot;: &quot;markets&quot;'
        in roles
    )
    content = page.content.decode()
    assert '<script src="/static/js/questionnaire.js" defer></script>' in content
    assert "onclick" not in content and "style=" not in content
    # Sections, in order, with their headings.
    assert content.index("Scope and markets") < content.index("Prohibited practices")
    assert content.index("Prohibited practices") < content.index("Japan</h2>")


def test_it_renders_the_questionnaire_in_japanese(owner, org):
    owner.user.language = "ja"
    owner.user.save(update_fields=["language"])
    page = client_for(owner).get(systems_url(org, "new/"))
    markets = question_html(page, "markets")
    assert "このシステムはどこで提供・利用されていますか" in markets
    assert "欧州連合" in markets  # a choice's label
    assert "Where is the system offered" not in markets


def test_it_explains_when_no_catalogue_release_is_published(owner_client, org):
    AISystem.objects.all().delete()
    from governance.models import CatalogueRelease

    CatalogueRelease.objects.update(is_current=False)
    page = owner_client.get(systems_url(org, "new/"))
    assert page.status_code == 200
    assert b"No catalogue release yet" in page.content
    assert owner_client.post(systems_url(org, "new/"), form_data({})).status_code == 200
    assert not AISystem.objects.exists()
    assert owner_client.get(systems_url(org)).status_code == 200


# --- Editing and history --------------------------------------------------------------------


def test_it_prefills_the_edit_form(owner_client, org, owner, member):
    system = register(org, owner, owner=member.user)
    page = owner_client.get(system_url(system, "edit/"))
    assert page.status_code == 200
    assert f'<option value="{member.user.email}" selected>' in page.content.decode()
    assert 'value="yes" id="id_q_established_in_eu_0" checked' in page.content.decode()
    assert 'value="4a" id="id_q_annex3_use_cases_' in question_html(page, "annex3_use_cases")
    assert "checked" in re.search(r'<input[^>]*value="4a"[^>]*>', page.content.decode()).group(0)


def test_it_keeps_a_version_of_every_edit(owner_client, org, owner):
    system = register(org, owner)
    answers = {**HIRING_TOOL_ANSWERS, "social_scoring": True}
    response = owner_client.post(
        system_url(system, "edit/"), form_data(answers, name="Hiring assistant 2")
    )
    assert response.status_code == 302
    system.refresh_from_db()
    assert (system.version, system.name, system.answers["social_scoring"]) == (
        2,
        "Hiring assistant 2",
        True,
    )
    latest = AISystemVersion.objects.get(system=system, number=2)
    assert latest.changed == ["name", "answers"]
    assert latest.changed_by == owner.user
    assert latest.data["answers"]["social_scoring"] is True


def test_it_writes_no_version_when_nothing_changed(owner_client, org, owner):
    system = register(org, owner)
    events = AuditEvent.objects.count()
    response = owner_client.post(system_url(system, "edit/"), form_data(HIRING_TOOL_ANSWERS))
    assert response.status_code == 302
    system.refresh_from_db()
    assert system.version == 1
    assert AISystemVersion.objects.filter(system=system).count() == 1
    assert AuditEvent.objects.count() == events
    assert b"Nothing changed" in owner_client.get(system_url(system)).content


def test_it_shows_the_history_with_answers_diffed(owner_client, org, owner, member):
    system = register(org, owner)
    registry.system_update(
        system=system,
        actor=member.user,
        answers={**HIRING_TOOL_ANSWERS, "crime_risk_prediction": "supports_human_assessment"},
        business_unit="Talent",
    )
    page = owner_client.get(system_url(system, "history/"))
    assert page.status_code == 200
    entries = page.context["entries"]
    assert [e["version"].number for e in entries] == [2, 1]
    assert entries[0]["fields"] == [
        {"name": "business unit", "before": "People", "after": "Talent"}
    ]
    [change] = entries[0]["answers"]
    assert change["key"] == "crime_risk_prediction"
    assert change["citation"] == "EU AI Act Art. 5(1)(d)"
    content = page.content.decode()
    assert member.user.full_name in content
    assert "business unit, answers" in content
    assert f"<del>{change['before']}</del>" in content
    assert f"<ins>{change['after']}</ins>" in content


@pytest.mark.parametrize("edits", [2, 20])
def test_it_shows_the_history_in_constant_queries(
    member_client, org, owner, edits, django_assert_num_queries
):
    system = register(org, owner)
    for i in range(edits):
        system = registry.system_update(system=system, actor=owner.user, business_unit=f"U{i}")
    member_client.get(system_url(system, "history/"))  # compiles the release once per process
    # session, user, membership, system, count, page of versions, the one before the page,
    # organisation switcher, unread notifications
    with django_assert_num_queries(9):
        page = member_client.get(system_url(system, "history/"))
    assert len(page.context["entries"]) == edits + 1


def test_it_shows_the_answers_by_section_on_the_system_page(member_client, org, owner):
    system = register(org, owner)
    page = member_client.get(system_url(system))
    assert page.status_code == 200
    titles = [title for title, _ in page.context["sections"]]
    assert titles[:3] == ["Scope and markets", "Roles", "Prohibited practices"]
    content = page.content.decode()
    assert "European Union, Japan" in content  # markets in words
    assert "Provider (EU), Deployer (EU)" in content
    assert "EU AI Act Art. 5(1)(c)" in content
    assert 'id="assessments-heading"' in content  # the assessments panel


# --- Archive and restore -------------------------------------------------------------------


def test_it_archives_after_asking_and_restores(owner_client, org, owner):
    system = register(org, owner)
    page = owner_client.get(system_url(system, "archive/"))
    assert page.status_code == 200
    assert b"Hiring assistant" in page.content
    system.refresh_from_db()
    assert system.archived_at is None

    assert owner_client.post(system_url(system, "archive/")).status_code == 302
    system.refresh_from_db()
    assert system.is_archived
    assert list(owner_client.get(systems_url(org)).context["rows"]) == []
    archived = owner_client.get(systems_url(org), {"archived": "on"}).context["rows"]
    assert [row["system"] for row in archived] == [system]
    assert owner_client.get(system_url(system, "edit/")).status_code == 302  # restore first

    assert owner_client.get(system_url(system, "restore/")).status_code == 405
    assert owner_client.post(system_url(system, "restore/")).status_code == 302
    system.refresh_from_db()
    assert not system.is_archived


def test_it_will_not_restore_over_a_system_of_the_same_name(owner_client, org, owner):
    old = register(org, owner)
    registry.system_archive(system=old, actor=owner.user)
    register(org, owner)  # the name is free again
    response = owner_client.post(system_url(old, "restore/"), follow=True)
    assert "Another active system is called “Hiring assistant”" in response.content.decode()
    old.refresh_from_db()
    assert old.is_archived


# --- Who may do what ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", "new/"),
        ("post", "new/"),
        ("get", "{code}/edit/"),
        ("post", "{code}/edit/"),
        ("get", "{code}/archive/"),
        ("post", "{code}/archive/"),
        ("post", "{code}/restore/"),
    ],
)
def test_it_lets_a_viewer_read_but_not_change(org, owner, method, suffix):
    system = register(org, owner)
    viewer = client_for(MembershipFactory(organisation=org, role=Role.VIEWER))
    url = systems_url(org, suffix.format(code=system.code))
    response = getattr(viewer, method)(url, form_data(HIRING_TOOL_ANSWERS, name="Changed"))
    assert response.status_code == 403
    system.refresh_from_db()
    assert (system.name, system.version, system.archived_at) == ("Hiring assistant", 1, None)
    assert AISystem.objects.count() == 1
    for read in ("", f"{system.code}/", f"{system.code}/history/", "export/?format=csv"):
        assert viewer.get(systems_url(org, read)).status_code == 200


@pytest.mark.parametrize(
    "suffix",
    ["", "new/", "export/?format=csv", "export/?format=xlsx", "{code}/", "{code}/edit/",
     "{code}/history/", "{code}/archive/"],
)  # fmt: skip
def test_it_hides_every_registry_page_from_an_outsider(org, owner, outsider_client, suffix):
    system = register(org, owner)
    url = systems_url(org, suffix.format(code=system.code))
    assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(url, form_data(HIRING_TOOL_ANSWERS)).status_code == 404


def test_it_does_not_show_another_organisations_system_through_ones_own(
    org, owner, outsider, outsider_client
):
    system = register(org, owner)
    theirs = f"/o/{outsider.organisation.code}/systems/{system.code}/"
    assert outsider_client.get(theirs).status_code == 404
    assert outsider_client.post(theirs + "archive/").status_code == 404
    system.refresh_from_db()
    assert not system.is_archived


# --- The list -------------------------------------------------------------------------------


def test_it_teaches_on_an_empty_registry(member_client, org):
    page = member_client.get(systems_url(org))
    assert page.status_code == 200
    assert "No systems yet — register one." in page.content.decode()
    assert f'href="/o/{org.code}/systems/new/"'.encode() in page.content
    archived = member_client.get(systems_url(org), {"archived": "on"}).content.decode()
    assert "No system is archived." in archived and "No systems yet" not in archived
    filtered = member_client.get(systems_url(org), {"q": "x"}).content.decode()
    assert "No systems match these filters." in filtered and "No systems yet" not in filtered


def test_it_links_the_registry_from_the_organisation_menu(member_client, org):
    page = member_client.get(f"/o/{org.code}/")
    assert f'href="/o/{org.code}/systems/"'.encode() in page.content


@pytest.fixture
def fleet(org, owner, member):
    """Five systems that differ in every filtered way."""
    return {
        "hiring": AISystemFactory(
            organisation=org,
            name="Hiring assistant",
            owner=owner.user,
            business_unit="People",
            lifecycle_stage="production",
            eu_tier="high_risk",
        ),
        "chatbot": AISystemFactory(
            organisation=org,
            name="Concierge bot",
            description="Answers guests in Japanese.",
            owner=member.user,
            business_unit="Hospitality",
            lifecycle_stage="development",
            answers=dict(JAPAN_CHATBOT_ANSWERS),
        ),
        "vision": AISystemFactory(
            organisation=org,
            name="Shelf camera",
            vendor="Optica GmbH",
            business_unit="Retail",
            lifecycle_stage="planned",
            eu_tier="minimal",
            answers={
                **{k: v for k, v in HIRING_TOOL_ANSWERS.items() if k != "jp_roles"},
                "markets": ["EU"],
                "eu_roles": ["deployer"],
            },
        ),
        "forecast": AISystemFactory(
            organisation=org,
            name="Demand forecaster",
            model_name="Prophet",
            business_unit="retail",
            lifecycle_stage="retired",
            eu_tier="minimal",
        ),
        "elsewhere": AISystemFactory(
            organisation=OrganisationFactory(name="Elsewhere Inc"), name="Hiring bot"
        ),
    }


def listed(client, org, **params) -> list[str]:
    page = client.get(systems_url(org), params)
    assert page.status_code == 200
    return [row["system"].name for row in page.context["rows"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["Concierge bot", "Demand forecaster", "Hiring assistant", "Shelf camera"]),
        ({"q": "hiring"}, ["Hiring assistant"]),
        ({"q": "japanese"}, ["Concierge bot"]),  # the description
        ({"q": "optica"}, ["Shelf camera"]),  # the vendor
        ({"q": "prophet"}, ["Demand forecaster"]),  # the model
        ({"stage": "planned"}, ["Shelf camera"]),
        ({"tier": "minimal"}, ["Demand forecaster", "Shelf camera"]),
        ({"tier": "unassessed"}, ["Concierge bot"]),
        ({"tier": "assessed"}, ["Demand forecaster", "Hiring assistant", "Shelf camera"]),
        ({"market": "JP"}, ["Concierge bot", "Demand forecaster", "Hiring assistant"]),
        ({"market": "EU", "role": "eu.provider"}, ["Demand forecaster", "Hiring assistant"]),
        ({"role": "jp.business_user"}, ["Concierge bot", "Demand forecaster", "Hiring assistant"]),
        ({"role": "eu.deployer", "stage": "planned"}, ["Shelf camera"]),
        ({"unit": "Retail"}, ["Demand forecaster", "Shelf camera"]),
        (
            {"stage": "nonsense"},
            ["Concierge bot", "Demand forecaster", "Hiring assistant", "Shelf camera"],
        ),  # a filter that is not understood is not applied
    ],
)
def test_it_searches_and_filters(member_client, org, fleet, params, expected):
    assert listed(member_client, org, **params) == expected


def test_it_filters_by_owner(member_client, org, fleet, owner, member):
    assert listed(member_client, org, owner=str(member.code)) == ["Concierge bot"]
    assert listed(member_client, org, owner=str(owner.code)) == ["Hiring assistant"]


def test_it_offers_each_business_unit_once(member_client, org, fleet):
    choices = member_client.get(systems_url(org)).context["form"].fields["unit"].choices
    assert [label.casefold() for _, label in choices][1:] == ["hospitality", "people", "retail"]


def test_it_shows_each_systems_facts_in_the_list(member_client, org, fleet, owner):
    content = member_client.get(systems_url(org)).content.decode()
    row = re.search(r"<tr>\s*<th scope=\"row\"><a[^>]*>Hiring assistant</a>.*?</tr>", content, re.S)
    html = row.group(0)
    for text in (owner.user.full_name, "People", "In production", "European Union, Japan",
                 "Provider (EU)", "AI business user (Japan)", "High-risk"):  # fmt: skip
        assert text in html
    assert "Not assessed" in content
    assert "Hiring bot" not in content  # another organisation's


@pytest.mark.parametrize("count", [3, 30])
def test_it_lists_in_constant_queries(member_client, org, owner, count, django_assert_num_queries):
    for i in range(count):
        AISystemFactory(organisation=org, owner=owner.user, business_unit=f"Unit {i % 4}")
    member_client.get(systems_url(org))  # compiles the release once per process
    # session, user, membership, current release, members, business units, count, page,
    # organisation switcher, unread notifications
    with django_assert_num_queries(10):
        page = member_client.get(systems_url(org), {"market": "EU"})
    assert page.status_code == 200
    assert len(page.context["rows"]) == count


def test_it_pages_the_list_by_fifty(member_client, org):
    for i in range(51):
        AISystemFactory(organisation=org, name=f"System {i:02}")
    assert len(member_client.get(systems_url(org)).context["rows"]) == 50
    assert listed(member_client, org, page=2) == ["System 50"]


# --- Question types the shipped catalogue does not use yet ------------------------------------


def _release_of(*questions):
    return compile_release(
        {
            "regulations": {},
            "rules": [],
            "obligations": [],
            "questions": [
                {"section": "use_case", "citation": "Test Art. 1", "help_en": "Help.", **q}
                for q in questions
            ],
        }
    )


TYPED = _release_of(
    {"key": "users", "type": "number", "order": 1, "label_en": "How many users?"},
    {
        "key": "launch",
        "type": "date",
        "order": 2,
        "label_en": "Launch date?",
        "ask_when": "users > 10",
    },
    {"key": "notes", "type": "text", "order": 3, "label_en": "Notes", "label_ja": "メモ"},
    {"key": "public", "type": "boolean", "order": 4, "label_en": "Public?"},
)


@pytest.fixture
def typed_release(monkeypatch):
    """TYPED as the current release, for the form and for registry.clean_answers alike."""
    monkeypatch.setattr(registry, "current_release", lambda: "typed")
    monkeypatch.setattr(registry, "compiled", lambda release: TYPED)
    return TYPED


@pytest.mark.parametrize(
    ("posted", "answers"),
    [
        ({"q_users": "12", "q_launch": "2026-01-31", "q_public": "no"},
         {"users": 12, "launch": "2026-01-31", "public": False}),
        ({"q_users": "2.5", "q_launch": "not a date", "q_notes": " hi ", "q_public": "yes"},
         {"users": 2.5, "notes": "hi", "public": True}),  # launch is not asked: dropped
        ({"q_public": "yes"}, {"public": True}),
    ],
)  # fmt: skip
def test_it_types_number_date_and_text_answers(typed_release, posted, answers):
    form = QuestionnaireForm(posted, release=typed_release)
    assert form.is_valid(), form.errors
    assert form.answers == answers


def test_it_names_type_errors_next_to_their_question(typed_release):
    form = QuestionnaireForm({"q_users": "many", "q_launch": "2026-02-30"}, release=typed_release)
    assert not form.is_valid()
    assert set(form.errors) == {"q_users", "q_public"}  # launch is not asked without users
    form = QuestionnaireForm(
        {"q_users": "11", "q_launch": "2026-02-30", "q_public": "no"}, release=typed_release
    )
    assert set(form.errors) == {"q_launch"}


def test_it_sorts_sections_and_falls_back_to_english(typed_release):
    with translation.override("ja"):
        form = QuestionnaireForm(release=typed_release)
        [section] = form.sections()
        labels = [item.field.label for item in section.questions]
    # The section heading is ours (translated); question texts come from the catalogue, in
    # Japanese where the curator wrote it and in English otherwise.
    assert section.title == "ユースケース"
    assert labels == ["How many users?", "Launch date?", "メモ", "Public?"]
    launch = section.questions[1]
    assert json.loads(launch.ask_when) == {"op": "compare", "key": "users", "cmp": ">", "value": 10}
    assert not launch.grouped and section.questions[3].grouped
