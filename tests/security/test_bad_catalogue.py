"""Malformed catalogue files: the `load_catalogue` command and the admin's import refuse each with
`file: kind[code].field: message` (or `file: message` for a file that cannot be read at all) and
leave every table as it was.

tests/governance/test_catalogue_loader.py already covers wrong condition references, a missing
bilingual text, an unknown role, an impossible date, a missing penalty, a dangling crosswalk
link, a question defined twice, an unknown release and an unknown field through `write()`; the
cases here are the ones that used to crash the loader (a traceback instead of a message) or that
are about the file itself, and they go through the command and the admin as a curator would.
"""

import shutil
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from governance.catalogue.export import to_yaml
from governance.catalogue.loader import MAX_FILE_CHARS, CatalogueError, read_files, read_sources
from governance.catalogue.store import snapshot_of, write
from governance.models import CatalogueRelease

from .conftest import nothing_written

FIXTURE = Path(settings.BASE_DIR) / "tests/fixtures/catalogue"
IMPORT_URL = "/admin/governance/cataloguerelease/import/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def files(tmp_path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(FIXTURE, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def load(path: Path) -> list[str]:
    """Run the command on a broken copy; return the problems it printed."""
    err = StringIO()
    refused = pytest.raises(CommandError, match=r"The catalogue was not loaded: \d+ problem")
    with nothing_written(), refused:
        call_command("load_catalogue", path=path, stdout=StringIO(), stderr=err)
    return err.getvalue().splitlines()


# Nested aliases: a few hundred bytes that stand for ten million strings.
BOMB = "&b0 [x, x, x, x, x, x, x, x, x, x]"
for _level in range(1, 8):
    BOMB = f"&b{_level} [{BOMB}, " + ", ".join([f"*b{_level - 1}"] * 9) + "]"

# Each: (file, old, new, the problem line expected). Every `new` used to raise something other
# than CatalogueError, or is about the file as a whole.
BROKEN = [
    pytest.param(
        "eu.yaml",
        "  jurisdiction: EU\n",
        "  jurisdiction: [EU]\n",
        "data/eu.yaml: regulations[T-EU].jurisdiction: ['EU'] is not one of: EU, INTL, JP",
        id="list-for-a-choice",
    ),
    pytest.param(
        "eu.yaml",
        "roles: [eu.provider]",
        "roles: [{eu: provider}]",
        "data/eu.yaml: obligations[T-EU-ART9].roles: unknown role {'eu': 'provider'}",
        id="mapping-for-a-role",
    ),
    pytest.param(
        "eu.yaml",
        "    order: 20\n",
        "    order: twenty\n",
        "data/eu.yaml: questions[hiring].order: 'twenty' is not a whole number",
        id="text-for-a-number",
    ),
    pytest.param(
        "eu.yaml",
        "      test-old: {applies_from: 2026-08-02}",
        "      test-old: 2026-08-02",
        "data/eu.yaml: obligations[T-EU-ART9].by_release: must map release codes to the fields",
        id="date-for-by-release",
    ),
    pytest.param(
        "eu.yaml",
        "  - code: T-EU-R-HR\n",
        "  - code: T-EU-R-HR\n    releases: test-old\n",
        "data/eu.yaml: rules[T-EU-R-HR].releases: must be a list of releases",
        id="text-for-releases",
    ),
    pytest.param(
        "jp.yaml",
        "regulation:\n",
        "regulations: 5\nregulation:\n",
        "data/jp.yaml: regulations must be a list",
        id="number-for-regulations",
    ),
    pytest.param(
        "eu.yaml",
        "questions:\n",
        "42: answer\nzzz: 1\nquestions:\n",
        "data/eu.yaml: unknown section 42",
        id="unknown-sections-of-mixed-types",
    ),
    pytest.param(
        "eu.yaml",
        "  - code: T-EU-R-HR\n",
        f"  - code: {BOMB}\n",
        "data/eu.yaml: rules[?].code: [[[...], [...], [...], [...], ...],",
        id="alias-bomb",
    ),
    pytest.param(
        "eu.yaml",
        "provisions:\n",
        "provisions:\n  - !!python/object/apply:os.system ['touch {marker}']\n",
        "data/eu.yaml: line ",
        id="python-tag",
    ),
    pytest.param(
        "eu.yaml",
        "  - code: T-EU-ART9-1\n    parent: T-EU-ART9\n",
        "  - code: T-EU-ART9-1\n    parent: T-EU-ART8\n",
        "data/eu.yaml: provisions[T-EU-ART9-1].parent: unknown provision 'T-EU-ART8'",
        id="dangling-parent",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), BROKEN)
def test_the_command_names_the_problem_and_loads_nothing(files, tmp_path, file, old, new, expected):
    marker = tmp_path / "executed"
    edit(files / file, old, new.replace("{marker}", str(marker)))

    problems = load(files)

    assert any(p.startswith(expected) for p in problems), problems
    if "python" in new:
        assert any("could not determine a constructor" in p for p in problems), problems
    assert all(len(p) < 1000 for p in problems)
    assert not marker.exists()


