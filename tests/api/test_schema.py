"""The OpenAPI schema: committed, current, valid, and its docs served from the app itself."""

import re
from pathlib import Path

from django.core.management import call_command

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"


def test_it_commits_the_schema_the_code_generates(tmp_path):
    generated = tmp_path / "openapi.yaml"
    # --validate checks it against the OpenAPI 3 meta-schema; --fail-on-warn refuses a view
    # drf-spectacular cannot describe.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(generated))
    assert SCHEMA.exists(), "docs/api/openapi.yaml is missing: run `make schema`"
    assert generated.read_text() == SCHEMA.read_text(), (
        "docs/api/openapi.yaml is out of date: run `make schema` and commit the result"
    )


def test_it_serves_the_schema(db, client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"openapi: 3" in response.content
    assert b"/api/v1/orgs/{org_code}/actions/" in response.content


def test_it_serves_interactive_docs_without_a_cdn(db, client):
    # (Redoc's page is not offered: its template loads fonts from Google.)
    for url in ("/api/v1/docs/",):
        page = client.get(url).content.decode()
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
        assert assets, url
        assert all(not a.startswith(("http:", "https:", "//")) for a in assets), assets
        assert any("drf_spectacular_sidecar" in a for a in assets)
