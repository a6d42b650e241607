"""The catalogue pages: global (every signed-in person, whatever their organisation), bilingual."""

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client

from governance.catalogue.loader import read_sources
from governance.catalogue.store import write
from governance.models import CatalogueRelease

from ..conftest import client_for
from ..factories import MembershipFactory
from .conftest import CATALOGUE_FIXTURE, add_links, add_obligations

# An international instrument for the crosswalk's third column. It stays in this module rather
# than in tests/fixtures/catalogue so the shared test catalogue keeps its exact contents.
INTL = """
regulation:
  code: T-HAIP
  jurisdiction: INTL
  kind: code_of_conduct
  title: {en: "Test Hiroshima Code of Conduct", ja: "テスト広島行動規範"}
  short_title: {en: "Test HAIP", ja: "テスト広島"}
  reference: "Test code v1"
  summary: {en: "A voluntary code for tests.", ja: "テスト用の自主的な規範。"}
  source: "test"
provisions:
  - code: T-HAIP-A01
    reference: "Action 1"
    kind: action
    title: {en: "Assess risks", ja: "リスクを評価する"}
    summary: {en: "Identify and mitigate risks.", ja: "リスクを特定し低減する。"}
    source: "test"
obligations:
  - code: T-HAIP-A01
    provision: T-HAIP-A01
    title: {en: "Assess risks across the lifecycle", ja: "ライフサイクル全体でリスクを評価する"}
    summary: {en: "Developers assess risks.", ja: "開発者はリスクを評価する。"}
    roles: [jp.developer]
    applies_when: 'true'
    applies_from:
      - {when: 'markets contains "JP"', date: 2023-12-01}
      - {when: 'markets contains "EU"', date: 2025-06-01}
    legal_force: voluntary
    source: "Action 1"
crosswalk:
  - from: T-HAIP-A01
    to: T-EU-ART9
    relationship: subset
    rationale:
      en: "Risk assessment is part of risk management."
      ja: "リスク評価はリスク管理の一部。"
    origin: published
    publisher: "Test Authority"
    reference: "Test crosswalk 2025"
"""


@pytest.fixture
def catalogue_with_intl(db):
    files = [
        (f"catalogue/{p.name}", p.read_text(encoding="utf-8"))
        for p in CATALOGUE_FIXTURE.glob("*.yaml")
    ]
    write(read_sources([*sorted(files), ("catalogue/intl.yaml", INTL)]))


@pytest.fixture
def japanese_client(member):
    member.user.language = ""
    member.user.save()
    client = Client(headers={"accept-language": "ja"})
    client.force_login(member.user)
    return client


def codes(response) -> list[str]:
    return [o.code for o in response.context["page"].object_list]


PAGES = [
    "/catalogue/",
    "/catalogue/regulations/T-EU/",
    "/catalogue/obligations/",
    "/catalogue/obligations/T-EU-ART9/",
    "/catalogue/crosswalk/",
    "/catalogue/timeline/",
]


# Access


