"""The shipped catalogue is complete for what it covers, and loads."""

import pytest

from governance.catalogue.loader import read_files
from governance.catalogue.store import write
from governance.models import CatalogueRelease


@pytest.fixture(scope="module")
def catalogue():
    return read_files()


@pytest.fixture(scope="module")
def current(catalogue):
    return catalogue.snapshots[catalogue.current]


def test_the_current_release_is_the_2026_amendment(catalogue):
    assert catalogue.current == "2026-amended"
    assert [r["code"] for r in catalogue.releases] == ["2024-original", "2026-amended"]


@pytest.mark.parametrize("point", list("ABCDEFGH"))
def test_every_article_5_practice_is_covered(current, point):
    assert f"EU-AIA-ART5-{point}" in current["provisions"]
    assert f"EU-AIA-ART5-{point}" in current["obligations"]


def test_the_2026_prohibitions_exist_only_in_the_amended_release(catalogue, current):
    original = catalogue.snapshots["2024-original"]
    for code in ("EU-AIA-ART5-BA", "EU-AIA-ART5-BB"):
        assert current["obligations"][code]["applies_from"] == "2026-12-02"
        assert code not in original["obligations"]


ANNEX_III = {
    "1": "ABC",
    "2": "A",
    "3": "ABCD",
    "4": "AB",
    "5": "ABCD",
    "6": "ABCDE",
    "7": "ABCD",
    "8": "AB",
}


@pytest.mark.parametrize(
    "code",
    [f"EU-AIA-ANX3-{n}" for n in ANNEX_III]
    + [f"EU-AIA-ANX3-{n}-{s}" for n, subs in ANNEX_III.items() for s in subs],
)
def test_every_annex_iii_point_and_sub_point_is_covered(current, code):
    assert code in current["provisions"]


def test_every_annex_iii_sub_point_has_a_classification_rule(current):
    details = {r["detail"] for r in current["rules"].values() if r["label"] == "eu.annex3"}
    expected = {f"{n}({s.lower()})" for n, subs in ANNEX_III.items() for s in subs}
    assert expected <= details


@pytest.mark.parametrize("paragraph", ["1", "2", "3", "4A", "4B", "5"])
def test_every_article_50_paragraph_is_covered(current, paragraph):
    assert f"EU-AIA-ART50-{paragraph}" in current["obligations"]


@pytest.mark.parametrize("action", [f"HAIP-A{n:02}" for n in range(1, 12)])
def test_every_hiroshima_action_is_covered(current, action):
    assert action in current["obligations"]


@pytest.mark.parametrize("principle", [f"JP-AIGB-P{n:02}" for n in range(1, 11)])
def test_every_ai_guidelines_principle_is_covered(current, principle):
    assert principle in current["obligations"]


@pytest.mark.parametrize("perspective", [f"JP-AISI-EP{n:02}" for n in range(1, 11)])
def test_every_j_aisi_evaluation_perspective_is_covered(current, perspective):
    assert perspective in current["obligations"]


def test_high_risk_dates_follow_the_amendment(catalogue, current):
    original = catalogue.snapshots["2024-original"]
    routes = {r["date"] for r in current["obligations"]["EU-AIA-ART9"]["applies_from_rules"]}
    assert routes == {"2027-12-02", "2028-08-02"}
    old_routes = {r["date"] for r in original["obligations"]["EU-AIA-ART9"]["applies_from_rules"]}
    assert old_routes == {"2026-08-02", "2027-08-02"}


def test_article_73_states_its_deadlines(current):
    text = (
        current["obligations"]["EU-AIA-ART73"]["summary_en"]
        + current["obligations"]["EU-AIA-ART73"]["guidance_en"]
    )
    for days in ("2", "10", "15"):
        assert f"{days} days" in text or f"{days}-day" in text


def test_japanese_duties_carry_no_eu_penalty_and_the_right_force(current):
    forces = {
        code: o["legal_force"]
        for code, o in current["obligations"].items()
        if code.startswith(("JP-", "HAIP-"))
    }
    assert forces["JP-AIPA-ART7"] == "cooperation_duty"
    assert forces["JP-AIGB-P01"] == "voluntary"
    assert forces["HAIP-A01"] == "voluntary"
    assert forces["JP-APPI-3P"] == "binding"


def test_every_entry_is_bilingual(current):
    for kind in ("regulations", "provisions", "obligations", "questions"):
        for code, entry in current[kind].items():
            for field in ("title", "summary", "label", "help"):
                if f"{field}_en" in entry:
                    assert entry[f"{field}_ja"].strip(), f"{kind}[{code}].{field}.ja"


def test_the_crosswalk_links_eu_japan_and_hiroshima(current):
    links = current["crosswalk"].values()
    pairs = {(link["from"].split("-")[0], link["to"].split("-")[0]) for link in links}
    assert ("EU", "JP") in pairs or ("JP", "EU") in pairs
    assert any("HAIP" in (link["from"] + link["to"]) for link in links)
    assert any(link["origin"] == "published" for link in links)
    assert all(link["origin"] != "published" or link["publisher"] for link in links)


def test_the_shipped_catalogue_loads_and_reloads_without_change(catalogue, db):
    write(catalogue)
    assert CatalogueRelease.objects.get(is_current=True).code == "2026-amended"
    assert set(write(read_files())) == {"2024-original: unchanged", "2026-amended: unchanged"}
