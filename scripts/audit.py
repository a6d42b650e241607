"""`make audit`'s dependency check: pip-audit over the pinned requirements, with a verdict that
cannot be mistaken for a clean audit.

pip-audit reports a package it could not look up as "skipped" and still exits 0 with "No known
vulnerabilities found", so an unreachable vulnerability service would pass for a clean audit.
Here the outcome is one of:

- a known vulnerability (not in REVIEWED): exit 1, always;
- a package that could not be checked (service unreachable, no answer for that release): exit 2,
  with a banner naming the reason — or, with AUDIT_UNREACHABLE=warn, the same banner as a
  warning and exit 0 (CI sets it: see .ci/run and docs/security/reviewed-findings.md);
- every package checked, none vulnerable: exit 0.

Every requirement is pinned, so pip-audit reads the files as they are (--no-deps, --disable-pip)
instead of installing them into a throw-away environment. AUDIT_SERVICE picks the advisory
database: `pypi` (default; PyPI's JSON API) or `osv`.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")
# Vulnerabilities reviewed and accepted, by id, each with its reason (none today).
REVIEWED: dict[str, str] = {}
SHOWN = 5  # unchecked packages named in the banner before "and N more"


def command(service: str, output: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip_audit",
        *(f"--requirement={name}" for name in REQUIREMENTS),
        "--no-deps",
        "--disable-pip",
        f"--vulnerability-service={service}",
        "--progress-spinner=off",
        "--format=json",
        f"--output={output}",
        *(f"--ignore-vuln={vuln}" for vuln in REVIEWED),
    ]


def verdict(report: dict | None, *, service: str, failure: str = "") -> tuple[int, list[str]]:
    """(exit code, lines to print) for pip-audit's JSON report, or None when it wrote none."""
    if report is None:
        return 2, [f"pip-audit did not finish: {failure or 'no report'}"]
    dependencies = report.get("dependencies", [])
    skipped = [dep for dep in dependencies if "skip_reason" in dep]
    vulnerable = [dep for dep in dependencies if dep.get("vulns")]
    lines = []
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed release yet"
            lines.append(f"VULNERABLE {dep['name']}=={dep['version']}: {vuln['id']} ({fixed})")
    if vulnerable:
        return 1, [*lines, "Upgrade the pins above, or review and list them in scripts/audit.py."]
    if skipped or not dependencies:
        named = [f"  {dep['name']}: {dep['skip_reason']}" for dep in skipped[:SHOWN]]
        if len(skipped) > SHOWN:
            named.append(f"  … and {len(skipped) - SHOWN} more")
        return 2, [
            f"pip-audit could NOT check {len(skipped)} of {len(dependencies)} packages "
            f"against {service}: the dependency audit did not happen.",
            *named,
        ]
    return 0, [f"pip-audit ({service}): {len(dependencies)} packages, no known vulnerabilities"]


def main() -> int:
    service = os.environ.get("AUDIT_SERVICE", "pypi")
    warn_only = os.environ.get("AUDIT_UNREACHABLE", "fail") == "warn"
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "pip-audit.json"
        result = subprocess.run(
            command(service, output), cwd=ROOT, capture_output=True, text=True, timeout=900
        )
        text = output.read_text() if output.is_file() else ""
    report = json.loads(text) if text.strip() else None
    failure = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
    code, lines = verdict(report, service=service, failure=failure)
    if code == 2:
        banner = "WARNING (AUDIT_UNREACHABLE=warn)" if warn_only else "ERROR"
        print(f"{'!' * 78}\n{banner}:", *lines, "!" * 78, sep="\n", file=sys.stderr)
        return 0 if warn_only else 2
    print(*lines, sep="\n", file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
