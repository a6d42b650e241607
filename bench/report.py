"""The bench's results: workdir/results.json and workdir/results.md (also printed).

`markdown(results)` is a pure function of the results dict, so it can be tested without a
database; `machine()` describes where the numbers were measured.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .db import REPO

# PostgreSQL settings that decide how the measured queries run.
PG_SETTINGS = ("shared_buffers", "work_mem", "effective_cache_size", "maintenance_work_mem",
               "max_connections", "random_page_cost", "jit", "synchronous_commit")  # fmt: skip


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 1024**3, 1)
    except Exception:
        return None


def _os() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    except OSError:
        pass
    return platform.platform()


def _git() -> str:
    def run(*args: str) -> str:
        done = subprocess.run(  # read-only git commands; --no-optional-locks: no index refresh
            ["git", "--no-optional-locks", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = run("rev-parse", "HEAD")
    if not commit:
        return "unknown"
    dirty = run("status", "--porcelain", "--untracked-files=no")
    return f"{commit}{' (with uncommitted changes)' if dirty else ''}"


def _postgres() -> dict[str, Any]:
    from django.db import connection

    out: dict[str, Any] = {}
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        out["version"] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
            [list(PG_SETTINGS)],
        )
        for name, setting, unit in cursor.fetchall():
            out[name] = _with_unit(setting, unit)
    return out


def _with_unit(setting: str, unit: str | None) -> str:
    """pg_settings counts memory in blocks of its unit ("8kB"): say it in MB or GB."""
    if unit in ("8kB", "kB") and setting.isdigit():
        kb = int(setting) * (8 if unit == "8kB" else 1)
        return f"{kb / 1024 / 1024:g} GB" if kb >= 1024 * 1024 else f"{kb / 1024:g} MB"
    return f"{setting}{unit or ''}"


def _redis(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        return str(client.info("server").get("redis_version", "unknown"))
    finally:
        client.close()


def machine(*, redis_url: str) -> dict[str, Any]:
    """Where the numbers were measured."""
    out: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": _os(),
        "python": platform.python_version(),
        "git": _git(),
    }
    try:
        out["postgresql"] = _postgres()
    except Exception as exc:  # the report still gets written
        out["postgresql"] = {"error": str(exc)}
    try:
        out["redis"] = _redis(redis_url)
    except Exception as exc:
        out["redis"] = f"unknown ({exc})"
    return out


# --- Markdown ------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 100:
            return f"{value:,.1f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, Mapping):
        return " · ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value) or "—"
    if value is None:
        return "—"
    return str(value)


def _cell(value: Any) -> str:
    return _fmt(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    header = list(header)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    lines.append("")
    return lines


def _goal_text(goal: Mapping[str, Any]) -> str:
    unit = f" {goal['unit']}" if goal.get("unit") else ""
    return f"{_fmt(goal['value'])}{unit} {goal['op']} {_fmt(goal['limit'])}{unit}"


def markdown(results: Mapping[str, Any]) -> str:
    scale = results.get("scale", {})
    out = [f"# Kakehashi benchmark: {scale.get('name', '?')} scale", ""]
    out.append(
        f"Run {results.get('started_at', '?')} · {_fmt(results.get('seconds'))} s in all · "
        f"database {results.get('database', {}).get('name', '?')}"
    )
    out.append("")

    m = results.get("machine", {})
    pg = m.get("postgresql", {})
    out += ["## Machine", ""]
    rows = [
        ("CPU", f"{m.get('cpu', '?')}, {m.get('cpus', '?')} CPUs"),
        ("Memory", f"{_fmt(m.get('memory_gb'))} GB"),
        ("OS", m.get("os")),
        ("Python", m.get("python")),
        ("PostgreSQL", pg.get("version", pg.get("error"))),
    ]
    rows += [(f"  {name}", pg[name]) for name in PG_SETTINGS if name in pg]
    rows += [("Redis", m.get("redis")), ("Git commit", m.get("git"))]
    out += _table(["", ""], rows)

    data = results.get("dataset", {})
    out += ["## Dataset", ""]
    if data.get("reused"):
        out.append(
            f"Reused (built {data.get('built_at')}, in {_fmt(data.get('build_seconds'))} s)."
        )
    else:
        out.append(f"Built in {_fmt(data.get('build_seconds'))} s ({data.get('built_at')}).")
    setup = results.get("database", {}).get("setup_seconds")
    if setup is not None:
        what = "migrated" if data.get("reused") else "created, migrated and catalogue loaded"
        out.append(f"Database {what} in {_fmt(setup)} s (static files collected too).")
    out.append("")
    out += _table(["scale", "value"], [(k, v) for k, v in scale.items() if k != "name"])
    counts = data.get("counts", {})
    if counts.get("tables"):
        out += _table(["table", "rows"], counts["tables"].items())
    if counts.get("large_org"):
        out += _table(["large organisation", ""], counts["large_org"].items())
    extra = {k: v for k, v in counts.items() if k not in ("tables", "large_org")}
    if extra:
        out += _table(["build", ""], extra.items())

    for outcome in results.get("outcomes", []):
        out += [f"## {outcome['title']} (`{outcome['key']}`)", ""]
        if outcome.get("metrics"):
            out += _table(["metric", "value"], outcome["metrics"].items())
        if outcome.get("goals"):
            out += _table(
                ["goal", "measured", "result"],
                [
                    (g["name"], _goal_text(g), "pass" if g["passed"] else "MISS")
                    for g in outcome["goals"]
                ],
            )
        out += [f"- {note}" for note in outcome.get("notes", [])]
        if outcome.get("notes"):
            out.append("")

    out += ["## Goals", ""]
    goals = [
        (o["key"], g["name"], _goal_text(g), "pass" if g["passed"] else "MISS")
        for o in results.get("outcomes", [])
        for g in o.get("goals", [])
    ]
    if goals:
        out += _table(["outcome", "goal", "measured", "result"], goals)
    else:
        out += ["No goals were measured.", ""]

    runs = results.get("workloads", [])
    if runs:
        out += ["## Workloads", ""]
        out += _table(
            ["workload", "status", "seconds", "outcomes", "error"],
            [
                (r["name"], r["status"], r.get("seconds"), r.get("outcomes", []), r.get("error"))
                for r in runs
            ],
        )

    notes = results.get("notes", [])
    if notes:
        out += ["## Notes", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(out)


def write(workdir: Path, results: Mapping[str, Any]) -> tuple[Path, Path, str]:
    """Write results.json and results.md into `workdir`; returns their paths and the Markdown."""
    workdir.mkdir(parents=True, exist_ok=True)
    json_path = workdir / "results.json"
    md_path = workdir / "results.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = markdown(results)
    md_path.write_text(text + "\n")
    return json_path, md_path, text
