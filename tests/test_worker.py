"""The invitation flow through a real Celery worker process consuming from Redis.

The worker is started with the test database and a queue of its own, so it never competes with
a development worker, and the test writes committed data (transactional_db) it can read.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from config.celery import app as celery_app
from governance.models import AuditEvent, Invitation, Membership, Role

from .conftest import client_for
from .factories import PASSWORD, MembershipFactory

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.worker


def database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    queue = f"test-{uuid.uuid4().hex[:10]}"
    mail_dir = tmp_path / "mail"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "EMAIL_URL": "filemail://",
        "EMAIL_FILE_PATH": str(mail_dir),
        "KAKEHASHI_BASE_URL": "http://testserver",
        "CELERY_QUEUE": queue,
    }
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--queues", queue, "--concurrency", "1", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--hostname", f"{queue}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    celery_app.conf.task_always_eager = False
    previous_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        yield {"mail_dir": mail_dir, "process": worker}
    finally:
        celery_app.conf.task_default_queue = previous_queue
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            output, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            output, _ = worker.communicate()
        print(output)  # shown when the test fails


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")


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
