"""Password rules (at least 12 characters, not common, not all digits, not like the account) on
every path that sets a password."""

import re

import pytest
from django.contrib.auth import password_validation
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client

from governance import services
from governance.models import User

from ..conftest import login_verified
from ..factories import PASSWORD, InvitationFactory, UserFactory
from .auth_support import own_cache  # noqa: F401

pytestmark = pytest.mark.usefixtures("own_cache")

ELEVEN = "tulip-orbit"  # 11 characters, not common, not numeric
TWELVE = "tulip-orbits"


def test_it_requires_twelve_characters_and_keeps_djangos_other_rules(settings):
    names = [v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert names == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]
    with pytest.raises(ValidationError, match="at least 12 characters"):
        password_validation.validate_password(ELEVEN)
    password_validation.validate_password(TWELVE)
    with pytest.raises(ValidationError):
        password_validation.validate_password("123456789012345")
    with pytest.raises(ValidationError):
        password_validation.validate_password("password1234")


def test_it_applies_the_rules_when_signing_up_through_an_invitation(owner, org):
    invitation = InvitationFactory(organisation=org, invited_by=owner.user)
    path = services.invitation_url(invitation).removeprefix("http://127.0.0.1:8000")
    client = Client()
    data = {"full_name": "New Person", "password1": ELEVEN, "password2": ELEVEN}
    response = client.post(path, data)
    assert response.status_code == 400
    assert b"at least 12 characters" in response.content
    assert not User.objects.filter(email=invitation.email).exists()
    data |= {"password1": TWELVE, "password2": TWELVE}
    assert client.post(path, data).status_code == 302


def test_it_applies_the_rules_when_changing_the_password(owner_client, owner):
    url = "/accounts/password/change/"
    weak = {"old_password": PASSWORD, "new_password1": ELEVEN, "new_password2": ELEVEN}
    response = owner_client.post(url, weak)
    assert response.status_code == 200
    assert b"at least 12 characters" in response.content
    owner.user.refresh_from_db()
    assert owner.user.check_password(PASSWORD)
    strong = weak | {"new_password1": TWELVE, "new_password2": TWELVE}
    assert owner_client.post(url, strong).status_code == 302


def test_it_applies_the_rules_when_resetting_the_password(client, owner):
    client.post("/accounts/password/reset/", {"email": "owner@acme.example"})
    link = re.search(r"http://testserver(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    set_url = client.get(link, follow=True).redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": ELEVEN, "new_password2": ELEVEN})
    assert response.status_code == 200
    assert b"at least 12 characters" in response.content
    owner.user.refresh_from_db()
    assert owner.user.check_password(PASSWORD)
    assert (
        client.post(set_url, {"new_password1": TWELVE, "new_password2": TWELVE}).status_code == 302
    )


def test_it_applies_the_rules_when_staff_set_a_password_in_the_admin(db):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = login_verified(Client(), admin)
    person = UserFactory()
    url = f"/admin/governance/user/{person.pk}/password/"
    response = client.post(url, {"password1": ELEVEN, "password2": ELEVEN})
    assert response.status_code == 200
    assert b"at least 12 characters" in response.content
    person.refresh_from_db()
    assert person.check_password(PASSWORD)
    assert client.post(url, {"password1": TWELVE, "password2": TWELVE}).status_code == 302


def test_it_applies_the_rules_to_a_chosen_demo_password(settings, db, monkeypatch):
    settings.DEBUG = True
    monkeypatch.setenv("DEMO_PASSWORD", ELEVEN)
    with pytest.raises(CommandError, match="at least 12 characters"):
        call_command("seed_demo", verbosity=0)
    assert not User.objects.filter(email="demo@kakehashi.example").exists()
