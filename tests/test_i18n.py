import os
import shutil
from pathlib import Path

import polib
from django.core.management import call_command
from django.test import Client

CATALOGUE = Path(__file__).resolve().parent.parent / "locale/ja/LC_MESSAGES/django.po"


def test_the_japanese_catalogue_is_complete():
    catalogue = polib.pofile(str(CATALOGUE))
    missing = [e.msgid for e in catalogue.untranslated_entries() + catalogue.fuzzy_entries()]
    assert missing == []
    assert len(catalogue) > 100


def test_it_serves_pages_in_the_browsers_language(db):
    page = Client(headers={"accept-language": "ja"}).get("/accounts/login/")
    assert 'lang="ja"' in page.content.decode()
    assert "パスワード" in page.content.decode()


def test_the_users_choice_wins_over_the_browser(owner, org):
    owner.user.language = "en"
    owner.user.save()
    client = Client(headers={"accept-language": "ja"})
    client.force_login(owner.user)
    page = client.get(f"/o/{org.code}/members/").content.decode()
    assert "Members" in page
    assert "メンバー" not in page


def test_every_marked_string_is_in_the_japanese_catalogue(tmp_path, settings):
    """makemessages, run into a copy of the catalogue, finds no string that is not yet there:
    a new page or message cannot ship in English only."""
    before = CATALOGUE.read_bytes()
    root = CATALOGUE.parents[3]
    tree = tmp_path / "tree"
    tree.mkdir()
    # The sources, linked into a folder with no locale/ of its own, so that makemessages
    # writes only into the copy below.
    for name in ["assessments", "config", "governance", "templates", "static"]:
        (tree / name).symlink_to(root / name)
    target = tmp_path / "locale/ja/LC_MESSAGES"
    target.mkdir(parents=True)
    shutil.copy(CATALOGUE, target / "django.po")
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    previous = os.getcwd()
    os.chdir(tree)
    try:
        call_command(
            "makemessages", "-l", "ja", "--no-obsolete", "--no-location", "--symlinks",
            verbosity=0,
        )  # fmt: skip
    finally:
        os.chdir(previous)
    extracted = polib.pofile(str(target / "django.po"))
    shipped = {(e.msgctxt, e.msgid) for e in polib.pofile(str(CATALOGUE)) if not e.obsolete}
    new = sorted(e.msgid for e in extracted if (e.msgctxt, e.msgid) not in shipped)
    assert new == [], "run makemessages -l ja and translate: " + "; ".join(new[:30])
    assert CATALOGUE.read_bytes() == before, "the test must not touch the shipped catalogue"