@pytest.mark.parametrize("url", PAGES)
def test_it_sends_anonymous_visitors_to_log_in(catalogue, client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("url", PAGES)
def test_it_shows_every_page_to_a_signed_in_member(catalogue, member_client, url):
    assert member_client.get(url).status_code == 200


@pytest.mark.parametrize("url", PAGES)
def test_the_catalogue_is_global_so_another_organisation_sees_it_too(
    catalogue, outsider_client, url
):
    assert outsider_client.get(url).status_code == 200


def test_it_links_the_catalogue_from_the_top_bar(catalogue, member_client, org):
    page = member_client.get(f"/o/{org.code}/").content.decode()
    assert 'href="/catalogue/"' in page
    assert 'href="/catalogue/"' not in Client().get("/accounts/login/").content.decode()


@pytest.mark.parametrize("url", PAGES)
def test_it_answers_404_for_an_unknown_release(catalogue, member_client, url):
    assert member_client.get(url, {"release": "no-such-release"}).status_code == 404


def test_it_shows_drafts_only_to_staff(catalogue, member_client, org):
    CatalogueRelease.objects.filter(code="test-old").update(status=CatalogueRelease.Status.DRAFT)
    assert member_client.get("/catalogue/", {"release": "test-old"}).status_code == 404
    assert b"?release=test-old" not in member_client.get("/catalogue/").content
    staff = MembershipFactory(organisation=org, user__is_staff=True)
    page = client_for(staff).get("/catalogue/", {"release": "test-old"})
    assert page.status_code == 200
    assert "draft" in page.content.decode()


def test_it_shows_nothing_before_a_catalogue_is_loaded(member_client):
    assert member_client.get("/catalogue/").status_code == 404


# Index


def test_it_groups_regulations_by_jurisdiction_with_counts(catalogue_with_intl, member_client):
    response = member_client.get("/catalogue/")
    groups = [
        (str(label), [(r.code, r.provision_count, r.obligation_count) for r in regulations])
        for label, regulations in response.context["groups"]
    ]
    assert groups == [
        ("European Union", [("T-EU", 4, 2)]),
        ("Japan", [("T-JP", 1, 1)]),
        ("International", [("T-HAIP", 1, 1)]),
    ]
    page = response.content.decode()
    assert "Test AI Act" in page
    assert "Regulation (EU) 0000/1" in page
    assert "Guideline" in page
    assert 'href="/catalogue/?release=test-old"' in page
    for link in ("/catalogue/obligations/", "/catalogue/crosswalk/", "/catalogue/timeline/"):
        assert f'href="{link}"' in page


def test_it_counts_what_the_named_release_holds(catalogue, member_client):
    response = member_client.get("/catalogue/", {"release": "test-old"})
    eu = response.context["groups"][0][1][0]
    assert (eu.code, eu.obligation_count) == ("T-EU", 1)
    assert 'href="/catalogue/regulations/T-EU/?release=test-old"' in response.content.decode()


def test_it_renders_the_index_in_japanese_and_english(catalogue, japanese_client, member_client):
    ja = japanese_client.get("/catalogue/").content.decode()
    assert "テストAI法" in ja
    assert "新リリース" in ja
    en = member_client.get("/catalogue/").content.decode()
    assert "Test AI Act" in en
    assert "テストAI法" not in en


def test_the_users_language_wins(catalogue, member):
    member.user.language = "ja"
    member.user.save()
    page = client_for(member).get("/catalogue/obligations/T-EU-ART9/").content.decode()
    assert "リスク管理を実施する" in page


# Regulation


def test_it_shows_the_regulation_and_its_provision_tree(catalogue, member_client):
    response = member_client.get("/catalogue/regulations/T-EU/")
    tree = response.context["tree"]
    assert [n.provision.code for n in tree] == ["T-EU-ART9", "T-EU-ART99", "T-EU-ART50"]
    assert [c.provision.code for c in tree[0].children] == ["T-EU-ART9-1"]
    assert [o.code for o in tree[0].obligations] == ["T-EU-ART9"]
    assert [o.code for o in tree[2].obligations] == ["T-EU-ART50"]
    page = response.content.decode()
    assert "A small regulation for tests." in page
    assert 'href="https://example.eu/reg"' in page
    assert "Provider (EU)" in page
    assert "2027-12-02" in page
    assert page.index("Art. 9(1)") < page.index("Art. 99")  # the child sits under its parent


def test_it_filters_the_regulations_obligations_by_role_and_legal_force(catalogue, member_client):
    def shown(**params):
        tree = member_client.get("/catalogue/regulations/T-EU/", params).context["tree"]
        found = []
        stack = list(tree)
        while stack:
            node = stack.pop()
            found += [o.code for o in node.obligations]
            stack += node.children
        return sorted(found), [n.provision.code for n in tree]

    assert shown(role="eu.deployer") == (["T-EU-ART50"], ["T-EU-ART50"])
    assert shown(role="eu.provider") == (["T-EU-ART50", "T-EU-ART9"], ["T-EU-ART9", "T-EU-ART50"])
    assert shown(legal_force="voluntary") == ([], [])
    page = member_client.get("/catalogue/regulations/T-EU/", {"legal_force": "voluntary"})
    assert b"No obligations of this regulation match these filters." in page.content


def test_it_explains_an_unknown_role_on_the_regulation_page(catalogue, member_client):
    response = member_client.get("/catalogue/regulations/T-EU/", {"role": "king"})
    assert response.status_code == 400
    assert "Select a valid choice. king is not one of the available choices." in (
        response.content.decode()
    )


def test_it_renders_the_regulation_in_japanese(catalogue, japanese_client):
    page = japanese_client.get("/catalogue/regulations/T-EU/").content.decode()
    assert "テストAI規則" in page
    assert "リスク管理体制" in page
    assert "リスク管理を実施する" in page


def test_it_answers_404_for_an_unknown_regulation(catalogue, member_client):
    assert member_client.get("/catalogue/regulations/T-NOPE/").status_code == 404


# Obligations list


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["T-EU-ART9", "T-EU-ART50", "T-JP-P02"]),
        ({"jurisdiction": "JP"}, ["T-JP-P02"]),
        ({"regulation": "T-EU"}, ["T-EU-ART9", "T-EU-ART50"]),
        ({"role": "eu.deployer"}, ["T-EU-ART50"]),
        ({"legal_force": "voluntary"}, ["T-JP-P02"]),
        ({"from": "2026-08-02"}, ["T-EU-ART9", "T-EU-ART50"]),
        ({"to": "2026-08-02"}, ["T-EU-ART50", "T-JP-P02"]),
        ({"from": "2026-01-01", "to": "2026-12-31"}, ["T-EU-ART50"]),
        ({"q": "risk"}, ["T-EU-ART9"]),
        ({"q": "リスク"}, ["T-EU-ART9"]),
        ({"q": "t-jp"}, ["T-JP-P02"]),
        ({"jurisdiction": "EU", "role": "eu.provider", "q": "people"}, ["T-EU-ART50"]),
        ({"release": "test-old"}, ["T-EU-ART9", "T-JP-P02"]),
    ],
)
def test_it_filters_the_obligations(catalogue, member_client, params, expected):
    response = member_client.get("/catalogue/obligations/", params)
    assert response.status_code == 200
    assert codes(response) == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-13-45"}, "Applies from, on or after: Enter a valid date."),
        ({"to": "soon"}, "Applies from, on or before: Enter a valid date."),
        ({"from": "2027-01-01", "to": "2026-01-01"}, "This date is before the “on or after” date."),
        ({"role": "king"}, "Role: Select a valid choice."),
        ({"regulation": "T-NOPE"}, "Regulation: Select a valid choice."),
    ],
)
def test_it_explains_filters_it_cannot_use(catalogue, member_client, params, message):
    response = member_client.get("/catalogue/obligations/", params)
    assert response.status_code == 400
    assert message in re.sub(r"<[^>]+>", "", response.content.decode())
    assert len(codes(response)) == 3  # the filter is left out, not applied half-way


