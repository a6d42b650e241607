"""TOTP two-factor authentication: optional for members, mandatory for staff."""

import datetime as dt
import hashlib
import logging

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import Client

from governance.models import AuditEvent
from governance.security import services, sessions, totp
from governance.security.models import RecoveryCode, TotpDevice

from ..conftest import client_for, login_verified
from ..factories import PASSWORD, MembershipFactory
from .auth_support import enrol, log_in, next_code, own_cache  # noqa: F401

pytestmark = pytest.mark.usefixtures("own_cache")

CODE_URL = "/accounts/login/code/"
SETUP_URL = "/accounts/security/mfa/setup/"


# --- The algorithm ----------------------------------------------------------------------------

RFC6238_SHA1 = [  # RFC 6238, appendix B: time, 8-digit code, for the SHA-1 key "1234…890"
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("when", "expected"), RFC6238_SHA1)
def test_it_computes_the_rfc_6238_test_vectors(when, expected):
    assert totp.hotp(b"12345678901234567890", totp.step_at(when), digits=8) == expected


def test_it_accepts_a_code_one_step_either_side_and_never_one_already_used():
    secret = totp.new_secret()
    now = 1_800_000_000
    for offset in (-30, 0, 30):
        assert totp.matching_step(secret, totp.code_at(secret, now + offset), when=now) is not None
    assert totp.matching_step(secret, totp.code_at(secret, now + 90), when=now) is None
    step = totp.matching_step(secret, totp.code_at(secret, now), when=now)
    assert totp.matching_step(secret, totp.code_at(secret, now), after=step, when=now) is None
    assert totp.matching_step(secret, "12345", when=now) is None
    assert totp.matching_step(secret, "abcdef", when=now) is None


def test_it_writes_an_otpauth_address_for_authenticator_apps():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", account="a@b.example", issuer="Kakehashi")
    assert uri.startswith("otpauth://totp/Kakehashi%3Aa%40b.example?")
    assert "secret=JBSWY3DPEHPK3PXP" in uri and "issuer=Kakehashi" in uri


# --- Enrolment --------------------------------------------------------------------------------


