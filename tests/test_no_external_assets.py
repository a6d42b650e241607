"""Pages load nothing from outside the app: no CDN script, web font, stylesheet or image.

Templates and static files are scanned line by line; a few rendered pages are checked too.
"""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from tests.conftest import client_for

ROOT = Path(__file__).resolve().parents[1]
SCANNED = [
    *sorted((ROOT / "templates").rglob("*.html")),
    *sorted((ROOT / "static").rglob("*.css")),
    *sorted((ROOT / "static").rglob("*.js")),
]

# An absolute http(s) URL or a protocol-relative one (//host/...).
_OUTSIDE = r"""(?:https?:)?//[^\s"'<>)]+"""
ASSET_PATTERNS = [
    re.compile(rf"""<script\b[^>]*\bsrc\s*=\s*["']?\s*{_OUTSIDE}""", re.I),
    re.compile(rf"""<link\b[^>]*\bhref\s*=\s*["']?\s*{_OUTSIDE}""", re.I),
    re.compile(rf"""<img\b[^>]*\bsrc(?:set)?\s*=\s*["']?\s*{_OUTSIDE}""", re.I),
    re.compile(
        rf"""<(?:source|iframe|video|audio|embed)\b[^>]*\bsrc\s*=\s*["']?\s*{_OUTSIDE}""", re.I
    ),
    re.compile(rf"""@import\s+(?:url\()?\s*["']?\s*{_OUTSIDE}""", re.I),
    re.compile(rf"""url\(\s*["']?\s*{_OUTSIDE}""", re.I),
]
FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}", re.I | re.S)


def outside_assets(text: str) -> list[tuple[int, str]]:
    """(line number, offending text) of each asset the text loads from another host."""
    found = []
    for pattern in ASSET_PATTERNS:
        for match in pattern.finditer(text):
            found.append((text.count("\n", 0, match.start()) + 1, match.group(0)))
    for block in FONT_FACE.finditer(text):
        if re.search(_OUTSIDE, block.group(0)):
            found.append((text.count("\n", 0, block.start()) + 1, block.group(0)[:80]))
    return sorted(found)


@pytest.mark.parametrize(
    "text",
    [
        '<script src="https://cdn.example.com/x.js"></script>',
        "<link rel=stylesheet href=//fonts.example.com/css>",
        '<img alt="" src="http://img.example.com/a.png">',
        "@import url('https://fonts.example.com/css2');",
        ".x { background: url(//cdn.example.com/bg.png) }",
        "@font-face { font-family: X; src: local(X), url(https://f.example.com/x.woff2); }",
    ],
)
def test_it_recognises_an_outside_asset(text):
    assert outside_assets(text)


def test_it_lets_local_assets_and_plain_links_through():
    text = """
      <script src="/static/js/actions.js" defer></script>
      <link rel="stylesheet" href="{% static 'css/kakehashi.css' %}">
      <a href="https://eur-lex.europa.eu/">EUR-Lex</a>
      .x { background: url("data:image/svg+xml;utf8,<svg/>"); }
    """
    assert outside_assets(text) == []


def test_it_finds_files_to_scan():
    names = {path.name for path in SCANNED}
    assert {"base.html", "kakehashi.css"} <= names


@pytest.mark.parametrize("path", SCANNED, ids=lambda p: str(p.relative_to(ROOT)))
def test_it_loads_nothing_from_outside_in_a_template_or_static_file(path):
    found = outside_assets(path.read_text(encoding="utf-8"))
    assert not found, "\n".join(f"{path.relative_to(ROOT)}:{line}: {text}" for line, text in found)


def test_it_renders_pages_that_load_nothing_from_outside(real_catalogue, owner):
    client = client_for(owner)
    org = {"org_code": owner.organisation.code}
    paths = [
        reverse("dashboard", kwargs=org),
        reverse("system_list", kwargs=org),
        reverse("system_create", kwargs=org),
        reverse("action_list", kwargs=org),
        reverse("member_list", kwargs=org),
        reverse("catalogue_index"),
        reverse("catalogue_crosswalk"),
    ]
    problems = []
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        for line, text in outside_assets(response.content.decode()):
            problems.append(f"{path}:{line}: {text}")
    client.logout()
    response = client.get(reverse("login"))
    problems += [
        f"login:{line}: {text}" for line, text in outside_assets(response.content.decode())
    ]
    assert not problems, "\n".join(problems)