def test_it_pages_the_obligations_by_fifty(catalogue, member_client):
    add_obligations(60)
    first = member_client.get("/catalogue/obligations/")
    assert len(codes(first)) == 50
    assert b"63 obligations" in first.content
    second = member_client.get("/catalogue/obligations/", {"jurisdiction": "JP", "page": 2})
    assert codes(second) == [f"T-JP-X{i:03}" for i in range(49, 60)]


@pytest.mark.parametrize("extra", [0, 60])
def test_it_lists_obligations_in_constant_queries(
    catalogue, member_client, extra, django_assert_num_queries
):
    add_obligations(extra)
    # session, user, releases, regulations for the filter, count, page, organisation switcher
    with django_assert_num_queries(7):
        response = member_client.get("/catalogue/obligations/", {"q": "T-JP"})
    assert len(codes(response)) == min(extra + 1, 50)


def test_it_renders_the_obligations_list_in_japanese(catalogue, japanese_client, member_client):
    assert "リスク管理を実施する" in japanese_client.get("/catalogue/obligations/").content.decode()
    en = member_client.get("/catalogue/obligations/").content.decode()
    assert "Run risk management" in en
    assert "リスク管理を実施する" not in en


# Obligation


def test_it_shows_everything_about_an_obligation(catalogue, member_client):
    page = member_client.get("/catalogue/obligations/T-EU-ART9/").content.decode()
    for text in [
        "Run risk management",
        "Providers of high-risk systems manage risks.",
        "Art. 9 — Risk management",
        "Provider (EU)",
        "label(&quot;eu.high_risk&quot;)",
        "2027-12-02",
        "Binding",
        "Operator duties",
        "Up to EUR 15,000,000 or 3% of total worldwide annual turnover.",
        "The lower cap applies to SMEs.",
        "Keep a risk register.",
        "Risk register",
        "Both manage risk of harm.",
        "Curated by Kakehashi",
        'href="/catalogue/obligations/T-JP-P02/"',
    ]:
        assert text in page, text


