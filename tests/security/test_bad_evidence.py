"""Bad evidence uploads: a clear error (a field error on the page, problem details in the API), no
row written and no file left in storage or in the upload temp directory.

tests/assessments/test_action_views.py covers an HTML page named .pdf, a file over the limit in
memory, a refused extension and the 413 of the web form; these are the cases it leaves out.
Uploads are multipart bodies built by hand, so a file name reaches Django exactly as a browser
(or a script) could send it.
"""

import json

import pytest
from django.urls import reverse

from assessments import actions
from assessments.models import ActionEvidence
from governance.models import ApiScope, Role

from ..api.conftest import api, make_key
from ..conftest import client_for
from ..factories import AISystemFactory, AssessmentFactory, FindingFactory, MembershipFactory
from .conftest import nothing_written, stored_files

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48
HTML = b"<!doctype html><script>alert(document.cookie)</script>"
BOUNDARY = "kakehashi-test-boundary"


@pytest.fixture
def uploads(settings, tmp_path):
    """MEDIA_ROOT and the upload temp directory, both empty and the test's own."""
    media, temp = tmp_path / "media", tmp_path / "upload-tmp"
    media.mkdir()
    temp.mkdir()
    settings.MEDIA_ROOT = str(media)
    settings.FILE_UPLOAD_TEMP_DIR = str(temp)
    return media, temp


@pytest.fixture
def action(real_catalogue, org, owner, member):
    gap = FindingFactory(assessment=AssessmentFactory(system=AISystemFactory(organisation=org)))
    officer = MembershipFactory(organisation=org, role=Role.COMPLIANCE_OFFICER)
    return actions.action_create(
        org=org, actor=officer, findings=[gap], title="Write the plan", owner=member.user
    )


def multipart(filename: str, content: bytes, *, title: str = "") -> bytes:
    """A form with a title and one file part; `filename` goes into the header as given."""
    return b"".join(
        [
            f"--{BOUNDARY}\r\n".encode(),
            b'Content-Disposition: form-data; name="title"\r\n\r\n',
            title.encode(),
            b"\r\n",
            f"--{BOUNDARY}\r\n".encode(),
            b'Content-Disposition: form-data; name="file"; filename="',
            filename.encode("utf-8"),
            b'"\r\nContent-Type: application/pdf\r\n\r\n',
            content,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        ]
    )


def post_file(client, action, filename: str, content: bytes):
    address = reverse(
        "action_evidence_add",
        kwargs={"org_code": action.organisation.code, "action_code": action.code},
    )
    return client.post(
        address,
        data=multipart(filename, content),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )


@pytest.fixture
def browser(member):
    """The member's browser, signed in before any test counts rows (a login stamps the user)."""
    return client_for(member)


@pytest.mark.parametrize(
    ("filename", "content", "error"),
    [
        pytest.param("plan.pdf", b"", "empty", id="empty"),
        pytest.param("plan.pdf", EXE, "is not PDF", id="exe-named-pdf"),
        pytest.param("scan.png", HTML, "is not PNG", id="html-named-png"),
        pytest.param("notes.txt", EXE, "is not TXT", id="exe-named-txt"),
        pytest.param("plan.pdf.exe", PDF, "Upload a file of one of these types", id="exe"),
        pytest.param("plan", PDF, "Upload a file of one of these types", id="no-extension"),
    ],
)
def test_the_page_refuses_a_bad_file_beside_its_field(
    uploads, browser, action, filename, content, error
):
    with nothing_written():
        response = post_file(browser, action, filename, content)

    assert response.status_code == 400
    assert error in " ".join(response.context["file_form"].errors["file"])
    assert stored_files(uploads[0]) == stored_files(uploads[1]) == []