def test_it_shows_a_server_drawn_qr_code_and_the_secret(member_client, member):
    page = member_client.get(SETUP_URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<svg width="' in html and 'class="qr-code"' in html
    assert "<script" not in html and "<img" not in html
    secret = member_client.session[sessions.SETUP_SECRET]
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in html
    assert not TotpDevice.objects.exists()  # nothing is stored before a code confirms it


def test_it_enrols_with_a_right_code_and_shows_ten_recovery_codes_once(member_client, member):
    member_client.get(SETUP_URL)
    secret = member_client.session[sessions.SETUP_SECRET]

    wrong = member_client.post(SETUP_URL, {"code": "000000"})
    assert wrong.status_code == 400
    assert not TotpDevice.objects.exists()

    page = member_client.post(SETUP_URL, {"code": totp.code_at(secret)})
    assert page.status_code == 200
    codes = page.context["codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(code in page.content.decode() for code in codes)
    assert page["Cache-Control"].startswith("max-age=0")
    device = TotpDevice.objects.get(user=member.user)
    assert device.secret == secret
    assert sessions.is_verified(member_client.session)
    assert sessions.SETUP_SECRET not in member_client.session
    # Shown once: the profile page lists how many are left, not the codes.
    profile = member_client.get("/accounts/profile/").content.decode()
    assert "10 recovery codes left" in profile
    assert not any(code in profile for code in codes)


def test_it_keeps_the_secret_encrypted_and_the_recovery_codes_hashed(member):
    secret, codes = enrol(member.user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM security_totpdevice")
        (stored,) = cursor.fetchone()
    assert secret not in stored
    hashes = set(RecoveryCode.objects.values_list("code_hash", flat=True))
    assert hashes == {hashlib.sha256(code.replace("-", "").encode()).hexdigest() for code in codes}


def test_it_records_enrolment_recovery_code_use_and_disabling_in_the_audit_trail(client, member):
    member_client = client_for(member)
    member_client.get(SETUP_URL)
    secret = member_client.session[sessions.SETUP_SECRET]
    codes = member_client.post(SETUP_URL, {"code": totp.code_at(secret)}).context["codes"]
    enrolled = AuditEvent.objects.get(table="security_totpdevice", action="insert")
    assert enrolled.actor_user_id == member.user.pk
    assert "secret" not in enrolled.after

    log_in(client, member.user.email)
    client.post(CODE_URL, {"code": codes[0]})
    used = AuditEvent.objects.get(table="security_recoverycode", action="update")
    assert used.actor_user_id == member.user.pk
    assert used.after["used_at"] and "code_hash" not in used.after

    client.post("/accounts/security/mfa/disable/", {"password": PASSWORD})
    disabled = AuditEvent.objects.get(table="security_totpdevice", action="delete")
    assert disabled.actor_user_id == member.user.pk


def test_it_does_not_audit_every_login_code(client, member):
    enrol(member.user)
    before = AuditEvent.objects.filter(table="security_totpdevice").count()
    log_in(client, member.user.email)
    assert client.post(CODE_URL, {"code": next_code(member.user)}).status_code == 302
    assert AuditEvent.objects.filter(table="security_totpdevice").count() == before


# --- Logging in with a code --------------------------------------------------------------------


def test_it_asks_an_enrolled_member_for_a_code_before_logging_in(client, member, org):
    enrol(member.user)
    response = log_in(client, member.user.email, next=f"/o/{org.code}/")
    assert response.status_code == 302 and response.url == CODE_URL
    assert "_auth_user_id" not in client.session
    assert client.get(f"/o/{org.code}/").status_code == 302  # not logged in yet

    assert client.post(CODE_URL, {"code": "000000"}).status_code == 400
    assert "_auth_user_id" not in client.session

    response = client.post(CODE_URL, {"code": next_code(member.user)})
    assert response.status_code == 302
    assert client.get(f"/o/{org.code}/").status_code == 200
    assert sessions.is_verified(client.session)


def test_it_keeps_the_next_page_through_the_code_step(client, member, org):
    enrol(member.user)
    client.post(
        "/accounts/login/",
        {"username": member.user.email, "password": PASSWORD, "next": f"/o/{org.code}/members/"},
    )
    response = client.post(CODE_URL, {"code": next_code(member.user)})
    assert response.url == f"/o/{org.code}/members/"


def test_it_refuses_to_send_the_code_step_to_another_site(client, member):
    enrol(member.user)
    client.post(
        "/accounts/login/",
        {"username": member.user.email, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert client.post(CODE_URL, {"code": next_code(member.user)}).url == "/"


def test_it_never_accepts_the_same_code_twice(member):
    enrol(member.user)
    code = next_code(member.user)
    first, second = Client(), Client()
    log_in(first, member.user.email)
    log_in(second, member.user.email)
    assert first.post(CODE_URL, {"code": code}).status_code == 302
    assert second.post(CODE_URL, {"code": code}).status_code == 400


def test_it_accepts_each_recovery_code_once(member, caplog):
    _secret, codes = enrol(member.user)
    first, second = Client(), Client()
    log_in(first, member.user.email)
    with caplog.at_level(logging.INFO, logger="kakehashi.security"):
        response = first.post(CODE_URL, {"code": codes[3].upper()}, follow=True)
    assert response.status_code == 200
    assert b"recovery code" in response.content
    assert any("recovery code used" in r.getMessage() for r in caplog.records)
    log_in(second, member.user.email)
    assert second.post(CODE_URL, {"code": codes[3]}).status_code == 400
    assert RecoveryCode.objects.filter(user=member.user, used_at__isnull=True).count() == 9


def test_it_throws_the_half_logged_in_session_away_after_five_wrong_codes(client, member):
    enrol(member.user)
    log_in(client, member.user.email)
    for _ in range(4):
        assert client.post(CODE_URL, {"code": "000000"}).status_code == 400
    response = client.post(CODE_URL, {"code": "000000"})
    assert response.status_code == 302 and response.url == "/accounts/login/"
    assert sessions.PENDING not in client.session
    # Even the right code now starts nothing: the password step has to be done again …
    assert client.post(CODE_URL, {"code": next_code(member.user)}).url == "/accounts/login/"
    assert "_auth_user_id" not in client.session
    # … and the wrong codes counted against the account, which is now locked.
    assert log_in(client, member.user.email).status_code == 429


def test_it_forgets_a_password_step_left_without_its_code(client, member):
    enrol(member.user)
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as traveller:
        log_in(client, member.user.email)
        traveller.shift(dt.timedelta(minutes=11))
        assert client.post(CODE_URL, {"code": next_code(member.user)}).url == "/accounts/login/"
    assert "_auth_user_id" not in client.session


def test_it_sends_the_code_page_back_to_login_without_a_password_step(client, db):
    assert client.get(CODE_URL).url == "/accounts/login/"


# --- Turning it off, new recovery codes -------------------------------------------------------


def test_it_turns_mfa_off_only_with_the_password_or_a_code(member_client, member):
    enrol(member.user)
    url = "/accounts/security/mfa/disable/"
    assert member_client.post(url, {"password": "not my password"}).status_code == 400
    assert member_client.post(url, {}).status_code == 400
    assert TotpDevice.objects.filter(user=member.user).exists()
    assert member_client.post(url, {"code": next_code(member.user)}).status_code == 302
    assert not TotpDevice.objects.filter(user=member.user).exists()
    assert not RecoveryCode.objects.filter(user=member.user).exists()


def test_it_turns_mfa_off_with_the_password(member_client, member):
    enrol(member.user)
    response = member_client.post("/accounts/security/mfa/disable/", {"password": PASSWORD})
    assert response.status_code == 302
    assert not TotpDevice.objects.filter(user=member.user).exists()


def test_it_makes_new_recovery_codes_with_an_app_code(member_client, member):
    _secret, old = enrol(member.user)
    url = "/accounts/security/mfa/recovery-codes/"
    assert member_client.post(url, {"code": "000000"}).status_code == 302  # back, with an error
    assert member_client.post(url, {"code": old[0]}).status_code == 302  # an app code only
    page = member_client.post(url, {"code": next_code(member.user)})
    assert page.status_code == 200
    new = page.context["codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert RecoveryCode.objects.filter(user=member.user).count() == 10
    assert services.mfa_verify(user=member.user, code=old[1]) is None
    assert services.mfa_verify(user=member.user, code=new[1]) == "recovery"


# --- Staff ------------------------------------------------------------------------------------


@pytest.fixture
def staff(org):
    return MembershipFactory(organisation=org, user__is_staff=True, user__is_superuser=True)


def test_it_sends_staff_without_mfa_to_enrolment_and_nowhere_else(client, staff, org):
    response = log_in(client, staff.user.email)
    assert response.url == SETUP_URL
    for page in (f"/o/{org.code}/", "/admin/", "/admin/governance/user/", "/accounts/profile/"):
        assert client.get(page).url == SETUP_URL, page
    api = client.get(f"/api/v1/orgs/{org.code}/systems/")
    assert api.status_code == 403
    assert api["Content-Type"] == "application/problem+json"
    assert api.json()["code"] == "mfa_required"
    assert client.get(SETUP_URL).status_code == 200

    secret = client.session[sessions.SETUP_SECRET]
    assert client.post(SETUP_URL, {"code": totp.code_at(secret)}).status_code == 200
    assert client.get("/admin/").status_code == 200
    assert client.get(f"/o/{org.code}/").status_code == 200


def test_it_lets_staff_log_out_before_enrolling(client, staff):
    log_in(client, staff.user.email)
    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_it_sends_the_admin_login_to_the_app_login(client, db):
    response = client.get("/admin/login/", {"next": "/admin/governance/"})
    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=%2Fadmin%2Fgovernance%2F"
    followed = client.get("/admin/", follow=True)
    assert followed.redirect_chain[-1][0] == "/accounts/login/?next=%2Fadmin%2F"


def test_it_lets_enrolled_staff_into_the_admin_only_after_the_code(client, staff):
    enrol(staff.user)
    client.get("/admin/login/", {"next": "/admin/"})
    response = client.post(
        "/accounts/login/?next=/admin/",
        {"username": staff.user.email, "password": PASSWORD, "next": "/admin/"},
    )
    assert response.url == CODE_URL
    assert client.get("/admin/").status_code == 302
    response = client.post(CODE_URL, {"code": next_code(staff.user)})
    assert response.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_it_logs_out_a_staff_session_that_skipped_the_code(staff, org):
    enrol(staff.user)
    client = Client()
    client.force_login(staff.user)  # a session without the code step
    response = client.get(f"/o/{org.code}/")
    assert response.url.startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


def test_it_keeps_staff_from_turning_mfa_off(staff):
    enrol(staff.user)
    client = login_verified(Client(), staff.user)
    response = client.post("/accounts/security/mfa/disable/", {"password": PASSWORD})
    assert response.status_code == 400
    assert b"Staff accounts must keep two-factor authentication on" in response.content
    assert TotpDevice.objects.filter(user=staff.user).exists()


def test_the_test_helper_treats_staff_as_past_the_code(admin_client):
    assert admin_client.get("/admin/").status_code == 200


# --- Members without MFA, and the demo ---------------------------------------------------------


def test_it_logs_in_a_member_without_mfa_with_the_password_alone(client, member, org):
    assert log_in(client, member.user.email).url == "/"
    assert client.get(f"/o/{org.code}/").status_code == 200


def test_it_offers_mfa_on_the_profile_page(member_client):
    page = member_client.get("/accounts/profile/").content.decode()
    assert "Two-factor authentication" in page
    assert f'href="{SETUP_URL}"' in page


def test_it_keeps_the_demo_login_free_of_mfa_and_the_curator_on_it(settings, db):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    demo = Client()
    response = log_in(demo, "demo@kakehashi.example", "kakehashi-demo", follow=True)
    assert response.status_code == 200
    assert "Demo Organisation" in response.content.decode()
    curator = Client()
    assert log_in(curator, "curator@kakehashi.example", "kakehashi-demo").url == SETUP_URL
