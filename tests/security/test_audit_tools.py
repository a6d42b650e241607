"""`make audit`: bandit's configuration still catches what matters, and the pip-audit verdict never
passes an audit that did not happen (scripts/audit.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import audit

ROOT = Path(__file__).resolve().parents[2]


def bandit(tmp_path: Path, source: str) -> list[str]:
    """The test ids bandit reports for `source`, with the project's configuration."""
    (tmp_path / "sample.py").write_text(source)
    config = str(ROOT / "pyproject.toml")
    result = subprocess.run(
        [sys.executable, "-m", "bandit", "-c", config, "-f", "json", "-q", "-r", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr
    return sorted(issue["test_id"] for issue in json.loads(result.stdout)["results"])


def test_it_keeps_bandit_failing_on_a_shell_and_unsafe_calls(tmp_path):
    found = bandit(
        tmp_path,
        "import pickle, subprocess\n"
        "def run(cmd, blob):\n"
        "    subprocess.call(cmd, shell=True)\n"
        "    return pickle.loads(blob)\n",
    )
    assert "B602" in found  # a shell
    assert "B301" in found  # pickle


def test_it_leaves_reviewed_patterns_to_ruff_and_the_subprocess_rule(tmp_path):
    found = bandit(
        tmp_path,
        "import subprocess\n"
        'TOKEN_PREFIX = "kk_"\n'
        "def run():\n"
        '    subprocess.run(["git", "status"], check=True)\n',
    )
    assert found == []


def report(*dependencies: dict) -> dict:
    return {"dependencies": list(dependencies), "fixes": []}


CLEAN = {"name": "django", "version": "5.2.19", "vulns": []}
SKIPPED = {"name": "celery", "skip_reason": "Dependency not found on PyPI: celery (5.7.0)"}
VULNERABLE = {
    "name": "requests",
    "version": "2.0.0",
    "vulns": [{"id": "PYSEC-2023-74", "fix_versions": ["2.31.0"], "aliases": []}],
}


def test_it_passes_only_when_every_package_was_checked():
    code, lines = audit.verdict(report(CLEAN, dict(CLEAN, name="celery")), service="pypi")
    assert code == 0
    assert "2 packages, no known vulnerabilities" in lines[0]


@pytest.mark.parametrize(
    "data",
    [report(CLEAN, SKIPPED), report(SKIPPED), report(), None],
    ids=["one-skipped", "all-skipped", "empty", "no-report"],
)
def test_it_fails_an_audit_that_could_not_check_the_packages(data):
    code, lines = audit.verdict(data, service="pypi", failure="ConnectionError: no route")
    assert code == 2
    assert "NOT check" in lines[0] or "did not finish" in lines[0]


def test_it_fails_on_a_known_vulnerability_before_anything_else():
    code, lines = audit.verdict(report(CLEAN, SKIPPED, VULNERABLE), service="pypi")
    assert code == 1
    assert lines[0] == "VULNERABLE requests==2.0.0: PYSEC-2023-74 (2.31.0)"


def test_it_warns_instead_of_failing_only_when_told_and_only_for_an_unchecked_audit(
    monkeypatch, capsys
):
    def fake_run(data):
        def run(command, **kwargs):
            output = Path(next(arg for arg in command if arg.startswith("--output=")).split("=")[1])
            output.write_text(json.dumps(data))
            return subprocess.CompletedProcess(command, 0, "", "")

        return run

    monkeypatch.setenv("AUDIT_UNREACHABLE", "warn")
    monkeypatch.setattr(audit.subprocess, "run", fake_run(report(SKIPPED)))
    assert audit.main() == 0
    assert "WARNING (AUDIT_UNREACHABLE=warn)" in capsys.readouterr().err

    monkeypatch.setattr(audit.subprocess, "run", fake_run(report(VULNERABLE)))
    assert audit.main() == 1

    monkeypatch.delenv("AUDIT_UNREACHABLE")
    monkeypatch.setattr(audit.subprocess, "run", fake_run(report(SKIPPED)))
    assert audit.main() == 2
    assert "ERROR" in capsys.readouterr().err


def test_it_audits_both_requirement_files_without_installing_them(tmp_path):
    command = audit.command("pypi", tmp_path / "out.json")
    assert "--requirement=requirements.txt" in command
    assert "--requirement=requirements-dev.txt" in command
    assert {"--no-deps", "--disable-pip"} <= set(command)