@pytest.mark.parametrize(
    ("filename", "kept"),
    [
        ("../../../../tmp/plan.pdf", "plan.pdf"),
        ("..\\..\\windows\\plan.pdf", "plan.pdf"),
        ("/etc/cron.d/plan.pdf", "plan.pdf"),
        ("&#46;&#46;&#47;plan.pdf", "plan.pdf"),
        ("plan\x00.pdf", "plan.pdf"),
        ("plan\x1b[2J.pdf", "plan[2J.pdf"),
        ("fdp.exe\u202e.pdf", "fdp.exe.pdf"),  # no right-to-left override to disguise it
    ],
)
def test_a_file_name_is_a_label_never_a_path(uploads, browser, action, filename, kept):
    # Django keeps only the last part of the name and drops what cannot be printed, and storage
    # names the file by its code: the name a person gave is shown, never used as a path.
    response = post_file(browser, action, filename, PDF)

    assert response.status_code == 302
    evidence = ActionEvidence.objects.get()
    assert evidence.file_name == kept
    assert stored_files(uploads[0]) == [evidence.file.name]
    assert evidence.file.name == f"evidence/{action.organisation_id}/{evidence.code}"
    download = browser.get(
        reverse(
            "action_evidence_download",
            kwargs={"org_code": action.organisation.code, "attachment_code": evidence.code},
        )
    )
    assert b"".join(download.streaming_content) == PDF  # and so closes it, as a server would
    assert download["Content-Disposition"] == f'attachment; filename="{kept}"'


def test_a_file_over_the_limit_spooled_to_disk_leaves_no_temporary_file(
    uploads, browser, action, settings
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # spooled to FILE_UPLOAD_TEMP_DIR past this
    settings.EVIDENCE_MAX_BYTES = 4096

    with nothing_written():
        response = post_file(browser, action, "plan.pdf", PDF + b"0" * 8192)

    assert response.status_code == 400
    assert "Files can be up to" in " ".join(response.context["file_form"].errors["file"])
    assert stored_files(uploads[0]) == stored_files(uploads[1]) == []


def test_a_file_just_under_the_limit_is_accepted(uploads, browser, action, settings):
    # The counterpart of the test above, so its 400 is the limit and not something else.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.EVIDENCE_MAX_BYTES = 4096
    content = PDF + b"0" * (4096 - len(PDF))

    response = post_file(browser, action, "plan.pdf", content)

    assert response.status_code == 302
    assert ActionEvidence.objects.get().size == 4096
    assert stored_files(uploads[1]) == []


# --- The API: evidence there is links; files are the browser's ----------------------------------


def evidence_url(action) -> str:
    return f"/api/v1/orgs/{action.organisation.code}/actions/{action.code}/evidence/"


@pytest.fixture
def writer(owner):
    return api(make_key(owner, ApiScope.WRITE))


def test_the_api_refuses_a_body_over_the_request_limit_with_problem_details(
    uploads, writer, action, settings
):
    settings.MAX_REQUEST_BYTES = 2000
    body = json.dumps({"title": "x" * 3000, "url": "https://example.com/a"})

    with nothing_written():
        response = writer.post(evidence_url(action), data=body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 413 and problem["code"] == "too_large"
    assert "too large" in problem["detail"]


def test_the_api_refuses_a_body_over_the_parsing_limit_with_problem_details(
    uploads, writer, action, settings
):
    # Under MAX_REQUEST_BYTES but over what Django will read into memory for a non-file body.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"title": "x" * 3000, "url": "https://example.com/a"})

    with nothing_written():
        response = writer.post(evidence_url(action), data=body, content_type="application/json")

    assert response.status_code in (400, 413)
    assert response["Content-Type"] == "application/problem+json"


def test_the_api_takes_no_file_upload(uploads, writer, action):
    with nothing_written():
        response = writer.post(
            evidence_url(action),
            data=multipart("plan.pdf", PDF),
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
        )

    assert response.status_code == 415
    assert response["Content-Type"] == "application/problem+json"
    assert stored_files(uploads[0]) == stored_files(uploads[1]) == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"title": "Plan", "url": "javascript:alert(1)"}, "/url"),
        ({"title": "Plan", "url": "file:///etc/passwd"}, "/url"),
        ({"title": "Plan", "url": ["https://example.com"]}, "/url"),
        ({"title": "Pl\x00an", "url": "https://example.com/plan"}, "/title"),
        ({"title": "x" * 5000, "url": "https://example.com/plan"}, "/title"),
        ({"title": "Plan", "url": "https://example.com/" + "a" * 5000}, "/url"),
    ],
)
def test_the_api_refuses_a_bad_link_naming_the_field(writer, action, body, pointer):
    with nothing_written():
        response = writer.post(evidence_url(action), data=body, format="json")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert pointer in [e["pointer"] for e in response.json()["errors"]]