def test_a_control_copy_of_the_files_does_load(files):
    # Without this, "nothing written" above could hold because nothing ever would be.
    call_command("load_catalogue", path=files, stdout=StringIO())
    assert CatalogueRelease.objects.filter(code="test-new", is_current=True).exists()


def test_it_refuses_a_truncated_file(files):
    text = (files / "eu.yaml").read_text()
    (files / "eu.yaml").write_text(text[: text.index("obligations:") + 60].rstrip() + " {en: 'half")

    problems = load(files)

    assert any(p.startswith("data/eu.yaml: line") and "not valid YAML" in p for p in problems)


def test_it_refuses_a_file_that_is_not_utf8(files):
    (files / "jp.yaml").write_bytes((files / "jp.yaml").read_text().encode("shift_jis"))

    assert load(files) == [f"data/jp.yaml: is not UTF-8 text (byte {_first_non_ascii(files)})"]


def _first_non_ascii(files: Path) -> int:
    return next(i for i, b in enumerate((files / "jp.yaml").read_bytes()) if b > 127) + 1


def test_it_refuses_a_huge_file_without_parsing_it(files):
    padding = "# padding\n" * (MAX_FILE_CHARS // 10 + 1)
    (files / "big.yaml").write_text(padding)

    assert load(files) == [
        f"data/big.yaml: is too large ({len(padding):,} characters; the limit is "
        f"{MAX_FILE_CHARS:,})"
    ]


def test_it_refuses_nesting_too_deep_for_the_parser(files):
    (files / "deep.yaml").write_text("releases: " + "[" * 5000 + "]" * 5000 + "\n")

    assert load(files) == ["data/deep.yaml: is not valid YAML (nested too deeply)"]


def test_it_refuses_a_duplicate_obligation_code(files):
    edit(
        files / "eu.yaml",
        "  - code: T-EU-ART50\n    provision",
        "  - code: T-EU-ART9\n    provision",
    )

    problems = load(files)

    assert any(
        p.startswith("data/eu.yaml: obligations[T-EU-ART9]: defined twice") for p in problems
    )


# --- The admin's import: one exported release, uploaded by a curator ------------------------------


@pytest.fixture
def exported(db) -> str:
    write(read_files(FIXTURE))
    return to_yaml(snapshot_of(CatalogueRelease.objects.get(code="test-new")))


def import_(admin_client, content: bytes):
    upload = SimpleUploadedFile("release.yaml", content, content_type="application/yaml")
    with nothing_written():
        response = admin_client.post(IMPORT_URL, {"file": upload, "code": "test-imported"})
    assert response.status_code == 400
    return response.content.decode()


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        pytest.param(
            lambda text: text.encode("shift_jis"), "The file is not UTF-8 text.", id="not-utf8"
        ),
        pytest.param(
            lambda text: text[: len(text) // 2].encode() + b"\n  - {en: 'half",
            "release.yaml: line",
            id="truncated",
        ),
        pytest.param(
            lambda text: b"releases: !!python/object/apply:os.getcwd []\n",
            "release.yaml: line 1 is not valid YAML",
            id="python-tag",
        ),
        pytest.param(
            lambda text: text.replace("- code: T-EU-R-HR", f"- code: {BOMB}").encode(),
            "release.yaml: rules[?].code: [[[...]",
            id="alias-bomb",
        ),
        pytest.param(
            lambda text: (text + "#" * MAX_FILE_CHARS).encode(),
            "release.yaml: is too large",
            id="huge",
        ),
        pytest.param(
            lambda text: text.replace(
                "roles:\n  - eu.provider", "roles:\n  - [eu.provider]", 1
            ).encode(),
            "release.yaml: obligations[T-EU-ART9].roles: unknown role [&#x27;eu.provider&#x27;]",
            id="list-for-a-role",
        ),
    ],
)
def test_the_admin_import_names_the_problem_and_imports_nothing(
    admin_client, exported, mangle, expected
):
    page = import_(admin_client, mangle(exported))

    assert expected in page


# --- Anything a YAML file can hold: the loader answers with problems, never a traceback ----------

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


DOCUMENTS = {p.name: yaml.safe_load(p.read_text()) for p in sorted(FIXTURE.glob("*.yaml"))}
PLACES = [(name, path) for name, doc in DOCUMENTS.items() for path in _paths(doc) if path]


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(place=st.sampled_from(PLACES), value=VALUES, extra_key=st.booleans())
def test_any_value_anywhere_is_a_problem_or_a_catalogue(place, value, extra_key):
    name, path = place
    documents = yaml.safe_load(yaml.safe_dump(DOCUMENTS))  # a deep copy
    parent = documents[name]
    for step in path[:-1]:
        parent = parent[step]
    if extra_key and isinstance(parent, dict):
        parent["releases" if isinstance(parent.get("code"), str) else "by_release"] = value
    else:
        parent[path[-1]] = value
    sources = [(f"data/{n}", yaml.safe_dump(d, allow_unicode=True)) for n, d in documents.items()]
    try:
        read_sources(sources)
    except CatalogueError as exc:
        assert all(p.startswith(("data/", "releases:", "no releases")) for p in exc.problems)
