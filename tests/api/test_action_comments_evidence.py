"""An action's comments and evidence through the API: lists, adding, removing, and who may."""

import pytest
from django.urls import reverse

from assessments.models import ActionComment, ActionEvidence, Notification
from governance.models import Role

from ..factories import ActionEvidenceFactory, MembershipFactory, RemediationActionFactory
from .test_actions import PROBLEM, pointers, session


def comments_url(action) -> str:
    return reverse(
        "api_action_comments",
        kwargs={"org_code": action.organisation.code, "action_code": action.code},
    )


def evidence_url(action, evidence=None) -> str:
    kwargs = {"org_code": action.organisation.code, "action_code": action.code}
    if evidence is None:
        return reverse("api_action_evidence", kwargs=kwargs)
    return reverse("api_action_evidence_item", kwargs={**kwargs, "attachment_code": evidence.code})


@pytest.fixture
def action(real_catalogue, org):
    return RemediationActionFactory(system__organisation=org)


@pytest.fixture
def viewer(org):
    return MembershipFactory(organisation=org, role=Role.VIEWER)


# --- Comments ----------------------------------------------------------------------------------


def test_it_comments_and_notifies_the_mentioned(org, member, owner, action):
    response = session(member).post(
        comments_url(action),
        {"body": "Draft is up, @owner@acme.example", "mentions": []},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    comment = ActionComment.objects.get()
    assert body == {
        "code": str(comment.code),
        "body": "Draft is up, @owner@acme.example",
        "author": "member@acme.example",
        "mentions": ["owner@acme.example"],
        "created_at": body["created_at"],
    }
    assert Notification.objects.filter(recipient=owner.user).exists()


def test_it_comments_as_a_key_with_no_author(writer, member, action):
    response = writer.post(
        comments_url(action),
        {"body": "Synced from CI", "mentions": ["member@acme.example"]},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["author"] is None
    assert response.json()["mentions"] == ["member@acme.example"]


@pytest.mark.parametrize(
    ("data", "pointer"),
    [
        ({"body": "  "}, "/body"),
        ({"body": "Hi", "mentions": ["outsider@rival.example"]}, "/mentions/0"),
        ({"body": "Hi", "mentions": ["owner@acme.example", "nope"]}, "/mentions/1"),
    ],
)
def test_it_refuses_bad_comments(writer, owner, outsider, action, data, pointer):
    response = writer.post(comments_url(action), data, format="json")

    assert response.status_code == 400
    assert pointers(response) == [pointer]
    assert not ActionComment.objects.exists()


def test_it_replays_a_repeated_comment(writer, action):
    data = {"body": "Once"}
    first = writer.post(comments_url(action), data, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    again = writer.post(comments_url(action), data, format="json", HTTP_IDEMPOTENCY_KEY="c-1")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ActionComment.objects.count() == 1


def test_it_pages_comments_oldest_first(reader, action):
    for n in range(5):
        ActionComment.objects.create(organisation=action.organisation, action=action, body=f"{n}")

    first = reader.get(comments_url(action), {"page_size": 3}).json()
    rest = reader.get(first["next"]).json()

    assert [c["body"] for c in first["results"] + rest["results"]] == ["0", "1", "2", "3", "4"]
    assert rest["next"] is None


@pytest.mark.parametrize("rows", [2, 6])
def test_it_lists_comments_with_a_constant_number_of_queries(
    reader, owner, member, action, rows, django_assert_num_queries
):
    for _ in range(rows):
        comment = ActionComment.objects.create(
            organisation=action.organisation, action=action, author=owner.user, body="Hi"
        )
        comment.mentions.set([member.user])

    # The key, its last use, the action, the page, the mentions.
    with django_assert_num_queries(5):
        response = reader.get(comments_url(action))
    assert len(response.json()["results"]) == rows


def test_it_refuses_comments_from_readers(reader, viewer, action):
    assert reader.post(comments_url(action), {"body": "x"}, format="json").status_code == 403
    assert session(viewer).post(comments_url(action), {"body": "x"}, format="json").status_code == (
        403
    )
    assert not ActionComment.objects.exists()


def test_it_hides_comments_from_other_organisations(stranger, outsider, action):
    ActionComment.objects.create(organisation=action.organisation, action=action, body="Secret")

    for client in (stranger, session(outsider)):
        assert client.get(comments_url(action)).status_code == 404
        response = client.post(comments_url(action), {"body": "x"}, format="json")
        assert response.status_code == 404
        assert response["Content-Type"] == PROBLEM
    assert ActionComment.objects.count() == 1


# --- Evidence ----------------------------------------------------------------------------------


def test_it_attaches_a_link(member, action):
    response = session(member).post(
        evidence_url(action),
        {"title": "Risk register", "url": "https://docs.example.com/risk"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    evidence = ActionEvidence.objects.get()
    assert response.json() == {
        "code": str(evidence.code),
        "kind": "link",
        "title": "Risk register",
        "url": "https://docs.example.com/risk",
        "file_name": "",
        "content_type": "",
        "size": 0,
        "sha256": "",
        "added_by": "member@acme.example",
        "added_at": response.json()["added_at"],
    }


def test_it_attaches_a_link_for_a_key_with_nobody_as_adder(writer, action):
    response = writer.post(
        evidence_url(action), {"title": "CI run", "url": "https://ci.example.com/1"}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert response.json()["added_by"] is None
    assert ActionEvidence.objects.get().added_by is None


@pytest.mark.parametrize(
    ("data", "pointer"),
    [
        ({"title": "Doc", "url": "javascript:alert(1)"}, "/url"),
        ({"title": "", "url": "https://docs.example.com/a"}, "/title"),
        ({"title": "Again", "url": "https://docs.example.com/taken"}, "/url"),
    ],
)
def test_it_refuses_bad_links(writer, action, data, pointer):
    ActionEvidenceFactory(action=action, url="https://docs.example.com/taken")

    response = writer.post(evidence_url(action), data, format="json")

    assert response.status_code == 400
    assert pointers(response) == [pointer]
    assert ActionEvidence.objects.count() == 1


@pytest.mark.parametrize("rows", [2, 6])
def test_it_lists_evidence_with_a_constant_number_of_queries(
    reader, action, rows, django_assert_num_queries
):
    ActionEvidenceFactory.create_batch(rows, action=action)
    ActionEvidenceFactory()  # another action's

    with django_assert_num_queries(4):
        response = reader.get(evidence_url(action), {"page_size": 3})
    assert len(response.json()["results"]) == min(rows, 3)


def test_it_removes_evidence(writer, member, owner, action):
    theirs = ActionEvidenceFactory(action=action, added_by=owner.user)
    mine = ActionEvidenceFactory(action=action, added_by=member.user)

    refused = session(member).delete(evidence_url(action, theirs))
    removed = session(member).delete(evidence_url(action, mine))
    by_key = writer.delete(evidence_url(action, theirs))

    assert (refused.status_code, removed.status_code, by_key.status_code) == (403, 204, 204)
    assert not ActionEvidence.objects.exists()


def test_it_keeps_the_evidence_of_a_verified_action(writer, owner, action):
    type(action).objects.filter(pk=action.pk).update(status="verified", verified_by=owner.user)
    evidence = ActionEvidenceFactory(action=action)

    response = writer.delete(evidence_url(action, evidence))

    assert response.status_code == 409
    assert ActionEvidence.objects.filter(pk=evidence.pk).exists()


def test_it_finds_evidence_only_under_its_own_action(writer, org, action):
    elsewhere = ActionEvidenceFactory(action=RemediationActionFactory(system=action.system))

    assert writer.get(evidence_url(action, elsewhere)).status_code == 404
    assert writer.delete(evidence_url(action, elsewhere)).status_code == 404
    assert ActionEvidence.objects.filter(pk=elsewhere.pk).exists()


def test_it_hides_evidence_from_other_organisations(stranger, outsider, reader, action):
    evidence = ActionEvidenceFactory(action=action)

    for client in (stranger, session(outsider)):
        assert client.get(evidence_url(action)).status_code == 404
        assert client.get(evidence_url(action, evidence)).status_code == 404
        assert client.delete(evidence_url(action, evidence)).status_code == 404
        data = {"title": "x", "url": "https://x.example"}
        assert client.post(evidence_url(action), data, format="json").status_code == 404
    assert reader.get(evidence_url(action, evidence)).json()["code"] == str(evidence.code)
    assert reader.delete(evidence_url(action, evidence)).status_code == 403
    assert list(ActionEvidence.objects.all()) == [evidence]
