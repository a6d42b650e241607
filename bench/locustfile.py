"""The mixed load's simulated users, for locust (run by bench/workloads/load.py).

Two kinds of user work on the bench's large organisation at once:

- API clients with the organisation's read-write key: they page through the current findings
  and the remediation actions with filters and cursors, read findings, systems and actions,
  now and then review a finding of an assessment still in review or re-prioritise an active
  action (PATCH with If-Match, after reading its ETag) and now and then start an assessment
  (202; the worker runs it).
- People in a browser, each with the session of a different member (the workload signs them
  in through the login form before the load): the compliance dashboard, the findings page,
  the systems list and a system's page.

What they need (the organisation, system codes, regulation codes, the key, the session
cookies) comes from the JSON file named by KAKEHASHI_LOAD_DATA, which the workload writes
before it starts locust and deletes afterwards. Requests are named by endpoint group: the
workload reports percentiles per name.

A user changes only the findings and actions of its own share (by code), so two users never
race for the same ETag: a 412 here would be the API working, not an error of the load.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import random
import re
import uuid
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task

DATA_VARIABLE = "KAKEHASHI_LOAD_DATA"
RESULT_VARIABLE = "KAKEHASHI_LOAD_RESULT"
# Findings statuses a review moves between (not applicable and risk accepted need more fields).
REVIEW_STATUSES = ("open", "partially_met", "not_met", "met")
PRIORITIES = ("critical", "high", "medium", "low")
ACTIVE_ACTIONS = ("open", "in_progress", "blocked", "done")
SEEN_LIMIT = 300  # codes remembered per user

# Each user takes the next slot, which picks the share of findings and actions an API client may
# change; each browser user takes the next session.
_slots = itertools.count()
_sessions = itertools.count()


@functools.cache
def data() -> dict[str, Any]:
    path = os.environ.get(DATA_VARIABLE)
    if not path:
        raise RuntimeError(
            f"{DATA_VARIABLE} must name the load's data file (bench/workloads/load.py)"
        )
    return json.loads(Path(path).read_text())


@events.quitting.add_listener
def save_results(environment, **kwargs) -> None:
    """Write every request name's response-time histogram, the errors and the locustfile's own
    exceptions to the file named by KAKEHASHI_LOAD_RESULT, once the users have stopped: the
    workload computes its percentiles from the histograms (locust's CSV files hold percentiles
    only, and their last write can miss the final requests)."""
    path = os.environ.get(RESULT_VARIABLE)
    if not path:
        return
    stats = environment.stats
    result = {
        "started": stats.total.start_time,
        "last_request": stats.total.last_request_timestamp,
        "entries": [
            {
                "method": entry.method,
                "name": entry.name,
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "max_ms": entry.max_response_time,
                "response_times": {str(ms): n for ms, n in entry.response_times.items()},
            }
            for entry in stats.entries.values()
        ],
        "errors": [
            {
                "method": error["method"],
                "name": error["name"],
                "error": error["error"],
                "count": error["occurrences"],
            }
            for error in stats.serialize_errors().values()
        ],
        "exceptions": [
            {"message": row["msg"], "count": row["count"]}
            for row in (environment.runner.exceptions.values() if environment.runner else [])
        ],
    }
    Path(path).write_text(json.dumps(result))


def share_of(code: str, parts: int) -> int:
    return uuid.UUID(code).int % parts


class BenchUser(HttpUser):
    abstract = True

    def on_start(self) -> None:
        self.data = data()
        self.slot = next(_slots)
        self.rng = random.Random(self.data["seed"] * 1000 + self.slot)  # noqa: S311 (not secret)
        self.org = self.data["org"]

    def expect(self, response, *statuses: int) -> bool:
        """Mark a catch_response request failed unless its status is one of `statuses`."""
        if response.status_code in statuses:
            response.success()
            return True
        response.failure(describe(response))
        return False


def describe(response) -> str:
    """A failed response in words that are the same for the same failure (locust groups its
    errors by them): the status and the problem's code and title, or the page's title."""
    if response.status_code == 0:
        return f"no response: {response.error!r}"
    words = ""
    if "json" in response.headers.get("Content-Type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            words = f"{body.get('code', '')} {body.get('title', '')}".strip()
    else:
        title = re.search(r"<title>(.*?)</title>", response.text or "", re.DOTALL)
        words = " ".join(title.group(1).split()) if title else ""
    return f"HTTP {response.status_code}" + (f": {words}" if words else "")


class ApiClient(BenchUser):
    """An integration with the organisation's API key: mostly reads, a few writes."""

    weight = 1
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        super().on_start()
        self.client.headers.update(
            {"Authorization": f"Bearer {self.data['api_token']}", "Accept": "application/json"}
        )
        self.api = f"/api/v1/orgs/{self.org}/"
        self.findings: list[str] = []
        self.actions: list[str] = []  # active ones, as last listed

    def _remember(self, seen: list[str], codes: list[str]) -> None:
        seen.extend(codes)
        del seen[:-SEEN_LIMIT]

    def _mine(self, seen: list[str]) -> str | None:
        parts = self.data["users"]
        mine = [code for code in seen if share_of(code, parts) == self.slot % parts]
        return self.rng.choice(mine) if mine else None

    def _pages(self, path: str, params: dict[str, Any], name: str, seen: list[str], keep=None):
        """A list's first page, and up to two more by following `next`."""
        url: str | None = path
        for page in range(1 + self.rng.choice((0, 0, 1, 2))):
            with self.client.get(
                url,
                params=params if page == 0 else None,
                name=name if page == 0 else f"{name} (next page)",
                catch_response=True,
            ) as response:
                if not self.expect(response, 200):
                    return
                body = response.json()
            rows = [row for row in body["results"] if keep is None or keep(row)]
            self._remember(seen, [row["code"] for row in rows])
            url = body["next"]
            if not url:
                return

    @task(8)
    def findings_list(self) -> None:
        rng = self.rng
        params = rng.choice(
            [
                {},
                {"status": "gap"},
                {"jurisdiction": rng.choice(["EU", "JP"])},
                {"due": "overdue"},
                {"system": rng.choice(self.data["systems"])},
                {"regulation": rng.choice(self.data["regulations"])},
                {"ordering": "-due_date", "page_size": 100},
                {"status": "gap", "jurisdiction": "EU", "ordering": "applies_from"},
            ]
        )
        self._pages(f"{self.api}findings/", params, "API findings list", self.findings)

    @task(4)
    def finding_detail(self) -> None:
        if not self.findings:
            return self.findings_list()
        code = self.rng.choice(self.findings)
        self.client.get(f"{self.api}findings/{code}/", name="API finding detail")

    @task(3)
    def system_detail(self) -> None:
        code = self.rng.choice(self.data["systems"])
        self.client.get(f"{self.api}systems/{code}/", name="API system detail")

    @task(4)
    def actions_list(self) -> None:
        rng = self.rng
        params = rng.choice(
            [
                {},
                {"status": "active"},
                {"owner": "none"},
                {"priority": rng.choice(PRIORITIES)},
                {"due": "overdue"},
                {"ordering": "priority"},
                {"system": rng.choice(self.data["systems"])},
                {"status": "active", "ordering": "-updated_at"},
            ]
        )
        self._pages(
            f"{self.api}actions/",
            params,
            "API actions list",
            self.actions,
            keep=lambda row: row["status"] in ACTIVE_ACTIONS,
        )

    @task(2)
    def action_detail(self) -> None:
        if not self.actions:
            return self.actions_list()
        code = self.rng.choice(self.actions)
        self.client.get(f"{self.api}actions/{code}/", name="API action detail")

    @task(1)
    def review_finding(self) -> None:
        """Read a finding and its assessment, and change its status if the assessment is still
        in review (a submitted or approved one refuses with 409, as a careful client knows)."""
        code = self._mine(self.findings)
        if code is None:
            return self.findings_list()
        url = f"{self.api}findings/{code}/"
        with self.client.get(url, name="API finding detail", catch_response=True) as response:
            if not self.expect(response, 200):
                return
            etag, finding = response.headers.get("ETag", ""), response.json()
        with self.client.get(
            f"{self.api}assessments/{finding['assessment']}/",
            name="API assessment detail",
            catch_response=True,
        ) as response:
            if not self.expect(response, 200):
                return
            if response.json()["review_state"] != "draft":
                self.findings.remove(code)
                return
        status = self.rng.choice([s for s in REVIEW_STATUSES if s != finding["status"]])
        with self.client.patch(
            url,
            json={"status": status, "notes": f"Reviewed by the bench load ({status})."},
            headers={"If-Match": etag},
            name="API finding PATCH",
            catch_response=True,
        ) as response:
            self.expect(response, 200)

    @task(1)
    def reprioritise_action(self) -> None:
        code = self._mine(self.actions)
        if code is None:
            return self.actions_list()
        url = f"{self.api}actions/{code}/"
        with self.client.get(url, name="API action detail", catch_response=True) as response:
            if not self.expect(response, 200):
                return
            etag, body = response.headers.get("ETag", ""), response.json()
        if body["status"] not in ACTIVE_ACTIONS:  # closed since it was listed
            self.actions.remove(code)
            return
        priority = self.rng.choice([p for p in PRIORITIES if p != body["priority"]])
        with self.client.patch(
            url,
            json={"priority": priority},
            headers={"If-Match": etag},
            name="API action PATCH",
            catch_response=True,
        ) as response:
            self.expect(response, 200)

    @task(1)
    def start_assessment(self) -> None:
        code = self.rng.choice(self.data["systems"])
        with self.client.post(
            f"{self.api}systems/{code}/assessments/",
            json={},
            headers={"Idempotency-Key": str(uuid.uuid4())},
            name="API assessment start",
            catch_response=True,
        ) as response:
            self.expect(response, 202)


