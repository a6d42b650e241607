"""The figures of a chaos run, its verdicts, and report.json / report.md. Standard library only.

A scenario's result is a plain dict:

    name, title, bound_s, duration_s
    tries, losses, duplicates     the headline figures (what was done to the system, what it lost,
                                  what it did twice)
    figures                       everything else worth reading, {label: value}
    probe                         {stage: {target: {status: count}}}, stages `steady`,
                                  `outage` and `recovery`
    checks                        [{name, ok, detail}], each a guarantee

A run is good when every check of every scenario holds; `finish` adds the checks every scenario
shares (no loss, no duplicate, no 5xx outside an outage, within its time bound).
"""

from __future__ import annotations

import json
import os
import platform
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

STEADY, OUTAGE, RECOVERY = "steady", "outage", "recovery"


def duplicate_rows(keys: Iterable[tuple]) -> int:
    """How many rows repeat a key that an earlier row already had (0 when all are distinct)."""
    counts = Counter(keys)
    return sum(n - 1 for n in counts.values() if n > 1)


def distribution(values: Iterable[int]) -> dict[str, int]:
    """{value: how many}, keys as strings in numeric order (JSON-friendly)."""
    return {str(k): v for k, v in sorted(Counter(values).items())}


def is_5xx(status: str) -> bool:
    return status.isdigit() and 500 <= int(status) <= 599


def status_totals(stage: Mapping[str, Mapping[str, int]]) -> Counter[str]:
    """One stage's answers summed over the probe's targets."""
    total: Counter[str] = Counter()
    for statuses in stage.values():
        total.update(statuses)
    return total


def count_5xx(stage: Mapping[str, Mapping[str, int]], *, only: str | None = None) -> int:
    return sum(
        n for s, n in status_totals(stage).items() if is_5xx(s) and (only is None or s == only)
    )


def probe_figures(probe: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, int]:
    """The probe's headline: requests, 5xx outside an outage, 5xx (and 500s) during one."""
    outage = probe.get(OUTAGE, {})
    return {
        "requests": sum(sum(status_totals(stage).values()) for stage in probe.values()),
        "5xx_steady": count_5xx(probe.get(STEADY, {})),
        "5xx_outage": count_5xx(outage),
        "500_outage": count_5xx(outage, only="500"),
        "5xx_recovery": count_5xx(probe.get(RECOVERY, {})),
        "no_answer": sum(status_totals(stage).get("error", 0) for stage in probe.values()),
    }


def check(name: str, ok: bool, detail: str = "") -> dict:
    return {"name": name, "ok": bool(ok), "detail": detail}


def finish(result: dict) -> dict:
    """Add the shared checks to a scenario's result and its verdict; returns the result."""
    probe = probe_figures(result.get("probe", {}))
    result["probe_figures"] = probe
    checks = list(result.get("checks", []))
    checks.append(check("nothing lost", result.get("losses", 0) == 0, f"{result.get('losses')}"))
    checks.append(
        check("nothing done twice", result.get("duplicates", 0) == 0, f"{result.get('duplicates')}")
    )
    checks.append(
        check(
            "no 5xx outside the outage",
            probe["5xx_steady"] == 0 and probe["5xx_recovery"] == 0,
            f"before {probe['5xx_steady']}, after recovery {probe['5xx_recovery']}",
        )
    )
    bound, took = result.get("bound_s"), result.get("duration_s")
    checks.append(
        check(
            "within its time bound",
            bound is None or (took is not None and took <= bound),
            f"{took} s of {bound} s",
        )
    )
    result["checks"] = checks
    result["ok"] = all(c["ok"] for c in checks)
    return result


def machine(**versions: str) -> dict:
    """A description of the machine the figures came from."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) // 1024} MiB"
                break
    except (OSError, ValueError, IndexError):
        pass
    return {
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpus": os.cpu_count() or 0,
        "cpu_model": model,
        "memory": memory,
        "python": platform.python_version(),
        **versions,
    }


def build(
    *, mode: str, started_at: str, duration_s: float, machine_info: dict, scenarios: list[dict]
) -> dict:
    return {
        "mode": mode,
        "started_at": started_at,
        "duration_s": round(duration_s, 1),
        "machine": machine_info,
        "ok": bool(scenarios) and all(s.get("ok") for s in scenarios),
        "scenarios": scenarios,
    }


def _cell(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("|", "\\|")


def markdown(report: dict) -> str:
    verdict = "all guarantees held" if report["ok"] else "A GUARANTEE WAS BROKEN"
    lines = [
        f"# Chaos run ({report['mode']}): {verdict}",
        "",
        f"Started {report['started_at']}, took {report['duration_s']} s. Machine: "
        + "; ".join(f"{k} {v}" for k, v in report["machine"].items() if v),
        "",
        "| scenario | tries | losses | duplicates | 5xx before | 5xx during outage (500) "
        "| 5xx after recovery | duration / bound | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report["scenarios"]:
        p = s.get("probe_figures") or probe_figures(s.get("probe", {}))
        lines.append(
            f"| {s['title']} | {s.get('tries', '—')} | {s.get('losses', '—')} "
            f"| {s.get('duplicates', '—')} | {p['5xx_steady']} "
            f"| {p['5xx_outage']} ({p['500_outage']}) | {p['5xx_recovery']} "
            f"| {s.get('duration_s', '—')} s / {s.get('bound_s', '—')} s "
            f"| {'ok' if s.get('ok') else 'FAILED'} |"
        )
    for s in report["scenarios"]:
        lines += ["", f"## {s['title']}", ""]
        if s.get("error"):
            lines += [f"**Stopped by an error:** {_cell(s['error'])}", ""]
        lines += ["| figure | value |", "|---|---|"]
        lines += [f"| {k} | {_cell(v)} |" for k, v in s.get("figures", {}).items()]
        probe = s.get("probe", {})
        if probe:
            lines += ["", "| probe stage | target | answers |", "|---|---|---|"]
            for stage in (STEADY, OUTAGE, RECOVERY):
                for target, statuses in sorted(probe.get(stage, {}).items()):
                    answers = _cell(dict(sorted(statuses.items())))
                    lines.append(f"| {stage} | {target} | {answers} |")
        lines += ["", "| check | held | detail |", "|---|---|---|"]
        lines += [
            f"| {c['name']} | {'yes' if c['ok'] else '**NO**'} | {_cell(c['detail'])} |"
            for c in s.get("checks", [])
        ]
    return "\n".join(lines) + "\n"


def write(report: dict, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    as_json, as_markdown = directory / "report.json", directory / "report.md"
    as_json.write_text(json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")
    as_markdown.write_text(markdown(report))
    return as_json, as_markdown
