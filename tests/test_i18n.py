from pathlib import Path

import polib
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