def test_it_shows_links_in_both_directions_read_from_this_obligation(
    catalogue_with_intl, member_client
):
    response = member_client.get("/catalogue/obligations/T-EU-ART9/")
    links = [(v.other.code, v.relationship, v.outgoing) for v in response.context["links"]]
    assert links == [("T-HAIP-A01", "superset", False), ("T-JP-P02", "intersect", True)]
    assert "Published by Test Authority" in response.content.decode()
    back = member_client.get("/catalogue/obligations/T-JP-P02/")
    assert [(v.other.code, v.relationship) for v in back.context["links"]] == [
        ("T-EU-ART9", "intersect")
    ]


def test_it_shows_the_dated_conditions(catalogue_with_intl, member_client):
    page = member_client.get("/catalogue/obligations/T-HAIP-A01/").content.decode()
    assert "markets contains &quot;EU&quot;" in page
    assert '<time datetime="2025-06-01">2025-06-01</time>' in page
    assert "AI developer (Japan)" in page


def test_it_renders_an_obligation_in_japanese(catalogue, japanese_client):
    page = japanese_client.get("/catalogue/obligations/T-EU-ART9/").content.decode()
    for text in [
        "リスク管理を実施する",
        "リスク登録簿を維持する。",
        "どちらも危害のリスクを管理する。",
    ]:
        assert text in page


def test_it_shows_the_obligation_as_it_was_in_an_older_release(catalogue, member_client):
    old = member_client.get("/catalogue/obligations/T-EU-ART9/", {"release": "test-old"})
    assert b'datetime="2026-08-02"' in old.content
    assert b'href="/catalogue/obligations/T-JP-P02/?release=test-old"' in old.content
    new_only = member_client.get("/catalogue/obligations/T-EU-ART50/", {"release": "test-old"})
    assert new_only.status_code == 404
    assert member_client.get("/catalogue/obligations/T-NOPE/").status_code == 404


# Crosswalk


def test_it_draws_the_crosswalk_matrix(catalogue_with_intl, member_client):
    response = member_client.get("/catalogue/crosswalk/")
    assert [c.code for c in response.context["columns"]] == ["T-JP", "T-HAIP"]
    [row] = response.context["rows"]
    assert row.obligation.code == "T-EU-ART9"
    cells = [[(v.other.code, v.relationship) for v in cell] for cell in row.cells]
    assert cells == [[("T-JP-P02", "intersect")], [("T-HAIP-A01", "superset")]]
    page = response.content.decode()
    assert 'href="/catalogue/obligations/T-HAIP-A01/"' in page
    assert "Published by Test Authority" in page
    assert "Curated by Kakehashi" in page
    for word in ["equal", "subset", "superset", "intersect"]:
        assert f'<span class="badge rel-{word}">' in page