class BrowserUser(BenchUser):
    """A member in a browser, with the session the workload signed in for it."""

    weight = 1
    wait_time = between(2.0, 6.0)

    def on_start(self) -> None:
        super().on_start()
        sessions = self.data["sessions"]
        session = sessions[next(_sessions) % len(sessions)]
        self.client.cookies.set(self.data["session_cookie"], session["cookie"])
        self.web = f"/o/{self.org}/"

    def page(self, path: str, name: str, params: dict[str, Any] | None = None) -> None:
        """A page, which must render (200), not redirect to the login (a lost session)."""
        with self.client.get(
            f"{self.web}{path}",
            params=params,
            name=name,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            self.expect(response, 200)

    @task(3)
    def dashboard(self) -> None:
        self.page("dashboard/", "web dashboard")

    @task(3)
    def findings_page(self) -> None:
        rng = self.rng
        params = rng.choice(
            [
                {},
                {"status": "gap"},
                {"jurisdiction": rng.choice(["EU", "JP"])},
                {"due": "overdue"},
                {"regulation": rng.choice(self.data["regulations"])},
            ]
        )
        if rng.random() < 0.3:
            params = {**params, "page": rng.randint(2, 5)}
        self.page("findings/", "web findings page", params)

    @task(2)
    def systems_page(self) -> None:
        rng = self.rng
        params = rng.choice([{}, {"tier": "high_risk"}, {"stage": "production"}, {"q": "system"}])
        if rng.random() < 0.3:
            params = {**params, "page": rng.randint(2, 5)}
        self.page("systems/", "web systems page", params)

    @task(2)
    def system_page(self) -> None:
        code = self.rng.choice(self.data["systems"])
        self.page(f"systems/{code}/", "web system page")
