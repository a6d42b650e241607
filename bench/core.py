"""What every workload shares: the scale, the goals, the outcome, and the bench context.

A workload is a module under bench/workloads/ with one function:

    def run(bench: Bench) -> list[Outcome]

It measures against the dataset the bench built (bench.org and friends), and reports metrics
and goals; the report turns them into JSON and a Markdown table.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Scale:
    name: str
    systems: int  # in the large organisation
    members: int  # of the large organisation
    actions: int  # remediation actions in the large organisation
    small_orgs: int
    small_org_systems: int  # systems in each small organisation
    findings: int  # about how many findings the large organisation holds, history included
    export_rows: tuple[int, ...]  # export sizes whose peak memory is compared
    samples: int  # timed requests per read measurement
    e2e_runs: int  # single assessments timed end to end
    load_seconds: int  # mixed load duration
    load_users: int  # concurrent simulated users in the mixed load


FULL = Scale(
    name="full",
    systems=10_000,
    members=50,
    actions=30_000,
    small_orgs=20,
    small_org_systems=10,
    findings=1_000_000,
    export_rows=(25_000, 50_000, 100_000),
    samples=200,
    e2e_runs=20,
    load_seconds=60,
    load_users=20,
)
SMOKE = Scale(
    name="smoke",
    systems=200,
    members=10,
    actions=600,
    small_orgs=3,
    small_org_systems=10,
    findings=20_000,
    export_rows=(1_000, 2_000, 4_000),
    samples=20,
    e2e_runs=3,
    load_seconds=10,
    load_users=4,
)
SCALES = {s.name: s for s in (FULL, SMOKE)}

_OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}


@dataclass
class Goal:
    """One judged number: `value op limit` (e.g. app ÷ raw SQL <= 3)."""

    name: str
    value: float
    op: str
    limit: float
    unit: str = ""

    @property
    def passed(self) -> bool:
        return _OPS[self.op](self.value, self.limit)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "op": self.op,
            "limit": self.limit,
            "unit": self.unit,
            "passed": self.passed,
        }


@dataclass
class Outcome:
    key: str  # "findings_api"
    title: str  # "API findings list"
    metrics: dict[str, Any] = field(default_factory=dict)  # name -> number or short text
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how it was measured, caveats

    @property
    def passed(self) -> bool:
        return all(goal.passed for goal in self.goals)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "metrics": self.metrics,
            "goals": [goal.as_json() for goal in self.goals],
            "passed": self.passed,
            "notes": self.notes,
        }


@dataclass
class Bench:
    """The context a workload gets: the dataset's handles and how to reach the app."""

    scale: Scale
    org: Any  # governance.models.Organisation: the large organisation
    small_org: Any  # one small organisation (scale.small_org_systems systems)
    small_orgs: list[Any]
    admin: Any  # governance.models.User: an admin member of the large organisation (not staff)
    small_admin: Any  # an admin member of `small_org`
    api_token: str  # a read-write API key of the large organisation
    small_api_token: str  # a read-write API key of `small_org`
    env: dict[str, str]  # the environment for subprocesses (worker, gunicorn, locust)
    workdir: Path  # var/bench/<scale>/: logs and results

    def web_client(self, user: Any = None):
        """A django.test.Client signed in as `user` (default: the large organisation's admin)."""
        from django.test import Client

        from governance.security.sessions import mark_verified

        client = Client()
        client.force_login(user or self.admin)
        session = client.session
        mark_verified(session)
        session.save()
        return client

    def api_client(self, token: str | None = None):
        """A django.test.Client that sends `token` (default: the large organisation's key)."""
        from django.test import Client

        return Client(headers={"Authorization": f"Bearer {token or self.api_token}"})