def test_it_renders_the_crosswalk_in_japanese(catalogue_with_intl, japanese_client):
    page = japanese_client.get("/catalogue/crosswalk/").content.decode()
    assert "テストGL" in page
    assert "テスト広島" in page
    assert "リスク管理を実施する" in page


@pytest.mark.parametrize("extra", [0, 30])
def test_it_draws_the_crosswalk_in_constant_queries(
    catalogue, member_client, extra, django_assert_num_queries
):
    add_obligations(extra)
    add_links()
    # session, user, releases, links with both ends and their regulations, organisation switcher
    with django_assert_num_queries(5):
        response = member_client.get("/catalogue/crosswalk/")
    assert len(response.context["rows"]) == (2 if extra else 1)


# Timeline


@time_machine.travel(dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC), tick=False)
def test_it_lists_dates_in_order_and_marks_the_past(catalogue, member_client):
    response = member_client.get("/catalogue/timeline/")
    days = [
        (
            d.date.isoformat(),
            d.state,
            [e.obligation.code if e.obligation else e.title for e in d.entries],
        )
        for d in response.context["timeline"].dates
    ]
    assert days == [
        ("2024-04-19", "past", ["T-JP-P02"]),
        ("2026-08-02", "upcoming", ["Transparency applies", "T-EU-ART50"]),
        ("2027-12-02", "upcoming", ["T-EU-ART9"]),
    ]
    page = response.content.decode()
    assert 'class="timeline-date timeline-past"' in page
    assert "in the past" in page
    assert ">upcoming</span>" in page
    assert "Test AI Act" in page


def test_it_shows_the_dated_conditions_on_the_timeline(catalogue_with_intl, member_client):
    dates = member_client.get("/catalogue/timeline/").context["timeline"].dates
    haip = [
        (d.date.isoformat(), e.condition)
        for d in dates
        for e in d.entries
        if e.obligation and e.obligation.code == "T-HAIP-A01"
    ]
    assert haip == [
        ("2023-12-01", 'markets contains "JP"'),
        ("2025-06-01", 'markets contains "EU"'),
    ]


def test_it_compares_the_dates_with_another_release(catalogue, member_client):
    response = member_client.get("/catalogue/timeline/", {"compare": "test-old"})
    timeline = response.context["timeline"]
    moves = [(m.obligation.code, str(m.before), str(m.after)) for m in timeline.moved]
    assert moves == [("T-EU-ART9", "2026-08-02", "2027-12-02")]
    assert [o.code for o in timeline.added] == ["T-EU-ART50"]
    assert timeline.removed == []
    page = re.sub(r"\s+", " ", response.content.decode())
    assert "<del>2 Aug 2026</del> → <ins>2 Dec 2027</ins>" in page
    assert "Changes since Old release (test-old)" in page


def test_it_compares_backwards_too(catalogue, member_client):
    response = member_client.get(
        "/catalogue/timeline/", {"release": "test-old", "compare": "test-new"}
    )
    timeline = response.context["timeline"]
    assert [(m.obligation.code, str(m.after)) for m in timeline.moved] == [
        ("T-EU-ART9", "2026-08-02")
    ]
    assert [o.code for o in timeline.removed] == ["T-EU-ART50"]


def test_it_answers_404_when_comparing_with_an_unknown_release(catalogue, member_client):
    assert member_client.get("/catalogue/timeline/", {"compare": "nope"}).status_code == 404


def test_it_renders_the_timeline_in_japanese(catalogue, japanese_client, member_client):
    ja = japanese_client.get("/catalogue/timeline/").content.decode()
    assert "透明性義務の適用" in ja
    assert "テストAI法" in ja
    en = member_client.get("/catalogue/timeline/").content.decode()
    assert "Transparency applies" in en
    assert "透明性義務の適用" not in en
