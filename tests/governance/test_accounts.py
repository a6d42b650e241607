import re

from django.core import mail

from governance.models import User

from ..factories import PASSWORD, UserFactory


def test_it_logs_in_with_the_email_address_in_any_case(client, owner):
    response = client.post(
        "/accounts/login/", {"username": "OWNER@acme.example", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # to the organisation, not to login
    assert client.get(f"/o/{owner.organisation.code}/").status_code == 200


def test_it_refuses_a_wrong_password(client, owner):
    response = client.post(
        "/accounts/login/", {"username": "owner@acme.example", "password": "wrong"}
    )
    assert response.status_code == 200
    assert b"correct" in response.content  # "Please enter a correct e-mail address and password"
    assert "_auth_user_id" not in client.session


def test_it_logs_out_with_a_post(owner_client, org):
    assert owner_client.post("/accounts/logout/").status_code == 302
    assert owner_client.get(f"/o/{org.code}/").status_code == 302


def test_it_changes_the_password(owner_client, owner):
    response = owner_client.post(
        "/accounts/password/change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a brand new passphrase",
            "new_password2": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    owner.user.refresh_from_db()
    assert owner.user.check_password("a brand new passphrase")


def test_it_resets_a_forgotten_password_by_email(client, owner):
    response = client.post("/accounts/password/reset/", {"email": "owner@acme.example"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200
    set_url = form.redirect_chain[-1][0]
    response = client.post(
        set_url, {"new_password1": "reset passphrase 42", "new_password2": "reset passphrase 42"}
    )
    assert response.status_code == 302
    owner.user.refresh_from_db()
    assert owner.user.check_password("reset passphrase 42")
    # The link works once.
    assert b"cannot be used" in client.get(link, follow=True).content


def test_it_never_puts_the_reset_link_into_the_task_queue(client, owner, monkeypatch):
    from governance import tasks

    queued = []
    monkeypatch.setattr(tasks.send_password_reset, "delay", lambda *a, **kw: queued.append((a, kw)))
    client.post("/accounts/password/reset/", {"email": "owner@acme.example"})
    assert len(queued) == 1
    args, kwargs = queued[0]
    assert args == (owner.user.pk,)
    assert set(kwargs) == {"email", "domain", "site_name", "protocol", "language"}
    assert mail.outbox == []
    # The worker makes the link; it works like one made in the request.
    tasks.send_password_reset(*args, **kwargs)
    assert re.search(r"http://testserver/accounts/reset/\S+/\S+/", mail.outbox[0].body)


def test_it_reveals_nothing_for_an_unknown_address(client, db):
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_it_saves_the_language_preference(owner_client, owner):
    response = owner_client.post("/accounts/language/", {"language": "ja", "next": "/"})
    assert response.status_code == 302
    owner.user.refresh_from_db()
    assert owner.user.language == "ja"
    page = owner_client.get(f"/o/{owner.organisation.code}/members/")
    assert "メンバー".encode() in page.content


def test_it_rejects_an_unknown_language(owner_client, owner):
    owner_client.post("/accounts/language/", {"language": "xx"})
    owner.user.refresh_from_db()
    assert owner.user.language == ""


def test_it_keeps_emails_unique_regardless_of_case(db):
    UserFactory(email="same@example.com")
    from django.core.exceptions import ValidationError

    duplicate = User(email="SAME@example.com")
    duplicate.set_unusable_password()
    try:
        duplicate.full_clean()
    except ValidationError as exc:
        assert "already exists" in str(exc)
    else:
        raise AssertionError("a second account with the same address was accepted")
