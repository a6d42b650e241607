"""API keys: the settings page, authentication, scopes, expiry, revocation, throttling."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from governance import apikeys
from governance.models import ApiKey, ApiScope, AuditEvent, Role

from ..conftest import client_for
from ..factories import AISystemFactory, AssessmentFactory, MembershipFactory
from .conftest import api, make_key


def page(org) -> str:
    return f"/o/{org.code}/settings/api-keys/"


def detail_url(assessment) -> str:
    return f"/api/v1/orgs/{assessment.organisation.code}/assessments/{assessment.code}/"


@pytest.fixture
def assessment(real_catalogue, org):
    return AssessmentFactory(system=AISystemFactory(organisation=org))


# The page


def test_it_creates_a_key_and_shows_its_token_once(owner, owner_client, assessment):
    response = owner_client.post(
        page(owner.organisation), {"name": "Jira automation", "scope": "write", "expires": "90"}
    )
    assert response.status_code == 200
    token = response.context["token"]
    assert token.startswith("kk_")
    assert token in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")
    key = ApiKey.objects.get(name="Jira automation")
    assert key.scope == "write" and key.created_by == owner.user
    assert token not in key.secret_hash and key.prefix in token
    assert dt.timedelta(days=89) < key.expires_at - timezone.now() <= dt.timedelta(days=90)

    listing = owner_client.get(page(owner.organisation)).content.decode()
    assert "Jira automation" in listing and token not in listing
    assert api(token).get(detail_url(assessment)).status_code == 200


def test_it_refuses_a_second_active_key_with_the_same_name(owner, owner_client):
    make_key(owner, name="Exports")
    response = owner_client.post(
        page(owner.organisation), {"name": "Exports", "scope": "read", "expires": "never"}
    )
    assert response.status_code == 200
    assert response.context["token"] is None
    assert "already exists" in response.content.decode()
    assert ApiKey.objects.filter(name="Exports").count() == 1


def test_it_rejects_an_empty_name_and_creates_nothing(owner, owner_client):
    response = owner_client.post(page(owner.organisation), {"name": " ", "scope": "read"})
    assert response.status_code == 200
    assert ApiKey.objects.count() == 0


def test_it_revokes_a_key_after_confirmation(owner, owner_client, assessment):
    token = make_key(owner)
    key = ApiKey.objects.get()
    url = f"{page(owner.organisation)}{key.code}/revoke/"
    assert owner_client.get(url).status_code == 200
    assert ApiKey.objects.get().revoked_at is None
    assert owner_client.post(url).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == owner.user
    response = api(token).get(detail_url(assessment))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert "revoked" in response.json()["detail"]


@pytest.mark.parametrize("role", [Role.COMPLIANCE_OFFICER, Role.CONTRIBUTOR, Role.VIEWER])
def test_it_keeps_the_page_to_admins(org, role):
    member = MembershipFactory(organisation=org, role=role)
    client = client_for(member)
    assert client.get(page(org)).status_code == 403
    assert (
        client.post(page(org), {"name": "x", "scope": "write", "expires": "30"}).status_code == 403
    )
    assert ApiKey.objects.count() == 0


def test_it_hides_keys_from_an_outsider(owner, outsider_client):
    make_key(owner)
    key = ApiKey.objects.get()
    assert outsider_client.get(page(owner.organisation)).status_code == 404
    revoke = f"{page(owner.organisation)}{key.code}/revoke/"
    assert outsider_client.post(revoke).status_code == 404
    assert ApiKey.objects.get().revoked_at is None


def test_it_lists_keys_in_constant_queries(owner, owner_client, django_assert_max_num_queries):
    for n in range(2):
        make_key(owner, name=f"k{n}")
    with django_assert_max_num_queries(12) as few:
        owner_client.get(page(owner.organisation))
    for n in range(2, 12):
        make_key(owner, name=f"k{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        owner_client.get(page(owner.organisation))


# Authentication


def test_it_answers_401_problem_details_without_credentials(assessment):
    response = api().get(detail_url(assessment))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["code"] == "not_authenticated"
    assert body["instance"] == detail_url(assessment)


@pytest.mark.parametrize(
    "token",
    ["kk_nope", "kk_abc_def", "Bearer", "kk_" + "a" * 40 + "_x", "not-a-kakehashi-key"],
)
def test_it_refuses_malformed_and_unknown_tokens(assessment, token):
    response = api(token).get(detail_url(assessment))
    assert response.status_code == 401


def test_it_refuses_a_token_with_the_right_prefix_and_a_wrong_secret(owner, assessment):
    token = make_key(owner)
    prefix = token.rsplit("_", 1)[0]
    assert api(f"{prefix}_wrongsecret").get(detail_url(assessment)).status_code == 401


def test_it_refuses_an_expired_key(owner, assessment):
    token = make_key(owner, expires_at=timezone.now() + dt.timedelta(days=1))
    assert api(token).get(detail_url(assessment)).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(days=2)):
        assert api(token).get(detail_url(assessment)).status_code == 401
    with pytest.raises(Exception, match="future"):
        make_key(owner, name="past", expires_at=timezone.now() - dt.timedelta(minutes=1))


def test_it_gives_404_for_another_organisations_objects_and_urls(outsider_key, assessment):
    response = api(outsider_key).get(detail_url(assessment))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_records_last_use_at_most_once_a_minute(owner, assessment):
    token = make_key(owner)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        api(token).get(detail_url(assessment))
    first = ApiKey.objects.get().last_used_at
    assert first == start
    with time_machine.travel(start + dt.timedelta(seconds=30), tick=False):
        api(token).get(detail_url(assessment))
    assert ApiKey.objects.get().last_used_at == first
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        api(token).get(detail_url(assessment))
    assert ApiKey.objects.get().last_used_at == start + dt.timedelta(seconds=61)
    # Recording use writes no audit event: last_used_at is left out of the trail.
    assert not AuditEvent.objects.filter(table="governance_apikey", action="update").exists()


def test_it_keeps_read_keys_to_reading(owner, real_catalogue):
    system = AISystemFactory(organisation=owner.organisation)
    url = f"/api/v1/orgs/{owner.organisation.code}/systems/{system.code}/assessments/"
    response = api(make_key(owner, ApiScope.READ)).post(url, {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "read-only" in response.json()["detail"]
    assert not system.assessments.exists()


def test_it_attributes_a_keys_writes_to_the_key_in_the_audit_trail(owner, real_catalogue):
    system = AISystemFactory(organisation=owner.organisation)
    token = make_key(owner, name="CI")
    url = f"/api/v1/orgs/{owner.organisation.code}/systems/{system.code}/assessments/"
    assert api(token).post(url, {}, format="json").status_code == 202
    event = AuditEvent.objects.filter(table="assessments_assessment", action="insert").get()
    assert event.actor_api_key_id == ApiKey.objects.get(name="CI").pk
    assert event.actor_user_id is None
    assert event.context["source"] == "api"


def test_it_never_stores_the_secret(owner):
    _, token = apikeys.api_key_create(actor=owner, name="x", scope="read")
    secret = token.rsplit("_", 1)[1]
    key = ApiKey.objects.get()
    assert secret not in (key.secret_hash, key.prefix, key.name)
    assert apikeys.authenticate(token) == key


# Throttling and unknown paths


def test_it_throttles_each_key_with_a_retry_after(settings, owner, assessment):
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {"client": "3/min"}
    settings.REST_FRAMEWORK = rest
    busy = api(make_key(owner, name="busy"))
    calm = api(make_key(owner, name="calm"))
    for _ in range(3):
        assert busy.get(detail_url(assessment)).status_code == 200
    response = busy.get(detail_url(assessment))
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["code"] == "throttled"
    assert calm.get(detail_url(assessment)).status_code == 200


def test_it_answers_unknown_api_paths_with_problem_details(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
