"""The invitation flow through a real Celery worker process consuming from Redis.

The worker is started with the test database and a queue of its own, so it never competes with
a development worker, and the test writes committed data (transactional_db) it can read.
"""

import pytest

from governance.models import AuditEvent, Invitation, Membership, Role

from .conftest import client_for
from .factories import PASSWORD, MembershipFactory
from .worker import new_queue, start_worker, stop_worker, tasks_sent_to, wait_for

pytestmark = pytest.mark.worker


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    queue = new_queue()
    mail_dir = tmp_path / "mail"
    worker = start_worker(queue, EMAIL_URL="filemail://", EMAIL_FILE_PATH=str(mail_dir))
    try:
        with tasks_sent_to(queue):
            yield {"mail_dir": mail_dir, "process": worker}
    finally:
        print(stop_worker(worker))  # shown when the test fails


def test_it_sends_the_invitation_through_a_real_worker(celery_worker_process, client):
    owner = MembershipFactory(role=Role.ADMIN)
    org = owner.organisation
    response = client_for(owner).post(
        f"/o/{org.code}/members/", {"email": "via.worker@example.com", "role": Role.VIEWER}
    )
    assert response.status_code == 302
    invitation = Invitation.objects.get(organisation=org)

    def sent():
        invitation.refresh_from_db()
        return invitation.sent_at

    wait_for(sent)
    mail_dir = celery_worker_process["mail_dir"]
    message = wait_for(lambda: [p.read_text() for p in mail_dir.glob("*.log")])[0]
    assert "To: via.worker@example.com" in message
    link = next(line for line in message.splitlines() if "http://testserver/invitations/" in line)

    # The audit trail attributes the worker's write to the task.
    event = AuditEvent.objects.filter(
        table="governance_invitation", object_pk=str(invitation.pk), action="update"
    ).get()
    assert event.context["source"] == "task:send_invitation"
    assert event.after["sent_at"] is not None

    path = link.strip().removeprefix("http://testserver")
    response = client.post(
        path, {"full_name": "Via Worker", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert Membership.objects.get(organisation=org, user__email="via.worker@example.com")
